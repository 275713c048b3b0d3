"""Research jobs: queued -> running -> succeeded | failed | cancelled, with a stream of progress events."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from dashboard import fleet, realtime
from dashboard.actions.common import clean
from dashboard.actions.quotas import check_job_quota
from dashboard.models import Job, JobEvent, Team

log = logging.getLogger(__name__)


def job_state(job: Job) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "kind_label": job.get_kind_display(),
        "name": job.name,
        "params": job.params,
        "status": job.status,
        "error": job.error,
        "result": job.result,
        "events_count": job.events_count,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def broadcast_job_state(job: Job) -> None:
    state = job_state(job)
    transaction.on_commit(lambda: realtime.publish(realtime.job_group(job.pk), {"type": "job.status", "job": state}))


def queue_job(*, team: Team, user, kind: str, params: dict, name: str = "") -> Job:
    """Store a queued job, if the team's quotas allow its cost; QuotaExceeded otherwise."""
    from dashboard import jobs

    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # one quota check at a time per team
        check_job_quota(team, jobs.cost(kind, params))
        job = Job.objects.create(team=team, created_by=user, kind=kind, params=clean(params), name=name)
        transaction.on_commit(lambda: fleet.send_job(job.pk))
    return job


def start_job(job_id: int, *, worker: str = "") -> Job | None:
    """Start a queued job (or take over one whose lease expired); None when it is not ours to start."""
    if not fleet.claim(Job, job_id, worker=worker):
        return None
    job = Job.objects.get(pk=job_id)
    with transaction.atomic():
        broadcast_job_state(job)
    return job


def record_job_event(job: Job, type_: str, data: dict) -> JobEvent:
    """Commit one progress event, then broadcast it (the page fills gaps from the database)."""
    with transaction.atomic():
        job.events_count += 1
        event = JobEvent.objects.create(job=job, seq=job.events_count, type=type_, data=clean(data))
        Job.objects.filter(pk=job.pk).update(events_count=job.events_count)
        message = {"type": "job.event", "event": {"seq": event.seq, "type": type_, "data": event.data}}
        transaction.on_commit(lambda: realtime.publish(realtime.job_group(job.pk), message))
    return event


def finish_job(job: Job, result: dict, *, cancelled: bool = False) -> bool:
    """Store a job's result, if this worker's attempt still holds it (else False, nothing written).

    A cancelled job keeps what it found before it stopped: its status stays cancelled.
    """
    if cancelled:
        return _end_job(job, Job.Status.CANCELLED, also_from=[Job.Status.CANCELLED], result=clean(result))
    return _end_job(job, Job.Status.SUCCEEDED, result=clean(result))


def fail_job(job: Job, error: str) -> bool:
    return _end_job(job, Job.Status.FAILED, error=error[:5000])


def _end_job(job: Job, status: str, also_from: list[str] = (), **changes) -> bool:
    with transaction.atomic():
        if not fleet.move(
            Job,
            job.pk,
            source=[Job.Status.RUNNING, *also_from],
            target=status,
            attempt=job.attempt,
            finished_at=timezone.now(),
            lease_expires_at=None,
            **changes,
        ):
            log.warning("job %s: attempt %s lost it before it ended as %s", job.pk, job.attempt, status)
            return False
        job.refresh_from_db()
        broadcast_job_state(job)
    return True


def cancel_job(job: Job) -> bool:
    with transaction.atomic():
        cancelled = fleet.move(
            Job,
            job.pk,
            source=[Job.Status.QUEUED, Job.Status.RUNNING],
            target=Job.Status.CANCELLED,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        if cancelled:
            job.refresh_from_db()
            broadcast_job_state(job)
    return cancelled


def is_job_cancelled(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists()
