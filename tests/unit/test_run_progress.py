"""Progress within an epoch: kept on the run row, streamed over the run's websocket, fenced like epochs."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from dashboard import actions
from dashboard.asgi import application
from dashboard.models import Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REPORT = {"epoch": 1, "iteration": 120, "steps_per_epoch": 600, "loss": 0.8, "epoch_loss": 1.1, "seconds": 2.5}


@pytest.fixture
def run(cast, step_policy):
    return Run.objects.create(
        team=cast.team,
        policy=step_policy,
        policy_spec=step_policy.spec,
        workload="mnist-lenet",
        epochs=1,
        status=Run.Status.RUNNING,
    )


async def connected(user, run_id: int) -> WebsocketCommunicator:
    token = await database_sync_to_async(lambda: Token.objects.get_or_create(user=user)[0].key)()
    ws = WebsocketCommunicator(
        application, f"/ws/runs/{run_id}/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    ok, _ = await ws.connect()
    assert ok
    return ws


async def test_a_report_is_streamed_to_the_page_and_kept_for_one_opened_later(cast, run):
    ws = await connected(cast.carol, run.pk)
    assert (await ws.receive_json_from())["type"] == "history"
    stored = await database_sync_to_async(actions.record_progress)(run, {**REPORT, "loss": float("nan")})
    assert stored
    live = await ws.receive_json_from(timeout=2)
    assert live == {"type": "progress", "run_id": run.pk, "progress": {**REPORT, "loss": None}}
    await ws.disconnect()

    later = await connected(cast.carol, run.pk)
    history = await later.receive_json_from()
    assert history["type"] == "history" and history["run"]["progress"]["iteration"] == 120
    await later.disconnect()


async def test_a_worker_that_lost_its_run_reports_nothing(cast, run):
    await database_sync_to_async(actions.cancel_run)(run)
    ws = await connected(cast.carol, run.pk)
    await ws.receive_json_from()  # history
    assert not await database_sync_to_async(actions.record_progress)(run, REPORT)
    assert await ws.receive_nothing(timeout=0.5)
    assert (await database_sync_to_async(Run.objects.get)(pk=run.pk)).progress == {}
    await ws.disconnect()


async def test_a_requeued_run_forgets_its_progress(cast, run):
    await database_sync_to_async(actions.record_progress)(run, REPORT)
    await database_sync_to_async(actions.cancel_run)(run)
    assert await database_sync_to_async(actions.requeue_run)(run)
    assert (await database_sync_to_async(Run.objects.get)(pk=run.pk)).progress == {}
