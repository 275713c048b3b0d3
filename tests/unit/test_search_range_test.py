"""The LR range test (fastai's lr_find, torch-lr-finder): an exponential LR ramp, a smoothed loss, suggested LRs."""

import json
import math

import pytest

from trainer.search import lr_range_test, range_lrs, suggest_lrs


@pytest.fixture(scope="module")
def full_test():
    """digits-mlp over the default range 1e-7..10 in 100 steps: it diverges near the top."""
    return lr_range_test("digits-mlp", device="cpu")


def test_the_lrs_grow_geometrically_from_min_lr_to_max_lr():
    result = lr_range_test("digits-mlp", min_lr=1e-6, max_lr=1e-3, steps=10, device="cpu")

    lrs = result["lrs"]
    assert lrs[0] == 1e-6
    assert lrs[-1] == pytest.approx(1e-3)
    assert all(b / a == pytest.approx(10 ** (1 / 3)) for a, b in zip(lrs, lrs[1:], strict=False))
    assert len(result["losses"]) == len(result["smoothed"]) == 10
    assert result["stopped_early"] is False and result["stop_reason"] is None


def test_the_smoothed_loss_is_the_bias_corrected_moving_average():
    beta = 0.9
    losses = lr_range_test("digits-mlp", min_lr=1e-6, max_lr=1e-3, steps=10, beta=beta, device="cpu")
    l0, l1, l2 = losses["losses"][:3]

    by_hand = [
        (1 - beta) * l0 / (1 - beta),
        ((1 - beta) * beta * l0 + (1 - beta) * l1) / (1 - beta**2),
        ((1 - beta) * beta**2 * l0 + (1 - beta) * beta * l1 + (1 - beta) * l2) / (1 - beta**3),
    ]
    assert losses["smoothed"][:3] == pytest.approx(by_hand, rel=1e-12)
    assert losses["smoothed"][0] == pytest.approx(l0)


def test_it_stops_early_when_the_loss_blows_up():
    result = lr_range_test("digits-mlp", min_lr=1e-3, max_lr=100.0, steps=60, device="cpu")

    assert result["stopped_early"] is True
    assert result["stop_reason"] in ("diverged", "non_finite")
    assert len(result["lrs"]) < 60
    last = result["smoothed"][-1]
    best = min(s for s in result["smoothed"] if s is not None)
    assert last is None or last > 4.0 * best
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_a_nan_loss_stops_it_and_the_suggestions_leave_that_step_out():
    result = lr_range_test("digits-mlp", min_lr=1e-2, max_lr=100.0, steps=50, diverge_factor=1e30, device="cpu")

    assert result["stop_reason"] == "non_finite"
    assert result["losses"][-1] is None and result["smoothed"][-1] is None
    for name in ("steepest", "valley", "min_loss"):
        assert 1e-2 <= result["suggestions"][name] < result["lrs"][-1], name


def test_its_suggestions_lie_in_the_range_and_the_cyclic_prefill_rises(full_test):
    suggestions = full_test["suggestions"]

    for name in ("steepest", "valley", "min_loss"):
        assert 1e-7 <= suggestions[name] <= 10.0, name
    assert suggestions["min_loss_div10"] == pytest.approx(suggestions["min_loss"] / 10)
    assert full_test["cyclic"]["k0"] < full_test["cyclic"]["k1"]
    assert full_test["cyclic"]["k1"] == suggestions["valley"]
    assert full_test["cyclic"]["k0"] == pytest.approx(suggestions["valley"] / 4)


def test_its_valley_on_digits_is_an_lr_that_trains(full_test):
    # digits-mlp trains well at 0.01-0.1 (SGD momentum 0.9); the plateau below 1e-3 teaches nothing.
    assert 1e-3 < full_test["suggestions"]["valley"] < full_test["suggestions"]["min_loss"]


def test_on_step_sees_every_step_in_order():
    steps = []

    result = lr_range_test("digits-mlp", min_lr=1e-5, max_lr=1e-2, steps=8, on_step=steps.append, device="cpu")

    assert [s["step"] for s in steps] == list(range(8))
    assert [s["lr"] for s in steps] == result["lrs"]
    assert [s["smoothed"] for s in steps] == result["smoothed"]


def test_the_same_seed_gives_the_same_losses():
    first = lr_range_test("digits-mlp", min_lr=1e-4, max_lr=1.0, steps=10, seed=3, device="cpu")
    second = lr_range_test("digits-mlp", min_lr=1e-4, max_lr=1.0, steps=10, seed=3, device="cpu")

    assert first["losses"] == second["losses"]


def test_should_stop_ends_it_cancelled():
    steps = []

    result = lr_range_test(
        "digits-mlp", steps=50, on_step=steps.append, should_stop=lambda: len(steps) >= 5, device="cpu"
    )

    assert result["stop_reason"] == "cancelled"
    assert len(result["lrs"]) == 5


def test_the_valley_is_two_thirds_down_the_longest_run_of_falling_loss():
    lrs = range_lrs(1e-4, 1.0, 40)
    # A noisy plateau (steps 0-19, up and down in turn), a descent over steps 20-32, then a rise.
    plateau = [2.30 if i % 2 == 0 else 2.31 for i in range(20)]
    descent = [2.3 - 0.15 * k for k in range(1, 14)]  # steps 20..32
    rise = [descent[-1] + 0.2 * k for k in range(1, 8)]  # steps 33..39
    smoothed = plateau + descent + rise

    suggestions = suggest_lrs(lrs, smoothed)

    # The longest run of falls starts at step 19 (the plateau's last value, 2.31) and ends at step 32.
    assert suggestions["valley"] == lrs[19 + round(2 / 3 * (32 - 19))]
    assert suggestions["min_loss"] == lrs[32]


def test_the_first_tenth_of_the_steps_is_ignored():
    lrs = range_lrs(1e-4, 1.0, 40)
    # A sharp drop in the first 4 steps (an EMA of a few losses), then a gentler real descent at steps 20-30.
    smoothed = [3.0, 2.5, 2.4, 2.4] + [2.4] * 16 + [2.4 - 0.05 * k for k in range(1, 11)] + [1.9] * 10

    suggestions = suggest_lrs(lrs, smoothed)

    assert lrs[20] <= suggestions["steepest"] <= lrs[30]
    assert lrs[20] <= suggestions["valley"] <= lrs[30]


def test_a_flat_step_breaks_a_run_of_falling_loss():
    lrs = range_lrs(1e-4, 1.0, 30)
    # Steps 0-2 stay flat (the tenth skipped); falls over steps 3-10; a flat step at 11; falls over steps 11-16.
    smoothed = [3.0, 3.0, 3.0] + [3.0 - 0.1 * k for k in range(8)] + [2.3] + [2.3 - 0.1 * k for k in range(1, 6)]
    smoothed += [2.0] * (30 - len(smoothed))

    # The run over steps 3-10 (7 falls) beats the one over 11-16 (5 falls).
    assert suggest_lrs(lrs, smoothed)["valley"] == lrs[3 + round(2 / 3 * 7)]


def test_the_steepest_suggestion_is_where_the_loss_falls_fastest_against_log_lr():
    lrs = range_lrs(1e-4, 1.0, 30)
    smoothed = [2.0 - math.tanh((math.log10(lr) + 2) * 3) for lr in lrs]  # steepest at lr = 1e-2

    assert suggest_lrs(lrs, smoothed)["steepest"] == pytest.approx(1e-2, rel=0.2)


def test_too_short_a_record_gives_no_suggestions():
    assert suggest_lrs([1e-3, 1e-2], [2.3, 2.2]) == {
        "steepest": None,
        "valley": None,
        "min_loss": None,
        "min_loss_div10": None,
    }


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": 1.0, "max_lr": 0.5}, "max_lr"),
        ({"max_lr": 1000.0}, "max_lr"),
        ({"steps": 1}, "steps"),
        ({"steps": 10.5}, "steps"),
        ({"beta": 1.0}, "beta"),
        ({"diverge_factor": 1.0}, "diverge_factor"),
        ({"workload_options": {"depth": 2}}, "workload_options.depth"),
        ({"seed": "one"}, "seed"),
    ],
)
def test_it_rejects_bad_arguments_naming_them(arguments, named):
    with pytest.raises(ValueError, match=named):
        lr_range_test("digits-mlp", **arguments)
