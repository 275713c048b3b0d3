"""The `equivalence` command, through a parser of our own (trainer/cli.py adds it with register_cli)."""

import argparse
import json

import pytest

from trainer.equivalence import register_cli

FIX = '{"kind": "FIX", "k0": 0.1}'


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trainer")
    register_cli(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.command(args)


def reject_nan(constant: str):
    raise AssertionError(f"{constant} in JSON")


def test_json_mode_prints_the_whole_study_as_one_object(capsys):
    code = run(["equivalence", "--policy", FIX, "--wd", "5e-3", "--iterations", "30", "--json"])

    out = capsys.readouterr().out
    study = json.loads(out, parse_constant=reject_nan)
    assert code == 0
    assert len(out.strip().splitlines()) == 1
    assert study["total_iterations"] == 30 and study["wd"] == 5e-3
    assert study["max_prob_diff_overall"] < 1e-12
    assert study["converted_spec"]["kind"] == "NOWD"


def test_without_json_it_prints_the_prediction_difference_and_the_norm_ratio(capsys):
    code = run(["equivalence", "--policy", FIX, "--iterations", "20"])

    out = capsys.readouterr().out
    assert code == 0
    assert "max |p_A - p_B| over all steps:" in out
    assert "final weight norm ratio |theta_B| / |theta_A|: 1.0" in out


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--policy", "{not json"], "--policy"),
        (["--policy", '{"kind": "FIX", "k0": -1}'], "--policy"),
        (["--policy", '{"kind": "PLATEAU"}'], "--policy"),
        (["--policy", FIX, "--wd", "-0.1"], "--wd"),
        (["--policy", '{"kind": "FIX", "k0": 1.0}', "--wd", "0.5"], "--wd"),  # the conversion breaks down
        (["--policy", FIX, "--momentum", "1"], "--momentum"),
        (["--policy", FIX, "--iterations", "0"], "--iterations"),
        (["--policy", FIX, "--batch-size", "1"], "--batch-size"),
        (["--policy", FIX, "--model", "vgg"], "--model"),
        (["--policy", FIX, "--device", "tpu"], "--device"),
    ],
)
def test_bad_input_exits_2_naming_the_argument(capsys, argv, flag):
    code = run(["equivalence", *argv])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith(f"error: {flag}")
    assert "Traceback" not in captured.err


def test_an_argument_of_the_wrong_type_is_refused_by_argparse_with_status_2(capsys):
    with pytest.raises(SystemExit) as exited:
        run(["equivalence", "--policy", FIX, "--iterations", "many"])

    assert exited.value.code == 2
    assert "--iterations" in capsys.readouterr().err
