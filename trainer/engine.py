"""The training loop: one run of a workload under an LR policy.

It reads top to bottom: validate, data onto the device, model, optimizer, then
for each epoch train (the policy's LR written into the optimizer every
iteration), evaluate, report. Data lives on the device and batches are index
slices of it; losses and correct counts are summed in device tensors and read
once per epoch, so no step waits for the host.
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from trainer.metrics import lrbench_metrics
from trainer.paths import default_data_dir
from trainer.schedules import build
from trainer.workloads import Workload, get_workload

MAX_EPOCHS = 10_000
STOP_CHECK_EVERY = 100  # iterations between should_stop() calls: a Python call, no device sync
LR_TRACE_POINTS = 20  # per epoch: enough to draw the curve actually applied, small enough to stream


@dataclass
class TrainConfig:
    workload: str
    policy: dict  # the policy spec, as trainer.schedules.build takes it
    epochs: int
    seed: int = 0
    device: str = "auto"  # "auto": cuda if available, else cpu
    data_dir: str | None = None  # None: paths.default_data_dir()


def validate(config: TrainConfig) -> tuple[Workload, Any]:
    """Check a config before any work: returns (workload, policy).

    Raises UnknownWorkload, SpecError, or ValueError naming "epochs" or "device".
    """
    workload = get_workload(config.workload)
    policy = build(config.policy)
    epochs = config.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be an integer from 1 to {MAX_EPOCHS}, got {epochs!r}")
    resolve_device(config.device)
    return workload, policy


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def train(
    config: TrainConfig,
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Train one run; call on_epoch(metrics) after every epoch; return the result.

    should_stop() is asked before every epoch (so at every epoch end) and every
    STOP_CHECK_EVERY iterations; True ends the run "cancelled", keeping the
    completed epochs. A non-finite training loss ends it "diverged" after that
    epoch has been evaluated and reported. Exceptions from on_epoch propagate.
    """
    workload, policy = validate(config)
    device = resolve_device(config.device)
    with _cpu_threads(workload.cpu_threads if device.type == "cpu" else None):
        return _run(config, workload, policy, device, on_epoch, should_stop or (lambda: False))


def _run(
    config: TrainConfig,
    workload: Workload,
    policy: Any,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
) -> dict:
    on_cuda = device.type == "cuda"
    data_dir = Path(config.data_dir).expanduser() if config.data_dir else default_data_dir()

    torch.manual_seed(config.seed)  # the model's initialisation; seeds every CUDA device too
    shuffle_rng = torch.Generator(device=device).manual_seed(config.seed)

    # Data: whole sets on the device, once.
    x_train, y_train, x_test, y_test = (t.to(device) for t in workload.load_data(data_dir))
    memory_format = torch.channels_last if on_cuda and workload.channels_last else torch.contiguous_format
    if memory_format is torch.channels_last:
        x_train = x_train.contiguous(memory_format=memory_format)
        x_test = x_test.contiguous(memory_format=memory_format)
    n_train = len(x_train)
    batch_size = workload.batch_size
    steps_per_epoch = math.ceil(n_train / batch_size)  # the last partial batch is kept

    # Model and optimizer. bf16 autocast on CUDA; plain float32 on CPU.
    model = workload.build_model().to(device, memory_format=memory_format)
    sgd = _optimizer_settings(workload, policy.spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=policy.lr_at(0, steps_per_epoch), **sgd)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)

    epochs: list[dict] = []
    status = "succeeded"
    diverged_epoch = None
    iteration = 0  # global, 0-based: the policy's clock
    total_seconds = 0.0
    for epoch in range(1, config.epochs + 1):
        if stop_requested():
            status = "cancelled"
            break
        epoch_start = time.perf_counter()

        # Train one epoch.
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        lrs: list[float] = []
        order = torch.randperm(n_train, device=device, generator=shuffle_rng)
        for start in range(0, n_train, batch_size):
            lr = policy.lr_at(iteration, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            lrs.append(lr)

            batch = order[start : start + batch_size]
            inputs, targets = x_train[batch], y_train[batch]
            with autocast():
                logits = model(inputs)
            loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            loss_sum += loss.detach() * len(batch)  # non-finite from any bad step on
            correct += (logits.detach().argmax(dim=1) == targets).sum()
            iteration += 1
            if iteration % STOP_CHECK_EVERY == 0 and stop_requested():
                status = "cancelled"
                break
        if status == "cancelled":  # mid-epoch: the partial epoch is not reported
            total_seconds += time.perf_counter() - epoch_start
            break
        train_loss = loss_sum.item() / n_train  # the epoch's one wait for the device
        train_acc = correct.item() / n_train
        train_seconds = time.perf_counter() - epoch_start

        test = _evaluate(model, x_test, y_test, workload.eval_batch_size, autocast)
        seconds = time.perf_counter() - epoch_start
        total_seconds += seconds

        metrics = _finite_or_none(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test["loss"],
                "test_acc": test["top1"],
                "test_top5": test["top5"],
                "ac": test["ac"],
                "cv": test["cv"],
                "cvac": test["cvac"],
                "lr_first": lrs[0],
                "lr_last": lrs[-1],
                "lr_mean": math.fsum(lrs) / len(lrs),
                "lr_trace": _lr_trace(lrs, epoch - 1, steps_per_epoch),
                "seconds": seconds,
                "samples_per_sec": n_train / train_seconds,
                "iterations": iteration,
            }
        )
        epochs.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
        if not math.isfinite(train_loss):
            status, diverged_epoch = "diverged", epoch
            break

    return {
        "status": status,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if on_cuda
        else (platform.processor() or platform.machine() or "cpu"),
        "workload": workload.name,
        "policy": policy.spec,
        "optimizer": {"name": "sgd", **sgd},
        "epochs": epochs,
        "summary": _summarise(epochs, workload, iteration, total_seconds, diverged_epoch),
    }


@contextlib.contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    """Use this many intra-op CPU threads for the run, then restore the process's setting."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _optimizer_settings(workload: Workload, spec: dict) -> dict[str, Any]:
    """SGD settings: the workload's, except for policies that already stand in for weight decay.

    Li & Arora's conversions (EXPGROW, TEXP, EXPCOS, NOWD: their specs carry
    "wd" and "momentum") turn a run with weight decay into an LR schedule to be
    trained without it, with the same momentum.
    """
    defaults = workload.optimizer
    if defaults.name != "sgd":
        raise ValueError(f"workload {workload.name!r}: unsupported optimizer {defaults.name!r}")
    settings = {"momentum": defaults.momentum, "weight_decay": defaults.weight_decay, "nesterov": defaults.nesterov}
    if "wd" in spec:
        settings.update(weight_decay=0.0, momentum=spec.get("momentum", defaults.momentum))
    return settings


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    autocast: Callable[[], torch.autocast],
) -> dict[str, float]:
    model.eval()
    with autocast():
        logits = torch.cat([model(inputs[i : i + batch_size]).float() for i in range(0, len(inputs), batch_size)])
    loss = F.cross_entropy(logits, labels).item()
    return {"loss": loss, **lrbench_metrics(logits, labels)}


def _lr_trace(lrs: list[float], epoch_index: int, steps_per_epoch: int) -> list[list[float]]:
    """Up to LR_TRACE_POINTS evenly spaced [t, lr] pairs of one epoch, t in epochs, its first iteration included."""
    points = min(LR_TRACE_POINTS, len(lrs))
    picks = [j * len(lrs) // points for j in range(points)]
    return [[epoch_index + i / steps_per_epoch, lrs[i]] for i in picks]


def _finite_or_none(metrics: dict) -> dict:
    """JSON has no NaN or infinity: a diverged epoch reports them as None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def _summarise(
    epochs: list[dict],
    workload: Workload,
    iterations: int,
    total_seconds: float,
    diverged_epoch: int | None,
) -> dict:
    final = epochs[-1] if epochs else {}
    best = max(epochs, key=lambda e: e["test_acc"] if e["test_acc"] is not None else -1.0, default={})
    reached = next((e for e in epochs if e["test_acc"] is not None and e["test_acc"] >= workload.target_accuracy), None)
    seconds_to_target = None
    if reached is not None:
        seconds_to_target = sum(e["seconds"] for e in epochs[: reached["epoch"]])
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
        "iterations": iterations,
        "total_seconds": total_seconds,
        "diverged_epoch": diverged_epoch,
        "target_accuracy": workload.target_accuracy,
        "epochs_to_target": reached["epoch"] if reached is not None else None,
        "seconds_to_target": seconds_to_target,
    }
