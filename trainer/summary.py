"""A run's summary from its epochs, the same keys for every loop (torch-free: the web process uses it too,
for runs that a team's own training loop reported)."""

from __future__ import annotations


def summarise(
    epochs: list[dict],
    target_accuracy: float | None,
    iterations: int,
    total_seconds: float,
    diverged_epoch: int | None,
    diverged_reason: str | None = None,
) -> dict:
    """A run's summary from its epochs: final and best accuracy, LRBench metrics, cost to the target."""
    final = epochs[-1] if epochs else {}
    best = max(epochs, key=lambda e: e["test_acc"] if e["test_acc"] is not None else -1.0, default={})
    reached = None
    if target_accuracy is not None:
        reached = next((e for e in epochs if e["test_acc"] is not None and e["test_acc"] >= target_accuracy), None)
    seconds_to_target = None
    if reached is not None:
        seconds_to_target = sum(e.get("seconds") or 0.0 for e in epochs[: reached["epoch"]])
    test_loss, train_loss = final.get("test_loss"), final.get("train_loss")
    return {
        "final_acc": final.get("test_acc"),
        "best_acc": best.get("test_acc"),
        "best_epoch": best.get("epoch"),
        "final_top5": final.get("test_top5"),
        "final_test_loss": test_loss,
        "final_train_loss": train_loss,
        "loss_gap": test_loss - train_loss if test_loss is not None and train_loss is not None else None,
        "ac": final.get("ac"),
        "cv": final.get("cv"),
        "cvac": final.get("cvac"),
        "epochs_completed": len(epochs),
        "iterations": iterations,  # hardware-independent cost: optimizer steps and training samples
        "samples": final.get("samples"),
        "total_seconds": total_seconds,  # this run's own compute time (its share, in a batch)
        "diverged_epoch": diverged_epoch,
        "diverged_reason": diverged_reason,
        "target_accuracy": target_accuracy,
        "epochs_to_target": reached["epoch"] if reached is not None else None,
        "iterations_to_target": reached.get("iterations") if reached is not None else None,
        "samples_to_target": reached.get("samples") if reached is not None else None,
        "seconds_to_target": seconds_to_target,
    }
