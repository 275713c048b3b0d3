"""Celery tasks. They take ids, load the row and delegate to plain functions."""

from __future__ import annotations

import logging
import os
import traceback

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from dashboard import actions

log = logging.getLogger(__name__)


@worker_ready.connect
def recover_runs_of_this_worker(sender, **kwargs) -> None:
    """A worker restarting under the same name picks its interrupted runs back up."""
    actions.recover_runs(sender.hostname)


@shared_task(bind=True, name="arena.train_run", acks_late=True, ignore_result=True)
def train_run(self, run_id: int) -> None:
    # Imported here: the web process queues runs but never loads PyTorch.
    from trainer.engine import TrainConfig, train

    run = actions.start_run(run_id, worker=self.request.hostname or "")
    if run is None:
        log.info("run %s is finished or cancelled; nothing to do", run_id)
        return
    config = TrainConfig(
        workload=run.workload,
        policy=run.policy_spec,
        epochs=run.epochs,
        seed=run.seed,
        device=os.environ.get("ARENA_DEVICE", "auto"),
        data_dir=settings.DATA_DIR,
        checkpoint_path=str(actions.checkpoint_path(run_id)),
    )
    try:
        result = train(
            config,
            on_epoch=lambda metrics: actions.record_epoch(run, metrics),
            should_stop=lambda: actions.is_cancelled(run_id),
        )
    except Exception as exc:  # noqa: BLE001 - any failure is stored on the run, not lost
        log.exception("run %s failed", run_id)
        actions.fail_run(run, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
        return
    actions.finish_run(run, result)


@shared_task(bind=True, name="arena.train_batch", acks_late=True, ignore_result=True)
def train_batch(self, run_ids: list[int]) -> None:
    """Train several runs of one workload and budget together (a study's runs).

    trainer.batched trains them as one stacked model where that is faster and
    exact, and one after another otherwise; each run still records its own
    epochs and result. Batched runs keep no checkpoint: a worker that dies
    hands them back (recover_runs) and they start again.
    """
    from trainer.batched import train_batched
    from trainer.engine import TrainConfig

    runs = [run for run_id in run_ids if (run := actions.start_run(run_id, worker=self.request.hostname or ""))]
    if not runs:
        return
    device = os.environ.get("ARENA_DEVICE", "auto")
    configs = [
        TrainConfig(
            workload=run.workload,
            policy=run.policy_spec,
            epochs=run.epochs,
            seed=run.seed,
            device=device,
            data_dir=settings.DATA_DIR,
        )
        for run in runs
    ]
    try:
        results = train_batched(
            configs,
            on_epoch=lambda k, metrics: actions.record_epoch(runs[k], metrics),
            should_stop=lambda k: actions.is_cancelled(runs[k].pk),
        )
    except Exception as exc:  # noqa: BLE001 - every run of the batch keeps the error
        log.exception("batch %s failed", run_ids)
        for run in runs:
            actions.fail_run(run, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
        return
    for run, result in zip(runs, results, strict=True):
        actions.finish_run(run, result)


@shared_task(bind=True, name="arena.run_job", acks_late=True, ignore_result=True)
def run_job(self, job_id: int) -> None:
    from dashboard import jobs

    job = actions.start_job(job_id, worker=self.request.hostname or "")
    if job is None:
        return
    try:
        result = jobs.run(
            job,
            event=lambda type_, data: actions.record_job_event(job, type_, data),
            should_stop=lambda: actions.is_job_cancelled(job_id),
            data_dir=settings.DATA_DIR,
        )
    except Exception as exc:  # noqa: BLE001 - stored on the job, never lost
        log.exception("job %s failed", job_id)
        actions.fail_job(job, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
        return
    actions.finish_job(job, result, cancelled=actions.is_job_cancelled(job_id))
