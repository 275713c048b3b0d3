"""Checkpoints: one dict per run, written atomically after every epoch; a run resumed from one
ends exactly as if it had never stopped."""

import math
from dataclasses import replace

import pytest
import torch

from trainer import checkpoint
from trainer.checkpoint import CheckpointError
from trainer.engine import TrainConfig, train

FIX = {"kind": "FIX", "k0": 0.05}
STEP = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 2}


@pytest.fixture(autouse=True)
def one_cpu_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def without_timings(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("seconds", "samples_per_sec")} for e in epochs]


def stop_after(epochs: int):
    """should_stop and on_epoch that stop a run once it has reported this many epochs."""
    reported = []
    return reported.append, lambda: len(reported) >= epochs


def assert_same_run(resumed_path, uninterrupted_path) -> None:
    resumed, uninterrupted = checkpoint.load(resumed_path), checkpoint.load(uninterrupted_path)
    assert resumed["model"].keys() == uninterrupted["model"].keys()
    for name, tensor in uninterrupted["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    momentum = [s["momentum_buffer"] for s in uninterrupted["optimizer"]["state"].values()]
    assert all(
        torch.equal(s["momentum_buffer"], m)
        for s, m in zip(resumed["optimizer"]["state"].values(), momentum, strict=True)
    )
    assert without_timings(resumed["epochs"]) == without_timings(uninterrupted["epochs"])
    assert resumed["iteration"] == uninterrupted["iteration"]


def test_an_interrupted_digits_run_resumed_from_its_checkpoint_ends_exactly_like_one_never_interrupted(tmp_path):
    config = TrainConfig(workload="digits-mlp", policy=STEP, epochs=5, device="cpu", seed=3)
    on_epoch, should_stop = stop_after(2)

    first = train(replace(config, checkpoint_path=str(tmp_path / "a.pt")), on_epoch=on_epoch, should_stop=should_stop)
    reported = []
    resumed = train(replace(config, checkpoint_path=str(tmp_path / "a.pt")), on_epoch=reported.append)
    uninterrupted = train(replace(config, checkpoint_path=str(tmp_path / "b.pt")))

    assert first["status"] == "cancelled" and len(first["epochs"]) == 2
    assert resumed["status"] == "succeeded" and resumed["resumed_from_epoch"] == 2
    assert [e["epoch"] for e in reported] == [3, 4, 5]  # the first two were reported by the first call
    assert without_timings(resumed["epochs"]) == without_timings(uninterrupted["epochs"])
    assert resumed["summary"]["iterations"] == uninterrupted["summary"]["iterations"] == 5 * 45
    # Bookkeeping, not speed: the summary's total is the sum of its epochs.
    total, per_epoch = resumed["summary"]["total_seconds"], [e["seconds"] for e in resumed["epochs"]]
    assert total == pytest.approx(sum(per_epoch))
    assert_same_run(tmp_path / "a.pt", tmp_path / "b.pt")


def test_an_interrupted_cnn3_run_on_synthetic_data_resumes_exactly_augmentation_and_all(tmp_path):
    config = TrainConfig(
        workload="cifar10-cnn3",
        policy=STEP,
        epochs=3,
        device="cpu",
        seed=1,
        synthetic=True,
        limit_train_batches=3,
        limit_test_batches=1,
    )
    on_epoch, should_stop = stop_after(1)

    train(replace(config, checkpoint_path=str(tmp_path / "a.pt")), on_epoch=on_epoch, should_stop=should_stop)
    resumed = train(replace(config, checkpoint_path=str(tmp_path / "a.pt")))
    uninterrupted = train(replace(config, checkpoint_path=str(tmp_path / "b.pt")))

    assert resumed["resumed_from_epoch"] == 1 and resumed["synthetic"] is True
    assert without_timings(resumed["epochs"]) == without_timings(uninterrupted["epochs"])
    assert_same_run(tmp_path / "a.pt", tmp_path / "b.pt")


class HalvingOnPlateau:
    """An adaptive stand-in: halves its LR after every epoch whose test loss is no better than the best."""

    def __init__(self, lr: float = 0.3):
        self.lr, self.best = lr, math.inf

    def lr_at(self, iteration: int, steps_per_epoch: int) -> float:
        return self.lr

    def observe(self, epoch: int, metrics: dict, total_epochs: int) -> None:
        if metrics["test_loss"] is not None and metrics["test_loss"] < self.best:
            self.best = metrics["test_loss"]
        else:
            self.lr /= 2

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.best = state["lr"], state["best"]


def test_an_adaptive_policys_state_is_checkpointed_and_restored(tmp_path):
    path = str(tmp_path / "a.pt")
    interrupted_policy = HalvingOnPlateau()
    on_epoch, should_stop = stop_after(5)

    train(TrainConfig("digits-mlp", interrupted_policy, 8, device="cpu", checkpoint_path=path), on_epoch, should_stop)
    saved = checkpoint.load(path)["policy"]
    resumed = train(TrainConfig("digits-mlp", HalvingOnPlateau(), 8, device="cpu", checkpoint_path=path))
    uninterrupted = train(TrainConfig("digits-mlp", HalvingOnPlateau(), 8, device="cpu"))

    assert saved == interrupted_policy.state_dict() and saved["lr"] < 0.3  # it had halved before the stop
    assert without_timings(resumed["epochs"]) == without_timings(uninterrupted["epochs"])


def test_a_checkpoint_holds_the_model_optimizer_policy_rng_states_epochs_and_iteration(tmp_path):
    path = tmp_path / "run.pt"
    states = []

    def on_epoch(metrics: dict) -> None:
        states.append(checkpoint.load(path)["epoch"] if path.exists() else None)

    train(TrainConfig("digits-mlp", HalvingOnPlateau(), 2, device="cpu", checkpoint_path=str(path)), on_epoch)
    saved = checkpoint.load(path)

    assert states == [None, 1]  # written after each epoch, once it has been reported
    assert saved["epoch"] == 2 and saved["iteration"] == 90 and [e["epoch"] for e in saved["epochs"]] == [1, 2]
    assert set(saved["model"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    assert len(saved["optimizer"]["state"]) == 6 and saved["optimizer"]["param_groups"][0]["lr_scale"] == 1.0
    assert set(saved["policy"]) == {"lr", "best"}
    assert set(saved["rng"]) == {"torch", "cuda", "generator", "python", "numpy"}
    assert saved["diverged_epoch"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left behind


def test_a_failed_checkpoint_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    checkpoint.save({"model": {}, "epoch": 1}, path)
    before = path.read_bytes()

    def broken_save(state, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({"model": {}, "epoch": 2}, path)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_resume_false_starts_afresh_and_overwrites_the_checkpoint(tmp_path):
    path = str(tmp_path / "run.pt")
    train(TrainConfig("digits-mlp", FIX, 2, device="cpu", checkpoint_path=path))

    result = train(TrainConfig("digits-mlp", FIX, 1, device="cpu", checkpoint_path=path, resume=False))

    assert result["resumed_from_epoch"] is None and len(result["epochs"]) == 1
    assert checkpoint.load(path)["epoch"] == 1


def test_a_finished_run_can_be_extended_with_more_epochs(tmp_path):
    path = str(tmp_path / "run.pt")
    train(TrainConfig("digits-mlp", FIX, 2, device="cpu", checkpoint_path=path))

    extended = train(TrainConfig("digits-mlp", FIX, 3, device="cpu", checkpoint_path=path))
    straight = train(TrainConfig("digits-mlp", FIX, 3, device="cpu"))

    assert extended["resumed_from_epoch"] == 2
    assert without_timings(extended["epochs"]) == without_timings(straight["epochs"])


def test_resuming_a_diverged_run_returns_it_as_diverged_without_training(tmp_path):
    path = str(tmp_path / "run.pt")
    huge = {"kind": "FIX", "k0": 50.0}
    first = train(TrainConfig("digits-mlp", huge, 4, device="cpu", checkpoint_path=path))
    reported = []

    again = train(TrainConfig("digits-mlp", huge, 4, device="cpu", checkpoint_path=path), on_epoch=reported.append)

    assert first["status"] == again["status"] == "diverged"
    assert again["summary"]["diverged_epoch"] == 1 and again["epochs"] == first["epochs"] and reported == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seed": 1}, "seed"),
        ({"policy": {"kind": "FIX", "k0": 0.01}}, "policy"),
        ({"optimizer": {"name": "adam"}}, "optimizer"),
        ({"workload": "mnist1d-mlp"}, "workload"),
        ({"synthetic": True}, "synthetic"),
    ],
)
def test_a_checkpoint_from_a_different_run_is_refused_naming_what_differs(tmp_path, changes, field):
    path = str(tmp_path / "run.pt")
    train(TrainConfig("digits-mlp", FIX, 1, device="cpu", checkpoint_path=path))
    config = replace(TrainConfig("digits-mlp", FIX, 2, device="cpu", checkpoint_path=path), **changes)

    with pytest.raises(CheckpointError, match=f"its {field} is"):
        train(config)


def test_a_checkpoint_with_more_epochs_than_the_run_is_refused(tmp_path):
    path = str(tmp_path / "run.pt")
    train(TrainConfig("digits-mlp", FIX, 2, device="cpu", checkpoint_path=path))

    with pytest.raises(CheckpointError, match="already holds 2 epochs"):
        train(TrainConfig("digits-mlp", FIX, 1, device="cpu", checkpoint_path=path))


def test_a_file_that_is_not_a_checkpoint_is_refused_without_running_it(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"not a checkpoint")

    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(TrainConfig("digits-mlp", FIX, 1, device="cpu", checkpoint_path=str(path)))
