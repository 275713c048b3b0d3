"""equivalence_study: weight decay and the converted LR train the same function (Li & Arora).

Tolerances: the two runs compute the same arithmetic up to a scale, so their
float64 predictions differ by rounding only (about 1.5e-15 measured over 200
steps); 1e-12 leaves a margin of ~1000x for other BLAS builds, while the
unconverted control differs by ~0.9.
"""

import itertools
import math

import pytest

from trainer.equivalence import BadArgument, equivalence_study
from trainer.schedules import SpecError, build

MATCH = 1e-12  # max |p_A - p_B| over every step, float64
WD = 5e-3  # ten times the usual: the norms part by e^1 in 200 steps
ITERATIONS = 200
SCHEDULES = {
    "FIX": {"kind": "FIX", "k0": 0.1},
    "STEP": {"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 100, "unit": "iteration"},
    "COS": {"kind": "COS", "k0": 0.0, "k1": 0.1, "l": ITERATIONS, "unit": "iteration"},
}


@pytest.fixture(scope="module")
def studies():
    return {name: equivalence_study(spec, wd=WD, iterations=ITERATIONS) for name, spec in SCHEDULES.items()}


def scale_recursion(lrs, wd, momentum):
    """c_1 .. c_N from papers.md's form of the recursion (theta_A(t) = c_t · theta_B(t))."""
    cs, c, a = [], 1.0, None
    for t, eta in enumerate(lrs):
        a = 1.0 - eta * wd if t == 0 else 1.0 - eta * wd + momentum * (eta / lrs[t - 1]) * (1.0 - 1.0 / a)
        c *= a
        cs.append(c)
    return cs


@pytest.mark.parametrize("name", SCHEDULES)
def test_with_the_converted_lr_the_predictions_match_at_every_step(studies, name):
    study = studies[name]

    assert study["max_prob_diff_overall"] < MATCH
    assert max(study["max_prob_diff"]) <= study["max_prob_diff_overall"]
    assert study["loss_a"] == pytest.approx(study["loss_b"], rel=1e-12)
    assert study["final_test_acc_a"] == study["final_test_acc_b"] > 0.9


@pytest.mark.parametrize("name", SCHEDULES)
def test_the_weight_norms_part_by_exactly_the_scale_of_the_recursion(studies, name):
    study = studies[name]
    cs = scale_recursion(study["lr_a"], WD, 0.9)

    expected = [1.0 / c for c in cs]

    assert study["norm_ratio"] == pytest.approx(expected, rel=1e-10)
    assert study["final_norm_ratio"] > 1.5
    assert all(b > a for a, b in itertools.pairwise(study["norm_ratio"]))


def larger_root(lr, wd, momentum):
    """papers.md: alpha, the larger root of x^2 - (1 + momentum - lr·wd)·x + momentum = 0."""
    s = 1.0 + momentum - lr * wd
    return (s + math.sqrt(s * s - 4.0 * momentum)) / 2.0


def test_with_a_constant_lr_the_norm_ratio_grows_geometrically(studies):
    log_ratio = [math.log(r) for r in studies["FIX"]["norm_ratio"]]
    alpha = larger_root(0.1, WD, 0.9)

    first_half = (log_ratio[99] - log_ratio[0]) / 99
    second_half = (log_ratio[199] - log_ratio[99]) / 100

    assert second_half == pytest.approx(-math.log(alpha), rel=1e-3)
    assert first_half == pytest.approx(second_half, rel=0.15)  # alpha_t settles on alpha within ~50 steps


def test_after_a_step_decay_the_norms_part_about_ten_times_more_slowly(studies):
    log_ratio = [math.log(r) for r in studies["STEP"]["norm_ratio"]]

    before = (log_ratio[99] - log_ratio[49]) / 50
    after = (log_ratio[199] - log_ratio[149]) / 50

    # each phase settles on its own alpha: -log alpha is about lr·wd / (1 - momentum)
    assert before == pytest.approx(-math.log(larger_root(0.1, WD, 0.9)), rel=0.01)
    assert after == pytest.approx(-math.log(larger_root(0.01, WD, 0.9)), rel=0.01)


def test_the_control_without_the_conversion_does_not_match(studies):
    control = equivalence_study(SCHEDULES["FIX"], wd=WD, iterations=ITERATIONS, convert=False)

    assert control["converted_spec"] is None
    assert control["lr_b"] == control["lr_a"]
    assert control["max_prob_diff_overall"] > 0.1
    assert control["max_prob_diff_overall"] > 1e10 * studies["FIX"]["max_prob_diff_overall"]


def test_a_constant_lr_converts_to_exponential_growth_by_alpha_to_the_minus_2():
    alpha = 0.9994977  # papers.md: eta = 0.1, wd = 5e-4, momentum = 0.9
    study = equivalence_study(SCHEDULES["FIX"], wd=5e-4, iterations=ITERATIONS)
    converted = build(study["converted_spec"])

    growth = [converted(t + 1) / converted(t) for t in range(150, 199)]

    assert study["converted_spec"]["kind"] == "NOWD"
    assert study["lr_b"] == [converted(t) for t in range(ITERATIONS)]
    assert study["lr_b"][0] == pytest.approx(0.1 / (1 - 0.1 * 5e-4), rel=1e-12)
    assert alpha == pytest.approx(larger_root(0.1, 5e-4, 0.9), abs=1e-7)
    assert growth == pytest.approx([alpha**-2] * len(growth), rel=1e-6)
    assert study["max_prob_diff_overall"] < MATCH


def test_long_studies_are_downsampled_and_on_step_sees_every_kth_step():
    seen = []

    study = equivalence_study(SCHEDULES["FIX"], iterations=601, on_step=seen.append, report_every=100)

    assert len(study["iterations"]) == 500
    assert study["iterations"][0] == 1 and study["iterations"][-1] == 601
    assert all(len(study[key]) == 500 for key in ("loss_a", "norm_b", "lr_b", "max_prob_diff"))
    assert [s["iterations"] for s in seen] == [*range(100, 601, 100), 601]
    assert set(seen[0]) == set(study) & set(seen[0]) and "norm_ratio" in seen[0]
    # Rounding differences grow as training's own sensitivity does (about 10x per 150 steps here,
    # as for one run against itself from a 1e-16 perturbation): 6e-14 by step 600.
    assert study["max_prob_diff_overall"] < 1e-10


def test_preresnet32_runs_on_synthetic_cifar_in_float32():
    study = equivalence_study(SCHEDULES["FIX"], model="preresnet32", iterations=2, batch_size=8, eval_size=8)

    assert study["dtype"] == "float32" and study["data"] == "synthetic"
    assert len(study["loss_a"]) == 2
    assert study["max_prob_diff_overall"] < 1e-4
    assert study["final_norm_ratio"] > 1.0


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"wd": -1e-4}, "wd"),
        ({"momentum": 1.0}, "momentum"),
        ({"iterations": 0}, "iterations"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 5000}, "batch_size"),
        ({"model": "resnet"}, "model"),
        ({"data": "cifar10"}, "data"),
        ({"device": "tpu"}, "device"),
        ({"eval_size": 1}, "eval_size"),
    ],
)
def test_a_bad_argument_is_named(arguments, name):
    with pytest.raises(BadArgument) as raised:
        equivalence_study(SCHEDULES["FIX"], **arguments)

    assert raised.value.name == name


def test_a_bad_spec_or_a_conversion_that_breaks_down_is_a_spec_error():
    with pytest.raises(SpecError) as bad_spec:
        equivalence_study({"kind": "FIX", "k0": -1})
    with pytest.raises(SpecError) as breakdown:
        equivalence_study({"kind": "FIX", "k0": 1.0}, wd=0.5)

    assert "k0" in bad_spec.value.errors
    assert "wd" in breakdown.value.errors
