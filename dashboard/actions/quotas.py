"""Team quotas: what a team may queue and how much work it may have at once."""

from __future__ import annotations

from dashboard.models import Job, Run, Team


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
