"""The run websocket: history from the database, then live epochs, for members only."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from dashboard import actions
from dashboard.asgi import application
from dashboard.models import Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def run(cast, step_policy):
    run = Run.objects.create(
        team=cast.team,
        policy=step_policy,
        policy_spec=step_policy.spec,
        workload="digits-mlp",
        epochs=3,
        status=Run.Status.RUNNING,
    )
    actions.record_epoch(run, {"epoch": 1, "test_acc": 0.5})
    return run


def communicator(
    run_id: int, *, token: str | None = None, origin: str | None = None, host: str | None = None
) -> WebsocketCommunicator:
    headers = []
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    if origin:
        headers.append((b"origin", origin.encode()))
    if host:
        headers.append((b"host", host.encode()))
    return WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)


async def test_a_member_gets_the_history_then_live_epochs(cast, run):
    token = await database_sync_to_async(lambda: Token.objects.create(user=cast.carol).key)()
    ws = communicator(run.pk, token=token)
    connected, _ = await ws.connect()
    assert connected
    history = await ws.receive_json_from()
    assert history["type"] == "history"
    assert [e["epoch"] for e in history["epochs"]] == [1]
    await database_sync_to_async(actions.record_epoch)(run, {"epoch": 2, "test_acc": 0.75})
    live = await ws.receive_json_from(timeout=2)
    assert live["type"] == "epoch" and live["epoch"]["epoch"] == 2 and live["epoch"]["test_acc"] == 0.75
    await database_sync_to_async(actions.cancel_run)(run)
    status = await ws.receive_json_from(timeout=2)
    assert status["type"] == "status" and status["run"]["status"] == "cancelled"
    await ws.disconnect()


async def test_an_outsider_cannot_subscribe_to_another_teams_run(cast, run):
    token = await database_sync_to_async(lambda: Token.objects.create(user=cast.oscar).key)()
    ws = communicator(run.pk, token=token)
    connected, code = await ws.connect()
    assert not connected
    assert code == 4404


async def test_an_anonymous_connection_is_refused(run):
    ws = communicator(run.pk, origin="http://localhost", host="localhost")
    connected, code = await ws.connect()
    assert not connected and code == 4401


async def test_a_bad_token_is_refused(run):
    ws = communicator(run.pk, token="0" * 40)
    connected, _ = await ws.connect()
    assert not connected


async def test_a_session_connection_from_a_foreign_origin_is_refused(run):
    ws = communicator(run.pk, origin="http://evil.example")
    connected, _ = await ws.connect()
    assert not connected
