"""Benchmark the LR policy catalog.

1. curve(spec, epochs, points=10000) for every kind, built from its declared
   defaults (target: well under 50 ms each).
2. The per-iteration cost of policy.lr_at + writing the LR into an
   optimizer's param groups, against a bare training step of a small MLP
   (64 -> 128 -> 10, batch 32) on CPU (target: under 1%).

Run: .venv/bin/python bench/bench_schedules.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.schedules import as_lr_scheduler, build, catalog, curve  # noqa: E402

EPOCHS = 100
STEPS_PER_EPOCH = 391  # CIFAR-10 at batch 128; policies counted in iterations need it
POINTS = 10_000


def timed(fn, repeat: int) -> float:
    """Median seconds of one call."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def default_spec(decl: dict) -> dict:
    return {"kind": decl["kind"], **{p["name"]: p["default"] for p in decl["params"]}}


def bench_curves() -> None:
    print(f"curve(spec, {EPOCHS} epochs, points={POINTS}), spec = the kind's declared defaults")
    print(f"{'kind':<10} {'first ms':>9} {'median ms':>10}")
    worst = 0.0
    for decl in catalog():
        per_epoch = STEPS_PER_EPOCH if decl["default_unit"] == "iteration" else None

        def sample(spec: dict = default_spec(decl), per_epoch: int | None = per_epoch) -> None:
            curve(spec, EPOCHS, POINTS, per_epoch)

        first = timed(sample, 1)  # includes computing the EXPCOS / NOWD tables, cached after
        median = timed(sample, 5)
        worst = max(worst, median)
        print(f"{decl['kind']:<10} {first * 1e3:9.2f} {median * 1e3:10.2f}")
    print(f"slowest median: {worst * 1e3:.2f} ms\n")


def bench_overhead() -> None:
    import torch

    torch.set_num_threads(1)  # a model this small runs fastest on one thread
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(200):
        train_step()
    step_s = min(timed(lambda: [train_step() for _ in range(200)], 7) / 200 for _ in range(3))

    policy = build({"kind": "PIECEWISE", "boundaries": [5],
                    "stages": [{"kind": "LINEAR", "k0": 0.0, "k1": 0.1, "l": 5},
                               {"kind": "COSRSW", "k0": 0.001, "k1": 0.1, "l": 10}]})
    groups = optimizer.param_groups
    n = 100_000

    def set_lrs() -> None:
        for i in range(n):
            lr = policy.lr_at(i, STEPS_PER_EPOCH)
            for group in groups:
                group["lr"] = lr

    lr_s = timed(set_lrs, 5) / n

    scheduler = as_lr_scheduler(optimizer, policy.spec, STEPS_PER_EPOCH)
    optimizer.step()  # else torch warns that the scheduler stepped first
    m = 20_000
    sched_s = timed(lambda: [scheduler.step() for _ in range(m)], 3) / m

    print(f"bare training step, MLP 64-128-10, batch 32, CPU ({torch.get_num_threads()} threads): "
          f"{step_s * 1e6:.1f} us")
    print(f"policy.lr_at + write into param groups (PIECEWISE of LINEAR, COSRSW): {lr_s * 1e6:.3f} us "
          f"= {100 * lr_s / step_s:.3f}% of a step (target < 1%)")
    print(f"as_lr_scheduler(...).step() (torch's LRScheduler machinery included): {sched_s * 1e6:.2f} us "
          f"= {100 * sched_s / step_s:.2f}% of a step")


if __name__ == "__main__":
    bench_curves()
    bench_overhead()
