"""Celery tasks. They take ids, load the row and delegate to plain functions."""

from __future__ import annotations

import logging
import os
import traceback

from celery import shared_task
from django.conf import settings

from dashboard import actions

log = logging.getLogger(__name__)


@shared_task(name="arena.train_run", acks_late=True, ignore_result=True)
def train_run(run_id: int) -> None:
    # Imported here: the web process queues runs but never loads PyTorch.
    from trainer.engine import TrainConfig, train

    run = actions.start_run(run_id)
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
