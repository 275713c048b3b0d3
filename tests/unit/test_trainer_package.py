"""The checkout is a package too: `pip install -e /path/to/lr-arena` gives a training script the `trainer`
package (the report client's scheduler and LRBench's metrics need it), and nothing of the web app."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkout_builds_a_wheel_of_the_trainer_alone(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("lr_arena-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"trainer"}
    assert "trainer/schedules/__init__.py" in names and "trainer/metrics.py" in names
