"""The `lr-search`, `lr-grid` and `lr-range` commands: trainer.max_lr, trainer.lr_grid and trainer.range_test
on the command line.

`register_cli(subparsers)` adds them to trainer.cli's parser. Bad input exits 2
with a message naming the argument; Ctrl-C asks the tool to stop (exit 130);
with --json, stdout carries JSON lines only. Light to import: each tool loads
torch when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from trainer.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    ctrl_c_requests_stop,
    fmt,
    print_json,
    workload_options,
)
from trainer.lr_grid import GridPlan, plan_grid, run_grid
from trainer.max_lr import SearchPlan, plan_search, run_search
from trainer.range_test import RangeTestPlan, plan_range_test, run_range_test


def register_cli(subparsers: Any) -> None:
    """Add `lr-search`, `lr-grid` and `lr-range` to an argparse subparsers object.

    Each sets `command` to its handler: handler(args) -> exit status (0; 2 for
    bad input, with a message on stderr naming the argument; 130 when Ctrl-C
    stopped it).
    """
    search = subparsers.add_parser("lr-search", help="find the maximal initial LR (Iyer et al.'s binary search)")
    _add_common_arguments(search)
    _add_search_arguments(search)
    search.set_defaults(command=lr_search_command)

    grid = subparsers.add_parser("lr-grid", help="the maximal initial LR over MLP depths x widths, and its power law")
    _add_common_arguments(grid)
    grid.add_argument("--depths", required=True, type=_integer_list, help="comma-separated depths, e.g. 1,2,4")
    grid.add_argument("--widths", required=True, type=_integer_list, help="comma-separated widths, e.g. 64,128")
    grid.add_argument(
        "--input-lr-scale",
        type=float,
        default=None,
        help="the input layer's LR multiplier in every cell (Iyer et al. train it smaller, e.g. 0.1)",
    )
    _add_search_arguments(grid)
    grid.set_defaults(command=lr_grid_command)

    ramp = subparsers.add_parser("lr-range", help="the LR range test (fastai's lr_find): suggested LRs")
    _add_common_arguments(ramp)
    ramp.add_argument("--min-lr", type=float, default=1e-7, help="the first step's LR (default 1e-7)")
    ramp.add_argument("--max-lr", type=float, default=10.0, help="the last step's LR (default 10)")
    ramp.add_argument("--steps", type=int, default=100, help="training steps, LR growing geometrically (default 100)")
    ramp.add_argument("--beta", type=float, default=0.98, help="the loss's smoothing factor (default 0.98)")
    ramp.add_argument(
        "--diverge-factor", type=float, default=4.0, help="stop when the smoothed loss exceeds this x its best"
    )
    ramp.set_defaults(command=lr_range_command)


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", required=True, help="a workload name (see `workloads`)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--data-dir", default=None, help="where data sets live (default: $DATA_DIR)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE", help="a workload option; repeatable"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines only, then the result")


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--low", type=float, default=0.0, help="the bracket's low end (default 0)")
    parser.add_argument("--high", type=float, default=1.0, help="the bracket's high end (default 1)")
    parser.add_argument("--iterations", type=int, default=5, help="probes, each halving the bracket (default 5)")
    parser.add_argument("--epochs", type=int, default=10, help="each probe's epoch budget (default 10)")
    parser.add_argument(
        "--threshold", type=float, default=None, help="test accuracy to reach (default: the paper's, else the target)"
    )
    parser.add_argument("--limit-train-batches", type=int, default=None, metavar="N", help="train N batches per epoch")


def _integer_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, e.g. 1,2,4; got {text!r}") from None


def _search_arguments(args: argparse.Namespace, options: dict | None) -> dict[str, Any]:
    return {
        "low": args.low,
        "high": args.high,
        "iterations": args.iterations,
        "epochs": args.epochs,
        "threshold": args.threshold,
        "seed": args.seed,
        "workload_options": options,
        "data_dir": args.data_dir,
        "device": args.device,
        "limit_train_batches": args.limit_train_batches,
    }


def lr_search_command(args: argparse.Namespace) -> int:
    """`lr-search`: one line per probe, then η*; with --json, JSON lines."""

    def plan() -> SearchPlan:
        return plan_search(args.workload, **_search_arguments(args, workload_options(args.option)))

    def run(search: SearchPlan, stop_requested: Callable[[], bool]) -> dict:
        return run_search(search, lambda probe: report(probe, "probe", _probe_line), stop_requested)

    report = _printer(args.json)
    return _command(plan, run, lambda result: report(_without(result, "probes"), "result", _search_line))


def lr_grid_command(args: argparse.Namespace) -> int:
    """`lr-grid`: one line per probe and per cell, then the fit; with --json, JSON lines."""

    def plan() -> GridPlan:
        return plan_grid(
            args.workload,
            args.depths,
            args.widths,
            input_lr_scale=args.input_lr_scale,
            **_search_arguments(args, workload_options(args.option)),
        )

    def run(grid: GridPlan, stop_requested: Callable[[], bool]) -> dict:
        return run_grid(
            grid,
            lambda probe: report(probe, "probe", _probe_line),
            lambda cell: report(cell, "cell", _cell_line),
            stop_requested,
        )

    report = _printer(args.json)
    return _command(plan, run, lambda result: report(_without(result, "probes", "cells"), "result", _grid_line))


def lr_range_command(args: argparse.Namespace) -> int:
    """`lr-range`: a progress bar on stderr, then the suggestions; with --json, JSON lines (one per step)."""

    def plan() -> RangeTestPlan:
        return plan_range_test(
            args.workload,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            steps=args.steps,
            beta=args.beta,
            diverge_factor=args.diverge_factor,
            seed=args.seed,
            workload_options=workload_options(args.option),
            data_dir=args.data_dir,
            device=args.device,
        )

    def run(test: RangeTestPlan, stop_requested: Callable[[], bool]) -> dict:
        if args.json:
            return run_range_test(test, lambda step: print_json({"event": "step", **step}), stop_requested)
        from tqdm import tqdm

        with tqdm(total=test.steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:

            def advance(step: dict) -> None:
                bar.set_postfix(lr=f"{step['lr']:.3g}", loss=fmt(step["smoothed"], ".4f"), refresh=False)
                bar.update(1)

            return run_range_test(test, advance, stop_requested)

    report = _printer(args.json)
    return _command(
        plan, run, lambda result: report(_without(result, "lrs", "losses", "smoothed"), "result", _range_lines)
    )


def _command(plan: Callable[[], Any], run: Callable[[Any, Callable[[], bool]], dict], finish: Callable) -> int:
    """Check the arguments (exit 2 naming the bad one), run with Ctrl-C asking to stop, report."""
    from trainer.data import DataUnavailable

    try:
        planned = plan()
    except ValueError as error:  # UserInputError (BadInput, UnknownWorkload, SpecError...) is a ValueError
        return _bad_input(error)
    with ctrl_c_requests_stop() as stop_requested:
        try:
            result = run(planned, stop_requested)
        except DataUnavailable as error:
            return _bad_input(error)
    finish(result)
    return EXIT_CANCELLED if result.get("cancelled") or result.get("stop_reason") == "cancelled" else 0


def _bad_input(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _printer(as_json: bool) -> Callable[[dict, str, Callable[[dict], str]], None]:
    """report(obj, event, describe): a JSON line tagged {"event": event}, or describe(obj) as text."""

    def report(obj: dict, event: str, describe: Callable[[dict], str]) -> None:
        if as_json:
            print_json({"event": event, **obj})
        else:
            print(describe(obj), flush=True)

    return report


def _probe_line(p: dict) -> str:
    where = f"depth {p['depth']} width {p['width']}, " if "depth" in p else ""
    outcome = "reached the threshold" if p["success"] else ("diverged" if p["diverged"] else "fell short")
    return (
        f"{where}probe {p['iteration']}: lr {p['lr']:.6g} {outcome} "
        f"(best acc {fmt(p['best_accuracy'], '.4f')} in {p['epochs_trained']} epoch{_s(p['epochs_trained'])}); "
        f"eta* in [{p['low']:.6g}, {p['high']:.6g}]"
    )


def _search_line(r: dict) -> str:
    status = " (cancelled)" if r["cancelled"] else ""
    line = (
        f"eta* = {r['eta_star']:.6g}{status} for {r['workload']} {_options_text(r['workload_options'])}: "
        f"threshold {r['threshold']:.1%} within {r['epochs']} epochs, "
        f"bracket [{r['low']:.6g}, {r['high']:.6g}] after {r['iterations']} iterations"
    )
    if r["high"] == r["bracket"][1]:
        line += "; every probe succeeded: eta* may lie above --high"
    elif r["low"] == r["bracket"][0]:
        line += "; no probe succeeded: eta* may lie below the smallest LR tried"
    return line


def _cell_line(c: dict) -> str:
    return f"depth {c['depth']} width {c['width']} (size {c['size']}): eta* = {c['eta_star']:.6g}"


def _grid_line(r: dict) -> str:
    fit = r["fit"]
    if fit is None:
        return f"no power-law fit: {r['fit_error']}"
    lo, hi = fit["p_ci"]
    return (
        f"eta* ~ {fit['C']:.4g} * (depth*width)^(-{fit['p']:.4f}); p in [{lo:.4f}, {hi:.4f}] (95%), "
        f"r2 {fit['r2']:.4f}, n {fit['n']}"
        + (f", {fit['dropped']} cells with eta* = 0 left out" if fit["dropped"] else "")
    )


def _range_lines(r: dict) -> str:
    stop = f"stopped early ({r['stop_reason']})" if r["stopped_early"] else "ran all steps"
    s, cyclic = r["suggestions"], r["cyclic"]
    lines = [f"{r['workload']}: {stop}"]
    for name in ("steepest", "valley", "min_loss", "min_loss_div10"):
        lines.append(f"  {name:<15} {fmt(s[name], '.4g')}")
    if cyclic is not None:
        lines.append(f"  cyclic prefill  k0 {cyclic['k0']:.4g}, k1 {cyclic['k1']:.4g}")
    return "\n".join(lines)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _options_text(options: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in options.items())


def _without(result: dict, *keys: str) -> dict:
    return {k: v for k, v in result.items() if k not in keys}
