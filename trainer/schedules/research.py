"""Li & Arora (ICLR 2020): weight decay traded for an exponentially growing LR.

For weights feeding a normalisation layer (a scale-invariant loss), momentum
SGD with LR eta_t and weight decay wd computes the same network function as
momentum SGD without weight decay and the LR eta~_t below (t in iterations).
The recursion is written with b_t = B_t/c_t so it stays finite and allows
eta_t = 0; see papers.md section 1:

    alpha_t = 1 - eta_t · (momentum · b_t + wd)        (b_0 = 0)
    b_(t+1) = (momentum · b_t + wd) / alpha_t
    c_0 = 1, c_(t+1) = alpha_t · c_t,  eta~_t = eta_t / (c_t · c_(t+1))

Growing LRs are capped at LR_CEILING so that every value stays finite.
"""

from __future__ import annotations

import json
import math
import threading
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache
from itertools import islice
from typing import Any

from .budget import ConversionTooLong, charge, charged, conversion_budget
from .errors import ErrorBag, join
from .params import Param, boundaries, lr, real
from .policy import Policy, lr_bounds, make_fn
from .registry import KindDecl, LRFn, register
from .validation import MAX_CHECK_STEPS, validate

LR_CEILING = 1e30
LOG_CEILING = math.log(LR_CEILING)
MAX_ITERATIONS = 10_000_000
DEFAULT_HORIZON = 100_000
ITERATION = ("iteration",)

WD = real("wd", "weight decay of the run being converted", 5e-4, 0.0, 1.0)
MOMENTUM = real("momentum", "SGD momentum (PyTorch's form)", 0.9, 0.0, 1.0, high_inclusive=False)
HORIZON = Param("horizon", "int", "iterations covered (computed as training reaches them)", unit="t",
                default=DEFAULT_HORIZON, min=1, max=MAX_ITERATIONS)


class Breakdown(ArithmeticError):
    """alpha_t <= 0: the equivalence does not hold from this iteration on."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"the conversion breaks down at iteration {iteration} (alpha <= 0): lower wd or the LR")
        self.iteration = iteration


def alpha(lr_value: float, wd: float, momentum: float) -> float:
    """The larger root of x^2 - (1 + momentum - lr·wd)·x + momentum = 0."""
    s = 1.0 + momentum - lr_value * wd
    return (s + math.sqrt(max(s * s - 4.0 * momentum, 0.0))) / 2.0


def alpha_problem(lr_value: float, wd: float, momentum: float) -> str | None:
    limit = (1.0 - math.sqrt(momentum)) ** 2
    x = lr_value * wd
    if x > limit or x >= 1.0:
        return f"LR·wd = {x:.3g} must be at most (1 - sqrt(momentum))^2 = {limit:.3g} for a real, positive alpha"
    return None


def converted_lrs(lrs: Iterable[float], wd: float, momentum: float) -> array:
    """eta~_t for the LRs eta_t of a run with weight decay (raises Breakdown)."""
    out = array("d")
    b = 0.0
    log_c = 0.0
    for t, eta in enumerate(lrs):
        d = momentum * b + wd
        a = 1.0 - eta * d
        if a <= 0.0:
            raise Breakdown(t)
        log_a = math.log(a)
        out.append(math.exp(min(math.log(eta) - 2.0 * log_c - log_a, LOG_CEILING)) if eta > 0.0 else 0.0)
        log_c += log_a
        b = d / a
    return out


def _capped_exp(log_value: float) -> float:
    return math.exp(min(log_value, LOG_CEILING))


# EXPGROW: constant LR k0 with weight decay, as an exponentially growing LR.


def _expgrow(s: dict, unit: str) -> LRFn:
    log_k0 = math.log(s["k0"])
    log_a = math.log(alpha(s["k0"], s["wd"], s["momentum"]))
    return lambda t: _capped_exp(log_k0 - (2.0 * t + 1.0) * log_a)


def _check_alpha(s: dict, bag: ErrorBag, path: str, unit: str) -> None:
    if None in (s["k0"], s["wd"], s["momentum"]):
        return
    problem = alpha_problem(s["k0"], s["wd"], s["momentum"])
    if problem:
        bag.add(join(path, "wd"), problem)


# TEXP: step decay with weight decay, as a tapered exponential.


def _texp_phases(s: dict) -> tuple[list[float], list[float], list[float]]:
    """Phase starts, log LR at each start, and the log growth per iteration."""
    etas, wd, momentum = s["lrs"], s["wd"], s["momentum"]
    starts = [0.0, *s["boundaries"]]
    logs_a = [math.log(alpha(eta, wd, momentum)) for eta in etas]
    values = [math.log(etas[0]) - logs_a[0]]
    for i in range(1, len(etas)):
        inside = values[-1] - 2.0 * logs_a[i - 1] * (starts[i] - 1.0 - starts[i - 1])
        values.append(inside + math.log(etas[i] / etas[i - 1]) - logs_a[i - 1] - logs_a[i])
    return starts, values, [-2.0 * log_a for log_a in logs_a]


def _texp(s: dict, unit: str) -> LRFn:
    starts, values, growth = _texp_phases(s)
    marks = tuple(starts[1:])

    def lr_at(t: float) -> float:
        i = bisect_right(marks, t)
        return _capped_exp(values[i] + growth[i] * (t - starts[i]))

    return lr_at


def _texp_bounds(s: dict) -> tuple[float, float]:
    _, values, _ = _texp_phases(s)  # each phase grows, so its start is its lowest LR
    return (_capped_exp(min(values)), LR_CEILING)


def _check_texp(s: dict, bag: ErrorBag, path: str, unit: str) -> None:
    if None in (s["lrs"], s["boundaries"], s["wd"], s["momentum"]):
        return
    if len(s["lrs"]) != len(s["boundaries"]) + 1:
        bag.add(join(path, "lrs"), f"needs {len(s['boundaries']) + 1} LRs (one more than boundaries)")
        return
    for i, eta in enumerate(s["lrs"]):
        problem = alpha_problem(eta, s["wd"], s["momentum"])
        if problem:
            bag.add(join(path, f"lrs.{i}"), problem)


# Tables: the exact recursion, computed lazily up to the iterations asked for (EXPCOS, NOWD).
#
# A table costs one step of the recursion per iteration, in Python (~1 us), and
# no closed form exists for a changing LR. So nothing computes a table that a
# caller does not read: validation proves the absence of a breakdown from the
# base's highest LR (below), a training run extends its table as it goes, and
# a preview runs under `conversion_budget`, which refuses to compute more steps
# than the budget allows (ConversionTooLong) instead of taking a worker's CPU.

# A breakdown the LR bound cannot rule out is searched this far (all of a spec's conversions together).
EXACT_CHECK_MAX_STEPS = MAX_CHECK_STEPS
CHUNK = 4096  # table entries computed at a time, so a run extends its table without a per-step call


class LazyTable:
    """The converted LRs eta~_0 .. eta~_(horizon-1) of one spec, computed in order as far as read.

    The same recursion as ``converted_lrs``, resumable: the values are those
    of the whole table computed at once, bit for bit.
    """

    def __init__(self, key: str, s: dict) -> None:
        self.key = key
        self.size = s["horizon"]
        self._wd, self._momentum = s["wd"], s["momentum"]
        self._base = iter(_base_lrs(s))
        # A step costs about one unit for a simple base, more for a nested one (each level a call).
        self._weight = 1 if s["kind"] == "EXPCOS" else 1 + _depth(s["base"])
        self._values = array("d")
        self._b = 0.0
        self._log_c = 0.0
        self._broken: Breakdown | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self.size

    @property
    def computed(self) -> int:
        """How many entries have been computed so far."""
        return len(self._values)

    def __getitem__(self, i: int) -> float:
        paid = charged(self.key)
        if paid is not None:  # in a budget, a reader pays for how far it reads (cached or not), no more
            if paid < (i + 1) * self._weight:
                self.extend_to(i + 1)
        elif i >= len(self._values):
            self.extend_to(min(self.size, max(i + 1, len(self._values) + CHUNK)))
        return self._values[i]

    def extend_to(self, n: int) -> None:
        """Compute the entries up to ``n`` (exclusive); raises Breakdown where alpha <= 0.

        Within a conversion_budget, reaching ``n`` costs n steps (times the base's weight).
        """
        with self._lock:
            charge(self.key, n * self._weight)
            done = len(self._values)
            if n <= done:
                return
            if self._broken is not None:
                raise self._broken
            out, wd, momentum = self._values, self._wd, self._momentum
            b, log_c = self._b, self._log_c
            for t, eta in enumerate(islice(self._base, n - done), start=done):
                d = momentum * b + wd
                a = 1.0 - eta * d
                if a <= 0.0:
                    self._broken = Breakdown(t)
                    raise self._broken
                log_a = math.log(a)
                out.append(math.exp(min(math.log(eta) - 2.0 * log_c - log_a, LOG_CEILING)) if eta > 0.0 else 0.0)
                log_c += log_a
                b = d / a
            self._b, self._log_c = b, log_c


@lru_cache(maxsize=16)  # a PIECEWISE's 16 stages: validating it again (build, curve) reuses every table
def _table(key: str) -> LazyTable:
    """The converted LRs of a normalized EXPCOS or NOWD spec (given as JSON)."""
    return LazyTable(key, json.loads(key))


def table_for(s: dict) -> LazyTable:
    """Cached per spec, so that what one reader computed the next one reuses."""
    return _table(json.dumps({k: v for k, v in s.items() if k != "unit"}, sort_keys=True))


def _base_lrs(s: dict) -> Iterable[float]:
    if s["kind"] == "EXPCOS":
        k0, horizon = s["k0"], s["horizon"]
        return (k0 * (1.0 + math.cos(math.pi * t / horizon)) / 2.0 for t in range(horizon))
    base = s["base"]
    policy = Policy(base, make_fn(base, base["unit"]), lr_bounds(base))
    per_epoch = s["steps_per_epoch"]
    return (policy.lr_at(i, per_epoch) for i in range(s["horizon"]))


def _depth(spec: Any) -> int:
    """Levels of composite policies nested in ``spec`` (0 for a simple one)."""
    children = [v for v in spec.values() if isinstance(v, dict) and "kind" in v]
    children += [item for v in spec.values() if isinstance(v, list) for item in v if isinstance(item, dict)]
    return 1 + max(map(_depth, children)) if children else 0


def _highest_base_lr(s: dict) -> float:
    return s["k0"] if s["kind"] == "EXPCOS" else lr_bounds(s["base"])[1]


def _table_maker(after: Callable[[LazyTable], Callable[[float, int], float]]) -> Callable[[dict, str], LRFn]:
    def make(s: dict, unit: str) -> LRFn:
        table = table_for(s)
        size = len(table)
        after_horizon = after(table)

        def lr_at(t: float) -> float:
            i = int(t)
            return table[i] if i < size else after_horizon(t, size)

        return lr_at

    return make


def _zero_after(table: LazyTable) -> Callable[[float, int], float]:
    return lambda t, size: 0.0  # the cosine base schedule has reached 0: training is over


def _held_after(table: LazyTable) -> Callable[[float, int], float]:
    # exact only up to the horizon; holding keeps a scheduler stepped once more valid
    return lambda t, size: table[size - 1]


def _check_table(s: dict, bag: ErrorBag, path: str, unit: str) -> None:
    """No breakdown before the horizon, proved without the table where the LR bound allows.

    If every base LR is at most an LR whose alpha is real (LR·wd <= (1 - sqrt(momentum))^2),
    b_t stays below that LR's fixed point and alpha_t >= its alpha > 0: the conversion
    never breaks down (b_(t+1) grows with b_t and with eta_t). Otherwise the exact
    recursion looks for a breakdown, within the validation's budget (EXACT_CHECK_MAX_STEPS
    unless a trusted caller opened a larger `conversion_budget` around the validation).
    """
    if any(s[p.name] is None for p in KINDS_WITH_TABLES[s["kind"]]):
        return
    highest = _highest_base_lr(s)
    problem = alpha_problem(highest, s["wd"], s["momentum"])
    if problem is None:
        return
    if s["kind"] == "EXPCOS":
        bag.add(join(path, "wd"), problem)
        return
    try:  # charged to the validation's budget (validate() opens one): refused before any work if too long
        with conversion_budget(EXACT_CHECK_MAX_STEPS, shared=True):
            table_for(s).extend_to(s["horizon"])
    except Breakdown as exc:
        bag.add(join(path, "wd"), str(exc))
    except ConversionTooLong:
        bag.add(join(path, "wd"), f"the base's LR reaches {highest:.3g}: {problem}; past that bound a conversion "
                                  f"is checked exactly, for a horizon of at most {EXACT_CHECK_MAX_STEPS} iterations "
                                  "(all of a policy's conversions together, fewer with a nested base)")


EXPCOS_PARAMS = (
    lr("k0", "initial LR of the cosine base schedule", 0.1),
    replace(HORIZON, help="cosine horizon T in iterations (LR 0 after)", default=10_000),
    WD, MOMENTUM,
)
NOWD_PARAMS = (
    Param("base", "spec", "the policy used with weight decay", default={"kind": "FIX", "k0": 0.1}),
    WD, MOMENTUM,
    Param("steps_per_epoch", "int", "iterations per epoch, to read a base policy in epochs", default=391,
          min=1, max=MAX_ITERATIONS),
    HORIZON,
)
KINDS_WITH_TABLES = {"EXPCOS": EXPCOS_PARAMS, "NOWD": NOWD_PARAMS}


def remove_weight_decay(spec: Any, wd: float, momentum: float, steps_per_epoch: int,
                        horizon: int = DEFAULT_HORIZON) -> dict[str, Any]:
    """The spec that, without weight decay, trains exactly like ``spec`` with weight decay ``wd``.

    Exact for scale-invariant weights (those feeding a normalisation layer)
    for iterations 0 .. horizon-1; the last LR is held after. SpecError names
    the problem fields ("base.k0", "wd", ...).
    """
    base = spec.spec if isinstance(spec, Policy) else spec
    return validate({"kind": "NOWD", "base": base, "wd": wd, "momentum": momentum,
                     "steps_per_epoch": steps_per_epoch, "horizon": horizon, "unit": "iteration"})


register(KindDecl(
    "EXPGROW", "Exponential growth (Li & Arora)", "research",
    "constant LR k0 with weight decay, as the equivalent growing LR without weight decay",
    "k0 · alpha^(-2t-1), alpha the larger root of x^2 - (1 + momentum - k0·wd)·x + momentum",
    (lr("k0", "constant LR of the run with weight decay", 0.1), WD, MOMENTUM),
    _expgrow, lambda s: (s["k0"], LR_CEILING), units=ITERATION, check=_check_alpha,
))
register(KindDecl(
    "TEXP", "Tapered exponential (Li & Arora)", "research",
    "step decay with weight decay, as growth phases without it: a drop and a slower growth at each boundary",
    "inside phase I: × alpha_I^(-2) per iteration; at boundary I: × (lr_I/lr_(I-1)) / (alpha_(I-1)·alpha_I)",
    (boundaries("boundaries", "iterations where the next LR starts", [30_000.0, 60_000.0], allow_zero=False,
                max_len=99),
     Param("lrs", "float_list", "LR of each phase, one more than boundaries", unit="lr", default=[0.1, 0.01, 0.001],
           min=0.0, min_inclusive=False, max=100.0, min_len=1),
     WD, MOMENTUM),
    _texp, _texp_bounds, units=ITERATION, check=_check_texp,
))
register(KindDecl(
    "EXPCOS", "Exponential cosine (Li & Arora)", "research",
    "cosine schedule with weight decay, converted exactly to one without weight decay",
    "exact recursion applied to k0·(1 + cos(pi·t/horizon))/2",
    EXPCOS_PARAMS, _table_maker(_zero_after), lambda s: (0.0, LR_CEILING), units=ITERATION, check=_check_table,
))
register(KindDecl(
    "NOWD", "Without weight decay (Li & Arora)", "research",
    "any policy used with weight decay, converted exactly to one without weight decay (remove_weight_decay)",
    "exact recursion applied to base.lr_at(i, steps_per_epoch) for i < horizon; the last value is held after",
    NOWD_PARAMS, _table_maker(_held_after), lambda s: (0.0, LR_CEILING), units=ITERATION,
    check=_check_table, composite=True,
))
