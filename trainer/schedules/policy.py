"""A built policy: a pure function of t, plus its normalized spec.

An adaptive policy (``policy.adaptive``) also has the state that
``observe`` feeds; its LR is a pure function of t and of that state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from .registry import KINDS, LRFn, Tracker
from .validation import validate


class Policy:
    """``policy(t)`` is the LR at t (in ``policy.unit``); it keeps no state.

    t < 0 counts as 0; a non-finite t is a ValueError.
    """

    __slots__ = ("_spec", "unit", "bounds", "_fn", "_per_epoch")
    adaptive = False

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


class AdaptivePolicy(Policy):
    """A policy whose LR follows the metrics training reports.

    After each epoch call ``observe(epoch, metrics, total_epochs)``: ``epoch``
    is the 1-based epoch just finished, ``metrics`` its dict (a value may be
    None), and what it decides applies from t = epoch on. ``policy(t)`` stays a
    function of t and of the epochs observed so far, queried in any order.
    ``state_dict()`` is JSON; ``load_state_dict`` restores it (ValueError if
    it does not belong to this spec).
    """

    __slots__ = ("_tracker",)
    adaptive = True

    def __init__(self, spec: dict[str, Any], tracker: Tracker, bounds: tuple[float, float]) -> None:
        super().__init__(spec, tracker.lr, bounds)
        self._tracker = tracker

    def observe(self, epoch: int, metrics: Mapping[str, Any], total_epochs: int) -> None:
        self._tracker.observe(epoch, metrics, total_epochs)

    @property
    def needs_step_loss(self) -> bool:
        """True when the next LR reads each mini-batch loss (LEARNED): call observe_step after every step."""
        return getattr(self._tracker, "needs_step_loss", False)

    def observe_step(self, iteration: int, loss: float) -> None:
        self._tracker.observe_step(iteration, loss)

    def state_dict(self) -> dict[str, Any]:
        return self._tracker.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._tracker.load_state_dict(state)

    def assume_plateau(self, after: int, total_epochs: int) -> str:
        """Observe epochs 1..total_epochs, improving up to ``after`` only; the assumption, in words."""
        return self._tracker.assume_plateau(after, total_epochs)

    def __reduce__(self) -> tuple:
        return (restore, (self._spec, self.state_dict()))


def restore(spec: Any, state: Mapping[str, Any]) -> AdaptivePolicy:
    """The adaptive policy of ``spec`` with its observed state (how it unpickles)."""
    policy = build(spec)
    if not isinstance(policy, AdaptivePolicy):
        raise ValueError(f"{policy.kind} is not adaptive: it has no state to restore")
    policy.load_state_dict(state)
    return policy


def make_fn(spec: dict[str, Any], unit: str) -> LRFn:
    """The LR function of a normalized (sub-)spec."""
    return KINDS[spec["kind"]].make(spec, unit)


def lr_bounds(spec: dict[str, Any]) -> tuple[float, float]:
    return KINDS[spec["kind"]].bounds(spec)


def build(spec: Any) -> Policy:
    """Validate ``spec`` (SpecError) and return its Policy (an AdaptivePolicy for adaptive kinds).

    A Policy is returned as it is, with its observed state.
    """
    if isinstance(spec, Policy):
        return spec
    normalized = validate(spec)
    decl = KINDS[normalized["kind"]]
    if decl.tracker is not None:  # a fresh state: nothing observed yet
        return AdaptivePolicy(normalized, decl.tracker(normalized), lr_bounds(normalized))
    return Policy(normalized, make_fn(normalized, normalized["unit"]), lr_bounds(normalized))
