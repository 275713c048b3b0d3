"""A work budget for the exact conversions (EXPCOS, NOWD), which cost one Python step per iteration.

Validation and previews run inside a budget; a table that would reach further
than the budget allows raises ConversionTooLong instead of taking a worker's
CPU. What a table costs is how far it is read, counted from its first entry,
whether or not an earlier request computed it already: the same request gets
the same answer on a cold or a warm cache, and a cached table never grows
past what one budget allows. Outside any budget (training, the CLI) tables are
computed as far as they are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class ConversionTooLong(ArithmeticError):
    """More iterations of an exact conversion than the budget allows."""


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps
        self.reached: dict[str, int] = {}  # per table: the steps charged for it so far


_budget: ContextVar[_Budget | None] = ContextVar("conversion_budget", default=None)


@contextmanager
def conversion_budget(steps: int, *, shared: bool = False) -> Iterator[None]:
    """Within this block, all tables together may be read at most ``steps`` steps far.

    ``shared``: inside a budget already running, keep that one (a spec's checks share its budget).
    """
    if shared and _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(steps))
    try:
        yield
    finally:
        _budget.reset(token)


def active() -> bool:
    return _budget.get() is not None


def charged(table: str) -> int | None:
    """Steps charged for ``table`` in the running budget (0: none yet); None outside any budget."""
    budget = _budget.get()
    return None if budget is None else budget.reached.get(table, 0)


def charge(table: str, steps: int) -> None:
    """Reading ``table`` costs ``steps`` from its start: charge what this budget has not charged for it yet."""
    budget = _budget.get()
    if budget is None:
        return
    extra = steps - budget.reached.get(table, 0)
    if extra <= 0:
        return
    if extra > budget.left:
        raise ConversionTooLong(f"needs {extra} more steps of an exact conversion, {budget.left} left")
    budget.left -= extra
    budget.reached[table] = steps
