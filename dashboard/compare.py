"""Series for comparing runs: one line per policy (and base-LR scale) with a
mean ± std band across seeds, downsampled deterministically on the server."""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np

from dashboard.models import EpochMetric, Run

SERIES = ("test_acc", "train_acc", "test_loss", "train_loss", "lr_mean")
MAX_POINTS = 400


def lttb_indices(x: np.ndarray, y: np.ndarray, threshold: int) -> np.ndarray:
    """Largest-Triangle-Three-Buckets: `threshold` indices that keep the shape of y(x).

    Deterministic; always keeps the first and last point. NaNs count as 0 for
    the choice only.
    """
    n = len(x)
    if threshold >= n or threshold < 3:
        return np.arange(n)
    y = np.nan_to_num(y)
    chosen = [0]
    edges = np.linspace(1, n - 1, threshold - 1).astype(int)
    a = 0
    for i in range(threshold - 2):
        start, end = edges[i], max(edges[i + 1], edges[i] + 1)
        next_start, next_end = edges[i + 1], (edges[i + 2] if i + 2 < len(edges) else n)
        next_end = max(next_end, next_start + 1)
        avg_x, avg_y = x[next_start:next_end].mean(), y[next_start:next_end].mean()
        bx, by = x[start:end], y[start:end]
        areas = np.abs((x[a] - avg_x) * (by - y[a]) - (x[a] - bx) * (avg_y - y[a]))
        a = start + int(np.argmax(areas))
        chosen.append(a)
    chosen.append(n - 1)
    return np.array(chosen)


def compare(
    runs: list[Run], *, x: str = "epoch", max_points: int = MAX_POINTS, x0: float | None = None, x1: float | None = None
) -> dict:
    groups: dict[tuple[int, float], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.policy_id, run.lr_scale)].append(run)
    rows = EpochMetric.objects.filter(run__in=[r.pk for r in runs]).values_list("run_id", "epoch", "seconds", *SERIES)
    per_run: dict[int, list[tuple]] = defaultdict(list)
    for row in rows.order_by("run_id", "epoch"):
        per_run[row[0]].append(row[1:])
    series = []
    downsampled = False
    for (policy_id, scale), members in sorted(groups.items(), key=lambda kv: (kv[1][0].policy.name, kv[0][1])):
        item = _aggregate(members, per_run, x)
        if item is None:
            continue
        keep = np.ones(len(item["x"]), dtype=bool)
        if x0 is not None:
            keep &= item["x"] >= x0
        if x1 is not None:
            keep &= item["x"] <= x1
        for key in ("x", *[f"{s}_{stat}" for s in SERIES for stat in ("mean", "std")]):
            item[key] = item[key][keep]
        if len(item["x"]) > max_points:
            idx = lttb_indices(item["x"], item["test_acc_mean"], max_points)
            for key in ("x", *[f"{s}_{stat}" for s in SERIES for stat in ("mean", "std")]):
                item[key] = item[key][idx]
            downsampled = True
        name = members[0].policy.name + (f" ×{scale:g}" if scale != 1 else "")
        series.append(
            {
                "policy": policy_id,
                "lr_scale": scale,
                "name": name,
                "n": len(members),
                **{key: _json_list(value) for key, value in item.items()},
            }
        )
    return {"x": x, "series": series, "downsampled": downsampled, "max_points": max_points}


def _aggregate(members: list[Run], per_run: dict[int, list[tuple]], x: str) -> dict | None:
    tables = [per_run[r.pk] for r in members if per_run.get(r.pk)]
    if not tables:
        return None
    length = max(len(t) for t in tables)
    # rows: epoch, seconds, *SERIES; pad shorter (diverged, running) runs with NaN.
    stack = np.full((len(tables), length, 2 + len(SERIES)), np.nan)
    for i, table in enumerate(tables):
        stack[i, : len(table)] = np.array(table, dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a run that has not got there
        item: dict = {}
        if x == "seconds":
            item["x"] = np.nanmean(np.nancumsum(stack[:, :, 1], axis=1), axis=0)
        else:
            item["x"] = np.arange(1, length + 1, dtype=float)
        for j, name in enumerate(SERIES, start=2):
            values = stack[:, :, j]
            item[f"{name}_mean"] = np.nanmean(values, axis=0)
            counts = np.sum(~np.isnan(values), axis=0)
            std = np.nanstd(values, axis=0, ddof=1) if len(tables) > 1 else np.full(length, np.nan)
            item[f"{name}_std"] = np.where(counts > 1, std, np.nan)
    return item


def _json_list(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values]
