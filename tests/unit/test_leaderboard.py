from __future__ import annotations

import statistics

import pytest
from scipy import stats as scipy_stats

from dashboard import leaderboard, stats
from dashboard.models import Policy, Run

pytestmark = pytest.mark.django_db


def add_runs(cast, policy, accuracies, status="succeeded", epochs=5, team=None, scale=1.0, seed=0, **fields):
    for offset, acc in enumerate(accuracies):
        Run.objects.create(
            team=team or cast.team,
            policy=policy,
            policy_spec=policy.spec,
            workload="digits-mlp",
            epochs=epochs,
            seed=seed + offset,
            status=status,
            final_acc=acc,
            best_acc=acc,
            total_seconds=fields.get("seconds", 2.0),
            lr_scale=scale,
            target_accuracy=0.9,
            epochs_to_target=fields.get("epochs_to_target"),
            iterations_to_target=fields.get("iterations_to_target"),
            cv=fields.get("cv"),
            device=fields.get("device", ""),
        )


def policy(cast, name, team=None, **kwargs):
    return Policy.objects.create(team=team or cast.team, name=name, spec={"kind": "FIX", "k0": 0.1}, **kwargs)


def names(data):
    return [r["policy_name"] for r in data["rows"]]


def test_every_metric_is_a_mean_and_sample_std_over_seeds(cast):
    a = policy(cast, "A")
    add_runs(cast, a, [0.90, 0.92, 0.94], cv=0.1)
    [row] = leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")["rows"]
    assert row["n"] == 3
    assert row["final_acc"]["mean"] == pytest.approx(0.92)
    assert row["final_acc"]["std"] == pytest.approx(statistics.stdev([0.90, 0.92, 0.94]))
    assert row["cv"]["mean"] == pytest.approx(0.1) and row["cv"]["std"] == pytest.approx(0.0, abs=1e-9)


def test_ranking_by_a_metric_follows_its_direction(cast):
    a, b = policy(cast, "A"), policy(cast, "B")
    add_runs(cast, a, [0.90], cv=0.3)
    add_runs(cast, b, [0.95], cv=0.1)
    assert names(leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")) == ["B", "A"]
    assert names(leaderboard.board(cast.bob, "digits-mlp", rank="cv")) == ["B", "A"]  # lower spread is better
    add_runs(cast, policy(cast, "C"), [0.80], cv=0.05)
    assert names(leaderboard.board(cast.bob, "digits-mlp", rank="cv")) == ["C", "B", "A"]


def test_the_lrbench_rule_puts_the_cheapest_policy_that_reaches_the_target_first(cast):
    slow, fast, never = policy(cast, "slow"), policy(cast, "fast"), policy(cast, "never")
    add_runs(cast, slow, [0.97, 0.97], epochs_to_target=4, iterations_to_target=400)
    add_runs(cast, fast, [0.93, 0.94], epochs_to_target=2, iterations_to_target=200)
    add_runs(cast, never, [0.99, 0.80])  # one seed never reached it: the policy does not
    data = leaderboard.board(cast.bob, "digits-mlp", rank="lrbench")
    assert names(data) == ["fast", "slow", "never"]
    assert [r["reaches_target"] for r in data["rows"]] == [True, True, False]


def test_the_weighted_score_uses_the_users_weights(cast):
    accurate, steady = policy(cast, "accurate"), policy(cast, "steady")
    add_runs(cast, accurate, [0.99], cv=0.3)
    add_runs(cast, steady, [0.90], cv=0.1)
    by_accuracy = leaderboard.board(cast.bob, "digits-mlp", rank="score", weights={"final_acc": 1})
    by_spread = leaderboard.board(cast.bob, "digits-mlp", rank="score", weights={"final_acc": 1, "cv": 3})
    assert names(by_accuracy) == ["accurate", "steady"] and by_accuracy["rows"][0]["score"] == pytest.approx(1.0)
    assert names(by_spread) == ["steady", "accurate"] and by_spread["rows"][0]["score"] == pytest.approx(0.75)


def test_weights_parse_and_name_the_bad_part():
    assert leaderboard.parse_weights("final_acc:1, cv:0.5") == {"final_acc": 1.0, "cv": 0.5}
    for bad, word in [("nope:1", "nope"), ("cv:x", "cv"), ("cv:-1", "cv"), ("cv:nan", "cv")]:
        with pytest.raises(ValueError, match=word):
            leaderboard.parse_weights(bad)


def test_the_pareto_front_keeps_policies_nothing_beats_on_both_axes(cast):
    cheap, best, dominated = policy(cast, "cheap"), policy(cast, "best"), policy(cast, "dominated")
    add_runs(cast, cheap, [0.90], seconds=1.0)
    add_runs(cast, best, [0.98], seconds=5.0)
    add_runs(cast, dominated, [0.89], seconds=6.0)
    data = leaderboard.board(cast.bob, "digits-mlp")
    assert sorted(data["pareto"]) == sorted([cheap.pk, best.pk])


def test_diverged_runs_are_counted_but_not_averaged(cast):
    a = policy(cast, "A")
    add_runs(cast, a, [0.9])
    add_runs(cast, a, [0.1], status="diverged")
    [row] = leaderboard.board(cast.bob, "digits-mlp")["rows"]
    assert row["n"] == 1 and row["diverged"] == 1 and row["final_acc"]["mean"] == pytest.approx(0.9)


def test_a_policy_with_only_diverged_runs_ranks_last(cast):
    a, b = policy(cast, "A"), policy(cast, "B")
    add_runs(cast, a, [None], status="diverged")
    add_runs(cast, b, [0.5])
    assert names(leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")) == ["B", "A"]
    assert names(leaderboard.board(cast.bob, "digits-mlp", rank="lrbench")) == ["B", "A"]


def test_each_epoch_budget_is_its_own_board(cast):
    a = policy(cast, "A")
    add_runs(cast, a, [0.9], epochs=5)
    add_runs(cast, a, [0.97], epochs=20)
    assert leaderboard.board(cast.bob, "digits-mlp")["budgets"] == [5, 20]
    assert leaderboard.board(cast.bob, "digits-mlp", 5)["rows"][0]["final_acc"]["mean"] == pytest.approx(0.9)
    assert leaderboard.board(cast.bob, "digits-mlp", 20)["rows"][0]["final_acc"]["mean"] == pytest.approx(0.97)


def test_scaled_runs_feed_robustness_not_the_means(cast):
    a = policy(cast, "A")
    add_runs(cast, a, [0.9, 0.9])
    add_runs(cast, a, [0.45], scale=10.0)
    add_runs(cast, a, [0.9], scale=0.1)
    [row] = leaderboard.board(cast.bob, "digits-mlp")["rows"]
    assert row["n"] == 2 and row["final_acc"]["mean"] == pytest.approx(0.9)
    assert row["robustness"]["by_scale"] == {
        "0.1": pytest.approx(0.9),
        "1": pytest.approx(0.9),
        "10": pytest.approx(0.45),
    }
    assert row["robustness"]["kept"] == pytest.approx(0.75)


def test_running_and_failed_runs_are_not_on_the_board(cast):
    a = policy(cast, "A")
    add_runs(cast, a, [0.9], status="running")
    add_runs(cast, a, [None], status="failed")
    assert leaderboard.board(cast.bob, "digits-mlp")["rows"] == []


def test_the_team_view_shows_only_my_teams_and_the_shared_view_only_published(cast):
    mine = policy(cast, "Mine")
    theirs_private = policy(cast, "Private", team=cast.other_team)
    theirs_public = policy(cast, "Public", team=cast.other_team, published=True)
    add_runs(cast, mine, [0.9])
    add_runs(cast, theirs_private, [0.99], team=cast.other_team)
    add_runs(cast, theirs_public, [0.95], team=cast.other_team)
    assert names(leaderboard.board(cast.bob, "digits-mlp")) == ["Mine"]
    shared = leaderboard.board(cast.bob, "digits-mlp", view="shared")
    assert names(shared) == ["Public"] and shared["rows"][0]["team"] == "Speech"


def test_every_metric_carries_its_95_percent_t_interval_and_one_seed_has_none(cast):
    a, b = policy(cast, "A"), policy(cast, "B")
    add_runs(cast, a, [0.90, 0.92, 0.93])
    add_runs(cast, b, [0.80])
    rows = {r["policy_name"]: r for r in leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")["rows"]}
    values = [0.90, 0.92, 0.93]
    expected = scipy_stats.t.interval(0.95, 2, loc=statistics.mean(values), scale=scipy_stats.sem(values))
    assert rows["A"]["final_acc"]["ci95"] == pytest.approx(list(expected))
    assert rows["A"]["final_acc"]["n"] == 3
    assert rows["B"]["final_acc"]["ci95"] is None and rows["B"]["final_acc"]["n"] == 1


def test_policies_three_seeds_cannot_tell_apart_share_rank_group_1(cast):
    # Issue 11: STEP 0.9759 ± 0.0042 and FIX 0.9731 ± 0.0016 (n = 3 each) were shown as #1 and #2.
    step, fix, poor = policy(cast, "STEP"), policy(cast, "FIX"), policy(cast, "poor")
    add_runs(cast, step, [0.9759 - 0.0042, 0.9759, 0.9759 + 0.0042])
    add_runs(cast, fix, [0.9731 - 0.0016, 0.9731, 0.9731 + 0.0016])
    add_runs(cast, poor, [0.90, 0.91, 0.89])
    data = leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")
    assert names(data) == ["STEP", "FIX", "poor"]
    assert [r["group"] for r in data["rows"]] == [1, 1, 2]
    assert data["ranking_metric"] == "final_acc" and "Holm" in data["groups_test"]
    first, second = data["rows"][0], data["rows"][1]
    expected = stats.seeds_to_separate(
        stats.Summary(first["final_acc"]["mean"], first["final_acc"]["std"], 3),
        stats.Summary(second["final_acc"]["mean"], second["final_acc"]["std"], 3),
    )
    assert first["separate_next"] == {"policy": fix.pk, "seeds": expected} and expected > 3
    assert data["rows"][-1]["separate_next"] is None


def test_under_the_lrbench_rule_groups_compare_iterations_to_target_then_accuracy(cast):
    fast, slow, never = policy(cast, "fast"), policy(cast, "slow"), policy(cast, "never")
    for seed, cost in enumerate([200, 210, 190]):
        add_runs(cast, fast, [0.95], epochs_to_target=2, iterations_to_target=cost, seed=seed)
    for seed, cost in enumerate([400, 410, 390]):
        add_runs(cast, slow, [0.97], epochs_to_target=4, iterations_to_target=cost, seed=seed)
    add_runs(cast, never, [0.85, 0.86, 0.84])
    data = leaderboard.board(cast.bob, "digits-mlp", rank="lrbench")
    assert names(data) == ["fast", "slow", "never"]
    assert [r["group"] for r in data["rows"]] == [1, 2, 3]
    assert data["ranking_metric"] == "iterations_to_target"


def test_the_weighted_score_has_no_groups(cast):
    add_runs(cast, policy(cast, "A"), [0.9, 0.91])
    data = leaderboard.board(cast.bob, "digits-mlp", rank="score")
    assert data["rows"][0]["group"] is None and data["groups_test"] is None


def test_the_board_names_the_devices_its_seconds_were_measured_on(cast):
    a, b = policy(cast, "A"), policy(cast, "B")
    add_runs(cast, a, [0.9], device="NVIDIA H100")
    add_runs(cast, b, [0.9], device="x86_64")
    data = leaderboard.board(cast.bob, "digits-mlp")
    assert data["devices"] == ["NVIDIA H100", "x86_64"]
    assert {r["policy_name"]: r["devices"] for r in data["rows"]} == {"A": ["NVIDIA H100"], "B": ["x86_64"]}


def test_the_csv_rows_carry_n_the_interval_and_the_group(cast):
    add_runs(cast, policy(cast, "A"), [0.90, 0.92, 0.97])
    [item] = leaderboard.flat_rows(leaderboard.board(cast.bob, "digits-mlp", rank="final_acc"))
    assert item["group"] == 1 and item["final_acc_n"] == 3
    assert item["final_acc_ci95_lo"] < item["final_acc_mean"] < item["final_acc_ci95_hi"]


def test_the_api_gives_mean_std_n_and_ci95_for_every_metric_and_the_group(api_client, cast):
    add_runs(cast, policy(cast, "A"), [0.90, 0.92, 0.97], iterations_to_target=300)
    api_client.force_authenticate(cast.bob)
    data = api_client.get("/api/leaderboard/", {"workload": "digits-mlp", "rank": "final_acc"}).json()
    [row] = data["rows"]
    for metric in leaderboard.METRICS:
        assert set(row[metric.name]) == {"mean", "std", "n", "ci95"}, metric.name
    low, high = row["final_acc"]["ci95"]
    assert low < row["final_acc"]["mean"] < high and row["final_acc"]["n"] == 3
    assert row["iterations_to_target"]["ci95"] == pytest.approx([300, 300])
    assert row["group"] == 1 and data["ranking_metric"] == "final_acc" and data["devices"] == ["unknown"]


def test_an_accuracys_interval_stops_at_100_percent(cast):
    add_runs(cast, policy(cast, "A"), [0.70, 0.99, 0.99])
    [row] = leaderboard.board(cast.bob, "digits-mlp", rank="final_acc")["rows"]
    low, high = row["final_acc"]["ci95"]
    unclipped = scipy_stats.t.interval(
        0.95, 2, loc=statistics.mean([0.70, 0.99, 0.99]), scale=scipy_stats.sem([0.70, 0.99, 0.99])
    )
    assert unclipped[1] > 1 and high == 1.0 and low == pytest.approx(unclipped[0])
