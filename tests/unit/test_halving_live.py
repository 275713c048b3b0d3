"""A halving study runs for real: runs wait at their rung, the best goes on from its checkpoint, the rest stop."""

from __future__ import annotations

import pytest

from dashboard import actions, fleet, leaderboard
from dashboard.models import EpochMetric, Policy, Run
from dashboard.studies import progress

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_in_process(monkeypatch):
    """This test is the worker: whatever is sent trains here at once (the integration tests use the broker)."""
    from dashboard import tasks

    sent: list[list[int]] = []

    def train_now(run_ids: list[int], queue: str) -> None:
        sent.append(list(run_ids))
        tasks.train_batch(run_ids) if len(run_ids) > 1 else tasks.train_run(run_ids[0])

    monkeypatch.setattr(fleet, "send_runs", train_now)
    return sent


def test_a_halving_study_trains_only_the_best_policy_to_the_budget(cast, worker_in_process):
    good = Policy.objects.create(team=cast.team, name="good", spec={"kind": "FIX", "k0": 0.05})
    slow = Policy.objects.create(team=cast.team, name="slow", spec={"kind": "FIX", "k0": 1e-5})
    slower = Policy.objects.create(team=cast.team, name="slower", spec={"kind": "FIX", "k0": 2e-6})

    study = actions.create_study(
        team=cast.team, user=cast.bob, name="halving", workload="digits-mlp", policies=[good, slow, slower],
        seeds=[0, 1], epochs=9, halving_eta=3,
    )  # fmt: skip

    runs = {(r.policy.name, r.seed): r for r in Run.objects.filter(study=study).select_related("policy")}
    for seed in (0, 1):
        winner = runs[("good", seed)]
        assert winner.status == "succeeded", winner.error
        assert winner.epochs_done == 9 and winner.summary["resumed_from_epoch"] == 3  # went on from its checkpoint
        assert list(EpochMetric.objects.filter(run=winner).values_list("epoch", flat=True)) == list(range(1, 10))
        for name in ("slow", "slower"):
            loser = runs[(name, seed)]
            assert loser.status == "stopped" and loser.epochs_done == 1 and loser.finished_at is not None
    # Rung 1 for all six runs together, then the winner's two runs to rung 3, then to 9.
    assert [sorted(batch) for batch in worker_in_process] == [
        sorted(r.pk for r in runs.values()),
        sorted(runs[("good", s)].pk for s in (0, 1)),
        sorted(runs[("good", s)].pk for s in (0, 1)),
    ]
    grid = progress(study)
    assert grid["finished"] == grid["total"] == 6
    assert (grid["epochs_trained"], grid["epochs_full"]) == (2 * 9 + 4 * 1, 6 * 9)  # 59% of the compute saved
    board = leaderboard.board(cast.bob, workload="digits-mlp", epochs=9)
    assert [row["policy_name"] for row in board["rows"]] == ["good"]  # stopped runs are never finished runs


def test_a_budget_without_a_rung_is_refused_naming_halving_eta(api_client, cast):
    policy = Policy.objects.create(team=cast.team, name="p", spec={"kind": "FIX", "k0": 0.05})
    api_client.force_authenticate(cast.bob)
    body = {"name": "s", "workload": "digits-mlp", "policies": [policy.pk], "seeds": [0], "epochs": 2, "halving_eta": 3}

    response = api_client.post("/api/studies/", body, format="json")

    assert response.status_code == 400 and "halving_eta" in response.json()["errors"]
    assert not Run.objects.exists()
