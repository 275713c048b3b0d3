"""Accuracy on real data: tests that can fail when training is broken. About a minute in all on 2 cores,
most of it MNIST's LeNet (about 15-25 s per epoch on one thread)."""

import pytest
import torch

from trainer import paths
from trainer.data import mnist_raw_files_exist
from trainer.engine import TrainConfig, train


@pytest.fixture(autouse=True)
def one_cpu_thread():
    # The suite shares two cores with other processes; there, one intra-op
    # thread trains LeNet several times faster than two fighting for the cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(workload: str, policy: dict, epochs: int) -> dict:
    result = train(TrainConfig(workload=workload, policy=policy, epochs=epochs, device="cpu"))
    assert result["status"] == "succeeded"
    assert result["synthetic"] is False
    return result


@pytest.mark.skipif(not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not found")
def test_mnist_lenet_with_step_decay_reaches_98_percent_in_2_epochs():
    result = run("mnist-lenet", {"kind": "STEP", "k0": 0.01, "gamma": 0.1, "l": 10}, epochs=2)

    first, second = result["epochs"]
    assert [first["iterations"], second["iterations"]] == [600, 1200]  # 60,000 / 100 per epoch
    assert first["test_acc"] >= 0.97
    assert second["test_acc"] >= 0.98
    assert second["test_top5"] >= second["test_acc"]
    assert 0 < second["ac"] <= 1


def test_digits_mlp_reaches_95_percent_in_10_epochs():
    result = run("digits-mlp", {"kind": "FIX", "k0": 0.05}, epochs=10)

    assert result["summary"]["final_acc"] >= 0.95


def test_gauss2_mlp_gets_above_90_percent_of_the_95_percent_possible():
    result = run("gauss2-mlp", {"kind": "FIX", "k0": 0.05}, epochs=2)

    assert result["summary"]["final_acc"] > 0.90
    assert result["summary"]["final_acc"] <= 0.96  # no classifier beats the Bayes rule by much on 2,000 samples
    assert result["summary"]["epochs_to_target"] is not None


def test_mnist1d_mlp_reaches_its_60_percent_target():
    result = run("mnist1d-mlp", {"kind": "FIX", "k0": 0.05}, epochs=30)

    assert result["summary"]["final_acc"] >= 0.60
