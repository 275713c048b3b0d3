"""Small argument checks, each raising UserInputError naming the argument, and the bound on a run's epochs.

Light: no torch, so a tool's arguments are checked before anything heavy loads.
"""

from __future__ import annotations

import math
from typing import Any

from trainer.errors import UserInputError

MAX_EPOCHS = 10_000  # the most epochs one run trains (TrainConfig.epochs)


def real(name: str, value: Any) -> float:
    """A finite int or float (never a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserInputError(name, f"{name} must be a finite number, got {value!r}")
    return float(value)


def distinct_integers(name: str, values: Any) -> list[int]:
    """A non-empty list (or tuple) of ints without repeats, as a list."""
    if not isinstance(values, list | tuple) or not values:
        raise UserInputError(name, f"{name} must be a non-empty list of integers, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserInputError(name, f"{name} must hold integers, got {value!r}")
    if len(set(values)) != len(values):
        raise UserInputError(name, f"{name} must not repeat a value, got {list(values)!r}")
    return list(values)
