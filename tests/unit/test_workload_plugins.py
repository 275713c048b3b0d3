"""Workload plugins: discovery through entry points, lazy factories, and failures reported by name."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from trainer import plugins
from trainer.workloads import (
    WORKLOADS,
    OptimizerDefaults,
    Option,
    UnknownWorkload,
    Workload,
    get_workload,
    list_workloads,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GROUP = plugins.ENTRY_POINT_GROUP


def declaration(name: str = "toy", **fields) -> Workload:
    return Workload(
        **{
            "name": name,
            "title": "A toy",
            "description": "Nothing to learn.",
            "num_classes": 3,
            "batch_size": 8,
            "default_epochs": 2,
            "target_accuracy": 0.5,
            "optimizer": OptimizerDefaults(),
            "load_data": "toy_plugin_that_does_not_exist.data:load",
            "build_model": "toy_plugin_that_does_not_exist.model:build",
            "input_shape": (4,),
            "train_size": 16,
            "test_size": 8,
            **fields,
        }
    )


# Objects the fake entry points below point at (tests.unit.test_workload_plugins:NAME).
TOY = declaration("toy")
TWINS = [declaration("toy-a"), declaration("toy-b")]
NOT_A_WORKLOAD = {"name": "toy"}
TAKES_A_BUILT_IN_NAME = declaration("digits-mlp")


def make_toys() -> list[Workload]:
    return [declaration("toy-made")]


def raise_on_call() -> Workload:
    raise RuntimeError("the plugin's own bug")


@pytest.fixture
def entry_points(monkeypatch):
    """Install fake entry points of the group, by name -> target; the registry reloads from them."""

    def install(targets: dict[str, str]) -> None:
        found = [metadata.EntryPoint(name=name, value=value, group=GROUP) for name, value in targets.items()]
        monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: found if group == GROUP else [])
        plugins.reload_plugins()

    yield install
    plugins.reload_plugins()


def here(attribute: str) -> str:
    return f"{__name__}:{attribute}"


def test_a_plugins_workload_is_listed_after_the_built_ins_and_can_be_got_by_name(entry_points):
    entry_points({"toy": here("TOY")})

    names = [w["name"] for w in list_workloads()]

    assert names == [*WORKLOADS, "toy"]
    assert get_workload("toy") is TOY
    toy = next(w for w in list_workloads() if w["name"] == "toy")
    assert toy["plugin"] == {"entry_point": "toy", "distribution": None, "version": None}
    assert all(w["plugin"] is None for w in list_workloads() if w["name"] in WORKLOADS)


def test_an_entry_point_may_give_a_list_or_a_function_returning_workloads(entry_points):
    entry_points({"twins": here("TWINS"), "made": here("make_toys")})

    assert {"toy-a", "toy-b", "toy-made"} <= {w["name"] for w in list_workloads()}
    assert [s.workloads for s in plugins.plugin_statuses()] == [("toy-made",), ("toy-a", "toy-b")]


@pytest.mark.parametrize(
    "target, error",
    [
        ("toy_plugin_that_does_not_exist:WORKLOAD", "ModuleNotFoundError"),
        (here("NOT_A_WORKLOAD"), "must be a trainer.workloads.Workload"),
        (here("raise_on_call"), "the plugin's own bug"),
        (here("TAKES_A_BUILT_IN_NAME"), "'digits-mlp' is already taken by a built-in workload"),
    ],
)
def test_a_plugin_that_fails_is_reported_by_name_and_the_others_still_load(entry_points, caplog, target, error):
    entry_points({"broken": target, "toy": here("TOY")})

    statuses = {s.entry_point: s for s in plugins.plugin_statuses()}

    assert not statuses["broken"].loaded and error in statuses["broken"].error
    assert statuses["toy"].loaded and statuses["toy"].workloads == ("toy",)
    assert get_workload("toy") is TOY
    assert get_workload("digits-mlp") is WORKLOADS["digits-mlp"]
    assert "workload plugin 'broken'" in caplog.text and error in caplog.text


def test_two_plugins_declaring_one_name_keep_the_first_and_report_the_second(entry_points):
    entry_points({"a-first": here("TOY"), "b-second": here("TOY")})

    first, second = plugins.plugin_statuses()

    assert first.loaded and not second.loaded
    assert "'toy' is already taken by plugin 'a-first'" in second.error


def test_a_workload_of_a_plugin_that_failed_is_unknown_and_the_error_names_the_plugin(entry_points):
    entry_points({"broken": "toy_plugin_that_does_not_exist:WORKLOAD"})

    with pytest.raises(UnknownWorkload, match="plugins that failed to load here: broken \\(ModuleNotFoundError"):
        get_workload("toy")


def test_string_factories_are_imported_only_when_called():
    workload = declaration()  # its modules do not exist: declaring it imports nothing

    assert workload.resolve_options({}) == {}
    with pytest.raises(ModuleNotFoundError, match="toy_plugin_that_does_not_exist"):
        workload.create_model()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "Has Spaces"}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"num_classes": 1}, "num_classes"),
        ({"batch_size": 0}, "batch_size"),
        ({"target_accuracy": 1.5}, "target_accuracy"),
        ({"optimizer": OptimizerDefaults(name="lion")}, "optimizer"),
        ({"build_model": "no_colon"}, "build_model"),
        ({"load_data": 42}, "load_data"),
        ({"input_shape": (0,)}, "input_shape"),
        ({"prefers_gpu": "yes"}, "prefers_gpu"),
        ({"options": (Option("paths", list, []),)}, "options"),  # int, float, bool or str
        ({"options": (Option("size", int, None),)}, "options"),  # only a str option may be required
        ({"options": (Option("mode", str, "a", choices=("b", "c")),)}, "options"),
        ({"options": (Option("depth", int, 0, low=1),)}, "options"),
    ],
)
def test_an_invalid_declaration_raises_a_value_error_naming_the_field(fields, field):
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        declaration(**fields)


def test_a_workload_with_adamw_defaults_trains_with_pytorchs_betas_and_its_own_weight_decay():
    workload = declaration(optimizer=OptimizerDefaults(name="adamw", weight_decay=0.05))

    assert workload.summary()["optimizer"] == {
        "name": "adamw",
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.05,
    }


def fake_distribution(site: Path, name: str, entry_points: str) -> None:
    """A distribution's metadata as pip leaves it, enough for importlib.metadata to find its entry points."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entry_points}\n")


def test_the_workloads_command_names_a_broken_plugin_on_stderr_and_lists_the_rest(tmp_path):
    fake_distribution(tmp_path, "broken-plugin", "broken = broken_plugin_module:WORKLOAD")
    (tmp_path / "broken_plugin_module.py").write_text("raise ImportError('a dependency is missing')\n")

    done = subprocess.run(
        [sys.executable, "-m", "trainer", "workloads", "--json"],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert {w["name"] for w in json.loads(done.stdout)} >= set(WORKLOADS)
    assert "workload plugin 'broken'" in done.stderr
    assert "broken-plugin" in done.stderr and "a dependency is missing" in done.stderr


@pytest.mark.django_db
def test_the_admin_index_names_a_plugin_that_failed_to_load(entry_points, admin_client):
    entry_points({"broken": "toy_plugin_that_does_not_exist:WORKLOAD", "toy": here("TOY")})

    page = admin_client.get("/admin/").content.decode()

    assert "Workload plugin <strong>broken</strong>" in page and "ModuleNotFoundError" in page
    assert "Workload plugin <strong>toy</strong>" not in page


@pytest.mark.django_db
def test_the_api_lists_each_plugin_with_its_workloads_or_its_error(entry_points, admin_client):
    entry_points({"broken": "toy_plugin_that_does_not_exist:WORKLOAD", "toy": here("TOY")})

    plugins_listed = {p["entry_point"]: p for p in admin_client.get("/api/workloads/plugins/").json()}
    workloads = {w["name"]: w for w in admin_client.get("/api/workloads/").json()}

    assert plugins_listed["broken"]["loaded"] is False and "ModuleNotFoundError" in plugins_listed["broken"]["error"]
    assert plugins_listed["toy"] == {
        "entry_point": "toy",
        "target": here("TOY"),
        "distribution": None,
        "version": None,
        "workloads": ["toy"],
        "loaded": True,
        "error": None,
    }
    assert workloads["toy"]["plugin"]["entry_point"] == "toy" and workloads["digits-mlp"]["plugin"] is None


def test_a_plugin_whose_declaration_imports_torch_loads_with_a_warning(tmp_path):
    fake_distribution(tmp_path, "heavy-plugin", "heavy = heavy_plugin_module:WORKLOAD")
    (tmp_path / "heavy_plugin_module.py").write_text(
        "import torch\n"
        "from tests.unit.test_workload_plugins import declaration\n"
        "WORKLOAD = declaration('heavy')\n"
    )
    code = (
        "import logging; logging.basicConfig()\n"
        "import trainer.workloads as w\n"
        "assert 'heavy' in [s['name'] for s in w.list_workloads()]\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": f"{REPO_ROOT}:{tmp_path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "workload plugin 'heavy' imported torch with its declaration" in done.stderr
