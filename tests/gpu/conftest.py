"""The GPU checks: the trainer on CUDA, without Django.

Every test here takes the `device` fixture: CUDA by default, skipped where
there is none (so the ordinary test run skips them all). GPU_CHECK_DEVICE=cpu
runs them on the CPU instead, which is how `scripts/gpu-check.sh --dry-run`
proves them before the one call on a GPU machine. GPU_CHECK_QUICK=1 shrinks
the sizes; GPU_CHECK_RESULTS=<folder> makes the tests write what they measured
there as gpu-tests.json.

Nothing here may import Django: the GPU machine has none.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from tests.gpu.env import DEVICE, QUICK

_measured: list[dict] = []


@pytest.fixture(scope="session")
def device() -> torch.device:
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("needs CUDA (GPU_CHECK_DEVICE=cpu runs the GPU checks on the CPU)")
    return torch.device(DEVICE)


@pytest.fixture
def record(request):
    """record(**numbers): keep what a test measured, under its name, for gpu-tests.json."""

    def keep(**numbers) -> None:
        _measured.append({"test": request.node.nodeid, **numbers})
        _write()  # as it goes: a run stopped at its time limit keeps what it measured

    return keep


def pytest_sessionfinish(session, exitstatus):
    _write()


def _write() -> None:
    folder = os.environ.get("GPU_CHECK_RESULTS")
    if folder and _measured:
        Path(folder).mkdir(parents=True, exist_ok=True)
        imported = "django" in sys.modules  # run through tests/gpu/pytest.ini, nothing may have imported it
        summary = {"device": DEVICE, "quick": QUICK, "django_imported": imported, "measured": _measured}
        (Path(folder) / "gpu-tests.json").write_text(json.dumps(summary, indent=1))
