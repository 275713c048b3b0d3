"""A built policy: a pure function of t, plus its normalized spec."""

from __future__ import annotations

import copy
import math
from typing import Any

from .registry import KINDS, LRFn
from .validation import validate


class Policy:
    """``policy(t)`` is the LR at t (in ``policy.unit``); it keeps no state.

    t < 0 counts as 0; a non-finite t is a ValueError.
    """

    __slots__ = ("_spec", "unit", "bounds", "_fn", "_per_epoch")

    def __init__(self, spec: dict[str, Any], fn: LRFn, bounds: tuple[float, float]) -> None:
        self._spec = spec
        self.unit: str = spec["unit"]
        self.bounds = bounds  # (low, high): the LR never leaves this range
        self._fn = fn
        self._per_epoch = self.unit == "epoch"

    @property
    def spec(self) -> dict[str, Any]:
        return copy.deepcopy(self._spec)

    @property
    def kind(self) -> str:
        return self._spec["kind"]

    def __call__(self, t: float) -> float:
        if 0.0 <= t < math.inf:
            return self._fn(float(t))
        if t < 0.0:
            return self._fn(0.0)
        raise ValueError(f"t must be a finite number, got {t!r}")

    def lr_at(self, iteration: int, steps_per_epoch: int) -> float:
        """The LR for global iteration ``iteration`` (0-based)."""
        if steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be >= 1")
        return self(iteration / steps_per_epoch if self._per_epoch else iteration)

    def __reduce__(self) -> tuple:
        return (build, (self._spec,))

    def __repr__(self) -> str:
        return f"Policy({self._spec!r})"


def make_fn(spec: dict[str, Any], unit: str) -> LRFn:
    """The LR function of a normalized (sub-)spec."""
    return KINDS[spec["kind"]].make(spec, unit)


def lr_bounds(spec: dict[str, Any]) -> tuple[float, float]:
    return KINDS[spec["kind"]].bounds(spec)


def build(spec: Any) -> Policy:
    """Validate ``spec`` (SpecError) and return its Policy."""
    if isinstance(spec, Policy):
        return spec
    normalized = validate(spec)
    return Policy(normalized, make_fn(normalized, normalized["unit"]), lr_bounds(normalized))
