"""Team quotas and the per-user rate limit: clear errors, nothing queued."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from dashboard.models import Run, Study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def queue(api_client, policy, **change):
    return api_client.post(
        "/api/runs/", {"policy": policy.pk, "workload": "digits-mlp", "epochs": 2, **change}, format="json"
    )


def test_more_epochs_than_the_team_allows_names_the_field(api_client, cast, step_policy):
    cast.team.max_epochs_per_run = 10
    cast.team.save()
    api_client.force_authenticate(cast.bob)
    response = queue(api_client, step_policy, epochs=11)
    assert response.status_code == 400
    assert "10 epochs per run" in response.json()["errors"]["epochs"][0]
    assert not Run.objects.exists()


def test_too_many_active_runs_is_refused(api_client, cast, step_policy, django_capture_on_commit_callbacks):
    cast.team.max_active_runs = 2
    cast.team.save()
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        assert queue(api_client, step_policy).status_code == 201
        assert queue(api_client, step_policy).status_code == 201
        response = queue(api_client, step_policy)
    assert (
        response.status_code == 400 and "2 runs queued or running" in response.json()["errors"]["non_field_errors"][0]
    )
    assert Run.objects.count() == 2


def test_a_study_larger_than_the_team_allows_is_refused(api_client, cast, step_policy):
    cast.team.max_runs_per_study = 3
    cast.team.save()
    api_client.force_authenticate(cast.bob)
    response = api_client.post(
        "/api/studies/",
        {"name": "s", "workload": "digits-mlp", "policies": [step_policy.pk], "seeds": [0, 1, 2, 3], "epochs": 2},
        format="json",
    )
    assert response.status_code == 400 and "at most 3 runs per study" in response.json()["errors"]["seeds"][0]
    assert not Study.objects.exists()


def test_the_page_shows_a_quota_error_on_the_form(client, cast, step_policy):
    cast.team.max_epochs_per_run = 3
    cast.team.save()
    client.force_login(cast.bob)
    response = client.post("/runs/new/", {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 5, "seed": 0})
    assert response.status_code == 400 and "epochs" in response.context["form"].errors


def test_run_creation_is_rate_limited_per_user(
    api_client, cast, step_policy, settings, django_capture_on_commit_callbacks
):
    settings.ARENA_RATE_LIMITS = {"runs": "2/minute"}
    api_client.force_authenticate(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        codes = [queue(api_client, step_policy).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert Run.objects.count() == 2
    api_client.force_authenticate(cast.alice)  # another user has their own allowance
    with django_capture_on_commit_callbacks(execute=False):
        assert queue(api_client, step_policy).status_code == 201


def test_the_rate_limit_applies_to_the_pages_too(
    client, cast, step_policy, settings, django_capture_on_commit_callbacks
):
    settings.ARENA_RATE_LIMITS = {"runs": "1/minute"}
    client.force_login(cast.bob)
    data = {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 1, "seed": 0}
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/runs/new/", data).status_code == 302
        limited = client.post("/runs/new/", data)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert Run.objects.count() == 1
