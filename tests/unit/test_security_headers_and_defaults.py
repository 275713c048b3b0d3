"""A strict Content-Security-Policy on every page, pages that need nothing more, and safe deployment defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
THIRD_PARTY = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/", "/policies/new/", "/leaderboard/", "/api/redoc/", "/api/docs/"])
def test_every_page_has_a_strict_content_security_policy(client, cast, path):
    client.force_login(cast.bob)
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other site
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert all("http" not in source for sources in policy.values() for source in sources)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_runs_inline_script_or_loads_from_another_site(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to static/js"
    assert not INLINE_HANDLER.search(text), "inline event handler: listen in static/js"
    assert not THIRD_PARTY.search(text), "a third-party asset: serve it from static/"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/redoc/", "/api/docs/"])
def test_the_api_docs_load_nothing_from_the_internet(client, path):
    html = client.get(path).content.decode()
    assert not THIRD_PARTY.search(html) and "fonts.googleapis" not in html
    assert not INLINE_SCRIPT.search(html)


def compose_env() -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def test_docker_compose_ships_no_debug_no_default_key_and_no_demo_account():
    compose = compose_env()
    env = compose["x-arena-env"]
    assert env["DJANGO_DEBUG"] in ("0", "false", "")
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]+\}", env["DJANGO_SECRET_KEY"]), "the key must be required"
    web = compose["services"]["web"]
    assert "ARENA_SEED_DEMO" not in web["environment"] and "ARENA_DEMO_PASSWORD" not in web["environment"]
    assert all(str(port).startswith("127.0.0.1:") for port in web["ports"])
    assert "postgres" not in compose["services"] or "ports" not in compose["services"]["postgres"]


@pytest.mark.django_db
def test_the_first_admin_gets_a_printed_one_time_password(capsys, monkeypatch):
    from django.contrib.auth import get_user_model

    monkeypatch.delenv("ARENA_ADMIN_PASSWORD", raising=False)
    call_command("create_first_admin")
    printed = capsys.readouterr().out
    password = re.search(r"one-time password '([^']+)'", printed).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password) and len(password) >= 20
    call_command("create_first_admin")  # a second start changes nothing and prints nothing
    assert capsys.readouterr().out == "" and get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_the_first_admin_takes_its_password_from_the_environment(capsys, monkeypatch):
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("ARENA_ADMIN_USER", "root")
    monkeypatch.setenv("ARENA_ADMIN_PASSWORD", "a-long-chosen-passphrase")
    call_command("create_first_admin")
    assert "a-long-chosen-passphrase" not in capsys.readouterr().out
    assert get_user_model().objects.get(username="root").check_password("a-long-chosen-passphrase")


@pytest.mark.django_db
def test_redocs_bundle_is_served_without_its_third_party_logo(client):
    from dashboard.api.docs import THIRD_PARTY_LOGO

    response = client.get("/api/redoc/redoc.standalone.js")
    body = b"".join(response) if response.streaming else response.content
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    assert b"Redoc" in body and THIRD_PARTY_LOGO.encode() not in body and b"cdn.redoc.ly/redoc/logo" not in body
