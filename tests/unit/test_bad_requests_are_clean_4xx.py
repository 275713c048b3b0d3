"""Bodies and paths that used to crash the server get a clean 4xx: the API's JSON error format, never a 500."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from dashboard.asgi import application

PREVIEW = "/api/schedules/preview/"


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.django_db
@pytest.mark.parametrize("levels", [40, 5000, 100_000])
def test_json_nested_too_deeply_is_a_400_naming_the_problem(api_client, cast, levels):
    api_client.force_authenticate(cast.bob)
    body = '{"spec": ' + nested(levels) + ', "epochs": 10}'
    response = api_client.post(PREVIEW, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 32 levels deep."}


@pytest.mark.django_db
def test_json_nested_a_little_is_read_as_before(api_client, cast):
    api_client.force_authenticate(cast.bob)
    body = '{"spec": {"kind": "FIX", "k0": 0.1, "x": ' + nested(20) + "}}"
    response = api_client.post(PREVIEW, body, content_type="application/json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["spec.x"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [PREVIEW, "/api/policies/", "/api/token/"])
def test_a_body_over_the_upload_limit_is_a_413_in_the_api_format(client, cast, path, settings):
    client.force_login(cast.bob)
    body = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, code",
    [
        ("/ws/leaderboard/%C3%A9t%C3%A9/", 4404),  # ws/leaderboard/été/
        ("/ws/leaderboard/été/", 4404),
        ("/ws/leaderboard/no-such-workload/", 4404),
        ("/ws/nothing/here/", 4404),
        ("/ws/runs/not-a-number/", 4404),
    ],
)
async def test_a_websocket_to_a_bad_path_is_refused_not_a_server_error(cast, path, code):
    key = await database_sync_to_async(lambda: Token.objects.create(user=cast.bob).key)()
    ws = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Token {key}".encode())])
    connected, close_code = await ws.connect()
    assert not connected and close_code == code


@pytest.mark.django_db
@pytest.mark.parametrize("levels", [40, 5000])
def test_the_policy_form_refuses_stages_nested_too_deeply(client, cast, levels):
    client.force_login(cast.bob)
    data = {"name": "deep", "kind": "PIECEWISE", "unit": "epoch", "PIECEWISE__boundaries": "5",
            "PIECEWISE__stages": nested(levels)}
    response = client.post("/policies/new/", data)
    assert response.status_code == 400
    assert "nested more than 32 levels deep" in str(response.context["form"].errors)
