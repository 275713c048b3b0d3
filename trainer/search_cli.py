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

from trainer.cli_support import add_where_arguments, fmt, print_json, printer, run_tool_command, where
from trainer.lr_grid import GRID_PARAMS, GRID_SEARCH_PARAMS, GridPlan, plan_grid, run_grid
from trainer.max_lr import SEARCH_PARAMS, SearchPlan, plan_search, run_search
from trainer.range_test import RANGE_PARAMS, RangeTestPlan, plan_range_test, run_range_test
from trainer.tool_params import add_arguments, cli_values


def register_cli(subparsers: Any) -> None:
    """Add `lr-search`, `lr-grid` and `lr-range` to an argparse subparsers object.

    Their flags come from the tools' declarations (SEARCH_PARAMS, GRID_PARAMS,
    RANGE_PARAMS). Each sets `command` to its handler: handler(args) -> exit
    status (0; 2 for bad input, with a message on stderr naming the argument;
    130 when Ctrl-C stopped it).
    """
    search = subparsers.add_parser("lr-search", help="find the maximal initial LR (Iyer et al.'s binary search)")
    add_where_arguments(search)
    add_arguments(search, SEARCH_PARAMS)
    search.set_defaults(command=lr_search_command)

    grid = subparsers.add_parser("lr-grid", help="the maximal initial LR over MLP depths x widths, and its power law")
    add_where_arguments(grid)
    add_arguments(grid, GRID_PARAMS + GRID_SEARCH_PARAMS)
    grid.set_defaults(command=lr_grid_command)

    ramp = subparsers.add_parser("lr-range", help="the LR range test (fastai's lr_find): suggested LRs")
    add_where_arguments(ramp)
    add_arguments(ramp, RANGE_PARAMS)
    ramp.set_defaults(command=lr_range_command)


def lr_search_command(args: argparse.Namespace) -> int:
    """`lr-search`: one line per probe, then η*; with --json, JSON lines."""

    def plan() -> SearchPlan:
        return plan_search(args.workload, **where(args), **cli_values(args, SEARCH_PARAMS))

    def run(search: SearchPlan, stop_requested: Callable[[], bool]) -> dict:
        return run_search(search, lambda probe: report(probe, "probe", _probe_line), stop_requested)

    report = printer(args.json)
    return run_tool_command(plan, run, lambda result: report(_without(result, "probes"), "result", _search_line))


def lr_grid_command(args: argparse.Namespace) -> int:
    """`lr-grid`: one line per probe and per cell, then the fit; with --json, JSON lines."""

    def plan() -> GridPlan:
        params = cli_values(args, GRID_PARAMS + GRID_SEARCH_PARAMS)
        return plan_grid(args.workload, params.pop("depths"), params.pop("widths"), **where(args), **params)

    def run(grid: GridPlan, stop_requested: Callable[[], bool]) -> dict:
        return run_grid(
            grid,
            lambda probe: report(probe, "probe", _probe_line),
            lambda cell: report(cell, "cell", _cell_line),
            stop_requested,
        )

    report = printer(args.json)
    return run_tool_command(plan, run, lambda result: report(_without(result, "probes", "cells"), "result", _grid_line))


def lr_range_command(args: argparse.Namespace) -> int:
    """`lr-range`: a progress bar on stderr, then the suggestions; with --json, JSON lines (one per step)."""

    def plan() -> RangeTestPlan:
        return plan_range_test(args.workload, **where(args), **cli_values(args, RANGE_PARAMS))

    def run(test: RangeTestPlan, stop_requested: Callable[[], bool]) -> dict:
        if args.json:
            return run_range_test(test, lambda step: print_json({"event": "step", **step}), stop_requested)
        from tqdm import tqdm

        with tqdm(total=test.steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:

            def advance(step: dict) -> None:
                bar.set_postfix(lr=f"{step['lr']:.3g}", loss=fmt(step["smoothed"], ".4f"), refresh=False)
                bar.update(1)

            return run_range_test(test, advance, stop_requested)

    report = printer(args.json)
    return run_tool_command(
        plan, run, lambda result: report(_without(result, "lrs", "losses", "smoothed"), "result", _range_lines)
    )


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
