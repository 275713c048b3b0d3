"""Benchmark the LR policy catalog.

1. curve(spec, epochs, points=10000) for every kind, built from its declared
   defaults (target: well under 50 ms each).
2. The worst previews an attacker can ask for (the API's limits: epochs up to
   1e5, 20,000 points, steps_per_epoch up to 1e6, horizons up to 1e7), each
   validated and sampled from a cold start, against the 50 ms budget.
3. The per-iteration cost of policy.lr_at + writing the LR into an
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

from trainer.schedules import (  # noqa: E402
    SpecError,
    as_lr_scheduler,
    build,
    catalog,
    curve,
    research,
    validate,
)
from trainer.schedules.budget import conversion_budget  # noqa: E402
from trainer.schedules.curve import MAX_PREVIEW_CONVERSION_STEPS  # noqa: E402

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


def fastest(fn, repeat: int) -> tuple[float, float]:
    """Wall and CPU seconds of the fastest of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


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


PREVIEW_BUDGET_S = 0.050
WD, MOMENTUM = 5e-4, 0.9
DEEP_BASE = {  # a base as costly per step as nesting allows: PIECEWISE of PIECEWISE of cyclic stages
    "kind": "PIECEWISE", "boundaries": [float(b) for b in range(1, 16)],
    "stages": [{"kind": "PIECEWISE", "boundaries": [float(b) for b in range(1, 16)],
                "stages": [{"kind": "COSRSW", "k0": 0.001, "k1": 0.1, "l": 0.5}] * 16}] * 16,
}
SPIKY = {"kind": "PIECEWISE", "boundaries": [1], "stages": [{"kind": "FIX", "k0": 10.0}, {"kind": "FIX", "k0": 0.1}]}


def nowd(base: dict, horizon: int, wd: float = WD, steps_per_epoch: int = 391) -> dict:
    return {"kind": "NOWD", "base": base, "wd": wd, "momentum": MOMENTUM, "steps_per_epoch": steps_per_epoch,
            "horizon": horizon}


def worst_previews() -> list[tuple[str, dict, float, int, int | None]]:
    """(name, spec, epochs, points, steps_per_epoch): each the costliest of its kind at the API's limits."""
    budget = MAX_PREVIEW_CONVERSION_STEPS  # in steps of a simple base; DEEP_BASE's steps count 3 each
    deep_nowd = {**nowd(DEEP_BASE, research.MAX_ITERATIONS), "unit": "iteration"}
    # 16 conversions whose exact checks together just fit the check budget (a SPIKY step counts 2)
    spiky_stages = [nowd(SPIKY, research.EXACT_CHECK_MAX_STEPS // 32 - i, wd=1e-3, steps_per_epoch=1)
                    for i in range(16)]
    return [
        ("NOWD 1e7, deep base, at the budget", deep_nowd, (budget // 3 - 1) / 1000, 20_000, 1000),
        ("NOWD 1e7, deep base, past budget", deep_nowd, 100_000, 20_000, 1_000_000),
        ("EXPCOS 1e7, at the budget", {"kind": "EXPCOS", "k0": 0.1, "horizon": research.MAX_ITERATIONS,
                                       "wd": WD, "momentum": MOMENTUM}, (budget - 1) / 1000, 20_000, 1000),
        ("PIECEWISE of 4 NOWD 1e7", {"kind": "PIECEWISE", "boundaries": [5000.0, 10000.0, 15000.0],
                                     "stages": [nowd({"kind": "FIX", "k0": 0.1 + i / 100}, research.MAX_ITERATIONS)
                                                for i in range(4)], "unit": "iteration"}, 100, 20_000, 200),
        ("PIECEWISE of 16 NOWD, exact checks", {"kind": "PIECEWISE", "boundaries": [float(b) for b in range(1, 16)],
                                                "stages": spiky_stages, "unit": "iteration"}, 16, 20_000, 1),
        ("deep PIECEWISE, no conversion", DEEP_BASE, 100_000, 20_000, None),
        ("PLATEAU, 1e5 epochs", {"kind": "PLATEAU", "k0": 0.1}, 100_000, 20_000, None),
        ("LEARNED, 10 learners, 1e5 epochs", learned_spec(10), 100_000, 20_000, None),
    ]


def learned_spec(learners: int) -> dict:
    """A LEARNED policy of random MLR-SNet learners (the preview's cost does not depend on the weights)."""
    import numpy as np

    from trainer.schedules.learned import LEARNER_SHAPES, encode_learner

    rng = np.random.default_rng(0)
    states = [encode_learner({name: rng.normal(0, 0.3, shape).astype("float32") for name, shape in
                              LEARNER_SHAPES.items()}) for _ in range(learners)]
    return {"kind": "LEARNED", "learners": states, "num_classes": 10}


def bench_worst_previews() -> float:
    """Validate + sample each worst preview from a cold cache, as /api/schedules/preview/ does."""
    print(f"worst previews (validate + curve, cold tables), budget {PREVIEW_BUDGET_S * 1e3:.0f} ms")
    print("(fastest of 5 runs: on a shared machine the others measure the neighbours; CPU ms alongside)")
    print(f"{'case':<40} {'ms':>8} {'CPU ms':>8} {'x budget':>9}  answer")
    worst = 0.0
    for name, spec, epochs, points, per_epoch in worst_previews():
        def preview(spec: dict = spec, epochs: float = epochs, points: int = points,
                    per_epoch: int | None = per_epoch) -> str:
            research._table.cache_clear()
            try:
                with conversion_budget(MAX_PREVIEW_CONVERSION_STEPS):  # as the API does
                    curve(validate(spec), epochs, points, per_epoch)
            except SpecError as exc:
                return f"400 {', '.join(exc.errors)}"
            return "200"

        answer = preview()
        seconds, cpu = fastest(preview, 5)
        worst = max(worst, seconds)
        print(f"{name:<40} {seconds * 1e3:8.2f} {cpu * 1e3:8.2f} {seconds / PREVIEW_BUDGET_S:9.2f}  {answer}")
    print(f"worst preview: {worst * 1e3:.2f} ms = {worst / PREVIEW_BUDGET_S:.2f} x the 50 ms budget\n")
    return worst


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
    if "--worst" in sys.argv:  # only the worst previews
        bench_worst_previews()
    else:
        bench_curves()
        bench_worst_previews()
        bench_overhead()
