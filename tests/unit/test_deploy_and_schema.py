"""Production settings pass Django's deploy checks; the API is described and fuzzed from its own schema."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "arena.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": ""}
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "DJANGO_SECRET_KEY" in done.stderr


@pytest.mark.django_db
def test_the_openapi_schema_describes_every_endpoint(client, cast):
    client.force_login(cast.bob)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = response.json()
    assert response.status_code == 200 and schema["openapi"].startswith("3.")
    for path in [
        "/api/policies/",
        "/api/runs/",
        "/api/runs/{id}/cancel/",
        "/api/studies/",
        "/api/leaderboard/",
        "/api/leaderboard/export/",
        "/api/leaderboard/profile/",
        "/api/leaderboard/profile/export/",
        "/api/schedules/preview/",
        "/api/compare/",
        "/api/teams/",
    ]:
        assert path in schema["paths"], path
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content.lower()
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.content.decode())
    # served here, no CDN; the set-up script is the split view's own (?script=), not inline
    assert sources and all(src.startswith(("/static/", "/api/docs/?script")) for src in sources), sources
