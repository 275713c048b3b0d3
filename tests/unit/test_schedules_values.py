"""Each kind against hand-computed values and LRBench's reference table."""

from __future__ import annotations

import math

import pytest

from trainer.schedules import build

REF_T = [0, 25, 50, 75, 100, 150, 200, 250, 300, 400]
REFERENCE = {  # lrbench.md: k0 = 0.1, k1 = 1.0, l = 100
    "TRI": [0.1, 0.325, 0.55, 0.775, 1.0, 0.55, 0.1, 0.55, 1.0, 0.1],
    "TRI2": [0.1, 0.325, 0.55, 0.775, 1.0, 0.55, 0.1, 0.325, 0.55, 0.1],
    "SIN": [0.1, 0.444, 0.736, 0.931, 1.0, 0.736, 0.1, 0.736, 1.0, 0.1],
    "COS": [1.0, 0.868, 0.55, 0.232, 0.1, 0.55, 1.0, 0.55, 0.1, 1.0],
    "COS2": [1.0, 0.868, 0.55, 0.232, 0.1, 0.325, 0.55, 0.325, 0.1, 0.325],
}
RANGE = {"k0": 0.1, "k1": 1.0, "l": 100}
G = 0.99


def lr(spec: dict, t: float) -> float:
    return build(spec)(t)


def cyc(kind: str, **extra) -> dict:
    return {"kind": kind, **RANGE, **extra}


@pytest.mark.parametrize("kind", REFERENCE)
def test_cyclic_kinds_match_the_reference_table(kind):
    policy = build(cyc(kind))
    assert [policy(t) for t in REF_T] == pytest.approx(REFERENCE[kind], abs=5e-4)


def test_rsw_matches_the_reference_table_between_restarts():
    policy = build(cyc("RSW"))
    expected = {25: 0.775, 50: 0.55, 75: 0.325, 150: 0.55, 250: 0.55}
    assert {t: policy(t) for t in expected} == pytest.approx(expected)


def test_fix_is_constant():
    assert [lr({"kind": "FIX", "k0": 0.3}, t) for t in (0, 1.5, 1e6)] == [0.3, 0.3, 0.3]


def test_step_halves_at_each_boundary():
    spec = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 2}
    assert [lr(spec, t) for t in (0, 1.99, 2, 3.5, 4, 6)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])


def test_nstep_decays_once_per_boundary_passed():
    spec = {"kind": "NSTEP", "k0": 0.1, "gamma": 0.1, "l": [3, 6, 9]}
    assert [lr(spec, t) for t in (2.99, 3, 5, 6, 9, 1000)] == pytest.approx([0.1, 0.01, 0.01, 1e-3, 1e-4, 1e-4])


def test_nstep_jumps_straight_to_a_late_boundary():  # the reference moved one boundary per call
    policy = build({"kind": "NSTEP", "k0": 1.0, "gamma": 0.5, "l": [1, 2, 3]})
    assert policy(10) == 0.125
    assert policy(0) == 1.0


def test_exp_multiplies_by_gamma_per_unit_of_t():
    assert lr({"kind": "EXP", "k0": 0.1, "gamma": 0.9}, 2.5) == pytest.approx(0.1 * 0.9**2.5)


def test_inv_decays_as_an_inverse_power():
    assert lr({"kind": "INV", "k0": 0.1, "gamma": 0.5, "p": 2}, 2) == pytest.approx(0.025)


def test_poly_goes_from_k0_to_k1_and_then_holds():
    spec = {"kind": "POLY", "k0": 0.1, "k1": 0.01, "p": 2, "l": 10}
    assert [lr(spec, t) for t in (0, 5, 10, 20)] == pytest.approx([0.1, 0.0325, 0.01, 0.01])


def test_poly_with_a_fractional_power_stays_real_past_l():
    assert lr({"kind": "POLY", "k0": 0.1, "p": 0.5, "l": 10}, 15) == 0.0


def test_poly_ends_at_zero_by_default():
    assert build({"kind": "POLY", "k0": 0.1, "p": 1, "l": 10}).spec["k1"] == 0.0


def test_sig_is_half_of_k0_at_its_centre():
    spec = {"kind": "SIG", "k0": 1.0, "gamma": 2.0, "l": 3.0}
    assert lr(spec, 3.0) == pytest.approx(0.5)
    assert lr(spec, 3.0 + math.log(3.0) / 2.0) == pytest.approx(0.75)


def test_sig_does_not_overflow_far_from_its_centre():
    assert lr({"kind": "SIG", "k0": 1.0, "gamma": 1000.0, "l": 1e6}, 0) == 0.0
    assert lr({"kind": "SIG", "k0": 1.0, "gamma": -1000.0, "l": 0.0}, 1e6) == 0.0


def test_linear_warms_up_and_holds():
    spec = {"kind": "LINEAR", "k0": 0.0, "k1": 0.1, "l": 5}
    assert [lr(spec, t) for t in (0, 2.5, 5, 7)] == pytest.approx([0.0, 0.05, 0.1, 0.1])


def test_triexp_multiplies_the_amplitude_by_gamma_to_the_t():
    assert lr(cyc("TRIEXP", gamma=G), 50) == pytest.approx(0.1 + 0.9 * G**50 * 0.5)


@pytest.mark.parametrize("kind", ["DTRI", "DSIN", "COS", "DTRI2", "DSIN2", "COS2"])
def test_shifted_kinds_start_at_the_top_and_reach_k0_at_l(kind):
    policy = build(cyc(kind))
    assert (policy(0), policy(100)) == pytest.approx((1.0, 0.1))


@pytest.mark.parametrize("kind", ["DTRIEXP", "DSINEXP", "COSEXP"])
def test_shifted_exp_kinds_start_at_the_top_and_decay_unshifted(kind):
    policy = build(cyc(kind, gamma=G))
    assert policy(0) == pytest.approx(1.0)
    assert policy(200) == pytest.approx(0.1 + 0.9 * G**200)


def test_dtri_is_tri_half_a_cycle_later():
    tri, dtri = build(cyc("TRI")), build(cyc("DTRI"))
    assert [dtri(t) for t in (10, 130, 333)] == pytest.approx([tri(t + 100) for t in (10, 130, 333)])


def test_dtri2_halves_with_the_shifted_cycle():
    assert lr(cyc("DTRI2"), 200) == pytest.approx(0.55)  # TRI(300) = 1, halved once


def test_sin2_halves_the_second_cycle():
    assert lr(cyc("SIN2"), 300) == pytest.approx(0.55)


def test_sinexp_multiplies_the_amplitude_by_gamma_to_the_t():
    assert lr(cyc("SINEXP", gamma=G), 50) == pytest.approx(0.1 + 0.9 * G**50 * math.sin(math.pi / 4))


def test_dsin_falls_as_a_sine_from_the_top():
    assert lr(cyc("DSIN"), 50) == pytest.approx(0.1 + 0.9 * math.sin(3 * math.pi / 4))


def test_cosexp_multiplies_the_amplitude_by_gamma_to_the_t():
    assert lr(cyc("COSEXP", gamma=G), 50) == pytest.approx(0.1 + 0.9 * G**50 * 0.5)


def test_upcos_rises_from_k0_to_k1_at_l():
    policy = build(cyc("UPCOS"))
    assert [policy(t) for t in (0, 50, 100, 200)] == pytest.approx([0.1, 0.55, 1.0, 0.1])


def test_upcos2_halves_the_second_cycle():
    assert lr(cyc("UPCOS2"), 300) == pytest.approx(0.55)


def test_upcosexp_multiplies_the_amplitude_by_gamma_to_the_t():
    assert lr(cyc("UPCOSEXP", gamma=G), 100) == pytest.approx(0.1 + 0.9 * G**100)


@pytest.mark.parametrize("kind", ["RSW", "SINRSW", "COSRSW", "RSW2", "SINRSW2", "COSRSW2"])
def test_restart_kinds_are_at_the_top_at_each_restart(kind):  # SGDR; the reference gave k0 there
    policy = build(cyc(kind))
    assert policy(0) == pytest.approx(1.0)
    assert policy(100) > 0.99 * (0.1 + 0.9 * (0.5 if kind.endswith("2") else 1.0))
    assert policy(99.999) < 0.1 + 1e-3


def test_restart_shapes_between_restarts():
    assert lr(cyc("SINRSW"), 50) == pytest.approx(0.1 + 0.9 * math.sin(math.pi / 4))
    assert lr(cyc("COSRSW"), 25) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
    assert lr(cyc("COSRSW"), 150) == pytest.approx(0.55)


def test_restart_2_kinds_halve_at_each_restart():
    assert lr(cyc("RSW2"), 150) == pytest.approx(0.1 + 0.9 * 0.5 * 0.5)
    assert lr(cyc("COSRSW2"), 200) == pytest.approx(0.1 + 0.9 * 0.25)


@pytest.mark.parametrize("kind", ["RSWEXP", "SINRSWEXP", "COSRSWEXP"])
def test_restart_exp_kinds_multiply_the_amplitude_by_gamma_to_the_t(kind):
    policy = build(cyc(kind, gamma=G))
    assert policy(200) == pytest.approx(0.1 + 0.9 * G**200)


def test_onecycle_warms_up_to_max_lr_then_anneals_below_the_start():
    spec = {"kind": "ONECYCLE", "max_lr": 1.0, "total": 10}
    assert [lr(spec, t) for t in (0, 3, 10, 20)] == pytest.approx([0.04, 1.0, 4e-6, 4e-6])


def test_onecycle_linear_anneal_is_linear():
    spec = {"kind": "ONECYCLE", "max_lr": 1.0, "total": 10, "anneal": "linear"}
    assert lr(spec, 1.5) == pytest.approx(0.04 + 0.96 * 0.5)


MNIST = {  # LRBench's composite for MNIST
    "kind": "PIECEWISE",
    "boundaries": [10],
    "stages": [{"kind": "SIN", "k0": 1.0, "k1": 6.0, "l": 5}, {"kind": "FIX", "k0": 0.5}],
}


def test_piecewise_switches_stage_at_each_boundary():
    policy = build(MNIST)
    assert [policy(t) for t in (0, 5, 9.5, 10, 50)] == pytest.approx(
        [1.0, 6.0, 1.0 + 5.0 * math.sin(math.pi * 9.5 / 10), 0.5, 0.5]
    )


def test_piecewise_restarts_the_stage_clock_at_its_boundary():
    step = {"kind": "STEP", "k0": 1.0, "gamma": 0.5, "l": 2}
    policy = build({"kind": "PIECEWISE", "boundaries": [4], "stages": [{"kind": "FIX", "k0": 0.1}, step]})
    assert (policy(4), policy(6)) == (1.0, 0.5)


def test_piecewise_nests():
    inner = {"kind": "PIECEWISE", "boundaries": [1], "stages": [{"kind": "FIX", "k0": 2.0}, {"kind": "FIX", "k0": 3.0}]}
    policy = build({"kind": "PIECEWISE", "boundaries": [5], "stages": [{"kind": "FIX", "k0": 1.0}, inner]})
    assert [policy(t) for t in (4.9, 5, 5.99, 6, 100)] == [1.0, 2.0, 2.0, 3.0, 3.0]


def test_piecewise_jumps_straight_to_a_late_stage():  # the reference moved one stage per call
    policy = build(
        {
            "kind": "PIECEWISE",
            "boundaries": [1, 2, 3],
            "stages": [{"kind": "FIX", "k0": k} for k in (0.4, 0.3, 0.2, 0.1)],
        }
    )
    assert [policy(t) for t in (10, 0, 2.5)] == [0.1, 0.4, 0.2]


def test_lr_at_converts_iterations_to_epochs():
    policy = build({"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 2})
    assert policy.lr_at(199, 100) == 0.1
    assert policy.lr_at(200, 100) == pytest.approx(0.01)


def test_lr_at_uses_the_iteration_itself_for_a_policy_in_iterations():
    policy = build({"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 2, "unit": "iteration"})
    assert (policy.lr_at(1, 100), policy.lr_at(2, 100)) == pytest.approx((0.1, 0.01))


def test_negative_t_counts_as_zero_and_non_finite_t_is_refused():
    policy = build({"kind": "EXP", "k0": 0.1, "gamma": 0.5})
    assert policy(-3) == 0.1
    with pytest.raises(ValueError):
        policy(float("nan"))
    with pytest.raises(ValueError):
        policy(float("inf"))


def test_step_decays_exactly_at_a_decimal_boundary():  # 0.3 // 0.1 == 2.0 in floating point
    assert build({"kind": "STEP", "k0": 1.0, "gamma": 0.5, "l": 0.1}).lr_at(3, 10) == 0.125


def test_restart_kinds_restart_exactly_at_a_decimal_period():
    policy = build({"kind": "COSRSW2", "k0": 0.1, "k1": 1.0, "l": 0.1})
    assert policy.lr_at(3, 10) == pytest.approx(0.1 + 0.9 / 8)
