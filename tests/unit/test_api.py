from __future__ import annotations

import json

import pytest

from dashboard.models import Policy, Run

pytestmark = pytest.mark.django_db


def test_a_token_is_issued_for_a_username_and_password(api_client, cast):
    response = api_client.post("/api/token/", {"username": "bob", "password": "bob-pass-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/workloads/").status_code == 200


def test_the_api_refuses_anonymous_requests(api_client):
    assert api_client.get("/api/workloads/").status_code in (401, 403)


def test_workloads_lists_digits_and_mnist(api_client, cast):
    api_client.force_authenticate(cast.bob)
    names = {w["name"] for w in api_client.get("/api/workloads/").json()}
    assert {"digits-mlp", "mnist-lenet"} <= names


def test_preview_returns_the_curve_computed_by_the_trainer(api_client, cast):
    api_client.force_authenticate(cast.bob)
    spec = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 2}
    response = api_client.post("/api/schedules/preview/", {"spec": spec, "epochs": 6, "points": 7}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["t"] == pytest.approx([0, 1, 2, 3, 4, 5, 6])
    assert body["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"spec": {"kind": "NOPE"}, "epochs": 5}, "spec.kind"),
        ({"spec": {"kind": "STEP", "k0": -1, "gamma": 0.5, "l": 2}, "epochs": 5}, "spec.k0"),
        ({"spec": {"kind": "STEP", "k0": "0.1x", "gamma": 0.5, "l": 2}, "epochs": 5}, "spec.k0"),
        ({"spec": {"kind": "STEP", "k0": 0.1, "gamma": 0.5}, "epochs": 5}, "spec.l"),
        ({"spec": {"kind": "FIX", "k0": 0.1, "extra": 1}, "epochs": 5}, "spec.extra"),
        ({"spec": {"kind": "FIX", "k0": 0.1}, "epochs": -3}, "epochs"),
        ({"spec": "FIX", "epochs": 5}, "spec.spec"),
    ],
)
def test_preview_names_the_bad_field(api_client, cast, payload, field):
    api_client.force_authenticate(cast.bob)
    response = api_client.post("/api/schedules/preview/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_non_finite_json_numbers_are_a_400_not_a_500(api_client, cast):
    api_client.force_authenticate(cast.bob)
    body = '{"spec": {"kind": "FIX", "k0": NaN}, "epochs": 5}'
    response = api_client.post("/api/schedules/preview/", body, content_type="application/json")
    assert response.status_code == 400


def test_a_member_creates_a_policy_and_gets_it_back(api_client, cast):
    api_client.force_authenticate(cast.bob)
    spec = {"kind": "COS", "k0": 0.001, "k1": 0.1, "l": 10}
    response = api_client.post("/api/policies/", {"name": "cos", "spec": spec}, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["kind"] == "COS" and created["team"] == "Vision" and created["created_by"] == "bob"
    assert api_client.get(f"/api/policies/{created['id']}/").json()["spec"]["k1"] == 0.1


def test_policy_creation_reports_every_bad_field(api_client, cast):
    api_client.force_authenticate(cast.bob)
    response = api_client.post(
        "/api/policies/", {"name": "", "spec": {"kind": "COS", "k0": -1, "k1": 0.1}}, format="json"
    )
    errors = response.json()["errors"]
    assert response.status_code == 400
    assert {"name", "spec.k0", "spec.l"} <= set(errors)
    assert not Policy.objects.filter(team__slug="vision").exists()


def test_queueing_a_run_stores_it_and_hands_its_id_to_the_worker(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(
            "/api/runs/", {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 3, "seed": 7}, format="json"
        )
    assert response.status_code == 201, response.json()
    run = Run.objects.get()
    assert (run.status, run.epochs, run.seed, run.policy_spec) == ("queued", 3, 7, step_policy.spec)
    assert len(callbacks) == 1  # the task is sent only once the row is committed


@pytest.mark.parametrize(
    "change, field",
    [
        ({"workload": "imagenet-vit"}, "workload"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 100000}, "epochs"),
        ({"epochs": "many"}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"policy": 999999}, "policy"),
    ],
)
def test_run_creation_names_the_bad_field(api_client, cast, step_policy, change, field):
    api_client.force_authenticate(cast.bob)
    payload = {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 3, "seed": 0, **change}
    response = api_client.post("/api/runs/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Run.objects.exists()


def test_an_outsider_cannot_run_another_teams_policy(api_client, cast, step_policy):
    api_client.force_authenticate(cast.oscar)
    response = api_client.post(
        "/api/runs/", {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 3}, format="json"
    )
    assert response.status_code == 400
    assert "policy" in response.json()["errors"]


def test_an_outsider_gets_404_for_another_teams_run(api_client, cast, step_policy):
    run = Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=2
    )
    api_client.force_authenticate(cast.oscar)
    assert api_client.get(f"/api/runs/{run.pk}/").status_code == 404
    api_client.force_authenticate(cast.carol)
    assert api_client.get(f"/api/runs/{run.pk}/").status_code == 200


def test_leaderboard_requires_a_known_workload(api_client, cast):
    api_client.force_authenticate(cast.bob)
    response = api_client.get("/api/leaderboard/", {"workload": "nope"})
    assert response.status_code == 400
    assert "workload" in response.json()["errors"]


def test_the_error_format_is_the_same_for_parse_errors(api_client, cast):
    api_client.force_authenticate(cast.bob)
    response = api_client.post("/api/policies/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert set(json.loads(response.content)) == {"detail"}
