"""Adaptive kinds: PLATEAU is torch's ReduceLROnPlateau; SWITCH moves along an ordered list of policies."""

from __future__ import annotations

import json
import math
import pickle
import random

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from trainer.schedules import SpecError, as_lr_scheduler, build, curve, validate

EPOCHS = 400
METRIC_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")


def report(value: float | None, key: str = "test_loss") -> dict:
    """An epoch dict as the engine reports it: the other metrics are there too."""
    return {**dict.fromkeys(METRIC_KEYS, 0.5), key: value}


def noisy_metric(seed: int, rising: bool) -> list[float | None]:
    """A loss (or accuracy) that improves, stalls, improves again; ties and None (non-finite) included."""
    rng = random.Random(seed)
    values: list[float | None] = []
    level = 2.0
    for epoch in range(EPOCHS):
        if epoch % 60 < 25:
            level *= 0.97
        value = round(level * (1.0 + rng.uniform(-0.02, 0.02)), 3)  # rounding makes ties with the best
        values.append(None if rng.random() < 0.02 else (1.0 - value / 2.0 if rising else value))
    return values


def torch_lrs(k0: float, values: list[float | None], **kwargs) -> list[float]:
    """The LR after each epoch's scheduler.step(metric)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=k0)
    scheduler = ReduceLROnPlateau(optimizer, **kwargs)
    lrs = []
    for value in values:
        scheduler.step(math.nan if value is None else value)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


PLATEAU_CASES = {
    "min-rel": {"mode": "min", "patience": 5},
    "min-abs": {"mode": "min", "threshold": 0.01, "threshold_mode": "abs", "patience": 3},
    "max-rel": {"mode": "max", "threshold": 1e-3, "patience": 4, "factor": 0.5},
    "max-abs-cooldown": {"mode": "max", "threshold": 2e-3, "threshold_mode": "abs", "patience": 2, "cooldown": 4},
    "min-cooldown-min_lr": {"mode": "min", "patience": 2, "cooldown": 3, "factor": 0.3, "min_lr": 0.004},
    "min-eps": {"mode": "min", "patience": 1, "factor": 0.5, "eps": 1e-3},
    "no-patience": {"mode": "min", "patience": 0, "factor": 0.9},
}


@pytest.mark.parametrize("name", PLATEAU_CASES)
def test_plateau_gives_torchs_lr_after_every_epoch(name):
    settings = PLATEAU_CASES[name]
    values = noisy_metric(seed=len(name), rising=settings["mode"] == "max")
    policy = build({"kind": "PLATEAU", "k0": 0.1, "monitor": "test_loss", **settings})
    ours = []
    for epoch, value in enumerate(values, start=1):
        before = policy(epoch - 0.5)
        policy.observe(epoch, report(value), EPOCHS)
        assert policy(epoch - 0.5) == before  # an observation changes the LR from t = epoch on only
        ours.append(policy(epoch))
    theirs = torch_lrs(0.1, values, **settings)
    assert ours == theirs
    assert len(set(theirs)) >= 3  # the comparison saw several reductions


def test_plateau_stops_at_min_lr_as_torch_does():
    settings = PLATEAU_CASES["min-cooldown-min_lr"]
    policy = build({"kind": "PLATEAU", "k0": 0.1, **settings})
    for epoch in range(1, 60):
        policy.observe(epoch, report(1.0), 60)  # never improves after the first epoch
    assert policy(60) == 0.004 == torch_lrs(0.1, [1.0] * 59, **settings)[-1]


def test_plateau_in_auto_mode_maximises_an_accuracy():
    values = noisy_metric(seed=3, rising=True)
    policy = build({"kind": "PLATEAU", "k0": 0.1, "monitor": "test_acc", "patience": 4})
    assert policy.spec["mode"] == "auto"
    ours = []
    for epoch, value in enumerate(values, start=1):
        policy.observe(epoch, report(value, "test_acc"), EPOCHS)
        ours.append(policy(epoch))
    assert ours == torch_lrs(0.1, values, mode="max", patience=4) != torch_lrs(0.1, values, mode="min", patience=4)


def test_plateau_watches_only_its_monitored_metric():
    policy = build({"kind": "PLATEAU", "k0": 0.1, "monitor": "train_loss", "patience": 0})
    for epoch in range(1, 6):
        policy.observe(epoch, {**report(1.0 / epoch), "train_loss": 1.0 / epoch}, 10)
    assert policy(6) == 0.1  # train_loss kept improving
    policy.observe(6, {**report(0.01), "train_loss": 1.0}, 10)
    assert policy(6) == pytest.approx(0.01)


def test_a_missing_or_none_metric_is_not_an_improvement():
    policy = build({"kind": "PLATEAU", "k0": 0.1, "patience": 1})
    policy.observe(1, report(1.0), 10)
    policy.observe(2, report(None), 10)
    policy.observe(3, {}, 10)
    assert policy(3) == pytest.approx(0.01)


def test_a_metric_reported_as_a_zero_dim_tensor_counts_as_its_value():
    policy = build({"kind": "PLATEAU", "k0": 0.1, "patience": 0})
    policy.observe(1, report(torch.tensor(1.0)), 5)
    policy.observe(2, report(torch.tensor(0.5)), 5)
    assert policy(2) == 0.1 and policy.state_dict()["best"] == 0.5


def test_lr_at_gives_the_new_lr_from_the_first_iteration_of_the_next_epoch():
    policy = build({"kind": "PLATEAU", "k0": 0.1, "patience": 0})
    policy.observe(1, report(1.0), 5)
    policy.observe(2, report(1.0), 5)
    assert policy.lr_at(2 * 391 - 1, 391) == 0.1 and policy.lr_at(2 * 391, 391) == pytest.approx(0.01)


def test_observe_refuses_an_epoch_already_observed_or_a_bad_total():
    policy = build({"kind": "PLATEAU", "k0": 0.1})
    policy.observe(1, report(1.0), 5)
    for epoch, total in [(1, 5), (0, 5), (2.0, 5), (2, 0), (2, None)]:
        with pytest.raises(ValueError):
            policy.observe(epoch, report(1.0), total)


def test_only_adaptive_policies_observe():
    fixed = build({"kind": "FIX", "k0": 0.1})
    assert fixed.adaptive is False and not hasattr(fixed, "observe")
    assert build({"kind": "PLATEAU", "k0": 0.1}).adaptive is True


# SWITCH

LADDER = [{"kind": "FIX", "k0": 0.3}, {"kind": "FIX", "k0": 0.1}, {"kind": "FIX", "k0": 0.01}]


def switch(**settings) -> dict:
    return {"kind": "SWITCH", "policies": LADDER, "initial": 2, "patience": 1, "cooldown": 0, **settings}


def run(policy, values: list[float], total: int) -> list[list]:
    for epoch, value in enumerate(values, start=1):
        policy.observe(epoch, report(value), total)
    return policy.state_dict()["changes"]


STALLS = [3.0, 2.0, 1.0] + [1.0] * 17  # improves up to epoch 3, then never again


def test_switch_moves_up_before_the_switch_point_and_down_after():
    policy = build(switch())
    # Plateaus at 5 and 8 (the best is forgotten at each switch) move up; 11, 13, 15: already at the
    # largest LR; 17 >= 0.8·20 moves down, and so does 20.
    assert run(policy, STALLS, total=20) == [[0, 2], [5, 1], [8, 0], [17, 1], [20, 2]]
    assert [policy(t) for t in (4.9, 5, 8, 16.9, 17, 20)] == [0.01, 0.1, 0.3, 0.3, 0.1, 0.01]


def test_switch_waits_its_cooldown_after_a_switch():
    policy = build(switch(cooldown=3))
    assert run(policy, STALLS[:12], total=20)[:3] == [[0, 2], [5, 1], [10, 0]]  # 8 without the cooldown


def test_switch_point_zero_only_ever_moves_down():
    policy = build(switch(initial=0, switch_point=0.0))
    assert run(policy, STALLS[:9], total=20) == [[0, 0], [5, 1], [8, 2]]


def test_each_policy_starts_its_own_clock_when_it_becomes_active():
    step = {"kind": "STEP", "k0": 0.5, "gamma": 0.5, "l": 2}
    policy = build(switch(policies=[step, {"kind": "FIX", "k0": 0.1}], initial=1))
    run(policy, STALLS[:5], total=20)
    assert [policy(t) for t in (4.5, 5, 6.9, 7, 9)] == [0.1, 0.5, 0.5, 0.25, 0.125]


def test_switch_state_round_trips_through_json_and_goes_on_identically():
    spec = switch(patience=2, cooldown=1)
    rng = random.Random(7)
    values = [rng.choice([1.0, 0.9, 0.95, None]) for _ in range(80)]
    original = build(spec)
    run(original, values[:40], total=80)
    resumed = build(spec)
    resumed.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert [resumed(t / 4) for t in range(200)] == [original(t / 4) for t in range(200)]
    for epoch, value in enumerate(values[40:], start=41):
        original.observe(epoch, report(value), 80)
        resumed.observe(epoch, report(value), 80)
    assert resumed.state_dict() == original.state_dict() and len(original.state_dict()["changes"]) > 3


def test_an_adaptive_policy_pickles_with_what_it_observed():
    policy = build(switch())
    run(policy, STALLS[:9], total=20)
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.state_dict() == policy.state_dict() and clone(9) == policy(9) == 0.3


@pytest.mark.parametrize(
    "state",
    [
        None,
        {"kind": "PLATEAU"},
        {"kind": "SWITCH", "last_epoch": 3, "best": None, "bad_epochs": 0, "cooldown_left": 0, "changes": []},
        {"kind": "SWITCH", "last_epoch": 3, "best": None, "bad_epochs": 0, "cooldown_left": 0, "changes": [[0, 7]]},
        {"kind": "SWITCH", "last_epoch": 3, "best": "x", "bad_epochs": 0, "cooldown_left": 0, "changes": [[0, 2]]},
        {"kind": "SWITCH", "last_epoch": 3, "best": 1.0, "bad_epochs": 0, "cooldown_left": 0, "changes": [[0, 1]]},
        {
            "kind": "SWITCH",
            "last_epoch": 3,
            "best": 1.0,
            "bad_epochs": 0,
            "cooldown_left": 0,
            "changes": [[0, 2], [5, 1]],
        },
    ],
)
def test_load_state_dict_refuses_a_state_of_another_policy(state):
    policy = build(switch())
    with pytest.raises(ValueError):
        policy.load_state_dict(state)
    assert policy.state_dict()["changes"] == [[0, 2]]  # unchanged


def test_the_torch_adapter_keeps_what_an_adaptive_policy_observed():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = as_lr_scheduler(optimizer, switch(), steps_per_epoch=2)
    run(scheduler.policy, STALLS[:9], total=20)
    state = scheduler.state_dict()
    resumed = as_lr_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), switch())
    resumed.load_state_dict(state)
    assert resumed.policy.state_dict() == scheduler.policy.state_dict()


# Preview


def test_a_preview_of_an_adaptive_kind_states_its_assumption_and_shows_the_steps():
    result = curve({"kind": "PLATEAU", "k0": 0.1, "patience": 3}, 30, points=31)
    assert "assumption" in result and "test_loss" in result["assumption"] and "epoch 6" in result["assumption"]
    # improves up to epoch 6; epochs 7-10 do not, so the plateau after epoch 10 applies from t = 10
    assert result["lr"][:10] == [0.1] * 10 and result["lr"][10] == pytest.approx(0.01)
    assert len(set(result["lr"])) >= 4


def test_a_preview_of_switch_shows_it_moving_up_then_down():
    result = curve(switch(), 30, points=301)
    assert "switch point: epoch 24" in result["assumption"]
    lr = dict(zip(result["t"], result["lr"], strict=True))
    # no improvement after epoch 6: plateaus after epochs 8 and 10 move up, 12 to 22 find no larger LR,
    # 24 (the switch point) and 26 move down
    assert [lr[t] for t in (7.9, 8.0, 9.9, 10.0, 23.9, 24.0, 25.9, 26.0, 30.0)] == [
        0.01,
        0.1,
        0.1,
        0.3,
        0.3,
        0.1,
        0.1,
        0.01,
        0.01,
    ]


def test_a_preview_is_deterministic_and_does_not_touch_the_policy_it_was_given():
    policy = build({"kind": "PLATEAU", "k0": 0.1, "patience": 0})
    assert curve(policy, 20) == curve(policy.spec, 20)
    assert policy.state_dict()["last_epoch"] == 0


def test_a_preview_of_a_kind_that_is_not_adaptive_has_no_assumption():
    assert "assumption" not in curve({"kind": "FIX", "k0": 0.1}, 5)


# Validation


def errors_of(spec) -> dict[str, list[str]]:
    with pytest.raises(SpecError) as caught:
        validate(spec)
    return caught.value.errors


def test_plateau_fills_torchs_defaults():
    spec = validate({"kind": "PLATEAU", "k0": 0.1})
    assert {k: spec[k] for k in ("factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")} == {
        "factor": 0.1,
        "patience": 10,
        "threshold": 1e-4,
        "threshold_mode": "rel",
        "cooldown": 0,
        "min_lr": 0.0,
        "eps": 1e-8,
    }
    assert (spec["monitor"], spec["mode"], spec["unit"]) == ("test_loss", "auto", "epoch")


@pytest.mark.parametrize(
    "spec, path",
    [
        ({"kind": "PLATEAU", "k0": 0.1, "factor": 1.0}, "factor"),
        ({"kind": "PLATEAU", "k0": 0.1, "patience": -1}, "patience"),
        ({"kind": "PLATEAU", "k0": 0.1, "patience": 2.5}, "patience"),
        ({"kind": "PLATEAU", "k0": 0.1, "monitor": "val_loss"}, "monitor"),
        ({"kind": "PLATEAU", "k0": 0.1, "mode": "median"}, "mode"),
        ({"kind": "PLATEAU", "k0": 0.1, "unit": "iteration"}, "unit"),
        (switch(policies=[LADDER[0], {"kind": "FIX", "k0": "x"}]), "policies.1.k0"),
        (switch(policies=[LADDER[0], {"kind": "STEP", "k0": 0.1, "gamma": 0.5}]), "policies.1.l"),
        (switch(policies=[LADDER[2], LADDER[0]], initial=0), "policies.1"),
        (switch(policies=[LADDER[0]], initial=0), "policies"),
        (switch(policies=LADDER * 6), "policies"),
        (switch(initial=3), "initial"),
        (switch(switch_point=1.5), "switch_point"),
        (switch(policies=[switch(), LADDER[0]]), "policies.0.kind"),
        (
            {"kind": "PIECEWISE", "boundaries": [5], "stages": [LADDER[0], {"kind": "PLATEAU", "k0": 0.1}]},
            "stages.1.kind",
        ),
        ({"kind": "NOWD", "base": {"kind": "PLATEAU", "k0": 0.1}, "unit": "iteration"}, "base.kind"),
    ],
)
def test_invalid_adaptive_specs_name_the_field(spec, path):
    assert path in errors_of(spec)


def test_nesting_inside_switch_is_bounded():
    deep = LADDER[0]
    for _ in range(3):
        deep = {"kind": "PIECEWISE", "boundaries": [1], "stages": [deep, LADDER[0]]}
    assert list(errors_of(switch(policies=[deep, LADDER[2]], initial=0))) == ["policies.0.stages.0.stages.0.kind"]
