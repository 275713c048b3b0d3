"""CSV exports never carry a live spreadsheet formula (OWASP: CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from dashboard.exports import csv_cell
from dashboard.models import Policy
from tests.unit.test_studies import make_finished_study

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil.example/","y")'


@pytest.fixture
def policies(cast):
    return [
        Policy.objects.create(team=cast.team, name=FORMULA, spec={"kind": "FIX", "k0": 0.05}),
        Policy.objects.create(team=cast.team, name="@SUM(A1)", spec={"kind": "TRI", "k0": 0.01, "k1": 0.1, "l": 2}),
    ]


def rows_of(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+cmd", "@SUM(A1)", "\tx", "\rx"])
def test_text_that_starts_like_a_formula_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text


def test_numbers_and_plain_text_are_left_alone():
    assert csv_cell(-0.5) == -0.5 and csv_cell(-3) == -3 and csv_cell(None) is None
    assert csv_cell("cosine 1=2") == "cosine 1=2"


def test_the_study_export_neutralises_policy_names(api_client, cast, policies):
    study = make_finished_study(cast, policies)
    api_client.force_authenticate(cast.bob)
    rows = rows_of(api_client.get(f"/api/studies/{study.pk}/export/", {"format": "csv"}))
    names = {r["policy_name"] for r in rows}
    assert names == {"'" + FORMULA, "'@SUM(A1)"}


def test_the_leaderboard_export_neutralises_policy_names(api_client, cast, policies):
    make_finished_study(cast, policies)
    api_client.force_authenticate(cast.bob)
    response = api_client.get("/api/leaderboard/export/", {"workload": "digits-mlp", "format": "csv"})
    names = {r["policy_name"] for r in rows_of(response)}
    assert names == {"'" + FORMULA, "'@SUM(A1)"}
