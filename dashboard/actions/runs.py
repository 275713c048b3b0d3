"""A run's life: queued -> running -> succeeded | failed | diverged | cancelled.

Every status change is one guarded transition (`fleet.move`); a worker's writes
(epochs, the result, a failure) are fenced by the attempt it started, and a
running run whose lease expired goes back to queued (dashboard/reconcile.py).
Each function saves, then broadcasts after the commit.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from dashboard import access, checkpoints, fleet, realtime
from dashboard.actions.common import board_changed, clean
from dashboard.actions.quotas import check_quota
from dashboard.models import EpochMetric, Policy, Run, Team
from dashboard.presenters import run_state
from dashboard.studies import study_cell, target_reached

log = logging.getLogger(__name__)


SUMMARY_FIELDS = [
    "final_acc",
    "best_acc",
    "final_loss",
    "final_top5",
    "ac",
    "cv",
    "cvac",
    "loss_gap",
    "total_seconds",
    "diverged_epoch",
    "epochs_to_target",
    "iterations_to_target",
    "samples_to_target",
    "seconds_to_target",
]


class Lost(Exception):
    """A worker's write refused: the row was cancelled or taken over by another attempt."""


def broadcast_run_state(run: Run) -> None:
    state = run_state(run)
    transaction.on_commit(lambda: realtime.publish(realtime.run_group(run.pk), {"type": "run.status", "run": state}))
    _broadcast_study_cell(run)


def _broadcast_study_cell(run: Run) -> None:
    if run.study_id is None:
        return
    cell = study_cell(run)
    group = realtime.study_group(run.study_id)
    transaction.on_commit(lambda: realtime.publish(group, {"type": "study.cell", "cell": cell}))


def queue_run(
    *,
    team: Team,
    user,
    policy: Policy,
    workload: str,
    epochs: int,
    seed: int = 0,
    target_accuracy: float | None = None,
    device: str = Run.Device.AUTO,
    workload_options: dict | None = None,
) -> Run:
    """Store a queued run and hand its id to a worker of its device once the row is committed.

    The workload options are stored as those that differ from the workload's
    defaults. QuotaExceeded; fleet.NoGpuWorkers (a ValueError naming `device`)
    when it asks for a GPU that no worker has; a ValueError naming the option
    ("workload_options.path ...") for bad options (forms and the API check them first).
    """
    from trainer.workloads import get_workload

    spec = get_workload(workload)
    options = spec.changed_options(workload_options)
    if target_accuracy is None:
        target_accuracy = spec.target_accuracy
    queue = fleet.queue_for(workload, device)
    with transaction.atomic():
        run = create_run_within_quota(
            team=team,
            created_by=user,
            policy=policy,
            workload=workload,
            workload_options=options,
            epochs=epochs,
            seed=seed,
            target_accuracy=target_accuracy,
            device_request=device,
            queue=queue,
        )
        transaction.on_commit(lambda: fleet.send_runs([run.pk], queue))
    return run


def create_run_within_quota(*, team: Team, policy: Policy, epochs: int, **fields) -> Run:
    """Store a queued run of `policy` (its spec as it is now), if the team's quota allows; inside a transaction."""
    Team.objects.select_for_update().filter(pk=team.pk).first()  # one quota check at a time per team
    check_quota(team, new_runs=1, epochs=epochs)
    return Run.objects.create(team=team, policy=policy, policy_spec=policy.spec, epochs=epochs, **fields)


def start_run(run_id: int, *, worker: str = "", device: str = "") -> Run | None:
    """Start a queued run on `worker`, or take over one whose lease expired; None when it is not ours to start.

    Idempotent: a duplicate or redelivered message for a run that is running
    under a live lease, or finished, starts nothing. The returned run carries
    the attempt that fences every later write of this worker.
    """
    # A new attempt restarts its epoch: the last attempt's progress is stale.
    if not fleet.claim(Run, run_id, worker=worker, progress={}, **({"device": device[:100]} if device else {})):
        return None
    run = Run.objects.select_related("policy").get(pk=run_id)
    broadcast_run_state(run)
    return run


def recover_runs(worker: str) -> list[int]:
    """Put back in the queue the runs a worker of this name was training when it died.

    Called when a worker starts (it cannot be training anything yet), so these
    resume from their last checkpoints without waiting for their leases to expire.
    """
    run_ids = []
    trained_here = Run.objects.filter(Run.WORKER_TRAINED, status=Run.Status.RUNNING, worker=worker)
    for run in trained_here.only("pk", "attempt", "queue"):
        if fleet.move(Run, run.pk, source=[Run.Status.RUNNING], target=Run.Status.QUEUED, attempt=run.attempt):
            run_ids.append(run.pk)
            fleet.send_runs([run.pk], run.queue or "cpu")
    for run in Run.objects.filter(pk__in=run_ids):
        broadcast_run_state(run)
    if run_ids:
        log.warning("worker %s restarted: requeued runs %s to resume from their checkpoints", worker, run_ids)
    return run_ids


def record_epoch(run: Run, metrics: dict) -> EpochMetric:
    """Commit one epoch's metrics, then broadcast them.

    Fenced: only the worker holding the run's current attempt may write; any
    other (the run was cancelled, or taken over after its lease expired) gets
    `Lost` and nothing is stored.
    """
    data = clean(dict(metrics))
    epoch = int(data.pop("epoch"))
    columns = {name: data.pop(name, None) for name in EpochMetric.COLUMNS}
    with transaction.atomic():
        held = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, attempt=run.attempt)
        if not held.update(epochs_done=epoch):
            raise Lost(f"run {run.pk}: attempt {run.attempt} no longer holds it; epoch {epoch} not stored")
        row, _ = EpochMetric.objects.update_or_create(run=run, epoch=epoch, defaults={**columns, "extra": data})
        run.epochs_done = epoch
        message = {
            "type": "run.epoch",
            "run_id": run.pk,
            "epochs_done": epoch,
            "epoch": row.as_dict(),
        }
        transaction.on_commit(lambda: realtime.publish(realtime.run_group(run.pk), message))
        _broadcast_study_cell(run)
    return row


def record_progress(run: Run, progress: dict) -> bool:
    """Keep the epoch under way on the run row, then broadcast it; the engine reports it every few seconds at most.

    Fenced like record_epoch, but a refused write is no error here (False): the
    worker learns it lost the run at its next should_stop check.
    """
    data = clean(dict(progress))
    with transaction.atomic():
        if not Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, attempt=run.attempt).update(progress=data):
            return False
        message = {"type": "run.progress", "run_id": run.pk, "progress": data}
        transaction.on_commit(lambda: realtime.publish(realtime.run_group(run.pk), message))
    return True


RESULT_STATUS = {"succeeded": Run.Status.SUCCEEDED, "diverged": Run.Status.DIVERGED, "cancelled": Run.Status.CANCELLED}


def device_label(result: dict) -> str:
    """The device a run trained on, by name: "cpu", or "cuda:0 — NVIDIA H100 80GB HBM3"."""
    device = str(result.get("device") or "")
    name = str(result.get("device_name") or "")
    if device.startswith("cuda") and name:
        return f"{device} — {name}"[:100]
    return device[:100]


def finish_run(run: Run, result: dict) -> bool:
    """Store the engine's result and summary on the run row, if this worker's attempt still holds it.

    False when it does not (an acknowledged cancel, or another worker took the
    run over): then nothing is written and nothing broadcast.
    """
    summary = clean({**(result.get("summary") or {}), "resumed_from_epoch": result.get("resumed_from_epoch")})
    epochs = [row.as_dict() for row in EpochMetric.objects.filter(run=run)]
    costs = target_reached(epochs, run.target_accuracy)
    changes = {
        "finished_at": timezone.now(),
        "final_acc": summary.get("final_acc"),
        "best_acc": summary.get("best_acc"),
        "final_loss": summary.get("final_test_loss"),
        "final_top5": summary.get("final_top5"),
        "ac": summary.get("ac"),
        "cv": summary.get("cv"),
        "cvac": summary.get("cvac"),
        "loss_gap": summary.get("loss_gap"),
        "total_seconds": summary.get("total_seconds"),
        "diverged_epoch": summary.get("diverged_epoch"),
        "epochs_to_target": costs["epochs_to_target"],
        "iterations_to_target": costs["iterations_to_target"],
        "samples_to_target": costs["samples_to_target"],
        "seconds_to_target": costs["seconds_to_target"],
        "summary": {**summary, **costs, "target_accuracy": run.target_accuracy},
        "lease_expires_at": None,
    }
    if device_label(result):
        changes["device"] = device_label(result)
    status = RESULT_STATUS.get(result.get("status"), Run.Status.FAILED)
    at_rung = status == Run.Status.SUCCEEDED and run.rung_epochs is not None and run.rung_epochs < run.epochs
    if at_rung:  # successive halving: it waits for its rung's decision, its checkpoint kept
        status, changes["finished_at"] = Run.Status.WAITING, None
    with transaction.atomic():
        if not fleet.move(Run, run.pk, source=[Run.Status.RUNNING], target=status, attempt=run.attempt, **changes):
            log.warning("run %s: attempt %s lost it before finishing; its result is dropped", run.pk, run.attempt)
            return False
        run.refresh_from_db()
        broadcast_run_state(run)
        if not at_rung:
            board_changed(run.workload, *access.board_audience(run))
            transaction.on_commit(lambda: checkpoints.drop(run.pk))  # after the broadcasts: it may fail
    return True


def fail_run(run: Run, error: str) -> bool:
    """Store a running run's error, if this worker's attempt still holds it (else False, nothing written)."""
    with transaction.atomic():
        if not fleet.move(
            Run,
            run.pk,
            source=[Run.Status.RUNNING],
            target=Run.Status.FAILED,
            attempt=run.attempt,
            finished_at=timezone.now(),
            error=error[:5000],
            lease_expires_at=None,
        ):
            log.warning(
                "run %s: attempt %s lost it before failing; the error is dropped: %s", run.pk, run.attempt, error
            )
            return False
        run.refresh_from_db()
        broadcast_run_state(run)
        transaction.on_commit(lambda: checkpoints.drop(run.pk))  # after the broadcast: it may fail
    return True


def cancel_run(run: Run) -> bool:
    """Stop a run; final once acknowledged. A queued run never starts; a running one stops at its next check."""
    with transaction.atomic():
        cancelled = fleet.move(
            Run,
            run.pk,
            source=[Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING],
            target=Run.Status.CANCELLED,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        if cancelled:
            run.refresh_from_db()
            broadcast_run_state(run)
    return cancelled


def holds(run: Run) -> bool:
    """Whether the worker that started this attempt of the run still holds it (not cancelled, not taken over)."""
    return fleet.holds(Run, run.pk, run.attempt)


def requeue_run(run: Run) -> bool:
    """Start a finished run again from scratch, under the same id; False if it is not finished, or
    self-reported (no worker can train a team's own loop)."""
    if run.self_reported:
        return False
    reset = {field: None for field in SUMMARY_FIELDS}
    with transaction.atomic():
        if not fleet.move(
            Run,
            run.pk,
            source=Run.FINISHED,
            target=Run.Status.QUEUED,
            epochs_done=0,
            progress={},
            error="",
            started_at=None,
            finished_at=None,
            summary={},
            **reset,
        ):
            return False
        EpochMetric.objects.filter(run=run).delete()
        checkpoints.drop(run.pk)
        run.refresh_from_db()
        broadcast_run_state(run)
        queue = run.queue or "cpu"
        transaction.on_commit(lambda: fleet.send_runs([run.pk], queue))
    return True
