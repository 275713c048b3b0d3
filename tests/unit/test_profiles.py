"""Performance profiles across boards (dashboard.profiles): the numbers, the API, the exports and the page."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from dashboard import profiles
from dashboard.models import Policy, Run

pytestmark = pytest.mark.django_db


def policy(cast, name):
    return Policy.objects.create(team=cast.team, name=name, spec={"kind": "FIX", "k0": 0.1})


def runs(cast, policy, workload, epochs, costs):
    """One succeeded run per cost (None: that seed missed the target)."""
    for seed, cost in enumerate(costs):
        Run.objects.create(team=cast.team, policy=policy, policy_spec=policy.spec, workload=workload, epochs=epochs,
                           seed=seed, status="succeeded", final_acc=0.9, target_accuracy=0.9,
                           epochs_to_target=1 if cost else None, iterations_to_target=cost)  # fmt: skip


@pytest.fixture
def suite(cast):
    """Three policies on two boards. digits-mlp:8: fast 100, slow 300, never misses. mnist-lenet:5: fast 200,
    slow 100, never 150 (one of its seeds only)."""
    fast, slow, never = policy(cast, "fast"), policy(cast, "slow"), policy(cast, "never")
    runs(cast, fast, "digits-mlp", 8, [90, 110])
    runs(cast, slow, "digits-mlp", 8, [300, 300])
    runs(cast, never, "digits-mlp", 8, [None, 120])
    runs(cast, fast, "mnist-lenet", 5, [200, 200])
    runs(cast, slow, "mnist-lenet", 5, [100, 100])
    runs(cast, never, "mnist-lenet", 5, [None, 50])
    return fast, slow, never


BOARDS = [("digits-mlp", 8), ("mnist-lenet", 5)]


def test_ratios_are_costs_over_the_best_and_a_missed_target_has_none(cast, suite):
    data = profiles.profiles(cast.bob, BOARDS)
    rows = {r["policy_name"]: r for r in data["policies"]}
    assert rows["fast"]["ratios"] == {"digits-mlp:8": 1.0, "mnist-lenet:5": 2.0}
    assert rows["slow"]["ratios"] == {"digits-mlp:8": 3.0, "mnist-lenet:5": 1.0}
    assert rows["never"]["ratios"] == {"digits-mlp:8": None, "mnist-lenet:5": None}
    assert [b["best_cost"] for b in data["boards"]] == [100, 100]


def test_the_profile_is_the_share_of_boards_within_tau_and_the_score_its_normalised_area(cast, suite):
    data = profiles.profiles(cast.bob, BOARDS, tau_max=4.0)
    rows = {r["policy_name"]: r for r in data["policies"]}
    assert rows["fast"]["profile"] == [[1.0, 0.5], [2.0, 1.0], [4.0, 1.0]]
    assert rows["slow"]["profile"] == [[1.0, 0.5], [3.0, 1.0], [4.0, 1.0]]
    assert rows["never"]["profile"] == [[1.0, 0.0], [4.0, 0.0]]
    # fast: boards at ratio 1 and 2 -> ((4 - 1) + (4 - 2)) / 3 / 2; slow: ((4 - 3) + (4 - 1)) / 3 / 2.
    assert rows["fast"]["area"] == pytest.approx(5 / 6) and rows["slow"]["area"] == pytest.approx(4 / 6)
    assert [r["policy_name"] for r in data["policies"]] == ["fast", "slow", "never"]


def test_a_ratio_beyond_tau_max_adds_nothing():
    points, area = profiles.profile_of([1.0, 5.0, None], tau_max=4.0)
    assert points == [[1.0, 1 / 3], [4.0, 1 / 3]] and area == pytest.approx(1 / 3)


def test_boards_parse_and_name_the_bad_part():
    known = {"digits-mlp", "mnist-lenet"}
    assert profiles.parse_boards("digits-mlp:8, mnist-lenet:5,digits-mlp:8", known) == BOARDS
    for bad, word in [("nope:3", "nope"), ("digits-mlp:x", "positive"), ("digits-mlp", "digits-mlp"), ("", "least")]:
        with pytest.raises(ValueError, match=word):
            profiles.parse_boards(bad, known)


def test_the_api_and_the_csv_export(api_client, cast, suite):
    api_client.force_authenticate(cast.bob)
    query = {"boards": "digits-mlp:8,mnist-lenet:5"}
    data = api_client.get("/api/leaderboard/profile/", query).json()
    assert [p["policy_name"] for p in data["policies"]] == ["fast", "slow", "never"]
    assert data["policies"][0]["area"] == pytest.approx(5 / 6)
    response = api_client.get("/api/leaderboard/profile/export/", {**query, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["policy_name"] == "fast" and float(rows[0]["ratio mnist-lenet:5"]) == 2.0
    bad = api_client.get("/api/leaderboard/profile/", {"boards": "nope:1"})
    assert bad.status_code == 400 and "nope" in bad.content.decode()


def test_an_outsider_sees_no_policies_of_the_team(api_client, cast, suite):
    api_client.force_authenticate(cast.oscar)
    data = api_client.get("/api/leaderboard/profile/", {"boards": "digits-mlp:8"}).json()
    assert data["policies"] == []


def test_the_page_offers_the_boards_and_draws_the_chosen_ones(client, cast, suite):
    client.force_login(cast.bob)
    page = client.get(reverse("leaderboard-profile")).content.decode()
    assert 'value="digits-mlp:8"' in page and 'value="mnist-lenet:5"' in page and "profile-chart" not in page
    page = client.get(reverse("leaderboard-profile"), {"board": ["digits-mlp:8", "mnist-lenet:5"]}).content.decode()
    assert 'id="profile-chart"' in page and 'id="profile-data"' in page and "0.833" in page
