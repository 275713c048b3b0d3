from __future__ import annotations

import pytest

from tests import example_plugin
from tests.stack import Stack


def pytest_sessionstart(session) -> None:
    # Before any worker process starts: they must find the example plugin's entry point (tests/example_plugin.py).
    example_plugin.ensure_installed()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """A running deployment: redis-server, a Celery worker and daphne, shared by the session."""
    deployment = Stack(tmp_path_factory.mktemp("stack"))
    try:
        deployment.start()
    except Exception:
        deployment.stop()
        for name in deployment.logs:
            print(f"--- {name} log ---\n{deployment.log_tail(name)}")
        raise
    yield deployment
    deployment.stop()
