"""Li & Arora's equivalence, the training side: scale-invariant networks, and the two runs side by side.

``run_study`` trains run A (momentum SGD, weight decay, LR of the policy)
and run B (no weight decay, the converted LR) from one initialisation on the
same batches, for a plan that trainer.equivalence checked (see its
docstring for what the study shows). Imports torch: trainer.equivalence
imports this module when a study runs.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainer import core
from trainer.schedules import build

MAX_POINTS = 500  # per recorded series: plenty for a chart, small enough to stream and store
MLP_HIDDEN = 128
SMALL_NET_THREADS = 1  # matrices of 64 x 128: a second thread costs more in synchronisation than it saves


# The network.


# A batch norm's eps breaks scale invariance: (z - mean) / sqrt(var + eps) changes when z
# becomes c·z, by about eps / (2·var) (0.18 for c = 0.01 with torch's 1e-5). torch insists on
# eps > 0 when training; the smallest normal double is lost in var + eps for any var above
# 1e-290 (and is 0 in float32), so the normalisation is exactly z -> c·z invariant.
EXACT_EPS = torch.finfo(torch.float64).tiny


def _batch_norm(features: int) -> nn.BatchNorm1d:
    # No running statistics: batch statistics in train and eval mode alike, so the
    # output never depends on the history of the weights' scale.
    return nn.BatchNorm1d(features, eps=EXACT_EPS, affine=False, track_running_stats=False)


class ScaleInvariantMLP(nn.Module):
    """An MLP whose loss is scale-invariant in every trained weight: L(c·W) = L(W) for any c > 0.

    ``depth`` blocks Linear (no bias) -> BatchNorm1d -> ReLU, then a fixed
    (requires_grad=False) Linear head. Why it is invariant: multiplying a
    block's weight W by c > 0 multiplies its pre-activations z by c, hence
    their batch mean by c and their batch standard deviation by c, so the
    normalised (z - mean) / std is unchanged, and so is everything after it.
    The batch norms have no scale or bias to learn (affine=False) and the head
    is fixed, so no trained parameter escapes a normalisation. This holds for
    each weight matrix alone and for all of them scaled together, which is what
    Li & Arora's theorem needs: the gradient is orthogonal to each W and
    grad L(c·W) = grad L(W) / c.

    The normalisation is exact (eps negligible: EXACT_EPS) and always uses the statistics of the
    batch it is given (no running averages, in eval mode too): the network's
    function is then a function of the weights' directions only, so two runs
    that differ by a scale can be compared to float64 rounding. The price: a
    sample's output depends on the batch around it, so compare networks on a
    fixed batch, and give it at least two samples of non-constant features.
    """

    def __init__(self, in_features: int, hidden: int, classes: int, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = in_features
        for _ in range(depth):
            layers += [nn.Linear(fan_in, hidden, bias=False), _batch_norm(hidden), nn.ReLU()]
            fan_in = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden, classes).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def scale_invariant_preresnet32() -> nn.Module:
    """The workload's PreResNet-32 with fixed BN scale/bias and last layer, made exactly scale-invariant.

    With fix_bn and fix_last the loss is scale-invariant in all the conv weights
    taken together (a residual sum scales with them), not in each alone, which
    is all the equivalence needs. The workload's batch norms keep eps = 1e-5 and
    running statistics, which break L(c·theta) = L(theta); here they get
    EXACT_EPS and batch statistics only, as in ScaleInvariantMLP.
    """
    from trainer.workloads import get_workload

    model = get_workload("cifar10-preresnet32").create_model({"fix_bn": True, "fix_last": True})
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eps = EXACT_EPS
            module.track_running_stats = False
            module.running_mean = module.running_var = module.num_batches_tracked = None
    return model


def trained_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def weight_norm(model: nn.Module) -> torch.Tensor:
    """The global L2 norm of the trained weights (a 0-d tensor, not synchronised)."""
    return torch.linalg.vector_norm(torch.stack([p.detach().norm() for p in trained_parameters(model)]))


# The study.


def run_study(plan: Any, on_step: Callable[[dict[str, Any]], None] | None, report_every: int) -> dict[str, Any]:
    """Train A and B for a checked plan (trainer.equivalence.StudyPlan); the result of equivalence_study."""
    device, dtype = core.resolve_device(plan.device), getattr(torch, plan.dtype)
    x_train, y_train, x_test, y_test = _load(plan, device, dtype)
    iterations, steps_per_epoch, momentum, wd = plan.iterations, plan.steps_per_epoch, plan.momentum, plan.wd
    policy_a = build(plan.spec)
    policy_b = build(plan.converted_spec) if plan.convert else policy_a
    x_eval, y_eval = x_test[: plan.eval_size], y_test[: plan.eval_size]

    net_a = _create_model(plan, x_train.shape[1:], device, dtype)
    net_b = copy.deepcopy(net_a)
    opt_a = torch.optim.SGD(trained_parameters(net_a), lr=0.0, momentum=momentum, weight_decay=wd)
    opt_b = torch.optim.SGD(trained_parameters(net_b), lr=0.0, momentum=momentum, weight_decay=0.0)
    batches = _batches(len(x_train), plan.batch_size, plan.seed, device)
    small_net_on_cpu = device.type == "cpu" and plan.model == "mlp"

    series: dict[str, list[float | None]] = {key: [] for key in _SERIES}
    with _exact_float32(device), core.cpu_threads(SMALL_NET_THREADS if small_net_on_cpu else None):
        for t in range(iterations):
            index = next(batches)
            inputs, targets = x_train[index], y_train[index]
            lr_a = policy_a.lr_at(t, steps_per_epoch)
            lr_b = policy_b.lr_at(t, steps_per_epoch)
            loss_a = _sgd_step(net_a, opt_a, lr_a, inputs, targets)
            loss_b = _sgd_step(net_b, opt_b, lr_b, inputs, targets)
            with torch.no_grad():
                prob_diff = (net_a(x_eval).softmax(dim=1) - net_b(x_eval).softmax(dim=1)).abs().max()
            values = torch.stack([loss_a, loss_b, prob_diff, weight_norm(net_a), weight_norm(net_b)])
            record = _record(t + 1, *values.tolist(), lr_a, lr_b)  # the step's one wait for the device
            for key, value in record.items():
                series[key].append(value)
            if on_step is not None and ((t + 1) % report_every == 0 or t + 1 == iterations):
                on_step(core.json_safe(record))
        with torch.no_grad():
            acc_a, acc_b = (_accuracy(net, x_eval, y_eval) for net in (net_a, net_b))

    diffs = series["max_prob_diff"]
    keep = _downsample(iterations, MAX_POINTS)
    result = {key: [values[i] for i in keep] for key, values in series.items()}
    result.update(
        max_prob_diff_overall=math.nan if any(map(math.isnan, diffs)) else max(diffs),
        final_norm_ratio=series["norm_ratio"][-1],
        final_test_acc_a=acc_a,
        final_test_acc_b=acc_b,
        spec=plan.spec,
        converted_spec=plan.converted_spec,
        converted=plan.convert,
        wd=wd,
        momentum=momentum,
        total_iterations=iterations,
        steps_per_epoch=steps_per_epoch,
        batch_size=plan.batch_size,
        seed=plan.seed,
        model=plan.model,
        data=plan.data,
        dtype=plan.dtype,
        device=str(device),
    )
    return core.json_safe(result)


_SERIES = ("iterations", "loss_a", "loss_b", "max_prob_diff", "norm_a", "norm_b", "norm_ratio", "lr_a", "lr_b")


def _record(
    step: int, loss_a: float, loss_b: float, diff: float, norm_a: float, norm_b: float, lr_a: float, lr_b: float
) -> dict[str, float]:
    ratio = norm_b / norm_a if norm_a > 0.0 else math.nan
    values = (step, loss_a, loss_b, diff, norm_a, norm_b, ratio, lr_a, lr_b)
    return dict(zip(_SERIES, values, strict=True))


def _sgd_step(
    net: nn.Module, optimizer: torch.optim.Optimizer, lr: float, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(net(inputs), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy, the samples normalised as one batch (batch statistics: see ScaleInvariantMLP)."""
    return (net(x).argmax(dim=1) == y).double().mean().item()


def _batches(n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Index batches of a fresh permutation each epoch; the last partial batch is dropped (BN needs >= 2)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def _downsample(n: int, points: int) -> list[int]:
    """At most ``points`` evenly spaced indices of range(n), the first and the last included."""
    if n <= points:
        return list(range(n))
    return sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})


@contextlib.contextmanager
def _exact_float32(device: torch.device) -> Iterator[None]:
    """No TF32 on CUDA during the study: its 10-bit mantissa would swamp the comparison."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _load(plan: Any, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    from trainer.data import load_digits, synthetic

    if plan.data == "digits":
        tensors = load_digits()
    else:
        shape = (64,) if plan.model == "mlp" else (3, 32, 32)
        tensors = synthetic(shape, 10, plan.train_size, plan.test_size)
    x_train, y_train, x_test, y_test = tensors
    if len(x_train) != plan.train_size:  # the plan's default steps_per_epoch was counted from train_size
        raise RuntimeError(f"{plan.data} has {len(x_train)} training samples, the plan counted {plan.train_size}")
    return x_train.to(device, dtype), y_train.to(device), x_test.to(device, dtype), y_test.to(device)


def _create_model(plan: Any, input_shape: torch.Size, device: torch.device, dtype: torch.dtype) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(plan.seed)
        if plan.model == "mlp":
            net = ScaleInvariantMLP(input_shape.numel(), MLP_HIDDEN, 10)
        else:
            net = scale_invariant_preresnet32()
    return net.to(device, dtype).train()
