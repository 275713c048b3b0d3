"""Pages say what is wrong, and where: server-side behaviours of the dashboard's usability fixes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.models import Policy

pytestmark = pytest.mark.django_db


def post_piecewise(client, boundaries: str):
    stages = '[{"kind": "FIX", "k0": 0.1}, {"kind": "FIX", "k0": 0.05}, {"kind": "FIX", "k0": 0.01}]'
    data = {"name": "Stages", "kind": "PIECEWISE", "PIECEWISE__boundaries": boundaries, "PIECEWISE__stages": stages}
    return client.post(reverse("policy-create"), data)


def test_a_boundary_before_the_previous_one_is_named_by_its_entry(client, cast):
    client.force_login(cast.bob)
    response = post_piecewise(client, "10, 5")
    assert response.status_code == 400
    assert response.context["form"].errors["PIECEWISE__boundaries"] == [
        "entry 2: must be greater than the one before it (10)"
    ]
    assert not Policy.objects.filter(name="Stages").exists()


def test_an_empty_boundary_asks_for_a_number(client, cast):
    client.force_login(cast.bob)
    response = post_piecewise(client, "10, ")
    assert response.context["form"].errors["PIECEWISE__boundaries"] == ["Entry 2 is empty: enter a number."]


def test_the_preview_names_an_empty_boundary_without_python_type_names(api_client, cast):
    api_client.force_authenticate(cast.bob)
    spec = {"kind": "PIECEWISE", "boundaries": [None], "stages": [{"kind": "FIX", "k0": 1}, {"kind": "FIX", "k0": 0.5}]}
    response = api_client.post(reverse("api-schedule-preview"), {"spec": spec, "epochs": 10}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["spec.boundaries.0"] == ["is empty: enter a number"]


def test_the_policies_page_shows_the_reference_policies_to_a_new_member(client, cast):
    client.force_login(cast.oscar)  # a team with no policies of its own
    response = client.get(reverse("policy-list"))
    shared = [p.name for p in response.context["shared"]]
    assert "LRBench LeNet default (INV)" in shared and "SGDR (cosine warm restarts)" in shared
    assert "No policies yet" in response.content.decode()


def test_the_policies_page_marks_archived_policies_and_hides_them_until_asked(client, cast):
    Policy.objects.create(team=cast.team, name="Old one", spec={"kind": "FIX", "k0": 0.1}, archived=True)
    Policy.objects.create(team=cast.team, name="Current", spec={"kind": "FIX", "k0": 0.1})
    client.force_login(cast.bob)
    page = client.get(reverse("policy-list")).content.decode()
    assert "Current" in page and "Old one" not in page and "Show archived (1)" in page
    page = client.get(reverse("policy-list"), {"archived": "1"}).content.decode()
    assert "Old one" in page and '<span class="status status-cancelled">archived</span>' in page


def test_specs_are_shown_as_summaries_with_the_json_one_click_away(client, cast):
    spec = {
        "kind": "PIECEWISE",
        "boundaries": [10.0],
        "stages": [{"kind": "SIN", "k0": 1.0, "k1": 6.0, "l": 5.0}, {"kind": "FIX", "k0": 0.5}],
    }
    policy = Policy.objects.create(team=cast.team, name="Composite", spec=spec)
    client.force_login(cast.bob)
    summary = "PIECEWISE: SIN(k0 = 1, k1 = 6, l = 5); then from t = 10: FIX(k0 = 0.5)"
    assert summary in client.get(reverse("policy-list")).content.decode()
    page = client.get(reverse("policy-detail", args=[policy.pk])).content.decode()
    assert summary in page
    details = '<details class="spec-json"><summary>Full spec (JSON)</summary>'
    assert details + '<pre class="spec">{\n  &quot;kind&quot;' in page
    assert "{'kind'" not in page  # no Python dict text


def test_a_learned_policy_is_summarised_without_its_weights(client, cast):
    weights = "QUJD" * 2000
    learner = {"format": "mlrsnet-1", "tensors": {"w": {"shape": [1], "data": weights}}}
    spec = {"kind": "LEARNED", "learners": [learner, learner, learner], "gamma": "recompute", "scale": 1.0}
    Policy.objects.create(team=cast.team, name="Meta", spec=spec)
    client.force_login(cast.bob)
    page = client.get(reverse("policy-list")).content.decode()
    assert "LEARNED: 3 MLR-SNet learners, gamma = recompute, scale = 1" in page
    assert weights not in page


@pytest.fixture
def staff_client(client, cast):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123"))
    return client


def admin_action(client, action: str, policies) -> list[str]:
    response = client.post(
        reverse("admin:dashboard_policy_changelist"),
        {"action": action, "_selected_action": [p.pk for p in policies]},
        follow=True,
    )
    return [str(m) for m in response.context["messages"]]


def test_admin_actions_say_what_they_did_in_good_english(staff_client, cast):
    one = Policy.objects.create(team=cast.team, name="One", spec={"kind": "FIX", "k0": 0.1})
    two = Policy.objects.create(team=cast.team, name="Two", spec={"kind": "FIX", "k0": 0.2})
    assert admin_action(staff_client, "archive", [one]) == ["Archived 1 policy (runs and results are kept)."]
    assert admin_action(staff_client, "unarchive", [one, two]) == ["Restored 2 policies from the archive."]
    assert admin_action(staff_client, "publish", [one]) == ["Published 1 policy."]
    assert admin_action(staff_client, "unpublish", [one]) == ["Unpublished 1 policy."]
    one.refresh_from_db()
    assert not one.archived and not one.published


def test_every_page_has_a_favicon_and_a_link_to_the_api_docs(client, cast):
    client.force_login(cast.bob)
    page = client.get(reverse("home")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    assert f'href="{reverse("api-docs")}"' in page


def test_the_catalog_says_onecycle_is_measured_in_t_and_piecewise_starts_at_sane_lrs():
    from trainer import schedules

    decls = {d["kind"]: {p["name"]: p for p in d["params"]} for d in schedules.catalog()}
    assert "epochs" in decls["ONECYCLE"]["total"]["help"]
    stages = decls["PIECEWISE"]["stages"]["default"]
    assert max(max(s.get("k0", 0), s.get("k1", 0)) for s in stages) <= 0.1


def test_the_compare_page_lists_only_your_runs_filtered_and_keeps_the_selection(client, cast, step_policy):
    from dashboard.models import Run

    def make(team, policy, status):
        return Run.objects.create(
            team=team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=2, status=status
        )

    done = make(cast.team, step_policy, "succeeded")
    failed = make(cast.team, step_policy, "failed")
    theirs = Policy.objects.create(team=cast.other_team, name="Theirs", spec=step_policy.spec)
    hidden = make(cast.other_team, theirs, "succeeded")
    client.force_login(cast.bob)
    listed = client.get(reverse("compare")).context["picker_runs"]
    assert {r.pk for r in listed} == {done.pk, failed.pk}
    response = client.get(reverse("compare"), {"status": "succeeded", "runs": [str(failed.pk), str(hidden.pk)]})
    assert [r.pk for r in response.context["picker_runs"]] == [done.pk]
    assert response.context["runs"] == str(failed.pk)  # another team's run is never selected
    assert response.context["selected_elsewhere"] == [failed.pk]
