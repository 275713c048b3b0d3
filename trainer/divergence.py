"""When a run has diverged: one rule, used by the engine and by batched training.

A run diverges at the first epoch where one of these holds (checked in this order):

1. **Non-finite loss**: its training or test loss is NaN or infinite (reported as None).
2. **Loss explosion**: its training or test loss is more than `loss_factor` times
   the lowest that loss was in an earlier epoch, *and* above ln(classes), the loss
   of a uniform guess. The floor keeps a warm restart, which can lift a tiny
   training loss a hundredfold, from counting; a loss worse than guessing can.
3. **Collapse to chance**: its test accuracy is at most chance + `chance_margin`
   (chance = 1/classes) for `patience` epochs in a row, after an earlier epoch
   was at least chance + `clearly_above`. The epoch reported is the first of them.

The rule is a pure function of the epoch series, so the run page, the tests and
both trainers agree on it. Its thresholds have defaults here and can be set per
process from the environment (ARENA_DIVERGENCE_LOSS_FACTOR, ..._CHANCE_MARGIN,
..._CLEARLY_ABOVE, ..._PATIENCE) or per run (TrainConfig.divergence).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace

ENV_PREFIX = "ARENA_DIVERGENCE_"
LOSSES = (("train_loss", "training loss"), ("test_loss", "test loss"))


@dataclass(frozen=True)
class DivergenceRule:
    loss_factor: float = 10.0  # a loss this many times its best so far (and worse than guessing) has exploded
    chance_margin: float = 0.05  # at most 1/classes + this is "at chance" (0.15 for ten classes)
    clearly_above: float = 0.20  # a run that once reached 1/classes + this had learnt something to lose
    patience: int = 1  # epochs in a row at chance before the run counts as collapsed

    def __post_init__(self) -> None:
        if not self.loss_factor > 1.0:  # math.inf: no loss explosion counts
            raise ValueError(f"divergence.loss_factor must be a number above 1, got {self.loss_factor!r}")
        if not 0.0 <= self.chance_margin < self.clearly_above <= 1.0:
            raise ValueError(
                "divergence: 0 <= chance_margin < clearly_above <= 1 must hold, got "
                f"chance_margin={self.chance_margin!r}, clearly_above={self.clearly_above!r}"
            )
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"divergence.patience must be a positive integer, got {self.patience!r}")

    @classmethod
    def from_settings(cls, overrides: Mapping[str, object] | None = None) -> DivergenceRule:
        """The defaults, then the environment's ARENA_DIVERGENCE_* values, then `overrides` (ValueError naming one)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw:
                try:
                    values[f.name] = int(raw) if f.name == "patience" else float(raw)
                except ValueError:
                    raise ValueError(f"{ENV_PREFIX}{f.name.upper()} must be a number, got {raw!r}") from None
        unknown = set(overrides or {}) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"divergence: unknown setting {', '.join(sorted(unknown))}")
        return replace(cls(), **{**values, **(overrides or {})})

    def as_dict(self) -> dict:
        return asdict(self)


# Overrides that leave only the first test: a non-finite loss. For runs that must train on through a
# collapse (the η* search's probes, judged by whether they reach a threshold within their budget).
NON_FINITE_ONLY = {"loss_factor": math.inf, "chance_margin": 0.0, "clearly_above": 1.0}


@dataclass(frozen=True)
class Divergence:
    epoch: int
    kind: str  # "non_finite_loss" | "loss_explosion" | "collapse"
    reason: str  # one sentence, for people


def find_divergence(
    epochs: Sequence[Mapping], num_classes: int, rule: DivergenceRule | None = None
) -> Divergence | None:
    """The first divergence in an epoch series (dicts with epoch, train_loss, test_loss, test_acc), or None."""
    rule = rule or DivergenceRule()
    chance = 1.0 / num_classes
    guess_loss = math.log(num_classes)
    best_loss = {key: math.inf for key, _ in LOSSES}
    best_acc = -math.inf
    streak_start, streak = None, 0
    for row in epochs:
        epoch = row["epoch"]
        for key, label in LOSSES:
            if key not in row:
                continue
            value = row[key]
            if value is None or not math.isfinite(value):
                return Divergence(epoch, "non_finite_loss", f"{label} is not finite at epoch {epoch}")
            best = best_loss[key]
            if value > rule.loss_factor * best and value > guess_loss:
                return Divergence(
                    epoch,
                    "loss_explosion",
                    f"{label} {value:.3g} at epoch {epoch} is {value / best:.0f}× its best {best:.3g} "
                    f"(limit {rule.loss_factor:g}×, and above ln({num_classes}) = {guess_loss:.2f})",
                )
            best_loss[key] = min(best, value)
        acc = row.get("test_acc")
        if acc is None:
            continue
        if best_acc >= chance + rule.clearly_above and acc <= chance + rule.chance_margin:
            streak_start = streak_start if streak else epoch
            streak += 1
            if streak >= rule.patience:
                return Divergence(
                    streak_start,
                    "collapse",
                    f"test accuracy fell to {acc:.3f} at epoch {streak_start}, chance level "
                    f"(1/{num_classes} + {rule.chance_margin:g}), after reaching {best_acc:.3f}",
                )
        else:
            streak = 0
        best_acc = max(best_acc, acc)
    return None
