"""Spec validation: one pass that collects every problem, keyed by field path."""

from __future__ import annotations

import copy
from typing import Any

from .budget import conversion_budget
from .errors import ErrorBag, join
from .params import Param
from .registry import KINDS, UNITS, KindDecl

MAX_DEPTH = 3  # composite policies nested in one another, at most
# Iterations of exact conversions (EXPCOS, NOWD) one validation may compute to look for a breakdown.
MAX_CHECK_STEPS = 12_000
RESERVED = ("kind", "unit")


def validate(spec: Any) -> dict[str, Any]:
    """The normalized spec (defaults filled in, plain JSON types), or SpecError."""
    bag = ErrorBag()
    with conversion_budget(MAX_CHECK_STEPS, shared=True):
        normalized = normalize(spec, bag, path="", depth=0, parent_unit=None)
    bag.raise_if_any()
    assert normalized is not None
    return normalized


def normalize(spec: Any, bag: ErrorBag, path: str, depth: int, parent_unit: str | None) -> dict | None:
    """Normalize the spec at ``path``; a stage (``parent_unit`` set) inherits its unit."""
    if not isinstance(spec, dict):
        bag.add(path or "spec", "must be a JSON object")
        return None
    decl = _decl(spec, bag, path)
    if decl is None:
        return None
    if decl.adaptive and depth > 0:
        bag.add(join(path, "kind"), f"{decl.kind} adapts to training metrics; it cannot be nested in another policy")
        return None
    if decl.composite and depth >= MAX_DEPTH:
        bag.add(join(path, "kind"), f"composite policies nest at most {MAX_DEPTH} levels deep")
        return None
    before = bag.count
    unit = _unit(spec, decl, bag, path, parent_unit)
    for name in spec:
        if name not in RESERVED and name not in decl.param_names:
            bag.add(join(path, str(name)), f"unknown field for {decl.kind}")
    out: dict[str, Any] = {"kind": decl.kind}
    for param in decl.params:
        out[param.name] = _field(spec, param, bag, path, depth, unit)
    if decl.check is not None and unit is not None:
        decl.check(out, bag, path, unit)
    if parent_unit is None:
        out["unit"] = unit
    return out if bag.count == before else None


def _decl(spec: dict, bag: ErrorBag, path: str) -> KindDecl | None:
    kind = spec.get("kind")
    if kind is None:
        bag.add(join(path, "kind"), "required")
        return None
    if not isinstance(kind, str) or kind not in KINDS:
        shown = repr(kind)[:40]
        bag.add(join(path, "kind"), f"unknown kind {shown}; expected one of {', '.join(KINDS)}")
        return None
    return KINDS[kind]


def _unit(spec: dict, decl: KindDecl, bag: ErrorBag, path: str, parent_unit: str | None) -> str | None:
    if parent_unit is not None:
        if "unit" in spec:
            bag.add(join(path, "unit"), "a stage inherits its parent's unit; remove this field")
        if parent_unit not in decl.units:
            bag.add(join(path, "kind"), f"{decl.kind} needs unit {decl.units[0]!r}, the policy uses {parent_unit!r}")
            return None
        return parent_unit
    unit = spec.get("unit", decl.units[0])
    if not isinstance(unit, str) or unit not in UNITS:
        bag.add(join(path, "unit"), "must be 'epoch' or 'iteration'")
        return None
    if unit not in decl.units:
        bag.add(join(path, "unit"), f"{decl.kind} works in {decl.units[0]}s only")
        return None
    return unit


def _field(spec: dict, param: Param, bag: ErrorBag, path: str, depth: int, unit: str | None) -> Any:
    p_path = join(path, param.name)
    if param.name not in spec:
        if param.required:
            bag.add(p_path, "required")
            return None
        return copy.deepcopy(param.default)
    value = spec[param.name]
    if param.type == "spec":
        return normalize(value, bag, p_path, depth + 1, parent_unit=None)
    if param.type == "spec_list":
        return _spec_list(value, param, bag, p_path, depth, unit)
    return param.check(value, p_path, bag)


def _spec_list(value: Any, param: Param, bag: ErrorBag, path: str, depth: int, unit: str | None) -> list | None:
    if not isinstance(value, list | tuple):
        bag.add(path, "must be a list of policies")
        return None
    if not param.min_len <= len(value) <= param.max_len:
        bag.add(path, f"must have {param.min_len} to {param.max_len} entries")
        return None
    if unit is None:  # the unit is wrong; stages cannot be checked against it
        return None
    items = [normalize(v, bag, join(path, i), depth + 1, parent_unit=unit) for i, v in enumerate(value)]
    return None if any(item is None for item in items) else items
