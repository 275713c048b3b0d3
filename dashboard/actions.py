"""Every change of a run's state happens here: save, then broadcast on commit.

State machine: queued -> running -> succeeded | failed | diverged | cancelled,
and running -> queued when a worker's lease expires (dashboard/fleet.py). Each
change is one guarded transition (`fleet.move`); a worker's writes are fenced by
the attempt it started. Views and tasks call these functions; none of them
touches the channel layer.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard import access, checkpoints, fleet, realtime, studies
from dashboard.models import EpochMetric, Invitation, Job, JobEvent, Membership, Policy, Run, Study, Team
from dashboard.presenters import run_state

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


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(value: Any) -> Any:
    """Make engine output safe for JSON columns: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return _finite_or_none(value)


def _study_cell(run: Run) -> dict:
    return {
        "run": run.pk,
        "policy": run.policy_id,
        "seed": run.seed,
        "lr_scale": run.lr_scale,
        "status": run.status,
        "epochs_done": run.epochs_done,
        "epochs": run.epochs,
        "final_acc": run.final_acc,
    }


class Lost(Exception):
    """A worker's write refused: the row was cancelled or taken over by another attempt."""


def broadcast_run_state(run: Run) -> None:
    state = run_state(run)
    transaction.on_commit(lambda: realtime.publish(realtime.run_group(run.pk), {"type": "run.status", "run": state}))
    _broadcast_study_cell(run)


def _broadcast_study_cell(run: Run) -> None:
    if run.study_id is None:
        return
    cell = _study_cell(run)
    group = realtime.study_group(run.study_id)
    transaction.on_commit(lambda: realtime.publish(group, {"type": "study.cell", "cell": cell}))


class QuotaExceeded(Exception):
    """A team quota would be exceeded; `field` names the input that exceeds it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_quota(team: Team, *, new_runs: int, epochs: int) -> None:
    if epochs > team.max_epochs_per_run:
        raise QuotaExceeded("epochs", f"{team.name} may train at most {team.max_epochs_per_run} epochs per run.")
    active = active_work(team)
    if active + new_runs > team.max_active_runs:
        raise QuotaExceeded(
            "non_field_errors",
            f"{team.name} may have {team.max_active_runs} runs queued or running at once (research jobs "
            f"included); {active} are, and this would add {new_runs}.",
        )


def active_work(team: Team) -> int:
    """What `max_active_runs` bounds: the team's runs and research jobs queued or running.

    A job counts as one: it holds one worker at a time, and `check_job_quota` bounds its total cost."""
    runs = Run.objects.filter(team=team, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).count()
    jobs = Job.objects.filter(team=team, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).count()
    return runs + jobs


def check_job_quota(team: Team, cost) -> None:
    """A research job against the team's quotas, as the study of runs it amounts to: each network it
    trains (`cost.trainings`: networks × probes) is a run of `cost.epochs` epochs; the job is active work.
    Fields are the job's parameter names (`jobs.JobCost`)."""
    work = f"this job trains {cost.trainings} network(s) of up to {cost.epochs} epochs ({cost.total_epochs} in all)"
    if cost.epochs > team.max_epochs_per_run:
        raise QuotaExceeded(
            cost.epochs_field, f"{team.name} may train at most {team.max_epochs_per_run} epochs per run; {work}."
        )
    if cost.trainings > team.max_runs_per_study:
        raise QuotaExceeded(
            cost.trainings_field,
            f"{team.name} may queue at most {team.max_runs_per_study} runs per study, and a job's networks "
            f"count as runs; {work}.",
        )
    active = active_work(team)
    if active + 1 > team.max_active_runs:
        raise QuotaExceeded(
            "non_field_errors",
            f"{team.name} may have {team.max_active_runs} runs queued or running at once (research jobs "
            f"included); {active} are, and this job would add 1.",
        )


def create_policy(*, team: Team, user, name: str, spec: dict, description: str = "") -> Policy:
    return Policy.objects.create(team=team, created_by=user, name=name, spec=spec, description=description)


def update_policy(policy: Policy, *, name: str, description: str, spec: dict | None = None) -> Policy:
    """Rename or redescribe a policy; its spec changes only while no run has used it."""
    policy.name = name
    policy.description = description
    fields = ["name", "description", "updated_at"]
    if spec is not None:
        policy.spec = spec
        fields.append("spec")
    policy.save(update_fields=fields)
    return policy


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
) -> Run:
    """Store a queued run and hand its id to a worker of its device once the row is committed.

    QuotaExceeded, or fleet.NoGpuWorkers (a ValueError naming `device`) when it asks for a GPU that no worker has.
    """
    from trainer.workloads import get_workload

    if target_accuracy is None:
        target_accuracy = get_workload(workload).target_accuracy
    queue = fleet.queue_for(workload, device)
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # one quota check at a time per team
        check_quota(team, new_runs=1, epochs=epochs)
        run = Run.objects.create(
            team=team,
            created_by=user,
            policy=policy,
            policy_spec=policy.spec,
            workload=workload,
            epochs=epochs,
            seed=seed,
            target_accuracy=target_accuracy,
            device_request=device,
            queue=queue,
        )
        transaction.on_commit(lambda: fleet.send_runs([run.pk], queue))
    return run


def create_study(
    *,
    team: Team,
    user,
    name: str,
    workload: str,
    policies: list[Policy],
    seeds: list[int],
    epochs: int,
    target_accuracy: float | None = None,
    lr_scales: list[float] | None = None,
    description: str = "",
    device: str = Run.Device.AUTO,
) -> Study:
    """Store a study and queue one run per (policy, base-LR scale, seed).

    Every scaled spec is validated before anything is stored: a scale that
    pushes an LR out of its range fails the whole request, naming the policy.
    """
    from trainer.workloads import get_workload

    if target_accuracy is None:
        target_accuracy = get_workload(workload).target_accuracy
    scales = lr_scales or [1.0]
    queue = fleet.queue_for(workload, device)
    scaled = {(policy.pk, scale): studies.scale_spec(policy.spec, scale) for policy in policies for scale in scales}
    n_runs = len(policies) * len(scales) * len(seeds)
    if n_runs > team.max_runs_per_study:
        raise QuotaExceeded(
            "seeds", f"{team.name} may queue at most {team.max_runs_per_study} runs per study; this is {n_runs}."
        )
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        check_quota(team, new_runs=n_runs, epochs=epochs)
        study = Study.objects.create(
            team=team,
            created_by=user,
            name=name,
            description=description,
            workload=workload,
            epochs=epochs,
            seeds=seeds,
            target_accuracy=target_accuracy,
            lr_scales=scales,
        )
        study.policies.set(policies)
        runs = Run.objects.bulk_create(
            [
                Run(
                    team=team,
                    created_by=user,
                    study=study,
                    policy=policy,
                    policy_spec=scaled[(policy.pk, scale)],
                    lr_scale=scale,
                    workload=workload,
                    epochs=epochs,
                    seed=seed,
                    target_accuracy=target_accuracy,
                    device_request=device,
                    queue=queue,
                )
                for policy in policies
                for scale in scales
                for seed in seeds
            ]
        )
        batches = batch_ids([run.pk for run in runs], settings.ARENA_BATCH_RUNS)
        transaction.on_commit(lambda: send_batches(batches, queue))
    return study


def send_batches(batches: list[list[int]], queue: str) -> None:
    """Hand each group of a study's runs to a worker, which trains the group together."""
    for batch in batches:
        fleet.send_runs(batch, queue)


def batch_ids(run_ids: list[int], size: int) -> list[list[int]]:
    """Runs of one study in groups a worker trains together (one group per task, so several workers share)."""
    size = max(1, size)
    return [run_ids[i : i + size] for i in range(0, len(run_ids), size)]


def start_run(run_id: int, *, worker: str = "", device: str = "") -> Run | None:
    """Start a queued run on `worker`, or take over one whose lease expired; None when it is not ours to start.

    Idempotent: a duplicate or redelivered message for a run that is running
    under a live lease, or finished, starts nothing. The returned run carries
    the attempt that fences every later write of this worker.
    """
    if not fleet.claim(Run, run_id, worker=worker, **({"device": device[:100]} if device else {})):
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
    for run in Run.objects.filter(status=Run.Status.RUNNING, worker=worker).only("pk", "attempt", "queue"):
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
    data = _clean(dict(metrics))
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
    summary = _clean({**(result.get("summary") or {}), "resumed_from_epoch": result.get("resumed_from_epoch")})
    epochs = [row.as_dict() for row in EpochMetric.objects.filter(run=run)]
    costs = studies.target_reached(epochs, run.target_accuracy)
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
    with transaction.atomic():
        if not fleet.move(Run, run.pk, source=[Run.Status.RUNNING], target=status, attempt=run.attempt, **changes):
            log.warning("run %s: attempt %s lost it before finishing; its result is dropped", run.pk, run.attempt)
            return False
        run.refresh_from_db()
        broadcast_run_state(run)
        _board_changed(run.workload, *access.board_audience(run))
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
            source=[Run.Status.QUEUED, Run.Status.RUNNING],
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
    """Start a finished run again from scratch, under the same id; False if it is not finished."""
    reset = {field: None for field in SUMMARY_FIELDS}
    with transaction.atomic():
        if not fleet.move(
            Run,
            run.pk,
            source=Run.FINISHED,
            target=Run.Status.QUEUED,
            epochs_done=0,
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


# -- policies: publishing and archiving ------------------------------------------------------


def publish_policy(policy: Policy) -> Policy:
    """Put a policy and its team's results on the shared leaderboard."""
    if not policy.published:
        policy.published = True
        policy.published_at = timezone.now()
        policy.save(update_fields=["published", "published_at", "updated_at"])
        _board_changed_for(policy)
    return policy


def unpublish_policy(policy: Policy) -> Policy:
    """Take a policy off the shared leaderboard. Nothing is deleted."""
    if policy.published:
        policy.published = False
        policy.save(update_fields=["published", "updated_at"])
        _board_changed_for(policy)
    return policy


def archive_policy(policy: Policy, archived: bool = True) -> Policy:
    policy.archived = archived
    policy.save(update_fields=["archived", "updated_at"])
    return policy


def duplicate_policy(policy: Policy, *, user, team: Team | None = None) -> Policy:
    team = team or policy.team
    name = free_policy_name(team, f"Copy of {policy.name}")
    return create_policy(team=team, user=user, name=name, spec=policy.spec, description=policy.description)


def free_policy_name(team: Team, wanted: str) -> str:
    """`wanted`, or `wanted (2)`, `(3)` … : the first name the team's policies do not use yet."""
    base = wanted[:90]
    taken = set(Policy.objects.filter(team=team, name__startswith=base).values_list("name", flat=True))
    name, number = base, 2
    while name in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def _board_changed_for(policy: Policy) -> None:
    """A policy was published or unpublished: its team's entries joined or left the shared board."""
    workloads = set(Run.objects.filter(policy=policy, team=policy.team).values_list("workload", flat=True))
    for workload in workloads:
        _board_changed(workload, None, True)


def _board_changed(workload: str, team_id: int | None, shared: bool) -> None:
    """Tell the boards that show a change (access.board_audience) after the commit, and no others."""
    group = realtime.leaderboard_group(workload, None if shared else team_id)
    message = {"type": "leaderboard.changed", "workload": workload}
    transaction.on_commit(lambda: realtime.publish(group, message))


# -- teams, members and invitations -----------------------------------------------------------


def create_team(*, user, name: str) -> Team:
    from django.utils.text import slugify

    base = slugify(name)[:90] or "team"
    slug, number = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    with transaction.atomic():
        team = Team.objects.create(name=name, slug=slug)
        Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    return team


def set_role(team: Team, member, role: str) -> Membership:
    """Change a member's role; a team always keeps at least one admin."""
    membership = Membership.objects.get(team=team, user=member)
    if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
        if not Membership.objects.filter(team=team, role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists():
            raise ValueError("A team needs at least one admin: make someone else admin first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def remove_member(team: Team, member) -> None:
    membership = Membership.objects.get(team=team, user=member)
    if membership.role == Membership.Role.ADMIN and not (
        Membership.objects.filter(team=team, role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists()
    ):
        raise ValueError("A team needs at least one admin: make someone else admin first.")
    membership.delete()


def invitation_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def create_invitation(*, team: Team, user, role: str, days: int = 7, max_uses: int = 1) -> Invitation:
    from datetime import timedelta

    return Invitation.objects.create(
        team=team,
        role=role,
        created_by=user,
        token=invitation_token(),
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )


def revoke_invitation(invitation: Invitation) -> Invitation:
    invitation.revoked = True
    invitation.save(update_fields=["revoked"])
    return invitation


def invitation_for_token(token: str) -> tuple[Invitation | None, str | None]:
    """The invitation of a link, and what keeps it from being accepted (None: nothing)."""
    invitation = Invitation.objects.select_related("team").filter(token=token).first()
    if invitation is None:
        return None, "This invitation link is not valid."
    return invitation, invitation_problem(invitation)


def invitation_problem(invitation: Invitation) -> str | None:
    if invitation.revoked:
        return "This invitation was revoked."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired."
    if invitation.uses >= invitation.max_uses:
        return "This invitation has already been used."
    return None


def accept_invitation(invitation: Invitation, user) -> Membership:
    """Join the invitation's team. Existing members keep their role."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        problem = invitation_problem(invitation)
        if problem:
            raise ValueError(problem)
        membership, created = Membership.objects.get_or_create(
            user=user, team=invitation.team, defaults={"role": invitation.role}
        )
        if created:
            invitation.uses += 1
            invitation.save(update_fields=["uses"])
    return membership


# -- research jobs --------------------------------------------------------------------------------


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
        job = Job.objects.create(team=team, created_by=user, kind=kind, params=_clean(params), name=name)
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
        event = JobEvent.objects.create(job=job, seq=job.events_count, type=type_, data=_clean(data))
        Job.objects.filter(pk=job.pk).update(events_count=job.events_count)
        message = {"type": "job.event", "event": {"seq": event.seq, "type": type_, "data": event.data}}
        transaction.on_commit(lambda: realtime.publish(realtime.job_group(job.pk), message))
    return event


def finish_job(job: Job, result: dict, *, cancelled: bool = False) -> bool:
    """Store a job's result, if this worker's attempt still holds it (else False, nothing written).

    A cancelled job keeps what it found before it stopped: its status stays cancelled.
    """
    if cancelled:
        return _end_job(job, Job.Status.CANCELLED, also_from=[Job.Status.CANCELLED], result=_clean(result))
    return _end_job(job, Job.Status.SUCCEEDED, result=_clean(result))


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


def convert_policy(policy: Policy, *, user, team: Team, wd: float, momentum: float, steps_per_epoch: int) -> Policy:
    """Li & Arora: the policy used with weight decay, as the equivalent one without it."""
    from trainer.schedules import remove_weight_decay

    spec = remove_weight_decay(policy.spec, wd, momentum, steps_per_epoch)
    name = free_policy_name(team, f"{policy.name} without WD")
    description = (
        f"“{policy.name}” trained with weight decay {wd:g} and momentum {momentum:g}, converted to the exactly "
        f"equivalent schedule trained without weight decay (Li & Arora's recursion, {steps_per_epoch} iterations "
        "per epoch). Train it with weight decay 0: on a scale-invariant network it computes the same function "
        "at every step while the weight norm grows."
    )
    return create_policy(team=team, user=user, name=name, spec=spec, description=description)
