"""Studies: policies × base-LR scales × seeds, queued as runs in groups that a worker trains together."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from dashboard import fleet, halving
from dashboard.actions.quotas import QuotaExceeded, check_quota
from dashboard.models import Policy, Run, Study, Team
from dashboard.studies import scale_spec


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
    halving_eta: int | None = None,
    workload_options: dict | None = None,
) -> Study:
    """Store a study and queue one run per (policy, base-LR scale, seed).

    Every scaled spec is validated before anything is stored: a scale that
    pushes an LR out of its range fails the whole request, naming the policy.
    With halving_eta, the runs first train to the first rung of successive
    halving (dashboard/actions/halving.py). Every run gets the workload options
    (stored as those that differ from the defaults; a ValueError naming the
    option for bad ones: forms and the API check them first).
    """
    from trainer.workloads import get_workload

    spec = get_workload(workload)
    options = spec.changed_options(workload_options)

    first_rung = None
    if halving_eta is not None:
        if problem := halving.budget_problem(epochs, halving_eta):
            raise ValueError(f"halving_eta: {problem}")
        first_rung = halving.rung_epochs(epochs, halving_eta)[0]

    if target_accuracy is None:
        target_accuracy = spec.target_accuracy
    scales = lr_scales or [1.0]
    queue = fleet.queue_for(workload, device)
    scaled = {(policy.pk, scale): scale_spec(policy.spec, scale) for policy in policies for scale in scales}
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
            workload_options=options,
            epochs=epochs,
            seeds=seeds,
            target_accuracy=target_accuracy,
            lr_scales=scales,
            halving_eta=halving_eta,
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
                    workload_options=options,
                    epochs=epochs,
                    seed=seed,
                    target_accuracy=target_accuracy,
                    device_request=device,
                    queue=queue,
                    rung_epochs=first_rung,
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
