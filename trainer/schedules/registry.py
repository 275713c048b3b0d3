"""The kind declarations and the registry that validation and the catalog read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ErrorBag
from .params import Param

LRFn = Callable[[float], float]
Maker = Callable[[dict[str, Any], str], LRFn]
Bounds = Callable[[dict[str, Any]], tuple[float, float]]
CrossCheck = Callable[[dict[str, Any], ErrorBag, str, str], None]


class Tracker(Protocol):
    """The observed state of one adaptive policy and its LR as a function of t (see adaptive.py)."""

    def lr(self, t: float) -> float: ...

    def observe(self, epoch: int, metrics: Mapping[str, Any], total_epochs: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def assume_plateau(self, after: int, total_epochs: int) -> str: ...


TrackerMaker = Callable[[dict[str, Any]], Tracker]

GROUPS = ("fixed", "decaying", "cyclic", "restarts", "composite", "adaptive", "research")  # display order
UNITS = ("epoch", "iteration")


@dataclass(frozen=True)
class KindDecl:
    """Everything about one kind: its parameters, how to evaluate it, its LR range.

    ``make(spec, unit)`` returns the LR function of t >= 0 for a normalized
    spec; ``bounds(spec)`` the (low, high) range that function stays in;
    ``check(spec, bag, path, unit)`` adds cross-field problems (fields that
    failed their own checks are None in ``spec``). ``units[0]`` is the default
    unit. ``composite`` kinds hold nested specs and count towards the nesting
    limit. ``tracker(spec)``, for adaptive kinds only, returns the state that
    ``observe`` feeds; ``make`` then gives the LR before any observation.
    """

    kind: str
    label: str
    group: str
    description: str
    formula: str
    params: tuple[Param, ...]
    make: Maker
    bounds: Bounds
    units: tuple[str, ...] = UNITS
    check: CrossCheck | None = None
    composite: bool = False
    tracker: TrackerMaker | None = None

    @property
    def adaptive(self) -> bool:
        return self.tracker is not None

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "group": self.group,
            "description": self.description,
            "formula": self.formula,
            "units": list(self.units),
            "default_unit": self.units[0],
            "adaptive": self.adaptive,
            "params": [p.as_dict() for p in self.params],
        }


KINDS: dict[str, KindDecl] = {}


def register(decl: KindDecl) -> KindDecl:
    if decl.kind in KINDS:
        raise ValueError(f"kind {decl.kind} is declared twice")
    if decl.group not in GROUPS or not set(decl.units) <= set(UNITS):
        raise ValueError(f"kind {decl.kind}: bad group or units")
    KINDS[decl.kind] = decl
    ordered = sorted(KINDS.values(), key=lambda d: GROUPS.index(d.group))  # stable: keeps order within a group
    KINDS.clear()
    KINDS.update((d.kind, d) for d in ordered)
    return decl


def catalog() -> list[dict[str, Any]]:
    """Every kind's declaration, JSON-serialisable, in display order."""
    return [decl.as_dict() for decl in KINDS.values()]
