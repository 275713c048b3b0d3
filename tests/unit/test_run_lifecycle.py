"""The run state machine, epoch recording and broadcasting, with the real engine."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard import actions, realtime
from dashboard.models import EpochMetric, Run
from dashboard.tasks import train_run

pytestmark = pytest.mark.django_db(transaction=True)


def make_run(cast, policy, epochs=3, **kwargs):
    return Run.objects.create(
        team=cast.team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=epochs, **kwargs
    )


def listen(group: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return layer, channel


def received(layer, channel, timeout: float = 0.5) -> list[dict]:
    """Every message waiting on the channel."""

    async def collect():
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout))
            except TimeoutError:
                return messages

    return async_to_sync(collect)()


def test_an_epoch_is_committed_before_it_is_broadcast(cast, step_policy):
    run = make_run(cast, step_policy, status=Run.Status.RUNNING)
    layer, channel = listen(realtime.run_group(run.pk))
    actions.record_epoch(run, {"epoch": 1, "train_loss": 1.5, "test_acc": 0.5, "top5": 0.9})
    [message] = received(layer, channel)
    assert message["type"] == "run.epoch"
    assert message["epoch"]["epoch"] == 1 and message["epoch"]["test_acc"] == 0.5
    row = EpochMetric.objects.get(run=run, epoch=1)
    assert row.train_loss == 1.5 and row.extra == {"top5": 0.9}
    run.refresh_from_db()
    assert run.epochs_done == 1


def test_non_finite_metrics_are_stored_as_null(cast, step_policy):
    run = make_run(cast, step_policy, status=Run.Status.RUNNING)
    actions.record_epoch(run, {"epoch": 1, "train_loss": float("nan"), "lr_trace": [[0.0, float("inf")]]})
    row = EpochMetric.objects.get(run=run)
    assert row.train_loss is None and row.extra["lr_trace"] == [[0.0, None]]


def test_recording_an_epoch_twice_keeps_one_row(cast, step_policy):
    run = make_run(cast, step_policy, status=Run.Status.RUNNING)
    actions.record_epoch(run, {"epoch": 1, "test_acc": 0.4})
    actions.record_epoch(run, {"epoch": 1, "test_acc": 0.6})
    assert list(EpochMetric.objects.filter(run=run).values_list("test_acc", flat=True)) == [0.6]


def test_the_task_trains_the_run_and_stores_every_epoch_and_the_summary(cast):
    from dashboard.models import Policy

    policy = Policy.objects.create(team=cast.team, name="fix", spec={"kind": "FIX", "k0": 0.05})
    run = make_run(cast, policy, epochs=3, seed=3)
    layer, channel = listen(realtime.run_group(run.pk))
    train_run(run.pk)
    run.refresh_from_db()
    rows = list(EpochMetric.objects.filter(run=run).order_by("epoch"))
    assert run.status == "succeeded", run.error
    assert [r.epoch for r in rows] == [1, 2, 3]
    assert run.epochs_done == 3 and run.device
    assert run.final_acc == rows[-1].test_acc >= 0.9
    assert run.best_acc == max(r.test_acc for r in rows)
    assert all(r.lr_first == pytest.approx(0.05) for r in rows)
    kinds = [message["type"] for message in received(layer, channel)]
    assert kinds == ["run.status", "run.epoch", "run.epoch", "run.epoch", "run.status"]


def test_a_cancelled_run_is_not_started(cast, step_policy):
    run = make_run(cast, step_policy)
    assert actions.cancel_run(run)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.epochs_done == 0
    assert not EpochMetric.objects.filter(run=run).exists()


def test_a_run_with_an_invalid_stored_spec_fails_with_its_error_kept(cast, step_policy):
    run = make_run(cast, step_policy)
    Run.objects.filter(pk=run.pk).update(policy_spec={"kind": "STEP", "k0": -5})
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "k0" in run.error


def test_a_diverging_run_ends_as_diverged(cast):
    from dashboard.models import Policy

    policy = Policy.objects.create(team=cast.team, name="huge", spec={"kind": "FIX", "k0": 90.0})
    run = make_run(cast, policy, epochs=4)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == "diverged"
    assert run.diverged_epoch is not None and run.diverged_epoch <= 4


def test_a_studys_runs_train_together_and_each_keeps_its_own_epochs_and_result(cast, monkeypatch):
    from dashboard import actions as run_actions
    from dashboard import tasks
    from dashboard.models import Policy

    # This test is the worker: each group the study sends trains in-process (the integration tests use the broker).
    batches = []

    def train_now(groups, queue):
        for ids in groups:
            batches.append(ids)
            tasks.train_batch(ids)

    monkeypatch.setattr(run_actions, "send_batches", train_now)
    monkeypatch.setattr(run_actions.settings, "ARENA_BATCH_RUNS", 3)
    policies = [
        Policy.objects.create(team=cast.team, name="b-fix", spec={"kind": "FIX", "k0": 0.05}),
        Policy.objects.create(team=cast.team, name="b-step", spec={"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1}),
    ]
    study = run_actions.create_study(
        team=cast.team, user=cast.bob, name="batched", workload="digits-mlp", policies=policies, seeds=[0, 1], epochs=3
    )
    runs = list(study.runs.order_by("pk"))
    assert sorted(batches) == [[r.pk for r in runs[:3]], [runs[3].pk]]
    for run in runs:
        run.refresh_from_db()
        rows = list(EpochMetric.objects.filter(run=run).order_by("epoch"))
        assert run.status == "succeeded", run.error
        assert [r.epoch for r in rows] == [1, 2, 3] and run.final_acc == rows[-1].test_acc > 0.85
        expected_lr = 0.05 if run.policy.name == "b-fix" else 0.1 * 0.5**2
        assert rows[-1].lr_first == pytest.approx(expected_lr)
    by_seed = {(r.policy_id, r.seed): r.final_acc for r in runs}
    assert by_seed[(policies[0].pk, 0)] != by_seed[(policies[0].pk, 1)]  # each run its own seed
