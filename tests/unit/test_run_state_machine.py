"""One guarded transition per status change: acknowledged cancels are final, stale workers write nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from dashboard import actions, checkpoints, fleet, realtime, reconcile
from dashboard.models import EpochMetric, Job, Run
from trainer.engine import TrainConfig, train

pytestmark = pytest.mark.django_db(transaction=True)

SUCCEEDED = {"status": "succeeded", "device": "cpu", "summary": {"final_acc": 0.97, "total_seconds": 1.0}}


def queued_run(cast, policy, **kwargs) -> Run:
    return Run.objects.create(
        team=cast.team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=3, **kwargs
    )


def expire_lease(run: Run) -> None:
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def messages_on(group: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    def received() -> list[dict]:
        async def collect():
            found = []
            while True:
                try:
                    found.append(await asyncio.wait_for(layer.receive(channel), 0.3))
                except TimeoutError:
                    return found

        return async_to_sync(collect)()

    return received


def test_an_acknowledged_cancel_is_not_overwritten_by_the_workers_finish(cast, step_policy):
    run = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    assert actions.cancel_run(run)

    assert actions.finish_run(run, SUCCEEDED) is False

    run.refresh_from_db()
    assert run.status == "cancelled" and run.final_acc is None and run.summary == {}


def test_an_acknowledged_cancel_is_not_overwritten_by_a_failure(cast, step_policy):
    run = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    assert actions.cancel_run(run)

    assert actions.fail_run(run, "boom") is False

    run.refresh_from_db()
    assert run.status == "cancelled" and run.error == ""


def test_a_finished_run_cannot_be_cancelled_afterwards(cast, step_policy):
    run = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    assert actions.finish_run(run, SUCCEEDED)

    assert actions.cancel_run(run) is False

    run.refresh_from_db()
    assert run.status == "succeeded" and run.final_acc == 0.97


def test_starting_is_idempotent_while_the_lease_is_live(cast, step_policy):
    run = queued_run(cast, step_policy)
    first = actions.start_run(run.pk, worker="w1")

    assert actions.start_run(run.pk, worker="w2") is None

    run.refresh_from_db()
    assert first.attempt == run.attempt == 1 and run.worker == "w1"
    assert run.lease_expires_at > timezone.now()


def test_another_worker_takes_over_an_expired_lease_and_the_stale_one_writes_nothing(cast, step_policy):
    stale = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    actions.record_epoch(stale, {"epoch": 1, "test_acc": 0.5})
    expire_lease(stale)

    fresh = actions.start_run(stale.pk, worker="w2")
    assert fresh is not None and fresh.attempt == 2 and fresh.worker == "w2"

    with pytest.raises(actions.Lost):
        actions.record_epoch(stale, {"epoch": 2, "test_acc": 0.6})
    assert actions.finish_run(stale, SUCCEEDED) is False
    assert actions.fail_run(stale, "the old worker came back") is False
    actions.record_epoch(fresh, {"epoch": 2, "test_acc": 0.7})
    assert actions.finish_run(fresh, SUCCEEDED)

    assert list(EpochMetric.objects.filter(run=fresh).values_list("epoch", "test_acc")) == [(1, 0.5), (2, 0.7)]
    fresh.refresh_from_db()
    assert fresh.status == "succeeded" and fresh.error == ""


def test_no_epoch_is_stored_after_a_cancel(cast, step_policy):
    run = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    actions.cancel_run(run)

    with pytest.raises(actions.Lost):
        actions.record_epoch(run, {"epoch": 1, "test_acc": 0.5})

    assert not EpochMetric.objects.filter(run=run).exists()


def test_a_lease_renewal_notices_a_cancel_and_a_takeover(cast, step_policy):
    cancelled = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    taken = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    kept = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    lease = fleet.Lease(Run, {r.pk: r.attempt for r in (cancelled, taken, kept)})
    before = Run.objects.get(pk=kept.pk).lease_expires_at
    actions.cancel_run(cancelled)
    expire_lease(taken)
    actions.start_run(taken.pk, worker="w2")

    lease.renew()

    assert lease.lost(cancelled.pk) and lease.lost(taken.pk) and not lease.lost(kept.pk)
    assert Run.objects.get(pk=kept.pk).lease_expires_at >= before


def test_the_reconciler_requeues_expired_runs_and_resends_what_no_broker_holds(cast, step_policy, monkeypatch):
    sent = []
    monkeypatch.setattr(fleet, "held_in_broker", lambda: ({held.pk}, set()))
    monkeypatch.setattr(fleet, "send_runs", lambda ids, queue: sent.append((ids, queue)))
    monkeypatch.setattr(fleet, "send_job", lambda job_id: sent.append(([job_id], "job")))
    expired = actions.start_run(queued_run(cast, step_policy).pk, worker="dead")
    expire_lease(expired)
    live = actions.start_run(queued_run(cast, step_policy).pk, worker="alive")
    long_ago = timezone.now() - timedelta(hours=1)
    lost = queued_run(cast, step_policy, sent_at=long_ago, queue="cpu")
    held = queued_run(cast, step_policy, sent_at=long_ago, queue="cpu")
    just_sent = queued_run(cast, step_policy, sent_at=timezone.now(), queue="cpu")
    job = Job.objects.create(team=cast.team, kind="lr_range", params={}, sent_at=long_ago)

    report = reconcile.reconcile()

    assert report["requeued_runs"] == [expired.pk]
    assert Run.objects.get(pk=expired.pk).status == "queued" and Run.objects.get(pk=live.pk).status == "running"
    assert sorted(report["resent_runs"]) == sorted([expired.pk, lost.pk])
    assert held.pk not in report["resent_runs"] and just_sent.pk not in report["resent_runs"]
    assert report["resent_jobs"] == [job.pk]
    assert ([lost.pk], "cpu") in sent and ([job.pk], "job") in sent


def test_a_failing_checkpoint_cleanup_still_broadcasts_the_failure(cast, step_policy, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the checkpoint folder should be")
    monkeypatch.setattr(checkpoints, "local_path", lambda run_id: Path(blocker) / f"run-{run_id}.pt")
    run = actions.start_run(queued_run(cast, step_policy).pk, worker="w1")
    received = messages_on(realtime.run_group(run.pk))

    assert actions.fail_run(run, "OSError: the disk is full")

    statuses = [m["run"]["status"] for m in received() if m["type"] == "run.status"]
    assert statuses == ["failed"]
    assert Run.objects.get(pk=run.pk).status == "failed"


def test_the_engine_honours_a_stop_asked_for_during_the_last_epoch():
    asked = []

    def stop_after_the_last_epoch() -> bool:
        asked.append(1)
        return len(asked) > 2  # before epochs 1 and 2: no; after epoch 2: yes

    config = TrainConfig("digits-mlp", {"kind": "FIX", "k0": 0.05}, 2, device="cpu")
    result = train(config, should_stop=stop_after_the_last_epoch)

    assert result["status"] == "cancelled" and len(result["epochs"]) == 2 and len(asked) == 3


@pytest.mark.parametrize(
    ("gpu_workers", "workload", "device", "queue"),
    [
        (False, "cifar10-resnet20", "auto", "cpu"),
        (True, "cifar10-resnet20", "auto", "gpu"),
        (True, "digits-mlp", "auto", "cpu"),
        (True, "cifar10-resnet20", "cpu", "cpu"),
        (True, "digits-mlp", "gpu", "gpu"),
    ],
)
def test_runs_go_to_the_queue_of_their_device(settings, gpu_workers, workload, device, queue):
    settings.ARENA_GPU_WORKERS = gpu_workers
    assert fleet.queue_for(workload, device) == queue


def test_asking_for_a_gpu_without_gpu_workers_is_a_400_naming_device(settings, cast, step_policy):
    from rest_framework.test import APIClient

    settings.ARENA_GPU_WORKERS = False
    client = APIClient()
    client.force_authenticate(cast.bob)
    body = {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 1, "device": "gpu"}

    response = client.post("/api/runs/", body, format="json")

    assert response.status_code == 400 and "device" in str(response.json())
    assert not Run.objects.exists()


def test_a_run_records_the_queue_and_device_it_asked_for(settings, cast, step_policy, monkeypatch):
    sent = []
    monkeypatch.setattr(fleet, "send_runs", lambda ids, queue: sent.append((ids, queue)))
    settings.ARENA_GPU_WORKERS = True
    run = actions.queue_run(
        team=cast.team, user=cast.bob, policy=step_policy, workload="cifar10-resnet20", epochs=1, device="auto"
    )
    assert (run.device_request, run.queue) == ("auto", "gpu") and sent == [([run.pk], "gpu")]


def test_a_run_queued_while_the_broker_is_away_is_stored_for_the_reconciler(settings, cast, step_policy):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    from celery import current_app

    current_app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        run = actions.queue_run(team=cast.team, user=cast.bob, policy=step_policy, workload="digits-mlp", epochs=1)
    finally:
        current_app.conf.broker_url = None

    run.refresh_from_db()
    assert run.status == "queued" and run.sent_at is None  # the reconciler's next round sends it


def test_the_result_names_the_device(cast, step_policy):
    assert actions.device_label({"device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3"}) == (
        "cuda:0 — NVIDIA H100 80GB HBM3"
    )
    assert actions.device_label({"device": "cpu", "device_name": "x86_64"}) == "cpu"


def test_a_broker_message_is_read_back_to_its_task_and_arguments():
    import base64
    import json

    # kombu's Redis transport stores a Celery (protocol 2) message as JSON with a base64 body.
    body = base64.b64encode(json.dumps([[[4, 5]], {}, {"callbacks": None}]).encode()).decode()
    payload = {"body": body, "headers": {"task": fleet.BATCH_TASK}, "properties": {"body_encoding": "base64"}}

    assert fleet._task_and_args(json.dumps(payload).encode()) == (fleet.BATCH_TASK, [[4, 5]])
    assert fleet._task_and_args(b"not json") == (None, [])


def test_a_worker_on_another_machine_resumes_from_the_stored_checkpoint(cast, settings, tmp_path):
    from dashboard.models import Policy
    from dashboard.tasks import train_run

    policy = Policy.objects.create(team=cast.team, name="fix", spec={"kind": "FIX", "k0": 0.05})
    run = queued_run(cast, policy)  # 3 epochs
    # Machine 1 trains two epochs and dies: its checkpoint reaches the shared storage.
    first = actions.start_run(run.pk, worker="machine-1")
    config = TrainConfig("digits-mlp", policy.spec, 3, device="cpu", checkpoint_path=str(checkpoints.fetch(run.pk)))
    train(
        config,
        on_epoch=lambda metrics: actions.record_epoch(first, metrics),
        should_stop=lambda: len(EpochMetric.objects.filter(run=run)) >= 2,
        on_checkpoint=lambda path: checkpoints.push(run.pk, path),
    )
    expire_lease(first)
    # Machine 2 has its own local folder, empty; the storage is what they share.
    settings.CHECKPOINT_DIR = tmp_path / "machine-2"

    train_run(run.pk)

    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempt == 2
    assert run.summary["resumed_from_epoch"] == 2
    assert list(EpochMetric.objects.filter(run=run).values_list("epoch", flat=True).order_by("epoch")) == [1, 2, 3]
    assert not checkpoints.local_path(run.pk).exists()  # dropped once the run ended
