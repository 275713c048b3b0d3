"""Research tools' parameters, each declared once: `ToolParam`.

As a policy kind declares its parameters (trainer.schedules.params), a research
tool (trainer.max_lr, trainer.lr_grid, trainer.range_test, trainer.meta,
trainer.equivalence) declares its own in a tuple of ToolParam beside its
function. From that one declaration:

- the tool checks its arguments (`check`: UserInputError naming the parameter);
- its command gets its flags (`add_arguments`, `cli_values`: trainer.search_cli,
  and meta's and equivalence's own register_cli);
- dashboard.jobs generates the job API's serializer fields, with the job
  bounds (`job_min`, `job_max`): what one job may ask of a shared worker,
  tighter than what the library accepts, declared beside it, never apart.

Light: no torch, no Django.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from trainer.checks import distinct_integers
from trainer.cli_support import flag
from trainer.errors import UserInputError

TYPES = ("float", "int", "int_list", "choice")


@dataclass(frozen=True)
class ToolParam:
    """One declared parameter of a research tool.

    type: "float", "int", "int_list" (distinct integers; bounds apply to each
    item, in jobs) or "choice" (one of `choices`, strings). min/max: the library's bounds (None: unbounded), exclusive
    where min_inclusive/max_inclusive say so. nullable: None is a value (its
    meaning in help). required: no default. job: whether a job exposes it, and
    job_min/job_max its bounds there (default: the library's); job_max_len the
    longest list a job takes.
    """

    name: str
    type: str
    help: str
    default: Any = None
    required: bool = False
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    job: bool = True
    job_min: float | None = None
    job_max: float | None = None
    job_max_len: int | None = None
    metavar: str | None = None
    cli_none: str | None = None  # a word the command line takes for None (e.g. "auto"), its default there
    choices: tuple[str, ...] = ()  # of a "choice"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"ToolParam {self.name}: type must be one of {TYPES}, got {self.type!r}")

    @property
    def flag(self) -> str:
        return flag(self.name)

    @property
    def job_bounds(self) -> tuple[float | None, float | None]:
        """(min, max) of a job's value: the job's own bounds, else the library's."""
        low = self.job_min if self.job_min is not None else self.min
        high = self.job_max if self.job_max is not None else self.max
        return low, high

    def with_job_bounds(self, **bounds: Any) -> ToolParam:
        """The same parameter with other job bounds (a tool that reuses another's parameters)."""
        return replace(self, **bounds)

    def check(self, value: Any) -> Any:
        """The value, normalised (a float for "float"); UserInputError naming the parameter."""
        if value is None and self.nullable:
            return None
        if self.type == "int_list":
            return distinct_integers(self.name, value)
        if self.type == "choice":
            if value not in self.choices:
                raise UserInputError(self.name, f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self._within(value):
                raise UserInputError(self.name, f"{self.name} must be {self._describe('an integer')}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UserInputError(self.name, f"{self.name} must be a finite number, got {value!r}")
        if not self._within(value):
            raise UserInputError(self.name, f"{self.name} must be {self._describe('a number')}, got {value!r}")
        return float(value)

    def _within(self, value: float) -> bool:
        if self.min is not None and (value < self.min or (value == self.min and not self.min_inclusive)):
            return False
        return self.max is None or not (value > self.max or (value == self.max and not self.max_inclusive))

    def _describe(self, what: str) -> str:
        low, high = self.min, self.max
        if low is not None and high is not None:
            if self.min_inclusive and self.max_inclusive:
                return f"{what} from {low:g} to {high:g}"
            return (
                f"{what} in {'[' if self.min_inclusive else '('}{low:g}, {high:g}{']' if self.max_inclusive else ')'}"
            )
        if low is not None:
            return f"{what} {'at least' if self.min_inclusive else 'greater than'} {low:g}"
        if high is not None:
            return f"{what} {'at most' if self.max_inclusive else 'less than'} {high:g}"
        return what

    def as_dict(self) -> dict[str, Any]:
        """The declaration as JSON: what a form or the docs show."""
        low, high = self.job_bounds
        return {
            "name": self.name,
            "type": self.type,
            "help": self.help,
            "default": self.default,
            "required": self.required,
            "nullable": self.nullable,
            "min": self.min,
            "max": self.max,
            "job_min": low,
            "job_max": high,
            **({"choices": list(self.choices)} if self.type == "choice" else {}),
        }


def check(params: Iterable[ToolParam], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value checked, in declaration order; a missing one takes its default."""
    checked = {}
    for param in params:
        if param.name not in values and param.required:
            raise UserInputError(param.name, f"{param.name} is required")
        checked[param.name] = param.check(values.get(param.name, param.default))
    return checked


def _integer_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, e.g. 1,2,4; got {text!r}") from None


def _number_or_word(number: type, word: str | None) -> Any:
    """argparse's type for a number, or None where the command line gives `word`."""
    if word is None:
        return number

    def parse(text: str) -> Any:
        return None if text == word else number(text)

    parse.__name__ = number.__name__  # argparse names the type in its error: "invalid float value"
    return parse


def add_arguments(parser: argparse.ArgumentParser, params: Iterable[ToolParam]) -> None:
    """One flag per parameter: --name-with-dashes, parsed as its type, its default and help from the declaration."""
    for param in params:
        kwargs: dict[str, Any] = {"help": param.help}
        if param.type == "int_list":
            kwargs["type"] = _integer_list
            kwargs["help"] = f"comma-separated {param.help}"
        elif param.type == "choice":  # checked by the tool, whose error names the flag (exit 2, not argparse's)
            kwargs["metavar"] = "{" + ",".join(param.choices) + "}"
        else:
            kwargs["type"] = _number_or_word(int if param.type == "int" else float, param.cli_none)
        if param.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = param.default
            if param.default is not None:
                shown = param.default if param.type == "choice" else format(param.default, "g")
                kwargs["help"] += f" (default {shown})"
            elif param.cli_none is not None:
                kwargs["help"] += f" (a number or {param.cli_none}; default {param.cli_none})"
        if param.metavar is not None:
            kwargs["metavar"] = param.metavar
        parser.add_argument(param.flag, **kwargs)


def cli_values(args: argparse.Namespace, params: Iterable[ToolParam]) -> dict[str, Any]:
    """The parsed flags of these parameters, by parameter name."""
    return {param.name: getattr(args, param.name) for param in params}


def unknown_arguments(function: str, params: Iterable[ToolParam], values: Mapping[str, Any]) -> None:
    """TypeError for a keyword that no parameter declares, as Python raises for a function's signature."""
    names = {param.name for param in params}
    for name in values:
        if name not in names:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")
