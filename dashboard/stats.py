"""The statistics behind the board's numbers: intervals, rank groups and the seeds a comparison needs.

Pure functions of per-policy summaries (mean, sample std, n over seeds), so the
board computes them from its SQL aggregates, without loading runs.

- **95% confidence interval** of a mean: Student's t over the n seeds,
  mean ± t(0.975, n−1)·s/√n. With n = 1 there is none (the board says so).
- **Rank groups**: the best policy leads group 1. Each policy below it is
  compared with it by Welch's t-test (unequal variances), and Holm's step-down
  correction keeps the family-wise error of those comparisons at 5%. Every
  policy whose difference from the leader is not significant joins group 1.
  The best of the rest leads group 2, is compared with the remaining ones the
  same way, and so on down the board. A policy with one seed cannot be told
  apart from anything (no variance to test with), so it joins the group of the
  first leader it meets. The board lists policies by group, then by mean.
- **Seeds to separate** two policies: the seeds per policy at which a two-sided
  two-sample t-test at α = 0.05 has 80% power to tell their means apart, if the
  true difference and spread are what was observed (Cohen's d with the pooled
  std √((s₁² + s₂²)/2); the power from the noncentral t distribution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 100_000  # beyond this a difference is, for any practical purpose, none


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float | None  # the sample std (n - 1); None when n < 2
    n: int


@lru_cache(maxsize=1024)
def _t_quantile(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))


def t_interval(mean: float | None, std: float | None, n: int, confidence: float = 0.95) -> list[float] | None:
    """[lo, hi], the Student-t confidence interval of a mean over n samples; None when n < 2."""
    if mean is None or std is None or n < 2:
        return None
    half = _t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return [mean - half, mean + half]


def welch_pvalues(leader: Summary, others: Sequence[Summary]) -> np.ndarray:
    """Two-sided p-values of Welch's t-test of each of `others` against `leader` (1 when it cannot be tested)."""
    if not others:
        return np.zeros(0)
    mean = np.array([o.mean for o in others], dtype=float)
    std = np.array([o.std if o.std is not None else np.nan for o in others], dtype=float)
    n = np.array([o.n for o in others], dtype=float)
    testable = (n >= 2) & np.isfinite(std) & (leader.n >= 2) & (leader.std is not None)
    if not testable.any():
        return np.ones(len(others))
    v0 = (leader.std or 0.0) ** 2 / leader.n
    v = np.where(testable, np.nan_to_num(std) ** 2 / np.maximum(n, 1), 0.0)
    se2 = v0 + v
    diff = np.abs(leader.mean - mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(se2)
        dof_denominator = (v0**2 / max(leader.n - 1, 1)) + v**2 / np.maximum(n - 1, 1)
        df = np.where(dof_denominator > 0, se2**2 / dof_denominator, 1.0)
        p = 2 * stats.t.sf(t, df)
    p = np.where(se2 > 0, p, np.where(diff > 0, 0.0, 1.0))  # no spread at all: any difference is real
    return np.where(testable, p, 1.0)


def holm_rejects(pvalues: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise error `alpha`."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    m = len(pvalues)
    for step, i in enumerate(order):
        if pvalues[i] > alpha / (m - step):
            break
        rejected[i] = True
    return rejected


def rank_groups(summaries: Sequence[Summary | None], alpha: float = ALPHA) -> list[int | None]:
    """Group numbers for summaries listed best first (None: no value, no group)."""
    groups: list[int | None] = [None] * len(summaries)
    waiting = [i for i, s in enumerate(summaries) if s is not None and s.mean is not None]
    group = 0
    while waiting:
        group += 1
        leader, rest = waiting[0], waiting[1:]
        groups[leader] = group
        rejected = holm_rejects(welch_pvalues(summaries[leader], [summaries[i] for i in rest]).tolist(), alpha)
        for i, different in zip(rest, rejected, strict=True):
            if not different:
                groups[i] = group
        waiting = [i for i, different in zip(rest, rejected, strict=True) if different]
    return groups


def _power(n: np.ndarray, d: np.ndarray, alpha: float) -> np.ndarray:
    df = 2 * n - 2
    critical = stats.t.ppf(1 - alpha / 2, df)
    nc = d * np.sqrt(n / 2)
    return stats.nct.sf(critical, df, nc) + stats.nct.cdf(-critical, df, nc)


def seeds_to_separate(a: Summary, b: Summary, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """Seeds per policy for a two-sample t-test to separate a and b with this power; None if it cannot say.

    None when either spread is unknown (n < 2) or the means are equal; MAX_SEEDS + 1 when more than
    MAX_SEEDS would be needed.
    """
    return seeds_to_separate_many([(a, b)], power, alpha)[0]


def seeds_to_separate_many(
    pairs: Sequence[tuple[Summary, Summary]], power: float = POWER, alpha: float = ALPHA
) -> list[int | None]:
    """seeds_to_separate for many pairs at once (a few vectorised power evaluations in all)."""
    found: list[int | None] = [None] * len(pairs)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    todo, effects, guesses = [], [], []
    for i, (a, b) in enumerate(pairs):
        if a.std is None or b.std is None or a.mean == b.mean:
            continue
        sd = math.sqrt((a.std**2 + b.std**2) / 2)
        if sd == 0:
            found[i] = 2  # no spread: two seeds each already show the difference
            continue
        d = abs(a.mean - b.mean) / sd
        guess = max(2, math.ceil(2 * (z / d) ** 2))  # the normal approximation; the t-test needs a little more
        if guess > MAX_SEEDS:
            found[i] = MAX_SEEDS + 1
            continue
        todo.append(i), effects.append(d), guesses.append(guess)
    if not todo:
        return found
    d, n = np.array(effects), np.array(guesses, dtype=float)
    while True:  # up to the first n with enough power ...
        short = (_power(n, d, alpha) < power) & (n <= MAX_SEEDS)
        if not short.any():
            break
        n = np.where(short, n + 1, n)
    while True:  # ... and down, where the approximation overshot
        spare = (n > 2) & (_power(np.maximum(n - 1, 2), d, alpha) >= power)
        if not spare.any():
            break
        n = np.where(spare, n - 1, n)
    for i, value in zip(todo, n.tolist(), strict=True):
        found[i] = int(value)
    return found
