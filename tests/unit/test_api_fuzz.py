"""Fuzzed specs through the REST API: every invalid one is a 400 naming the field, every valid one previews.

Valid specs are drawn from the catalog's own declarations (what GET /api/kinds/ publishes). An invalid spec
is a valid one broken in one place (a wrong JSON type, a missing or extra field, a value out of its declared
bounds, a number too large for a float, boundaries out of order, too many stages, an adaptive policy nested),
or a structure that is wrong as a whole (unknown kinds, nesting too deep). Bodies are sent as raw JSON text,
so that 1e400 reaches the server as written.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard.models import Policy, Run
from trainer.schedules import build, catalog

pytestmark = pytest.mark.django_db

PREVIEW = "/api/schedules/preview/"
POLICIES = "/api/policies/"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DECLS = {decl["kind"]: decl for decl in catalog()}
STAGE_KINDS = [k for k, d in DECLS.items() if d["group"] in ("fixed", "decaying", "cyclic", "restarts")]
OVERFLOW = "<overflow>"  # a placeholder, written into the body as 1e400 or -1e400
FIX = {"kind": "FIX", "k0": 0.1}

# Research kinds: LR·wd must stay small (alpha real), and their precomputed tables short.
RESEARCH_OVERRIDES = {
    "wd": st.floats(0.0, 1e-3),
    "momentum": st.floats(0.0, 0.9),
    "horizon": st.integers(1, 2000),
    "steps_per_epoch": st.integers(1, 50),
}
RESEARCH_LR = st.floats(1e-6, 1.0)


# Valid specs, from the declarations.


def number(param: dict) -> st.SearchStrategy[float]:
    if param["type"] == "int":
        return st.integers(int(param["min"]), int(param["max"]))
    return st.floats(
        param["min"],
        param["max"],
        exclude_min=not param["min_inclusive"],
        exclude_max=not param["max_inclusive"],
    )


def value_of(param: dict, research: bool) -> st.SearchStrategy:
    if research and param["name"] in RESEARCH_OVERRIDES:
        return RESEARCH_OVERRIDES[param["name"]]
    item = RESEARCH_LR if research and param["unit"] == "lr" else number(param)
    if param["type"] in ("float", "int"):
        return item
    if param["type"] == "choice":
        return st.sampled_from(param["choices"])
    if param["type"] == "float_list":
        items = st.lists(item, min_size=param["min_len"], max_size=min(param["max_len"], 5), unique=True)
        return items.map(sorted) if param["increasing"] else items
    if param["type"] == "spec":
        return stage_specs(research)
    raise AssertionError(param["type"])


@st.composite
def fields_of(draw, kind: str, research: bool = False, skip: tuple[str, ...] = ()) -> dict:
    """The kind's declared fields, each optional one present or left to its default at random."""
    spec: dict[str, Any] = {"kind": kind}
    for param in DECLS[kind]["params"]:
        if param["name"] in skip or (not param["required"] and draw(st.booleans())):
            continue
        spec[param["name"]] = draw(value_of(param, research))
    return spec


def stage_specs(research: bool = False) -> st.SearchStrategy[dict]:
    return st.sampled_from(STAGE_KINDS).flatmap(lambda kind: fields_of(kind, research))


@st.composite
def spec_of(draw, kind: str) -> dict:
    research = DECLS[kind]["group"] == "research"
    if kind == "PIECEWISE":
        boundaries = sorted(draw(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=4, unique=True)))
        stages = [draw(stage_specs()) for _ in range(len(boundaries) + 1)]
        spec = {"kind": kind, "boundaries": boundaries, "stages": stages}
    elif kind == "SWITCH":
        stages = draw(st.lists(stage_specs(), min_size=2, max_size=4))
        stages.sort(key=lambda stage: -build(stage).bounds[1])  # largest LR first
        spec = draw(fields_of(kind, skip=("policies", "initial")))
        spec.update(policies=stages, initial=draw(st.integers(0, len(stages) - 1)))
    elif kind == "TEXP":
        spec = draw(fields_of(kind, research, skip=("lrs",)))
        spec["lrs"] = draw(
            st.lists(RESEARCH_LR, min_size=len(spec["boundaries"]) + 1, max_size=len(spec["boundaries"]) + 1)
        )
    else:
        spec = draw(fields_of(kind, research))
    if draw(st.booleans()):
        spec["unit"] = draw(st.sampled_from(DECLS[kind]["units"]))
    return spec


STRUCTURED = [k for k, d in DECLS.items() if any(p["type"] in ("float_list", "spec_list", "spec") for p in d["params"])]
# half of the draws from the kinds with lists and nested policies, where most of the places to break are
# LEARNED specs carry meta-trained weights: they come from a meta-training job, not from a generator
# (tests/unit/test_meta_learned.py covers their validation).
GENERATED = [kind for kind, decl in DECLS.items() if all(p["type"] != "learners" for p in decl["params"])]
valid_specs = st.sampled_from(GENERATED).flatmap(spec_of) | st.sampled_from(STRUCTURED).flatmap(spec_of)


# Breaking a valid spec in one place.


@dataclass(frozen=True)
class Site:
    """One place in a spec: a path of keys, and what is there ("spec", "kind", "unit", a param type)."""

    path: tuple
    what: str
    param: dict | None = None


def sites(spec: dict, path: tuple = ()) -> list[Site]:
    found = [Site(path, "spec"), Site((*path, "kind"), "kind")]
    if "unit" in spec:
        found.append(Site((*path, "unit"), "unit"))
    for param in DECLS[spec["kind"]]["params"]:
        name = param["name"]
        if name not in spec:
            continue
        here = (*path, name)
        if param["type"] == "spec":
            found += sites(spec[name], here)
        elif param["type"] == "spec_list":
            found.append(Site(here, "spec_list", param))
            for i, stage in enumerate(spec[name]):
                found += sites(stage, (*here, i))
        else:
            found.append(Site(here, param["type"], param))
            if param["type"] == "float_list":
                found += [Site((*here, i), "float", param) for i in range(len(spec[name]))]
    return found


WRONG_TYPES = {  # values of the wrong JSON type (or an impossible string) for each place
    "spec": st.sampled_from([[], ["FIX"], "FIX", 3, 0.5, True, None]),
    "kind": st.sampled_from([1, True, None, ["FIX"], {"kind": "FIX"}, "fix", ""])
    | st.text(max_size=8).filter(lambda s: s not in DECLS),
    "unit": st.sampled_from([1, True, None, ["epoch"], "epochs", "Iteration", "second"]),
    "float": st.sampled_from(["0.1", "NaN", "Infinity", "-inf", "", None, True, False, [0.1], {"value": 1}]),
    "int": st.sampled_from(["3", "NaN", 2.5, None, True, [3], {"value": 3}]),
    "choice": st.sampled_from([1, None, True, ["cos"], {"c": 1}, "COSINE", ""]),
    "float_list": st.sampled_from([3.0, "1,2", None, True, {"0": 1.0}, [[1.0]], ["1"], [None]]),
    "spec_list": st.sampled_from([{}, "FIX", 1, None, [], [[]], [{}], ["FIX", "FIX"]]),
}
EXTRA_NAMES = ["extra", "k2", "lr", "Kind", "steps", "gamma_", "bounds"]


def at(spec: dict, path: tuple) -> Any:
    for key in path:
        spec = spec[key]
    return spec


def put(spec: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    at(spec, path[:-1])[path[-1]] = value
    return spec


def outside(param: dict) -> list[float]:
    """Values outside the declared bounds: just past each end, and absurd ones."""
    low, high = param["min"], param["max"]
    values = [low - max(1.0, abs(low)), -1e300] if low is not None else []
    if low is not None and not param["min_inclusive"]:
        values.append(low)
    if high is not None:
        values += [high + max(1.0, abs(high)), 1e300] + ([] if param["max_inclusive"] else [high])
    if param["type"] == "int":
        values.append(param["min"] + 0.5)
    return values


BREAKS = {  # the ways to break a spec in one place, and the places each applies to
    "wrong type": lambda site: True,
    "missing": lambda site: site.what == "spec",
    "extra": lambda site: site.what == "spec",
    "bounds": lambda site: site.what in ("float", "int"),
    "overflow": lambda site: site.what in ("float", "int"),
    "order": lambda site: site.what == "float_list" and site.param["increasing"],
    "too many": lambda site: site.what in ("float_list", "spec_list"),
    "nested": lambda site: site.what == "spec" and bool(site.path),
}


@st.composite
def broken(draw) -> tuple[Any, str, bool]:
    """(spec, the path the errors must name, whether the server may name only "spec")."""
    spec = copy.deepcopy(draw(valid_specs))
    places = sites(spec)
    way = draw(st.sampled_from([way for way, applies in BREAKS.items() if any(map(applies, places))]))
    site = draw(st.sampled_from([place for place in places if BREAKS[way](place)]))
    event(way)
    path = site.path
    if way == "missing":
        node = at(spec, path)
        name = draw(st.sampled_from(["kind"] + [p["name"] for p in DECLS[node["kind"]]["params"] if p["required"]]))
        del node[name]
        path = (*path, name)
    elif way == "extra":
        node = at(spec, path)
        name = draw(
            st.sampled_from([n for n in EXTRA_NAMES if n not in {p["name"] for p in DECLS[node["kind"]]["params"]}])
        )
        node[name] = draw(st.sampled_from([0.1, "x", None, [1]]))
        path = (*path, name)
    elif way == "bounds":
        spec = put(spec, path, draw(st.sampled_from(outside(site.param))))
    elif way == "overflow":
        spec = put(spec, path, OVERFLOW)
    elif way == "order":
        items = at(spec, path)
        spec = put(spec, path, items[::-1] if len(items) > 1 else items * 2)
    elif way == "too many":
        count = site.param["max_len"] + draw(st.integers(1, 3))
        spec = put(spec, path, [FIX if site.what == "spec_list" else float(i + 1) for i in range(count)])
    elif way == "nested":
        spec = put(spec, path, {"kind": draw(st.sampled_from(["PLATEAU", "SWITCH"])), "k0": 0.1})
        path = (*path, "kind")
    else:
        spec = put(spec, path, draw(WRONG_TYPES[site.what]))
    # DRF's JSONField refuses an infinity before the spec is read, naming only "spec"
    return spec, ".".join(["spec", *map(str, path)]), way == "overflow"


# Structures wrong as a whole.

LADDER = [{"kind": "FIX", "k0": 0.3}, FIX]


def nested(depth: int, kind: str) -> tuple[dict, str]:
    """PIECEWISE or SWITCH policies nested ``depth`` levels deep, and the path of the first too deep."""
    spec: dict = FIX
    for _ in range(depth):
        spec = {"kind": "PIECEWISE", "boundaries": [1.0], "stages": [spec, FIX]}
    if kind == "SWITCH":  # SWITCH counts as one level: its policies are one level down
        spec = {"kind": "SWITCH", "policies": [spec, {"kind": "FIX", "k0": 1e-4}], "initial": 0}
        return spec, "spec.policies.0" + ".stages.0" * 2 + ".kind"
    return spec, "spec" + ".stages.0" * 3 + ".kind"


@st.composite
def malformed(draw) -> tuple[Any, str]:
    way = draw(
        st.sampled_from(
            ["unknown kind", "too deep", "switch order", "too many policies", "too many stages", "unordered", "nested"]
        )
    )
    if way == "unknown kind":
        kind = draw(st.text(max_size=12).filter(lambda s: s not in DECLS) | st.sampled_from(["step", "Fix", "COS3"]))
        return {"kind": kind, "k0": 0.1}, "spec.kind"
    if way == "too deep":
        return nested(draw(st.integers(4, 7)), draw(st.sampled_from(["PIECEWISE", "SWITCH"])))
    if way == "switch order":
        low = draw(st.floats(1e-4, 1.0))
        return {"kind": "SWITCH", "policies": [{"kind": "FIX", "k0": low}, {"kind": "FIX", "k0": low * 2}]}, (
            "spec.policies.1"
        )
    if way == "too many policies":
        count = draw(st.integers(17, 40))
        return {"kind": "SWITCH", "policies": LADDER + [FIX] * (count - 2)}, "spec.policies"
    if way == "too many stages":
        count = draw(st.integers(17, 40))
        return {"kind": "PIECEWISE", "boundaries": [float(b) for b in range(1, count)], "stages": [FIX] * count}, (
            "spec.boundaries"
        )
    if way == "unordered":
        boundaries = draw(st.lists(st.floats(0.0, 1e3), min_size=2, max_size=6).filter(lambda b: b != sorted(set(b))))
        return {"kind": "NSTEP", "k0": 0.1, "gamma": 0.5, "l": boundaries}, "spec.l"
    stages = [FIX, {"kind": draw(st.sampled_from(["PLATEAU", "SWITCH"])), "k0": 0.1}]
    return {"kind": "PIECEWISE", "boundaries": [5.0], "stages": stages}, "spec.stages.1.kind"


# Sending, and what every refusal looks like.


def body(payload: dict) -> str:
    text = json.dumps(payload)
    while f'"{OVERFLOW}"' in text:
        text = text.replace(f'"{OVERFLOW}"', "1e400", 1).replace(f'"{OVERFLOW}"', "-1e400", 1)
    return text


def post(client, url: str, payload: dict):
    return client.post(url, data=body(payload), content_type="application/json")


def rows() -> tuple[int, int]:
    return Policy.objects.count(), Run.objects.count()


def assert_refused(response, near: str, may_name_parent: bool = False) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    answer = response.json()
    assert set(answer) == {"detail", "errors"} and isinstance(answer["detail"], str), answer
    errors = answer["errors"]
    assert errors and all(
        isinstance(messages, list) and messages and all(isinstance(m, str) and m for m in messages)
        for messages in errors.values()
    ), errors
    root = near.split(".")[0]
    assert any(path.split(".")[0] == root for path in errors), errors

    def names_it(path: str) -> bool:
        return path == near or path.startswith(near + ".") or (may_name_parent and near.startswith(path + "."))

    assert any(names_it(path) for path in errors), (near, errors)


def refused_everywhere(client, spec: Any, near: str, may_name_parent: bool = False) -> None:
    before = rows()
    assert_refused(post(client, PREVIEW, {"spec": spec, "epochs": 30, "steps_per_epoch": 10}), near, may_name_parent)
    assert_refused(post(client, POLICIES, {"name": "fuzzed", "spec": spec}), near, may_name_parent)
    assert rows() == before


@pytest.fixture
def bob(api_client, cast):
    api_client.force_authenticate(cast.bob)
    return api_client


@FUZZ
@given(case=broken())
def test_a_spec_broken_in_one_place_is_refused_naming_that_place(bob, case):
    spec, near, may_name_parent = case
    refused_everywhere(bob, spec, near, may_name_parent)


@FUZZ
@given(case=malformed())
def test_unknown_kinds_deep_nesting_and_long_or_unordered_lists_are_refused(bob, case):
    spec, near = case
    refused_everywhere(bob, spec, near)


BAD_EPOCHS = (
    st.sampled_from([0, -1, 1e-7, 100_001, 1e9, "NaN", "inf", "-Infinity", "1e400", "abc", "", None, False, [5], {}])
    | st.floats(max_value=0.0, allow_infinity=False)
    | st.floats(min_value=100_000.5, allow_infinity=False)
    | st.just(OVERFLOW)
)


@FUZZ
@given(spec=valid_specs, epochs=BAD_EPOCHS)
def test_a_preview_with_bad_epochs_is_refused_naming_epochs(bob, spec, epochs):
    before = rows()
    assert_refused(post(bob, PREVIEW, {"spec": spec, "epochs": epochs, "steps_per_epoch": 10}), "epochs")
    assert rows() == before


@FUZZ
@given(
    spec=valid_specs,
    epochs=st.floats(0.5, 200.0),
    points=st.integers(2, 50),
    steps_per_epoch=st.integers(1, 50),
)
def test_every_valid_spec_from_the_catalog_previews_finite_lrs(bob, spec, epochs, points, steps_per_epoch):
    payload = {"spec": spec, "epochs": epochs, "points": points, "steps_per_epoch": steps_per_epoch}
    response = post(bob, PREVIEW, payload)
    assert response.status_code == 200, (spec, response.content[:500])
    answer = response.json()
    assert len(answer["lr"]) == len(answer["t"]) == points and answer["t"][-1] == epochs
    assert all(isinstance(lr, float | int) and math.isfinite(lr) and lr >= 0.0 for lr in answer["lr"])
    assert ("assumption" in answer) == DECLS[spec["kind"]]["adaptive"]
