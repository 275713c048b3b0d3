"""Li & Arora: weight decay traded exactly for a growing LR (papers.md section 1)."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.schedules import SpecError, as_lr_scheduler, build, curve, remove_weight_decay
from trainer.schedules.research import alpha

WD, MOMENTUM = 5e-4, 0.9


def test_alpha_matches_the_paper():
    assert alpha(0.1, WD, MOMENTUM) == pytest.approx(0.9994977, abs=5e-8)


def test_expgrow_grows_by_alpha_to_the_minus_two_per_iteration():
    policy = build({"kind": "EXPGROW", "k0": 0.1, "wd": WD, "momentum": MOMENTUM})
    assert policy(0) == pytest.approx(0.1 / alpha(0.1, WD, MOMENTUM))
    assert policy(1) / policy(0) == pytest.approx(1.0010053, abs=1e-7)
    assert policy(391) / policy(0) == pytest.approx(1.481, abs=1e-3)


def test_expgrow_without_momentum_is_the_closed_form():
    policy = build({"kind": "EXPGROW", "k0": 0.1, "wd": WD, "momentum": 0.0})
    assert policy(7) == pytest.approx(0.1 * (1 - WD * 0.1) ** -15)


def test_expgrow_saturates_instead_of_overflowing():
    assert math.isfinite(build({"kind": "EXPGROW", "k0": 0.1, "wd": WD, "momentum": MOMENTUM})(1e7))


def test_expgrow_refuses_an_lr_times_wd_without_a_real_alpha():
    with pytest.raises(SpecError) as caught:
        build({"kind": "EXPGROW", "k0": 1.0, "wd": 0.01, "momentum": MOMENTUM})
    assert list(caught.value.errors) == ["wd"]


def test_the_exact_conversion_of_a_constant_lr_settles_to_expgrow_growth():
    converted = build(remove_weight_decay({"kind": "FIX", "k0": 0.1}, WD, MOMENTUM, 1, horizon=1000))
    expgrow = build({"kind": "EXPGROW", "k0": 0.1, "wd": WD, "momentum": MOMENTUM})
    assert converted(0) == pytest.approx(0.1 / (1 - 0.1 * WD))  # alpha_0 = 1 - eta_0·wd
    assert converted(900) / converted(899) == pytest.approx(expgrow(900) / expgrow(899), rel=1e-12)


TEXP = {"kind": "TEXP", "boundaries": [100, 250], "lrs": [0.1, 0.01, 0.001], "wd": WD, "momentum": MOMENTUM}


def test_texp_drops_at_a_boundary_and_then_grows_more_slowly():
    policy = build(TEXP)
    a0, a1 = alpha(0.1, WD, MOMENTUM), alpha(0.01, WD, MOMENTUM)
    assert policy(0) == pytest.approx(0.1 / a0)
    assert policy(99) == pytest.approx(policy(0) * a0**-198)
    assert policy(100) == pytest.approx(policy(99) * (0.01 / 0.1) / (a0 * a1))
    assert policy(150) / policy(149) == pytest.approx(a1**-2)


def test_texp_with_one_lr_throughout_is_expgrow():
    flat = build({**TEXP, "lrs": [0.1, 0.1, 0.1]})
    expgrow = build({"kind": "EXPGROW", "k0": 0.1, "wd": WD, "momentum": MOMENTUM})
    assert [flat(t) for t in (0, 100, 300)] == pytest.approx([expgrow(t) for t in (0, 100, 300)], rel=1e-12)


def test_texp_needs_one_lr_more_than_boundaries():
    with pytest.raises(SpecError) as caught:
        build({**TEXP, "lrs": [0.1, 0.01]})
    assert list(caught.value.errors) == ["lrs"]


def test_expcos_is_the_exact_conversion_of_a_cosine_and_zero_after_its_horizon():
    expcos = build({"kind": "EXPCOS", "k0": 0.1, "horizon": 500, "wd": WD, "momentum": MOMENTUM})
    cosine = {"kind": "COS", "k0": 0.0, "k1": 0.1, "l": 500, "unit": "iteration"}
    exact = build(remove_weight_decay(cosine, WD, MOMENTUM, 1, horizon=500))
    assert [expcos(t) for t in (0, 1, 250, 499)] == pytest.approx([exact(t) for t in (0, 1, 250, 499)], rel=1e-12)
    assert expcos(499) > 0.0 and expcos(500) == 0.0


def test_remove_weight_decay_names_bad_fields():
    with pytest.raises(SpecError) as caught:
        remove_weight_decay({"kind": "STEP", "k0": -1, "gamma": 0.1, "l": 3}, -1.0, MOMENTUM, 0)
    assert set(caught.value.errors) == {"base.k0", "wd", "steps_per_epoch"}


def test_remove_weight_decay_refuses_a_conversion_that_breaks_down():
    with pytest.raises(SpecError) as caught:
        remove_weight_decay({"kind": "FIX", "k0": 100.0}, 0.5, MOMENTUM, 1, horizon=10)
    assert list(caught.value.errors) == ["wd"]


def test_a_converted_policy_holds_its_last_lr_past_its_horizon():
    policy = build(remove_weight_decay({"kind": "FIX", "k0": 0.1}, WD, MOMENTUM, 10, horizon=50))
    assert policy(49) < policy(48) * 1.01 and policy(50) == policy(1e6) == policy(49)
    assert curve(policy.spec, 6, points=7, steps_per_epoch=10)["lr"][-2:] == [policy(49)] * 2


def train(spec: dict, weight_decay: float, steps: int = 200) -> torch.Tensor:
    """Momentum SGD on a scale-invariant problem: a linear map whose outputs are normalized."""
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(4, 8, dtype=torch.float64))
    optimizer = torch.optim.SGD([weight], lr=1.0, momentum=MOMENTUM, weight_decay=weight_decay)
    scheduler = as_lr_scheduler(optimizer, spec, steps_per_epoch=10)
    data = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 8, dtype=torch.float64, generator=data)
        target = torch.nn.functional.normalize(torch.randn(16, 4, dtype=torch.float64, generator=data), dim=1)
        out = torch.nn.functional.normalize(x @ weight.T, dim=1)
        loss = ((out - target) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return weight.detach()


def test_remove_weight_decay_gives_the_same_normalized_function_without_weight_decay():
    base = {  # warm-up from LR 0, then a cosine: exercises zero and changing LRs
        "kind": "PIECEWISE",
        "boundaries": [3],
        "stages": [{"kind": "LINEAR", "k0": 0.0, "k1": 0.5, "l": 3}, {"kind": "COS", "k0": 0.05, "k1": 0.5, "l": 8}],
    }
    wd = 5e-3
    with_wd = train(base, wd)
    without_wd = train(remove_weight_decay(base, wd, MOMENTUM, 10, horizon=200), 0.0)
    probe = torch.randn(32, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    same = torch.nn.functional.normalize(probe @ with_wd.T, dim=1) - torch.nn.functional.normalize(
        probe @ without_wd.T, dim=1
    )
    assert same.abs().max().item() < 1e-9
    assert without_wd.norm() > 10 * with_wd.norm()  # the weights themselves differ: only the function agrees


def test_the_same_runs_differ_when_weight_decay_is_simply_dropped():  # the check above can fail
    base = {"kind": "COS", "k0": 0.05, "k1": 0.5, "l": 8}
    with_wd, without_wd = train(base, 5e-3), train(base, 0.0)
    probe = torch.randn(32, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    diff = torch.nn.functional.normalize(probe @ with_wd.T, dim=1) - torch.nn.functional.normalize(
        probe @ without_wd.T, dim=1
    )
    assert diff.abs().max().item() > 1e-4
