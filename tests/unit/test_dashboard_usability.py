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
