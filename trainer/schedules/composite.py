"""PIECEWISE: one policy per interval between absolute boundaries.

From boundary b_i on, stage i+1 applies with its clock restarted: it is
evaluated at t - b_i (LRBench's composition, found from t, not from a counter).
"""

from __future__ import annotations

from bisect import bisect_right

from .errors import ErrorBag, join
from .params import Param, boundaries
from .policy import lr_bounds, make_fn
from .registry import KindDecl, LRFn, register

MAX_STAGES = 16


def _piecewise(s: dict, unit: str) -> LRFn:
    starts = (0.0, *s["boundaries"])
    stages = tuple(make_fn(stage, unit) for stage in s["stages"])
    marks = tuple(s["boundaries"])

    def lr_at(t: float) -> float:
        i = bisect_right(marks, t)
        return stages[i](t - starts[i])

    return lr_at


def stages_bounds(stages: list[dict]) -> tuple[float, float]:
    """The LR range of a policy that only ever runs one of ``stages``."""
    ranges = [lr_bounds(stage) for stage in stages]
    return (min(low for low, _ in ranges), max(high for _, high in ranges))


def _bounds(s: dict) -> tuple[float, float]:
    return stages_bounds(s["stages"])


def _check(s: dict, bag: ErrorBag, path: str, unit: str) -> None:
    if s["boundaries"] is None or s["stages"] is None:
        return
    expected = len(s["boundaries"]) + 1
    if len(s["stages"]) != expected:
        bag.add(join(path, "stages"), f"needs {expected} stages (one more than boundaries), got {len(s['stages'])}")


register(
    KindDecl(
        "PIECEWISE",
        "Piecewise",
        "composite",
        "a different policy between each pair of boundaries; each stage's clock restarts at its boundary",
        "stage i+1 (t - b_i) for b_i <= t < b_(i+1)",
        (
            boundaries(
                "boundaries",
                "absolute positions where the next stage starts",
                [10.0],
                allow_zero=False,
                max_len=MAX_STAGES - 1,
            ),
            Param(
                "stages",
                "spec_list",
                "policies, one more than boundaries; stage i+1 is evaluated at t - b_i",
                # a gentle cyclic start, then a lower constant LR: LRs that train the built-in workloads
                default=[{"kind": "SIN", "k0": 0.01, "k1": 0.05, "l": 5.0}, {"kind": "FIX", "k0": 0.005}],
                min_len=1,
                max_len=MAX_STAGES,
            ),
        ),
        _piecewise,
        _bounds,
        check=_check,
        composite=True,
    )
)
