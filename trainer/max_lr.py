"""The maximal initial LR η*: Algorithm 1 of Iyer, Hanin & Rolnick (ICML 2023).

A binary search for the largest constant LR at which a freshly initialised
network reaches a threshold accuracy within an epoch budget (see
shared/reference/papers.md, section 2). Every probe is an ordinary run of
`trainer.engine.train` under a FIX policy.

`plan_search` checks the arguments (UserInputError naming one) before any
training; `run_search` runs a checked plan; `max_initial_lr` does both.
Light to import: the engine (and torch) are imported when a search runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer.checks import MAX_EPOCHS
from trainer.errors import UserInputError
from trainer.schedules.params import MAX_LR  # the largest LR a policy takes: probes must be policies
from trainer.tool_params import ToolParam, check, unknown_arguments

# Iyer et al.'s thresholds t: 92.5% on MNIST (theirs) and 90% on the two
# Gaussians (this project's choice, papers.md section 2). Other workloads: their target_accuracy.
PAPER_THRESHOLDS = {"mnist-mlp": 0.925, "gauss2-mlp": 0.90}
MAX_ITERATIONS = 30  # the bracket shrinks 2^30-fold: far finer than any LR difference that matters


@dataclass(frozen=True)
class SearchPlan:
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


# The search's parameters, declared once: max_initial_lr checks them, `lr-search` and `lr-grid` take them as
# flags, the dashboard's job API generates its fields from them (job_min/job_max: what one job may ask).
SEARCH_PARAMS = (
    ToolParam("low", "float", "the bracket's low end", default=0.0, min=0.0, max=MAX_LR),
    ToolParam(
        "high", "float", "the bracket's high end", default=1.0, min=0.0, min_inclusive=False, max=MAX_LR, job_min=1e-6
    ),
    ToolParam(
        "iterations", "int", "probes, each halving the bracket", default=5, min=1, max=MAX_ITERATIONS, job_max=20
    ),
    ToolParam("epochs", "int", "each probe's epoch budget", default=10, min=1, max=MAX_EPOCHS, job_max=100),
    ToolParam(
        "threshold",
        "float",
        "test accuracy to reach (default: the paper's, else the target)",
        nullable=True,
        min=0.0,
        min_inclusive=False,
        max=1.0,
        job_min=0.01,
    ),
    ToolParam("seed", "int", "the network's initialisation and data order", default=0, job_min=0, job_max=2**31 - 1),
    ToolParam("limit_train_batches", "int", "train N batches per epoch", nullable=True, min=1, job=False, metavar="N"),
)


def max_initial_lr(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    on_probe: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> dict:
    """η*: the largest constant LR found to reach `threshold` test accuracy within `epochs` epochs.

    params are SEARCH_PARAMS (low, high, iterations, epochs, threshold, seed,
    limit_train_batches), each defaulting as declared there.

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

    Raises UserInputError naming the argument before any training.
    """
    search = plan_search(workload, workload_options=workload_options, data_dir=data_dir, device=device, **params)
    return run_search(search, on_probe, should_stop or _never)


def plan_search(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    **params: Any,
) -> SearchPlan:
    """The search's arguments checked (SEARCH_PARAMS, the workload and its options, the device)."""
    from trainer import engine
    from trainer.workloads import get_workload

    unknown_arguments("max_initial_lr", SEARCH_PARAMS, params)
    spec = get_workload(workload)  # UnknownWorkload, a UserInputError
    values = check(SEARCH_PARAMS, params)
    low, high, threshold = values["low"], values["high"], values["threshold"]
    if high <= low:
        raise UserInputError("high", f"high must be greater than low ({low!r}), got {high!r}")
    if threshold is None:
        threshold = PAPER_THRESHOLDS.get(spec.name, spec.target_accuracy)
    search = SearchPlan(
        workload=spec.name,
        low=low,
        high=high,
        iterations=values["iterations"],
        epochs=values["epochs"],
        threshold=threshold,
        seed=values["seed"],
        options=spec.resolve_options(workload_options),
        data_dir=data_dir,
        device=device,
        limit_train_batches=values["limit_train_batches"],
    )
    engine.validate(_probe_config(search, (low + high) / 2))  # device
    return search


def _probe_config(search: SearchPlan, lr: float) -> Any:
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


def run_search(search: SearchPlan, on_probe: Callable[[dict], None] | None, stop_requested: Callable[[], bool]) -> dict:
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


def _probe(search: SearchPlan, lr: float, stop_requested: Callable[[], bool]) -> dict | None:
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


def _never() -> bool:
    return False
