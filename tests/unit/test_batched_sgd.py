"""StackedSGD applies torch.optim.SGD's update to each model's slice of stacked tensors."""

from __future__ import annotations

import pytest
import torch

from trainer.functional import StackedSGD

SHAPES = [(5, 3), (3,), (2, 1, 3, 3)]
STEPS = 6


def reference_and_stacked(lrs, momenta, weight_decays, nesterov):
    """Run torch.optim.SGD on each model separately and StackedSGD on the stack, from the same start."""
    g = torch.Generator().manual_seed(0)
    k = len(lrs)
    start = [torch.randn(k, *shape, generator=g) for shape in SHAPES]
    grads = [[torch.randn(k, *shape, generator=g) for shape in SHAPES] for _ in range(STEPS)]

    separate = [[p[i].clone().requires_grad_() for p in start] for i in range(k)]
    optimizers = [
        torch.optim.SGD(separate[i], lr=lrs[i], momentum=momenta[i], weight_decay=weight_decays[i], nesterov=nesterov)
        for i in range(k)
    ]
    for step in range(STEPS):
        for i in range(k):
            for p, grad in zip(separate[i], grads[step], strict=True):
                p.grad = grad[i].clone()
            optimizers[i].step()

    stacked = [p.clone() for p in start]
    sgd = StackedSGD(stacked, momentum=momenta, weight_decay=weight_decays, nesterov=nesterov)
    for step in range(STEPS):
        sgd.step(grads[step], torch.tensor(lrs))
    expected = [torch.stack([separate[i][j].detach() for i in range(k)]) for j in range(len(SHAPES))]
    return stacked, expected


@pytest.mark.parametrize("nesterov", [False, True])
def test_it_matches_torch_sgd_with_shared_momentum_and_weight_decay(nesterov):
    stacked, expected = reference_and_stacked([0.1, 0.01, 0.5], [0.9] * 3, [5e-4] * 3, nesterov)

    for mine, theirs in zip(stacked, expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)


def test_it_matches_torch_sgd_with_per_model_momentum_and_weight_decay():
    stacked, expected = reference_and_stacked([0.1, 0.05, 0.2], [0.9, 0.0, 0.5], [5e-4, 0.0, 1e-2], False)

    for mine, theirs in zip(stacked, expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)


def test_it_matches_plain_sgd_without_momentum_or_weight_decay():
    stacked, expected = reference_and_stacked([0.1, 0.3], [0.0, 0.0], [0.0, 0.0], False)

    for mine, theirs in zip(stacked, expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)
