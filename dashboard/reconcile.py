"""The reconciler: every worker brings the database and the broker back into agreement, periodically.

Expired leases go back to the queue (their runs resume from their checkpoints
on whichever worker takes them), and queued runs and jobs whose message no
Redis queue holds are sent again. Self-reported runs, which no worker trains,
are never requeued: once their reporter's lease expired (no report for
ARENA_REPORT_TIMEOUT_SECONDS) they end as failed, abandoned. All of it is safe
to do from every worker at once: the transitions are guarded and starting is
idempotent (dashboard/fleet.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from dashboard import actions, fleet

log = logging.getLogger(__name__)


def reconcile() -> dict[str, list[int]]:
    """Hand expired runs and jobs back to the queue, end abandoned self-reported runs, and re-send queued
    runs and jobs whose message is gone."""
    from dashboard.models import Job, Run

    now = timezone.now()
    expired = Q(status="running") & (Q(lease_expires_at__lt=now) | Q(lease_expires_at=None))
    requeued_runs = [
        run.pk
        # Not a self-reported run: its team's own loop trains it, and abandon_silent_runs ends it (below).
        for run in Run.objects.filter(expired, Run.WORKER_TRAINED).only("pk", "attempt")
        if fleet.move(Run, run.pk, source=["running"], target="queued", attempt=run.attempt, when=expired, sent_at=None)
    ]
    requeued_jobs = [
        job.pk
        for job in Job.objects.filter(expired).only("pk", "attempt")
        if fleet.move(Job, job.pk, source=["running"], target="queued", attempt=job.attempt, when=expired, sent_at=None)
    ]
    if requeued_runs or requeued_jobs:
        log.warning("leases expired: runs %s and jobs %s go back to the queue", requeued_runs, requeued_jobs)
        for run in Run.objects.filter(pk__in=requeued_runs):
            actions.broadcast_run_state(run)
        for job in Job.objects.filter(pk__in=requeued_jobs):
            actions.broadcast_job_state(job)

    abandoned_runs = actions.abandon_silent_runs()
    if abandoned_runs:
        log.warning("self-reported runs %s sent no report in time: failed, abandoned", abandoned_runs)

    for study_id in actions.waiting_studies():  # a halving rung that a cancel or a death left undecided
        actions.advance_halving(study_id)

    held_runs, held_jobs = fleet.held_in_broker()
    stale = Q(sent_at=None) | Q(sent_at__lt=now - timedelta(seconds=settings.ARENA_RESEND_AFTER_SECONDS))
    resent_runs = []
    for run in Run.objects.filter(stale, status="queued").exclude(pk__in=held_runs).only("pk", "queue"):
        fleet.send_runs([run.pk], run.queue or "cpu")
        resent_runs.append(run.pk)
    resent_jobs = []
    for job_id in Job.objects.filter(stale, status="queued").exclude(pk__in=held_jobs).values_list("pk", flat=True):
        fleet.send_job(job_id)
        resent_jobs.append(job_id)
    if resent_runs or resent_jobs:
        log.warning("no broker message held runs %s or jobs %s: sent again", resent_runs, resent_jobs)
    return {
        "requeued_runs": requeued_runs,
        "requeued_jobs": requeued_jobs,
        "abandoned_runs": abandoned_runs,
        "resent_runs": resent_runs,
        "resent_jobs": resent_jobs,
    }


class Reconciler:
    """Runs `reconcile` every ARENA_RECONCILE_SECONDS in a worker's background thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arena-reconcile", daemon=True)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(settings.ARENA_RECONCILE_SECONDS):
                try:
                    reconcile()
                except Exception:  # noqa: BLE001 - Redis or the database away: the next round tries again
                    log.warning("reconciliation failed", exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
