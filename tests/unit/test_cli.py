import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
FIX = '{"kind": "FIX", "k0": 0.05}'


def reject_nan(constant: str):
    raise AssertionError(f"{constant} in JSON")


def json_lines(text: str) -> list[dict]:
    return [json.loads(line, parse_constant=reject_nan) for line in text.splitlines()]


def test_json_mode_prints_one_object_per_epoch_then_the_result(capsys):
    code = main(["train", "--workload", "digits-mlp", "--policy", FIX, "--epochs", "2", "--device", "cpu", "--json"])

    out = capsys.readouterr().out
    *epochs, result = json_lines(out)
    assert code == 0
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert result["status"] == "succeeded"
    assert result["summary"]["epochs_completed"] == 2
    assert "epochs" not in result  # already printed, one line each


def test_json_mode_of_a_diverged_run_has_no_nan(capsys):
    huge_lr = '{"kind": "FIX", "k0": 50}'
    code = main(["train", "--workload", "digits-mlp", "--policy", huge_lr, "--epochs", "3", "--json"])

    *epochs, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert len(epochs) == 1 and epochs[0]["train_loss"] is None
    assert result["status"] == "diverged" and result["summary"]["diverged_epoch"] == 1


def test_the_module_runs_as_a_command_with_json_lines_only_on_stdout():
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--workload", "digits-mlp", "--policy", FIX, "--epochs", "1"]
        + ["--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    epoch, result = json_lines(completed.stdout)
    assert epoch["epoch"] == 1
    assert result["status"] == "succeeded"


def test_without_json_it_prints_a_summary_line_and_the_progress_bar_goes_to_stderr(capsys):
    code = main(["train", "--workload", "digits-mlp", "--policy", FIX, "--epochs", "2"])

    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.startswith("succeeded: 2 epochs")
    assert "final acc" in captured.out
    assert "2/2" in captured.err


def test_an_invalid_policy_exits_2_naming_the_field(capsys):
    code = main(["train", "--workload", "digits-mlp", "--policy", '{"kind": "FIX", "k0": -1}', "--json"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "k0" in captured.err
    assert "Traceback" not in captured.err


def test_a_policy_that_is_not_json_exits_2(capsys):
    code = main(["train", "--workload", "digits-mlp", "--policy", "{kind: FIX", "--json"])

    assert code == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_an_unknown_workload_exits_2_listing_the_valid_names(capsys):
    code = main(["train", "--workload", "nope", "--policy", FIX])

    err = capsys.readouterr().err
    assert code == 2
    assert "digits-mlp" in err and "mnist-lenet" in err


@pytest.mark.parametrize("epochs", ["0", "10001"])
def test_epochs_out_of_range_exit_2(capsys, epochs):
    code = main(["train", "--workload", "digits-mlp", "--policy", FIX, "--epochs", epochs])

    assert code == 2
    assert "epochs" in capsys.readouterr().err


def test_bad_input_as_a_command_exits_2_without_a_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--workload", "digits-mlp", "--policy", '{"kind": "NOPE"}'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 2
    assert "kind" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_workloads_lists_every_workload(capsys):
    assert main(["workloads"]) == 0
    out = capsys.readouterr().out
    assert "digits-mlp" in out and "mnist-lenet" in out

    assert main(["workloads", "--json"]) == 0
    assert [w["name"] for w in json.loads(capsys.readouterr().out)] == ["digits-mlp", "mnist-lenet"]
