"""The policy catalog as pages show it: groups, default specs and thumbnails.

Everything here derives from `trainer.schedules.catalog()`; nothing about a
kind is written down twice.
"""

from __future__ import annotations

import math
from functools import cache

from trainer import schedules

GROUP_TITLES = {
    "fixed": "Fixed",
    "decaying": "Decaying",
    "cyclic": "Cyclic",
    "restarts": "Restarts",
    "composite": "Composite",
    "adaptive": "Adaptive",
    "research": "Research",
}
THUMB_W, THUMB_H, THUMB_POINTS = 120, 36, 80
STEPS_PER_EPOCH = 100  # the preview's iterations per epoch for kinds measured in iterations


def default_spec(decl: dict) -> dict:
    spec = {"kind": decl["kind"], "unit": decl.get("default_unit", "epoch")}
    for param in decl["params"]:
        if param.get("default") is not None:
            spec[param["name"]] = param["default"]
    return spec


def _lengths(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [v for item in value for v in _lengths(item)]
    return []


def natural_window(decl: dict, spec: dict) -> float:
    """How much t shows a kind's shape: a few of its lengths, in the spec's unit."""
    lengths = [v for p in decl["params"] if p.get("unit") == "t" for v in _lengths(spec.get(p["name"])) if v > 0]
    window = 2.5 * max(lengths) if lengths else 30.0
    if decl["kind"] in ("NSTEP", "PIECEWISE", "TEXP"):
        window = 1.25 * max(lengths) if lengths else window
    return min(max(window, 10.0), 1e7)


@cache
def thumbnail(kind: str) -> str | None:
    """An SVG path of the kind's curve with default parameters, scaled into the thumbnail box."""
    decl = next((d for d in schedules.catalog() if d["kind"] == kind), None)
    if decl is None:
        return None
    spec = default_spec(decl)
    try:
        window = natural_window(decl, spec)
        in_iterations = spec["unit"] == "iteration"
        epochs = window / STEPS_PER_EPOCH if in_iterations else window
        curve = schedules.curve(  # the defaults only, once per process: no preview budget needed
            spec,
            epochs,
            points=THUMB_POINTS,
            steps_per_epoch=STEPS_PER_EPOCH if in_iterations else None,
            max_conversion_steps=None,
        )
    except (schedules.SpecError, ValueError):
        return None
    lrs = [v for v in curve["lr"] if v is not None and math.isfinite(v)]
    if len(lrs) != len(curve["lr"]):
        return None
    low, high = min(lrs), max(lrs)
    span = (high - low) or 1.0
    step = THUMB_W / (len(lrs) - 1)
    points = [f"{i * step:.1f},{THUMB_H - 2 - (v - low) / span * (THUMB_H - 4):.1f}" for i, v in enumerate(lrs)]
    return "M" + " L".join(points)


def grouped_catalog(kinds: list[dict] | None = None) -> list[dict]:
    """[{group, title, kinds: [decl + thumbnail]}] in display order."""
    groups: dict[str, list[dict]] = {}
    for decl in kinds if kinds is not None else schedules.catalog():
        groups.setdefault(decl["group"], []).append({**decl, "thumbnail": thumbnail(decl["kind"])})
    return [{"group": g, "title": GROUP_TITLES.get(g, g.title()), "kinds": ks} for g, ks in groups.items()]
