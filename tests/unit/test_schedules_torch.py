"""Kinds with a torch.optim.lr_scheduler equivalent agree with it, step by step;
as_lr_scheduler drives a real optimizer."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim import lr_scheduler as sched

from trainer.schedules import as_lr_scheduler, build

STEPS = 300


def torch_lrs(base_lr: float, make, steps: int = STEPS) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def policy_lrs(spec: dict, steps: int = STEPS) -> list[float]:
    policy = build(spec)
    return [policy.lr_at(i, 1) for i in range(steps)]


def assert_same(ours: list[float], theirs: list[float]) -> None:
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15), f"step {i}: {a} != {b}"


EQUIVALENTS = {
    "FIX": ({"kind": "FIX", "k0": 0.05}, 0.05, lambda o: sched.ConstantLR(o, factor=1.0, total_iters=10)),
    "STEP": ({"kind": "STEP", "k0": 0.1, "gamma": 0.7, "l": 7}, 0.1, lambda o: sched.StepLR(o, step_size=7, gamma=0.7)),
    "NSTEP": (
        {"kind": "NSTEP", "k0": 0.1, "gamma": 0.3, "l": [20, 50, 120]},
        0.1,
        lambda o: sched.MultiStepLR(o, milestones=[20, 50, 120], gamma=0.3),
    ),
    "EXP": ({"kind": "EXP", "k0": 0.1, "gamma": 0.98}, 0.1, lambda o: sched.ExponentialLR(o, gamma=0.98)),
    "POLY": (
        {"kind": "POLY", "k0": 0.1, "p": 2.0, "l": 150},
        0.1,
        lambda o: sched.PolynomialLR(o, total_iters=150, power=2.0),
    ),
    "POLY-sqrt": (
        {"kind": "POLY", "k0": 0.1, "p": 0.5, "l": 150},
        0.1,
        lambda o: sched.PolynomialLR(o, total_iters=150, power=0.5),
    ),
    "LINEAR": (
        {"kind": "LINEAR", "k0": 0.01, "k1": 0.1, "l": 40},
        0.1,
        lambda o: sched.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=40),
    ),
    "COS": (
        {"kind": "COS", "k0": 0.001, "k1": 0.1, "l": 50},
        0.1,
        lambda o: sched.CosineAnnealingLR(o, T_max=50, eta_min=0.001),
    ),
    "COSRSW": (
        {"kind": "COSRSW", "k0": 0.001, "k1": 0.1, "l": 45},
        0.1,
        lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=45, eta_min=0.001),
    ),
}
for mode, kind, extra in [
    ("triangular", "TRI", {}),
    ("triangular2", "TRI2", {}),
    ("exp_range", "TRIEXP", {"gamma": 0.995}),
]:
    EQUIVALENTS[kind] = (
        {"kind": kind, "k0": 0.01, "k1": 0.1, "l": 25, **extra},
        0.05,
        lambda o, mode=mode, extra=extra: sched.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=25, mode=mode, cycle_momentum=False, **extra
        ),
    )


@pytest.mark.parametrize("name", EQUIVALENTS)
def test_kind_matches_its_torch_scheduler_at_every_step(name):
    spec, base_lr, make = EQUIVALENTS[name]
    assert_same(policy_lrs(spec), torch_lrs(base_lr, make))


@pytest.mark.parametrize(
    "total, pct_start, anneal, div_factor, final_div_factor",
    [(300, 0.3, "cos", 25.0, 1e4), (250, 0.25, "linear", 10.0, 100.0), (301, 0.45, "cos", 5.0, 1e3)],
)
def test_onecycle_matches_torch_onecycle_at_every_step(total, pct_start, anneal, div_factor, final_div_factor):
    spec = {
        "kind": "ONECYCLE",
        "max_lr": 0.4,
        "total": total,
        "pct_start": pct_start,
        "anneal": anneal,
        "div_factor": div_factor,
        "final_div_factor": final_div_factor,
        "unit": "iteration",
    }

    def make(o):
        return sched.OneCycleLR(
            o,
            max_lr=0.4,
            total_steps=total,
            pct_start=pct_start,
            anneal_strategy=anneal,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            cycle_momentum=False,
        )

    assert_same(policy_lrs(spec, total), torch_lrs(0.4, make, total))


def test_as_lr_scheduler_sets_every_param_group_to_the_policy_each_iteration():
    spec = {"kind": "COSRSW", "k0": 0.001, "k1": 0.1, "l": 1.5}
    policy = build(spec)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 5.0}], lr=1.0)
    scheduler = as_lr_scheduler(optimizer, spec, steps_per_epoch=10)
    for i in range(60):
        expected = policy(i / 10)
        assert [g["lr"] for g in optimizer.param_groups] == [expected, expected]
        assert scheduler.get_last_lr() == [expected, expected]
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()


def test_as_lr_scheduler_counts_iterations_for_a_policy_in_iterations():
    spec = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 3, "unit": "iteration"}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = as_lr_scheduler(optimizer, spec, steps_per_epoch=100)
    seen = []
    for _ in range(7):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_as_lr_scheduler_resumes_from_its_state_dict():
    spec = {"kind": "EXP", "k0": 0.1, "gamma": 0.9}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = as_lr_scheduler(optimizer, spec, steps_per_epoch=2)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    assert state["spec"]["kind"] == "EXP" and "policy" not in state
    resumed = as_lr_scheduler(torch.optim.SGD([param], lr=1.0), {"kind": "FIX", "k0": 1.0})
    resumed.load_state_dict(state)
    resumed.optimizer.step()
    resumed.step()
    assert resumed.get_last_lr() == [pytest.approx(0.1 * 0.9**3)]


def test_as_lr_scheduler_refuses_a_bad_steps_per_epoch():
    param = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError):
        as_lr_scheduler(torch.optim.SGD([param], lr=1.0), {"kind": "FIX", "k0": 0.1}, steps_per_epoch=0)
