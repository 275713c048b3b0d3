from __future__ import annotations

import statistics

import pytest

from dashboard import leaderboard
from dashboard.models import Policy, Run

pytestmark = pytest.mark.django_db


def add_runs(cast, policy, accuracies, status="succeeded", epochs=5, team=None):
    for seed, acc in enumerate(accuracies):
        Run.objects.create(
            team=team or cast.team,
            policy=policy,
            policy_spec=policy.spec,
            workload="digits-mlp",
            epochs=epochs,
            seed=seed,
            status=status,
            final_acc=acc,
            best_acc=acc,
            total_seconds=2.0,
        )


def test_policies_rank_by_mean_final_accuracy_over_seeds(cast):
    a = Policy.objects.create(team=cast.team, name="A", spec={"kind": "FIX", "k0": 0.1})
    b = Policy.objects.create(team=cast.team, name="B", spec={"kind": "FIX", "k0": 0.01})
    add_runs(cast, a, [0.90, 0.92, 0.94])
    add_runs(cast, b, [0.95, 0.96])
    rows = leaderboard.board(cast.bob, "digits-mlp")
    assert [r["policy_name"] for r in rows] == ["B", "A"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[1]["n"] == 3
    assert rows[1]["mean_acc"] == pytest.approx(0.92)
    assert rows[1]["std_acc"] == pytest.approx(statistics.stdev([0.90, 0.92, 0.94]))


def test_diverged_runs_are_counted_but_not_averaged(cast):
    a = Policy.objects.create(team=cast.team, name="A", spec={"kind": "FIX", "k0": 0.1})
    add_runs(cast, a, [0.9])
    add_runs(cast, a, [0.1], status="diverged")
    [row] = leaderboard.board(cast.bob, "digits-mlp")
    assert row["n"] == 1 and row["diverged"] == 1 and row["mean_acc"] == pytest.approx(0.9)


def test_a_policy_with_only_diverged_runs_ranks_last(cast):
    a = Policy.objects.create(team=cast.team, name="A", spec={"kind": "FIX", "k0": 9.0})
    b = Policy.objects.create(team=cast.team, name="B", spec={"kind": "FIX", "k0": 0.01})
    add_runs(cast, a, [None], status="diverged")
    add_runs(cast, b, [0.5])
    assert [r["policy_name"] for r in leaderboard.board(cast.bob, "digits-mlp")] == ["B", "A"]


def test_each_epoch_budget_is_a_separate_entry(cast):
    a = Policy.objects.create(team=cast.team, name="A", spec={"kind": "FIX", "k0": 0.1})
    add_runs(cast, a, [0.9], epochs=5)
    add_runs(cast, a, [0.97], epochs=20)
    rows = leaderboard.board(cast.bob, "digits-mlp")
    assert [(r["epochs"], r["n"]) for r in rows] == [(20, 1), (5, 1)]
    assert [r["epochs"] for r in leaderboard.board(cast.bob, "digits-mlp", epochs=5)] == [5]


def test_running_and_failed_runs_are_not_on_the_board(cast):
    a = Policy.objects.create(team=cast.team, name="A", spec={"kind": "FIX", "k0": 0.1})
    add_runs(cast, a, [0.9], status="running")
    add_runs(cast, a, [None], status="failed")
    assert leaderboard.board(cast.bob, "digits-mlp") == []


def test_another_teams_runs_are_not_shown(cast):
    theirs = Policy.objects.create(team=cast.other_team, name="Theirs", spec={"kind": "FIX", "k0": 0.1})
    add_runs(cast, theirs, [0.99], team=cast.other_team)
    assert leaderboard.board(cast.bob, "digits-mlp") == []
    assert [r["policy_name"] for r in leaderboard.board(cast.oscar, "digits-mlp")] == ["Theirs"]
