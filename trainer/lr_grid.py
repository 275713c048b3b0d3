"""η* over a grid of MLP depths × widths, and its power law η* ≈ C·(depth·width)^(−p).

Iyer, Hanin & Rolnick (ICML 2023) find the maximal initial LR of a
constant-width MLP falls as a power of its size. `lr_grid` runs one
trainer.max_lr search per (depth, width) of mnist-mlp or gauss2-mlp;
`fit_power_law` fits the law by least squares on log-log axes, with a
confidence interval on the exponent.

Light to import: numpy, scipy and the engine are imported when used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer.checks import real
from trainer.errors import UserInputError
from trainer.max_lr import SEARCH_PARAMS, SearchPlan, plan_search, run_search
from trainer.tool_params import ToolParam, check, unknown_arguments

GRID_WORKLOADS = ("mnist-mlp", "gauss2-mlp")  # the constant-width MLPs whose depth and width are options


def fit_power_law(sizes: list[float], eta_stars: list[float], confidence: float = 0.95) -> dict:
    """Fit log η* = log C − p·log(size) by least squares.

    Returns {"C", "p", "p_ci": [lo, hi], "p_stderr", "r2", "n", "dropped"}: p_ci
    is the two-sided `confidence` interval on the slope from Student's t with
    n − 2 degrees of freedom. Points with η* = 0 (no LR succeeded) cannot go on
    log axes: they are dropped and counted. UserInputError with fewer than 3 points
    left, with sizes that are all equal, or with a size ≤ 0 or η* < 0.
    """
    import numpy as np
    from scipy import stats

    if len(sizes) != len(eta_stars):
        raise UserInputError(
            "sizes", f"sizes and eta_stars must have the same length, got {len(sizes)} and {len(eta_stars)}"
        )
    confidence = real("confidence", confidence)
    if not 0 < confidence < 1:
        raise UserInputError("confidence", f"confidence must be in (0, 1), got {confidence!r}")
    for i, (size, eta) in enumerate(zip(sizes, eta_stars, strict=True)):
        if real(f"sizes[{i}]", size) <= 0:
            raise UserInputError("sizes", f"sizes[{i}] must be positive, got {size!r}")
        if real(f"eta_stars[{i}]", eta) < 0:
            raise UserInputError("eta_stars", f"eta_stars[{i}] must be at least 0, got {eta!r}")
    kept = [(s, e) for s, e in zip(sizes, eta_stars, strict=True) if e > 0]
    if len(kept) < 3:
        raise UserInputError("eta_stars", f"eta_stars: a fit needs at least 3 points with eta* > 0, got {len(kept)}")
    x = np.log(np.array([s for s, _ in kept], dtype=float))
    y = np.log(np.array([e for _, e in kept], dtype=float))
    n = len(x)
    sxx = float(np.sum((x - x.mean()) ** 2))
    if sxx == 0:
        raise UserInputError("sizes", "sizes: a fit needs at least two different sizes")
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * x.mean())
    residuals = y - (intercept + slope * x)
    sse = float(np.sum(residuals**2))
    sst = float(np.sum((y - y.mean()) ** 2))
    stderr = math.sqrt(sse / (n - 2) / sxx)
    half_width = float(stats.t.ppf((1 + confidence) / 2, n - 2)) * stderr
    p = -slope
    return {
        "C": math.exp(intercept),
        "p": p,
        "p_ci": [p - half_width, p + half_width],
        "p_stderr": stderr,
        "r2": 1.0 - sse / sst if sst > 0 else 1.0,  # every η* equal: the flat line fits exactly
        "n": n,
        "dropped": len(sizes) - n,
    }


@dataclass(frozen=True)
class GridPlan:
    """A validated grid: one search per (depth, width), depth-major."""

    workload: str
    depths: list[int]
    widths: list[int]
    searches: list[SearchPlan]


# The grid's own parameters, declared once (see trainer.max_lr.SEARCH_PARAMS): the rest are the search's,
# with a job's tighter bounds (every cell is a search).
GRID_PARAMS = (
    ToolParam("depths", "int_list", "depths, e.g. 1,2,4", required=True, job_min=1, job_max=32, job_max_len=8),
    ToolParam("widths", "int_list", "widths, e.g. 64,128", required=True, job_min=1, job_max=4096, job_max_len=8),
    ToolParam(
        "input_lr_scale",
        "float",
        "the input layer's LR multiplier in every cell (Iyer et al. train it smaller, e.g. 0.1)",
        nullable=True,
        job_min=1e-4,
        job_max=1.0,
    ),
)
GRID_SEARCH_PARAMS = tuple(
    p.with_job_bounds(job_max={"iterations": 12, "epochs": 50}[p.name]) if p.name in ("iterations", "epochs") else p
    for p in SEARCH_PARAMS
)
MAX_GRID_JOB_NETWORKS = 24  # a job's depths x widths: each cell is a whole search


def lr_grid(
    workload: str,
    depths: list[int],
    widths: list[int],
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    on_probe: Callable[[dict], None] | None = None,
    on_cell: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> dict:
    """η* for every (depth, width) MLP of mnist-mlp or gauss2-mlp, then its power law in size = depth·width.

    Iyer et al. find the law holds when the input layer trains at a smaller LR:
    input_lr_scale sets that option for every cell (None: workload_options',
    else the workload's default, 1). Cells run depth-major in the order given,
    each a max_initial_lr search with the other arguments (params: GRID_PARAMS
    but depths and widths, and SEARCH_PARAMS, defaulting as declared there). on_probe gets each
    probe with "depth" and "width"; on_cell each finished cell {"depth",
    "width", "size", "eta_star"}. Result: {"cells", "fit", "fit_error",
    "probes", ...}; "fit" is None, with the reason in "fit_error", when fewer
    than 3 cells have η* > 0. should_stop() True ends it "cancelled", the fit
    over the cells done. Every argument is checked (UserInputError naming it)
    before any training.
    """
    grid = plan_grid(
        workload, depths, widths, workload_options=workload_options, data_dir=data_dir, device=device, **params
    )
    return run_grid(grid, on_probe, on_cell, should_stop or _never)


def plan_grid(
    workload: str,
    depths: list[int],
    widths: list[int],
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    **params: Any,
) -> GridPlan:
    """The grid's arguments checked: GRID_PARAMS, then every cell's search (trainer.max_lr.plan_search)."""
    own = {p.name for p in GRID_PARAMS}
    unknown_arguments("lr_grid", GRID_PARAMS + GRID_SEARCH_PARAMS, params)
    if workload not in GRID_WORKLOADS:
        raise UserInputError(
            "workload", f"workload must be one of {', '.join(GRID_WORKLOADS)} for a grid, got {workload!r}"
        )
    values = check(GRID_PARAMS, {**{k: v for k, v in params.items() if k in own}, "depths": depths, "widths": widths})
    depths, widths = values["depths"], values["widths"]
    if workload_options is not None and not isinstance(workload_options, dict):
        raise UserInputError(
            "workload_options",
            f"workload_options must be an object of option names to values, got {workload_options!r}",
        )
    base = dict(workload_options or {})
    for name in ("depth", "width"):
        if name in base:
            raise UserInputError("workload_options", f"workload_options.{name}: the grid sets it; give {name}s instead")
    if values["input_lr_scale"] is not None:
        base["input_lr_scale"] = values["input_lr_scale"]
    search = {k: v for k, v in params.items() if k not in own}
    searches = [
        plan_search(
            workload,
            workload_options={**base, "depth": depth, "width": width},
            data_dir=data_dir,
            device=device,
            **search,
        )
        for depth in depths
        for width in widths
    ]
    return GridPlan(workload, depths, widths, searches)


def run_grid(
    grid: GridPlan,
    on_probe: Callable[[dict], None] | None,
    on_cell: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
) -> dict:
    cells: list[dict] = []
    probes: list[dict] = []
    cancelled = False
    for search in grid.searches:
        depth, width = search.options["depth"], search.options["width"]

        def report_probe(probe: dict, depth: int = depth, width: int = width) -> None:
            probe = {"depth": depth, "width": width, **probe}
            probes.append(probe)
            if on_probe is not None:
                on_probe(dict(probe))

        result = run_search(search, report_probe, stop_requested)
        if result["cancelled"]:
            cancelled = True
            break
        cell = {"depth": depth, "width": width, "size": depth * width, "eta_star": result["eta_star"]}
        cells.append({**cell, "high": result["high"]})
        if on_cell is not None:
            on_cell(dict(cell))
    fit, fit_error = None, None
    try:
        fit = fit_power_law([c["size"] for c in cells], [c["eta_star"] for c in cells])
    except ValueError as error:
        fit_error = str(error)
    first = grid.searches[0]
    return {
        "workload": grid.workload,
        "depths": grid.depths,
        "widths": grid.widths,
        "input_lr_scale": first.options["input_lr_scale"],
        "threshold": first.threshold,
        "epochs": first.epochs,
        "iterations": first.iterations,
        "seed": first.seed,
        "cells": cells,
        "fit": fit,
        "fit_error": fit_error,
        "probes": probes,
        "cancelled": cancelled,
    }


def _never() -> bool:
    return False
