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

On a GPU (scripts/gpu-check.sh):

    python3 bench/bench_batched.py --device cuda --ks 4,16,64 --sequential-ks 4,16 --largest-k --json out.json

--sequential-ks times the sequential runs at those K only (a run alone takes
as long whatever K is): other rows divide by the runs/s measured at the
largest of them, marked *. --largest-k goes on doubling K past the largest
given, batched only, until a call runs out of device memory, takes more than
--k-seconds, or K passes --k-ceiling, and reports the largest K that ran.
"""

from __future__ import annotations

import argparse
import gc
import json
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
    parser.add_argument("--sequential-ks", default=None, help="time sequential runs at these K only (default: all)")
    parser.add_argument("--largest-k", action="store_true", help="then double K until memory or time runs out")
    parser.add_argument("--k-ceiling", type=int, default=4096, help="--largest-k stops past this K")
    parser.add_argument("--k-seconds", type=float, default=30.0, help="--largest-k stops after a call this long")
    parser.add_argument("--workloads", default="digits-mlp,mnist-lenet", help="comma-separated")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    parser.add_argument("--quick", action="store_true", help="smoke mode: K = 2, 1 epoch / 100 iterations, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.ks, args.rounds, args.digits_epochs, args.lenet_iterations = "2", 1, 1, 100
        args.sequential_ks, args.k_ceiling = None, 4
    ks = [int(k) for k in args.ks.split(",")]
    sequential_ks = {int(k) for k in args.sequential_ks.split(",")} if args.sequential_ks else set(ks)
    if not sequential_ks <= set(ks) or min(sequential_ks) > min(ks):
        parser.error("--sequential-ks must be among --ks and include the smallest K")
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    batched_module.BATCH_CONVOLUTIONS_ON_CPU = True  # measure the vmapped path on the CPU too
    fallbacks = _Fallbacks()
    logging.getLogger("trainer.batched").addHandler(fallbacks)
    logging.getLogger("trainer.batched").setLevel(logging.INFO)
    common.header("Policy-batched training (train_batched) against sequential runs (train)", device)
    names = args.workloads.split(",")
    workloads = [("digits-mlp", args.digits_epochs, None)] if "digits-mlp" in names else []
    if "mnist-lenet" not in names:
        pass
    elif mnist_raw_files_exist(default_data_dir()):
        workloads.append(("mnist-lenet", 1, args.lenet_iterations))
    else:
        print(f"  (mnist-lenet skipped: MNIST raw files not found under {default_data_dir()})")

    rows, records, largest = [], [], {}
    for workload, epochs, iterations in workloads:
        length = f"{iterations} it" if iterations else f"{epochs} ep"
        warm_up = contenders(workload, 2, epochs, iterations, str(device))
        common.time_in_rounds(warm_up, rounds=1, device=device)  # data, kernels, allocator
        sequential_rate = None  # runs/s, from the largest K timed sequentially so far
        for k in ks:
            calls = contenders(workload, k, epochs, iterations, str(device))
            if k not in sequential_ks:
                del calls["sequential"]
            seconds = common.time_in_rounds(calls, rounds=args.rounds, device=device)
            batched = common.median(seconds["batched"])
            measured = "sequential" in seconds
            if measured:
                sequential_rate = k / common.median(seconds["sequential"])
            seq_spread = common.spread(seconds["sequential"]) if measured else "-"
            fastest = f"{min(seconds['sequential']) / min(seconds['batched']):.2f}x" if measured else "-"
            rows.append(
                [
                    f"{workload} ({length})",
                    str(k),
                    f"{sequential_rate:.2f}" + ("" if measured else "*"),
                    f"{k / batched:.2f}",
                    f"{k / batched / sequential_rate:.2f}x",
                    fastest,
                    f"{seq_spread} / {common.spread(seconds['batched'])}",
                ]
            )
            records.append(
                {
                    "workload": workload,
                    "per_run": length,
                    "k": k,
                    "seconds": seconds,
                    "runs_per_sec_sequential": sequential_rate,
                    "sequential_measured_at_this_k": measured,
                    "runs_per_sec_batched": k / batched,
                    "speedup": k / batched / sequential_rate,
                    "peak_memory_bytes": _peak_memory(device),
                }
            )
            print(f"  done: {workload}, K = {k}", flush=True)
        if args.largest_k:
            largest[workload] = _largest_k(workload, epochs, iterations, max(ks), sequential_rate, device, args)
            found = largest[workload]
            print(f"  largest K for {workload}: {found['largest_k']} ({found['stopped_by']})", flush=True)
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
    if any(not r["sequential_measured_at_this_k"] for r in records):
        print("  * sequential runs/s measured at a smaller K (a run alone takes as long whatever K is)")
    for workload, found in largest.items():
        for tried in found["tried"]:
            print(
                f"  {workload}, K = {tried['k']}: {tried.get('runs_per_sec_batched', 0):.2f} runs/s batched, "
                f"{tried.get('speedup', 0):.2f}x, peak memory {tried.get('peak_memory_bytes') or 0:,} bytes"
                + (f" ({tried['error']})" if "error" in tried else "")
            )
        print(f"  largest K that ran for {workload}: {found['largest_k']} (stopped by {found['stopped_by']})")
    for line in sorted(set(fallbacks.lines)):
        print(f"  WARNING: a batched contender fell back to sequential runs: {line}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": common.machine(device),
                    "rounds": args.rounds,
                    "rows": records,
                    "largest_k": largest,
                    "fallbacks": sorted(set(fallbacks.lines)),
                },
                indent=1,
            )
        )
    return 0


def _peak_memory(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def _largest_k(workload, epochs, iterations, start, sequential_rate, device, args) -> dict:
    """Double K past `start`, batched only, one call each, until memory, time or the ceiling stops it."""
    tried, largest, stopped_by = [], start, "the ceiling --k-ceiling"
    k = start * 2
    while k <= args.k_ceiling:
        calls = {"batched": contenders(workload, k, epochs, iterations, str(device))["batched"]}
        _peak_memory(device)
        try:
            seconds = common.time_in_rounds(calls, rounds=1, device=device)["batched"][0]
        except torch.cuda.OutOfMemoryError as error:
            tried.append({"k": k, "error": f"out of memory: {str(error).splitlines()[0][:200]}"})
            stopped_by = "device memory"
            break
        finally:
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        tried.append(
            {
                "k": k,
                "seconds": seconds,
                "runs_per_sec_batched": k / seconds,
                "speedup": k / seconds / sequential_rate,
                "peak_memory_bytes": _peak_memory(device),
            }
        )
        largest = k
        print(f"  done: {workload}, K = {k} (batched only)", flush=True)
        if seconds > args.k_seconds:
            stopped_by = f"time: one call took {seconds:.0f} s > --k-seconds"
            break
        k *= 2
    return {"largest_k": largest, "stopped_by": stopped_by, "tried": tried}


if __name__ == "__main__":
    sys.exit(main())
