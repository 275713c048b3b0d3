"""Parameter declarations: each kind declares its parameters once, here.

Validation, ``catalog()`` and everything generated from it (web form fields,
API validation, docs) read the same ``Param`` objects.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .errors import ErrorBag, join

MAX_LEN = 1e7  # longest l / horizon, in the policy's unit of t
MAX_LR = 100.0
MAX_LIST = 100

SCALAR_TYPES = ("float", "int")


@dataclass(frozen=True)
class Param:
    """One declared parameter of a kind.

    type: "float", "int", "float_list" (bounds apply to each item),
    "choice" (one of ``choices``), "spec_list" (nested policies) or "spec"
    (one nested policy). unit: "lr", "t" (the policy's unit of t) or "none".
    ``default`` is the form's initial value; it fills the spec only when the
    parameter is not required.
    """

    name: str
    type: str
    help: str
    unit: str = "none"
    default: Any = None
    required: bool = True
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    choices: tuple[str, ...] = ()
    min_len: int = 0
    max_len: int = MAX_LIST
    increasing: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "min": self.min,
            "min_inclusive": self.min_inclusive,
            "max": self.max,
            "max_inclusive": self.max_inclusive,
            "default": self.default,
            "help": self.help,
            "required": self.required,
            "unit": self.unit,
        }
        if self.type == "choice":
            out["choices"] = list(self.choices)
        if self.type in ("float_list", "spec_list"):
            out.update(min_len=self.min_len, max_len=self.max_len)
        if self.type == "float_list":
            out["increasing"] = self.increasing
        return out

    def check(self, value: Any, path: str, bag: ErrorBag) -> Any:
        """The normalized value, or None after adding the problems to ``bag``.

        Nested specs ("spec", "spec_list") are checked by the validator.
        """
        if self.type in SCALAR_TYPES:
            return self._check_scalar(value, path, bag)
        if self.type == "float_list":
            return self._check_float_list(value, path, bag)
        if self.type == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            bag.add(path, f"must be one of {', '.join(self.choices)}")
            return None
        raise TypeError(f"{self.type} parameters are checked by the validator")

    def _check_scalar(self, value: Any, path: str, bag: ErrorBag) -> float | int | None:
        number = to_number(value, path, bag)
        if number is None:
            return None
        if self.type == "int":
            if not number.is_integer():
                bag.add(path, "must be a whole number")
                return None
        message = self._bounds_problem(number)
        if message:
            bag.add(path, message)
            return None
        return int(number) if self.type == "int" else number

    def _check_float_list(self, value: Any, path: str, bag: ErrorBag) -> list[float] | None:
        if not isinstance(value, list | tuple):
            bag.add(path, "must be a list of numbers")
            return None
        if not self.min_len <= len(value) <= self.max_len:
            bag.add(path, f"must have {self.min_len} to {self.max_len} entries")
            return None
        items = [self._check_scalar(v, join(path, i), bag) for i, v in enumerate(value)]
        if any(item is None for item in items):
            return None
        if self.increasing:
            # Each offending entry gets its own message, so a form can mark the very field.
            decreasing = [(i + 1, a) for i, (a, b) in enumerate(pairwise(items)) if b <= a]
            for index, previous in decreasing:
                bag.add(join(path, index), f"must be greater than the one before it ({previous:g})")
            if decreasing:
                return None
        return [float(item) for item in items]

    def _bounds_problem(self, x: float) -> str | None:
        low_ok = self.min is None or (x >= self.min if self.min_inclusive else x > self.min)
        high_ok = self.max is None or (x <= self.max if self.max_inclusive else x < self.max)
        if low_ok and high_ok:
            return None
        low = "" if self.min is None else ("[" if self.min_inclusive else "(") + f"{self.min:g}"
        high = "" if self.max is None else f"{self.max:g}" + ("]" if self.max_inclusive else ")")
        return f"must be in {low or '(-inf'}, {high or 'inf)'}"


def to_number(value: Any, path: str, bag: ErrorBag) -> float | None:
    """A finite float from a JSON number; booleans and strings are refused."""
    if value is None:
        bag.add(path, "is empty: enter a number")
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "a boolean" if isinstance(value, bool) else type(value).__name__
        bag.add(path, f"must be a number, not {kind}")
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        bag.add(path, "must be a finite number")
        return None
    if not math.isfinite(number):
        bag.add(path, "must be a finite number")
        return None
    return number


# Declaration helpers: the parameters most kinds share, with their bounds.


def lr(name: str, help: str, default: float, *, positive: bool = True, required: bool = True) -> Param:
    """An LR in (0, 100] (``positive``) or [0, 100]."""
    return Param(
        name, "float", help, unit="lr", default=default, required=required,
        min=0.0, min_inclusive=not positive, max=MAX_LR,
    )


def length(name: str, help: str, default: float, *, allow_zero: bool = False) -> Param:
    """A length or position in t: (0, 1e7], or [0, 1e7]."""
    return Param(
        name, "float", help, unit="t", default=default,
        min=0.0, min_inclusive=allow_zero, max=MAX_LEN,
    )


def decay(name: str = "gamma", help: str = "decay factor", default: float = 0.1) -> Param:
    """A multiplicative decay factor in (0, 1]."""
    return Param(name, "float", help, default=default, min=0.0, min_inclusive=False, max=1.0)


def boundaries(name: str, help: str, default: list[float], *, allow_zero: bool, max_len: int = MAX_LIST) -> Param:
    """A strictly increasing list of positions in t."""
    return Param(
        name, "float_list", help, unit="t", default=default,
        min=0.0, min_inclusive=allow_zero, max=MAX_LEN, min_len=1, max_len=max_len, increasing=True,
    )


def real(name: str, help: str, default: float, low: float, high: float, *,
         low_inclusive: bool = True, high_inclusive: bool = True, required: bool = True) -> Param:
    """Any other bounded float."""
    return Param(
        name, "float", help, default=default, required=required,
        min=low, max=high, min_inclusive=low_inclusive, max_inclusive=high_inclusive,
    )
