"""Progress within an epoch, reported at most every few seconds of wall time.

The training loop sums its losses in a device tensor and reads them once per
epoch, so no step waits for the device. A report reads that sum once more: the
host waits for the steps queued so far, once per `seconds`, which costs nothing
measurable (bench/bench_progress.py). Between reports each iteration costs one
clock read and a comparison.

A report is a dict:

    {"epoch": 3, "iteration": 240, "steps_per_epoch": 600,
     "loss": 0.41,        # mean training loss of the iterations since the last report (None if not finite)
     "epoch_loss": 0.52,  # mean training loss of the epoch so far (None if not finite)
     "seconds": 4.1}      # wall time since the epoch started

`iteration` counts the epoch's iterations done, from 1 to steps_per_epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


class Progress:
    """Reports one run's epoch under way to `report`, at most every `seconds` (0: every iteration)."""

    def __init__(self, report: Callable[[dict], None], seconds: float, clock: Callable[[], float] = time.monotonic):
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not seconds >= 0:
            raise ValueError(f"progress_seconds must be a number of seconds >= 0, got {seconds!r}")
        self._report = report
        self.seconds = float(seconds)
        self._clock = clock
        self.epoch = 0
        self.steps_per_epoch = 0
        self._started = self._last = clock()
        self._loss_sum = 0.0  # the epoch's loss sum and sample count at the last report
        self._seen = 0

    def start_epoch(self, epoch: int, steps_per_epoch: int) -> None:
        self.epoch, self.steps_per_epoch = epoch, steps_per_epoch
        self._started = self._last = self._clock()
        self._loss_sum, self._seen = 0.0, 0

    def due(self) -> bool:
        return self._clock() - self._last >= self.seconds

    def report(self, iteration: int, loss_sum: Any, seen: int) -> None:
        """Report after `iteration` iterations of the epoch; loss_sum (a 0-d tensor or a float) over `seen` samples."""
        total = float(loss_sum)  # a tensor's one wait for the device in this interval
        since = seen - self._seen
        self._report(
            {
                "epoch": self.epoch,
                "iteration": iteration,
                "steps_per_epoch": self.steps_per_epoch,
                "loss": _finite((total - self._loss_sum) / since) if since else None,
                "epoch_loss": _finite(total / seen) if seen else None,
                "seconds": self._clock() - self._started,
            }
        )
        self._loss_sum, self._seen = total, seen
        self._last = self._clock()  # after the callback: a slow one never makes reports back to back


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
