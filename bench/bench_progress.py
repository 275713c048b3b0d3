"""What progress reporting within an epoch costs the engine: the same run with on_progress on and off.

trainer.engine.train reports the epoch under way (iterations done, the recent
training loss) to on_progress at most every progress_seconds: between reports
each iteration reads the clock once; a report reads the device's loss sum, one
wait for the device. Contenders, the same run (same seed, same data, same steps):

- off: train(config), no on_progress;
- on (2 s): on_progress every 2 s at most, the dashboard's default (ARENA_PROGRESS_SECONDS);
- on (0.1 s): twenty times as often: the cost of the waits for the device made visible.

Each call trains one epoch of N iterations on synthetic data of the workload's
shape (so it runs anywhere) and its epoch's own time ("seconds" in the epoch's
metrics: training and evaluation) is taken. Calls run in interleaved rounds
after one warm-up each; reported: the median epoch time and, as the cost, the
median over rounds of each round's on/off ratio (paired, so that load from
other processes mostly cancels). Target: on (2 s) costs under 1%.

On a machine shared with other work, epoch times vary by more than 1% from one
call to the next, so the script also times the machinery alone, which load
hardly blurs: one `Progress.due()` (paid every iteration) and one report (the
read of the loss sum, the dict, the callback), and bounds the cost per epoch
from them: (iterations x due + reports x report) / the epoch's time. On a GPU a
report also drains the queue of launched kernels once: the paired ratio, not the
bound, measures that.

    .venv/bin/python bench/bench_progress.py [--workload mnist-lenet] [--iterations 600] [--rounds 7] [--device auto]
                                             [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402

from trainer.engine import PROGRESS_SECONDS, TrainConfig, resolve_device, train  # noqa: E402
from trainer.progress import Progress  # noqa: E402

TARGET_COST = 0.01


def epoch_seconds(config: TrainConfig, progress_seconds: float | None) -> tuple[float, int]:
    """The epoch's own seconds, and how many reports it made."""
    reports = []
    if progress_seconds is None:
        result = train(config)
    else:
        result = train(config, on_progress=reports.append, progress_seconds=progress_seconds)
    return result["epochs"][0]["seconds"], len(reports)


def machinery_seconds(device: torch.device, calls: int = 200_000) -> tuple[float, float]:
    """Seconds per Progress.due() and per report (a device loss sum read, the dict, a callback)."""
    reports = []
    progress = Progress(reports.append, 3600.0)
    progress.start_epoch(1, calls)
    start = time.perf_counter()
    for _ in range(calls):
        progress.due()
    due = (time.perf_counter() - start) / calls
    loss_sum = torch.ones((), device=device)
    n = calls // 100
    start = time.perf_counter()
    for i in range(n):
        progress.report(i + 1, loss_sum, 100 * (i + 1))
    return due, (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="mnist-lenet")
    parser.add_argument("--iterations", type=int, default=600, help="iterations in the epoch timed")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (a workload may set its own)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 200 iterations: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.rounds = 200, 3

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    config = TrainConfig(
        workload=args.workload,
        policy={"kind": "FIX", "k0": 0.01},
        epochs=1,
        device=args.device,
        synthetic=True,
        limit_train_batches=args.iterations,
        limit_test_batches=1,
    )
    contenders = {"off": None, f"on ({PROGRESS_SECONDS:g} s)": PROGRESS_SECONDS, "on (0.1 s)": 0.1}
    common.header(
        f"bench_progress: {args.workload}, one epoch of {args.iterations} iterations (synthetic data), "
        f"{args.rounds} interleaved rounds",
        device,
    )
    for interval in contenders.values():  # warm-up: allocator, oneDNN / cuDNN kernel choice
        epoch_seconds(config, interval)
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    reports: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, interval in contenders.items():
            took, reports[name] = epoch_seconds(config, interval)
            seconds[name].append(took)

    off = seconds["off"]
    rows = []
    for name, values in seconds.items():
        ratios = [on / base for on, base in zip(values, off, strict=True)]
        cost = statistics.median(ratios) - 1
        rows.append(
            [
                name,
                f"{common.median(values):.3f}",
                common.spread(values),
                str(reports[name]) if name != "off" else "-",
                "-" if name == "off" else f"{100 * cost:+.2f}%",
            ]
        )
    common.print_table(["contender", "epoch s (median)", "spread", "reports/epoch", "cost vs off (paired)"], rows)
    default = [on / base for on, base in zip(seconds[f"on ({PROGRESS_SECONDS:g} s)"], off, strict=True)]
    cost = statistics.median(default) - 1
    verdict = "met" if cost < TARGET_COST else "NOT met (see the spread: on a loaded machine it is noise)"
    print(f"  ratio on ({PROGRESS_SECONDS:g} s) / off: {1 + cost:.4f}; target < {1 + TARGET_COST:.2f}: {verdict}")

    due, report = machinery_seconds(device)
    fastest = min(off)
    name = f"on ({PROGRESS_SECONDS:g} s)"
    bound = (args.iterations * due + reports[name] * report) / fastest
    print(
        f"  machinery: Progress.due() {1e9 * due:.0f} ns per iteration, a report {1e6 * report:.1f} us; "
        f"{name} in the fastest epoch off ({fastest:.3f} s, {reports[name]} reports): at most {100 * bound:.4f}%"
    )
    print(f"  load average (1/5/15 min) at the end: {common.load_average()}")


if __name__ == "__main__":
    main()
