"""Celery tasks. They take ids, load the row and delegate to plain functions.

Each task holds a lease on what it trains (dashboard/fleet.py) and every write
it makes is fenced by the attempt it started: a worker that lost its run
(cancelled, or taken over after its lease expired) stops and writes nothing.
"""

from __future__ import annotations

import logging
import os
import traceback

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from dashboard import actions, checkpoints, fleet, reconcile
from dashboard.models import Job, Run

log = logging.getLogger(__name__)

_reconciler: reconcile.Reconciler | None = None


@worker_ready.connect
def take_up_the_fleet_duties(sender, **kwargs) -> None:
    """A worker restarting under the same name picks its interrupted runs back up at once; every
    worker then reconciles the database with the broker periodically (expired leases, lost messages)."""
    global _reconciler
    actions.recover_runs(sender.hostname)
    _reconciler = reconcile.Reconciler().start()


@worker_shutdown.connect
def stop_reconciling(**kwargs) -> None:
    if _reconciler is not None:
        _reconciler.stop()


def _device() -> str:
    return os.environ.get("ARENA_DEVICE", "auto")


def _device_label() -> str:
    """This worker's device by name: "cpu", or "cuda:0 — NVIDIA H100 80GB HBM3"."""
    import torch

    from trainer.engine import resolve_device

    device = resolve_device(_device())
    return f"{device} — {torch.cuda.get_device_name(device)}" if device.type == "cuda" else str(device)


def _report_progress(run: Run, progress: dict) -> None:
    """Progress is a courtesy to the page: a failed write (a locked database, say) is logged, never fatal."""
    try:
        actions.record_progress(run, progress)
    except Exception:  # noqa: BLE001 - the next report, or the epoch, will do
        log.warning("run %s: progress not recorded", run.pk, exc_info=True)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"


@shared_task(bind=True, name=fleet.RUN_TASK, acks_late=True, ignore_result=True)
def train_run(self, run_id: int) -> None:
    # Imported here: the web process queues runs but never loads PyTorch.
    from trainer.engine import TrainConfig, train

    run = actions.start_run(run_id, worker=self.request.hostname or "", device=_device_label())
    if run is None:
        log.info("run %s is finished, cancelled or held by a live worker; nothing to do", run_id)
        return
    config = TrainConfig(
        workload=run.workload,
        policy=run.policy_spec,
        epochs=run.rung_epochs or run.epochs,  # a halving study's run trains to its rung
        seed=run.seed,
        workload_options=run.workload_options or None,
        device=_device(),
        data_dir=settings.DATA_DIR,
        checkpoint_path=str(checkpoints.fetch(run_id)),  # the last worker's, whichever machine it ran on
    )
    with fleet.Lease(Run, {run.pk: run.attempt}) as lease:
        try:
            result = train(
                config,
                on_epoch=lambda metrics: actions.record_epoch(run, metrics),
                should_stop=lambda: lease.lost(run.pk) or not actions.holds(run),
                on_checkpoint=lambda path: checkpoints.push(run_id, path),
                on_progress=lambda progress: _report_progress(run, progress),
                progress_seconds=settings.ARENA_PROGRESS_SECONDS,
            )
        except actions.Lost as lost:
            log.warning("%s", lost)
            return
        except Exception as exc:  # noqa: BLE001 - any failure is stored on the run, not lost
            log.exception("run %s failed", run_id)
            actions.fail_run(run, _error(exc))
            return
        actions.finish_run(run, result)
    if run.study_id is not None:
        actions.advance_halving(run.study_id)


@shared_task(bind=True, name=fleet.BATCH_TASK, acks_late=True, ignore_result=True)
def train_batch(self, run_ids: list[int]) -> None:
    """Train several runs of one workload and budget together (a study's runs).

    trainer.batched trains them as one stacked model where that is faster and
    exact, and one after another otherwise; each run still records its own
    epochs and result, and stores its own checkpoint after every epoch. A run
    whose worker died is taken over (lease expiry) and resumes from it.
    """
    from trainer.batched import train_batched
    from trainer.engine import TrainConfig

    worker, device = self.request.hostname or "", _device_label()
    runs = [run for run_id in run_ids if (run := actions.start_run(run_id, worker=worker, device=device))]
    if not runs:
        return
    configs = [
        TrainConfig(
            workload=run.workload,
            policy=run.policy_spec,
            epochs=run.rung_epochs or run.epochs,  # a halving study's runs train to their rung
            seed=run.seed,
            workload_options=run.workload_options or None,
            device=_device(),
            data_dir=settings.DATA_DIR,
            checkpoint_path=str(checkpoints.fetch(run.pk)),
        )
        for run in runs
    ]
    with fleet.Lease(Run, {run.pk: run.attempt for run in runs}) as lease:

        def record(k: int, metrics: dict) -> None:
            try:
                actions.record_epoch(runs[k], metrics)
            except actions.Lost as lost:  # this run stops at its next check; the others go on
                log.warning("%s", lost)
                lease.mark_lost(runs[k].pk)

        try:
            results = train_batched(
                configs,
                on_epoch=record,
                should_stop=lambda k: lease.lost(runs[k].pk) or not actions.holds(runs[k]),
                on_checkpoint=lambda k, path: checkpoints.push(runs[k].pk, path),
                on_progress=lambda k, progress: _report_progress(runs[k], progress),
                progress_seconds=settings.ARENA_PROGRESS_SECONDS,
            )
        except Exception as exc:  # noqa: BLE001 - every run of the batch keeps the error
            log.exception("batch %s failed", run_ids)
            for run in runs:
                actions.fail_run(run, _error(exc))
            return
        for run, result in zip(runs, results, strict=True):
            actions.finish_run(run, result)
    for study_id in {run.study_id for run in runs if run.study_id is not None}:
        actions.advance_halving(study_id)


@shared_task(bind=True, name=fleet.JOB_TASK, acks_late=True, ignore_result=True)
def run_job(self, job_id: int) -> None:
    from dashboard import jobs

    job = actions.start_job(job_id, worker=self.request.hostname or "")
    if job is None:
        return
    with fleet.Lease(Job, {job.pk: job.attempt}) as lease:
        try:
            result = jobs.run(
                job,
                event=lambda type_, data: actions.record_job_event(job, type_, data),
                should_stop=lambda: lease.lost(job.pk) or not fleet.holds(Job, job.pk, job.attempt),
                data_dir=settings.DATA_DIR,
            )
        except Exception as exc:  # noqa: BLE001 - stored on the job, never lost
            log.exception("job %s failed", job_id)
            actions.fail_job(job, _error(exc))
            return
        actions.finish_job(job, result, cancelled=actions.is_job_cancelled(job_id))
