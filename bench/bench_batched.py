"""Policy-batched training against the same runs one after another.

For each workload and K, K runs that differ in policy and seed are trained
twice: sequentially (K calls of trainer.engine.train) and together
(trainer.batched.train_batched). digits-mlp runs are full short runs
(evaluation after every epoch included); mnist-lenet runs are cut at a fixed
number of iterations through should_stop, so no evaluation is timed. The two
are timed in interleaved rounds and the medians reported as runs per second,
with the speed-up batched / sequential measured in the same rounds.

On the CPU, train_batched trains models with convolutions one after another
(trainer.batched.BATCH_CONVOLUTIONS_ON_CPU); this benchmark switches that off
to measure the vmapped path, which is the reason for that default.

    .venv/bin/python bench/bench_batched.py [--device cpu|cuda] [--ks 8,16] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402

from trainer import batched as batched_module  # noqa: E402
from trainer.batched import train_batched  # noqa: E402
from trainer.data import mnist_raw_files_exist  # noqa: E402
from trainer.engine import TrainConfig, resolve_device, train  # noqa: E402
from trainer.paths import default_data_dir  # noqa: E402

# A spread of policies, as a sweep would hold; run k takes POLICIES[k % len] and seed k.
POLICIES = [
    {"kind": "FIX", "k0": 0.05},
    {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1},
    {"kind": "COS", "k0": 0.001, "k1": 0.05, "l": 3},
    {"kind": "EXP", "k0": 0.05, "gamma": 0.9},
    {"kind": "FIX", "k0": 0.01},
    {"kind": "TRI", "k0": 0.005, "k1": 0.05, "l": 1},
    {"kind": "EXPGROW", "k0": 0.01, "wd": 5e-4, "momentum": 0.9},
    {"kind": "FIX", "k0": 0.02},
]


def configs(workload: str, k: int, epochs: int, device: str) -> list[TrainConfig]:
    return [
        TrainConfig(workload=workload, policy=POLICIES[i % len(POLICIES)], epochs=epochs, seed=i, device=device)
        for i in range(k)
    ]


def contenders(workload: str, k: int, epochs: int, iterations: int | None, device: str) -> dict:
    """Sequential and batched training of the same K runs; iterations: cut each run there (None: full runs)."""
    runs = configs(workload, k, epochs, device)

    def sequential() -> None:
        for config in runs:
            stop = common.stop_after(iterations) if iterations else None
            result = train(config, should_stop=stop)
            assert result["status"] in ("succeeded", "cancelled"), result["status"]

    def batched() -> None:
        stops = [common.stop_after(iterations) for _ in runs] if iterations else None
        results = train_batched(runs, should_stop=(lambda i: stops[i]()) if stops else None)
        assert all(r["status"] in ("succeeded", "cancelled") for r in results)

    return {"sequential": sequential, "batched": batched}


class _Fallbacks(logging.Handler):
    """Collects train_batched's fall-back lines: a batched time that is really sequential must not pass unseen."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--ks", default="8,16", help="numbers of runs per batch, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per contender; the median is reported")
    parser.add_argument("--digits-epochs", type=int, default=3, help="epochs of each full digits-mlp run")
    parser.add_argument(
        "--lenet-iterations", type=int, default=100, help="iterations of each mnist-lenet run (a multiple of 100)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for mnist-lenet on CPU (digits-mlp runs set 1 themselves); 0: torch's default",
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: K = 2, 1 epoch / 100 iterations, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.ks, args.rounds, args.digits_epochs, args.lenet_iterations = "2", 1, 1, 100
    ks = [int(k) for k in args.ks.split(",")]
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    batched_module.BATCH_CONVOLUTIONS_ON_CPU = True  # measure the vmapped path on the CPU too
    fallbacks = _Fallbacks()
    logging.getLogger("trainer.batched").addHandler(fallbacks)
    logging.getLogger("trainer.batched").setLevel(logging.INFO)
    common.header("Policy-batched training (train_batched) against sequential runs (train)", device)
    workloads = [("digits-mlp", args.digits_epochs, None)]
    if mnist_raw_files_exist(default_data_dir()):
        workloads.append(("mnist-lenet", 1, args.lenet_iterations))
    else:
        print(f"  (mnist-lenet skipped: MNIST raw files not found under {default_data_dir()})")

    rows = []
    for workload, epochs, iterations in workloads:
        warm_up = contenders(workload, 2, epochs, iterations, str(device))
        common.time_in_rounds(warm_up, rounds=1, device=device)  # data, kernels, allocator
        for k in ks:
            calls = contenders(workload, k, epochs, iterations, str(device))
            seconds = common.time_in_rounds(calls, rounds=args.rounds, device=device)
            sequential, batched = common.median(seconds["sequential"]), common.median(seconds["batched"])
            length = f"{iterations} it" if iterations else f"{epochs} ep"
            rows.append(
                [
                    f"{workload} ({length})",
                    str(k),
                    f"{k / sequential:.2f}",
                    f"{k / batched:.2f}",
                    f"{sequential / batched:.2f}x",
                    f"{min(seconds['sequential']) / min(seconds['batched']):.2f}x",
                    f"{common.spread(seconds['sequential'])} / {common.spread(seconds['batched'])}",
                ]
            )
            print(f"  done: {workload}, K = {k}", flush=True)
    print()
    common.print_table(
        [
            "workload (per run)",
            "K",
            "runs/s sequential",
            "runs/s batched",
            "speed-up",
            "fastest rounds",
            "spread seq / bat",
        ],
        rows,
    )
    print(f"\n  {args.rounds} round(s), medians; load average at the end: {common.load_average()}")
    for line in sorted(set(fallbacks.lines)):
        print(f"  WARNING: a batched contender fell back to sequential runs: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
