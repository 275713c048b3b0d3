"""The lr-search, lr-grid and lr-range commands, registered on a parser as trainer/cli.py does."""

import argparse
import json

import pytest

from trainer import engine
from trainer.search import register_cli

SMALL_SEARCH = ["--workload", "gauss2-mlp", "--option", "depth=2", "--option", "width=64", "--device", "cpu"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer")
    register_cli(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.command(args)


def json_lines(text: str) -> list[dict]:
    def reject(constant: str):
        raise AssertionError(f"{constant} in JSON")

    return [json.loads(line, parse_constant=reject) for line in text.splitlines()]


@pytest.fixture
def training_succeeds_iff_lr_at_most_0_37(monkeypatch):
    def fake_train(config, on_epoch=None, should_stop=None):
        accuracy = 0.95 if config.policy["k0"] <= 0.37 else 0.5
        on_epoch({"epoch": 1, "test_acc": accuracy, "train_loss": 0.3})
        return {"status": "succeeded"}

    monkeypatch.setattr(engine, "train", fake_train)


def test_lr_search_json_prints_one_line_per_probe_then_the_result(capsys):
    code = run(
        ["lr-search", *SMALL_SEARCH, "--high", "8", "--iterations", "2", "--epochs", "1"]
        + ["--limit-train-batches", "5", "--json"]
    )

    *probes, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert [p["event"] for p in probes] == ["probe", "probe"]
    assert [p["lr"] for p in probes][0] == 4.0
    assert result["event"] == "result"
    assert result["eta_star"] == probes[-1]["low"]
    assert result["workload_options"]["depth"] == 2
    assert "probes" not in result  # already printed, one line each


def test_lr_search_without_json_prints_a_line_per_probe_and_eta_star(capsys, training_succeeds_iff_lr_at_most_0_37):
    code = run(["lr-search", "--workload", "gauss2-mlp", "--iterations", "3"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split(":")[0] for line in lines[:3]] == ["probe 1", "probe 2", "probe 3"]
    assert "lr 0.5 fell short" in lines[0] and "lr 0.25 reached the threshold" in lines[1]
    assert lines[3].startswith("eta* = 0.25 for gauss2-mlp")


def test_lr_search_says_when_every_probe_succeeded(capsys, training_succeeds_iff_lr_at_most_0_37):
    run(["lr-search", "--workload", "gauss2-mlp", "--high", "0.3", "--iterations", "2"])

    assert "eta* may lie above --high" in capsys.readouterr().out


def test_lr_grid_json_prints_probes_cells_then_the_fit(capsys, training_succeeds_iff_lr_at_most_0_37):
    code = run(
        ["lr-grid", "--workload", "gauss2-mlp", "--depths", "1,2", "--widths", "16,32", "--iterations", "2"]
        + ["--json"]
    )

    lines = json_lines(capsys.readouterr().out)
    assert code == 0
    assert [line["event"] for line in lines].count("probe") == 8
    cells = [line for line in lines if line["event"] == "cell"]
    assert [(c["depth"], c["width"], c["size"]) for c in cells] == [(1, 16, 16), (1, 32, 32), (2, 16, 32), (2, 32, 64)]
    result = lines[-1]
    assert result["event"] == "result"
    assert result["fit"]["p"] == pytest.approx(0.0)  # every eta* is 0.25 here
    assert result["fit"]["n"] == 4 and result["fit_error"] is None
    assert "cells" not in result and "probes" not in result


def test_lr_range_json_prints_one_line_per_step_then_the_suggestions(capsys):
    code = run(
        ["lr-range", "--workload", "digits-mlp", "--min-lr", "1e-4", "--max-lr", "1", "--steps", "12"]
        + ["--device", "cpu", "--json"]
    )

    *steps, result = json_lines(capsys.readouterr().out)
    assert code == 0
    assert [s["step"] for s in steps] == list(range(len(steps)))
    assert steps[0]["lr"] == 1e-4
    assert result["event"] == "result"
    assert set(result["suggestions"]) == {"steepest", "valley", "min_loss", "min_loss_div10"}
    assert "lrs" not in result


def test_lr_range_without_json_prints_the_suggestions_and_a_bar_on_stderr(capsys):
    code = run(["lr-range", "--workload", "digits-mlp", "--steps", "20", "--device", "cpu"])

    captured = capsys.readouterr()
    assert code == 0
    assert "valley" in captured.out and "cyclic prefill" in captured.out
    assert "step" in captured.err  # tqdm's bar


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["lr-search", "--workload", "gauss2-mlp", "--iterations", "0"], "iterations"),
        (["lr-search", "--workload", "gauss2-mlp", "--low", "2", "--high", "1"], "high"),
        (["lr-search", "--workload", "gauss2-mlp", "--threshold", "1.5"], "threshold"),
        (["lr-search", "--workload", "gauss2-mlp", "--option", "depth=0"], "workload_options.depth"),
        (["lr-search", "--workload", "gauss2-mlp", "--option", "depth"], "--option"),
        (["lr-search", "--workload", "nope"], "unknown workload"),
        (["lr-grid", "--workload", "digits-mlp", "--depths", "1", "--widths", "8"], "workload"),
        (["lr-grid", "--workload", "gauss2-mlp", "--depths", "1,1", "--widths", "8"], "depths"),
        (["lr-range", "--workload", "digits-mlp", "--min-lr", "0"], "min_lr"),
        (["lr-range", "--workload", "digits-mlp", "--steps", "1"], "steps"),
    ],
)
def test_bad_input_exits_2_naming_the_argument(capsys, training_succeeds_iff_lr_at_most_0_37, argv, named):
    code = run(argv)

    captured = capsys.readouterr()
    assert code == 2
    assert named in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["lr-grid", "--workload", "gauss2-mlp", "--depths", "1,x", "--widths", "8"], "--depths"),
        (["lr-search", "--workload", "gauss2-mlp", "--epochs", "ten"], "--epochs"),
        (["lr-range", "--workload", "digits-mlp", "--max-lr", "big"], "--max-lr"),
    ],
)
def test_unparseable_values_exit_2_naming_the_flag(capsys, argv, named):
    with pytest.raises(SystemExit) as exit_:
        run(argv)

    assert exit_.value.code == 2
    assert named in capsys.readouterr().err
