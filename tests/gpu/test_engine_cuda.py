"""The engine and policy-batched training on the device: the CUDA paths the CPU tests cannot reach.

bf16 autocast, channels_last, torch.compile, generators on the device, and
train_batched's vmapped convolutions (on the CPU it trains conv nets one after
another), each on a few batches.
"""

from __future__ import annotations

import logging
import math
import shutil

import pytest

from tests.gpu.env import QUICK
from trainer import batched as batched_module
from trainer.batched import train_batched
from trainer.engine import TrainConfig, train

FIX = {"kind": "FIX", "k0": 0.01}


def test_auto_device_trains_on_cuda_when_available(device, record):
    result = train(TrainConfig(workload="digits-mlp", policy=FIX, epochs=1 if QUICK else 3, device="auto"))

    assert result["device"].startswith("cuda:" if device.type == "cuda" else "cpu")
    if not QUICK:
        assert result["epochs"][-1]["test_acc"] >= 0.90
    assert all(math.isfinite(e["train_loss"]) for e in result["epochs"])
    record(test_acc=[e["test_acc"] for e in result["epochs"]], device_name=result["device_name"])


@pytest.mark.parametrize("compile", [False, True])
def test_cifar_resnet20_trains_on_cuda_with_bf16_channels_last_and_optionally_compiled_on_synthetic_data(
    compile, device, record
):
    if compile and device.type == "cpu" and (QUICK or shutil.which("cc") is None):
        pytest.skip("torch.compile on the CPU: tests/unit covers it; here it would only cost minutes")
    result = train(
        TrainConfig(
            workload="cifar10-resnet20",
            policy={"kind": "FIX", "k0": 0.1},
            epochs=2,
            device=str(device),
            synthetic=True,
            compile=compile,
            limit_train_batches=4 if QUICK else 20,
            limit_test_batches=1 if QUICK else 2,
        )
    )
    record(
        compile=compile,
        train_loss=[e["train_loss"] for e in result["epochs"]],
        samples_per_sec=[e["samples_per_sec"] for e in result["epochs"]],
    )

    assert result["status"] == "succeeded" and result["device"].startswith(device.type)
    assert all(math.isfinite(e["train_loss"]) for e in result["epochs"])
    if not QUICK:  # a few batches more are needed to memorise random labels
        assert result["epochs"][1]["train_loss"] < result["epochs"][0]["train_loss"]


POLICIES = [
    {"kind": "FIX", "k0": 0.05},
    {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1},
    {"kind": "EXPGROW", "k0": 0.02, "wd": 5e-4, "momentum": 0.9},
]


@pytest.mark.parametrize("name", ["digits-mlp", "mnist-lenet", "cifar10-resnet20"])
def test_runs_trained_together_on_the_device_match_the_same_runs_one_by_one(name, device, record, monkeypatch, caplog):
    # On CUDA both sides run under bf16 autocast, and vmapped kernels round differently from the
    # engine's: the runs agree to bf16's rounding, grown over the steps, not to float32's.
    if name == "cifar10-resnet20" and device.type == "cpu":
        pytest.skip("vmapped ResNet-20 on the CPU takes minutes; mnist-lenet runs the same path")
    monkeypatch.setattr(batched_module, "BATCH_CONVOLUTIONS_ON_CPU", True)  # the vmapped path on a CPU dry run
    batches = 2 if QUICK else 10
    runs = [
        TrainConfig(
            name,
            policy,
            epochs=2,
            seed=seed,
            device=str(device),
            synthetic=name != "digits-mlp",
            limit_train_batches=None if name == "digits-mlp" and not QUICK else batches,
            limit_test_batches=1,
        )
        for seed, policy in enumerate(POLICIES)
    ]
    caplog.set_level(logging.INFO, logger="trainer.batched")
    together = train_batched(runs)
    fallbacks = [r.getMessage() for r in caplog.records if "one after another" in r.getMessage()]
    alone = [train(config) for config in runs]
    loss_rel = [
        abs(t["epochs"][-1]["train_loss"] - a["epochs"][-1]["train_loss"]) / a["epochs"][-1]["train_loss"]
        for t, a in zip(together, alone, strict=True)
    ]
    acc_diff = [
        abs(t["epochs"][-1]["test_acc"] - a["epochs"][-1]["test_acc"]) for t, a in zip(together, alone, strict=True)
    ]
    record(workload=name, loss_rel=loss_rel, acc_diff=acc_diff, fallbacks=fallbacks)

    assert not fallbacks, fallbacks
    assert [r["status"] for r in together] == [r["status"] for r in alone] == ["succeeded"] * 3
    tolerance = 5e-2 if device.type == "cuda" else 1e-3
    assert max(loss_rel) <= tolerance
    assert max(acc_diff) <= (0.05 if device.type == "cuda" else 0.01)
