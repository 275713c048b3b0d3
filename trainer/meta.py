"""MLR-SNet (Shu et al., papers.md §3): meta-learn an LR schedule on a workload, and hand it over as a LEARNED spec.

    result = meta_train("digits-mlp", epochs=5)
    result["spec"]  # {"kind": "LEARNED", "learners": [first, middle, last], "gamma": "recompute", ...}

``meta_train`` trains the workload's model with the learned LR while it
meta-learns the net, online, as the paper does:

- A clean, class-balanced meta set is held out of the training data
  (``meta_set_size`` samples, rounded down to a multiple of C; by default
  10% of the training data, at most the paper's 1,000) and never trained on.
- Every iteration the real step is plain SGD (momentum 0, weight decay 5e-4)
  with LR = γ·net(loss), loss the current mini-batch's.
- Every ``meta_every`` iterations, before that step, a virtual step
  w' = w - γ·net(loss)·(g + wd·w) on the current batch, the loss of w' on one
  meta batch, and its gradient through the LR only (first order: g and w are
  constants) into the net, updated by Adam (lr 1e-3, weight decay 1e-4). The
  real step then uses the updated net.
- γ = |sqrt(L0)·ln(L0·C)/C^(1/4)/4|, L0 the initial model's loss over the
  training part; the net's hidden state runs across all iterations, detached
  every step; the net is saved after every epoch.

``meta_every``: the paper meta-updates every 300 iterations, about once per
CIFAR epoch, ≈ 260 times in its 200 epochs × 391 iterations. By default the
same number of meta-updates is spread over the run here: every
round(total iterations / 260) iterations, at least every iteration and at most
once per epoch. On digits-mlp (45 iterations per epoch) that is every
iteration for up to 5 epochs; on the paper's CIFAR setting it is 300.

The spec of the result uses the checkpoints of the first, middle and last
epochs, γ recomputed at each switch (see trainer/schedules/learned.py for
the replay). The whole loop reads the loss on the host every iteration: the
next LR depends on it, which is inherent to MLR-SNet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from trainer import core
from trainer.cli_support import EXIT_CANCELLED, add_where_arguments, fmt, print_json, run_tool_command, where
from trainer.errors import UserInputError
from trainer.schedules import validate
from trainer.schedules.learned import (
    FORGET_BIAS,
    GATES,
    HIDDEN,
    KIND,
    MAP_WIDTH,
    MAX_GAMMA,
    decode_learner,
    encode_learner,
    gamma_from_loss,
)
from trainer.schedules.params import MAX_LR
from trainer.tool_params import ToolParam, add_arguments, check, cli_values, unknown_arguments
from trainer.workloads import get_workload, resolve_optimizer

__all__ = [
    "MLRSNet",
    "MetaInputError",
    "gamma_from_loss",
    "learner_state",
    "load_learner",
    "meta_train",
    "register_cli",
]

# The paper's settings (papers.md §3), with the reason beside each value chosen here.
REAL_WEIGHT_DECAY = 5e-4  # the trained model: plain SGD, momentum 0
META_LR = 1e-3  # Adam on the net
META_WEIGHT_DECAY = 1e-4
META_SET_SHARE = 0.1  # default meta set: this share of the training data...
META_SET_MAX = 1000  # ...at most the paper's 1,000 images (2% of CIFAR's training set)
PAPER_META_UPDATES = 260  # 200 epochs × 391 iterations / every 300: spread over the run by default
LR_TRACE_POINTS = 50  # per epoch
STOP_CHECK_EVERY = core.STOP_CHECK_EVERY  # iterations between should_stop() calls, as the engine
MAX_EPOCHS = core.MAX_EPOCHS


# A bad argument of meta_train: ``field`` names it ("epochs", "meta_set_size", ...), as for every tool.
MetaInputError = UserInputError


class MLRSNet(nn.Module):
    """The meta-learner: mini-batch loss in, LR fraction in (0, 1) out, with an LSTM-style state.

    One cell of hidden size 50 whose input-to-gates and hidden-to-gates maps are
    MLPs (in → 25 → ReLU → 200); gates input, forget (σ(g − 1)), output,
    candidate, in that order; head Linear(50 → 1) and a sigmoid. 11,776
    parameters, named as trainer.schedules.learned.LEARNER_SHAPES.
    """

    def __init__(self) -> None:
        super().__init__()
        self.input_map = nn.Sequential(nn.Linear(1, MAP_WIDTH), nn.ReLU(), nn.Linear(MAP_WIDTH, GATES))
        self.hidden_map = nn.Sequential(nn.Linear(HIDDEN, MAP_WIDTH), nn.ReLU(), nn.Linear(MAP_WIDTH, GATES))
        self.head = nn.Linear(HIDDEN, 1)

    def forward(
        self, loss: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(fraction, (h, c)): a 0-dim fraction and the new state, detached (gradients reach this step only)."""
        weight = self.head.weight
        x = loss.detach().reshape(1, 1).to(weight.dtype)
        if state is None:
            h = c = torch.zeros(1, HIDDEN, dtype=weight.dtype, device=weight.device)
        else:
            h, c = (s.detach().reshape(1, HIDDEN) for s in state)
        i, f, o, g = (self.input_map(x) + self.hidden_map(h)).chunk(4, dim=1)
        c = torch.sigmoid(f + FORGET_BIAS) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        fraction = torch.sigmoid(self.head(h)).reshape(())
        return fraction, (h.detach().reshape(HIDDEN), c.detach().reshape(HIDDEN))


def learner_state(net: MLRSNet) -> dict[str, Any]:
    """The net's weights as JSON (base64 float32 with shapes), as a LEARNED spec carries them."""
    return encode_learner({name: t.detach().float().cpu().numpy() for name, t in net.state_dict().items()})


def load_learner(state: Mapping[str, Any]) -> MLRSNet:
    """The net of a learner state (ValueError if it does not decode)."""
    net = MLRSNet()
    net.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in decode_learner(state).items()})
    return net


def learned_spec(
    checkpoints: Mapping[int, dict[str, Any]], num_classes: int, *, momentum: float = 0.0, lr_cap: float | None = None
) -> dict[str, Any]:
    """The LEARNED spec of meta-epoch checkpoints: the first, middle and last, γ recomputed at each switch
    (capped to lr_cap), for SGD with the momentum they were meta-trained with."""
    epochs = sorted(checkpoints)
    picks = [epochs[0], epochs[(len(epochs) - 1) // 2], epochs[-1]]
    spec = {
        "kind": KIND,
        "learners": [checkpoints[e] for e in picks],
        "gamma": "recompute",
        "num_classes": num_classes,
        "momentum": momentum,
    }
    if lr_cap is not None:
        spec["lr_cap"] = min(lr_cap, MAX_GAMMA)
    return validate(spec)


# meta_train's parameters, declared once: meta_train checks them, `meta-train` takes them as flags, the
# dashboard's job API generates its fields from them (job_min/job_max: what one job may ask of a worker).
META_PARAMS = (
    ToolParam(
        "epochs",
        "int",
        "meta-training epochs (default: the workload's)",
        nullable=True,
        min=1,
        max=MAX_EPOCHS,
        job_max=500,
    ),
    ToolParam("seed", "int", "the network's initialisation and data order", default=0, job_min=0, job_max=2**31 - 1),
    ToolParam(
        "lr_cap",
        "float",
        "the largest LR meta-training may set: γ is capped to it (default auto: the LR range test's valley LR "
        "for the workload's optimizer)",
        nullable=True,
        min=0.0,
        min_inclusive=False,
        max=MAX_LR,
        job_min=1e-6,
        cli_none="auto",
    ),
    ToolParam("meta_set_size", "int", "held-out meta samples", nullable=True, min=1, job=False, metavar="N"),
    ToolParam("meta_every", "int", "meta-update every N iterations", nullable=True, min=1, job=False, metavar="N"),
    ToolParam("limit_train_batches", "int", "train N batches per epoch", nullable=True, min=1, job=False, metavar="N"),
)


@dataclass(frozen=True)
class MetaPlan:
    """A validated meta-training: every argument of meta_train but the callbacks."""

    workload: str
    epochs: int
    seed: int
    lr_cap: float | None  # None: the range test's valley LR, measured when the meta-training starts
    meta_set_size: int | None
    meta_every: int | None
    limit_train_batches: int | None
    options: dict[str, Any]
    momentum: float  # the workload's SGD momentum: the real and the virtual steps use it
    nesterov: bool
    data_dir: Any
    device: str


def meta_train(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Train ``workload`` with the learned LR while meta-learning it; report every epoch to ``on_epoch``.

    params are META_PARAMS (epochs, seed, lr_cap, meta_set_size, meta_every,
    limit_train_batches), each defaulting as declared there.

    The real and the virtual steps are SGD with the workload's momentum (and
    Nesterov setting) and the paper's weight decay, so the learned LR is the
    LR for that momentum: the spec records it ("momentum"). γ is the paper's
    γ capped to ``lr_cap`` (None: the LR range test's valley LR for the
    workload, measured first), so the learned LR never exceeds the cap; the
    spec carries the cap, which also caps γ when it is recomputed in transfer.

    Returns {"status": "succeeded" | "cancelled" | "diverged", "epochs": [per-epoch dicts], "gamma" (the γ
    used), "gamma_paper" (the formula's, uncapped), "lr_cap", "lr_cap_source", "momentum", "meta_every",
    "meta_set_size", "checkpoints": {epoch: learner state}, "spec": the LEARNED spec (None if no epoch
    completed)}. Each epoch dict: epoch, train_loss, train_acc, test_loss, test_acc, lr_first, lr_last,
    lr_mean, lr_trace ([[t in epochs, lr], ...], at most 50 per epoch), gamma, meta_loss (mean over the
    epoch's meta-updates), meta_updates, seconds. Bad arguments raise MetaInputError (a UserInputError)
    naming the field; an unknown workload UnknownWorkload.
    """
    plan = plan_meta_train(workload, workload_options=workload_options, data_dir=data_dir, device=device, **params)
    return run_meta_train(plan, on_epoch, should_stop or _never)


def plan_meta_train(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    **params: Any,
) -> MetaPlan:
    """meta_train's arguments checked (META_PARAMS, the workload, its options and optimizer, the device)."""
    unknown_arguments("meta_train", META_PARAMS, params)
    spec = get_workload(workload)
    values = check(META_PARAMS, params)
    if values["epochs"] is None:
        values["epochs"] = spec.default_epochs
    try:
        core.resolve_device(device)
    except ValueError as error:
        raise MetaInputError("device", str(error)) from None
    try:
        options = spec.resolve_options(workload_options)
    except ValueError as error:
        raise MetaInputError("workload_options", str(error)) from None
    optimizer = resolve_optimizer(spec.optimizer, None)
    if optimizer["name"] != "sgd":
        raise MetaInputError("workload", f"MLR-SNet meta-trains SGD; {spec.name} trains with {optimizer['name']}")
    return MetaPlan(
        workload=spec.name,
        options=options,
        momentum=optimizer["momentum"],
        nesterov=optimizer["nesterov"],
        data_dir=data_dir,
        device=device,
        **values,
    )


def run_meta_train(
    plan: MetaPlan, on_epoch: Callable[[dict], None] | None, stop_requested: Callable[[], bool]
) -> dict[str, Any]:
    """Meta-train a checked plan (see meta_train)."""
    workload = get_workload(plan.workload)
    target = core.resolve_device(plan.device)
    lr_cap, source = plan.lr_cap, "given"
    if lr_cap is None:
        lr_cap, source = _range_test_cap(plan), "range test valley"
    with core.workload_threads(workload, target):
        result = _meta_train(workload, plan, target, lr_cap, on_epoch, stop_requested)
    return {**result, "lr_cap": lr_cap, "lr_cap_source": source if lr_cap is not None else "none"}


def _range_test_cap(plan: MetaPlan) -> float | None:
    """The LR range test's valley LR for the workload's model and optimizer (its default ramp): None if none."""
    from trainer.range_test import plan_range_test, run_range_test

    test = plan_range_test(
        plan.workload, workload_options=plan.options, data_dir=plan.data_dir, device=plan.device, seed=plan.seed
    )
    return run_range_test(test, None, _never)["suggestions"]["valley"]


def _never() -> bool:
    return False


def _meta_train(
    workload: Any,
    plan: MetaPlan,
    device: torch.device,
    lr_cap: float | None,
    on_epoch: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
) -> dict[str, Any]:
    epochs, seed, momentum = plan.epochs, plan.seed, plan.momentum
    torch.manual_seed(seed)  # the model's and the net's initialisation
    rng = torch.Generator(device=device).manual_seed(seed)  # the meta split, data order, augmentation
    on_cuda = device.type == "cuda"
    memory_format = core.memory_format(workload)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)

    # Data: a clean, class-balanced meta set held out of the training data.
    x_all, y_all, x_test, y_test = (t.to(device) for t in workload.load_data(core.data_dir(plan.data_dir)))
    classes = workload.num_classes
    meta_index, train_index = _meta_split(y_all, classes, plan.meta_set_size, rng)
    x_train, y_train, x_meta, y_meta = x_all[train_index], y_all[train_index], x_all[meta_index], y_all[meta_index]
    batch_size = workload.batch_size
    steps_per_epoch = core.steps_per_epoch(len(x_train), batch_size, plan.limit_train_batches)
    meta_every = plan.meta_every
    if meta_every is None:
        meta_every = min(steps_per_epoch, max(1, round(epochs * steps_per_epoch / PAPER_META_UPDATES)))

    # The model (SGD with the workload's momentum, the paper's weight decay) and the meta-learner (Adam).
    module = core.build_model(workload, plan.options, device)
    groups = [g for g in workload.param_groups(module, plan.options) if g["params"]]
    optimizer = torch.optim.SGD(
        groups, lr=0.0, momentum=momentum, nesterov=plan.nesterov, weight_decay=REAL_WEIGHT_DECAY
    )
    names = {id(p): name for name, p in module.named_parameters()}
    net = MLRSNet().to(device)
    net_optimizer = torch.optim.Adam(net.parameters(), lr=META_LR, weight_decay=META_WEIGHT_DECAY)
    gamma_paper = gamma_from_loss(
        _mean_loss(module, x_train, y_train, workload.eval_batch_size, autocast, memory_format), classes
    )
    gamma = gamma_paper if lr_cap is None else min(gamma_paper, lr_cap)
    meta_batches = _Batches(len(x_meta), min(batch_size, len(x_meta)), rng)

    def step_direction(p: torch.Tensor) -> torch.Tensor:
        """What SGD would subtract from p at LR 1: the gradient with weight decay, through the momentum."""
        d = p.grad + REAL_WEIGHT_DECAY * p
        if momentum == 0.0:
            return d
        previous = optimizer.state[p].get("momentum_buffer")
        buffer = d if previous is None else momentum * previous + d  # torch's SGD: no dampening
        return d + momentum * buffer if plan.nesterov else buffer

    def meta_update(loss: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """One first-order meta step on the net; the meta loss of the virtual weights."""
        fraction, _ = net(loss, state)
        lr = gamma * fraction  # the only path from the meta loss to the net
        virtual, directions = {}, {}
        with torch.no_grad():
            for group in groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    direction = group["lr_scale"] * step_direction(p)
                    directions[names[id(p)]] = direction
                    virtual[names[id(p)]] = (p - lr.detach() * direction).requires_grad_()
        rest = {n: t.detach() for n, t in module.named_parameters() if n not in virtual}
        buffers = {n: b.clone() for n, b in module.named_buffers()}  # the real model's running stats stay as they are
        pick = meta_batches.next()
        with autocast():
            logits = functional_call(
                module, {**rest, **buffers, **virtual}, (x_meta[pick].contiguous(memory_format=memory_format),)
            )
        meta_loss = F.cross_entropy(logits.float(), y_meta[pick])
        grads = torch.autograd.grad(meta_loss, list(virtual.values()))
        d_meta_loss_d_lr = -sum((g * directions[n]).sum() for g, n in zip(grads, virtual, strict=True))
        net_optimizer.zero_grad(set_to_none=True)
        lr.backward(d_meta_loss_d_lr.detach())
        net_optimizer.step()
        return meta_loss.detach()

    reports: list[dict] = []
    checkpoints: dict[int, dict[str, Any]] = {}
    status = "succeeded"
    state: tuple[torch.Tensor, torch.Tensor] | None = None
    iteration = 0
    for epoch in range(1, epochs + 1):
        if stop_requested():
            status = "cancelled"
            break
        start = time.perf_counter()
        module.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        lrs: list[float] = []
        meta_losses: list[torch.Tensor] = []
        order = torch.randperm(len(x_train), device=device, generator=rng)
        for step in range(steps_per_epoch):
            batch = order[step * batch_size : (step + 1) * batch_size]
            inputs, targets = x_train[batch], y_train[batch]
            if workload.augment is not None:
                inputs = workload.augment(inputs, rng)
            with autocast():
                logits = module(inputs.contiguous(memory_format=memory_format))
            loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if iteration % meta_every == 0:
                meta_losses.append(meta_update(loss, state))
            with torch.no_grad():
                fraction, state = net(loss, state)
            lr = gamma * fraction.item()  # the host waits here every step: the LR depends on this loss
            for group in groups:
                group["lr"] = lr * group["lr_scale"]
            optimizer.step()

            lrs.append(lr)
            loss_sum += loss.detach() * len(batch)
            correct += (logits.detach().argmax(dim=1) == targets).sum()
            seen += len(batch)
            iteration += 1
            if not math.isfinite(lr):
                status = "diverged"
                break
            if iteration % STOP_CHECK_EVERY == 0 and stop_requested():
                status = "cancelled"
                break
        if status == "cancelled":  # mid-epoch: the partial epoch is not reported
            break
        test_loss, test_acc = _evaluate(module, x_test, y_test, workload.eval_batch_size, autocast, memory_format)
        checkpoints[epoch] = learner_state(net)
        report = core.json_safe(
            {
                "epoch": epoch,
                "train_loss": loss_sum.item() / seen,
                "train_acc": correct.item() / seen,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "lr_first": lrs[0],
                "lr_last": lrs[-1],
                "lr_mean": math.fsum(lrs) / len(lrs),
                "lr_trace": core.lr_trace(lrs, epoch - 1, steps_per_epoch, points=LR_TRACE_POINTS),
                "gamma": gamma,
                "meta_loss": torch.stack(meta_losses).mean().item() if meta_losses else None,
                "meta_updates": len(meta_losses),
                "seconds": time.perf_counter() - start,
            }
        )
        reports.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if status == "diverged" or report["train_loss"] is None:
            status = "diverged"
            break

    return {
        "status": status,
        "workload": workload.name,
        "seed": seed,
        "epochs": reports,
        "gamma": gamma,
        "gamma_paper": gamma_paper,
        "momentum": momentum,
        "meta_every": meta_every,
        "meta_set_size": len(x_meta),
        "checkpoints": checkpoints,
        # A diverged meta-training leaves non-finite weights: there is no schedule to hand over.
        "spec": (
            learned_spec(checkpoints, classes, momentum=momentum, lr_cap=lr_cap)
            if checkpoints and status != "diverged"
            else None
        ),
    }


def _meta_split(
    labels: torch.Tensor, classes: int, size: int | None, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(meta indices, training indices): size // classes random samples of each class held out."""
    n = len(labels)
    if size is None:
        size = min(META_SET_MAX, int(META_SET_SHARE * n))
    per_class = size // classes
    if per_class < 1:
        raise MetaInputError(
            "meta_set_size", f"meta_set_size must be at least one sample per class ({classes}), got {size}"
        )
    counts = torch.bincount(labels, minlength=classes)
    if int(counts.min()) <= per_class:
        raise MetaInputError(
            "meta_set_size",
            f"meta_set_size {size} holds out {per_class} per class, "
            f"but a class has only {int(counts.min())} training samples",
        )
    shuffled = torch.randperm(n, device=labels.device, generator=rng)
    held = torch.zeros(n, dtype=torch.bool, device=labels.device)
    for k in range(classes):
        of_class = shuffled[labels[shuffled] == k]
        held[of_class[:per_class]] = True
    return held.nonzero().squeeze(1), (~held).nonzero().squeeze(1)


class _Batches:
    """Index batches of a set, reshuffled after each pass: the meta batches."""

    def __init__(self, size: int, batch_size: int, rng: torch.Generator) -> None:
        self.size, self.batch_size, self.rng = size, batch_size, rng
        self.order = torch.empty(0, dtype=torch.int64)
        self.position = size

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:
            self.order = torch.randperm(self.size, device=self.rng.device, generator=self.rng)
            self.position = 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch


@torch.no_grad()
def _mean_loss(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    autocast: Callable,
    memory_format: torch.memory_format,
) -> float:
    """The training loss of the model as it is, in training mode, leaving its running statistics untouched."""
    buffers = {n: b.clone() for n, b in module.named_buffers()}
    module.train()
    total = torch.zeros((), device=x.device)
    for i in range(0, len(x), batch_size):
        with autocast():
            logits = module(x[i : i + batch_size].contiguous(memory_format=memory_format))
        total += F.cross_entropy(logits.float(), y[i : i + batch_size], reduction="sum")
    module.load_state_dict(buffers, strict=False)
    return total.item() / len(x)


@torch.no_grad()
def _evaluate(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    autocast: Callable,
    memory_format: torch.memory_format,
) -> tuple[float, float]:
    """(test loss, top-1 accuracy)."""
    module.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(x), batch_size):
        with autocast():
            logits = module(x[i : i + batch_size].contiguous(memory_format=memory_format)).float()
        loss += F.cross_entropy(logits, y[i : i + batch_size], reduction="sum")
        correct += (logits.argmax(dim=1) == y[i : i + batch_size]).sum()
    return loss.item() / len(x), correct.item() / len(x)


# The command line: `python -m trainer meta-train ...` once trainer/cli.py calls register_cli.


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``meta-train`` command to an argparse subparsers object; its handler is args.command(args) -> int.

    Its flags: where it runs (cli_support.add_where_arguments), META_PARAMS, and --out.
    """
    parser = subparsers.add_parser(
        "meta-train", help="meta-learn an LR schedule (MLR-SNet) on a workload and write it as a LEARNED spec"
    )
    add_where_arguments(parser)
    add_arguments(parser, META_PARAMS)
    parser.add_argument("--out", required=True, metavar="FILE", help="write the LEARNED spec there, as JSON")
    parser.set_defaults(command=meta_train_command)
    return parser


def meta_train_command(args: argparse.Namespace) -> int:
    """`meta-train`: one line per epoch (JSON lines with --json, else on stderr), then a JSON summary."""
    out = Path(args.out).expanduser()

    def plan() -> MetaPlan:
        if out.is_dir() or not out.parent.is_dir():
            raise UserInputError("out", f"{args.out} must be a file in an existing directory")
        return plan_meta_train(args.workload, **where(args), **cli_values(args, META_PARAMS))

    def run(plan: MetaPlan, stop_requested: Callable[[], bool]) -> dict:
        return run_meta_train(plan, print_json if args.json else _print_progress, stop_requested)

    return run_tool_command(plan, run, lambda result: _finish(result, out))


def _finish(result: dict, out: Path) -> int:
    if result["spec"] is not None:
        temporary = out.with_name(f".{out.name}.tmp")
        temporary.write_text(json.dumps(result["spec"]))
        os.replace(temporary, out)
    final = result["epochs"][-1] if result["epochs"] else {}
    print_json(
        {
            "status": result["status"],
            "epochs_completed": len(result["epochs"]),
            "final_acc": final.get("test_acc"),
            "gamma": result["gamma"],
            "gamma_paper": result["gamma_paper"],
            "lr_cap": result["lr_cap"],
            "lr_cap_source": result["lr_cap_source"],
            "momentum": result["momentum"],
            "meta_every": result["meta_every"],
            "meta_set_size": result["meta_set_size"],
            "out": str(out) if result["spec"] is not None else None,
        }
    )
    return EXIT_CANCELLED if result["status"] == "cancelled" else 0


def _print_progress(report: dict) -> None:
    print(
        f"epoch {report['epoch']}: test acc {fmt(report['test_acc'], '.4g')}, LR {fmt(report['lr_first'], '.4g')} → "
        f"{fmt(report['lr_last'], '.4g')}, meta loss {fmt(report['meta_loss'], '.4g')}",
        file=sys.stderr,
        flush=True,
    )
