"""What every command of `python -m trainer` shares: exit statuses, bad input, Ctrl-C, --option, JSON lines.

trainer.cli (`train`, `workloads`) and the research tools' commands
(trainer.search_cli, trainer.meta, trainer.equivalence) build on it, so none
imports another. A tool's command is its declared parameters' flags
(trainer.tool_params.add_arguments) plus `add_where_arguments`, run by
`run_tool_command`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from trainer.errors import UserInputError

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130  # as a shell reports a run stopped by Ctrl-C


class BadInput(UserInputError):
    """A user error on the command line: printed on stderr, exit status 2."""

    def __init__(self, message: str, field: str = "arguments") -> None:
        super().__init__(field, message)


def workload_options(pairs: list[str]) -> dict[str, Any] | None:
    """--option NAME=VALUE pairs as a dict; VALUE is read as JSON (4, 0.1, true), else kept as text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise BadInput(f"--option must be NAME=VALUE, got {pair!r}", "--option")
        if name in options:
            raise BadInput(f"--option {name} is given twice", "--option")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
    return options or None


def print_json(obj: Any) -> None:
    """One JSON line on stdout; NaN and infinity are refused (reports carry None instead)."""
    print(json.dumps(obj, allow_nan=False), flush=True)


def fmt(value: float | None, spec: str) -> str:
    """A number formatted by spec; "n/a" for None."""
    return "n/a" if value is None else format(value, spec)


class ctrl_c_requests_stop:  # noqa: N801 - used as a function: `with ctrl_c_requests_stop() as stop_requested:`
    """The first Ctrl-C asks the run to stop cleanly ("cancelled"); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def __enter__(self) -> Callable[[], bool]:
        try:
            self.previous = signal.signal(signal.SIGINT, self._request)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None
        return lambda: self.requested

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nstopping at the next check (within 100 iterations); Ctrl-C again to interrupt", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# A research tool's command: where it runs, check then run, report.


def add_where_arguments(
    parser: argparse.ArgumentParser,
    *,
    workload: bool = True,
    device: str = "auto",
    json_help: str = "print JSON lines only, then the result",
) -> None:
    """Where and on what a tool runs, not its parameters (declared with it): --workload, --device,
    --data-dir, --option (the last two with a workload), --json."""
    if workload:
        parser.add_argument("--workload", required=True, help="a workload name (see `workloads`)")
    parser.add_argument("--device", default=device, help="auto (cuda if available), cpu, cuda, cuda:N")
    if workload:
        parser.add_argument("--data-dir", default=None, help="where data sets live (default: $DATA_DIR)")
        parser.add_argument(
            "--option", action="append", default=[], metavar="NAME=VALUE", help="a workload option; repeatable"
        )
    parser.add_argument("--json", action="store_true", help=json_help)


def where(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments of add_where_arguments (with a workload) as a tool's keyword arguments."""
    return {"workload_options": workload_options(args.option), "data_dir": args.data_dir, "device": args.device}


def run_tool_command(plan: Callable[[], Any], run: Callable[[Any, Callable[[], bool]], dict], finish: Callable) -> int:
    """Check the arguments (exit 2 naming the bad one), run with Ctrl-C asking to stop, report."""
    from trainer.data import DataUnavailable

    try:
        planned = plan()
    except ValueError as error:  # UserInputError (BadInput, UnknownWorkload, SpecError...) is a ValueError
        return bad_input(error)
    with ctrl_c_requests_stop() as stop_requested:
        try:
            result = run(planned, stop_requested)
        except (DataUnavailable, UserInputError) as error:  # what only the data can tell (a meta set too large)
            return bad_input(error)
    code = finish(result)
    if code is not None:
        return code
    return EXIT_CANCELLED if result.get("cancelled") or result.get("stop_reason") == "cancelled" else 0


def bad_input(error: Exception | str) -> int:
    """The error on stderr, exit status 2. A tool's UserInputError names its flag first: "--epochs: ..."."""
    field = getattr(error, "field", None)
    message = getattr(error, "message", str(error))
    if isinstance(error, UserInputError) and isinstance(field, str) and field.isidentifier():
        message = f"{flag(field)}: {message}"
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def flag(name: str) -> str:
    """A parameter's command-line flag: --name-with-dashes."""
    return "--" + name.replace("_", "-")


def printer(as_json: bool) -> Callable[[dict, str, Callable[[dict], str]], None]:
    """report(obj, event, describe): a JSON line tagged {"event": event}, or describe(obj) as text."""

    def report(obj: dict, event: str, describe: Callable[[dict], str]) -> None:
        if as_json:
            print_json({"event": event, **obj})
        else:
            print(describe(obj), flush=True)

    return report
