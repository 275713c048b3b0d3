"""What the training benchmarks share: timing in rounds, the machine, a table, stopping a run early.

Contenders are timed in rounds, each round running every contender once in
turn, so that a burst of load from other processes on the machine lands on all
of them rather than on one; each contender's median over the rounds is
reported.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from trainer.engine import STOP_CHECK_EVERY  # noqa: E402


def time_in_rounds(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    device: torch.device | None = None,
) -> dict[str, list[float]]:
    """Seconds of each call of each contender, `rounds` calls each, interleaved; waits for CUDA work."""
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            _synchronize(device)
            start = time.perf_counter()
            run()
            _synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min-max of the values as a percentage of their median: how noisy the rounds were."""
    mid = statistics.median(values)
    return f"{100 * (max(values) - min(values)) / mid:.0f}%" if mid else "-"


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def stop_after(iterations: int) -> Callable[[], bool]:
    """A should_stop for train() that cancels a run after exactly `iterations` iterations.

    The engine asks before every epoch and every STOP_CHECK_EVERY iterations;
    iterations must be a multiple of that and fit in the run's first epoch.
    """
    if iterations <= 0 or iterations % STOP_CHECK_EVERY:
        raise ValueError(f"iterations must be a positive multiple of {STOP_CHECK_EVERY}, got {iterations}")
    calls = 0
    stop_on_call = 1 + iterations // STOP_CHECK_EVERY  # the first call comes before epoch 1

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls == stop_on_call

    return should_stop


def machine(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU's model and core count."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{cpu_model()}, {os.cpu_count()} CPU cores"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def header(title: str, device: torch.device) -> None:
    print(title)
    print(f"  machine: {machine(device)}; torch {torch.__version__}; {torch.get_num_threads()} intra-op thread(s)")
    print(f"  load average (1/5/15 min) at start: {load_average()}")


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for i, row in enumerate([headers, *rows]):
        cells = [
            str(cell).ljust(w) if j == 0 else str(cell).rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
