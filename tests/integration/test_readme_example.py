"""The README's Python example works against a real deployment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.stack import DEMO_PASSWORD, ROOT

pytestmark = pytest.mark.integration


def test_the_study_example_queues_waits_and_prints_the_board(stack):
    done = subprocess.run(
        [
            sys.executable,
            "examples/queue_study.py",
            "--url",
            stack.base_url,
            "--password",
            DEMO_PASSWORD,
            "--epochs",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 of 6 runs finished" in done.stdout
    board = done.stdout.split("leaderboard:")[1]
    assert "example: fixed 0.05" in board and "example: triangle" in board and "n=3" in board
