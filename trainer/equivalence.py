"""Li & Arora's equivalence, checked by training: weight decay or an exponentially growing LR.

For a loss that is scale-invariant in the trained weights, momentum SGD with
weight decay wd and LR eta_t computes the same network function at every step
as momentum SGD without weight decay and the LR that
``trainer.schedules.remove_weight_decay`` derives (shared/reference/papers.md,
section 1); the weights differ only in scale, theta_A(t) = c_t · theta_B(t),
and c_t shrinks geometrically. ``equivalence_study`` trains both from one
initialisation on the same batches and records how far their predictions and
their weight norms drift apart:

    from trainer.equivalence import equivalence_study
    study = equivalence_study({"kind": "FIX", "k0": 0.1}, wd=5e-3, iterations=200)
    study["max_prob_diff_overall"], study["norm_b"][-1] / study["norm_a"][-1]

``model="mlp"`` (the default) is a small scale-invariant network on the 8x8
digits in float64, where the predictions agree to rounding error (about 1e-15
over 200 steps; rounding differences then grow as training amplifies any
perturbation, to about 3e-11 by step 1,000). ``model="preresnet32"`` is Li &
Arora's network (fixed BN scale and bias, fixed last layer) on synthetic
CIFAR-shaped tensors, for a GPU: float32 by default, where its gradients carry
rounding errors of a few 1e-3 (relative, measured against float64 on a CPU;
the workload's own network shows the same), so the runs part by more than the
conversion could explain within a few steps; float64 checks it exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainer import core
from trainer.errors import UserInputError
from trainer.schedules import SpecError, build, remove_weight_decay

MAX_POINTS = 500  # per recorded series: plenty for a chart, small enough to stream and store
MAX_ITERATIONS = 100_000
EVAL_SIZE = 512  # test samples in the fixed batch that predictions and accuracy are measured on (digits: all 360)
MODELS = {"mlp": ("digits", "synthetic"), "preresnet32": ("synthetic",)}  # model: its data sets, default first
DEFAULT_DTYPE = {"mlp": torch.float64, "preresnet32": torch.float32}
MLP_HIDDEN = 128
SYNTHETIC_SIZES = {"mlp": (1437, 360), "preresnet32": (2048, 256)}  # (train, test): the MLP's as the digits'
SMALL_NET_THREADS = 1  # matrices of 64 x 128: a second thread costs more in synchronisation than it saves
EXIT_BAD_INPUT = 2


class BadArgument(UserInputError):
    """An argument of ``equivalence_study`` is invalid; ``name`` (``field``) is the argument."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(name, problem)
        self.name = name
        self.problem = problem

    @staticmethod
    def text(field: str, message: str) -> str:
        return f"{field} {message}"


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


@dataclass(frozen=True)
class _Setup:
    """Checked arguments."""

    model: str
    data: str
    dtype: torch.dtype
    device: torch.device


def equivalence_study(
    spec: Any,
    *,
    wd: float = 5e-4,
    momentum: float = 0.9,
    iterations: int = 200,
    steps_per_epoch: int | None = None,
    model: str = "mlp",
    seed: int = 0,
    data: str | None = None,
    batch_size: int = 64,
    dtype: torch.dtype | None = None,
    device: str = "cpu",
    eval_size: int = EVAL_SIZE,
    convert: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    report_every: int = 1,
) -> dict[str, Any]:
    """Train A (momentum SGD, weight decay ``wd``, LR from ``spec``) and B (no weight decay,
    LR from ``remove_weight_decay(spec, ...)``) from one initialisation on the same batches.

    ``steps_per_epoch`` is the policy's epoch length in iterations (default: the
    data's, batch_size samples a step, the last partial batch dropped);
    ``data`` defaults to the model's first (MODELS); ``dtype`` to float64 for
    the MLP, float32 for PreResNet-32. ``convert=False`` is the control: B
    trains with ``spec`` itself, no weight decay, and should *not* match A.
    ``on_step(record)`` is called every ``report_every`` steps and after the
    last, with the keys of one step of the series below (scalars). The first
    ``eval_size`` test samples are the fixed evaluation batch.

    Returns, per step (downsampled to at most MAX_POINTS evenly spaced steps,
    the last included): "iterations" (steps taken, 1..N), "loss_a"/"loss_b"
    (the step's training loss, before its update), "max_prob_diff" (the
    largest |p_A - p_B| of the predicted probabilities on the evaluation
    batch, after the update), "norm_a"/"norm_b" (global L2 norm of the
    trained weights), "norm_ratio" (norm_b / norm_a), "lr_a"/"lr_b"; and
    "max_prob_diff_overall" over every step, "final_norm_ratio",
    "final_test_acc_a"/"_b" (top-1 on the evaluation batch, normalised with its
    own statistics; for the digits, the whole test set), "spec" (normalised),
    "converted_spec" (None for the control), "total_iterations" and the other
    settings.
    Non-finite values are None. Raises SpecError for a bad spec (or one whose
    conversion breaks down: field "wd"), BadArgument for the other arguments.
    """
    policy_a = _policy(spec)
    setup = _check(wd, momentum, iterations, steps_per_epoch, model, seed, data, batch_size, dtype, device)
    _check_count("report_every", report_every, 1, None)
    _check_count("eval_size", eval_size, 2, None)
    x_train, y_train, x_test, y_test = _load(setup)
    _check_count("batch_size", batch_size, 2, len(x_train))
    steps_per_epoch = steps_per_epoch or len(x_train) // batch_size
    converted = (
        remove_weight_decay(policy_a.spec, wd, momentum, steps_per_epoch, horizon=iterations) if convert else None
    )
    policy_b = build(converted) if convert else policy_a
    x_eval, y_eval = x_test[:eval_size], y_test[:eval_size]

    net_a = _create_model(setup, x_train.shape[1:], seed)
    net_b = copy.deepcopy(net_a)
    opt_a = torch.optim.SGD(trained_parameters(net_a), lr=0.0, momentum=momentum, weight_decay=wd)
    opt_b = torch.optim.SGD(trained_parameters(net_b), lr=0.0, momentum=momentum, weight_decay=0.0)
    batches = _batches(len(x_train), batch_size, seed, setup.device)

    series: dict[str, list[float | None]] = {key: [] for key in _SERIES}
    with _exact_float32(setup.device), _cpu_threads(setup):
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
        spec=policy_a.spec,
        converted_spec=converted,
        converted=convert,
        wd=wd,
        momentum=momentum,
        total_iterations=iterations,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        seed=seed,
        model=setup.model,
        data=setup.data,
        dtype=str(setup.dtype).removeprefix("torch."),
        device=str(setup.device),
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


@contextlib.contextmanager
def _cpu_threads(setup: _Setup) -> Iterator[None]:
    if setup.device.type != "cpu" or setup.model != "mlp":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(SMALL_NET_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# Inputs.


def _policy(spec: Any) -> Any:
    policy = build(spec)
    if policy.adaptive:
        raise SpecError({"kind": [f"{policy.kind} adapts to training metrics; the study needs a fixed schedule"]})
    return policy


def _check(
    wd: Any,
    momentum: Any,
    iterations: Any,
    steps_per_epoch: Any,
    model: Any,
    seed: Any,
    data: Any,
    batch_size: Any,
    dtype: Any,
    device: Any,
) -> _Setup:
    _check_number("wd", wd, "in [0, 1]", lambda v: 0.0 <= v <= 1.0)
    _check_number("momentum", momentum, "in [0, 1)", lambda v: 0.0 <= v < 1.0)
    _check_count("iterations", iterations, 1, MAX_ITERATIONS)
    if steps_per_epoch is not None:
        _check_count("steps_per_epoch", steps_per_epoch, 1, None)
    _check_count("batch_size", batch_size, 2, None)
    _check_count("seed", seed, None, None)
    if model not in MODELS:
        raise BadArgument("model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    data = MODELS[model][0] if data is None else data
    if data not in MODELS[model]:
        raise BadArgument("data", f"must be one of {', '.join(MODELS[model])} for model {model!r}, got {data!r}")
    dtype = DEFAULT_DTYPE[model] if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise BadArgument("dtype", f"must be torch.float32 or torch.float64, got {dtype!r}")
    try:
        resolved = core.resolve_device(device)
    except ValueError as error:
        raise BadArgument("device", str(error).removeprefix("device ")) from None
    return _Setup(model, data, dtype, resolved)


def _check_number(name: str, value: Any, describe: str, ok: Callable[[float], bool]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not ok(value):
        raise BadArgument(name, f"must be a number {describe}, got {value!r}")


def _check_count(name: str, value: Any, low: int | None, high: int | None) -> None:
    too_low = low is not None and isinstance(value, int) and value < low
    too_high = high is not None and isinstance(value, int) and value > high
    if isinstance(value, bool) or not isinstance(value, int) or too_low or too_high:
        bounds = f" from {low} to {high}" if high is not None else (f" >= {low}" if low is not None else "")
        raise BadArgument(name, f"must be an integer{bounds}, got {value!r}")


def _load(setup: _Setup) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from trainer.data import load_digits, synthetic

    if setup.data == "digits":
        tensors = load_digits()
    else:
        shape = (64,) if setup.model == "mlp" else (3, 32, 32)
        tensors = synthetic(shape, 10, *SYNTHETIC_SIZES[setup.model])
    x_train, y_train, x_test, y_test = tensors
    device, dtype = setup.device, setup.dtype
    return x_train.to(device, dtype), y_train.to(device), x_test.to(device, dtype), y_test.to(device)


def _create_model(setup: _Setup, input_shape: torch.Size, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(seed)
        if setup.model == "mlp":
            net = ScaleInvariantMLP(input_shape.numel(), MLP_HIDDEN, 10)
        else:
            net = scale_invariant_preresnet32()
    return net.to(setup.device, setup.dtype).train()


# The command line (trainer/cli.py adds it with register_cli).


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``equivalence`` command; it runs with ``args.command(args)`` and returns the exit status."""
    parser = subparsers.add_parser(
        "equivalence",
        help="train with weight decay and, side by side, without it under the converted LR (Li & Arora)",
        description=(
            "Train two copies of a scale-invariant network from one initialisation on the same batches: "
            "A with weight decay and the policy's LR, B without weight decay and the LR that "
            "remove_weight_decay derives. Prints how far their predictions and weight norms drift apart."
        ),
    )
    parser.add_argument(
        "--policy", required=True, help='the LR policy of run A as JSON, e.g. \'{"kind": "FIX", "k0": 0.1}\''
    )
    parser.add_argument("--wd", type=float, default=5e-4, help="weight decay of run A (default 5e-4)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum of both runs (default 0.9)")
    parser.add_argument("--iterations", type=int, default=200, help="SGD steps (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="mlp", help="mlp (digits, float64) or preresnet32 (synthetic, float32)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="default: float64 for mlp, float32 for preresnet32 (float64 there checks the equivalence exactly)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, auto (cuda if available), cuda, cuda:N")
    parser.add_argument("--json", action="store_true", help="print the whole study as one JSON object")
    parser.set_defaults(command=equivalence_command)
    return parser


_FLAGS = {"batch_size": "--batch-size"}


def equivalence_command(args: argparse.Namespace) -> int:
    """Run the study for parsed arguments; bad input: a message naming the flag on stderr, status 2."""
    try:
        spec = json.loads(args.policy)
    except json.JSONDecodeError as error:
        return _bad_input(f"--policy is not valid JSON: {error}")
    try:
        study = equivalence_study(
            spec,
            wd=args.wd,
            momentum=args.momentum,
            iterations=args.iterations,
            model=args.model,
            seed=args.seed,
            batch_size=args.batch_size,
            dtype=None if args.dtype is None else getattr(torch, args.dtype),
            device=args.device,
        )
    except SpecError as error:
        return _bad_input("\n".join(_spec_problems(error.errors)))
    except BadArgument as error:
        return _bad_input(f"{_FLAGS.get(error.name, '--' + error.name)} {error.problem}")
    if args.json:
        print(json.dumps(study, allow_nan=False))
    else:
        print(summary(study))
    return 0


def _spec_problems(errors: Mapping[str, list[str]]) -> list[str]:
    """SpecError fields as flags: a conversion that breaks down is the weight decay's doing (--wd)."""
    return [
        f"{'--wd' if path == 'wd' else '--policy'}: {path}: {message}"
        for path, messages in errors.items()
        for message in messages
    ]


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def summary(study: Mapping[str, Any]) -> str:
    """A few lines: what was compared, the largest prediction difference, the final norm ratio."""
    b_lr = "the converted LR" if study["converted"] else "the same LR (control, not converted)"
    lines = [
        f"{study['model']} on {study['data']} ({study['dtype']}, {study['device']}), "
        f"{study['total_iterations']} iterations, momentum {study['momentum']:g}:",
        f"  A: weight decay {study['wd']:g}, LR of {json.dumps(study['spec'])}",
        f"  B: no weight decay, {b_lr}",
        f"  max |p_A - p_B| over all steps: {_fmt(study['max_prob_diff_overall'], '.3g')} "
        f"(final {_fmt(study['max_prob_diff'][-1], '.3g')})",
        f"  final weight norm ratio |theta_B| / |theta_A|: {_fmt(study['final_norm_ratio'], '.4g')} "
        f"(final LR_B / LR_A: {_fmt(_ratio(study['lr_b'][-1], study['lr_a'][-1]), '.4g')})",
        f"  final loss A {_fmt(study['loss_a'][-1], '.4f')}, B {_fmt(study['loss_b'][-1], '.4f')}; "
        f"test accuracy A {_fmt(study['final_test_acc_a'], '.4f')}, B {_fmt(study['final_test_acc_b'], '.4f')}",
    ]
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
