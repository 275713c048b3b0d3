"""The leaderboard socket tells a user about changes they can see, and nothing of other teams' private runs."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from dashboard import actions
from dashboard.asgi import application
from dashboard.models import Policy, Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def make_run(team, policy) -> Run:
    # Running, as a worker holds it: only a running run can finish.
    return Run.objects.create(
        team=team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=1, status=Run.Status.RUNNING
    )


def finish(run: Run) -> None:
    actions.finish_run(run, {"status": "succeeded", "summary": {"final_acc": 0.9}})


async def board_socket(user) -> WebsocketCommunicator:
    key = await database_sync_to_async(lambda: Token.objects.create(user=user).key)()
    ws = WebsocketCommunicator(
        application, "/ws/leaderboard/digits-mlp/", headers=[(b"authorization", f"Token {key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    return ws


async def told(ws: WebsocketCommunicator) -> bool:
    """Whether a "changed" message arrives (the in-memory layer delivers at once)."""
    if await ws.receive_nothing(timeout=0.3):
        return False
    message = await ws.receive_json_from()
    assert message == {"type": "changed", "workload": "digits-mlp"}
    return True


@pytest.fixture
def loner(db):
    return get_user_model().objects.create_user(username="lonely", password="lonely-pass-123")


async def test_a_private_run_is_announced_to_its_team_only(cast, step_policy, loner):
    sockets = {name: await board_socket(user) for name, user in
               [("carol", cast.carol), ("oscar", cast.oscar), ("loner", loner)]}
    run = await database_sync_to_async(make_run)(cast.team, step_policy)
    await database_sync_to_async(finish)(run)
    assert await told(sockets["carol"])
    assert not await told(sockets["oscar"])
    assert not await told(sockets["loner"])
    for ws in sockets.values():
        await ws.disconnect()


async def test_a_published_entry_is_announced_to_everyone_once(cast, step_policy, loner):
    step_policy.published = True
    await database_sync_to_async(step_policy.save)()
    sockets = [await board_socket(user) for user in (cast.bob, cast.oscar, loner)]
    run = await database_sync_to_async(make_run)(cast.team, step_policy)
    await database_sync_to_async(finish)(run)
    for ws in sockets:
        assert await told(ws)
        assert not await told(ws)  # once, even for a member of the team
        await ws.disconnect()


async def test_a_run_of_a_published_policy_by_another_team_stays_private(cast, step_policy, loner):
    step_policy.published = True
    await database_sync_to_async(step_policy.save)()
    outsider_socket, loner_socket = await board_socket(cast.oscar), await board_socket(loner)
    run = await database_sync_to_async(make_run)(cast.other_team, step_policy)  # oscar's team borrows it
    await database_sync_to_async(finish)(run)
    assert await told(outsider_socket)
    assert not await told(loner_socket)
    await outsider_socket.disconnect()
    await loner_socket.disconnect()


async def test_publishing_tells_the_shared_board(cast, step_policy, loner):
    run = await database_sync_to_async(make_run)(cast.team, step_policy)
    await database_sync_to_async(finish)(run)
    ws = await board_socket(loner)
    policy = await database_sync_to_async(Policy.objects.get)(pk=step_policy.pk)
    await database_sync_to_async(actions.publish_policy)(policy)
    assert await told(ws)
    await ws.disconnect()
