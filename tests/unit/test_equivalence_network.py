"""ScaleInvariantMLP: the loss is a function of the trained weights' directions only."""

import pytest
import torch
import torch.nn.functional as F

from trainer.scale_invariant import ScaleInvariantMLP, scale_invariant_preresnet32, trained_parameters

SCALES = [1e-3, 0.37, 3.7, 1e3]


@pytest.fixture
def net():
    torch.manual_seed(0)
    return ScaleInvariantMLP(64, 32, 10).double()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(48, 64, dtype=torch.float64, generator=generator), torch.arange(48) % 10


def outputs_after_scaling(net, x, params, c):
    with torch.no_grad():
        saved = [p.clone() for p in params]
        for p in params:
            p.mul_(c)
        out = net(x)
        for p, value in zip(params, saved, strict=True):
            p.copy_(value)
    return out


def test_the_trained_weights_are_the_linear_layers_only_and_the_head_is_fixed(net):
    trained = trained_parameters(net)

    assert [tuple(p.shape) for p in trained] == [(32, 64), (32, 32)]
    assert not any(p.requires_grad for p in net.head.parameters())


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("layer", [0, 1])
def test_scaling_one_weight_matrix_leaves_the_outputs_unchanged(net, batch, layer, c):
    x, _ = batch
    before = net(x).detach()

    after = outputs_after_scaling(net, x, [trained_parameters(net)[layer]], c)

    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)


@pytest.mark.parametrize("c", SCALES)
def test_scaling_every_trained_weight_together_leaves_the_outputs_unchanged(net, batch, c):
    x, _ = batch
    before = net(x).detach()

    after = outputs_after_scaling(net, x, trained_parameters(net), c)

    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)


def test_the_same_check_sees_a_change_where_there_is_no_normalisation(net, batch):
    x, _ = batch
    before = net(x).detach()

    after = outputs_after_scaling(net, x, [net.head.weight], 3.7)  # the head feeds no normalisation

    assert (after - before).abs().max() > 0.1


def test_eval_mode_computes_the_same_function_from_batch_statistics(net, batch):
    x, _ = batch
    train_out = net.train()(x).detach()

    eval_out = net.eval()(x).detach()

    torch.testing.assert_close(eval_out, train_out, rtol=0, atol=0)


def test_the_gradient_is_orthogonal_to_each_weight_and_scales_as_one_over_c(net, batch):
    x, y = batch
    weights = trained_parameters(net)
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    with torch.no_grad():
        for w in weights:
            w.mul_(4.0)
    scaled_grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)

    for w, g, g_scaled in zip(weights, grads, scaled_grads, strict=True):
        assert g.norm() > 1e-3  # not trivially zero
        assert abs(torch.sum(w * g)) < 1e-12 * w.norm() * g.norm()
        torch.testing.assert_close(g_scaled, g / 4.0, rtol=1e-10, atol=1e-15)


def test_preresnet32_with_fixed_bn_and_last_layer_is_invariant_to_scaling_all_its_convs():
    torch.manual_seed(0)
    net = scale_invariant_preresnet32().double()
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    trained = trained_parameters(net)
    before = net(x).detach()

    after = outputs_after_scaling(net, x, trained, 0.05)

    assert trained and all(p.dim() == 4 for p in trained)  # conv weights only: BN and fc are fixed
    torch.testing.assert_close(after, before, rtol=0, atol=1e-10)
