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
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from trainer import core
from trainer.errors import UserInputError
from trainer.schedules import validate
from trainer.schedules.learned import (
    FORGET_BIAS,
    GATES,
    HIDDEN,
    KIND,
    MAP_WIDTH,
    decode_learner,
    encode_learner,
    gamma_from_loss,
)
from trainer.workloads import UnknownWorkload, get_workload

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
EXIT_BAD_INPUT = 2  # as trainer.cli


class MetaInputError(UserInputError):
    """A bad argument of meta_train; ``field`` names it ("epochs", "meta_set_size", ...)."""

    @staticmethod
    def text(field: str, message: str) -> str:
        return f"{field}: {message}"


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


def learned_spec(checkpoints: Mapping[int, dict[str, Any]], num_classes: int) -> dict[str, Any]:
    """The LEARNED spec of meta-epoch checkpoints: the first, middle and last, γ recomputed at each switch."""
    epochs = sorted(checkpoints)
    picks = [epochs[0], epochs[(len(epochs) - 1) // 2], epochs[-1]]
    return validate(
        {"kind": KIND, "learners": [checkpoints[e] for e in picks], "gamma": "recompute", "num_classes": num_classes}
    )


def meta_train(
    workload: str,
    *,
    epochs: int,
    seed: int = 0,
    meta_set_size: int | None = None,
    meta_every: int | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    workload_options: dict | None = None,
    limit_train_batches: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train ``workload`` with the learned LR while meta-learning it; report every epoch to ``on_epoch``.

    Returns {"status": "succeeded" | "cancelled" | "diverged", "epochs": [per-epoch dicts], "gamma",
    "meta_every", "meta_set_size", "checkpoints": {epoch: learner state}, "spec": the LEARNED spec (None
    if no epoch completed)}. Each epoch dict: epoch, train_loss, train_acc, test_loss, test_acc, lr_first,
    lr_last, lr_mean, lr_trace ([[t in epochs, lr], ...], at most 50 per epoch), gamma, meta_loss (mean over
    the epoch's meta-updates), meta_updates, seconds. Bad arguments raise MetaInputError naming the field;
    an unknown workload UnknownWorkload.
    """
    spec = get_workload(workload)
    core.check_held_in_memory(spec)
    _check_whole("epochs", epochs, 1, MAX_EPOCHS)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise MetaInputError("seed", f"must be an integer, got {seed!r}")
    for name, value in (
        ("meta_set_size", meta_set_size),
        ("meta_every", meta_every),
        ("limit_train_batches", limit_train_batches),
    ):
        if value is not None:
            _check_whole(name, value, 1, None)
    try:
        target = core.resolve_device(device)
    except ValueError as error:
        raise MetaInputError("device", str(error)) from None
    try:
        options = spec.resolve_options(workload_options)
    except ValueError as error:
        raise MetaInputError("workload_options", str(error)) from None
    with core.workload_threads(spec, target):
        return _meta_train(
            spec,
            options,
            target,
            epochs,
            seed,
            meta_set_size,
            meta_every,
            data_dir,
            limit_train_batches,
            on_epoch,
            should_stop or (lambda: False),
        )


def _check_whole(field: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise MetaInputError(field, f"must be a whole number {bound}, got {value!r}")


def _meta_train(
    workload: Any,
    options: dict[str, Any],
    device: torch.device,
    epochs: int,
    seed: int,
    meta_set_size: int | None,
    meta_every: int | None,
    data_dir: str | os.PathLike | None,
    limit_train_batches: int | None,
    on_epoch: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
) -> dict[str, Any]:
    torch.manual_seed(seed)  # the model's and the net's initialisation
    rng = torch.Generator(device=device).manual_seed(seed)  # the meta split, data order, augmentation
    on_cuda = device.type == "cuda"
    memory_format = core.memory_format(workload)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)

    # Data: a clean, class-balanced meta set held out of the training data.
    x_all, y_all, x_test, y_test = (t.to(device) for t in workload.load_data(core.data_dir(data_dir)))
    classes = workload.num_classes
    meta_index, train_index = _meta_split(y_all, classes, meta_set_size, rng)
    x_train, y_train, x_meta, y_meta = x_all[train_index], y_all[train_index], x_all[meta_index], y_all[meta_index]
    batch_size = workload.batch_size
    steps_per_epoch = core.steps_per_epoch(len(x_train), batch_size, limit_train_batches)
    if meta_every is None:
        meta_every = min(steps_per_epoch, max(1, round(epochs * steps_per_epoch / PAPER_META_UPDATES)))

    # The model (plain SGD, the paper's weight decay) and the meta-learner (Adam).
    module = core.build_model(workload, options, device)
    groups = [g for g in workload.param_groups(module, options) if g["params"]]
    optimizer = torch.optim.SGD(groups, lr=0.0, momentum=0.0, weight_decay=REAL_WEIGHT_DECAY)
    names = {id(p): name for name, p in module.named_parameters()}
    net = MLRSNet().to(device)
    net_optimizer = torch.optim.Adam(net.parameters(), lr=META_LR, weight_decay=META_WEIGHT_DECAY)
    gamma = gamma_from_loss(
        _mean_loss(module, x_train, y_train, workload.eval_batch_size, autocast, memory_format), classes
    )
    meta_batches = _Batches(len(x_meta), min(batch_size, len(x_meta)), rng)

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
                    direction = group["lr_scale"] * (p.grad + REAL_WEIGHT_DECAY * p)
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
        "meta_every": meta_every,
        "meta_set_size": len(x_meta),
        "checkpoints": checkpoints,
        # A diverged meta-training leaves non-finite weights: there is no schedule to hand over.
        "spec": learned_spec(checkpoints, classes) if checkpoints and status != "diverged" else None,
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
        raise MetaInputError("meta_set_size", f"must be at least one sample per class ({classes}), got {size}")
    counts = torch.bincount(labels, minlength=classes)
    if int(counts.min()) <= per_class:
        raise MetaInputError(
            "meta_set_size",
            f"{size} holds out {per_class} per class, but a class has only {int(counts.min())} training samples",
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
    """Add the ``meta-train`` command to an argparse subparsers object; its handler is args.command(args) -> int."""
    parser = subparsers.add_parser(
        "meta-train", help="meta-learn an LR schedule (MLR-SNet) on a workload and write it as a LEARNED spec"
    )
    parser.add_argument("--workload", required=True, help="a workload name (see `workloads`)")
    parser.add_argument("--epochs", type=int, default=None, help="meta-training epochs (default: the workload's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="FILE", help="write the LEARNED spec there, as JSON")
    parser.add_argument("--json", action="store_true", help="print JSON lines only: one per epoch, then the result")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--data-dir", default=None, help="where data sets live (default: $DATA_DIR)")
    parser.add_argument("--meta-every", type=int, default=None, metavar="N", help="meta-update every N iterations")
    parser.add_argument("--meta-set-size", type=int, default=None, metavar="N", help="held-out meta samples")
    parser.add_argument("--limit-train-batches", type=int, default=None, metavar="N", help="train N batches per epoch")
    parser.set_defaults(command=_meta_train_command)
    return parser


def _meta_train_command(args: argparse.Namespace) -> int:
    from trainer.data import DataUnavailable

    out = Path(args.out).expanduser()
    if out.is_dir() or not out.parent.is_dir():
        return _bad_input(f"--out: {args.out} must be a file in an existing directory")
    try:
        epochs = args.epochs if args.epochs is not None else get_workload(args.workload).default_epochs
        result = meta_train(
            args.workload,
            epochs=epochs,
            seed=args.seed,
            meta_set_size=args.meta_set_size,
            meta_every=args.meta_every,
            data_dir=args.data_dir,
            device=args.device,
            limit_train_batches=args.limit_train_batches,
            on_epoch=_print_json if args.json else _print_progress,
        )
    except UnknownWorkload as error:
        return _bad_input(f"--workload: {error}")
    except MetaInputError as error:
        return _bad_input(f"--{error.field.replace('_', '-')}: {error.message}")
    except DataUnavailable as error:
        return _bad_input(str(error))
    if result["spec"] is not None:
        temporary = out.with_name(f".{out.name}.tmp")
        temporary.write_text(json.dumps(result["spec"]))
        os.replace(temporary, out)
    final = result["epochs"][-1] if result["epochs"] else {}
    summary = {
        "status": result["status"],
        "epochs_completed": len(result["epochs"]),
        "final_acc": final.get("test_acc"),
        "gamma": result["gamma"],
        "meta_every": result["meta_every"],
        "meta_set_size": result["meta_set_size"],
        "out": str(out) if result["spec"] is not None else None,
    }
    if args.json:
        _print_json(summary)
    else:
        print(json.dumps(summary))
    return 0


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, allow_nan=False), flush=True)


def _print_progress(report: dict) -> None:
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    print(
        f"epoch {report['epoch']}: test acc {show(report['test_acc'])}, LR {show(report['lr_first'])} → "
        f"{show(report['lr_last'])}, meta loss {show(report['meta_loss'])}",
        file=sys.stderr,
        flush=True,
    )
