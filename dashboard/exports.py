"""CSV and JSON downloads of the leaderboard and of a study's runs with every epoch."""

from __future__ import annotations

import csv
import io
import json

from django.http import HttpResponse

from dashboard.models import EpochMetric, Study
from dashboard.presenters import run_state, study_state

RUN_COLUMNS = ["run", "policy", "policy_name", "seed", "lr_scale", "status"]
EPOCH_COLUMNS = ["epoch", *EpochMetric.COLUMNS, "test_top5", "ac", "cv", "cvac", "iterations", "samples_per_sec"]
# A spreadsheet reads a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a CSV cell that no spreadsheet runs: text that starts like a formula gets a leading '.

    Numbers stay numbers (a negative number is not a formula); only text is touched.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(rows: list[dict], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row)) if rows else []
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writerow({column: csv_cell(column) for column in columns})
    writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(data, filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=1), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _study_runs(study: Study):
    return study.runs.select_related("policy").order_by("policy__name", "lr_scale", "seed")


def study_document(study: Study) -> dict:
    runs = list(_study_runs(study))
    epochs: dict[int, list[dict]] = {run.pk: [] for run in runs}
    for row in EpochMetric.objects.filter(run__study=study).order_by("run_id", "epoch"):
        epochs[row.run_id].append(row.as_dict())
    return {**study_state(study), "runs": [{**run_state(run), "epoch_metrics": epochs[run.pk]} for run in runs]}


def study_epoch_rows(study: Study) -> list[dict]:
    """One CSV row per (run, epoch), with the run's identity repeated on each."""
    runs = {run.pk: run for run in _study_runs(study)}
    rows = []
    for metric in EpochMetric.objects.filter(run__study=study).order_by("run_id", "epoch"):
        run = runs[metric.run_id]
        data = metric.as_dict()
        row = {
            "run": run.pk,
            "policy": run.policy_id,
            "policy_name": run.policy.name,
            "seed": run.seed,
            "lr_scale": run.lr_scale,
            "status": run.status,
        }
        row.update({column: data.get(column) for column in EPOCH_COLUMNS})
        rows.append(row)
    return rows
