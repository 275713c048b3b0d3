"""What a TrainConfig can choose besides workload and policy: optimizer, workload options, policy objects."""

import math

import pytest
import torch

from trainer.engine import TrainConfig, train, validate
from trainer.schedules import build

FIX = {"kind": "FIX", "k0": 0.05}
DIGITS_STEPS_PER_EPOCH = 45


def digits(policy=FIX, epochs: int = 1, **kwargs) -> TrainConfig:
    return TrainConfig(workload="digits-mlp", policy=policy, epochs=epochs, device="cpu", **kwargs)


@pytest.fixture
def steps(monkeypatch):
    """Every optimizer step taken: (optimizer class name, [its param groups' settings])."""
    taken = []
    for cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        original = cls.step

        def recording(self, *args, _original=original, **kwargs):
            groups = [
                {k: v for k, v in g.items() if k != "params"} | {"n": len(g["params"])} for g in self.param_groups
            ]
            taken.append((type(self).__name__, groups))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "step", recording)
    return taken


@pytest.mark.parametrize(
    ("override", "cls", "expected"),
    [
        ({"nesterov": True}, "SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
        ({"name": "adam"}, "Adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
        (
            {"name": "adamw", "weight_decay": 0.05, "betas": [0.8, 0.99]},
            "AdamW",
            {"betas": (0.8, 0.99), "eps": 1e-8, "weight_decay": 0.05},
        ),
    ],
)
def test_the_optimizer_override_chooses_the_torch_optimizer_and_its_settings(steps, override, cls, expected):
    result = train(digits({"kind": "FIX", "k0": 0.01}, optimizer=override))

    assert {name for name, _ in steps} == {cls}
    ((group,),) = {tuple(tuple(sorted(g.items())) for g in groups) for _, groups in steps}
    assert dict(group) | expected == dict(group)
    assert result["optimizer"]["name"] == override.get("name", "sgd")
    assert result["epochs"][0]["test_acc"] > 0.5  # it trained


def test_adam_gets_the_policys_lr_at_every_iteration(steps):
    policy = {"kind": "STEP", "k0": 0.01, "gamma": 0.5, "l": 1}

    train(digits(policy, epochs=2, optimizer={"name": "adam"}))

    lr_at = build(policy).lr_at
    assert [groups[0]["lr"] for _, groups in steps] == [lr_at(i, DIGITS_STEPS_PER_EPOCH) for i in range(90)]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "lion"}, "optimizer.name"),
        ({"momentum": -0.1}, "optimizer.momentum"),
        ({"name": "adamw", "betas": [0.9, 1.0]}, "optimizer.betas"),
        ({"name": "adam", "nesterov": True}, "optimizer.nesterov"),
        ("adam", "optimizer must be an object"),
    ],
)
def test_bad_optimizer_settings_are_rejected_before_any_work_naming_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        validate(digits(optimizer=override))


def test_li_arora_policies_train_with_sgd_without_weight_decay_even_when_the_optimizer_says_otherwise():
    exponential = {"kind": "EXPGROW", "k0": 0.05, "wd": 5e-4, "momentum": 0.8}

    result = train(digits(exponential, optimizer={"weight_decay": 1e-3, "nesterov": True}))

    assert result["optimizer"] == {"name": "sgd", "momentum": 0.8, "weight_decay": 0.0, "nesterov": True}
    with pytest.raises(ValueError, match="optimizer.name"):
        validate(digits(exponential, optimizer={"name": "adam"}))


def test_input_lr_scale_is_applied_to_the_input_layers_lr_at_every_iteration(steps):
    policy = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1}
    options = {"depth": 2, "width": 32, "input_lr_scale": 0.25}

    result = train(
        TrainConfig(
            workload="gauss2-mlp",
            policy=policy,
            epochs=2,
            device="cpu",
            workload_options=options,
            limit_train_batches=10,
        )
    )

    lr_at = build(policy).lr_at
    expected = [lr_at(i, 10) for i in range(20)]
    assert [[g["lr"] for g in groups] for _, groups in steps] == [[0.25 * lr, lr] for lr in expected]
    assert [g["n"] for g in steps[0][1]] == [2, 4]  # fc1's weight and bias; fc2 and fc3
    assert expected[0] != expected[-1]  # the scale follows the schedule
    assert [e["lr_first"] for e in result["epochs"]] == [0.1, 0.05]  # the policy's LR is what is reported
    assert result["workload_options"] == options


def test_depth_and_width_options_reach_the_model(tmp_path):
    from trainer import checkpoint

    path = tmp_path / "run.pt"
    train(
        TrainConfig(
            workload="mnist-mlp",
            policy=FIX,
            epochs=1,
            device="cpu",
            synthetic=True,
            limit_train_batches=1,
            limit_test_batches=1,
            workload_options={"depth": 3, "width": 48},
            checkpoint_path=str(path),
        )
    )

    weights = {k: tuple(v.shape) for k, v in checkpoint.load(path)["model"].items() if k.endswith("weight")}
    assert weights == {"fc1.weight": (48, 784), "fc2.weight": (48, 48), "fc3.weight": (48, 48), "fc4.weight": (10, 48)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"workload_options": {"depth": 0}}, "workload_options.depth"),
        ({"workload_options": {"colour": "red"}}, "workload_options.colour"),
        ({"synthetic": "yes"}, "synthetic"),
        ({"compile": 1}, "compile"),
        ({"resume": None}, "resume"),
        ({"limit_train_batches": 0}, "limit_train_batches"),
        ({"limit_test_batches": 2.0}, "limit_test_batches"),
        ({"seed": "7"}, "seed"),
        ({"checkpoint_path": ""}, "checkpoint_path"),
    ],
)
def test_bad_config_fields_are_rejected_before_any_work_naming_the_field(changes, field):
    config = TrainConfig(workload="mnist-mlp", policy=FIX, epochs=1, device="cpu", **changes)

    with pytest.raises(ValueError, match=field):
        train(config)


class ConstantPolicy:
    """A built policy that is not from trainer.schedules: anything with lr_at will do."""

    def __init__(self, lr: float):
        self.lr = lr

    def lr_at(self, iteration: int, steps_per_epoch: int) -> float:
        return self.lr


class HalvingOnPlateau(ConstantPolicy):
    """An adaptive stand-in: halves its LR after every epoch whose test loss is no better than the best."""

    def __init__(self, lr: float):
        super().__init__(lr)
        self.best = math.inf
        self.observed: list[tuple[int, float | None, int]] = []

    def observe(self, epoch: int, metrics: dict, total_epochs: int) -> None:
        self.observed.append((epoch, metrics["test_loss"], total_epochs))
        loss = metrics["test_loss"]
        if loss is not None and loss < self.best:
            self.best = loss
        else:
            self.lr /= 2

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.best = state["lr"], state["best"]


def test_a_built_policy_object_is_used_as_it_is():
    result = train(digits(ConstantPolicy(0.03), epochs=1))

    assert result["status"] == "succeeded"
    assert result["epochs"][0]["lr_first"] == result["epochs"][0]["lr_last"] == 0.03
    assert result["policy"] is None  # it has no spec to report


def test_an_adaptive_policy_observes_every_epoch_and_sets_the_next_epochs_lr():
    policy = HalvingOnPlateau(0.2)  # at 0.3 the MLP collapses to chance for good in epoch 3: a divergence
    reported = []

    result = train(digits(policy, epochs=8), on_epoch=reported.append)

    assert result["status"] == "succeeded"
    epochs = result["epochs"]
    assert [(e, loss, total) for e, loss, total in policy.observed] == [(e["epoch"], e["test_loss"], 8) for e in epochs]
    best = math.inf
    for before, after in zip(epochs, epochs[1:], strict=False):
        improved = before["test_loss"] < best
        best = min(best, before["test_loss"])
        assert after["lr_first"] == (before["lr_last"] if improved else before["lr_last"] / 2)
        assert after["lr_first"] == after["lr_last"]  # the LR changes between epochs only
    assert epochs[-1]["lr_last"] < 0.2  # the test loss did stop improving at least once
    assert reported == epochs


def test_an_adaptive_policy_built_from_a_spec_gets_observe_calls(monkeypatch):
    from trainer.schedules import policy as policy_module

    observed = []
    monkeypatch.setattr(
        policy_module.Policy, "observe", lambda self, e, m, total: observed.append((e, total)), raising=False
    )

    train(digits(FIX, epochs=3))

    assert observed == [(1, 3), (2, 3), (3, 3)]
