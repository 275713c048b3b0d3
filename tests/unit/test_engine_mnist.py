"""One epoch of the real mnist-lenet workload: about 20-40 s on a 2-core CPU."""

import pytest
import torch

from trainer import paths
from trainer.data import mnist_raw_files_exist
from trainer.engine import TrainConfig, train


@pytest.fixture
def one_cpu_thread():
    # The suite shares two cores with other processes; there, one intra-op
    # thread trains LeNet several times faster than two fighting for the cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.skipif(not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not found")
def test_mnist_lenet_reaches_97_percent_in_one_epoch(one_cpu_thread):
    result = train(TrainConfig(workload="mnist-lenet", policy={"kind": "FIX", "k0": 0.01}, epochs=1))

    (epoch,) = result["epochs"]
    assert result["status"] == "succeeded"
    assert epoch["iterations"] == 600  # 60,000 / 100
    assert epoch["test_acc"] >= 0.97
    assert epoch["test_top5"] >= epoch["test_acc"]
    assert 0 < epoch["ac"] <= 1
