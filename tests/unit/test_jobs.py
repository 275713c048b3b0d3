"""Research jobs: parameters are validated per tool, jobs belong to a team, the convert action."""

from __future__ import annotations

import pytest

from dashboard import actions
from dashboard.models import Job, JobEvent, Policy

pytestmark = pytest.mark.django_db


def create(api_client, kind, params, **extra):
    return api_client.post("/api/jobs/", {"kind": kind, "params": params, **extra}, format="json")


@pytest.mark.parametrize(
    "kind, params, field",
    [
        ("lr_search", {"workload": "nope"}, "params.workload"),
        ("lr_search", {"workload": "gauss2-mlp", "low": 0.5, "high": 0.1}, "params.high"),
        ("lr_search", {"workload": "gauss2-mlp", "iterations": 0}, "params.iterations"),
        ("lr_search", {"workload": "digits-mlp", "depth": 3}, "params.workload"),
        ("lr_grid", {"workload": "digits-mlp", "depths": [1], "widths": [8]}, "params.workload"),
        ("lr_grid", {"workload": "gauss2-mlp", "depths": [], "widths": [8]}, "params.depths"),
        ("lr_grid", {"workload": "gauss2-mlp", "depths": [1, 2, 3, 4, 5], "widths": [1, 2, 3, 4, 5]}, "params.widths"),
        ("lr_range", {"workload": "digits-mlp", "min_lr": 1.0, "max_lr": 0.1}, "params.max_lr"),
        ("meta_train", {"workload": "digits-mlp", "epochs": 0}, "params.epochs"),
        ("equivalence", {"spec": {"kind": "FIX", "k0": -1}}, "params.spec.k0"),
        ("equivalence", {}, "params.policy"),
    ],
)
def test_bad_parameters_name_the_field_and_queue_nothing(api_client, cast, kind, params, field):
    api_client.force_authenticate(cast.bob)
    response = create(api_client, kind, params)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Job.objects.exists()


def test_an_unknown_tool_is_a_field_error(api_client, cast):
    api_client.force_authenticate(cast.bob)
    response = create(api_client, "astrology", {})
    assert response.status_code == 400 and "kind" in response.json()["errors"]


def test_a_job_is_queued_for_the_current_team(api_client, cast, django_capture_on_commit_callbacks):
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = create(api_client, "lr_search", {"workload": "gauss2-mlp", "depth": 2, "width": 32}, name="first")
    assert response.status_code == 201, response.json()
    job = Job.objects.get()
    assert job.team == cast.team and job.status == "queued" and len(callbacks) == 1
    assert job.params["workload_options"] == {"depth": 2, "width": 32}


def test_an_equivalence_job_takes_its_spec_from_a_policy(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        response = create(api_client, "equivalence", {"policy": step_policy.pk, "iterations": 50})
    assert response.status_code == 201
    assert Job.objects.get().params["spec"]["kind"] == "STEP"


def test_jobs_of_another_team_are_404_and_viewers_cannot_start_them(api_client, cast):
    job = Job.objects.create(team=cast.team, kind="lr_range", params={"workload": "digits-mlp"})
    actions.record_job_event(job, "step", {"step": 1, "lr": 1e-7, "loss": 2.3})
    api_client.force_authenticate(cast.oscar)
    assert api_client.get(f"/api/jobs/{job.pk}/").status_code == 404
    api_client.force_authenticate(cast.carol)
    detail = api_client.get(f"/api/jobs/{job.pk}/").json()
    assert detail["events"] == [{"seq": 1, "type": "step", "data": {"step": 1, "lr": 1e-7, "loss": 2.3}}]
    assert create(api_client, "lr_range", {"workload": "digits-mlp"}).status_code == 403
    assert api_client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 403


def test_events_are_numbered_and_cleaned_of_non_finite_values(cast):
    job = Job.objects.create(team=cast.team, kind="lr_range", params={})
    actions.record_job_event(job, "step", {"loss": float("inf")})
    actions.record_job_event(job, "step", {"loss": 1.0})
    assert list(JobEvent.objects.values_list("seq", "data")) == [(1, {"loss": None}), (2, {"loss": 1.0})]
    job.refresh_from_db()
    assert job.events_count == 2


def test_converting_a_policy_makes_the_equivalent_one_without_weight_decay(api_client, cast):
    fixed = Policy.objects.create(team=cast.team, name="fixed", spec={"kind": "FIX", "k0": 0.1})
    api_client.force_authenticate(cast.bob)
    response = api_client.post(
        f"/api/policies/{fixed.pk}/convert/", {"wd": 5e-4, "momentum": 0.9, "steps_per_epoch": 391}, format="json"
    )
    assert response.status_code == 201, response.json()
    converted = response.json()
    assert converted["name"] == "fixed without WD" and converted["team"] == "Vision"
    from trainer import schedules

    policy = schedules.build(converted["spec"])
    # After the recursion settles the LR grows by α^-2 per iteration (papers.md: α = 0.9994977).
    ratio = policy.lr_at(1001, 391) / policy.lr_at(1000, 391)
    assert ratio == pytest.approx(0.9994977**-2, rel=1e-5)


def test_the_convert_page_action_reports_bad_input(client, cast, step_policy):
    client.force_login(cast.bob)
    response = client.post(
        f"/policies/{step_policy.pk}/convert/", {"wd": "-1", "momentum": "0.9", "steps_per_epoch": "10"}
    )
    assert response.status_code == 302
    assert not Policy.objects.filter(name__endswith="without WD").exists()


@pytest.mark.parametrize("kind", ["lr_search", "lr_grid", "lr_range", "meta_train", "equivalence"])
def test_every_tool_has_a_form(client, cast, kind):
    client.force_login(cast.bob)
    response = client.get(f"/tools/new/{kind}/")
    assert response.status_code == 200 and b'id="job-form"' in response.content


def test_the_job_form_shows_errors_beside_fields(client, cast):
    client.force_login(cast.bob)
    response = client.post("/tools/new/lr_range/", {"workload": "digits-mlp", "min_lr": "1", "max_lr": "0.5"})
    assert response.status_code == 400 and "max_lr" in response.context["errors"]
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_range_test_job_streams_every_step_and_stores_the_suggestions(cast):
    from dashboard.tasks import run_job

    job = Job.objects.create(
        team=cast.team, kind="lr_range", params={"workload": "digits-mlp", "steps": 40, "min_lr": 1e-5, "max_lr": 5.0}
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    steps = [e.data for e in JobEvent.objects.filter(job=job, type="step")]
    lrs = [step["lr"] for step in steps]
    assert len(steps) == len(job.result["lrs"]) >= 10
    assert lrs[0] == pytest.approx(1e-5) and lrs == sorted(lrs) and len(set(lrs)) == len(lrs)
    cyclic = job.result["cyclic"]
    assert 1e-5 <= cyclic["k0"] < cyclic["k1"] <= 5.0


@pytest.mark.django_db(transaction=True)
def test_an_eta_star_job_records_each_probe_and_the_bracket(cast):
    from dashboard.tasks import run_job

    params = {
        "workload": "gauss2-mlp",
        "low": 0.0,
        "high": 8.0,
        "iterations": 3,
        "epochs": 2,
        "seed": 0,
        "workload_options": {"depth": 1, "width": 16},
    }
    job = Job.objects.create(team=cast.team, kind="lr_search", params=params)
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    probes = [e.data for e in JobEvent.objects.filter(job=job, type="probe")]
    assert [p["lr"] for p in probes][0] == 4.0 and len(probes) == 3
    assert job.result["eta_star"] == probes[-1]["low"]
    assert job.result["high"] - job.result["low"] == pytest.approx(1.0)  # 8 / 2^3


@pytest.mark.django_db(transaction=True)
def test_an_equivalence_job_shows_the_same_function_with_diverging_norms(cast, step_policy):
    from dashboard.tasks import run_job

    params = {
        "spec": {"kind": "FIX", "k0": 0.1},
        "wd": 5e-3,
        "momentum": 0.9,
        "iterations": 120,
        "steps_per_epoch": 22,
        "seed": 0,
    }
    job = Job.objects.create(team=cast.team, kind="equivalence", params=params)
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.result["max_prob_diff_overall"] < 1e-10
    assert job.result["final_norm_ratio"] > 1.5
    assert JobEvent.objects.filter(job=job, type="step").count() == 120


@pytest.mark.django_db(transaction=True)
def test_a_meta_trained_schedule_becomes_a_learned_policy_that_runs_train_with(client, cast):
    from dashboard.models import Run
    from dashboard.tasks import run_job, train_run

    job = Job.objects.create(
        team=cast.team, kind="meta_train", params={"workload": "digits-mlp", "epochs": 3, "seed": 0}
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    lrs = [e.data["lr_mean"] for e in JobEvent.objects.filter(job=job, type="epoch")]
    assert len(lrs) == 3 and all(lr > 0 for lr in lrs)

    client.force_login(cast.bob)
    response = client.post(f"/tools/{job.pk}/save-policy/", {"name": "learned"})
    policy = Policy.objects.get(name="learned")
    assert response.status_code == 302 and policy.spec["kind"] == "LEARNED"
    # Meta-trained with digits-mlp's momentum: kept as learned, no rescaling.
    assert policy.spec["momentum"] == 0.9 and policy.spec["scale"] == 1.0

    run = Run.objects.create(team=cast.team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=3)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.final_acc > 0.9
