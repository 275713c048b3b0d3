"""What every command of `python -m trainer` shares: exit statuses, bad input, Ctrl-C, --option, JSON lines.

trainer.cli (`train`, `workloads`) and the research tools' commands
(trainer.search_cli, ...) build on it, so neither imports the other.
"""

from __future__ import annotations

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
