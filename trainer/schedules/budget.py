"""A work budget for the exact conversions (EXPCOS, NOWD), which cost one Python step per iteration.

Validation and previews run inside a budget; a table that would compute more
entries than are left raises ConversionTooLong instead of taking a worker's
CPU. Outside any budget (training, the CLI) tables are computed as read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_budget: ContextVar[list[int] | None] = ContextVar("conversion_budget", default=None)


class ConversionTooLong(ArithmeticError):
    """More iterations of an exact conversion than the budget allows."""


@contextmanager
def conversion_budget(steps: int, *, shared: bool = False) -> Iterator[None]:
    """Within this block, all tables together compute at most ``steps`` new entries.

    ``shared``: inside a budget already running, keep that one (a spec's checks share its budget).
    """
    if shared and _budget.get() is not None:
        yield
        return
    token = _budget.set([steps])
    try:
        yield
    finally:
        _budget.reset(token)


def active() -> bool:
    return _budget.get() is not None


def charge(steps: int) -> None:
    budget = _budget.get()
    if budget is None:
        return
    if steps > budget[0]:
        raise ConversionTooLong(f"needs {steps} more iterations of an exact conversion, {budget[0]} left")
    budget[0] -= steps
