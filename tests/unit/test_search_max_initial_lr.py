"""The maximal initial LR η*: Iyer et al.'s Algorithm 1, a binary search over constant LRs."""

import json

import pytest

from trainer import engine
from trainer.search import max_initial_lr

SMALL_GAUSS2 = {"depth": 2, "width": 64}


@pytest.fixture
def training_succeeds_iff_lr_at_most_0_37(monkeypatch):
    """engine.train replaced: test accuracy 0.80 after epoch 1, then 0.95 if lr <= 0.37, else 0.50.

    It honours should_stop before every epoch, as the engine does, and records each call's LR.
    """
    calls = []

    def fake_train(config, on_epoch=None, should_stop=None):
        lr = config.policy["k0"]
        calls.append({"lr": lr, "seed": config.seed, "options": config.workload_options})
        status = "succeeded"
        for epoch in range(1, config.epochs + 1):
            if should_stop():
                status = "cancelled"
                break
            accuracy = 0.80 if epoch == 1 else (0.95 if lr <= 0.37 else 0.50)
            on_epoch({"epoch": epoch, "test_acc": accuracy, "train_loss": 0.3})
        return {"status": status}

    monkeypatch.setattr(engine, "train", fake_train)
    return calls


def test_the_bracket_halves_towards_the_largest_successful_lr(training_succeeds_iff_lr_at_most_0_37):
    seen = []

    result = max_initial_lr("gauss2-mlp", low=0.0, high=1.0, iterations=5, epochs=4, on_probe=seen.append)

    assert [p["lr"] for p in result["probes"]] == [0.5, 0.25, 0.375, 0.3125, 0.34375]
    assert [p["success"] for p in result["probes"]] == [False, True, False, True, True]
    assert [(p["low"], p["high"]) for p in result["probes"]] == [
        (0.0, 0.5),
        (0.25, 0.5),
        (0.25, 0.375),
        (0.3125, 0.375),
        (0.34375, 0.375),
    ]
    assert result["eta_star"] == result["low"] == 0.34375
    assert result["high"] == 0.375
    assert result["resolution"] == 1 / 2**5
    assert seen == result["probes"]


def test_a_probe_stops_at_the_epoch_it_reaches_the_threshold(training_succeeds_iff_lr_at_most_0_37):
    result = max_initial_lr("gauss2-mlp", iterations=2, epochs=4)

    failed, succeeded = result["probes"]
    assert failed["epochs_trained"] == 4 and failed["accuracies"] == [0.80, 0.50, 0.50, 0.50]
    assert succeeded["epochs_trained"] == 2 and succeeded["accuracies"] == [0.80, 0.95]
    assert succeeded["best_accuracy"] == 0.95


def test_every_probe_starts_from_the_same_seed_and_options(training_succeeds_iff_lr_at_most_0_37):
    max_initial_lr("gauss2-mlp", iterations=3, seed=7, workload_options=SMALL_GAUSS2)

    assert {call["seed"] for call in training_succeeds_iff_lr_at_most_0_37} == {7}
    assert all(
        call["options"]["depth"] == 2 and call["options"]["width"] == 64
        for call in training_succeeds_iff_lr_at_most_0_37
    )


def test_the_threshold_defaults_to_the_papers_value(training_succeeds_iff_lr_at_most_0_37):
    assert max_initial_lr("mnist-mlp", iterations=1)["threshold"] == 0.925
    assert max_initial_lr("gauss2-mlp", iterations=1)["threshold"] == 0.90
    assert max_initial_lr("digits-mlp", iterations=1)["threshold"] == 0.97  # its target_accuracy


def test_a_higher_threshold_than_any_probe_reaches_returns_low(training_succeeds_iff_lr_at_most_0_37):
    result = max_initial_lr("gauss2-mlp", low=0.1, iterations=3, threshold=0.99)

    assert result["eta_star"] == 0.1
    assert not any(p["success"] for p in result["probes"])


def test_a_diverged_epoch_does_not_count_as_reaching_the_threshold(monkeypatch):
    def diverging_train(config, on_epoch=None, should_stop=None):
        on_epoch({"epoch": 1, "test_acc": 0.95, "train_loss": None})  # NaN loss: the engine reports None
        return {"status": "diverged"}

    monkeypatch.setattr(engine, "train", diverging_train)

    result = max_initial_lr("gauss2-mlp", iterations=2)

    assert [p["success"] for p in result["probes"]] == [False, False]
    assert all(p["diverged"] for p in result["probes"])
    assert result["eta_star"] == 0.0


def test_should_stop_cancels_the_search_and_leaves_the_interrupted_probe_out(training_succeeds_iff_lr_at_most_0_37):
    probes = []

    result = max_initial_lr("gauss2-mlp", iterations=5, on_probe=probes.append, should_stop=lambda: len(probes) >= 2)

    assert result["cancelled"] is True
    assert len(result["probes"]) == 2
    assert (result["low"], result["high"]) == (0.25, 0.5)


def test_probes_are_json_serialisable(training_succeeds_iff_lr_at_most_0_37):
    result = max_initial_lr("gauss2-mlp", iterations=2)

    assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"low": -0.1}, "low"),
        ({"low": 0.5, "high": 0.5}, "high"),
        ({"high": 1000.0}, "high"),
        ({"high": float("nan")}, "high"),
        ({"iterations": 0}, "iterations"),
        ({"iterations": 31}, "iterations"),
        ({"iterations": 2.0}, "iterations"),
        ({"epochs": 0}, "epochs"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"workload_options": {"depth": 0}}, "workload_options.depth"),
        ({"limit_train_batches": 0}, "limit_train_batches"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_it_rejects_bad_arguments_naming_them_before_training(training_succeeds_iff_lr_at_most_0_37, arguments, named):
    with pytest.raises(ValueError, match=named):
        max_initial_lr("gauss2-mlp", **arguments)

    assert training_succeeds_iff_lr_at_most_0_37 == []


def test_it_rejects_an_unknown_workload():
    with pytest.raises(ValueError, match="unknown workload"):
        max_initial_lr("no-such-workload")


def test_a_real_search_on_two_gaussians_brackets_a_positive_eta_star():
    result = max_initial_lr(
        "gauss2-mlp",
        high=8.0,
        iterations=4,
        epochs=2,
        limit_train_batches=20,
        workload_options=SMALL_GAUSS2,
        device="cpu",
    )

    successes = [p["lr"] for p in result["probes"] if p["success"]]
    failures = [p["lr"] for p in result["probes"] if not p["success"]]
    assert result["eta_star"] > 0
    assert successes and failures  # the bracket [0, 8] holds the boundary
    assert max(successes) < min(failures)
    assert result["eta_star"] == max(successes)
    assert result["high"] == min(failures)
