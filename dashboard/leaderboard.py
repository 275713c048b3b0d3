"""Leaderboard queries: aggregates of run summaries, never of epoch rows.

One board per workload, workload options and epoch budget, so that entries are
comparable: runs of image-folder on two folders, or of mnist-mlp at two depths,
never share a board (a run stores the options that differ from the workload's
defaults, so a run that spells out a default is on the defaults' board). Each
row is a policy: every metric as mean ± sample std over its seeds, with n and a
95% Student-t interval (dashboard.stats). Policies that the ranking metric
cannot tell apart share a rank group (Welch's t-test against each group's
leader, Holm-corrected). Diverged runs are counted beside the means, never
averaged in. Runs at a base-LR scale other than 1 feed the robustness column
only. Seconds are each run's own (its share of a batch) and carry the device
they were measured on; the board lists the devices behind its seconds. Runs
that a team's own loop reported (self-reported) are counted per row and marked;
their workload is the team's own ("<team-slug>/<name>"), so such a board holds
one team's runs only, in the team view and the shared one alike.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Max, Q, QuerySet, Sum

from dashboard import access, stats
from dashboard.models import Run


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    digits: int = 4
    help: str = ""  # what it is, for the column's tooltip and the glossary
    percent: bool = False  # a fraction shown as a percentage
    seconds: bool = False  # measured in seconds: depends on the device
    bounds: tuple[float | None, float | None] = (0.0, None)  # the values it can take; intervals are clipped to them


METRICS = [
    Metric("final_acc", "final top-1", True, 2, "test accuracy after the last epoch", percent=True, bounds=(0.0, 1.0)),
    Metric("best_acc", "best top-1", True, 2, "highest test accuracy of any epoch", percent=True, bounds=(0.0, 1.0)),
    Metric("final_top5", "final top-5", True, 2, "share of test samples whose label is among the top five scores",
           percent=True, bounds=(0.0, 1.0)),
    Metric("ac", "confidence (AC)", True, 4, "mean top softmax probability over correctly classified test samples",
           bounds=(0.0, 1.0)),
    Metric("cv", "confidence std", False, 4, "std of that probability over correctly classified samples (LRBench's "
           "CV)"),
    Metric("cvac", "CVAC", False, 4, "std across classes of the per-class mean confidence: how even the classes are"),
    Metric("loss_gap", "loss gap", False, 4, "test loss minus final training loss (LRBench's robustness gap)",
           bounds=(None, None)),
    Metric("iterations_to_target", "iterations to target", False, 0,
           "optimizer steps until test accuracy first reached the target (hardware-independent)"),
    Metric("samples_to_target", "samples to target", False, 0,
           "training samples seen until test accuracy first reached the target (hardware-independent)"),
    Metric("seconds_to_target", "seconds to target", False, 2,
           "the run's own compute time until it first reached the target", seconds=True),
    Metric("total_seconds", "total seconds", False, 2, "the run's own compute time (its share, in a batch)",
           seconds=True),
]  # fmt: skip
METRIC_BY_NAME = {m.name: m for m in METRICS}
RANKINGS = ["lrbench", "score", *METRIC_BY_NAME]
VIEWS = ("team", "shared")


def board_runs(user, view: str) -> QuerySet[Run]:
    return access.published_runs() if view == "shared" else access.runs_for(user)


def reported_workloads(user) -> list[str]:
    """The names of the teams' own workloads (self-reported runs) on the boards a user sees: their teams'
    and the shared one. Each is a board of its own beside the built-in workloads, whose names it cannot take,
    and one team's only: it is stored as "<team-slug>/<name>" (actions.team_workload)."""
    runs = (access.runs_for(user) | access.published_runs()).filter(self_reported=True)
    return sorted(runs.order_by().values_list("workload", flat=True).distinct())


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
        "self_reported": Count("id", filter=Q(self_reported=True)),
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
    options: dict | None = None,
    view: str = "team",
    rank: str = "lrbench",
    weights: dict[str, float] | None = None,
) -> dict:
    """The board of a workload, its options (as Run.workload_options stores them: those that differ from the
    defaults; None: the defaults' board if it has runs, else the options of the latest run) and a budget."""
    runs = board_runs(user, view).filter(workload=workload)
    variants = option_variants(runs)
    if options is None:
        latest = runs.order_by("-created_at").values_list("workload_options", flat=True).first()
        options = {} if {} in variants or latest is None else latest
    runs = runs.filter(workload_options=options)
    budgets = set(runs.order_by().values_list("epochs", flat=True).distinct())  # distinct in SQL, not 10,000 rows
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
    devices = _add_robustness_and_devices(rows, runs)
    ranked = add_groups(rank_rows(rows, rank, weights or {}), rank)
    return {
        "workload": workload,
        "options": options,
        "variants": variants,
        "epochs": epochs,
        "budgets": budgets,
        "view": view,
        "rank": rank,
        "weights": weights or {},
        "rows": ranked,
        "pareto": pareto_front(ranked),
        "ranking_metric": ranking_metric(rank),
        "groups_test": GROUPS_TEST if rank != "score" else None,
        "devices": devices,
        "self_reported": any(row["self_reported"] for row in ranked),
    }


def option_variants(runs: QuerySet[Run]) -> list[dict]:
    """The workload options the runs were trained with, each once: the boards of a workload."""
    found = runs.order_by().values_list("workload_options", flat=True).distinct()  # distinct in SQL
    unique = {json.dumps(options, sort_keys=True): options for options in found}
    return [unique[key] for key in sorted(unique)]


def _cell(metric: Metric, mean: float | None, std: float | None, n: int) -> dict:
    """One metric of one policy: mean, sample std, n and the 95% t interval (None when n < 2), clipped to
    the values the metric can take (an accuracy's interval stops at 100%)."""
    interval = stats.t_interval(mean, std, n)
    if interval is not None:
        low, high = metric.bounds
        interval = [max(interval[0], low) if low is not None else interval[0],
                    min(interval[1], high) if high is not None else interval[1]]  # fmt: skip
    return {"mean": mean, "std": std, "n": n, "ci95": interval}


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
        # Runs reported by the team's own training loop (not trained by LR Arena's workers): marked on the board.
        "self_reported": values["self_reported"],
    }
    for metric in METRICS:
        mean = values[f"{metric.name}__mean"]
        count = values[f"{metric.name}__n"]
        row[metric.name] = _cell(metric, mean, sample_std(mean, values[f"{metric.name}__sq"], count), count)
    # LRBench: a policy reaches the target when every one of its seeds did.
    row["reaches_target"] = row["n"] > 0 and row["reached"] == row["n"]
    return row


def _add_robustness_and_devices(rows: list[dict], runs: QuerySet[Run]) -> list[str]:
    """Mean final accuracy at each base-LR scale and the share of it kept away from scale 1; and each
    row's devices (where the seconds of its scale-1 runs were measured). Returns every device on the board.

    One query, grouped by policy, scale and device; the per-device means are recombined by their counts.
    """
    sums: dict[int, dict[float, list[float]]] = {}
    devices: dict[int, set[str]] = {}
    for item in (
        runs.filter(status=Run.Status.SUCCEEDED)
        .values("policy_id", "lr_scale", "device")
        .annotate(mean=Avg("final_acc"), count=Count("final_acc"))
        .order_by()
    ):
        total = sums.setdefault(item["policy_id"], {}).setdefault(item["lr_scale"], [0.0, 0])
        if item["count"]:
            total[0] += item["mean"] * item["count"]
            total[1] += item["count"]
        if item["lr_scale"] == 1.0:
            devices.setdefault(item["policy_id"], set()).add(item["device"] or "unknown")
    for row in rows:
        scales = {scale: (s / n if n else None) for scale, (s, n) in sums.get(row["policy"], {}).items()}
        base = scales.get(1.0)
        others = [acc for scale, acc in scales.items() if scale != 1.0 and acc is not None]
        row["robustness"] = {
            "by_scale": {f"{scale:g}": acc for scale, acc in sorted(scales.items())},
            "kept": (sum(others) / len(others) / base) if others and base else None,
        }
        row["devices"] = sorted(devices.get(row["policy"], ()))
    return sorted(set().union(*devices.values())) if devices else []


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


GROUPS_TEST = (
    "Welch's t-test of each policy against its group's leader on the ranking metric, "
    "Holm-corrected across those comparisons, α = 0.05"
)


def ranking_metric(rank: str) -> str | None:
    """The per-seed metric the ranking and its groups rest on (the LRBench rule: iterations to target,
    then final accuracy for policies that miss it); None for the weighted score, which has no per-seed value."""
    if rank == "lrbench":
        return "iterations_to_target"
    return None if rank == "score" else rank


def _summary(row: dict, name: str) -> stats.Summary | None:
    cell = row[name]
    return None if cell["mean"] is None else stats.Summary(cell["mean"], cell["std"], cell["n"])


def _tiers(rows: list[dict], rank: str) -> list[tuple[str, list[dict]]]:
    """Runs of consecutive ranked rows compared on one metric each."""
    if rank != "lrbench":
        return [(rank, rows)]
    reach = [r for r in rows if r["reaches_target"] and _mean(r, "iterations_to_target") is not None]
    rest = [r for r in rows if not (r["reaches_target"] and _mean(r, "iterations_to_target") is not None)]
    return [("iterations_to_target", reach), ("final_acc", rest)]


def add_groups(rows: list[dict], rank: str) -> list[dict]:
    """Rank groups (dashboard.stats.rank_groups) and the seeds that would separate each row from the next.

    Rows are listed by group, then as ranked, and renumbered: a policy the test cannot tell from a
    group's leader is shown in that group even when its mean is below a policy of the next one.
    """
    for row in rows:
        row["group"], row["separate_next"] = None, None
    if rank == "score":
        return rows
    listed: list[dict] = []
    offset = 0
    for name, tier in _tiers(rows, rank):
        summaries = [_summary(r, name) for r in tier]
        groups = stats.rank_groups(summaries)
        for row, group in zip(tier, groups, strict=True):
            row["group"] = None if group is None else group + offset
        offset = max([offset, *(r["group"] for r in tier if r["group"] is not None)])
        order = sorted(range(len(tier)), key=lambda i: (tier[i]["group"] is None, tier[i]["group"] or 0, i))
        neighbours = [
            (here, after)
            for here, after in itertools.pairwise(order)
            if summaries[here] is not None and summaries[after] is not None
        ]
        seeds = stats.seeds_to_separate_many([(summaries[here], summaries[after]) for here, after in neighbours])
        for (here, after), needed in zip(neighbours, seeds, strict=True):
            tier[here]["separate_next"] = {"policy": tier[after]["policy"], "seeds": needed}
        listed.extend(tier[i] for i in order)
    for position, row in enumerate(listed, start=1):
        row["rank"] = position
    return listed


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
            "group": row["group"],
            "policy": row["policy"],
            "policy_name": row["policy_name"],
            "kind": row["kind"],
            "team": row["team"],
            "workload": data["workload"],
            "workload_options": json.dumps(data["options"]),
            "epochs": data["epochs"],
            "n": row["n"],
            "diverged": row["diverged"],
            "reached_target": row["reached"],
            "target_accuracy": row["target_accuracy"],
            "self_reported_runs": row["self_reported"],
        }
        for metric in METRICS:
            cell = row[metric.name]
            low, high = cell["ci95"] or (None, None)
            item.update({f"{metric.name}_{key}": value for key, value in
                         [("mean", cell["mean"]), ("std", cell["std"]), ("n", cell["n"]), ("ci95_lo", low),
                          ("ci95_hi", high)]})  # fmt: skip
        item["robustness_kept"] = row["robustness"]["kept"]
        item["seeds_to_separate_from_next"] = (row["separate_next"] or {}).get("seeds")
        item["devices"] = " | ".join(row["devices"])
        if "score" in row:
            item["score"] = row["score"]
        flat.append(item)
    return flat
