import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer import data, paths
from trainer.data import load_digits, load_mnist, mnist_raw_files_exist
from trainer.models import digits_mlp, lenet
from trainer.workloads import WORKLOADS, UnknownWorkload, get_workload, list_workloads

REPO_ROOT = Path(__file__).resolve().parents[2]
needs_mnist = pytest.mark.skipif(
    not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not in the data directory"
)


def test_unknown_workload_raises_a_value_error_listing_the_valid_names():
    with pytest.raises(UnknownWorkload) as raised:
        get_workload("imagenet-vit")

    assert isinstance(raised.value, ValueError)
    for name in ("digits-mlp", "mnist-lenet"):
        assert name in str(raised.value)


def test_list_workloads_gives_json_summaries_of_every_workload():
    summaries = list_workloads()

    assert [s["name"] for s in summaries] == list(WORKLOADS)
    assert {"digits-mlp", "mnist-lenet"} <= set(WORKLOADS)
    json.dumps(summaries)
    lenet_summary = next(s for s in summaries if s["name"] == "mnist-lenet")
    assert lenet_summary["batch_size"] == 100
    assert lenet_summary["target_accuracy"] == 0.99
    assert lenet_summary["optimizer"] == {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    for s in summaries:
        assert 0 <= s["target_accuracy"] <= 1
        assert set(s) >= {"title", "description", "default_epochs", "num_classes"}


def test_importing_trainer_paths_and_listing_workloads_does_not_import_torch():
    code = (
        "import sys, trainer, trainer.paths, trainer.workloads\n"
        "trainer.workloads.list_workloads(); trainer.paths.default_data_dir()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


def test_default_data_dir_follows_the_environment_then_the_shared_folder_then_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "from-env"))
    assert paths.default_data_dir() == tmp_path / "from-env"

    monkeypatch.delenv("DATA_DIR")
    shared = tmp_path / "shared" / "datasets"
    shared.mkdir(parents=True)
    monkeypatch.setattr(paths, "SHARED_DATASETS", shared)
    assert paths.default_data_dir() == shared

    monkeypatch.setattr(paths, "SHARED_DATASETS", tmp_path / "missing")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.default_data_dir() == tmp_path / "home" / ".cache" / "lr-arena" / "datasets"


def test_the_shared_datasets_folder_is_next_to_the_repository():
    assert paths.SHARED_DATASETS == REPO_ROOT.parent / "shared" / "datasets"


def test_digits_split_is_fixed_stratified_and_standardised_with_train_statistics():
    x_train, y_train, x_test, y_test = load_digits()

    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    per_class = torch.bincount(torch.cat([y_train, y_test]), minlength=10)
    expected_in_test = per_class * 360 / 1797
    assert (torch.bincount(y_test, minlength=10) - expected_in_test).abs().max() <= 1  # stratified
    varying = x_train.std(dim=0) > 0
    assert x_train.mean(dim=0).abs().max() < 1e-5
    assert torch.allclose(x_train.std(dim=0)[varying], torch.ones(int(varying.sum())), atol=1e-4)
    # No feature is divided by a zero std (border pixels that never vary in train).
    assert x_test.abs().max() < 1000


def test_digits_split_does_not_depend_on_the_global_seed():
    load_digits.cache_clear()
    torch.manual_seed(1)
    first = load_digits()
    load_digits.cache_clear()
    torch.manual_seed(2)
    second = load_digits()

    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_digits_mlp_is_64_128_128_10():
    model = digits_mlp()

    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(128, 64), (128,), (128, 128), (128,), (10, 128), (10,)]
    assert model(torch.zeros(3, 64)).shape == (3, 10)


def test_lenet_has_lrbench_layer_shapes_and_431080_parameters():
    model = lenet()

    assert tuple(model.conv1.weight.shape) == (20, 1, 5, 5)
    assert tuple(model.conv2.weight.shape) == (50, 20, 5, 5)
    assert tuple(model.fc1.weight.shape) == (500, 800)
    assert tuple(model.fc2.weight.shape) == (10, 500)
    assert isinstance(model.pool1, torch.nn.MaxPool2d) and isinstance(model.relu, torch.nn.ReLU)
    assert sum(p.numel() for p in model.parameters()) == 431_080
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@needs_mnist
def test_mnist_loads_the_real_data_as_normalised_tensors_once():
    x_train, y_train, x_test, y_test = load_mnist(paths.default_data_dir())

    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # MNIST's well-known first labels
    assert abs(x_train.mean().item()) < 1e-3
    assert abs(x_train.std().item() - 1) < 1e-3
    assert x_train.min().item() == pytest.approx(-0.1307 / 0.3081)
    assert load_mnist(paths.default_data_dir())[0] is x_train  # cached


class FakeMNIST:
    calls: list[dict] = []

    def __init__(self, root, train, download):
        FakeMNIST.calls.append({"root": root, "train": train, "download": download})
        n = 6 if train else 4
        self.data = torch.zeros(n, 28, 28, dtype=torch.uint8)
        self.targets = torch.arange(n)


def test_mnist_downloads_only_when_the_raw_files_are_missing(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    FakeMNIST.calls.clear()
    data._load_mnist.__wrapped__(str(tmp_path))
    assert [c["download"] for c in FakeMNIST.calls] == [True, True]

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_RAW_FILES:
        (raw / name).write_bytes(b"")
    FakeMNIST.calls.clear()
    x_train, *_ = data._load_mnist.__wrapped__(str(tmp_path))
    assert [c["download"] for c in FakeMNIST.calls] == [False, False]
    assert x_train.shape == (6, 1, 28, 28)
