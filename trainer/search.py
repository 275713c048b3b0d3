"""Learning-rate searches: the maximal initial LR η*, its power law, and the LR range test.

- `max_initial_lr`: Algorithm 1 of Iyer, Hanin & Rolnick (ICML 2023; see
  shared/reference/papers.md, section 2), a binary search for the largest
  constant LR at which a freshly initialised network reaches a threshold
  accuracy within an epoch budget. Every probe is an ordinary run of
  `trainer.engine.train` under a FIX policy.
- `lr_grid`: η* for each depth × width of an MLP workload, then
  `fit_power_law`: η* ≈ C·(depth·width)^(−p) by least squares on log-log axes.
- `lr_range_test`: the practitioners' LR range test (Smith 2017; fastai's
  lr_find, torch-lr-finder): one short run with an exponentially growing LR,
  and LRs suggested from its smoothed loss curve.
- `register_cli`: the `lr-search`, `lr-grid` and `lr-range` commands.

Light to import, like trainer.cli: torch, scipy and the engine are imported
inside the functions that use them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer.schedules.params import MAX_LR  # the largest LR a policy takes: probes and suggestions must be policies

# Iyer et al.'s thresholds t: 92.5% on MNIST (theirs) and 90% on the two
# Gaussians (this project's choice, papers.md section 2). Other workloads: their target_accuracy.
PAPER_THRESHOLDS = {"mnist-mlp": 0.925, "gauss2-mlp": 0.90}
GRID_WORKLOADS = ("mnist-mlp", "gauss2-mlp")  # the constant-width MLPs whose depth and width are options
MAX_ITERATIONS = 30  # the bracket shrinks 2^30-fold: far finer than any LR difference that matters

# The range test.
MAX_RANGE_STEPS = 10_000  # each step waits for the host: more is a long run, not a range test
SKIP_START_FRACTION = 0.1  # suggestions ignore the first tenth: an EMA of a few losses is noise
VALLEY_POSITION = 2 / 3  # how far down the longest descent the valley pick lies
CYCLIC_BASE_DIVISOR = 4.0  # Smith (2017): a cycle's base LR is a third to a quarter of its max


# --- The maximal initial LR (Algorithm 1) ------------------------------------------------------


@dataclass(frozen=True)
class _Search:
    """A validated binary search: every argument of max_initial_lr but the callbacks."""

    workload: str
    low: float
    high: float
    iterations: int
    epochs: int
    threshold: float
    seed: int
    options: dict[str, Any]  # every workload option, defaults filled in
    data_dir: Any
    device: str
    limit_train_batches: int | None


def max_initial_lr(
    workload: str,
    *,
    low: float = 0.0,
    high: float = 1.0,
    iterations: int = 5,
    epochs: int = 10,
    threshold: float | None = None,
    seed: int = 0,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    limit_train_batches: int | None = None,
    on_probe: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """η*: the largest constant LR found to reach `threshold` test accuracy within `epochs` epochs.

    Algorithm 1 of Iyer et al.: `iterations` times, probe m = (low + high)/2 —
    the network initialised afresh from `seed` (the same for every probe),
    trained with constant LR m, evaluated after each epoch and stopped as soon
    as its test accuracy reaches the threshold (success) or after `epochs`
    epochs (failure; a diverged probe fails too) — then low = m on success,
    else high = m. Returns low: the largest LR confirmed to succeed (low itself,
    0 by default, when none did).

    threshold defaults to PAPER_THRESHOLDS for Iyer et al.'s workloads, else the
    workload's target_accuracy. on_probe(probe) follows every probe, with the
    bracket after its update. should_stop() is passed to the engine: True ends
    the search with "cancelled": True, the interrupted probe left out.

    Raises ValueError naming the argument before any training.
    """
    search = _plan_search(
        workload,
        low=low,
        high=high,
        iterations=iterations,
        epochs=epochs,
        threshold=threshold,
        seed=seed,
        workload_options=workload_options,
        data_dir=data_dir,
        device=device,
        limit_train_batches=limit_train_batches,
    )
    return _run_search(search, on_probe, should_stop or _never)


def _plan_search(
    workload: str,
    *,
    low: float,
    high: float,
    iterations: int,
    epochs: int,
    threshold: float | None,
    seed: int,
    workload_options: dict | None,
    data_dir: Any,
    device: str,
    limit_train_batches: int | None,
) -> _Search:
    from trainer import engine
    from trainer.workloads import get_workload

    spec = get_workload(workload)  # UnknownWorkload, a ValueError
    low, high = _real("low", low), _real("high", high)
    if low < 0:
        raise ValueError(f"low must be at least 0, got {low!r}")
    if high <= low:
        raise ValueError(f"high must be greater than low ({low!r}), got {high!r}")
    if high > MAX_LR:
        raise ValueError(f"high must be at most {MAX_LR:g}, the largest LR a policy takes, got {high!r}")
    _integer("iterations", iterations, 1, MAX_ITERATIONS)
    _integer("epochs", epochs, 1, engine.MAX_EPOCHS)
    if threshold is None:
        threshold = PAPER_THRESHOLDS.get(spec.name, spec.target_accuracy)
    threshold = _real("threshold", threshold)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be an accuracy in (0, 1], got {threshold!r}")
    search = _Search(
        workload=spec.name,
        low=low,
        high=high,
        iterations=iterations,
        epochs=epochs,
        threshold=threshold,
        seed=seed,
        options=spec.resolve_options(workload_options),
        data_dir=data_dir,
        device=device,
        limit_train_batches=limit_train_batches,
    )
    engine.validate(_probe_config(search, (low + high) / 2))  # seed, device, limit_train_batches
    return search


def _probe_config(search: _Search, lr: float) -> Any:
    from trainer.divergence import NON_FINITE_ONLY
    from trainer.engine import TrainConfig

    # A probe succeeds if it reaches the threshold within its budget (Iyer et al.): only a non-finite
    # loss ends it early, not the board's collapse rule.
    return TrainConfig(
        workload=search.workload,
        policy={"kind": "FIX", "k0": lr},
        epochs=search.epochs,
        seed=search.seed,
        device=search.device,
        data_dir=search.data_dir,
        workload_options=search.options,
        limit_train_batches=search.limit_train_batches,
        divergence=NON_FINITE_ONLY,
    )


def _run_search(search: _Search, on_probe: Callable[[dict], None] | None, stop_requested: Callable[[], bool]) -> dict:
    low, high = search.low, search.high
    probes: list[dict] = []
    cancelled = False
    for iteration in range(1, search.iterations + 1):
        lr = (low + high) / 2
        outcome = _probe(search, lr, stop_requested)
        if outcome is None:
            cancelled = True
            break
        if outcome["success"]:
            low = lr
        else:
            high = lr
        probe = {"iteration": iteration, "lr": lr, **outcome, "low": low, "high": high}
        probes.append(probe)
        if on_probe is not None:
            on_probe(dict(probe))
    return {
        "eta_star": low,
        "low": low,
        "high": high,
        "resolution": high - low,
        "bracket": [search.low, search.high],  # the one searched
        "threshold": search.threshold,
        "probes": probes,
        "workload": search.workload,
        "workload_options": search.options,
        "epochs": search.epochs,
        "iterations": search.iterations,
        "seed": search.seed,
        "cancelled": cancelled,
    }


def _probe(search: _Search, lr: float, stop_requested: Callable[[], bool]) -> dict | None:
    """Train once at constant LR lr until the threshold is reached; None if stop_requested() cut it short."""
    from trainer import engine

    accuracies: list[float | None] = []
    reached = False

    def on_epoch(metrics: dict) -> None:
        nonlocal reached
        accuracies.append(metrics["test_acc"])
        finite = metrics["train_loss"] is not None  # a diverged epoch's accuracy does not count
        if finite and metrics["test_acc"] is not None and metrics["test_acc"] >= search.threshold:
            reached = True

    # The engine asks should_stop before every epoch: a reached threshold ends the probe there.
    result = engine.train(_probe_config(search, lr), on_epoch=on_epoch, should_stop=lambda: reached or stop_requested())
    if result["status"] == "cancelled" and not reached:
        return None
    measured = [a for a in accuracies if a is not None]
    return {
        "success": reached,
        "best_accuracy": max(measured, default=None),
        "accuracies": accuracies,
        "epochs_trained": len(accuracies),
        "diverged": result["status"] == "diverged",
    }


# --- The power law η* ≈ C·(depth·width)^(−p) ---------------------------------------------------


def fit_power_law(sizes: list[float], eta_stars: list[float], confidence: float = 0.95) -> dict:
    """Fit log η* = log C − p·log(size) by least squares.

    Returns {"C", "p", "p_ci": [lo, hi], "p_stderr", "r2", "n", "dropped"}: p_ci
    is the two-sided `confidence` interval on the slope from Student's t with
    n − 2 degrees of freedom. Points with η* = 0 (no LR succeeded) cannot go on
    log axes: they are dropped and counted. ValueError with fewer than 3 points
    left, with sizes that are all equal, or with a size ≤ 0 or η* < 0.
    """
    import numpy as np
    from scipy import stats

    if len(sizes) != len(eta_stars):
        raise ValueError(f"sizes and eta_stars must have the same length, got {len(sizes)} and {len(eta_stars)}")
    confidence = _real("confidence", confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    for i, (size, eta) in enumerate(zip(sizes, eta_stars, strict=True)):
        if _real(f"sizes[{i}]", size) <= 0:
            raise ValueError(f"sizes[{i}] must be positive, got {size!r}")
        if _real(f"eta_stars[{i}]", eta) < 0:
            raise ValueError(f"eta_stars[{i}] must be at least 0, got {eta!r}")
    kept = [(s, e) for s, e in zip(sizes, eta_stars, strict=True) if e > 0]
    if len(kept) < 3:
        raise ValueError(f"eta_stars: a fit needs at least 3 points with eta* > 0, got {len(kept)}")
    x = np.log(np.array([s for s, _ in kept], dtype=float))
    y = np.log(np.array([e for _, e in kept], dtype=float))
    n = len(x)
    sxx = float(np.sum((x - x.mean()) ** 2))
    if sxx == 0:
        raise ValueError("sizes: a fit needs at least two different sizes")
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
class _Grid:
    """A validated grid: one search per (depth, width), depth-major."""

    workload: str
    depths: list[int]
    widths: list[int]
    searches: list[_Search]


def lr_grid(
    workload: str,
    depths: list[int],
    widths: list[int],
    *,
    input_lr_scale: float | None = None,
    low: float = 0.0,
    high: float = 1.0,
    iterations: int = 5,
    epochs: int = 10,
    threshold: float | None = None,
    seed: int = 0,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    limit_train_batches: int | None = None,
    on_probe: Callable[[dict], None] | None = None,
    on_cell: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """η* for every (depth, width) MLP of mnist-mlp or gauss2-mlp, then its power law in size = depth·width.

    Iyer et al. find the law holds when the input layer trains at a smaller LR:
    input_lr_scale sets that option for every cell (None: workload_options',
    else the workload's default, 1). Cells run depth-major in the order given,
    each a max_initial_lr search with the other arguments. on_probe gets each
    probe with "depth" and "width"; on_cell each finished cell {"depth",
    "width", "size", "eta_star"}. Result: {"cells", "fit", "fit_error",
    "probes", ...}; "fit" is None, with the reason in "fit_error", when fewer
    than 3 cells have η* > 0. should_stop() True ends it "cancelled", the fit
    over the cells done. Every argument is checked (ValueError naming it)
    before any training.
    """
    grid = _plan_grid(
        workload,
        depths,
        widths,
        input_lr_scale=input_lr_scale,
        low=low,
        high=high,
        iterations=iterations,
        epochs=epochs,
        threshold=threshold,
        seed=seed,
        workload_options=workload_options,
        data_dir=data_dir,
        device=device,
        limit_train_batches=limit_train_batches,
    )
    return _run_grid(grid, on_probe, on_cell, should_stop or _never)


def _plan_grid(
    workload: str,
    depths: list[int],
    widths: list[int],
    *,
    input_lr_scale: float | None,
    workload_options: dict | None,
    **search: Any,
) -> _Grid:
    if workload not in GRID_WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(GRID_WORKLOADS)} for a grid, got {workload!r}")
    depths, widths = _distinct_integers("depths", depths), _distinct_integers("widths", widths)
    if workload_options is not None and not isinstance(workload_options, dict):
        raise ValueError(f"workload_options must be an object of option names to values, got {workload_options!r}")
    base = dict(workload_options or {})
    for name in ("depth", "width"):
        if name in base:
            raise ValueError(f"workload_options.{name}: the grid sets it; give {name}s instead")
    if input_lr_scale is not None:
        base["input_lr_scale"] = input_lr_scale
    searches = [
        _plan_search(workload, workload_options={**base, "depth": depth, "width": width}, **search)
        for depth in depths
        for width in widths
    ]
    return _Grid(workload, depths, widths, searches)


def _run_grid(
    grid: _Grid,
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

        result = _run_search(search, report_probe, stop_requested)
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


# --- The LR range test --------------------------------------------------------------------------


@dataclass(frozen=True)
class _RangeTest:
    """A validated range test: every argument of lr_range_test but the callbacks."""

    workload: str
    min_lr: float
    max_lr: float
    steps: int
    beta: float
    diverge_factor: float
    seed: int
    options: dict[str, Any]
    optimizer: dict[str, Any]
    data_dir: Any
    device: str


def lr_range_test(
    workload: str,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    seed: int = 0,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    on_step: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """The LR range test: train one short run with the LR growing exponentially; suggest LRs from its loss.

    Step i (0-based) trains one mini-batch at LR min_lr·(max_lr/min_lr)^(i/(steps−1)),
    so the first step uses min_lr and the last max_lr; batches are a seeded
    shuffle of the training set, reshuffled when it runs out (full batches
    only). The loss recorded at step i is that batch's loss before the update
    at LR i, as fastai and torch-lr-finder record it. Smoothed: the
    bias-corrected exponential moving average a_i = beta·a_(i−1) + (1 − beta)·loss_i,
    smoothed_i = a_i / (1 − beta^(i+1)). The test stops early ("diverged") once
    the smoothed loss exceeds diverge_factor × the best so far, ("non_finite")
    at a NaN or infinite loss, or ("cancelled") when should_stop() says so.
    The model, optimizer and data come from the workload as in the engine; the
    model is thrown away.

    Suggestions, from the recorded steps less the first tenth (noise) and less
    the step that stopped the test:
      - "steepest": the LR where d(smoothed)/d(log LR) is most negative
        (numpy.gradient: central differences);
      - "valley": the longest run of consecutive steps over which the smoothed
        loss falls at every step (ties: the first) spans steps a..b; the pick
        is step a + round(2/3·(b − a)), two thirds of the way down the longest
        descent. (fastai's valley takes the longest decreasing subsequence
        instead, which can thread through the noisy plateau at tiny LRs and
        pick an LR there; a run cannot.)
      - "min_loss": the LR of the smallest smoothed loss, and "min_loss_div10",
        a tenth of it, the conventional pick;
    all None when fewer than 3 steps remain.
    "cyclic", a prefill for the cyclic kinds (TRI, SIN, ...): k1 = the valley
    LR, a top that the loss still falls at; k0 = k1 / 4 (Smith 2017: the base a
    third to a quarter of the top). None with no suggestions.

    on_step({"step", "lr", "loss", "smoothed"}) follows every step (non-finite
    values as None). Reading the loss is one host sync per step, by design: it
    decides when to stop. Raises ValueError naming the argument before any training.
    """
    test = _plan_range_test(
        workload,
        min_lr=min_lr,
        max_lr=max_lr,
        steps=steps,
        beta=beta,
        diverge_factor=diverge_factor,
        seed=seed,
        workload_options=workload_options,
        data_dir=data_dir,
        device=device,
    )
    return _run_range_test(test, on_step, should_stop or _never)


def _plan_range_test(
    workload: str,
    *,
    min_lr: float,
    max_lr: float,
    steps: int,
    beta: float,
    diverge_factor: float,
    seed: int,
    workload_options: dict | None,
    data_dir: Any,
    device: str,
) -> _RangeTest:
    from trainer import engine
    from trainer.workloads import get_workload, resolve_optimizer

    spec = get_workload(workload)
    min_lr, max_lr = _real("min_lr", min_lr), _real("max_lr", max_lr)
    if min_lr <= 0:
        raise ValueError(f"min_lr must be positive, got {min_lr!r}")
    if max_lr <= min_lr:
        raise ValueError(f"max_lr must be greater than min_lr ({min_lr!r}), got {max_lr!r}")
    if max_lr > MAX_LR:
        raise ValueError(f"max_lr must be at most {MAX_LR:g}, the largest LR a policy takes, got {max_lr!r}")
    _integer("steps", steps, 5, MAX_RANGE_STEPS)
    beta = _real("beta", beta)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    diverge_factor = _real("diverge_factor", diverge_factor)
    if diverge_factor <= 1:
        raise ValueError(f"diverge_factor must be greater than 1, got {diverge_factor!r}")
    options = spec.resolve_options(workload_options)
    config = engine.TrainConfig(
        workload=spec.name,
        policy={"kind": "FIX", "k0": min_lr},
        epochs=1,
        seed=seed,
        device=device,
        data_dir=data_dir,
        workload_options=options,
    )
    engine.validate(config)  # seed, device
    return _RangeTest(
        workload=spec.name,
        min_lr=min_lr,
        max_lr=max_lr,
        steps=steps,
        beta=beta,
        diverge_factor=diverge_factor,
        seed=seed,
        options=options,
        optimizer=resolve_optimizer(spec.optimizer, None),
        data_dir=data_dir,
        device=device,
    )


def _run_range_test(test: _RangeTest, on_step: Callable[[dict], None] | None, stop_requested: Callable[[], bool]):
    from trainer import core
    from trainer.workloads import get_workload

    workload = get_workload(test.workload)
    device = core.resolve_device(test.device)
    with core.workload_threads(workload, device):
        lrs, losses, smoothed, stop_reason = _range_losses(test, workload, device, on_step, stop_requested)
    usable = len(lrs) - (1 if stop_reason in ("diverged", "non_finite") else 0)
    suggestions = suggest_lrs(lrs[:usable], smoothed[:usable])
    cyclic = None
    if suggestions["valley"] is not None:
        cyclic = {"k0": suggestions["valley"] / CYCLIC_BASE_DIVISOR, "k1": suggestions["valley"]}
    return {
        "workload": test.workload,
        "workload_options": test.options,
        "optimizer": test.optimizer,
        "min_lr": test.min_lr,
        "max_lr": test.max_lr,
        "steps": test.steps,
        "beta": test.beta,
        "diverge_factor": test.diverge_factor,
        "seed": test.seed,
        "lrs": lrs,
        "losses": [_finite(v) for v in losses],
        "smoothed": [_finite(v) for v in smoothed],
        "stopped_early": stop_reason is not None,
        "stop_reason": stop_reason,
        "suggestions": suggestions,
        "cyclic": cyclic,
    }


def range_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """The range test's LRs: geometric from min_lr (step 0) to max_lr (step steps − 1)."""
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def _range_losses(test: _RangeTest, workload: Any, device: Any, on_step, stop_requested):
    """Train through the LR ramp: (lrs, losses, smoothed, stop_reason) of the steps taken."""
    import torch
    import torch.nn.functional as F

    from trainer import core

    torch.manual_seed(test.seed)  # the model's initialisation, as in the engine
    shuffle_rng = torch.Generator(device=device).manual_seed(test.seed)
    config = core.TrainConfig(
        workload=test.workload, policy=None, epochs=1, data_dir=test.data_dir, workload_options=test.options
    )
    x_train, y_train, _, _ = core.load_data(config, workload, device)
    memory_format = torch.channels_last if workload.channels_last else torch.contiguous_format
    model = workload.create_model(test.options).to(device, memory_format=memory_format)
    schedule = range_lrs(test.min_lr, test.max_lr, test.steps)
    optimizer = core.build_optimizer(test.optimizer, workload.param_groups(model, test.options), lr=schedule[0])
    batches = _endless_batches(len(x_train), workload.batch_size, shuffle_rng, device)
    model.train()

    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    for step, lr in enumerate(schedule):
        if stop_requested():
            return lrs, losses, smoothed, "cancelled"
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        batch = next(batches)
        inputs = x_train[batch]
        if workload.augment is not None:
            inputs = workload.augment(inputs, shuffle_rng)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(inputs.contiguous(memory_format=memory_format))
        loss = F.cross_entropy(logits.float(), y_train[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        value = loss.item()  # a host sync every step, by design: this loss decides when to stop
        average = test.beta * average + (1 - test.beta) * value
        smooth = average / (1 - test.beta ** (step + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(smooth)
        if on_step is not None:
            on_step({"step": step, "lr": lr, "loss": _finite(value), "smoothed": _finite(smooth)})
        if not math.isfinite(smooth):
            return lrs, losses, smoothed, "non_finite"
        best = min(best, smooth)
        if smooth > test.diverge_factor * best:
            return lrs, losses, smoothed, "diverged"
    return lrs, losses, smoothed, None


def _endless_batches(n: int, batch_size: int, generator: Any, device: Any):
    """Index batches of a fresh shuffle of range(n) per pass, forever; a pass's last partial batch is skipped."""
    import torch

    size = min(batch_size, n)
    while True:
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


def suggest_lrs(lrs: list[float], smoothed: list[float]) -> dict[str, float | None]:
    """Suggested LRs from a range test's LRs and smoothed losses, the step that stopped it left out.

    {"steepest", "valley", "min_loss", "min_loss_div10"}, by the rules in
    lr_range_test's docstring, computed without the first tenth of the steps;
    all None when fewer than 3 steps remain.
    """
    import numpy as np

    skip = int(len(lrs) * SKIP_START_FRACTION)
    lrs, smoothed = lrs[skip:], smoothed[skip:]
    if len(lrs) < 3:
        return {"steepest": None, "valley": None, "min_loss": None, "min_loss_div10": None}
    losses = np.array(smoothed, dtype=float)
    slopes = np.gradient(losses, np.log(np.array(lrs, dtype=float)))
    first, last = _longest_descent(smoothed)
    min_loss = lrs[int(np.argmin(losses))]
    return {
        "steepest": lrs[int(np.argmin(slopes))],
        "valley": lrs[first + round(VALLEY_POSITION * (last - first))],
        "min_loss": min_loss,
        "min_loss_div10": min_loss / 10,
    }


def _longest_descent(values: list[float]) -> tuple[int, int]:
    """(first, last) index of the longest run of consecutive steps over which values fall at every step.

    Ties: the first such run. A single value is a run of length zero: (0, 0).
    """
    first, last = 0, 0
    start = 0
    for i in range(1, len(values)):
        if values[i] >= values[i - 1]:
            start = i
        elif i - start > last - first:
            first, last = start, i
    return first, last


# --- The command line ---------------------------------------------------------------------------


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
    from trainer import cli

    def plan() -> _Search:
        return _plan_search(args.workload, **_search_arguments(args, cli._workload_options(args.option)))

    def run(search: _Search, stop_requested: Callable[[], bool]) -> dict:
        return _run_search(search, lambda probe: report(probe, "probe", _probe_line), stop_requested)

    report = _printer(args.json)
    return _command(plan, run, lambda result: report(_without(result, "probes"), "result", _search_line))


def lr_grid_command(args: argparse.Namespace) -> int:
    """`lr-grid`: one line per probe and per cell, then the fit; with --json, JSON lines."""
    from trainer import cli

    def plan() -> _Grid:
        return _plan_grid(
            args.workload,
            args.depths,
            args.widths,
            input_lr_scale=args.input_lr_scale,
            **_search_arguments(args, cli._workload_options(args.option)),
        )

    def run(grid: _Grid, stop_requested: Callable[[], bool]) -> dict:
        return _run_grid(
            grid,
            lambda probe: report(probe, "probe", _probe_line),
            lambda cell: report(cell, "cell", _cell_line),
            stop_requested,
        )

    report = _printer(args.json)
    return _command(plan, run, lambda result: report(_without(result, "probes", "cells"), "result", _grid_line))


def lr_range_command(args: argparse.Namespace) -> int:
    """`lr-range`: a progress bar on stderr, then the suggestions; with --json, JSON lines (one per step)."""
    from trainer import cli

    def plan() -> _RangeTest:
        return _plan_range_test(
            args.workload,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            steps=args.steps,
            beta=args.beta,
            diverge_factor=args.diverge_factor,
            seed=args.seed,
            workload_options=cli._workload_options(args.option),
            data_dir=args.data_dir,
            device=args.device,
        )

    def run(test: _RangeTest, stop_requested: Callable[[], bool]) -> dict:
        if args.json:
            return _run_range_test(test, lambda step: _print_json({"event": "step", **step}), stop_requested)
        from tqdm import tqdm

        with tqdm(total=test.steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:

            def advance(step: dict) -> None:
                bar.set_postfix(lr=f"{step['lr']:.3g}", loss=_fmt(step["smoothed"], ".4f"), refresh=False)
                bar.update(1)

            return _run_range_test(test, advance, stop_requested)

    report = _printer(args.json)
    return _command(
        plan, run, lambda result: report(_without(result, "lrs", "losses", "smoothed"), "result", _range_lines)
    )


def _command(plan: Callable[[], Any], run: Callable[[Any, Callable[[], bool]], dict], finish: Callable) -> int:
    """Check the arguments (exit 2 naming the bad one), run with Ctrl-C asking to stop, report."""
    from trainer import cli
    from trainer.data import DataUnavailable

    try:
        planned = plan()
    except (ValueError, cli.BadInput) as error:  # UnknownWorkload and SpecError are ValueErrors
        return _bad_input(error)
    with cli._ctrl_c_requests_stop() as stop_requested:
        try:
            result = run(planned, stop_requested)
        except DataUnavailable as error:
            return _bad_input(error)
    finish(result)
    return cli.EXIT_CANCELLED if result.get("cancelled") or result.get("stop_reason") == "cancelled" else 0


def _bad_input(error: Exception) -> int:
    from trainer import cli

    print(f"error: {error}", file=sys.stderr)
    return cli.EXIT_BAD_INPUT


def _printer(as_json: bool) -> Callable[[dict, str, Callable[[dict], str]], None]:
    """report(obj, event, describe): a JSON line tagged {"event": event}, or describe(obj) as text."""

    def report(obj: dict, event: str, describe: Callable[[dict], str]) -> None:
        if as_json:
            _print_json({"event": event, **obj})
        else:
            print(describe(obj), flush=True)

    return report


def _probe_line(p: dict) -> str:
    where = f"depth {p['depth']} width {p['width']}, " if "depth" in p else ""
    outcome = "reached the threshold" if p["success"] else ("diverged" if p["diverged"] else "fell short")
    return (
        f"{where}probe {p['iteration']}: lr {p['lr']:.6g} {outcome} "
        f"(best acc {_fmt(p['best_accuracy'], '.4f')} in {p['epochs_trained']} epoch{_s(p['epochs_trained'])}); "
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
        lines.append(f"  {name:<15} {_fmt(s[name], '.4g')}")
    if cyclic is not None:
        lines.append(f"  cyclic prefill  k0 {cyclic['k0']:.4g}, k1 {cyclic['k1']:.4g}")
    return "\n".join(lines)


# --- Small helpers ------------------------------------------------------------------------------


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _never() -> bool:
    return False


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _distinct_integers(name: str, values: Any) -> list[int]:
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"{name} must be a non-empty list of integers, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must hold integers, got {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value, got {list(values)!r}")
    return list(values)


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a non-finite value is None."""
    return value if math.isfinite(value) else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _options_text(options: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in options.items())


def _without(result: dict, *keys: str) -> dict:
    return {k: v for k, v in result.items() if k not in keys}


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, allow_nan=False), flush=True)
