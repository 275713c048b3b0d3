"""Every change of a run's state happens here: save, then broadcast on commit.

State machine: queued -> running -> succeeded | failed | diverged | cancelled.
Views and tasks call these functions; none of them touches the channel layer.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard import realtime, studies
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


def _broadcast_state(run: Run) -> None:
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
    active = Run.objects.filter(team=team, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).count()
    if active + new_runs > team.max_active_runs:
        raise QuotaExceeded(
            "non_field_errors",
            f"{team.name} may have {team.max_active_runs} runs queued or running at once; "
            f"{active} are, and this would add {new_runs}.",
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
) -> Run:
    """Store a queued run and hand its id to a worker once the row is committed."""
    from dashboard.tasks import train_run
    from trainer.workloads import get_workload

    if target_accuracy is None:
        target_accuracy = get_workload(workload).target_accuracy
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
        )
        transaction.on_commit(lambda: train_run.delay(run.pk))
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
) -> Study:
    """Store a study and queue one run per (policy, base-LR scale, seed).

    Every scaled spec is validated before anything is stored: a scale that
    pushes an LR out of its range fails the whole request, naming the policy.
    """
    from trainer.workloads import get_workload

    if target_accuracy is None:
        target_accuracy = get_workload(workload).target_accuracy
    scales = lr_scales or [1.0]
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
                )
                for policy in policies
                for scale in scales
                for seed in seeds
            ]
        )
        batches = batch_ids([run.pk for run in runs], settings.ARENA_BATCH_RUNS)
        transaction.on_commit(lambda: send_batches(batches))
    return study


def send_batches(batches: list[list[int]]) -> None:
    """Hand each group of a study's runs to a worker, which trains the group together."""
    from dashboard.tasks import train_batch

    for batch in batches:
        train_batch.delay(batch)


def batch_ids(run_ids: list[int], size: int) -> list[list[int]]:
    """Runs of one study in groups a worker trains together (one group per task, so several workers share)."""
    size = max(1, size)
    return [run_ids[i : i + size] for i in range(0, len(run_ids), size)]


def checkpoint_path(run_id: int) -> Path:
    return Path(settings.CHECKPOINT_DIR) / f"run-{run_id}.pt"


def start_run(run_id: int, *, worker: str = "") -> Run | None:
    """Mark a queued run as running on `worker`; None when it is not ours to start.

    Only queued runs start. A message redelivered for a run that is already
    running or finished is ignored: a worker that died hands its runs back
    through `recover_runs` when it restarts, and they resume from their
    checkpoints.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("policy").filter(pk=run_id).first()
        if run is None or run.status != Run.Status.QUEUED:
            return None
        run.status = Run.Status.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.worker = worker[:200]
        run.save(update_fields=["status", "started_at", "worker"])
        _broadcast_state(run)
    return run


def recover_runs(worker: str) -> list[int]:
    """Put back in the queue the runs a worker of this name was training when it died.

    Called when a worker starts: they resume from their last checkpoint.
    """
    from dashboard.tasks import train_run

    with transaction.atomic():
        runs = list(Run.objects.select_for_update().filter(status=Run.Status.RUNNING, worker=worker))
        for run in runs:
            run.status = Run.Status.QUEUED
            run.save(update_fields=["status"])
            _broadcast_state(run)
        run_ids = [run.pk for run in runs]
        transaction.on_commit(lambda: [train_run.delay(run_id) for run_id in run_ids])
    if run_ids:
        log.warning("worker %s restarted: requeued runs %s to resume from their checkpoints", worker, run_ids)
    return run_ids


def _drop_checkpoint(run_id: int) -> None:
    checkpoint_path(run_id).unlink(missing_ok=True)


def record_epoch(run: Run, metrics: dict) -> EpochMetric:
    """Commit one epoch's metrics, then broadcast them."""
    data = _clean(dict(metrics))
    epoch = int(data.pop("epoch"))
    columns = {name: data.pop(name, None) for name in EpochMetric.COLUMNS}
    with transaction.atomic():
        row, _ = EpochMetric.objects.update_or_create(run=run, epoch=epoch, defaults={**columns, "extra": data})
        run.epochs_done = epoch
        run.save(update_fields=["epochs_done"])
        message = {
            "type": "run.epoch",
            "run_id": run.pk,
            "epochs_done": epoch,
            "epoch": row.as_dict(),
        }
        transaction.on_commit(lambda: realtime.publish(realtime.run_group(run.pk), message))
        _broadcast_study_cell(run)
    return row


def finish_run(run: Run, result: dict) -> Run:
    """Store the engine's result and summary on the run row."""
    summary = _clean({**(result.get("summary") or {}), "resumed_from_epoch": result.get("resumed_from_epoch")})
    status = {
        "succeeded": Run.Status.SUCCEEDED,
        "diverged": Run.Status.DIVERGED,
        "cancelled": Run.Status.CANCELLED,
    }.get(result.get("status"), Run.Status.FAILED)
    epochs = [row.as_dict() for row in EpochMetric.objects.filter(run=run)]
    costs = studies.target_reached(epochs, run.target_accuracy)
    with transaction.atomic():
        run.status = status
        run.finished_at = timezone.now()
        run.final_acc = summary.get("final_acc")
        run.best_acc = summary.get("best_acc")
        run.final_loss = summary.get("final_test_loss")
        run.final_top5 = summary.get("final_top5")
        run.ac = summary.get("ac")
        run.cv = summary.get("cv")
        run.cvac = summary.get("cvac")
        run.loss_gap = summary.get("loss_gap")
        run.total_seconds = summary.get("total_seconds")
        run.diverged_epoch = summary.get("diverged_epoch")
        run.epochs_to_target = costs["epochs_to_target"]
        run.iterations_to_target = costs["iterations_to_target"]
        run.samples_to_target = costs["samples_to_target"]
        run.seconds_to_target = costs["seconds_to_target"]
        run.summary = {**summary, **costs, "target_accuracy": run.target_accuracy}
        if result.get("device_name"):
            run.device = str(result["device_name"])[:100]
        run.save(update_fields=[*SUMMARY_FIELDS, "status", "finished_at", "summary", "device"])
        transaction.on_commit(lambda: _drop_checkpoint(run.pk))
        _broadcast_state(run)
        workload = run.workload
        transaction.on_commit(
            lambda: realtime.publish(
                realtime.leaderboard_group(workload), {"type": "leaderboard.changed", "workload": workload}
            )
        )
    return run


def fail_run(run: Run, error: str) -> Run:
    with transaction.atomic():
        run.status = Run.Status.FAILED
        run.finished_at = timezone.now()
        run.error = error[:5000]
        run.save(update_fields=["status", "finished_at", "error"])
        transaction.on_commit(lambda: _drop_checkpoint(run.pk))
        _broadcast_state(run)
    return run


def cancel_run(run: Run) -> bool:
    """Ask a run to stop. A queued run never starts; a running one stops at its next check."""
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
            status=Run.Status.CANCELLED, finished_at=timezone.now()
        )
        if updated:
            run.refresh_from_db()
            _broadcast_state(run)
    return bool(updated)


def is_cancelled(run_id: int) -> bool:
    return Run.objects.filter(pk=run_id, status=Run.Status.CANCELLED).exists()


def requeue_run(run: Run) -> Run:
    """Start a finished run again from scratch, under the same id."""
    from dashboard.tasks import train_run

    _drop_checkpoint(run.pk)
    with transaction.atomic():
        EpochMetric.objects.filter(run=run).delete()
        run.status = Run.Status.QUEUED
        run.epochs_done = 0
        run.error = ""
        run.started_at = run.finished_at = None
        for field in SUMMARY_FIELDS:
            setattr(run, field, None)
        run.summary = {}
        run.save(
            update_fields=[*SUMMARY_FIELDS, "status", "epochs_done", "error", "started_at", "finished_at", "summary"]
        )
        _broadcast_state(run)
        transaction.on_commit(lambda: train_run.delay(run.pk))
    return run


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
    workloads = set(Run.objects.filter(policy=policy).values_list("workload", flat=True))
    for workload in workloads:
        transaction.on_commit(
            lambda w=workload: realtime.publish(
                realtime.leaderboard_group(w), {"type": "leaderboard.changed", "workload": w}
            )
        )


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


def create_invitation(*, team: Team, user, role: str, days: int = 7, max_uses: int = 1) -> Invitation:
    import secrets
    from datetime import timedelta

    return Invitation.objects.create(
        team=team,
        role=role,
        created_by=user,
        token=secrets.token_urlsafe(24),
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )


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


def _broadcast_job(job: Job) -> None:
    state = job_state(job)
    transaction.on_commit(lambda: realtime.publish(realtime.job_group(job.pk), {"type": "job.status", "job": state}))


def queue_job(*, team: Team, user, kind: str, params: dict, name: str = "") -> Job:
    from dashboard.tasks import run_job

    with transaction.atomic():
        job = Job.objects.create(team=team, created_by=user, kind=kind, params=_clean(params), name=name)
        transaction.on_commit(lambda: run_job.delay(job.pk))
    return job


def start_job(job_id: int, *, worker: str = "") -> Job | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            return None
        job.status = Job.Status.RUNNING
        job.started_at = timezone.now()
        job.worker = worker[:200]
        job.save(update_fields=["status", "started_at", "worker"])
        _broadcast_job(job)
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


def finish_job(job: Job, result: dict, *, cancelled: bool = False) -> Job:
    with transaction.atomic():
        job.status = Job.Status.CANCELLED if cancelled else Job.Status.SUCCEEDED
        job.result = _clean(result)
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "result", "finished_at"])
        _broadcast_job(job)
    return job


def fail_job(job: Job, error: str) -> Job:
    with transaction.atomic():
        job.status = Job.Status.FAILED
        job.error = error[:5000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        _broadcast_job(job)
    return job


def cancel_job(job: Job) -> bool:
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now()
        )
        if updated:
            job.refresh_from_db()
            _broadcast_job(job)
    return bool(updated)


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
