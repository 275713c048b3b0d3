"""MLR-SNet (Shu et al., papers.md §3): meta-learn an LR schedule on a workload, and hand it over as a LEARNED spec.

    result = meta_train("digits-mlp", epochs=5)
    result["spec"]  # {"kind": "LEARNED", "learners": [first, middle, last], "gamma": "recompute", ...}

META_PARAMS declares its parameters once (checks, `meta-train` flags, the
job API's fields); `plan_meta_train` checks them before any training,
`run_meta_train` runs a checked plan, `meta_train` does both. The training
loop and the net are in trainer.mlrsnet (see its docstring for the
algorithm), imported when a meta-training runs: this module is light (no
torch), so the web process reads the declaration for free.

Two departures from the paper, both for workloads that are not its CIFAR
ResNets with BatchNorm:

- Momentum: the real and virtual steps use the workload's SGD momentum (the
  paper's is 0), so the learned LR is the LR for that momentum; the spec
  records it ("momentum"). Specs written before were meta-trained without
  momentum; trainer.schedules.learned.for_momentum rescales them.
- lr_cap: γ from the paper's formula is 0.67 for ten classes, an initial LR
  of ~0.34 that LeNet does not survive. γ is capped to lr_cap: a number, or
  by default (None; "auto" on the command line) the LR range test's valley
  LR for the workload's model and optimizer (trainer.range_test, 100 steps,
  measured first). The spec carries the cap, which caps γ in transfer too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.checks import MAX_EPOCHS
from trainer.cli_support import EXIT_CANCELLED, add_where_arguments, fmt, print_json, run_tool_command, where
from trainer.errors import UserInputError
from trainer.schedules.learned import gamma_from_loss
from trainer.schedules.params import MAX_LR
from trainer.tool_params import ToolParam, add_arguments, check, cli_values, unknown_arguments
from trainer.workloads import get_workload, resolve_optimizer

__all__ = [
    "META_PARAMS",
    "MetaInputError",
    "MetaPlan",
    "gamma_from_loss",
    "meta_train",
    "plan_meta_train",
    "register_cli",
    "run_meta_train",
]

# A bad argument of meta_train: ``field`` names it ("epochs", "meta_set_size", ...), as for every tool.
MetaInputError = UserInputError


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
        "the largest LR meta-training may set: γ is capped to it; auto: the LR range test's valley LR for "
        "the workload's model and optimizer",
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
    from trainer import core

    core.check_held_in_memory(spec)

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
    from trainer import core
    from trainer.mlrsnet import train_online

    workload = get_workload(plan.workload)
    target = core.resolve_device(plan.device)
    lr_cap, source = plan.lr_cap, "given"
    if lr_cap is None:
        lr_cap, source = _range_test_cap(plan), "range test valley"
    with core.workload_threads(workload, target):
        result = train_online(workload, plan, target, lr_cap, on_epoch, stop_requested)
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
