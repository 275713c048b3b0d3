"""A websocket signed in by its session cookie must come from our own origin: scheme, host and port."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from dashboard.asgi import application
from dashboard.models import Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SITE = "127.0.0.1:8000"


@pytest.fixture
def run(cast, step_policy):
    return Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=3
    )


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def connect(run_id: int, cookie: str, origin: str, host: str = SITE) -> bool:
    headers = [(b"host", host.encode()), (b"origin", origin.encode()), (b"cookie", cookie.encode())]
    ws = WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)
    connected, _ = await ws.connect()
    if connected:
        await ws.disconnect()
    return connected


async def test_the_sites_own_origin_connects(cast, run):
    cookie = await database_sync_to_async(session_cookie)(cast.bob)
    assert await connect(run.pk, cookie, f"http://{SITE}")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:9999",  # another app on the same machine
        "https://127.0.0.1",  # another scheme and port
        "http://127.0.0.1:8001",  # another port
        "http://127.0.0.1",  # port 80, not 8000
        "http://evil.example:8000",
        "null",
        "",
    ],
)
async def test_another_origin_is_refused(cast, run, origin):
    cookie = await database_sync_to_async(session_cookie)(cast.bob)
    assert not await connect(run.pk, cookie, origin)


async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin(cast, run):
    cookie = await database_sync_to_async(session_cookie)(cast.bob)
    assert not await connect(run.pk, cookie, "http://evil.example:8000", host="evil.example:8000")


async def test_a_trusted_origin_connects(cast, run, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://arena.example.org"]
    cookie = await database_sync_to_async(session_cookie)(cast.bob)
    assert await connect(run.pk, cookie, "https://arena.example.org")
    assert not await connect(run.pk, cookie, "http://arena.example.org")


async def test_behind_a_tls_proxy_the_forwarded_scheme_counts(cast, run, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await database_sync_to_async(session_cookie)(cast.bob)
    headers = [
        (b"host", b"arena.local"),
        (b"origin", b"https://arena.local"),
        (b"cookie", cookie.encode()),
        (b"x-forwarded-proto", b"https"),
    ]
    settings.ALLOWED_HOSTS = ["arena.local"]
    ws = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    await ws.disconnect()
