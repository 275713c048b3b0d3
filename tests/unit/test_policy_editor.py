"""The editor beyond single kinds: composites, duplicates, edits and the catalog page."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from dashboard.models import Policy, Run

pytestmark = pytest.mark.django_db

STAGES = [{"kind": "SIN", "k0": 1.0, "k1": 6.0, "l": 5}, {"kind": "FIX", "k0": 0.5}]


def post_piecewise(client, stages, boundaries="10", **extra):
    data = {
        "name": "LRBench MNIST composite",
        "kind": "PIECEWISE",
        "PIECEWISE__stages": json.dumps(stages),
        "PIECEWISE__boundaries": boundaries,
        **extra,
    }
    return client.post(reverse("policy-create"), data)


def test_a_composite_is_built_from_its_stages_and_boundaries(client, cast):
    client.force_login(cast.bob)
    response = post_piecewise(client, STAGES)
    policy = Policy.objects.get(team__slug="vision")
    assert response.status_code == 302
    assert policy.spec["kind"] == "PIECEWISE" and policy.spec["boundaries"] == [10]
    assert [s["kind"] for s in policy.spec["stages"]] == ["SIN", "FIX"]


def test_a_bad_stage_value_is_reported_with_its_stage_and_field(client, cast):
    client.force_login(cast.bob)
    response = post_piecewise(client, [STAGES[0], {"kind": "FIX", "k0": -0.5}])
    errors = response.context["form"].errors
    assert response.status_code == 400
    assert any("1.k0" in message for message in errors["PIECEWISE__stages"])
    assert not Policy.objects.filter(team__slug="vision").exists()


def test_a_composite_needs_one_stage_more_than_boundaries(client, cast):
    client.force_login(cast.bob)
    response = post_piecewise(client, STAGES, boundaries="10, 20")
    assert response.status_code == 400
    assert not Policy.objects.filter(team__slug="vision").exists()


def test_stage_json_that_is_not_json_is_a_field_error(client, cast):
    client.force_login(cast.bob)
    response = client.post(
        reverse("policy-create"),
        {"name": "x", "kind": "PIECEWISE", "PIECEWISE__stages": "{oops", "PIECEWISE__boundaries": "10"},
    )
    assert response.status_code == 400
    assert "PIECEWISE__stages" in response.context["form"].errors


def test_a_policy_measured_in_iterations_keeps_its_unit(client, cast):
    client.force_login(cast.bob)
    client.post(
        reverse("policy-create"),
        {"name": "it", "kind": "STEP", "unit": "iteration", "STEP__k0": "0.1", "STEP__gamma": "0.5", "STEP__l": "500"},
    )
    assert Policy.objects.get(team__slug="vision").spec["unit"] == "iteration"


def test_duplicating_prefills_the_form_with_the_copy(client, cast, step_policy):
    client.force_login(cast.bob)
    response = client.get(reverse("policy-create"), {"from": step_policy.pk})
    form = response.context["form"]
    assert form.initial["name"] == "Copy of Step"
    assert form.initial["kind"] == "STEP" and form.initial["STEP__gamma"] == 0.1
    assert 'value="Copy of Step"' in response.content.decode()


def test_duplicating_another_teams_policy_is_404(client, cast, step_policy):
    client.force_login(cast.oscar)
    assert client.get(reverse("policy-create"), {"from": step_policy.pk}).status_code == 404


def test_editing_a_policy_without_runs_changes_its_schedule(client, cast, step_policy):
    client.force_login(cast.bob)
    response = client.post(
        reverse("policy-edit", args=[step_policy.pk]),
        {
            "name": "Step",
            "description": "faster",
            "kind": "STEP",
            "STEP__k0": "0.2",
            "STEP__gamma": "0.1",
            "STEP__l": "3",
        },
    )
    step_policy.refresh_from_db()
    assert response.status_code == 302
    assert step_policy.spec["k0"] == 0.2 and step_policy.description == "faster"


def test_a_policy_that_runs_used_keeps_its_schedule_when_edited(client, cast, step_policy):
    Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=2
    )
    client.force_login(cast.bob)
    response = client.post(
        reverse("policy-edit", args=[step_policy.pk]),
        {"name": "Renamed", "description": "", "kind": "FIX", "FIX__k0": "0.9"},
    )
    step_policy.refresh_from_db()
    assert response.status_code == 302
    assert step_policy.name == "Renamed" and step_policy.spec["kind"] == "STEP" and step_policy.spec["k0"] == 0.1


def test_a_viewer_cannot_edit(client, cast, step_policy):
    client.force_login(cast.carol)
    assert client.get(reverse("policy-edit", args=[step_policy.pk])).status_code == 403


def test_the_catalog_page_documents_every_kind_with_its_parameters(client, cast):
    from trainer import schedules

    client.force_login(cast.carol)
    page = client.get(reverse("catalog")).content.decode()
    for decl in schedules.catalog():
        assert f'id="kind-{decl["kind"]}"' in page
        for param in decl["params"]:
            assert f"<code>{param['name']}</code>" in page
    assert page.count('class="thumb"') >= 34


def test_the_editor_groups_kinds_with_thumbnails(client, cast):
    client.force_login(cast.bob)
    response = client.get(reverse("policy-create"))
    titles = [g["title"] for g in response.context["groups"]]
    assert titles[:5] == ["Fixed", "Decaying", "Cyclic", "Restarts", "Composite"]
    tri = next(k for g in response.context["groups"] for k in g["kinds"] if k["kind"] == "TRI")
    assert tri["thumbnail"].startswith("M0.0,")
