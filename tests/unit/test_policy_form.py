from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.models import Policy

pytestmark = pytest.mark.django_db


def post_policy(client, **fields):
    data = {
        "name": "My step",
        "description": "",
        "kind": "STEP",
        "STEP__k0": "0.1",
        "STEP__gamma": "0.5",
        "STEP__l": "2",
    }
    data.update(fields)
    return client.post(reverse("policy-create"), data)


def test_it_creates_a_policy_from_the_chosen_kinds_fields(client, cast):
    client.force_login(cast.bob)
    response = post_policy(client)
    policy = Policy.objects.get(name="My step")
    assert response.status_code == 302
    assert response["Location"] == reverse("policy-detail", args=[policy.pk])
    assert policy.spec["kind"] == "STEP"
    assert policy.spec["k0"] == 0.1 and policy.spec["gamma"] == 0.5 and policy.spec["l"] == 2
    assert policy.team == cast.team and policy.created_by == cast.bob


def test_it_ignores_the_fields_of_kinds_that_were_not_chosen(client, cast):
    client.force_login(cast.bob)
    post_policy(client, **{"COS__k0": "not a number"})
    assert Policy.objects.filter(name="My step").exists()


def test_it_shows_an_out_of_range_value_beside_its_field(client, cast):
    client.force_login(cast.bob)
    response = post_policy(client, STEP__k0="-1")
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["STEP__k0"]
    assert not Policy.objects.filter(team__slug="vision").exists()


@pytest.mark.parametrize("bad", ["nan", "inf", "abc", "1e999"])
def test_it_rejects_non_numbers_in_a_number_field(client, cast, bad):
    client.force_login(cast.bob)
    response = post_policy(client, STEP__gamma=bad)
    assert response.status_code == 400
    assert "STEP__gamma" in response.context["form"].errors


def test_it_reports_a_missing_required_parameter(client, cast):
    client.force_login(cast.bob)
    response = post_policy(client, STEP__l="")
    assert response.status_code == 400
    assert "STEP__l" in response.context["form"].errors


def test_it_parses_nstep_boundaries_from_a_comma_list(client, cast):
    client.force_login(cast.bob)
    response = client.post(
        reverse("policy-create"),
        {"name": "Multi", "kind": "NSTEP", "NSTEP__k0": "0.1", "NSTEP__gamma": "0.1", "NSTEP__l": "3, 6, 9"},
    )
    assert response.status_code == 302
    assert Policy.objects.get(name="Multi").spec["l"] == [3, 6, 9]


def test_it_reports_nstep_boundaries_out_of_order_on_that_field(client, cast):
    client.force_login(cast.bob)
    response = client.post(
        reverse("policy-create"),
        {"name": "Multi", "kind": "NSTEP", "NSTEP__k0": "0.1", "NSTEP__gamma": "0.1", "NSTEP__l": "6, 3"},
    )
    assert response.status_code == 400
    assert "NSTEP__l" in response.context["form"].errors


def test_a_team_cannot_have_two_policies_with_one_name(client, cast):
    client.force_login(cast.bob)
    post_policy(client)
    response = post_policy(client)
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert Policy.objects.filter(name="My step").count() == 1


def test_a_viewer_cannot_create_policies(client, cast):
    client.force_login(cast.carol)
    assert post_policy(client).status_code == 403
    assert not Policy.objects.filter(team__slug="vision").exists()


def test_the_form_offers_the_six_basic_kinds(client, cast):
    client.force_login(cast.bob)
    response = client.get(reverse("policy-create"))
    kinds = {value for _, group in response.context["form"].fields["kind"].choices for value, _ in group}
    assert {"FIX", "STEP", "NSTEP", "EXP", "COS", "TRI"} <= kinds
    assert b"plotly/plotly.min.js" in response.content
