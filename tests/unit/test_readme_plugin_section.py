"""The README's plugin section shows the example plugin's real code, and its commands work."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = REPO_ROOT / "examples" / "charlm"


def plugin_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## Benchmark on your own model: workload plugins")
    return readme[start : readme.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", plugin_section(), flags=re.DOTALL)


def test_the_readme_shows_the_whole_declaration_and_the_entry_point_of_the_example():
    (declaration,) = blocks("python")
    (entry_point,) = blocks("toml")

    assert declaration == (PLUGIN / "lr_arena_charlm" / "__init__.py").read_text()
    assert entry_point in (PLUGIN / "pyproject.toml").read_text()


def test_the_readme_installs_the_plugin_as_the_test_session_does():
    (commands,) = blocks("sh")

    assert ".venv/bin/pip install -e examples/charlm" in commands
    assert '"-e", str(PLUGIN_DIR)' in (REPO_ROOT / "tests" / "example_plugin.py").read_text()


def trainer_commands() -> list[list[str]]:
    (commands,) = blocks("sh")
    lines = [line.split("  #")[0].strip() for line in commands.splitlines()]
    prefix = ".venv/bin/python -m trainer "
    arguments = [shlex.split(line[len(prefix) :]) for line in lines if line.startswith(prefix)]
    return [[sys.executable, "-m", "trainer", *args] for args in arguments]


def test_the_readmes_workloads_command_lists_the_plugin_with_its_origin():
    listing, _ = trainer_commands()

    done = subprocess.run(listing, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert re.search(r"^charlm +.*\(plugin charlm: lr-arena-charlm 0\.1\.0\)$", done.stdout, flags=re.MULTILINE)


def test_the_readmes_train_command_trains_the_plugins_workload():
    _, train = trainer_commands()
    short = ["--epochs", "1", "--limit-train-batches", "5", "--limit-test-batches", "1", "--device", "cpu", "--json"]

    done = subprocess.run([*train, *short], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    *epochs, result = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["status"] == "succeeded" and result["workload"] == "charlm"
    assert epochs[0]["lr_first"] == 0 and "test_perplexity" in epochs[0]
