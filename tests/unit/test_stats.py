"""The board's statistics, checked against scipy.stats on fixed data."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dashboard.stats import (
    Summary,
    holm_rejects,
    rank_groups,
    seeds_to_separate,
    t_interval,
    welch_pvalues,
)

A = [0.9759, 0.9712, 0.9801]
B = [0.9731, 0.9747, 0.9715]
C = [0.912, 0.925, 0.918, 0.921]
D = [0.80, 0.95, 0.70]


def summary(values):
    return Summary(statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def test_the_interval_is_students_t_over_the_seeds():
    for values in (A, C, D):
        s = summary(values)
        expected = scipy_stats.t.interval(0.95, len(values) - 1, loc=s.mean, scale=scipy_stats.sem(values))
        assert t_interval(s.mean, s.std, s.n) == pytest.approx(list(expected), rel=1e-12)


def test_one_seed_has_no_interval():
    assert t_interval(0.9, None, 1) is None
    assert t_interval(None, None, 0) is None


def test_welch_pvalues_match_scipys_unequal_variance_t_test():
    p = welch_pvalues(summary(A), [summary(B), summary(C), summary(D)])
    for got, other in zip(p, (B, C, D), strict=True):
        assert got == pytest.approx(scipy_stats.ttest_ind(A, other, equal_var=False).pvalue, rel=1e-9)


def test_a_single_seed_cannot_be_tested_and_no_spread_makes_any_difference_real():
    assert welch_pvalues(summary(A), [summary([0.5])]).tolist() == [1.0]
    assert welch_pvalues(summary([0.5]), [summary(A)]).tolist() == [1.0]
    flat, other_flat, same = summary([0.9, 0.9]), summary([0.8, 0.8]), summary([0.9, 0.9])
    assert welch_pvalues(flat, [other_flat, same]).tolist() == [0.0, 1.0]


def test_holm_steps_down_until_the_first_hypothesis_it_keeps():
    # Sorted: 0.01 <= 0.05/4, 0.015 <= 0.05/3, 0.03 > 0.05/2: stop; 0.04 is kept too.
    assert holm_rejects([0.04, 0.01, 0.03, 0.015]) == [False, True, False, True]
    assert holm_rejects([0.04, 0.01, 0.03, 0.02]) == [False, True, False, False]  # 0.02 > 0.05/3
    assert holm_rejects([0.001, 0.002]) == [True, True]
    assert holm_rejects([]) == []


def test_holm_agrees_with_adjusted_pvalues_computed_by_hand():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.06, size=8).tolist()
    order = np.argsort(p)
    adjusted = np.maximum.accumulate([(len(p) - i) * p[j] for i, j in enumerate(order)])
    expected = [False] * len(p)
    for value, j in zip(adjusted, order, strict=True):
        expected[j] = bool(value <= 0.05)
    assert holm_rejects(p) == expected


def test_policies_not_separable_from_the_best_share_its_group():
    # A and B: three seeds each cannot tell them apart (issue 11's STEP and FIX); C and D are clearly worse.
    far = summary([0.50, 0.51, 0.49])
    groups = rank_groups([summary(A), summary(B), summary(C), far])
    assert groups == [1, 1, 2, 3]


def test_groups_follow_the_order_given_and_a_missing_value_has_none():
    groups = rank_groups([summary(C), None, summary([0.5, 0.51, 0.49])])
    assert groups == [1, None, 2]


def test_a_noisy_policy_ties_with_the_best_even_below_a_separable_one():
    groups = rank_groups([summary(A), summary(C), summary(D)])
    assert groups == [1, 2, 1]  # D's spread is too wide to tell it from A


def test_seeds_to_separate_gives_80_percent_power_and_one_seed_fewer_does_not():
    a, b = summary(A), summary(B)
    n = seeds_to_separate(a, b)
    sd = ((a.std**2 + b.std**2) / 2) ** 0.5
    d = abs(a.mean - b.mean) / sd

    def power(k):
        df, critical = 2 * k - 2, scipy_stats.t.ppf(0.975, 2 * k - 2)
        nc = d * (k / 2) ** 0.5
        return scipy_stats.nct.sf(critical, df, nc) + scipy_stats.nct.cdf(-critical, df, nc)

    assert power(n) >= 0.8 > power(n - 1)


@pytest.mark.parametrize(("d", "n"), [(0.2, 394), (0.5, 64), (0.8, 26), (1.0, 17)])
def test_seeds_to_separate_matches_cohens_tables(d, n):
    # Cohen (1988), Table 2.4.1: n per group for a two-sided two-sample t-test, alpha 0.05, power 0.80.
    assert seeds_to_separate(Summary(d, 1.0, 3), Summary(0.0, 1.0, 3)) == n


def test_seeds_to_separate_cannot_say_without_spread_or_difference():
    assert seeds_to_separate(summary([0.9]), summary(A)) is None
    assert seeds_to_separate(Summary(0.9, 0.01, 3), Summary(0.9, 0.02, 3)) is None
