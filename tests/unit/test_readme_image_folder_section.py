"""The README's image-folder section works as written: its commands build a folder and train on it, its API call
queues the run it shows, and its table lists every option the workload declares."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.models import Run
from trainer.workloads import get_workload

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FOLDER = "/tmp/digits"  # the README's path; the tests put the folder in their own tmp_path


def section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## Your own images: the image-folder workload")
    return readme[start : readme.index("\n## ", start + 1)]


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section(), flags=re.DOTALL)


def commands(block: str, folder: Path) -> list[list[str]]:
    """Each `.venv/bin/python -m ...` command of a block, continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    lines = [line.split("  #")[0].strip() for line in joined.splitlines()]
    prefix = ".venv/bin/python "
    return [
        [sys.executable, *shlex.split(line[len(prefix) :].replace(EXAMPLE_FOLDER, str(folder)))]
        for line in lines
        if line.startswith(prefix)
    ]


def test_the_readme_commands_build_a_folder_and_train_on_it(tmp_path):
    make_folder, train = commands(sh_blocks()[0], tmp_path / "digits")

    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}  # two cores shared with other processes: one is faster
    for command in (make_folder, train):
        done = subprocess.run(command, cwd=REPO_ROOT, env=one_thread, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("succeeded: 2 epochs"), done.stdout
    final_acc = float(re.search(r"final acc ([0-9.]+)", done.stdout).group(1))
    assert final_acc > 0.6  # the README says 88%; chance is 33%
    assert sorted(p.name for p in (tmp_path / "digits" / "val").iterdir()) == ["digit0", "digit1", "digit7"]


def test_the_readme_api_call_queues_the_run_it_shows(api_client, cast, step_policy, django_capture_on_commit_callbacks):
    [curl] = [block for block in sh_blocks() if "/api/runs/" in block]
    payload = json.loads(re.search(r"-d '(.*)'", curl).group(1))
    api_client.force_authenticate(cast.bob)

    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post("/api/runs/", {**payload, "policy": step_policy.pk}, format="json")

    assert response.status_code == 201, response.json()
    assert Run.objects.get().workload_options == {"path": EXAMPLE_FOLDER, "image_size": 32, "batch_size": 16}


@pytest.mark.parametrize("option", get_workload("image-folder").options, ids=lambda o: o.name)
def test_the_readme_table_lists_every_option_with_its_default(option):
    if option.required:
        default = "required"
    else:
        default = f"`{option.default}`" if option.type is str else json.dumps(option.default)

    assert f"\n| `{option.name}` | {default} |" in section()
