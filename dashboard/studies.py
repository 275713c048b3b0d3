"""Studies: every (policy, seed, base-LR scale) run of one workload and budget."""

from __future__ import annotations

from functools import cache

from trainer import schedules

DEFAULT_LR_SCALES = [0.1, 0.5, 1.0, 5.0, 10.0]  # LRBench's base-LR robustness test


@cache
def _declarations() -> dict[str, dict]:
    return {decl["kind"]: decl for decl in schedules.catalog()}


def scale_spec(spec: dict, factor: float) -> dict:
    """The same policy with every LR multiplied by `factor` (nested stages too).

    Which parameters are LRs comes from the kinds' declarations (unit "lr").
    Raises SpecError when a scaled LR leaves its declared range.
    """
    if factor == 1:
        return spec
    return schedules.validate(_scaled(spec, factor))


def _scaled(spec: dict, factor: float) -> dict:
    decl = _declarations()[spec["kind"]]
    out = dict(spec)
    for param in decl["params"]:
        value = out.get(param["name"])
        if value is None:
            continue
        if param.get("unit") == "lr":
            out[param["name"]] = [v * factor for v in value] if isinstance(value, list) else value * factor
        elif param["type"] == "spec_list":
            out[param["name"]] = [_scaled(stage, factor) for stage in value]
        elif param["type"] == "spec":
            out[param["name"]] = _scaled(value, factor)
    return out


def study_cell(run) -> dict:
    """One run's cell of a study's grid: what the page draws and what a change of the run broadcasts."""
    return {
        "run": run.pk,
        "policy": run.policy_id,
        "seed": run.seed,
        "lr_scale": run.lr_scale,
        "status": run.status,
        "epochs_done": run.epochs_done,
        "epochs": run.epochs,
        "final_acc": run.final_acc,
    }


def progress(study) -> dict:
    """The grid a study page draws: one cell per (policy, seed, scale) with its run's state."""
    from dashboard.models import Run

    runs = list(study.runs.select_related("policy").order_by("policy__name", "lr_scale", "seed"))
    cells = [{**study_cell(run), "policy_name": run.policy.name} for run in runs]
    finished = sum(1 for cell in cells if cell["status"] in Run.FINISHED)
    return {
        "id": study.pk,
        "cells": cells,
        "finished": finished,
        "total": len(cells),
        "halving_eta": study.halving_eta,
        # Compute: run-epochs trained so far against the full study's (every run to the budget).
        "epochs_trained": sum(cell["epochs_done"] for cell in cells),
        "epochs_full": study.epochs * len(cells),
    }


def target_reached(epochs: list[dict], target: float | None) -> dict:
    """Cost to first reach `target` test accuracy: epochs, iterations, training samples and seconds, or None each.

    Iterations and samples come from the epochs' cumulative counts (hardware-independent);
    seconds are the run's own (its share of the batch's time when it was trained in one).
    """
    never = {"epochs_to_target": None, "iterations_to_target": None, "samples_to_target": None,
             "seconds_to_target": None}  # fmt: skip
    if target is None:
        return never
    seconds = 0.0
    for row in sorted(epochs, key=lambda r: r["epoch"]):
        seconds += row.get("seconds") or 0.0
        if row.get("test_acc") is not None and row["test_acc"] >= target:
            return {
                "epochs_to_target": row["epoch"],
                "iterations_to_target": row.get("iterations"),
                "samples_to_target": row.get("samples"),
                "seconds_to_target": seconds,
            }
    return never
