"""Self-reported runs: trained by a team's own loop, reported epoch by epoch through the API.

The run moves along the same state machine as a worker's (fleet.move): it is
opened queued and started at once, in one transaction, so no broker message is
ever sent for it, and no worker ever claims it (fleet.claim). Epochs are stored
and broadcast by `record_epoch`, exactly as a worker's.

Its lease is the reporter's: every report (the open, an epoch, a heartbeat)
extends it to ARENA_REPORT_TIMEOUT_SECONDS from now. The reconciler never
requeues a self-reported run; once its lease expired (the loop died, its
machine is gone) it ends it as failed (`abandon_silent_runs`), so that the run
holds no quota slot for good.

A self-reported workload belongs to its team: the run stores it as
"<team-slug>/<name>" (`team_workload`), so that two teams that pick the same
name never share a board, in any view.

Reports are idempotent by epoch number, so that a client may re-send whatever
it is unsure was delivered: an epoch already stored with the same values is a
no-op; with other values it is an `EpochConflict`. New epochs come in order,
without gaps.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dashboard import fleet
from dashboard.actions.common import clean
from dashboard.actions.runs import broadcast_run_state, create_run_within_quota, fail_run, finish_run, record_epoch
from dashboard.models import EpochMetric, Policy, Run, Team
from trainer.divergence import NON_FINITE_ONLY, DivergenceRule, find_divergence
from trainer.summary import summarise


class ReportRefused(Exception):
    """A report the run's state does not allow; `field` names what to fix (None: the run's state itself)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class EpochConflict(ReportRefused):
    """An epoch already stored with other values."""


class RunClosed(ReportRefused):
    """The run takes no more reports: it ended (finished, failed, diverged, cancelled)."""


class OpenConflict(ReportRefused):
    """An open again with a client key already used, and other values: `field` names the first that differs."""


# What a retried open must repeat, as the run stores it.
OPEN_FIELDS = (
    "policy", "workload", "epochs", "seed", "target_accuracy", "iterations_per_epoch", "num_classes", "device",
)  # fmt: skip


def open_reported_run(
    *, team: Team, user, policy: Policy, epochs: int, device: str = "", client_key: UUID | None = None, **fields
) -> tuple[Run, bool]:
    """Store a self-reported run, running from now on; (the run, whether it is new). `fields`: workload,
    seed, target_accuracy, iterations_per_epoch, num_classes. QuotaExceeded like queue_run.

    With a `client_key` (the client's, one per open) the open is idempotent: the team's run opened with
    that key comes back unchanged (False) when the values match, else OpenConflict names the first that differs.
    """
    if "workload" in fields:
        fields["workload"] = team_workload(team, fields["workload"])
    asked = {"policy": policy, "epochs": epochs, "device": device[:100], **fields}
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # one open at a time per team
        if client_key is not None:
            existing = Run.objects.filter(team=team, client_key=client_key).select_related("policy").first()
            if existing is not None:
                _check_same_open(existing, user, asked)
                return existing, False
        run = create_run_within_quota(team=team, created_by=user, self_reported=True, client_key=client_key, **asked)
        # Attempt 0 for good: no worker ever claims it, so record_epoch's fence holds for the reporter.
        fleet.move(
            Run, run.pk, source=[Run.Status.QUEUED], target=Run.Status.RUNNING,
            started_at=timezone.now(), lease_expires_at=report_deadline(),
        )  # fmt: skip
        run.refresh_from_db()
        broadcast_run_state(run)
    return run, True


def team_workload(team: Team, name: str) -> str:
    """A self-reported workload as the run stores it: "<team-slug>/<name>". `name` is the bare name, or the
    full one when its prefix is this team's slug; another prefix is a ReportRefused on `workload`."""
    prefix, slash, bare = name.rpartition("/")
    if slash and prefix != team.slug:
        raise ReportRefused(
            f"{name!r} belongs to another team: give your workload's bare name, or {team.slug}/<name>.", "workload"
        )
    return f"{team.slug}/{bare}"


def _check_same_open(run: Run, user, asked: dict) -> None:
    if run.created_by_id != user.pk:
        raise OpenConflict("Another member opened a run with this client_key: use a key of your own.", "client_key")
    for field in OPEN_FIELDS:
        if getattr(run, field) != asked.get(field, Run._meta.get_field(field).get_default()):
            raise OpenConflict(
                f"Run {run.pk} was opened with this client_key and another {field}: "
                "a retried open repeats its values; a new run needs a new key.",
                field,
            )


def report_deadline() -> timezone.datetime:
    """When a self-reported run that reports now is abandoned, unless it reports again."""
    return timezone.now() + timedelta(seconds=settings.ARENA_REPORT_TIMEOUT_SECONDS)


def _renew(run: Run) -> bool:
    """Extend a running self-reported run's lease: its loop is alive. False when it is not running."""
    running = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, self_reported=True)
    return running.update(lease_expires_at=report_deadline()) == 1


def report_heartbeat(run: Run) -> Run:
    """The loop is alive, in the middle of a long epoch: the run's lease goes on. RunClosed when it ended."""
    if not _renew(run):
        run.refresh_from_db()
        raise RunClosed(f"Run {run.pk} is {run.status}: it takes no more reports.")
    run.refresh_from_db()
    return run


def abandon_silent_runs() -> list[int]:
    """End as failed the self-reported runs whose lease expired: no report for ARENA_REPORT_TIMEOUT_SECONDS.

    Never requeued (no worker can train them). Each one moves in one guarded
    transition that checks the lease again, so a report that came in meanwhile wins.
    """
    now = timezone.now()
    silent = Q(lease_expires_at__lt=now) | Q(lease_expires_at=None)
    error = f"no report for {_duration(settings.ARENA_REPORT_TIMEOUT_SECONDS)}: abandoned"
    candidates = Run.objects.filter(silent, status=Run.Status.RUNNING, self_reported=True).values_list("pk", flat=True)
    abandoned = [
        pk
        for pk in candidates
        if fleet.move(
            Run, pk, source=[Run.Status.RUNNING], target=Run.Status.FAILED, when=silent,
            finished_at=now, error=error, lease_expires_at=None,
        )
    ]  # fmt: skip
    for run in Run.objects.filter(pk__in=abandoned).select_related("policy"):
        broadcast_run_state(run)
    return abandoned


def _duration(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _stored_form(run: Run, values: dict) -> dict:
    """An epoch as record_epoch stores it (columns and extra), with the cumulative cost filled in when the
    loop declared its iterations per epoch and did not count them itself."""
    metrics = clean(dict(values))
    extra = metrics.pop("extra", None) or {}
    if run.iterations_per_epoch and metrics.get("iterations") is None:
        metrics["iterations"] = metrics["epoch"] * run.iterations_per_epoch
    stored = {**{column: None for column in EpochMetric.COLUMNS}, **extra}
    stored.update({key: value for key, value in metrics.items() if value is not None or key in EpochMetric.COLUMNS})
    return stored


def _differences(row: EpochMetric, stored: dict) -> list[str]:
    old = row.as_dict()
    return sorted(key for key in set(old) | set(stored) if old.get(key) != stored.get(key))


def report_epoch(run: Run, values: dict) -> tuple[dict, bool]:
    """Store one reported epoch and broadcast it; (the stored epoch, whether it is new).

    An epoch already stored with the same values: nothing happens (False). With
    other values: EpochConflict naming them. A new epoch must be the next one
    (ReportRefused on `epoch`) of a running run (RunClosed otherwise). After it,
    the divergence rule runs over the run's epochs, as the engine's does: a run
    that diverged ends as diverged.
    """
    stored = _stored_form(run, values)
    epoch = stored["epoch"]
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        _renew(run)  # a report the run takes is a sign of life (a refused one rolls back with it)
        existing = EpochMetric.objects.filter(run=run, epoch=epoch).first()
        if existing is not None:
            differences = _differences(existing, stored)
            if differences:
                raise EpochConflict(
                    f"Epoch {epoch} is already recorded with other values ({', '.join(differences)}); "
                    "an epoch is reported once.",
                    "epoch",
                )
            return existing.as_dict(), False
        if run.status != Run.Status.RUNNING:
            raise RunClosed(f"Run {run.pk} is {run.status}: it takes no more epochs.")
        if epoch != run.epochs_done + 1:
            recorded = f"epochs 1–{run.epochs_done} are recorded" if run.epochs_done else "none is recorded yet"
            raise ReportRefused(
                f"Expected epoch {run.epochs_done + 1} next ({recorded}): epochs are reported in order, without gaps.",
                "epoch",
            )
        row = record_epoch(run, stored)
        _end_if_diverged(run)
    return row.as_dict(), True


def _rule_and_classes(run: Run) -> tuple[DivergenceRule, int]:
    """The engine's divergence rule when the loop declared its classes; else only its first test, a
    non-finite loss (chance level and a guess's loss need the number of classes)."""
    if run.num_classes:
        return DivergenceRule.from_settings(), run.num_classes
    return DivergenceRule.from_settings(NON_FINITE_ONLY), 2


def _summary(run: Run, epochs: list[dict], diverged_epoch: int | None = None, reason: str | None = None) -> dict:
    seconds = [row.get("seconds") for row in epochs]
    total_seconds = sum(seconds) if epochs and None not in seconds else None
    iterations = epochs[-1].get("iterations") if epochs else None
    return summarise(epochs, run.target_accuracy, iterations, total_seconds, diverged_epoch, reason)


def _epochs(run: Run) -> list[dict]:
    return [row.as_dict() for row in EpochMetric.objects.filter(run=run).order_by("epoch")]


def _end_if_diverged(run: Run) -> None:
    epochs = _epochs(run)
    rule, classes = _rule_and_classes(run)
    divergence = find_divergence(epochs, classes, rule)
    if divergence is None:
        return
    summary = _summary(run, epochs, divergence.epoch, divergence.reason)
    finish_run(run, {"status": "diverged", "summary": summary, "device": run.device})


def finish_reported_run(run: Run) -> Run:
    """End a self-reported run that reported every epoch of its budget as succeeded; its summary comes
    from its epochs. Again on a run that already succeeded or diverged: nothing changes (a retry)."""
    run.refresh_from_db()
    if run.status in (Run.Status.SUCCEEDED, Run.Status.DIVERGED):
        return run
    if run.status != Run.Status.RUNNING:
        raise RunClosed(f"Run {run.pk} is {run.status}: it cannot finish.")
    if run.epochs_done < run.epochs:
        raise ReportRefused(
            f"{run.epochs_done} of {run.epochs} epochs are reported: report them all, or fail the run.", "epochs"
        )
    if not finish_run(run, {"status": "succeeded", "summary": _summary(run, _epochs(run)), "device": run.device}):
        run.refresh_from_db()
        raise RunClosed(f"Run {run.pk} is {run.status}: it cannot finish.")
    run.refresh_from_db()
    return run


def fail_reported_run(run: Run, reason: str) -> Run:
    """End a self-reported run as failed, with the loop's reason. Again on a failed run: nothing changes."""
    run.refresh_from_db()
    if run.status == Run.Status.FAILED:
        return run
    if run.status != Run.Status.RUNNING or not fail_run(run, reason):
        run.refresh_from_db()
        raise RunClosed(f"Run {run.pk} is {run.status}: it cannot fail.")
    run.refresh_from_db()
    return run
