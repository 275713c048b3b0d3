"""Bad specs give SpecError naming the field path, never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.schedules import KINDS, SpecError, curve, validate

STEP = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 3}
FIX = {"kind": "FIX", "k0": 0.1}


def errors_of(spec) -> dict[str, list[str]]:
    with pytest.raises(SpecError) as caught:
        validate(spec)
    return caught.value.errors


def piecewise(boundaries, stages) -> dict:
    return {"kind": "PIECEWISE", "boundaries": boundaries, "stages": stages}


@pytest.mark.parametrize("spec", [None, [], "STEP", 3, ["kind", "STEP"]])
def test_it_rejects_a_spec_that_is_not_an_object(spec):
    assert list(errors_of(spec)) == ["spec"]


def test_it_rejects_an_unknown_kind():
    assert list(errors_of({"kind": "WARP", "k0": 0.1})) == ["kind"]


def test_it_rejects_a_kind_that_is_not_a_string():
    assert list(errors_of({"kind": ["STEP"]})) == ["kind"]


def test_it_rejects_a_missing_kind():
    assert list(errors_of({"k0": 0.1})) == ["kind"]


def test_it_reports_a_missing_required_field():
    assert errors_of({"kind": "STEP", "k0": 0.1, "gamma": 0.5}) == {"l": ["required"]}


def test_it_rejects_an_unknown_field():
    assert list(errors_of({**STEP, "momentum": 0.9})) == ["momentum"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_it_rejects_non_finite_numbers(value):
    assert list(errors_of({**STEP, "k0": value})) == ["k0"]


@pytest.mark.parametrize("value", [True, False])
def test_it_rejects_a_boolean_where_a_number_goes(value):
    assert list(errors_of({**STEP, "gamma": value})) == ["gamma"]


@pytest.mark.parametrize("value", ["3", None, [3], {"value": 3}])
def test_it_rejects_a_non_number_where_a_number_goes(value):
    assert list(errors_of({**STEP, "l": value})) == ["l"]


def test_it_rejects_a_huge_integer_without_overflowing():
    assert list(errors_of({**STEP, "l": 10**400})) == ["l"]


def test_it_rejects_a_negative_lr():
    assert list(errors_of({**STEP, "k0": -0.1})) == ["k0"]


def test_it_rejects_a_zero_lr_for_a_decaying_kind():
    assert list(errors_of({**STEP, "k0": 0})) == ["k0"]


@pytest.mark.parametrize("field, value", [("k0", 1e3), ("l", 1e9), ("l", 0), ("gamma", 1.5), ("gamma", 0)])
def test_it_rejects_absurd_values(field, value):
    assert list(errors_of({**STEP, field: value})) == [field]


def test_it_rejects_nstep_boundaries_that_do_not_increase_naming_the_entry():
    errors = errors_of({"kind": "NSTEP", "k0": 0.1, "gamma": 0.1, "l": [3, 3, 6]})
    assert errors == {"l.1": ["must be greater than the one before it (3)"]}


def test_it_rejects_a_list_that_is_too_long():
    assert list(errors_of({"kind": "NSTEP", "k0": 0.1, "gamma": 0.1, "l": list(range(1, 102))})) == ["l"]


def test_it_names_the_bad_item_of_a_list():
    assert list(errors_of({"kind": "NSTEP", "k0": 0.1, "gamma": 0.1, "l": [1, "2", 3]})) == ["l.1"]


def test_it_rejects_piecewise_boundaries_that_do_not_increase():
    assert list(errors_of(piecewise([5, 2], [FIX, FIX, FIX]))) == ["boundaries.1"]  # the stage that starts too early


def test_it_rejects_the_wrong_number_of_stages():
    assert list(errors_of(piecewise([5, 8], [FIX, FIX]))) == ["stages"]


def test_it_rejects_too_many_stages():
    assert "stages" in errors_of(piecewise(list(range(1, 17)), [FIX] * 17))


def test_it_rejects_nesting_deeper_than_three_levels():
    spec = FIX
    for _ in range(4):
        spec = piecewise([1], [spec, FIX])
    assert list(errors_of(spec)) == ["stages.0.stages.0.stages.0.kind"]


def test_it_accepts_three_levels_of_nesting():
    spec = FIX
    for _ in range(3):
        spec = piecewise([1], [spec, FIX])
    assert validate(spec)["stages"][0]["stages"][0]["stages"][0] == {"kind": "FIX", "k0": 0.1}


def test_it_names_the_path_of_a_nested_field():
    inner = piecewise([2, 4], [FIX, FIX, {**STEP, "gamma": 7}])
    errors = errors_of(piecewise([1], [inner, {"kind": "FIX", "k0": "x"}]))
    assert set(errors) == {"stages.0.stages.2.gamma", "stages.1.k0"}


def test_it_rejects_a_stage_that_sets_its_own_unit():
    assert list(errors_of(piecewise([1], [FIX, {**FIX, "unit": "epoch"}]))) == ["stages.1.unit"]


def test_it_rejects_a_stage_that_is_not_an_object():
    assert list(errors_of(piecewise([1], [FIX, "FIX"]))) == ["stages.1"]


def test_it_rejects_an_unknown_unit():
    assert list(errors_of({**STEP, "unit": "second"})) == ["unit"]


def test_it_rejects_epochs_for_a_kind_counted_in_iterations():
    assert list(errors_of({"kind": "EXPGROW", "k0": 0.1, "wd": 5e-4, "momentum": 0.9, "unit": "epoch"})) == ["unit"]


def test_it_rejects_an_unknown_choice():
    assert list(errors_of({"kind": "ONECYCLE", "max_lr": 0.1, "total": 10, "anneal": "cosine"})) == ["anneal"]


def test_it_rejects_a_fractional_value_for_a_whole_number():
    spec = {"kind": "EXPCOS", "k0": 0.1, "horizon": 100.5, "wd": 5e-4, "momentum": 0.9}
    assert list(errors_of(spec)) == ["horizon"]


def test_it_accepts_a_whole_float_for_a_whole_number():
    spec = {"kind": "EXPCOS", "k0": 0.1, "horizon": 100.0, "wd": 5e-4, "momentum": 0.9}
    assert validate(spec)["horizon"] == 100 and isinstance(validate(spec)["horizon"], int)


def test_it_collects_every_problem_of_one_spec():
    errors = errors_of({"kind": "STEP", "k0": -1, "gamma": True, "extra": 1})
    assert set(errors) == {"k0", "gamma", "l", "extra"}


def test_its_message_names_the_fields():
    with pytest.raises(SpecError) as caught:
        validate({"kind": "STEP", "k0": -1, "gamma": 0.5})
    assert "k0" in str(caught.value) and "l" in str(caught.value)


def test_it_is_a_value_error():
    assert issubclass(SpecError, ValueError)


def test_it_normalizes_numbers_and_fills_defaults():
    spec = validate({"kind": "POLY", "k0": 1, "p": 2, "l": 10})
    assert spec == {"kind": "POLY", "k0": 1.0, "k1": 0.0, "p": 2.0, "l": 10.0, "unit": "epoch"}
    assert all(type(spec[k]) is float for k in ("k0", "k1", "p", "l"))


def test_normalizing_twice_changes_nothing():
    spec = piecewise([3], [STEP, {"kind": "ONECYCLE", "max_lr": 1, "total": 5}])
    once = validate(spec)
    assert validate(once) == once and json.loads(json.dumps(once)) == once


def test_it_does_not_change_the_spec_it_was_given():
    spec = piecewise([3], [dict(STEP), dict(FIX)])
    snapshot = json.dumps(spec)
    validate(spec)
    assert json.dumps(spec) == snapshot


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -1}, "epochs"),
        ({"epochs": 1e6}, "epochs"),
        ({"epochs": math.nan}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"epochs": "9"}, "epochs"),
        ({"epochs": 5, "points": 1}, "points"),
        ({"epochs": 5, "points": 20001}, "points"),
        ({"epochs": 5, "points": 2.5}, "points"),
        ({"epochs": 5, "points": math.inf}, "points"),
    ],
)
def test_curve_rejects_a_bad_request(kwargs, field):
    with pytest.raises(SpecError) as caught:
        curve(STEP, **kwargs)
    assert list(caught.value.errors) == [field]


def test_curve_needs_steps_per_epoch_for_a_policy_in_iterations():
    with pytest.raises(SpecError) as caught:
        curve({**STEP, "unit": "iteration"}, 5)
    assert list(caught.value.errors) == ["steps_per_epoch"]


def test_curve_reports_spec_and_request_problems_together():
    with pytest.raises(SpecError) as caught:
        curve({"kind": "STEP"}, -1)
    assert {"k0", "epochs"} <= set(caught.value.errors)


FIELD_NAMES = sorted({p.name for d in KINDS.values() for p in d.params} | {"kind", "unit", "extra"})
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(list(KINDS) + ["epoch", "iteration", "cos"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=6),
    max_leaves=30,
)
specs = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8) | json_values
plausible = st.sampled_from(list(KINDS)).flatmap(
    lambda kind: st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6).map(
        lambda d: {**d, "kind": kind}
    )
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs | plausible)
def test_junk_specs_raise_spec_error_and_nothing_else(spec):
    try:
        result = validate(spec)
    except SpecError as exc:
        assert exc.errors and all(isinstance(k, str) and v for k, v in exc.errors.items())
    else:
        assert json.loads(json.dumps(result)) == result


@settings(max_examples=60, deadline=None)
@given(specs | plausible, st.one_of(json_scalars), st.one_of(json_scalars))
def test_junk_curve_requests_raise_spec_error_and_nothing_else(spec, epochs, points):
    try:
        curve(spec, epochs, points)
    except SpecError:
        pass
