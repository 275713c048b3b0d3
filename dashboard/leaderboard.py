"""Leaderboard queries: aggregates of run summaries, never of epoch rows.

One board per workload and epoch budget, so that entries are comparable. Each
row is a policy: every metric as mean ± sample std over its seeds, with n.
Diverged runs are counted beside the means, never silently dropped. Runs at a
base-LR scale other than 1 feed the robustness column only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Max, Q, QuerySet, Sum

from dashboard import access
from dashboard.models import Run


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    digits: int = 4


METRICS = [
    Metric("final_acc", "final top-1", True),
    Metric("best_acc", "best top-1", True),
    Metric("final_top5", "final top-5", True),
    Metric("ac", "confidence (AC)", True),
    Metric("cv", "confidence std", False),
    Metric("cvac", "CVAC", False),
    Metric("loss_gap", "loss gap", False),
    Metric("iterations_to_target", "iterations to target", False, 0),
    Metric("seconds_to_target", "seconds to target", False, 2),
    Metric("total_seconds", "total seconds", False, 2),
]
METRIC_BY_NAME = {m.name: m for m in METRICS}
RANKINGS = ["lrbench", "score", *METRIC_BY_NAME]
VIEWS = ("team", "shared")


def board_runs(user, view: str) -> QuerySet[Run]:
    return access.published_runs() if view == "shared" else access.runs_for(user)


def sample_std(mean: float | None, sum_sq: float | None, n: int) -> float | None:
    """Sample standard deviation from n, the mean and the sum of squares (portable across databases)."""
    if n < 2 or mean is None or sum_sq is None:
        return None
    return math.sqrt(max(sum_sq - n * mean * mean, 0.0) / (n - 1))


def _aggregates() -> dict:
    ok = Q(status=Run.Status.SUCCEEDED)
    aggregates: dict = {
        "n": Count("id", filter=ok),
        "diverged": Count("id", filter=Q(status=Run.Status.DIVERGED)),
        "reached": Count("id", filter=ok & Q(epochs_to_target__isnull=False)),
        "target": Max("target_accuracy"),
    }
    for metric in METRICS:
        field = metric.name
        aggregates[f"{field}__mean"] = Avg(field, filter=ok)
        aggregates[f"{field}__sq"] = Sum(F(field) * F(field), filter=ok)
        aggregates[f"{field}__n"] = Count(field, filter=ok)
    return aggregates


def board(
    user,
    workload: str,
    epochs: int | None = None,
    *,
    view: str = "team",
    rank: str = "lrbench",
    weights: dict[str, float] | None = None,
) -> dict:
    runs = board_runs(user, view).filter(workload=workload)
    budgets = set(runs.values_list("epochs", flat=True))
    if epochs is None and budgets:
        epochs = max(budgets)
    budgets = sorted(budgets | ({epochs} if epochs else set()))
    runs = runs.filter(epochs=epochs, status__in=[Run.Status.SUCCEEDED, Run.Status.DIVERGED])
    grouped = (
        runs.filter(lr_scale=1.0)
        .values("policy_id", "policy__name", "policy__spec", "policy__team__name")
        .annotate(**_aggregates())
    )
    rows = [_row(values) for values in grouped]
    _add_robustness(rows, runs)
    ranked = rank_rows(rows, rank, weights or {})
    return {
        "workload": workload,
        "epochs": epochs,
        "budgets": budgets,
        "view": view,
        "rank": rank,
        "weights": weights or {},
        "rows": ranked,
        "pareto": pareto_front(ranked),
    }


def _row(values: dict) -> dict:
    row = {
        "policy": values["policy_id"],
        "policy_name": values["policy__name"],
        "kind": (values["policy__spec"] or {}).get("kind"),
        "team": values["policy__team__name"],
        "n": values["n"],
        "diverged": values["diverged"],
        "reached": values["reached"],
        "target_accuracy": values["target"],
    }
    for metric in METRICS:
        mean = values[f"{metric.name}__mean"]
        count = values[f"{metric.name}__n"]
        row[metric.name] = {"mean": mean, "std": sample_std(mean, values[f"{metric.name}__sq"], count), "n": count}
    # LRBench: a policy reaches the target when every one of its seeds did.
    row["reaches_target"] = row["n"] > 0 and row["reached"] == row["n"]
    return row


def _add_robustness(rows: list[dict], runs: QuerySet[Run]) -> None:
    """Mean final accuracy at each base-LR scale, and the share of it kept away from scale 1."""
    by_scale: dict[int, dict[float, float]] = {}
    for item in (
        runs.filter(status=Run.Status.SUCCEEDED)
        .values("policy_id", "lr_scale")
        .annotate(mean=Avg("final_acc"))
        .order_by()
    ):
        by_scale.setdefault(item["policy_id"], {})[item["lr_scale"]] = item["mean"]
    for row in rows:
        scales = by_scale.get(row["policy"], {})
        base = scales.get(1.0)
        others = [acc for scale, acc in scales.items() if scale != 1.0 and acc is not None]
        row["robustness"] = {
            "by_scale": {f"{scale:g}": acc for scale, acc in sorted(scales.items())},
            "kept": (sum(others) / len(others) / base) if others and base else None,
        }


def _mean(row: dict, name: str) -> float | None:
    return row[name]["mean"]


def rank_rows(rows: list[dict], rank: str, weights: dict[str, float]) -> list[dict]:
    if rank == "lrbench":
        # Among policies that reach the target, the cheapest first; the rest below, by accuracy.
        def key(row):
            cost = _mean(row, "iterations_to_target")
            acc = _mean(row, "final_acc")
            if row["reaches_target"] and cost is not None:
                return (0, cost, -(acc or 0.0), row["policy_name"])
            return (1, 0.0, -(acc if acc is not None else -1.0), row["policy_name"])

        ranked = sorted(rows, key=key)
    elif rank == "score":
        add_scores(rows, weights)
        ranked = sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["policy_name"]))
    else:
        metric = METRIC_BY_NAME[rank]
        sign = -1.0 if metric.higher_is_better else 1.0
        ranked = sorted(rows, key=lambda r: (_mean(r, rank) is None, sign * (_mean(r, rank) or 0.0), r["policy_name"]))
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position
    return ranked


def add_scores(rows: list[dict], weights: dict[str, float]) -> None:
    """A weighted mean of min-max normalised metrics (1 = best on this board for each metric)."""
    active = {name: w for name, w in weights.items() if name in METRIC_BY_NAME and w > 0}
    if not active:
        active = {"final_acc": 1.0}
    for row in rows:
        row["score"] = 0.0
    total = sum(active.values())
    for name, weight in active.items():
        values = [_mean(r, name) for r in rows if _mean(r, name) is not None]
        low, high = (min(values), max(values)) if values else (0.0, 0.0)
        for row in rows:
            value = _mean(row, name)
            if row["score"] is None:
                continue
            if value is None:
                row["score"] = None
                continue
            norm = 1.0 if high == low else (value - low) / (high - low)
            if not METRIC_BY_NAME[name].higher_is_better:
                norm = 1.0 - norm
            row["score"] += weight * norm / total


def pareto_front(rows: list[dict]) -> list[int]:
    """Policies not dominated in (higher mean final accuracy, lower mean training seconds)."""
    points = [
        (row["policy"], _mean(row, "final_acc"), _mean(row, "total_seconds"))
        for row in rows
        if _mean(row, "final_acc") is not None and _mean(row, "total_seconds") is not None
    ]
    front = []
    for policy, acc, cost in points:
        dominated = any((a >= acc and c <= cost) and (a > acc or c < cost) for other, a, c in points if other != policy)
        if not dominated:
            front.append(policy)
    return front


def parse_weights(raw: str) -> dict[str, float]:
    """`final_acc:1,cv:0.5` -> {"final_acc": 1.0, "cv": 0.5}; raises ValueError naming the bad part."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = part.partition(":")
        if name not in METRIC_BY_NAME:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_BY_NAME)}")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(weight) or weight < 0 or weight > 1000:
            raise ValueError(f"weight of {name!r} must be between 0 and 1000")
        weights[name] = weight
    return weights


def flat_rows(data: dict) -> list[dict]:
    """One flat dict per row, for CSV export."""
    flat = []
    for row in data["rows"]:
        item = {
            "rank": row["rank"],
            "policy": row["policy"],
            "policy_name": row["policy_name"],
            "kind": row["kind"],
            "team": row["team"],
            "workload": data["workload"],
            "epochs": data["epochs"],
            "n": row["n"],
            "diverged": row["diverged"],
            "reached_target": row["reached"],
            "target_accuracy": row["target_accuracy"],
        }
        for metric in METRICS:
            item[f"{metric.name}_mean"] = row[metric.name]["mean"]
            item[f"{metric.name}_std"] = row[metric.name]["std"]
        item["robustness_kept"] = row["robustness"]["kept"]
        if "score" in row:
            item["score"] = row["score"]
        flat.append(item)
    return flat
