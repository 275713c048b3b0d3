"""The command line: `python -m trainer train ...`, `python -m trainer workloads`, and the research
tools (`lr-search`, `lr-grid`, `lr-range`, `meta-train`, `equivalence`).

Bad input exits with status 2 and a message on stderr naming the field, never
a traceback; so does a data set that is missing and cannot be downloaded, and a
checkpoint that another run wrote. With --json, stdout carries only JSON lines:
one per epoch, then the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from trainer.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    BadInput,
    ctrl_c_requests_stop,
    fmt,
    print_json,
    workload_options,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_CANCELLED", "BadInput", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="LR Arena's trainer.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train one run and print its epochs and summary")
    train.add_argument("--workload", required=True, help="a workload name (see `workloads`)")
    train.add_argument("--policy", required=True, help='the LR policy as JSON, e.g. \'{"kind": "FIX", "k0": 0.05}\'')
    train.add_argument("--epochs", type=int, default=None, help="default: the workload's default_epochs")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    train.add_argument(
        "--data-dir", default=None, help="where data sets live (default: $DATA_DIR, else ../shared/datasets)"
    )
    train.add_argument("--json", action="store_true", help="print JSON lines only: one per epoch, then the result")
    train.add_argument(
        "--optimizer",
        default=None,
        help='override the workload\'s optimizer, as JSON, e.g. \'{"name": "adamw", "weight_decay": 0.01}\'',
    )
    train.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a workload option, e.g. --option depth=4 --option width=256 (see `workloads`); repeatable",
    )
    train.add_argument(
        "--synthetic", action="store_true", help="train on random tensors of the data's shape (no data needed)"
    )
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument(
        "--checkpoint", default=None, metavar="PATH", help="write a checkpoint there after every epoch; resume from it"
    )
    train.add_argument("--no-resume", action="store_true", help="with --checkpoint: start afresh, overwriting it")
    train.add_argument("--limit-train-batches", type=int, default=None, metavar="N", help="train N batches per epoch")
    train.add_argument("--limit-test-batches", type=int, default=None, metavar="N", help="evaluate N batches only")
    train.set_defaults(command=_train)

    workloads = commands.add_parser("workloads", help="list the workloads")
    workloads.add_argument("--json", action="store_true", help="print them as one JSON array")
    workloads.set_defaults(command=_workloads)
    _register_research_commands(commands)
    return parser


def _register_research_commands(commands) -> None:
    """The research tools' subcommands."""
    from trainer import equivalence, meta, search_cli

    search_cli.register_cli(commands)
    meta.register_cli(commands)
    equivalence.register_cli(commands)


def _workloads(args: argparse.Namespace) -> int:
    """The workloads, built-in then plugins'; a plugin that failed to load is named on stderr (exit status 0)."""
    from trainer.plugins import plugin_statuses
    from trainer.workloads import list_workloads

    workloads = list_workloads()
    if args.json:
        print(json.dumps(workloads, indent=2))
    else:
        _print_workloads(workloads)
    for status in plugin_statuses():
        if not status.loaded:
            print(
                f"warning: workload plugin {status.entry_point!r} ({status.target}, from "
                f"{status.distribution or 'an unknown distribution'}) failed to load: {status.error}",
                file=sys.stderr,
            )
    return 0


def _print_workloads(workloads: list[dict[str, Any]]) -> None:
    for w in workloads:
        optimizer = dict(w["optimizer"])
        name = optimizer.pop("name")
        settings = ", ".join(f"{key} {json.dumps(value)}" for key, value in optimizer.items())
        plugin = w.get("plugin")
        origin = f"  (plugin {plugin['entry_point']}: {plugin['distribution']} {plugin['version']})" if plugin else ""
        print(f"{w['name']:<20} {w['title']}{origin}")
        print(
            f"{'':<20} batch {w['batch_size']}, {w['default_epochs']} epochs by default, "
            f"target {w['target_accuracy']:.1%}, {name.upper()} {settings}"
        )
        for option in w["options"]:
            print(f"{'':<20} --option {option['name']}=... ({_option_about(option)}): {option['help']}")


def _option_about(option: dict[str, Any]) -> str:
    """"int, default 4"; "str, required"; "str, one of auto, memory, stream; default \"auto\""."""
    choices = option.get("choices") or []
    if len(choices) > 10:
        about = f"{option['type']}, one of {len(choices)} names, {choices[0]} to {choices[-1]} (--json lists them)"
    elif choices:
        about = f"{option['type']}, one of {', '.join(choices)}"
    else:
        about = option["type"]
    if option.get("required"):
        return f"{about}, required"
    return f"{about}{'; ' if choices else ', '}default {json.dumps(option['default'])}"


def _train(args: argparse.Namespace) -> int:
    from trainer.checkpoint import CheckpointError
    from trainer.data import DataUnavailable
    from trainer.engine import TrainConfig, train, validate
    from trainer.schedules import SpecError
    from trainer.workloads import UnknownWorkload, get_workload

    policy = _json_argument("--policy", args.policy)
    optimizer = None if args.optimizer is None else _json_argument("--optimizer", args.optimizer)
    try:
        epochs = args.epochs if args.epochs is not None else get_workload(args.workload).default_epochs
        config = TrainConfig(
            workload=args.workload,
            policy=policy,
            epochs=epochs,
            seed=args.seed,
            device=args.device,
            data_dir=args.data_dir,
            workload_options=workload_options(args.option),
            optimizer=optimizer,
            synthetic=args.synthetic,
            compile=args.compile,
            checkpoint_path=args.checkpoint,
            resume=not args.no_resume,
            limit_train_batches=args.limit_train_batches,
            limit_test_batches=args.limit_test_batches,
        )
        validate(config)
    except UnknownWorkload as error:
        raise BadInput(str(error)) from None
    except SpecError as error:
        fields = "\n".join(f"  {field}: {message}" for field, messages in error.errors.items() for message in messages)
        raise BadInput(f"invalid --policy:\n{fields}") from None
    except ValueError as error:  # epochs, device, options, optimizer...: the message names the field
        raise BadInput(str(error)) from None

    report = _JsonLines() if args.json else _ProgressBar(config.epochs)
    with ctrl_c_requests_stop() as stop_requested:
        try:
            result = train(config, on_epoch=report.epoch, should_stop=stop_requested)
        except (DataUnavailable, CheckpointError) as error:
            raise BadInput(str(error)) from None
        finally:
            report.close()
    report.result(result)
    return EXIT_CANCELLED if result["status"] == "cancelled" else 0


def _json_argument(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{flag} is not valid JSON: {error}") from None


class _JsonLines:
    def epoch(self, metrics: dict) -> None:
        print_json(metrics)

    def close(self) -> None:
        pass

    def result(self, result: dict) -> None:
        print_json({k: v for k, v in result.items() if k != "epochs"})


class _ProgressBar:
    def __init__(self, epochs: int):
        from tqdm import tqdm

        self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def epoch(self, metrics: dict) -> None:
        self.bar.set_postfix(
            acc=fmt(metrics["test_acc"], ".4f"),
            loss=fmt(metrics["test_loss"], ".4f"),
            lr=fmt(metrics["lr_last"], ".4g"),
            refresh=False,
        )
        self.bar.update(metrics["epoch"] - self.bar.n)  # a resumed run starts past 0

    def close(self) -> None:
        self.bar.close()

    def result(self, result: dict) -> None:
        s = result["summary"]
        line = (
            f"{result['status']}: {s['epochs_completed']} epochs, {s['iterations']} iterations "
            f"in {s['total_seconds']:.1f}s on {result['device']}; "
            f"final acc {fmt(s['final_acc'], '.4f')} (best {fmt(s['best_acc'], '.4f')} "
            f"at epoch {s['best_epoch']}), top-5 {fmt(s['final_top5'], '.4f')}, "
            f"test loss {fmt(s['final_test_loss'], '.4f')}, "
            f"target {s['target_accuracy']:.0%} reached at epoch {s['epochs_to_target']}"
        )
        if s["diverged_epoch"] is not None:
            line += f"; diverged: {s.get('diverged_reason') or 'at epoch ' + str(s['diverged_epoch'])}"
        print(line)
