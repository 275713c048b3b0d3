"""A preview costs a bounded amount of work at any allowed parameter, and previews are rate-limited.

Li & Arora's exact conversions (EXPCOS, NOWD) take one Python step per
iteration; a horizon of 10^7 used to be computed whole to validate a spec.
These tests count work (table entries computed), not time: the timing is
bench/bench_schedules.py's.
"""

from __future__ import annotations

import random
from array import array

import pytest

from trainer.schedules import SpecError, build, curve, research, validate
from trainer.schedules.curve import MAX_PREVIEW_CONVERSION_STEPS
from trainer.schedules.research import EXACT_CHECK_MAX_STEPS, MAX_ITERATIONS, converted_lrs, table_for

WD, MOMENTUM = 5e-4, 0.9
SPIKY = {"kind": "PIECEWISE", "boundaries": [1], "stages": [{"kind": "FIX", "k0": 10.0}, {"kind": "FIX", "k0": 0.1}]}
BASE = {
    "kind": "PIECEWISE",
    "boundaries": [3],
    "stages": [{"kind": "LINEAR", "k0": 0.0, "k1": 0.5, "l": 3}, {"kind": "COS", "k0": 0.05, "k1": 0.5, "l": 8}],
}


@pytest.fixture(autouse=True)
def no_cached_tables():
    research._table.cache_clear()


def nowd(base=BASE, horizon=MAX_ITERATIONS, wd=WD, steps_per_epoch=10) -> dict:
    return {"kind": "NOWD", "base": base, "wd": wd, "momentum": MOMENTUM, "steps_per_epoch": steps_per_epoch,
            "horizon": horizon, "unit": "iteration"}


def expcos(horizon=MAX_ITERATIONS) -> dict:
    return {"kind": "EXPCOS", "k0": 0.1, "horizon": horizon, "wd": WD, "momentum": MOMENTUM}


@pytest.mark.parametrize("spec", [nowd(), expcos()], ids=["NOWD", "EXPCOS"])
def test_validating_the_longest_horizon_computes_no_table(spec):
    normalized = validate(spec)
    assert table_for(normalized).computed == 0


@pytest.mark.parametrize("spec", [nowd(), expcos()], ids=["NOWD", "EXPCOS"])
def test_a_preview_over_too_many_iterations_is_refused_naming_epochs(spec):
    with pytest.raises(SpecError) as caught:
        curve(spec, 100, points=20_000, steps_per_epoch=100_000)  # t up to the horizon, 10^7
    assert list(caught.value.errors) == ["epochs"]
    assert table_for(validate(spec)).computed <= MAX_PREVIEW_CONVERSION_STEPS


def test_a_piecewise_of_conversions_shares_one_budget():
    stages = [nowd(horizon=MAX_ITERATIONS - i) for i in range(4)]
    for stage in stages:
        del stage["unit"]
    spec = {"kind": "PIECEWISE", "boundaries": [6000, 12000, 18000], "stages": stages, "unit": "iteration"}
    with pytest.raises(SpecError) as caught:  # 4 x 6000 iterations of conversions
        curve(spec, 24_000, points=2000, steps_per_epoch=1)
    assert list(caught.value.errors) == ["epochs"]
    computed = sum(table_for(validate({**stage, "unit": "iteration"})).computed for stage in stages)
    assert computed <= MAX_PREVIEW_CONVERSION_STEPS


def test_a_preview_within_the_budget_is_the_exact_conversion():
    spec = nowd(horizon=5000)
    whole = converted_lrs((build(BASE).lr_at(i, 10) for i in range(5000)), WD, MOMENTUM)
    previewed = curve(spec, 499.9, points=5000, steps_per_epoch=10)["lr"]
    assert previewed == [whole[min(int(t * 10), 4999)] for t in curve(spec, 499.9, 5000, 10)["t"]]


def test_the_lazy_table_is_bit_for_bit_the_whole_table_in_any_order():
    spec = validate(nowd(horizon=9000))
    whole = converted_lrs((build(BASE).lr_at(i, 10) for i in range(9000)), WD, MOMENTUM)
    policy = build(spec)
    order = list(range(9000))
    random.Random(0).shuffle(order)
    lazy = array("d", [0.0] * 9000)
    for i in order:
        lazy[i] = policy(i)
    assert lazy == whole


def test_a_conversion_past_the_lr_bound_with_a_long_horizon_is_refused_naming_wd():
    spiky = SPIKY  # one iteration at LR 10, above the LR bound for wd 1e-3
    with pytest.raises(SpecError) as caught:
        validate(nowd(base=spiky, horizon=EXACT_CHECK_MAX_STEPS + 1, wd=1e-3))
    assert list(caught.value.errors) == ["wd"]
    assert "horizon" in caught.value.errors["wd"][0]


def test_a_short_conversion_past_the_lr_bound_is_still_checked_exactly():
    spiky = SPIKY  # one iteration at LR 10, above the LR bound for wd 1e-3
    # one iteration at LR 10 (LR·wd above the bound) does not break the conversion down
    spec = nowd(base=spiky, horizon=EXACT_CHECK_MAX_STEPS // 2, wd=1e-3, steps_per_epoch=1)  # a step counts 2
    assert validate(spec)["kind"] == "NOWD"
    with pytest.raises(SpecError) as caught:
        validate(nowd(base={"kind": "FIX", "k0": 100.0}, horizon=10, wd=0.5))
    assert list(caught.value.errors) == ["wd"] and "iteration 0" in caught.value.errors["wd"][0]


@pytest.mark.django_db
def test_the_api_answers_the_worst_preview_with_a_400_naming_epochs(api_client, cast):
    api_client.force_authenticate(cast.oscar)
    body = {"spec": nowd(), "epochs": 100_000, "points": 20_000, "steps_per_epoch": 1_000_000}
    response = api_client.post("/api/schedules/preview/", body, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["epochs"]


@pytest.mark.django_db
def test_previews_are_rate_limited_per_user(api_client, cast, settings):
    settings.ARENA_RATE_LIMITS = {**settings.ARENA_RATE_LIMITS, "previews": "2/minute"}
    body = {"spec": {"kind": "FIX", "k0": 0.1}, "epochs": 10}
    api_client.force_authenticate(cast.bob)
    codes = [api_client.post("/api/schedules/preview/", body, format="json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = api_client.post("/api/schedules/preview/", body, format="json")
    assert "preview" in limited.json()["detail"] and int(limited["Retry-After"]) > 0
    api_client.force_authenticate(cast.alice)
    assert api_client.post("/api/schedules/preview/", body, format="json").status_code == 200


def test_the_exact_checks_of_one_spec_share_one_budget():
    spiky = SPIKY  # one iteration at LR 10, above the LR bound for wd 1e-3
    stages = [{**nowd(base=spiky, horizon=EXACT_CHECK_MAX_STEPS - i, wd=1e-3, steps_per_epoch=1)} for i in range(4)]
    for stage in stages:
        del stage["unit"]
    spec = {"kind": "PIECEWISE", "boundaries": [10, 20, 30], "stages": stages, "unit": "iteration"}
    with pytest.raises(SpecError) as caught:
        validate(spec)
    assert "at most" in " ".join(m for ms in caught.value.errors.values() for m in ms)
    assert research._table.cache_info().currsize <= 16


def test_a_trusted_caller_may_check_a_longer_conversion_in_a_larger_budget():
    from trainer.schedules.budget import conversion_budget

    spec = nowd(base=SPIKY, horizon=EXACT_CHECK_MAX_STEPS + 1, wd=1e-3, steps_per_epoch=1)
    with conversion_budget(4 * EXACT_CHECK_MAX_STEPS):
        assert validate(spec)["horizon"] == EXACT_CHECK_MAX_STEPS + 1


def test_a_warm_table_answers_a_preview_as_a_cold_one_and_does_not_grow_past_the_budget():
    spec = nowd(horizon=100_000, steps_per_epoch=1)
    too_far = MAX_PREVIEW_CONVERSION_STEPS + 100
    curve(spec, too_far, points=50, steps_per_epoch=1, max_conversion_steps=None)  # e.g. a thumbnail, unbounded
    with pytest.raises(SpecError):
        curve(spec, too_far, points=50, steps_per_epoch=1)
    research._table.cache_clear()
    for _ in range(3):  # repeated previews never extend a cached table beyond one budget's reach
        with pytest.raises(SpecError):
            curve(spec, too_far, points=50, steps_per_epoch=1)
    assert table_for(validate(spec)).computed <= MAX_PREVIEW_CONVERSION_STEPS


def test_a_learned_policy_previews_a_bounded_number_of_simulated_steps(monkeypatch):
    import numpy as np

    from trainer.schedules import learned

    rng = np.random.default_rng(0)
    weights = {name: rng.normal(0, 0.3, shape).astype("float32") for name, shape in learned.LEARNER_SHAPES.items()}
    spec = {"kind": "LEARNED", "learners": [learned.encode_learner(weights)] * 10, "num_classes": 10}
    steps = []
    original = learned.LearnerNet.step
    monkeypatch.setattr(learned.LearnerNet, "step", lambda self, *a: steps.append(1) or original(self, *a))
    curve(spec, 100_000, points=20_000)
    assert 0 < len(steps) <= 510  # the window's simulated iterations, and the first LR
