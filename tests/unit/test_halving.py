"""Successive halving (dashboard.halving): rungs, promotions, savings, and a recorded study."""

from __future__ import annotations

import statistics

import pytest

from dashboard import halving, stats
from trainer.batched import train_batched
from trainer.engine import TrainConfig


def curve(accuracies, steps=10):
    return [{"epoch": i, "test_acc": a, "iterations": i * steps} for i, a in enumerate(accuracies, start=1)]


def test_rungs_are_the_budget_over_powers_of_eta():
    assert halving.rung_epochs(17, 3) == [2, 6, 17]  # 17/9 = 1.9 -> 2, 17/3 = 5.7 -> 6
    assert halving.rung_epochs(8, 3) == [3, 8]  # 8/9 < 1 epoch: no rung there
    assert halving.rung_epochs(8, 3, min_epochs=3) == [8]
    assert halving.rung_epochs(8, 2) == [1, 2, 4, 8]
    with pytest.raises(ValueError, match="eta"):
        halving.rung_epochs(8, 1)


def test_the_top_third_is_promoted_with_all_its_seeds_and_the_rest_stop_at_the_rung():
    runs = [
        *(halving.Run(1, s, curve([0.5, 0.9, 0.95, 0.97, 0.98, 0.98, 0.98, 0.98])) for s in range(2)),
        *(halving.Run(2, s, curve([0.3, 0.6, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])) for s in range(2)),
        *(halving.Run(3, s, curve([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])) for s in range(2)),
    ]
    result = halving.plan(runs, 8, eta=3, target=0.97)
    assert [r["epochs"] for r in result["rungs"]] == [3, 8]
    assert result["rungs"][0]["ranked"] == [1, 2, 3] and result["rungs"][0]["promoted"] == [1]
    assert result["stopped_at"] == {2: 3, 3: 3}
    assert result["winner"] == 1
    assert result["epochs_trained"] == 2 * 8 + 4 * 3 and result["epochs_full"] == 6 * 8
    assert result["saved"] == pytest.approx(1 - 28 / 48)


def test_under_the_lrbench_rule_reaching_the_target_first_beats_a_higher_accuracy():
    fast = [halving.Run(1, 0, curve([0.97, 0.97, 0.97]))]
    accurate = [halving.Run(2, 0, curve([0.90, 0.96, 0.99]))]
    # eta 4: 3/4 epoch is no rung, so both train to the budget and only the rule differs.
    assert halving.plan(fast + accurate, 3, eta=4, target=0.97)["winner"] == 1
    assert halving.plan(fast + accurate, 3, eta=4, rule="final_acc")["winner"] == 2
    # eta 3: a rung at epoch 1, where the accurate-in-the-end policy is behind and stops.
    assert halving.plan(fast + accurate, 3, eta=3, rule="final_acc")["stopped_at"] == {2: 1}


POLICIES = [
    {"kind": "FIX", "k0": 0.05},
    {"kind": "FIX", "k0": 0.01},
    {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 2},
    {"kind": "COS", "k0": 0.001, "k1": 0.1, "l": 6},
    {"kind": "ONECYCLE", "max_lr": 0.1, "total": 6},
    {"kind": "TRI", "k0": 0.01, "k1": 0.1, "l": 2},
]
SEEDS = [0, 1, 2]
BUDGET = 6


@pytest.fixture(scope="module")
def recorded_study():
    """A full study recorded once: six policies × three seeds on digits-mlp, six epochs, trained as one batch."""
    configs = [TrainConfig("digits-mlp", p, BUDGET, seed=s, device="cpu") for p in POLICIES for s in SEEDS]
    results = train_batched(configs)
    return [halving.Run(i // len(SEEDS), i % len(SEEDS), r["epochs"]) for i, r in enumerate(results)]


def per_seed(runs, policy, rule):
    """The rule's per-seed metric at the budget: final accuracy, or iterations to the target (0.97)."""
    if rule == "final_acc":
        return [r.epochs[-1]["test_acc"] for r in runs if r.policy == policy]
    reached = [next((e for e in r.epochs if e["test_acc"] >= 0.97), None) for r in runs if r.policy == policy]
    return [e["iterations"] if e else float("inf") for e in reached]


@pytest.mark.parametrize("rule", halving.RULES)
def test_on_a_recorded_study_halving_picks_the_full_studys_winner_or_one_tied_with_it(recorded_study, rule):
    full = halving.plan(recorded_study, BUDGET, eta=BUDGET + 1, rule=rule, target=0.97)  # one rung: the full study
    assert full["stopped_at"] == {} and full["saved"] == 0
    halved = halving.plan(recorded_study, BUDGET, eta=3, rule=rule, target=0.97)
    assert [r["epochs"] for r in halved["rungs"]] == [2, 6] and halved["saved"] == pytest.approx(1 - 20 / 36)
    best, picked = full["winner"], halved["winner"]
    if picked != best:
        a, b = per_seed(recorded_study, best, rule), per_seed(recorded_study, picked, rule)
        summaries = [stats.Summary(statistics.mean(v), statistics.stdev(v), len(v)) for v in (a, b)]
        assert stats.welch_pvalues(summaries[0], summaries[1:])[0] > 0.05  # statistically tied


def finished_study(cast, curves, status="succeeded"):
    """A study whose policies ran two seeds each with these test-accuracy curves (one per policy)."""
    from dashboard import actions
    from dashboard.models import Policy, Study
    from dashboard.models import Run as RunRow

    study = Study.objects.create(team=cast.team, name="h", workload="digits-mlp", epochs=len(curves[0]), seeds=[0, 1],
                                 target_accuracy=0.97)  # fmt: skip
    for i, accuracies in enumerate(curves):
        policy = Policy.objects.create(team=cast.team, name=f"p{i}", spec={"kind": "FIX", "k0": 0.1})
        study.policies.add(policy)
        for seed in (0, 1):
            run = RunRow.objects.create(
                team=cast.team, study=study, policy=policy, policy_spec=policy.spec, workload="digits-mlp",
                epochs=study.epochs, seed=seed, status=status,
            )  # fmt: skip
            for row in curve(accuracies):
                actions.record_epoch(run, row)
    return study


@pytest.mark.django_db
def test_a_finished_study_shows_what_halving_would_have_saved(client, api_client, cast):
    study = finished_study(
        cast,
        [[0.5, 0.9, 0.95, 0.97, 0.98, 0.98], [0.3, 0.6, 0.8, 0.9, 0.95, 0.96], [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]],
    )
    api_client.force_authenticate(cast.bob)
    replay = api_client.get(f"/api/studies/{study.pk}/").json()["halving"]
    assert replay["rungs"] == [{"epochs": 2, "promoted": ["p0"]}]
    assert sorted(s["policy_name"] for s in replay["stopped"]) == ["p1", "p2"]
    assert replay["winner"]["policy_name"] == replay["full_winner"]["policy_name"] == "p0"
    assert replay["saved"] == pytest.approx(1 - (2 * 6 + 4 * 2) / 36)
    client.force_login(cast.bob)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert 'id="halving"' in page and "44% saved" in page


@pytest.mark.django_db
def test_an_unfinished_study_has_no_replay_yet(api_client, cast):
    study = finished_study(cast, [[0.5, 0.9, 0.95]], status="running")
    api_client.force_authenticate(cast.bob)
    assert api_client.get(f"/api/studies/{study.pk}/").json()["halving"] is None
