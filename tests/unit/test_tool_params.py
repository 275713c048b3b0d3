"""Each research tool's parameters are declared once; the library, the CLI and the job API agree with it."""

import argparse

import pytest

from trainer import equivalence, meta, search_cli
from trainer.equivalence import EQUIVALENCE_PARAMS
from trainer.lr_grid import GRID_PARAMS, GRID_SEARCH_PARAMS
from trainer.max_lr import SEARCH_PARAMS
from trainer.meta import META_PARAMS
from trainer.range_test import RANGE_PARAMS

TOOLS = {
    "lr-search": SEARCH_PARAMS,
    "lr-grid": GRID_PARAMS + GRID_SEARCH_PARAMS,
    "lr-range": RANGE_PARAMS,
    "meta-train": META_PARAMS,
    "equivalence": EQUIVALENCE_PARAMS,
}
# What each command needs besides its declared parameters.
WHERE = {
    "lr-search": ["--workload", "gauss2-mlp"],
    "lr-grid": ["--workload", "gauss2-mlp"],
    "lr-range": ["--workload", "gauss2-mlp"],
    "meta-train": ["--workload", "digits-mlp", "--out", "x.json"],
    "equivalence": ["--policy", "{}"],
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser()
    commands = root.add_subparsers()
    for module in (search_cli, meta, equivalence):
        module.register_cli(commands)
    return root


def every_param():
    return [pytest.param(p, id=f"{tool}.{p.name}") for tool, params in TOOLS.items() for p in params]


@pytest.mark.parametrize("param", every_param())
def test_a_job_never_asks_for_what_the_library_refuses(param):
    if not param.job:
        return
    low, high = param.job_bounds
    if param.min is not None:
        assert low is not None and (low > param.min or (low == param.min and param.min_inclusive))
    if param.max is not None:
        assert high is not None and (high < param.max or (high == param.max and param.max_inclusive))


@pytest.mark.parametrize("param", every_param())
def test_every_declared_default_passes_its_own_check(param):
    if not param.required:
        assert param.check(param.default) == param.default


@pytest.mark.parametrize("command", list(TOOLS))
def test_each_command_has_one_flag_per_declared_parameter_with_its_default(command):
    required = [f"{p.flag}=1" for p in TOOLS[command] if p.required]
    args = parser().parse_args([command, *WHERE[command], *required])

    for param in TOOLS[command]:
        assert getattr(args, param.name) == ([1] if param.required else param.default)


def test_a_word_stands_for_none_on_the_command_line_where_declared():
    auto = parser().parse_args(["meta-train", *WHERE["meta-train"], "--lr-cap", "auto"])
    given = parser().parse_args(["meta-train", *WHERE["meta-train"], "--lr-cap", "0.05"])
    assert auto.lr_cap is None and given.lr_cap == 0.05


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("lr_search", SEARCH_PARAMS),
        ("lr_range", RANGE_PARAMS),
        ("meta_train", META_PARAMS),
        ("equivalence", EQUIVALENCE_PARAMS),
    ],
)
def test_the_job_api_fields_are_generated_from_the_declaration(kind, params):
    from dashboard import jobs

    fields = jobs.PARAMS[kind]().fields
    for param in params:
        if not param.job:
            assert param.name not in fields
            continue
        low, high = param.job_bounds
        assert (fields[param.name].min_value, fields[param.name].max_value) == (low, high), param.name


def test_an_unknown_argument_is_a_type_error_as_for_any_function():
    from trainer.max_lr import max_initial_lr

    with pytest.raises(TypeError, match="iteration"):
        max_initial_lr("gauss2-mlp", iteration=3)
