"""The divergence rule (trainer.divergence), on constructed epoch series and on a real collapse."""

from __future__ import annotations

import math

import pytest

from trainer.batched import train_batched
from trainer.divergence import NON_FINITE_ONLY, DivergenceRule, find_divergence
from trainer.engine import TrainConfig, train


def series(*rows):
    """Epochs from (train_loss, test_loss, test_acc) tuples, numbered from 1."""
    return [
        {"epoch": i, "train_loss": train_loss, "test_loss": test_loss, "test_acc": acc}
        for i, (train_loss, test_loss, acc) in enumerate(rows, start=1)
    ]


HEALTHY = [(2.0, 1.5, 0.5), (0.8, 0.6, 0.8), (0.4, 0.3, 0.9), (0.2, 0.2, 0.95)]


def test_a_healthy_run_does_not_diverge():
    assert find_divergence(series(*HEALTHY), num_classes=10) is None


def test_a_collapse_to_chance_after_learning_is_divergence_at_the_first_epoch_at_chance():
    epochs = series(*HEALTHY, (0.3, 0.4, 0.12), (0.3, 0.4, 0.10))
    found = find_divergence(epochs, num_classes=10)
    assert found.kind == "collapse" and found.epoch == 5
    assert "chance" in found.reason and "epoch 5" in found.reason


def test_a_run_that_never_learnt_has_nothing_to_collapse_from():
    epochs = series((2.3, 2.3, 0.11), (2.3, 2.3, 0.12), (2.29, 2.3, 0.10))
    assert find_divergence(epochs, num_classes=10) is None


def test_chance_depends_on_the_number_of_classes():
    epochs = series((0.5, 0.5, 0.9), (0.6, 0.6, 0.52))  # two classes: 0.52 is chance
    assert find_divergence(epochs, num_classes=2).kind == "collapse"
    assert find_divergence(epochs, num_classes=10) is None  # ten classes: 0.52 is far above chance


def test_patience_needs_that_many_epochs_in_a_row_at_chance():
    rule = DivergenceRule(patience=2)
    dip = series(*HEALTHY, (0.3, 0.4, 0.11), (0.3, 0.4, 0.9), (0.3, 0.4, 0.1))
    assert find_divergence(dip, 10, rule) is None
    stays = series(*HEALTHY, (0.3, 0.4, 0.11), (0.3, 0.4, 0.1))
    assert find_divergence(stays, 10, rule).epoch == 5


def test_a_non_finite_loss_is_divergence():
    found = find_divergence(series(*HEALTHY, (None, 0.3, 0.9)), num_classes=10)
    assert found.kind == "non_finite_loss" and found.epoch == 5 and "training loss" in found.reason
    found = find_divergence(series((math.inf, 0.3, 0.9)), num_classes=10)
    assert found.kind == "non_finite_loss" and found.epoch == 1


def test_a_loss_exploding_over_its_best_and_above_a_guess_is_divergence():
    found = find_divergence(series(*HEALTHY, (0.3, 25.0, 0.6)), num_classes=10)
    assert found.kind == "loss_explosion" and found.epoch == 5
    assert "test loss" in found.reason and "125×" in found.reason


def test_a_warm_restart_lifting_a_tiny_loss_below_a_guess_is_not_divergence():
    # 1e-4 -> 0.5 is 5,000x, but 0.5 is still far better than guessing (ln 10 = 2.3).
    epochs = series((0.5, 0.4, 0.9), (1e-4, 0.05, 0.99), (0.5, 0.45, 0.9))
    assert find_divergence(epochs, num_classes=10) is None


def test_non_finite_only_leaves_just_the_first_test():
    rule = DivergenceRule.from_settings(NON_FINITE_ONLY)
    assert find_divergence(series(*HEALTHY, (0.3, 250.0, 0.1), (0.3, 250.0, 0.1)), 10, rule) is None
    assert find_divergence(series(*HEALTHY, (None, 0.3, 0.9)), 10, rule).kind == "non_finite_loss"


def test_the_thresholds_are_settings():
    epochs = series(*HEALTHY, (0.3, 2.5, 0.6))  # 12.5x its best
    assert find_divergence(epochs, 10).kind == "loss_explosion"
    assert find_divergence(epochs, 10, DivergenceRule(loss_factor=20)) is None


def test_the_environment_sets_the_thresholds_and_overrides_win(monkeypatch):
    monkeypatch.setenv("ARENA_DIVERGENCE_LOSS_FACTOR", "50")
    monkeypatch.setenv("ARENA_DIVERGENCE_PATIENCE", "3")
    rule = DivergenceRule.from_settings()
    assert rule.loss_factor == 50 and rule.patience == 3 and rule.chance_margin == 0.05
    assert DivergenceRule.from_settings({"patience": 1}).patience == 1


@pytest.mark.parametrize(
    "overrides, word",
    [
        ({"loss_factor": 1.0}, "loss_factor"),
        ({"patience": 0}, "patience"),
        ({"chance_margin": 0.5}, "chance_margin"),
        ({"nope": 1}, "nope"),
    ],
)
def test_bad_thresholds_are_rejected_by_name(overrides, word):
    with pytest.raises(ValueError, match=word):
        DivergenceRule.from_settings(overrides)


def test_a_train_config_with_bad_thresholds_is_rejected_before_any_work():
    with pytest.raises(ValueError, match="patience"):
        train(TrainConfig("digits-mlp", {"kind": "FIX", "k0": 0.1}, epochs=1, divergence={"patience": 0}))


# The case of issue 11: ONECYCLE peaking at 0.2 on digits-mlp, seed 3, 8 epochs. Its test loss jumps
# by two orders of magnitude and its accuracy sinks; before the rule it ended "succeeded". On the CPU, where
# the trajectory is reproducible (CUDA trains under bf16 autocast).
ONECYCLE = {"kind": "ONECYCLE", "max_lr": 0.2, "total": 8}
NO_RULE = NON_FINITE_ONLY


def test_the_onecycle_collapse_ends_diverged_with_its_reason_and_epoch():
    config = TrainConfig(workload="digits-mlp", policy=ONECYCLE, epochs=8, seed=3, device="cpu")
    result = train(config)
    summary = result["summary"]
    assert result["status"] == "diverged"
    assert 1 < summary["diverged_epoch"] <= 8 and summary["epochs_completed"] == summary["diverged_epoch"]
    assert f"epoch {summary['diverged_epoch']}" in summary["diverged_reason"]
    without_rule = train(
        TrainConfig(workload="digits-mlp", policy=ONECYCLE, epochs=8, seed=3, device="cpu", divergence=NO_RULE)
    )
    assert without_rule["status"] == "succeeded"  # what the run reported before the rule


def test_batched_training_applies_the_same_rule():
    configs = [TrainConfig("digits-mlp", ONECYCLE, epochs=8, seed=seed, device="cpu") for seed in (2, 3)]
    results = train_batched(configs)
    collapsed = results[1]
    assert collapsed["status"] == "diverged" and collapsed["summary"]["diverged_reason"]
    assert find_divergence(collapsed["epochs"], 10) is not None  # the rule, applied to its own epochs
    assert results[0]["status"] == "succeeded"
