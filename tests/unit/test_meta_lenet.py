"""MLR-SNet on MNIST's LeNet: the paper's γ (initial LR ~0.34) diverges at once; capped by the range test, it learns.

About 15 s on one thread: 100 iterations of meta-training after a 100-step range test, and 30 of the control.
"""

from __future__ import annotations

import math

import pytest
import torch

from trainer import paths
from trainer.data import mnist_raw_files_exist
from trainer.meta import meta_train

pytestmark = pytest.mark.skipif(
    not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not found"
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_capped_by_the_range_test_meta_training_learns_lenet_without_diverging():
    result = meta_train("mnist-lenet", epochs=1, limit_train_batches=100, meta_every=10, device="cpu")

    (epoch,) = result["epochs"]
    assert result["status"] == "succeeded" and result["spec"] is not None
    assert result["lr_cap_source"] == "range test valley"
    assert result["gamma"] == result["lr_cap"] < 0.1 < result["gamma_paper"]  # the paper's: ~0.67
    assert math.isfinite(epoch["train_loss"]) and epoch["train_loss"] < 1.5  # the epoch's mean; ln 10 = 2.3 at first
    assert epoch["test_acc"] > 0.8  # chance is 0.1
    assert result["spec"]["momentum"] == 0.9 and result["spec"]["lr_cap"] == result["lr_cap"]


def test_with_the_papers_gamma_it_diverges_in_its_first_iterations():
    result = meta_train("mnist-lenet", epochs=1, limit_train_batches=30, meta_every=10, lr_cap=10.0, device="cpu")

    assert result["gamma"] == result["gamma_paper"] > 0.5
    assert result["status"] == "diverged" and result["spec"] is None
