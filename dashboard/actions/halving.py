"""Successive halving, live: a study's runs train to a rung, wait, and only the best policies go on.

A halving study (Study.halving_eta) queues its runs for the first rung of
halving.rung_epochs(budget, eta). A run that reaches its rung ends its task
`waiting` (its checkpoint kept). When no run of the study is queued or running
any more, `advance` ranks the arms (a policy at one base-LR scale) by the
study's rule on the epochs done so far (halving.rank), sends the top 1/eta of
them on to the next rung (they resume from their checkpoints) and ends the
others `stopped`: stopped runs are never on the board as finished runs.

`advance` is called by the worker after each run it finishes and by the
reconciler (dashboard/reconcile.py), so a cancel or a worker's death never
leaves a study waiting. The decision holds the study's row lock, and every
move is a guarded transition: two workers deciding at once change nothing twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard import checkpoints, fleet, halving
from dashboard.actions.runs import broadcast_run_state
from dashboard.actions.studies import batch_ids, send_batches
from dashboard.models import EpochMetric, Run, Study

log = logging.getLogger(__name__)


def advance(study_id: int) -> dict | None:
    """Decide the study's current rung if every run has reached it; None when there is nothing to decide."""
    with transaction.atomic():
        study = Study.objects.select_for_update().filter(pk=study_id, halving_eta__isnull=False).first()
        if study is None:
            return None
        runs = list(study.runs.select_related("policy"))
        if any(r.status in (Run.Status.QUEUED, Run.Status.RUNNING) for r in runs):
            return None
        waiting = [r for r in runs if r.status == Run.Status.WAITING]
        if not waiting:
            return None
        rung = max(r.rung_epochs for r in waiting)
        rungs = halving.rung_epochs(study.epochs, study.halving_eta)
        next_rung = next((r for r in rungs if r > rung), study.epochs)

        curves: dict[int, list[dict]] = {r.pk: [] for r in runs}
        for metric in EpochMetric.objects.filter(run__study=study).order_by("run_id", "epoch"):
            curves[metric.run_id].append(metric.as_dict())
        alive = {(r.policy_id, r.lr_scale) for r in waiting}
        arms = {
            arm: [halving.Run(r.policy_id, r.seed, curves[r.pk]) for r in runs if (r.policy_id, r.lr_scale) == arm]
            for arm in alive
        }
        ranked = halving.rank(arms, rung, target=study.target_accuracy)
        going_on = set(ranked[: halving.promoted_count(len(ranked), study.halving_eta)])

        promoted, stopped = [], []
        for run in waiting:
            if (run.policy_id, run.lr_scale) in going_on:
                if fleet.move(Run, run.pk, source=[Run.Status.WAITING], target=Run.Status.QUEUED,
                              rung_epochs=next_rung, sent_at=None):  # fmt: skip
                    promoted.append(run)
            elif fleet.move(Run, run.pk, source=[Run.Status.WAITING], target=Run.Status.STOPPED,
                            finished_at=timezone.now()):  # fmt: skip
                stopped.append(run)
        for run in promoted + stopped:
            run.refresh_from_db()
            broadcast_run_state(run)
        stopped_ids = [run.pk for run in stopped]
        transaction.on_commit(lambda: [checkpoints.drop(pk) for pk in stopped_ids])
        by_queue: dict[str, list[int]] = {}
        for run in promoted:
            by_queue.setdefault(run.queue or "cpu", []).append(run.pk)
        for queue, ids in by_queue.items():
            batches = batch_ids(ids, settings.ARENA_BATCH_RUNS)
            transaction.on_commit(lambda batches=batches, queue=queue: send_batches(batches, queue))
    log.info("study %s: rung %s decided: %d runs go on to %s epochs, %d stopped early",
             study_id, rung, len(promoted), next_rung, len(stopped))  # fmt: skip
    return {"rung": rung, "next_rung": next_rung, "promoted": [r.pk for r in promoted],
            "stopped": stopped_ids, "ranked": ranked}  # fmt: skip


def waiting_studies() -> list[int]:
    """Studies with runs waiting at a rung (for the reconciler)."""
    return list(Run.objects.filter(status=Run.Status.WAITING).values_list("study_id", flat=True).distinct())
