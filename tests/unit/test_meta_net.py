"""MLR-SNet's meta-learner and γ: the architecture of papers.md §3, in torch and in the schedule's numpy replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainer.mlrsnet import MLRSNet, gamma_from_loss, learner_state, load_learner
from trainer.schedules.learned import LEARNER_SHAPES, LearnerNet, decode_learner


def seeded_net(seed: int) -> MLRSNet:
    torch.manual_seed(seed)
    return MLRSNet()


def test_the_net_has_the_papers_11776_parameters_named_as_the_spec_declares_them():
    net = MLRSNet()
    assert sum(p.numel() for p in net.parameters()) == 11_776
    assert {name: tuple(t.shape) for name, t in net.state_dict().items()} == LEARNER_SHAPES


def test_it_maps_any_loss_to_a_fraction_strictly_between_0_and_1_and_carries_its_state():
    net = seeded_net(0)
    state = None
    fractions = []
    for loss in [2.3, 1.0, 0.5, 0.1, 1e-4, 0.0, 7.0]:
        fraction, state = net(torch.tensor(loss), state)
        fractions.append(fraction.item())
        assert fraction.shape == () and 0.0 < fraction.item() < 1.0
        assert state[0].shape == state[1].shape == (50,) and not state[0].requires_grad
    assert len(set(fractions)) == len(fractions)  # the output follows the loss and the state


def test_the_forget_gate_carries_a_minus_one_bias():
    net = MLRSNet()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # every gate's pre-activation is 0: only the built-in bias is left
    _, (h, c) = net(torch.tensor(1.0), (torch.zeros(50), torch.ones(50)))
    forget = torch.sigmoid(torch.tensor(-1.0))
    assert torch.allclose(c, forget.expand(50))  # c' = σ(0 - 1)·c + σ(0)·tanh(0)
    assert torch.allclose(h, torch.sigmoid(torch.tensor(0.0)) * torch.tanh(c))


def test_the_gradient_reaches_the_net_only_through_this_steps_fraction():
    net = seeded_net(1)
    _, state = net(torch.tensor(2.0))
    fraction, _ = net(torch.tensor(1.5), state)
    fraction.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.head.weight.grad.abs().sum() > 0


def test_the_schedules_numpy_replay_computes_what_the_torch_net_computes():
    net = seeded_net(2)
    replay = LearnerNet(decode_learner(learner_state(net)))
    h, c = np.zeros(50), np.zeros(50)
    state = None
    for loss in [2.3, 2.0, 1.2, 0.7, 0.3, 0.05]:
        fraction, state = net(torch.tensor(loss), state)
        replayed, h, c = replay.step(loss, h, c)
        assert replayed == pytest.approx(fraction.item(), abs=1e-6)
        assert np.allclose(h, state[0].numpy(), atol=1e-6) and np.allclose(c, state[1].numpy(), atol=1e-6)


def test_a_learner_state_is_json_and_loads_back_bit_for_bit():
    net = seeded_net(3)
    state = learner_state(net)
    assert state["format"] == "mlrsnet-1" and state["tensors"]["head.weight"]["shape"] == [1, 50]
    again = load_learner(state)
    for name, tensor in net.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor)


def test_gamma_is_about_0_669_for_cifar_10s_initial_loss():
    assert gamma_from_loss(math.log(10), 10) == pytest.approx(0.669, abs=5e-4)


@pytest.mark.parametrize(
    ("loss", "classes", "expected"),
    [
        (0.05, 10, 0.0217898),  # L0·C = 0.5 < 1: ln is negative, γ its absolute value
        (math.log(100), 100, 1.0403747),  # sqrt(4.6052)·ln(460.52) / 100^(1/4) / 4 = 2.1460·6.1324/3.1623/4
        (0.1, 10, 0.0),  # L0·C = 1: the formula's zero
        (0.0, 10, 0.0),  # the limit of sqrt(L)·ln(L·C) at L = 0
    ],
)
def test_gamma_by_hand(loss, classes, expected):
    assert gamma_from_loss(loss, classes) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("loss", "classes"), [(-0.1, 10), (math.nan, 10), (math.inf, 10), (1.0, 1), (1.0, True)])
def test_gamma_refuses_a_negative_or_non_finite_loss_and_fewer_than_two_classes(loss, classes):
    with pytest.raises(ValueError):
        gamma_from_loss(loss, classes)
