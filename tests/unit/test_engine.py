"""The training loop, on the seconds-long digits-mlp workload."""

import json

import pytest
import torch

from trainer.engine import TrainConfig, train
from trainer.schedules import SpecError, build
from trainer.workloads import UnknownWorkload

DIGITS_STEPS_PER_EPOCH = 45  # ceil(1437 / 32): the last partial batch is kept
FIX = {"kind": "FIX", "k0": 0.05}
EPOCH_KEYS = {
    "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "test_top5", "ac", "cv", "cvac",
    "lr_first", "lr_last", "lr_mean", "lr_trace", "seconds", "samples_per_sec", "iterations", "samples",
}  # fmt: skip


def digits(policy: dict = FIX, epochs: int = 3, **kwargs) -> TrainConfig:
    return TrainConfig(workload="digits-mlp", policy=policy, epochs=epochs, device="cpu", **kwargs)


def without_timings(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("seconds", "samples_per_sec")} for e in epochs]


def reject_nan(constant: str):
    raise AssertionError(f"{constant} in JSON")


def test_digits_mlp_reaches_90_percent_in_3_epochs():
    reported = []

    result = train(digits(FIX, epochs=3), on_epoch=reported.append)

    assert result["status"] == "succeeded"
    assert result["device"] == "cpu"
    assert result["epochs"] == reported
    assert [e["epoch"] for e in reported] == [1, 2, 3]
    assert all(set(e) == EPOCH_KEYS for e in reported)
    assert reported[-1]["iterations"] == 3 * DIGITS_STEPS_PER_EPOCH
    assert reported[-1]["test_acc"] >= 0.90
    assert reported[-1]["train_loss"] < reported[0]["train_loss"]
    json.loads(json.dumps(result))


def test_summary_reports_final_best_and_cost_to_target():
    result = train(digits({"kind": "FIX", "k0": 0.02}, epochs=6))
    epochs, summary = result["epochs"], result["summary"]

    final = epochs[-1]
    assert summary["final_acc"] == final["test_acc"]
    assert summary["final_top5"] == final["test_top5"]
    assert summary["best_acc"] == max(e["test_acc"] for e in epochs)
    assert epochs[summary["best_epoch"] - 1]["test_acc"] == summary["best_acc"]
    assert summary["loss_gap"] == pytest.approx(final["test_loss"] - final["train_loss"])
    assert (summary["ac"], summary["cv"], summary["cvac"]) == (final["ac"], final["cv"], final["cvac"])
    assert summary["epochs_completed"] == 6
    assert summary["iterations"] == 6 * DIGITS_STEPS_PER_EPOCH
    assert [e["samples"] for e in epochs] == [k * 1437 for k in range(1, 7)]  # digits has 1,437 training samples
    assert summary["samples"] == 6 * 1437
    total, per_epoch = summary["total_seconds"], [e["seconds"] for e in epochs]  # bookkeeping, not speed
    assert total == pytest.approx(sum(per_epoch))
    assert summary["target_accuracy"] == 0.97
    assert summary["diverged_epoch"] is None
    reached = [e for e in epochs if e["test_acc"] >= 0.97]
    if reached:
        first = reached[0]["epoch"]
        assert summary["epochs_to_target"] == first
        assert summary["iterations_to_target"] == first * DIGITS_STEPS_PER_EPOCH
        assert summary["samples_to_target"] == first * 1437
        to_target, per_epoch = summary["seconds_to_target"], [e["seconds"] for e in epochs[:first]]
        assert to_target == pytest.approx(sum(per_epoch))
    else:
        never = (summary["epochs_to_target"], summary["iterations_to_target"], summary["seconds_to_target"])
        assert never == (None, None, None)


def test_the_optimizer_gets_the_policys_lr_at_every_iteration(monkeypatch):
    policy = {"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 2}  # steps down at the start of epoch 3
    applied = []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        applied.append([group["lr"] for group in self.param_groups])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    result = train(digits(policy, epochs=3))

    lr_at = build(policy).lr_at
    expected = [lr_at(i, DIGITS_STEPS_PER_EPOCH) for i in range(3 * DIGITS_STEPS_PER_EPOCH)]
    assert [lrs[0] for lrs in applied] == expected
    assert all(len(set(lrs)) == 1 for lrs in applied)
    assert expected[0] == pytest.approx(0.1) and expected[-1] == pytest.approx(0.01)
    first, second, third = result["epochs"]
    assert first["lr_first"] == first["lr_last"] == pytest.approx(0.1)
    assert second["lr_last"] == pytest.approx(0.1)
    assert third["lr_first"] == third["lr_last"] == third["lr_mean"] == pytest.approx(0.01)


def test_lr_trace_samples_at_most_20_applied_lrs_per_epoch_in_units_of_epochs():
    policy = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1}
    result = train(digits(policy, epochs=2))

    lr_at = build(policy).lr_at
    for epoch in result["epochs"]:
        trace = epoch["lr_trace"]
        assert 1 < len(trace) <= 20
        times = [t for t, _ in trace]
        assert times[0] == epoch["epoch"] - 1  # the epoch's first iteration
        assert times == sorted(times) and times[-1] < epoch["epoch"]
        for t, lr in trace:
            iteration = round(t * DIGITS_STEPS_PER_EPOCH)
            assert t == pytest.approx(iteration / DIGITS_STEPS_PER_EPOCH)
            assert lr == lr_at(iteration, DIGITS_STEPS_PER_EPOCH)
    assert result["epochs"][1]["lr_trace"][0] == [1.0, pytest.approx(0.05)]


def test_the_same_seed_gives_identical_metrics():
    first = train(digits(seed=7, epochs=2))
    second = train(digits(seed=7, epochs=2))

    assert without_timings(first["epochs"]) == without_timings(second["epochs"])


def test_different_seeds_give_different_metrics():
    first = train(digits(seed=0, epochs=1))
    second = train(digits(seed=1, epochs=1))

    assert first["epochs"][0]["train_loss"] != second["epochs"][0]["train_loss"]


def test_a_huge_lr_diverges_in_the_first_epoch_and_reports_no_nan():
    reported = []

    result = train(digits({"kind": "FIX", "k0": 50.0}, epochs=4), on_epoch=reported.append)

    assert result["status"] == "diverged"
    assert result["summary"]["diverged_epoch"] == 1
    assert result["summary"]["epochs_completed"] == 1
    assert len(reported) == 1 and reported[0]["train_loss"] is None
    json.loads(json.dumps(result, allow_nan=False), parse_constant=reject_nan)


def test_should_stop_before_an_epoch_cancels_and_keeps_the_finished_epochs():
    reported = []

    result = train(digits(epochs=5), on_epoch=reported.append, should_stop=lambda: len(reported) >= 2)

    assert result["status"] == "cancelled"
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    assert result["summary"]["epochs_completed"] == 2
    assert result["summary"]["final_acc"] == reported[-1]["test_acc"]


def test_should_stop_is_also_asked_every_100_iterations_within_an_epoch():
    calls = []

    def stop_on_fourth_call() -> bool:
        # Asked before epochs 1, 2 and 3, then at global iteration 100, inside epoch 3.
        calls.append(1)
        return len(calls) == 4

    result = train(digits(epochs=5), should_stop=stop_on_fourth_call)

    assert result["status"] == "cancelled"
    assert len(result["epochs"]) == 2  # the partial third epoch is not reported
    assert result["summary"]["iterations"] == 100


def test_should_stop_true_from_the_start_cancels_with_no_epochs():
    result = train(digits(epochs=3), should_stop=lambda: True)

    assert result["status"] == "cancelled"
    assert result["epochs"] == []
    assert result["summary"]["final_acc"] is None and result["summary"]["epochs_completed"] == 0


def test_exceptions_from_on_epoch_propagate():
    def broken(metrics: dict) -> None:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError, match="database is down"):
        train(digits(epochs=2), on_epoch=broken)


def test_an_unknown_workload_is_rejected_before_any_work():
    with pytest.raises(UnknownWorkload, match="digits-mlp"):
        train(TrainConfig(workload="cifar-vit", policy=FIX, epochs=1))


def test_an_invalid_policy_raises_spec_error():
    with pytest.raises(SpecError) as raised:
        train(digits({"kind": "FIX", "k0": -1.0}))

    assert "k0" in raised.value.errors


@pytest.mark.parametrize("epochs", [0, 10_001, 2.5, "3", True])
def test_epochs_must_be_an_integer_from_1_to_10000(epochs):
    with pytest.raises(ValueError, match="epochs"):
        train(digits(epochs=epochs))


def test_an_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="device"):
        train(TrainConfig(workload="digits-mlp", policy=FIX, epochs=1, device="tpu"))


# The CUDA tests are in tests/gpu (run by scripts/gpu-check.sh, without Django).


def test_li_arora_policies_which_stand_in_for_weight_decay_train_without_it(monkeypatch):
    weight_decays = []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        weight_decays.append(self.param_groups[0]["weight_decay"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    exponential = train(digits({"kind": "EXPGROW", "k0": 0.05, "wd": 5e-4, "momentum": 0.9}, epochs=1))
    fixed = train(digits(FIX, epochs=1))

    assert exponential["optimizer"]["weight_decay"] == 0.0
    assert fixed["optimizer"]["weight_decay"] == 5e-4
    assert set(weight_decays) == {0.0, 5e-4}
    assert exponential["epochs"][0]["lr_last"] > exponential["epochs"][0]["lr_first"]  # it grows


def test_a_run_restores_the_callers_cpu_thread_count():
    before = torch.get_num_threads()

    train(digits(epochs=1))  # digits-mlp trains on one thread

    assert torch.get_num_threads() == before
