"""Research jobs count against the team's quotas with their real cost: each network a job trains
(networks × probes) is a run of its epochs, and a queued or running job is active work. A refusal is
a 400 that names the limit and the parameter, through the API and the pages, and stores nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from dashboard import jobs
from dashboard.models import Job, Run

pytestmark = pytest.mark.django_db

# The three jobs of the issue: far beyond a team allowed no active work and one epoch per run.
GREEDY = [
    ("meta_train", {"workload": "digits-mlp", "epochs": 500}, "params.epochs"),
    ("lr_search", {"workload": "gauss2-mlp", "epochs": 100, "iterations": 20}, "params.epochs"),
    (
        "lr_grid",
        {"workload": "gauss2-mlp", "depths": [1, 2, 3, 4], "widths": [8, 16, 32, 64, 128, 256], "epochs": 2},
        "params.epochs",
    ),
]
SMALL = {"workload": "digits-mlp", "steps": 10}  # a range test of 10 mini-batches: one epoch of the digits


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def set_quotas(team, **quotas):
    for name, value in quotas.items():
        setattr(team, name, value)
    team.save(update_fields=list(quotas))


def create(api_client, kind, params):
    return api_client.post("/api/jobs/", {"kind": kind, "params": params}, format="json")


@pytest.mark.parametrize("kind, params, field", GREEDY)
def test_a_job_longer_than_the_team_allows_per_run_is_refused_naming_the_limit(api_client, cast, kind, params, field):
    set_quotas(cast.team, max_epochs_per_run=1)
    api_client.force_authenticate(cast.bob)
    response = create(api_client, kind, params)
    assert response.status_code == 400, response.json()
    assert response.json()["detail"] == "Invalid input."
    assert "at most 1 epochs per run" in response.json()["errors"][field][0]
    assert not Job.objects.exists()


@pytest.mark.parametrize("kind, params, field", GREEDY)
def test_no_job_starts_when_the_team_may_have_no_active_work(api_client, cast, kind, params, field):
    set_quotas(cast.team, max_active_runs=0)
    api_client.force_authenticate(cast.bob)
    response = create(api_client, kind, params)
    assert response.status_code == 400
    assert "0 runs queued or running at once" in response.json()["errors"]["non_field_errors"][0]
    assert not Job.objects.exists()


def test_a_grid_of_more_networks_and_probes_than_a_study_may_queue_is_refused(api_client, cast):
    set_quotas(cast.team, max_runs_per_study=100)
    api_client.force_authenticate(cast.bob)
    params = {"workload": "gauss2-mlp", "depths": [1, 2, 3, 4], "widths": [8, 16, 32, 64, 128, 256], "epochs": 1}
    response = create(api_client, "lr_grid", {**params, "iterations": 5})  # 24 networks × 5 probes = 120
    assert response.status_code == 400
    message = response.json()["errors"]["params.widths"][0]
    assert "at most 100 runs per study" in message and "120 network(s)" in message
    with_fewer_probes = create(api_client, "lr_grid", {**params, "iterations": 4})  # 96
    assert with_fewer_probes.status_code == 201
    assert Job.objects.count() == 1


def test_queued_and_running_jobs_count_as_active_work_for_jobs_and_runs(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    set_quotas(cast.team, max_active_runs=2)
    Job.objects.create(team=cast.team, kind="lr_range", params=SMALL, status=Job.Status.RUNNING)
    Job.objects.create(team=cast.team, kind="lr_range", params=SMALL, status=Job.Status.SUCCEEDED)  # done: free
    Job.objects.create(team=cast.other_team, kind="lr_range", params=SMALL)  # another team's
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        assert create(api_client, "lr_range", SMALL).status_code == 201
        refused_job = create(api_client, "lr_range", SMALL)
        refused_run = api_client.post(
            "/api/runs/", {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 1}, format="json"
        )
    assert refused_job.status_code == 400 and "2 are" in refused_job.json()["errors"]["non_field_errors"][0]
    assert refused_run.status_code == 400 and "2 are" in refused_run.json()["errors"]["non_field_errors"][0]
    assert Job.objects.filter(team=cast.team).count() == 3 and not Run.objects.exists()


def test_a_job_within_the_quotas_is_queued(api_client, cast, django_capture_on_commit_callbacks):
    set_quotas(cast.team, max_active_runs=1, max_epochs_per_run=5, max_runs_per_study=5)
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        response = create(api_client, "lr_search", {"workload": "gauss2-mlp", "epochs": 5, "iterations": 5})
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("kind, params, field", GREEDY)
def test_the_job_page_shows_the_quota_error_and_starts_nothing(client, cast, kind, params, field):
    set_quotas(cast.team, max_epochs_per_run=1)
    client.force_login(cast.bob)
    form = {name: ", ".join(map(str, value)) if isinstance(value, list) else value for name, value in params.items()}
    response = client.post(f"/tools/new/{kind}/", form)
    assert response.status_code == 400
    assert "at most 1 epochs per run" in response.context["errors"][field.removeprefix("params.")][0]
    assert b"at most 1 epochs per run" in response.content
    assert not Job.objects.exists()


def test_the_job_page_shows_the_active_work_limit_above_the_form(client, cast):
    set_quotas(cast.team, max_active_runs=0)
    client.force_login(cast.bob)
    response = client.post("/tools/new/lr_range/", SMALL)
    assert response.status_code == 400 and b"0 runs queued or running at once" in response.content
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "kind, params, trainings, epochs",
    [
        ("lr_search", {"workload": "gauss2-mlp", "epochs": 100, "iterations": 20}, 20, 100),
        ("lr_grid", {"workload": "gauss2-mlp", "depths": [1, 2], "widths": [8, 16, 32], "iterations": 12}, 72, 10),
        ("lr_range", {"workload": "digits-mlp", "steps": 100}, 1, 3),  # 100 steps of 44 a digits epoch
        ("lr_range", {"workload": "mnist-lenet", "steps": 5000}, 1, 9),  # 600 steps an epoch
        ("meta_train", {"workload": "digits-mlp", "epochs": 500}, 1, 500),
        ("equivalence", {"spec": {"kind": "FIX", "k0": 0.1}, "iterations": 200}, 2, 10),  # 22 steps an epoch
        ("equivalence", {"spec": {"kind": "FIX", "k0": 0.1}, "iterations": 200, "steps_per_epoch": 100_000}, 2, 10),
    ],
)
def test_each_tool_declares_its_cost_from_its_parameters(kind, params, trainings, epochs):
    serializer = jobs.PARAMS[kind](data=params)
    assert serializer.is_valid(), serializer.errors
    cost = jobs.cost(kind, serializer.validated_data)
    assert (cost.trainings, cost.epochs, cost.total_epochs) == (trainings, epochs, trainings * epochs)
