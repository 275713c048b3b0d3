"""Successive halving for studies (ASHA-style rungs), decided from the runs' epoch curves.

A study of P policies × S seeds trains every policy to the first rung (a
fraction of the epoch budget), ranks the policies by the study's rule on what
they have done so far, promotes the top 1/eta of them to the next rung, and so
on to the full budget. The others stop early. A policy is promoted or stopped
with all its seeds: the rule ranks policies, not runs.

Rungs are at budget / eta^k epochs (rounded up), k = K … 0, for every k that
leaves budget / eta^k at least `min_epochs` (17 epochs, eta 3: rungs 2, 6, 17). The ranking at a rung uses
each run's epochs up to the rung only:

- "lrbench": policies whose every seed has reached the target by the rung, the
  fewest mean iterations to it first; then the rest by mean test accuracy at the
  rung (the LRBench rule, as on the board);
- "final_acc": mean test accuracy at the rung.

`plan` is pure: given the curves a full study recorded, it returns what a
halving study would have trained and whom it would have stopped. For a policy
whose LR is a function of the step alone (every kind but the adaptive ones,
which see the budget), a run stopped at a rung has trained exactly the first
epochs of the full run, so the plan is also what the halving study does.

This module is the decision and its accounting; dashboard/actions/halving.py
runs a study this way (runs wait at their rung, the promoted ones go on from
their checkpoints, the others end `stopped`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RULES = ("lrbench", "final_acc")


def rung_epochs(budget: int, eta: int = 3, min_epochs: int = 1) -> list[int]:
    """Epochs at which policies are ranked: budget/eta^k rounded up, for every k with budget/eta^k at least
    min_epochs; smallest first, ending at the budget."""
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer of at least 2, got {eta!r}")
    if budget < 1 or min_epochs < 1:
        raise ValueError("budget and min_epochs must be positive")
    rungs = [budget]
    k = 1
    while budget / eta**k >= min_epochs:
        rungs.insert(0, math.ceil(budget / eta**k))
        k += 1
    return rungs


@dataclass(frozen=True)
class Run:
    policy: int
    seed: int
    epochs: Sequence[Mapping]  # the recorded epoch dicts, 1-based "epoch", with test_acc and iterations


def _score(runs: Sequence[Run], rung: int, target: float | None, rule: str) -> tuple:
    """A sort key at this rung (smaller is better)."""
    accs = []
    costs = []
    for run in runs:
        seen = [e for e in run.epochs if e["epoch"] <= rung]
        accs.append(seen[-1]["test_acc"] if seen and seen[-1].get("test_acc") is not None else 0.0)
        reached = next(
            (e for e in seen if target is not None and e.get("test_acc") is not None and e["test_acc"] >= target),
            None,
        )
        costs.append(reached["iterations"] if reached is not None else None)
    mean_acc = sum(accs) / len(accs)
    if rule == "lrbench" and all(c is not None for c in costs):
        return (0, sum(costs) / len(costs), -mean_acc)
    return (1, 0.0, -mean_acc)


ETAS = (2, 3, 4)


def budget_problem(budget: int, eta: int) -> str | None:
    """Why a study of this budget cannot run successive halving at this eta; None when it can."""
    if eta not in ETAS:
        return f"eta must be one of {', '.join(map(str, ETAS))}."
    if budget < eta:
        return f"{budget} epochs leave no rung before the budget at eta {eta}: give at least {eta} epochs."
    return None


def rank(arms: Mapping[object, Sequence[Run]], rung: int, *, target: float | None, rule: str = "lrbench") -> list:
    """The arms (a policy, or a policy at one base-LR scale) best first at this rung, by the study's rule."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    return sorted(arms, key=lambda arm: (_score(arms[arm], rung, target, rule), str(arm)))


def promoted_count(alive: int, eta: int) -> int:
    """How many of the arms alive at a rung go on to the next: the top 1/eta, at least one."""
    return max(1, math.ceil(alive / eta))


def plan(
    runs: Sequence[Run], budget: int, *, eta: int = 3, min_epochs: int = 1, rule: str = "lrbench",
    target: float | None = None,
) -> dict:  # fmt: skip
    """What successive halving does with these runs: per rung, the policies ranked and promoted; who stopped
    where; the winner; and the epochs trained against the full study's."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    by_policy: dict[int, list[Run]] = {}
    for run in runs:
        by_policy.setdefault(run.policy, []).append(run)
    alive = sorted(by_policy)
    stopped_at: dict[int, int] = {}
    report = []
    rungs = rung_epochs(budget, eta, min_epochs)
    for rung in rungs:
        ranked = sorted(alive, key=lambda p: (_score(by_policy[p], rung, target, rule), p))
        keep = ranked if rung == budget else ranked[: promoted_count(len(ranked), eta)]
        for policy in ranked[len(keep) :]:
            stopped_at[policy] = rung
        report.append({"epochs": rung, "ranked": ranked, "promoted": keep if rung != budget else []})
        alive = keep
    trained = sum(stopped_at.get(p, budget) * len(rs) for p, rs in by_policy.items())
    full = budget * len(runs)
    return {
        "rungs": report,
        "stopped_at": stopped_at,
        "winner": report[-1]["ranked"][0],
        "epochs_trained": trained,
        "epochs_full": full,
        "saved": 1 - trained / full if full else 0.0,
    }


def replay(study, eta: int = 3) -> dict | None:
    """What successive halving would have done with a finished study (its scale-1 runs), ranked by the
    LRBench rule at the study's target; None while any of those runs is unfinished or there are none."""
    from dashboard.models import EpochMetric
    from dashboard.models import Run as RunRow

    rows = list(study.runs.filter(lr_scale=1.0).select_related("policy").order_by("policy_id", "seed"))
    if not rows or any(r.status not in (RunRow.Status.SUCCEEDED, RunRow.Status.DIVERGED) for r in rows):
        return None
    epochs: dict[int, list[dict]] = {r.pk: [] for r in rows}
    for metric in EpochMetric.objects.filter(run__in=[r.pk for r in rows]).order_by("run_id", "epoch"):
        epochs[metric.run_id].append(metric.as_dict())
    names = {r.policy_id: r.policy.name for r in rows}
    runs = [Run(r.policy_id, r.seed, epochs[r.pk]) for r in rows]
    halved = plan(runs, study.epochs, eta=eta, rule="lrbench", target=study.target_accuracy)
    full = plan(runs, study.epochs, eta=study.epochs + 1, rule="lrbench", target=study.target_accuracy)
    return {
        "eta": eta,
        "rule": "lrbench",
        "rungs": [
            {"epochs": r["epochs"], "promoted": [names[p] for p in r["promoted"]]} for r in halved["rungs"][:-1]
        ],
        "stopped": [{"policy": p, "policy_name": names[p], "epochs": e} for p, e in halved["stopped_at"].items()],
        "winner": {"policy": halved["winner"], "policy_name": names[halved["winner"]]},
        "full_winner": {"policy": full["winner"], "policy_name": names[full["winner"]]},
        "epochs_trained": halved["epochs_trained"],
        "epochs_full": halved["epochs_full"],
        "saved": halved["saved"],
    }
