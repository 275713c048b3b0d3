"""The example workload plugin (examples/charlm), installed into the test environment.

`make test` creates the virtualenv from requirements.txt, which does not list the
example (production images should not carry it); the test session installs it
instead, before any test or any worker process starts, with
`pip install --no-deps -e examples/charlm`. An editable install of this checkout
that is already there is kept, so the check costs milliseconds after the first
session. The workers and daphne that tests/stack.py starts are new processes:
they find the plugin through its entry point as a deployment would.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "examples" / "charlm"
DISTRIBUTION = "lr-arena-charlm"


def installed_here() -> bool:
    """Whether the plugin is installed, editable, from this checkout."""
    try:
        direct_url = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    if not direct_url:
        return False
    url = json.loads(direct_url)
    return url.get("dir_info", {}).get("editable", False) and url.get("url") == PLUGIN_DIR.as_uri()


def ensure_installed() -> None:
    if not installed_here():
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(PLUGIN_DIR)]
        if importlib.util.find_spec("setuptools") is not None:
            command.insert(-2, "--no-build-isolation")  # offline: the environment's own setuptools builds it
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"installing the example plugin failed:\n{done.stdout}\n{done.stderr}")
    # This process started before the install: let it import the package and see its entry point now.
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.append(str(PLUGIN_DIR))
    importlib.invalidate_caches()
    from trainer.plugins import reload_plugins

    reload_plugins()
