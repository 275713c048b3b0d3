"""Leaderboard queries: aggregates of run summaries, never of epoch rows."""

from __future__ import annotations

import math

from django.db.models import Avg, Count, F, Max, Q, Sum

from dashboard import access
from dashboard.models import Run


def board(user, workload: str, epochs: int | None = None) -> list[dict]:
    """Policies ranked by mean final test accuracy over their finished runs.

    One row per (policy, epoch budget), so that entries are comparable. The
    mean and spread are over succeeded runs; diverged runs are counted and
    shown beside them, never silently dropped.
    """
    runs = access.runs_for(user).filter(workload=workload, status__in=[Run.Status.SUCCEEDED, Run.Status.DIVERGED])
    if epochs is not None:
        runs = runs.filter(epochs=epochs)
    succeeded = Q(status=Run.Status.SUCCEEDED)
    rows = (
        runs.values("policy_id", "policy__name", "policy__spec", "epochs")
        .annotate(
            mean_acc=Avg("final_acc", filter=succeeded),
            sum_sq=Sum(F("final_acc") * F("final_acc"), filter=succeeded),
            best_acc=Max("best_acc", filter=succeeded),
            mean_seconds=Avg("total_seconds", filter=succeeded),
            n=Count("id", filter=succeeded),
            diverged=Count("id", filter=Q(status=Run.Status.DIVERGED)),
        )
        .order_by("-mean_acc", "policy__name")
    )
    ranked = [
        {
            "policy": row["policy_id"],
            "policy_name": row["policy__name"],
            "kind": (row["policy__spec"] or {}).get("kind"),
            "epochs": row["epochs"],
            "mean_acc": row["mean_acc"],
            "std_acc": sample_std(row["mean_acc"], row["sum_sq"], row["n"]),
            "best_acc": row["best_acc"],
            "mean_seconds": row["mean_seconds"],
            "n": row["n"],
            "diverged": row["diverged"],
        }
        for row in rows
    ]
    # Policies with only diverged runs have no mean: they rank last.
    ranked.sort(key=lambda r: (r["mean_acc"] is None, -(r["mean_acc"] or 0.0), r["policy_name"]))
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    return ranked


def sample_std(mean: float | None, sum_sq: float | None, n: int) -> float | None:
    """Sample standard deviation from n, the mean and the sum of squares (portable across databases)."""
    if n < 2 or mean is None or sum_sq is None:
        return None
    return math.sqrt(max(sum_sq - n * mean * mean, 0.0) / (n - 1))


def workloads_with_runs(user) -> list[str]:
    return list(access.runs_for(user).values_list("workload", flat=True).distinct().order_by("workload"))
