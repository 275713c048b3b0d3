"""Policy-batched training gives what the same runs give one by one through the engine."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from torch import nn

from trainer import batched as batched_module
from trainer import paths
from trainer.batched import train_batched
from trainer.data import mnist_raw_files_exist
from trainer.engine import TrainConfig, train
from trainer.models import digits_mlp
from trainer.workloads import WORKLOADS

LOSS_RTOL = 1e-4
PARAM_RTOL = 1e-4
TIMING_KEYS = ("seconds", "samples_per_sec")

POLICIES = [
    {"kind": "FIX", "k0": 0.05},
    {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1},
    # Li & Arora's schedules train without weight decay: a batch with per-model weight decay.
    {"kind": "EXPGROW", "k0": 0.02, "wd": 5e-4, "momentum": 0.9},
]


@pytest.fixture
def recorded_models(monkeypatch) -> Callable[[str], list[nn.Module]]:
    """Patch a workload to keep every model it builds; both trainers leave the trained weights in them."""
    built: dict[str, list[nn.Module]] = {}

    def record(name: str) -> list[nn.Module]:
        workload = WORKLOADS[name]
        built[name] = []

        def build_model(**options) -> nn.Module:
            model = workload.build_model(**options)
            built[name].append(model)
            return model

        monkeypatch.setitem(WORKLOADS, name, dataclasses.replace(workload, build_model=build_model))
        return built[name]

    return record


def configs(workload: str, policies: list, epochs: int, seeds: list[int]) -> list[TrainConfig]:
    return [TrainConfig(workload, p, epochs, seed=s, device="cpu") for p, s in zip(policies, seeds, strict=True)]


@pytest.fixture
def train_together(caplog) -> Callable[..., list[dict]]:
    """train_batched, failing the test if it fell back to sequential runs (which would make equality trivial)."""

    def run(runs: list[TrainConfig], **kwargs) -> list[dict]:
        with caplog.at_level(logging.INFO, logger="trainer.batched"):
            results = train_batched(runs, **kwargs)
        assert "one after another" not in caplog.text
        return results

    return run


def assert_same_run(batched: dict, sequential: dict) -> None:
    assert batched.keys() == sequential.keys()
    assert batched["status"] == sequential["status"]
    assert batched["policy"] == sequential["policy"] and batched["optimizer"] == sequential["optimizer"]
    assert len(batched["epochs"]) == len(sequential["epochs"])
    for mine, theirs in zip(batched["epochs"], sequential["epochs"], strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            if key in TIMING_KEYS:
                continue
            if key in ("train_loss", "test_loss", "ac", "cv", "cvac") and value is not None:
                assert mine[key] == pytest.approx(value, rel=LOSS_RTOL, abs=1e-7), key
            else:
                assert mine[key] == value, key  # accuracies, LRs, epoch and iteration counts: exactly
    for key in ("epochs_completed", "iterations", "diverged_epoch", "final_acc", "best_epoch"):
        assert batched["summary"][key] == sequential["summary"][key], key


def assert_same_weights(batched: nn.Module, sequential: nn.Module) -> None:
    for (name, mine), theirs in zip(batched.state_dict().items(), sequential.state_dict().values(), strict=True):
        if mine.is_floating_point():
            scale = theirs.abs().max().clamp(min=1e-12)
            assert (mine - theirs).abs().max() / scale <= PARAM_RTOL, name
        else:
            assert torch.equal(mine, theirs), name


def test_three_digits_runs_trained_together_equal_three_engine_runs(recorded_models, train_together):
    models = recorded_models("digits-mlp")
    runs = configs("digits-mlp", POLICIES, epochs=3, seeds=[0, 1, 2])
    reported: list[tuple[int, dict]] = []

    sequential = [train(c) for c in runs]
    batched = train_together(runs, on_epoch=lambda k, metrics: reported.append((k, metrics)))

    for k in range(3):
        assert_same_run(batched[k], sequential[k])
        assert_same_weights(models[3 + k], models[k])
        assert [m for j, m in reported if j == k] == batched[k]["epochs"]
    assert [r["status"] for r in batched] == ["succeeded"] * 3
    assert batched[0]["epochs"][-1]["test_acc"] >= 0.9
    torch.manual_seed(0)
    assert not torch.equal(models[3].fc1.weight, digits_mlp().fc1.weight)  # trained weights were written back


@pytest.fixture
def vmapped_convolutions(monkeypatch):
    """Batch models with convolutions on the CPU too, where train_batched otherwise runs them one by one."""
    monkeypatch.setattr(batched_module, "BATCH_CONVOLUTIONS_ON_CPU", True)


@pytest.fixture
def in_float64(monkeypatch) -> Callable[[str], None]:
    """Train a workload in float64: its models and its inputs (labels stay int64)."""

    def switch(name: str) -> None:
        workload = WORKLOADS[name]

        def build_model(**options) -> nn.Module:
            return workload.build_model(**options).double()

        def load_data(data_dir):
            x_train, y_train, x_test, y_test = workload.load_data(data_dir)
            return x_train.double(), y_train, x_test.double(), y_test

        doubled = dataclasses.replace(workload, build_model=build_model, load_data=load_data)
        monkeypatch.setitem(WORKLOADS, name, doubled)

    return switch


LENET_POLICIES = [
    {"kind": "FIX", "k0": 0.01},
    {"kind": "STEP", "k0": 0.02, "gamma": 0.5, "l": 1},
    {"kind": "FIX", "k0": 0.05},
]
needs_mnist = pytest.mark.skipif(
    not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not found"
)


def lenet_runs(epochs: int, batches: int) -> list[TrainConfig]:
    return [
        TrainConfig("mnist-lenet", p, epochs, seed=s, device="cpu", limit_train_batches=batches, limit_test_batches=1)
        for p, s in zip(LENET_POLICIES, [9, 10, 11], strict=True)
    ]


@needs_mnist
def test_mnist_lenet_runs_trained_together_equal_engine_runs_in_float64(
    in_float64, recorded_models, vmapped_convolutions, one_cpu_thread, train_together
):
    # In float32 a ReLU or max-pool input within rounding noise of its kink sends a
    # sample's gradient another way, and two correct implementations whose kernels sum
    # in another order (grouped vs plain convolutions; one CPU's SIMD width against
    # another's) part after a few steps. In float64 the noise is 1e-16, so over these
    # 12 steps every trajectory must agree on any machine.
    in_float64("mnist-lenet")
    models = recorded_models("mnist-lenet")
    runs = lenet_runs(epochs=2, batches=6)

    sequential = [train(c) for c in runs]
    results = train_together(runs)

    assert models[0].conv1.weight.dtype == torch.float64  # the check is really made in float64
    for k in range(3):
        assert_same_run(results[k], sequential[k])
        assert_same_weights(models[3 + k], models[k])
    assert results[0]["epochs"][-1]["iterations"] == 12


@needs_mnist
def test_mnist_lenet_first_update_in_float32_equals_the_engines(
    recorded_models, vmapped_convolutions, one_cpu_thread, train_together
):
    # The float32 path itself, over one update from the same weights and batch. A max-pool
    # or ReLU input within rounding noise of its kink may send one sample's gradient another
    # way in the layers below it, so those are held to the weight-scale tolerance; fc2's
    # gradient is a continuous function of the forward pass (nothing above it has a kink),
    # so its update must agree closely: a wrong LR, a gradient mixed between models or a
    # missing update is far outside that.
    runs = lenet_runs(epochs=1, batches=1)
    initial = []
    for run in runs:
        torch.manual_seed(run.seed)  # as the engine seeds a run's initialisation
        initial.append(WORKLOADS["mnist-lenet"].create_model())
    models = recorded_models("mnist-lenet")

    sequential = [train(c) for c in runs]
    results = train_together(runs)

    for k in range(3):
        assert [e["iterations"] for e in results[k]["epochs"]] == [e["iterations"] for e in sequential[k]["epochs"]]
        assert_same_weights(models[3 + k], models[k])
        for name in ("fc2.weight", "fc2.bias"):
            before = initial[k].state_dict()[name]
            theirs = models[k].state_dict()[name] - before
            mine = models[3 + k].state_dict()[name] - before
            assert theirs.abs().max() > 0, name
            assert (mine - theirs).abs().max() <= 1e-4 * theirs.abs().max(), name
    assert results[0]["summary"]["iterations"] == 1 == sequential[0]["summary"]["iterations"]


def test_options_parameter_groups_limits_and_adaptive_policies_are_honoured(recorded_models, train_together):
    # gauss2-mlp's input layer trains at half the LR; PLATEAU halves its LR after epoch 2.
    models = recorded_models("gauss2-mlp")
    plateau = {"kind": "PLATEAU", "k0": 0.05, "patience": 0, "threshold": 0.9, "factor": 0.5}
    options = {"depth": 2, "width": 32, "input_lr_scale": 0.5}
    runs = [
        TrainConfig("gauss2-mlp", p, 3, seed=s, device="cpu", workload_options=options, limit_train_batches=10)
        for p, s in zip([plateau, *POLICIES[:2]], [0, 1, 2], strict=True)
    ]

    sequential = [train(c) for c in runs]
    results = train_together(runs)

    for k in range(3):
        assert_same_run(results[k], sequential[k])
        assert_same_weights(models[3 + k], models[k])
    assert [e["lr_first"] for e in results[0]["epochs"]] == [0.05, 0.05, 0.025]
    assert results[0]["workload_options"] == options and results[0]["summary"]["iterations"] == 30


def batch_norm_net() -> nn.Module:
    # SiLU, not ReLU: a network without kinks, so that float rounding that differs between CPUs'
    # kernels stays rounding (a ReLU input met within rounding noise of 0 parts two trajectories).
    return nn.Sequential(
        OrderedDict(
            image=nn.Unflatten(1, (1, 8, 8)),
            conv=nn.Conv2d(1, 8, kernel_size=3),
            bn2d=nn.BatchNorm2d(8),
            act1=nn.SiLU(),
            flatten=nn.Flatten(),
            fc1=nn.Linear(8 * 6 * 6, 32),
            bn1d=nn.BatchNorm1d(32),
            act2=nn.SiLU(),
            fc2=nn.Linear(32, 10),
        )
    )


def test_batch_norm_models_keep_their_own_running_statistics(
    monkeypatch, recorded_models, vmapped_convolutions, train_together
):
    digits_bn = dataclasses.replace(WORKLOADS["digits-mlp"], name="digits-bn", build_model=batch_norm_net)
    monkeypatch.setitem(WORKLOADS, digits_bn.name, digits_bn)
    models = recorded_models(digits_bn.name)
    runs = configs(digits_bn.name, POLICIES[:2], epochs=2, seeds=[0, 1])

    sequential = [train(c) for c in runs]
    batched = train_together(runs)

    for k in range(2):
        assert_same_run(batched[k], sequential[k])
        assert_same_weights(models[2 + k], models[k])  # running means, variances and counts included
    assert models[2].bn1d.num_batches_tracked.item() == 2 * 45
    assert not torch.allclose(models[2].bn1d.running_mean, models[3].bn1d.running_mean)


def call_counter(true_on_call: int | None) -> Callable[[], bool]:
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) == true_on_call

    return should_stop


def test_a_cancelled_or_diverged_run_leaves_the_batch_and_the_others_go_on(recorded_models, train_together):
    models = recorded_models("digits-mlp")
    runs = configs("digits-mlp", [{"kind": "FIX", "k0": 50.0}, *POLICIES], epochs=3, seeds=[0, 1, 2, 3])
    # Asked before epochs 1, 2 and 3, then at global iteration 100 (inside epoch 3):
    # run 1 stops before epoch 3, run 2 at iteration 100.
    stop_on_call = [None, 3, 4, None]

    sequential = [train(c, should_stop=call_counter(n)) for c, n in zip(runs, stop_on_call, strict=True)]
    batched_rules = [call_counter(n) for n in stop_on_call]
    started = time.perf_counter()
    batched = train_together(runs, should_stop=lambda k: batched_rules[k]())
    wall = time.perf_counter() - started

    assert [r["status"] for r in batched] == ["diverged", "cancelled", "cancelled", "succeeded"]
    assert [r["summary"]["iterations"] for r in batched] == [45, 90, 100, 135]
    assert batched[0]["summary"]["diverged_epoch"] == 1 and batched[0]["epochs"][0]["train_loss"] is None
    for k in range(4):
        assert_same_run(batched[k], sequential[k])
    for k in (1, 2, 3):
        assert_same_weights(models[4 + k], models[k])
    assert math.isfinite(batched[3]["summary"]["final_train_loss"])
    charged = sum(r["summary"]["total_seconds"] for r in batched)
    assert charged <= wall  # shares, also of a cancelled partial epoch


def test_each_run_is_charged_its_share_of_the_batchs_time_not_all_of_it(train_together):
    runs = configs("digits-mlp", POLICIES, epochs=2, seeds=[0, 1, 2])
    started = time.perf_counter()
    batched = train_together(runs)
    wall = time.perf_counter() - started

    totals = [r["summary"]["total_seconds"] for r in batched]
    assert sum(totals) <= wall  # each run reporting the whole batch's time would make this 3x the wall time
    for epoch in range(2):  # the same work on the same data: equal shares
        shares = {r["epochs"][epoch]["seconds"] for r in batched}
        assert len(shares) == 1
    for result, total in zip(batched, totals, strict=True):
        per_epoch = [e["seconds"] for e in result["epochs"]]
        assert total == pytest.approx(sum(per_epoch))
        assert result["summary"]["samples"] == 2 * 1437 and result["summary"]["iterations"] == 2 * 45


@pytest.mark.parametrize(
    ("field", "second"),
    [
        ("workload", TrainConfig("mnist-lenet", POLICIES[0], 3, device="cpu")),
        ("epochs", TrainConfig("digits-mlp", POLICIES[0], 4, device="cpu")),
        ("device", TrainConfig("digits-mlp", POLICIES[0], 3, device="cuda:7")),
        ("data_dir", TrainConfig("digits-mlp", POLICIES[0], 3, device="cpu", data_dir="/elsewhere")),
        ("synthetic", TrainConfig("digits-mlp", POLICIES[0], 3, device="cpu", synthetic=True)),
        ("limit_train_batches", TrainConfig("digits-mlp", POLICIES[0], 3, device="cpu", limit_train_batches=5)),
    ],
)
def test_configs_must_share_everything_but_policy_seed_and_optimizer(field, second):
    first = TrainConfig("digits-mlp", POLICIES[1], 3, device="cpu")

    with pytest.raises(ValueError, match=field):
        train_batched([first, second])


def test_no_configs_train_nothing():
    assert train_batched([]) == []


def test_a_model_with_dropout_falls_back_to_sequential_runs_and_says_so(monkeypatch, caplog):
    def dropout_mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))

    digits_dropout = dataclasses.replace(WORKLOADS["digits-mlp"], name="digits-dropout", build_model=dropout_mlp)
    monkeypatch.setitem(WORKLOADS, digits_dropout.name, digits_dropout)
    runs = configs(digits_dropout.name, POLICIES[:2], epochs=1, seeds=[0, 1])
    reported = []

    with caplog.at_level(logging.INFO, logger="trainer.batched"):
        batched = train_batched(runs, on_epoch=lambda k, metrics: reported.append(k))

    assert "dropout" in caplog.text and "one after another" in caplog.text
    assert reported == [0, 1]
    for run, result in zip(runs, batched, strict=True):
        assert_same_run(result, train(run))


def test_on_the_cpu_models_with_convolutions_train_one_after_another(monkeypatch, caplog):
    digits_bn = dataclasses.replace(WORKLOADS["digits-mlp"], name="digits-bn", build_model=batch_norm_net)
    monkeypatch.setitem(WORKLOADS, digits_bn.name, digits_bn)
    runs = configs(digits_bn.name, POLICIES[:2], epochs=1, seeds=[0, 1])

    with caplog.at_level(logging.INFO, logger="trainer.batched"):
        results = train_batched(runs)

    assert "convolutions" in caplog.text and "one after another" in caplog.text
    for run, result in zip(runs, results, strict=True):
        assert_same_run(result, train(run))


class StepLossPolicy:
    """A built policy whose LR follows every step's loss, as the engine's per-iteration hook feeds it."""

    needs_step_loss = True

    def __init__(self) -> None:
        self.losses: list[float] = []

    def lr_at(self, iteration: int, steps_per_epoch: int) -> float:
        return 0.05 if not self.losses or self.losses[-1] > 1.0 else 0.01

    def observe_step(self, iteration: int, loss: float) -> None:
        self.losses.append(loss)


def test_policies_fed_every_steps_loss_train_one_after_another(caplog):
    policies = [StepLossPolicy(), StepLossPolicy()]
    runs = configs("digits-mlp", policies, epochs=1, seeds=[0, 1])

    with caplog.at_level(logging.INFO, logger="trainer.batched"):
        results = train_batched(runs)

    assert "every step's loss" in caplog.text and "one after another" in caplog.text
    assert [r["status"] for r in results] == ["succeeded"] * 2
    assert all(len(p.losses) == 45 for p in policies)


def test_a_batched_run_checkpoints_every_epoch_and_the_engine_resumes_it_alone(tmp_path, train_together):
    runs = [
        dataclasses.replace(config, checkpoint_path=str(tmp_path / f"run-{k}.pt"))
        for k, config in enumerate(configs("digits-mlp", POLICIES, epochs=4, seeds=[0, 1, 2]))
    ]
    stored: list[tuple[int, int]] = []
    epochs_seen = [0, 0, 0]

    def count(k: int, metrics: dict) -> None:
        epochs_seen[k] = metrics["epoch"]

    # The worker dies after epoch 2: every run stops there, its checkpoint on disk.
    train_together(
        runs,
        on_epoch=count,
        should_stop=lambda k: epochs_seen[k] == 2,
        on_checkpoint=lambda k, path: stored.append((k, torch.load(path, weights_only=False)["epoch"])),
    )
    assert sorted(stored) == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]

    resumed = [train(config) for config in runs]  # another worker: the engine, one run at a time
    uninterrupted = [train(dataclasses.replace(config, checkpoint_path=None)) for config in runs]

    for k in range(3):
        assert resumed[k]["resumed_from_epoch"] == 2
        assert [e["epoch"] for e in resumed[k]["epochs"]] == [1, 2, 3, 4]
        for mine, theirs in zip(resumed[k]["epochs"], uninterrupted[k]["epochs"], strict=True):
            assert mine["test_acc"] == pytest.approx(theirs["test_acc"], abs=2 / 360), k  # within a sample or two
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=LOSS_RTOL), k
