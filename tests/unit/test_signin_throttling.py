"""Failed sign-ins are throttled per username and per address, on the login page and the API's token endpoint."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

LIMIT = 10  # settings.AXES_FAILURE_LIMIT, from ARENA_SIGNIN_FAILURES


def token(api_client, username, password, address="10.0.0.1"):
    return api_client.post("/api/token/", {"username": username, "password": password}, REMOTE_ADDR=address)


def login(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_limit_comes_from_the_settings(settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT


def test_the_token_endpoint_refuses_even_the_right_password_after_too_many_failures(api_client, cast):
    codes = [token(api_client, "alice", "wrong").status_code for _ in range(LIMIT + 19)]
    assert set(codes[: LIMIT - 1]) == {400} and codes[-1] == 429
    locked = token(api_client, "alice", "alice-pass-123")
    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed sign-ins") and int(locked["Retry-After"]) > 0


def test_the_login_page_refuses_even_the_right_password_after_too_many_failures(client, cast):
    for _ in range(LIMIT + 19):
        login(client, "alice", "wrong")
    locked = login(client, "alice", "alice-pass-123")
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


def test_failures_for_one_username_lock_it_from_every_address(api_client, cast):
    for i in range(LIMIT):
        token(api_client, "alice", "wrong", address=f"10.0.1.{i}")
    assert token(api_client, "alice", "alice-pass-123", address="10.0.2.1").status_code == 429
    assert token(api_client, "bob", "bob-pass-123", address="10.0.2.1").status_code == 200


def test_failures_from_one_address_lock_it_for_every_username(api_client, cast):
    for i in range(LIMIT):
        token(api_client, f"nobody{i}", "wrong", address="10.0.3.1")
    assert token(api_client, "bob", "bob-pass-123", address="10.0.3.1").status_code == 429
    assert token(api_client, "bob", "bob-pass-123", address="10.0.3.2").status_code == 200


def test_successful_sign_ins_never_count(api_client, client, cast):
    for _ in range(3 * LIMIT):
        assert token(api_client, "bob", "bob-pass-123").status_code == 200
    for _ in range(3 * LIMIT):
        assert login(client, "bob", "bob-pass-123").status_code == 302


def test_a_success_resets_the_failures(api_client, cast):
    for _ in range(LIMIT - 1):
        token(api_client, "bob", "wrong")
    assert token(api_client, "bob", "bob-pass-123").status_code == 200
    for _ in range(LIMIT - 1):
        token(api_client, "bob", "wrong")
    assert token(api_client, "bob", "bob-pass-123").status_code == 200
