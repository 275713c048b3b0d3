"""Every workload through the engine, on synthetic tensors of its data's shape: seconds each."""

import dataclasses
import math
import shutil

import pytest
import torch

from trainer import checkpoint
from trainer.engine import TrainConfig, train
from trainer.workloads import WORKLOADS, get_workload

FIX = {"kind": "FIX", "k0": 0.01}


@pytest.fixture(autouse=True)
def one_cpu_thread():
    # Two cores shared with other processes: one intra-op thread is the fastest there.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def short_synthetic(workload: str, **kwargs) -> TrainConfig:
    settings = {"policy": FIX, "epochs": 1, "limit_train_batches": 2, "limit_test_batches": 1} | kwargs
    return TrainConfig(workload=workload, device="cpu", synthetic=True, **settings)


# image-folder's options choose its data (tests/unit/test_image_folder.py trains it on real images).
@pytest.mark.parametrize("name", [name for name, w in WORKLOADS.items() if not w.has_data_options])
def test_every_workload_trains_a_short_epoch_on_synthetic_data(name, tmp_path):
    workload = get_workload(name)

    # A data directory with nothing in it: synthetic runs load no data.
    result = train(short_synthetic(name, data_dir=str(tmp_path)))

    (epoch,) = result["epochs"]
    assert result["status"] == "succeeded"
    assert result["synthetic"] is True
    assert epoch["iterations"] == 2
    assert math.isfinite(epoch["train_loss"]) and math.isfinite(epoch["test_loss"])
    assert epoch["samples_per_sec"] > 0
    assert 0 <= epoch["test_acc"] <= 1
    assert result["workload_options"] == workload.resolve_options(None)
    assert list(tmp_path.iterdir()) == []


def test_real_data_runs_say_they_are_not_synthetic():
    result = train(TrainConfig(workload="digits-mlp", policy=FIX, epochs=1, device="cpu"))

    assert result["synthetic"] is False


def test_limits_bound_the_batches_trained_and_evaluated():
    result = train(TrainConfig(workload="digits-mlp", policy=FIX, epochs=2, device="cpu", limit_train_batches=5))

    assert [e["iterations"] for e in result["epochs"]] == [5, 10]
    assert result["epochs"][0]["lr_trace"][-1][0] == pytest.approx(4 / 5)  # t counts the limited epoch


def test_preresnet32_with_fixed_bn_and_last_layer_trains_only_its_convolutions_on_synthetic_data(tmp_path):
    options = {"fix_bn": True, "fix_last": True}
    path = tmp_path / "run.pt"
    torch.manual_seed(3)
    initial = get_workload("cifar10-preresnet32").create_model(options).state_dict()

    result = train(
        short_synthetic(
            "cifar10-preresnet32",
            policy={"kind": "FIX", "k0": 0.1},
            seed=3,
            workload_options=options,
            checkpoint_path=str(path),
        )
    )
    trained = checkpoint.load(path)["model"]

    assert result["status"] == "succeeded" and result["workload_options"] == options
    bn_affine = [k for k in initial if ".bn" in f".{k}" and k.endswith(("weight", "bias"))]
    assert len(bn_affine) == 2 * 31  # two in each of the 15 blocks, and the final one
    for key in bn_affine + ["fc.weight", "fc.bias"]:
        assert torch.equal(trained[key], initial[key]), key
    assert all(torch.equal(trained[k], torch.ones_like(trained[k])) for k in bn_affine if k.endswith("weight"))
    changed = [k for k, v in initial.items() if v.dim() == 4 and not torch.equal(trained[k], v)]
    assert len(changed) == 33  # every convolution trained: the stem, 2 per block, 2 shortcuts
    assert not torch.equal(trained["bn_final.running_mean"], initial["bn_final.running_mean"])  # statistics still run


def test_preresnet32_without_fix_options_trains_its_bn_and_last_layer_on_synthetic_data(tmp_path):
    path = tmp_path / "run.pt"
    torch.manual_seed(3)
    initial = get_workload("cifar10-preresnet32").create_model().state_dict()

    train(short_synthetic("cifar10-preresnet32", policy={"kind": "FIX", "k0": 0.1}, seed=3, checkpoint_path=str(path)))
    trained = checkpoint.load(path)["model"]

    assert not torch.equal(trained["fc.weight"], initial["fc.weight"])
    assert not torch.equal(trained["bn_final.weight"], initial["bn_final.weight"])


def test_cifar_runs_on_synthetic_data_are_reproducible_with_augmentation():
    first = train(short_synthetic("cifar10-cnn3", seed=4))
    second = train(short_synthetic("cifar10-cnn3", seed=4))
    other = train(short_synthetic("cifar10-cnn3", seed=5))

    assert first["epochs"][0]["train_loss"] == second["epochs"][0]["train_loss"]
    assert first["epochs"][0]["train_loss"] != other["epochs"][0]["train_loss"]


def test_cifar_augmentation_runs_on_every_training_batch_from_the_run_generator(monkeypatch):
    cnn3 = get_workload("cifar10-cnn3")
    calls = []

    def recording(images, generator):
        calls.append((tuple(images.shape), generator.initial_seed()))
        return cnn3.augment(images, generator)

    monkeypatch.setitem(WORKLOADS, "cifar10-cnn3", dataclasses.replace(cnn3, augment=recording))
    train(short_synthetic("cifar10-cnn3", seed=7, limit_train_batches=3))

    assert calls == [((100, 3, 32, 32), 7)] * 3  # training batches only, never the test set


@pytest.mark.skipif(shutil.which("cc") is None, reason="torch.compile on a CPU needs a C compiler")
def test_a_compiled_model_trains_like_the_plain_one_and_checkpoints_its_plain_weights(tmp_path):
    path = tmp_path / "run.pt"
    config = TrainConfig(workload="digits-mlp", policy={"kind": "FIX", "k0": 0.05}, epochs=1, device="cpu")

    compiled = train(dataclasses.replace(config, compile=True, checkpoint_path=str(path)))
    eager = train(config)

    assert compiled["status"] == "succeeded"
    assert compiled["epochs"][0]["test_acc"] == pytest.approx(eager["epochs"][0]["test_acc"], abs=0.02)
    assert set(checkpoint.load(path)["model"]) == {f"fc{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}


# On CUDA (bf16 autocast, channels_last, compiled): tests/gpu/test_engine_cuda.py.
