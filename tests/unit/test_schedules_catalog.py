"""The catalog declares every kind once; curves sample it; import stays light."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from itertools import groupby
from pathlib import Path

import pytest

from trainer.schedules import KINDS, SpecError, build, catalog, curve, validate

LRBENCH = (
    "FIX STEP NSTEP EXP INV POLY SIG TRI TRI2 TRIEXP DTRI DTRI2 DTRIEXP SIN SIN2 SINEXP DSIN DSIN2 DSINEXP "
    "COS COS2 COSEXP UPCOS UPCOS2 UPCOSEXP RSW RSW2 RSWEXP SINRSW SINRSW2 SINRSWEXP COSRSW COSRSW2 COSRSWEXP"
).split()
GROUP_ORDER = ["fixed", "decaying", "cyclic", "restarts", "composite", "adaptive", "research"]
PARAM_KEYS = {"name", "type", "min", "min_inclusive", "max", "max_inclusive", "default", "help", "required", "unit"}


def default_spec(decl: dict) -> dict:
    return {"kind": decl["kind"], **{p["name"]: p["default"] for p in decl["params"]}}


def test_the_catalog_has_all_34_lrbench_kinds_and_the_project_kinds():
    kinds = [d["kind"] for d in catalog()]
    assert len(LRBENCH) == 34 and set(LRBENCH) <= set(kinds)
    assert {"LINEAR", "ONECYCLE", "PIECEWISE", "EXPGROW", "TEXP", "EXPCOS", "NOWD"} <= set(kinds)
    assert len(kinds) == len(set(kinds)) == len(KINDS)


def test_the_catalog_is_json_and_in_group_order():
    decls = json.loads(json.dumps(catalog()))
    assert [group for group, _ in groupby(d["group"] for d in decls)] == GROUP_ORDER  # each group once, in order
    kinds = [d["kind"] for d in decls]
    assert kinds[:3] == ["FIX", "STEP", "NSTEP"]
    assert kinds.index("PIECEWISE") < kinds.index("PLATEAU") < kinds.index("SWITCH") < kinds.index("EXPGROW")
    assert list(KINDS) == kinds


def test_the_catalog_says_which_kinds_are_adaptive():
    adaptive = {d["kind"] for d in catalog() if d["adaptive"]}
    assert {d["kind"] for d in catalog() if d["group"] == "adaptive"} == {"PLATEAU", "SWITCH"}
    assert adaptive == {"PLATEAU", "SWITCH", "LEARNED"}  # LEARNED: a research kind that reads every loss


def test_every_declared_parameter_says_what_a_form_needs():
    for decl in catalog():
        assert decl["label"] and decl["description"] and decl["formula"], decl["kind"]
        for p in decl["params"]:
            assert PARAM_KEYS <= set(p), (decl["kind"], p)
            assert p["type"] in {"float", "int", "float_list", "spec_list", "spec", "choice", "learners"}
            assert p["unit"] in {"lr", "t", "none"} and p["help"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_builds_from_its_declared_defaults(kind):
    decl = next(d for d in catalog() if d["kind"] == kind)
    if any(p["required"] and p["default"] is None for p in decl["params"]):
        pytest.skip(f"{kind} is built from data (learned weights), not from defaults")
    policy = build(default_spec(decl))
    assert policy.unit == decl["default_unit"] and policy(1.0) >= 0.0


@pytest.mark.parametrize("kind", list(KINDS))
def test_validation_enforces_the_declared_bounds(kind):
    decl = next(d for d in catalog() if d["kind"] == kind)
    for p in decl["params"]:
        if p["type"] not in ("float", "int") or p["min"] is None:
            continue
        below = p["min"] if not p["min_inclusive"] else p["min"] - 1
        with pytest.raises(SpecError) as caught:
            validate({**default_spec(decl), p["name"]: below})
        assert p["name"] in caught.value.errors, (kind, p["name"])


def test_optional_parameters_are_filled_with_their_defaults():
    spec = validate({"kind": "ONECYCLE", "max_lr": 0.1, "total": 100})
    assert (spec["pct_start"], spec["div_factor"], spec["final_div_factor"], spec["anneal"]) == (0.3, 25.0, 1e4, "cos")
    assert spec["unit"] == "epoch"


def test_a_curve_samples_both_ends_evenly_in_epochs():
    result = curve({"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 2}, 4, points=5)
    assert result == {"t": [0.0, 1.0, 2.0, 3.0, 4.0], "lr": [0.1, 0.1, 0.05, 0.05, 0.025], "unit": "epoch"}


def test_a_curve_of_a_policy_in_iterations_is_still_in_epochs():
    spec = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 200, "unit": "iteration"}
    result = curve(spec, 4, points=3, steps_per_epoch=100)
    assert result["t"] == [0.0, 2.0, 4.0] and result["lr"] == [0.1, 0.05, 0.025]


def test_a_policy_pickles_as_its_spec():
    policy = build({"kind": "COS", "k0": 0.01, "k1": 0.1, "l": 3})
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.spec == policy.spec and clone(1.3) == policy(1.3)


def test_a_policy_spec_cannot_be_changed_from_outside():
    policy = build({"kind": "FIX", "k0": 0.1})
    policy.spec["k0"] = 5.0
    assert policy(0) == 0.1 and policy.spec["k0"] == 0.1


def test_importing_the_catalog_does_not_import_torch():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, trainer.schedules as s; s.curve({'kind': 'FIX', 'k0': 0.1}, 1); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
