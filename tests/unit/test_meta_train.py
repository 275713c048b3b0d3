"""meta_train: MLR-SNet meta-learned online on digits-mlp, handed over as a LEARNED spec; its command line."""

from __future__ import annotations

import argparse
import json
import statistics

import pytest
import torch

from trainer.meta import MetaInputError, meta_train, register_cli
from trainer.mlrsnet import load_learner, meta_split
from trainer.schedules import validate
from trainer.schedules.learned import build_learned
from trainer.workloads import UnknownWorkload

EPOCHS = 4
EPOCH_KEYS = {"epoch", "train_loss", "test_acc", "test_loss", "lr_first", "lr_last", "lr_mean", "lr_trace", "gamma"}


@pytest.fixture(scope="module")
def run() -> dict:
    reported: list[dict] = []
    result = meta_train("digits-mlp", epochs=EPOCHS, seed=0, device="cpu", on_epoch=reported.append)
    result["reported"] = reported
    return result


def test_every_epoch_is_reported_with_the_learned_lr_and_the_meta_loss(run):
    assert run["status"] == "succeeded" and run["reported"] == run["epochs"]
    assert [e["epoch"] for e in run["epochs"]] == list(range(1, EPOCHS + 1))
    for e in run["epochs"]:
        assert EPOCH_KEYS <= set(e) and e["meta_loss"] is not None and e["meta_updates"] > 0
        assert 1 <= len(e["lr_trace"]) <= 50 and all(0.0 < lr < run["gamma"] for _, lr in e["lr_trace"])
    json.dumps(run["epochs"], allow_nan=False)


def test_gamma_comes_from_the_initial_loss_over_the_training_data_capped_by_the_range_test(run):
    assert run["gamma_paper"] == pytest.approx(0.669, abs=0.05)  # an untrained 10-class net scores about ln 10
    assert run["lr_cap_source"] == "range test valley" and 0.0 < run["lr_cap"] < run["gamma_paper"]
    assert run["gamma"] == run["lr_cap"]


def test_it_meta_trains_with_the_workloads_momentum_and_the_spec_says_so(run):
    assert run["momentum"] == 0.9  # digits-mlp's SGD
    assert run["spec"]["momentum"] == 0.9 and run["spec"]["lr_cap"] == run["lr_cap"]


def test_a_given_lr_cap_caps_gamma_and_a_large_one_leaves_the_papers():
    capped = meta_train("digits-mlp", epochs=1, lr_cap=0.05, limit_train_batches=3, device="cpu")
    uncapped = meta_train("digits-mlp", epochs=1, lr_cap=5.0, limit_train_batches=3, device="cpu")
    assert capped["gamma"] == 0.05 and capped["lr_cap_source"] == "given"
    assert uncapped["gamma"] == uncapped["gamma_paper"] == pytest.approx(0.669, abs=0.05)


def test_the_default_meta_set_and_meta_update_interval(run):
    assert run["meta_set_size"] == 140  # 10% of 1,437, rounded down to 14 per class
    assert run["meta_every"] == 1  # 4 epochs × 41 iterations: fewer than the paper's 260 meta-updates
    assert sum(e["meta_updates"] for e in run["epochs"]) == run["epochs"][-1]["epoch"] * 41


def test_the_learned_lr_changes_over_training(run):
    means = [e["lr_mean"] for e in run["epochs"]]  # in units of γ, the most the net can set
    assert statistics.pstdev(means) > 0.0075 * run["gamma"]
    assert abs(run["epochs"][0]["lr_first"] - run["epochs"][-1]["lr_last"]) > 0.03 * run["gamma"]


def test_it_learns_the_task(run):
    assert run["epochs"][-1]["test_acc"] > 0.9
    assert run["epochs"][-1]["train_loss"] < run["epochs"][0]["train_loss"]


def test_the_net_is_saved_every_epoch_and_meta_learning_changed_it(run):
    assert sorted(run["checkpoints"]) == list(range(1, EPOCHS + 1))
    first, last = (load_learner(run["checkpoints"][e]).state_dict() for e in (1, EPOCHS))
    assert any(not torch.equal(first[name], last[name]) for name in first)


def test_the_spec_uses_the_first_middle_and_last_checkpoints_and_survives_json(run):
    spec = run["spec"]
    assert spec["kind"] == "LEARNED" and spec["gamma"] == "recompute" and spec["num_classes"] == 10
    assert spec["learners"] == [run["checkpoints"][e] for e in (1, 2, EPOCHS)]
    assert validate(json.loads(json.dumps(spec))) == spec
    build_learned(spec)


def test_the_meta_set_is_class_balanced_and_held_out():
    labels = torch.arange(10).repeat_interleave(30)[torch.randperm(300, generator=torch.Generator().manual_seed(1))]
    meta, train = meta_split(labels, 10, 57, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[meta], minlength=10).tolist() == [5] * 10
    assert sorted(meta.tolist() + train.tolist()) == list(range(300))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": 1, "seed": "0"}, "seed"),
        ({"epochs": 1, "meta_every": 0}, "meta_every"),
        ({"epochs": 1, "meta_set_size": 5}, "meta_set_size"),  # fewer than one per class
        ({"epochs": 1, "meta_set_size": 1400}, "meta_set_size"),  # more than a class holds
        ({"epochs": 1, "device": "tpu"}, "device"),
        ({"epochs": 1, "workload_options": {"depth": 3}}, "workload_options"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, field):
    with pytest.raises(MetaInputError) as caught:
        meta_train("digits-mlp", **arguments)
    assert caught.value.field == field


def test_an_unknown_workload_is_refused():
    with pytest.raises(UnknownWorkload):
        meta_train("imagenet-vit", epochs=1)


# The command line, on a parser of our own (trainer/cli.py wires it into `python -m trainer`).


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="trainer")
    register_cli(root.add_subparsers(required=True))
    return root


def cli(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return args.command(args)


FAST = ["--workload", "digits-mlp", "--epochs", "1", "--limit-train-batches", "5", "--device", "cpu"]


def test_meta_train_writes_the_learned_spec_and_prints_json_lines(tmp_path, capsys):
    out = tmp_path / "learned.json"
    assert cli(["meta-train", *FAST, "--out", str(out), "--json"]) == 0
    epoch, result = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert epoch["epoch"] == 1 and result["status"] == "succeeded" and result["out"] == str(out)
    assert validate(json.loads(out.read_text()))["kind"] == "LEARNED"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--workload", "nope", "--epochs", "1"], "--workload"),
        (["--workload", "digits-mlp", "--epochs", "0"], "--epochs"),
        (["--workload", "digits-mlp", "--epochs", "1", "--meta-set-size", "3"], "--meta-set-size"),
        (["--workload", "digits-mlp", "--epochs", "1", "--device", "gpu9"], "--device"),
    ],
)
def test_bad_input_exits_2_naming_the_argument(tmp_path, capsys, argv, named):
    assert cli(["meta-train", *argv, "--out", str(tmp_path / "x.json")]) == 2
    assert named in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_an_out_file_in_a_missing_directory_is_refused_before_training(tmp_path, capsys):
    assert cli(["meta-train", *FAST, "--out", str(tmp_path / "missing" / "x.json")]) == 2
    assert "--out" in capsys.readouterr().err


def test_a_malformed_number_exits_2_naming_the_argument(capsys):
    with pytest.raises(SystemExit) as caught:
        parser().parse_args(["meta-train", "--workload", "digits-mlp", "--epochs", "many", "--out", "x.json"])
    assert caught.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_a_diverging_meta_training_still_reports_json_safe_epochs():
    from trainer.core import json_safe as _finite_or_none

    report = _finite_or_none({"lr_trace": [[0.0, float("nan")], [0.5, 0.1]], "train_loss": float("inf"), "epoch": 1})
    assert report == {"lr_trace": [[0.0, None], [0.5, 0.1]], "train_loss": None, "epoch": 1}
