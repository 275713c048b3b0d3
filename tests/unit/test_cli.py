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
    listed = json.loads(capsys.readouterr().out)
    assert [w["name"] for w in listed if w["plugin"] is None] == [
        "digits-mlp",
        "mnist-lenet",
        "mnist1d-mlp",
        "mnist-mlp",
        "gauss2-mlp",
        "cifar10-cnn3",
        "cifar10-resnet20",
        "cifar10-preresnet32",
        "image-folder",
    ]
    assert "charlm" in [w["name"] for w in listed if w["plugin"] is not None]  # the test session installs it


def test_workloads_shows_each_workloads_options(capsys):
    main(["workloads"])

    out = capsys.readouterr().out
    assert "--option depth=... (int, default 4)" in out
    assert "--option fix_bn=... (bool, default false)" in out
    assert "--option path=... (str, required)" in out
    assert '--option loading=... (str, one of auto, memory, stream; default "auto")' in out
    assert '--option model=... (str, one of 80 names, alexnet to wide_resnet50_2 (--json lists them); default' in out


def short(workload: str, *flags: str) -> list[str]:
    """A seconds-long run's arguments: JSON lines, synthetic data, two batches per epoch."""
    return ["train", "--workload", workload, "--policy", FIX, "--epochs", "1", "--device", "cpu", "--json"] + [
        "--synthetic",
        "--limit-train-batches",
        "2",
        "--limit-test-batches",
        "1",
        *flags,
    ]


def test_option_flags_set_the_workload_options_of_a_synthetic_run(capsys):
    code = main(short("gauss2-mlp", "--option", "depth=1", "--option", "width=8", "--option", "input_lr_scale=0.5"))

    epoch, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert result["workload_options"] == {"depth": 1, "width": 8, "input_lr_scale": 0.5}
    assert result["synthetic"] is True
    assert epoch["iterations"] == 2


def test_a_synthetic_cifar_run_needs_no_data(capsys, tmp_path):
    code = main(short("cifar10-cnn3", "--data-dir", str(tmp_path)))

    _, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert result["synthetic"] is True and result["status"] == "succeeded"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--option", "depth=0"], "workload_options.depth"),
        (["--option", "colour=red"], "workload_options.colour"),
        (["--option", "depth"], "--option must be NAME=VALUE"),
        (["--option", "depth=2", "--option", "depth=3"], "--option depth is given twice"),
        (["--optimizer", '{"momentum": 2}'], "optimizer.momentum"),
        (["--optimizer", '{"name": "rmsprop"}'], "optimizer.name"),
        (["--optimizer", "adam"], "--optimizer is not valid JSON"),
        (["--limit-train-batches", "0"], "limit_train_batches"),
    ],
)
def test_bad_options_and_optimizers_exit_2_naming_the_field(capsys, flags, message):
    code = main(short("mnist-mlp", *flags))

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == "" and "Traceback" not in captured.err


def test_the_optimizer_flag_overrides_the_workloads_optimizer(capsys):
    code = main(short("digits-mlp", "--optimizer", '{"name": "adamw", "weight_decay": 0.02}'))

    _, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert result["optimizer"] == {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.02}


def test_checkpoint_resumes_a_run_with_more_epochs_and_prints_only_the_new_ones(capsys, tmp_path):
    path = str(tmp_path / "run.pt")
    run = ["train", "--workload", "digits-mlp", "--policy", FIX, "--device", "cpu", "--json", "--checkpoint", path]

    assert main(run + ["--epochs", "1"]) == 0
    capsys.readouterr()
    code = main(run + ["--epochs", "2"])

    epoch, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert epoch["epoch"] == 2
    assert result["resumed_from_epoch"] == 1 and result["summary"]["epochs_completed"] == 2


def test_a_checkpoint_from_another_run_exits_2_naming_what_differs(capsys, tmp_path):
    path = str(tmp_path / "run.pt")
    run = ["train", "--workload", "digits-mlp", "--policy", FIX, "--epochs", "2", "--json", "--checkpoint", path]
    main(run + ["--limit-train-batches", "1"])
    capsys.readouterr()

    code = main(run + ["--seed", "5"])

    err = capsys.readouterr().err
    assert code == 2
    assert "its seed is 0" in err and "Traceback" not in err


class UnreachableMNIST:
    def __init__(self, root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")


@pytest.mark.parametrize("workload", ["mnist-lenet", "mnist-mlp"])
def test_mnist_missing_with_no_download_possible_exits_2_with_a_clear_message(capsys, monkeypatch, tmp_path, workload):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", UnreachableMNIST)

    code = main(["train", "--workload", workload, "--policy", FIX, "--epochs", "1", "--data-dir", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert f"MNIST is not in {tmp_path / 'MNIST' / 'raw'} and could not be downloaded" in err
    assert "--data-dir" in err and "Traceback" not in err


def test_cifar10_missing_with_no_download_possible_suggests_synthetic_data(capsys, monkeypatch, tmp_path):
    import torchvision.datasets

    def unreachable(root, train, download):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", unreachable)

    code = main(["train", "--workload", "cifar10-cnn3", "--policy", FIX, "--epochs", "1", "--data-dir", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert "CIFAR-10 is not in" in err and "--synthetic" in err
