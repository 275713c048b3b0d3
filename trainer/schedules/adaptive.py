"""Adaptive kinds: the LR follows a metric that training reports, epoch by epoch.

After each epoch the engine calls ``policy.observe(epoch, metrics, total_epochs)``:
``epoch`` is the 1-based epoch just finished, ``metrics`` its dict (keys
"train_loss", "train_acc", "test_loss", "test_acc"; a value is None when it
was not finite). A change decided after epoch E applies from t = E on, the
first iteration of epoch E+1, as with torch's ReduceLROnPlateau stepped once
per epoch. The changes are kept as (epoch, value) pairs, so ``policy(t)`` is a
pure function of t and of what has been observed; ``state_dict()`` saves them.
Both kinds work in epochs only.

The plateau test is torch.optim.lr_scheduler.ReduceLROnPlateau's, exactly.
An epoch improves when its metric beats the best so far: with mode min,
metric < best·(1 - threshold) (threshold_mode rel) or metric < best - threshold
(abs); with mode max, metric > best·(1 + threshold) or metric > best + threshold.
A metric that is missing, None or not finite never improves. Once more than
``patience`` epochs in a row have not improved, a plateau is declared: the
count restarts and the next ``cooldown`` epochs count no bad epochs. Mode
"auto" is min for a loss and max for an accuracy.

PLATEAU: on a plateau lr <- max(lr·factor, min_lr), skipped when that changes
the LR by eps or less: the LR is k0 times the reductions so far.

SWITCH (LRBench's dynamic switching): ``policies`` is ordered from the largest
LR to the smallest, meaning that each policy's highest LR is at most the
previous one's (validation enforces it). Policy ``initial`` runs from t = 0. On
a plateau declared after epoch E, with T = total_epochs:

- E < switch_point·T: move one place toward index 0, to a larger LR;
- E >= switch_point·T: move one place toward the end, to a smaller LR;
- never past either end (at an end the plateau changes nothing but still
  starts the cooldown).

The policy moved to runs from t = E with its own clock, evaluated at t - E,
and the best metric is forgotten: the new policy is judged by its own progress.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .composite import MAX_STAGES, stages_bounds
from .errors import ErrorBag, join
from .params import Param, lr, real
from .policy import lr_bounds, make_fn
from .registry import KindDecl, register

METRICS = ("test_loss", "test_acc", "train_loss", "train_acc")
MAX_WAIT = 1000  # longest patience or cooldown, in epochs
EPOCH = ("epoch",)

MONITOR = Param(
    "monitor", "choice", "the reported metric to watch", default="test_loss", required=False, choices=METRICS
)
MODE = Param(
    "mode",
    "choice",
    "min: lower is better; max: higher is better; auto: min for losses, max for accuracies",
    default="auto",
    required=False,
    choices=("auto", "min", "max"),
)
THRESHOLD = real("threshold", "smallest change that counts as an improvement", 1e-4, 0.0, 1e3, required=False)
THRESHOLD_MODE = Param(
    "threshold_mode",
    "choice",
    "rel: beat best·(1 ∓ threshold); abs: beat best ∓ threshold",
    default="rel",
    required=False,
    choices=("rel", "abs"),
)


def epochs_param(name: str, help: str, default: int) -> Param:
    """A number of epochs in [0, MAX_WAIT]."""
    return Param(name, "int", help, default=default, required=False, min=0, max=MAX_WAIT)


@dataclass
class PlateauTest:
    """ReduceLROnPlateau's bookkeeping, without the LR change. ``best`` None: nothing seen yet."""

    mode: str
    threshold: float
    threshold_mode: str
    patience: int
    cooldown: int
    best: float | None = None
    bad_epochs: int = 0
    cooldown_left: int = 0

    @classmethod
    def of(cls, spec: dict[str, Any]) -> PlateauTest:
        mode = spec["mode"]
        if mode == "auto":
            mode = "max" if spec["monitor"].endswith("_acc") else "min"
        return cls(mode, spec["threshold"], spec["threshold_mode"], spec["patience"], spec["cooldown"])

    def improves(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.best is None:
            return True
        best, threshold = self.best, self.threshold
        if self.mode == "min":  # the same expressions as torch, so that ties agree
            return value < (best * (1.0 - threshold) if self.threshold_mode == "rel" else best - threshold)
        return value > (best * (threshold + 1.0) if self.threshold_mode == "rel" else best + threshold)

    def step(self, improved: bool, value: float | None) -> bool:
        """Count one epoch; True when it ends a plateau."""
        if improved:
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self.cooldown_left = self.cooldown
            self.bad_epochs = 0
            return True
        return False


class EpochTracker:
    """What one adaptive policy has observed, as (epoch, value) changes, and its LR at any t."""

    kind = ""

    def __init__(self, spec: dict[str, Any], initial: Any) -> None:
        self._monitor: str = spec["monitor"]
        self._test = PlateauTest.of(spec)
        self._last_epoch = 0
        self._starts: list[int] = [0]  # epoch from which each value applies
        self._values: list[Any] = [initial]

    def lr(self, t: float) -> float:
        i = bisect_right(self._starts, t) - 1
        return self._lr(self._starts[i], self._values[i], t)

    def observe(self, epoch: int, metrics: Mapping[str, Any], total_epochs: int) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= self._last_epoch:
            raise ValueError(
                f"epoch must be a whole number above the last observed ({self._last_epoch}), got {epoch!r}"
            )
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(f"total_epochs must be a positive whole number, got {total_epochs!r}")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a mapping, got {type(metrics).__name__}")
        value = _finite(metrics.get(self._monitor))
        self._advance(epoch, self._test.improves(value), value, total_epochs)

    def assume_plateau(self, after: int, total_epochs: int) -> str:
        for epoch in range(self._last_epoch + 1, total_epochs + 1):
            self._advance(epoch, epoch <= after, None, total_epochs)
        return (
            f"assumes {self._monitor} improves every epoch up to epoch {after} and never after"
            f"{self._assumption_tail(total_epochs)}; in training the LR follows the reported {self._monitor}"
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "last_epoch": self._last_epoch,
            "best": self._test.best,
            "bad_epochs": self._test.bad_epochs,
            "cooldown_left": self._test.cooldown_left,
            "changes": [[start, value] for start, value in zip(self._starts, self._values, strict=True)],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            parsed = self._parse(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a state of this {self.kind} policy: {exc}") from None
        last_epoch, best, bad_epochs, cooldown_left, starts, values = parsed
        self._last_epoch = last_epoch
        self._test.best, self._test.bad_epochs, self._test.cooldown_left = best, bad_epochs, cooldown_left
        self._starts, self._values = starts, values

    def _advance(self, epoch: int, improved: bool, value: float | None, total_epochs: int) -> None:
        self._last_epoch = epoch
        if self._test.step(improved, value):
            new = self._on_plateau(epoch, total_epochs)
            if new is not None:
                self._starts.append(epoch)
                self._values.append(new)

    def _parse(self, state: Mapping[str, Any]) -> tuple:
        if not isinstance(state, Mapping) or state["kind"] != self.kind:
            raise ValueError(f"expected a {self.kind} state")
        last_epoch = _count(state["last_epoch"], "last_epoch")
        best = state["best"]
        if best is not None and _finite(best) is None:
            raise ValueError("best must be a finite number or null")
        bad_epochs = _count(state["bad_epochs"], "bad_epochs")
        cooldown_left = _count(state["cooldown_left"], "cooldown_left")
        if cooldown_left > self._test.cooldown:
            raise ValueError("cooldown_left exceeds the cooldown")
        changes = state["changes"]
        if not isinstance(changes, list | tuple) or not changes:
            raise ValueError("changes must be a non-empty list")
        starts = [_count(start, "a change's epoch") for start, _ in changes]
        values = [self._checked_value(value) for _, value in changes]
        if starts[0] != 0 or values[0] != self._values[0]:
            raise ValueError("the first change must be the initial value at epoch 0")
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)) or starts[-1] > last_epoch:
            raise ValueError("change epochs must increase and not pass last_epoch")
        return last_epoch, best if best is None else float(best), bad_epochs, cooldown_left, starts, values

    # Each kind: the LR of a change, what a plateau does, how to check a saved value.

    def _lr(self, start: int, value: Any, t: float) -> float:
        raise NotImplementedError

    def _on_plateau(self, epoch: int, total_epochs: int) -> Any:
        """The new value, or None for no change."""
        raise NotImplementedError

    def _checked_value(self, value: Any) -> Any:
        raise NotImplementedError

    def _assumption_tail(self, total_epochs: int) -> str:
        return ""


def _finite(value: Any) -> float | None:
    """A finite float from a reported number (a 0-dim tensor too, as torch's scheduler takes), else None."""
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0")
    return value


# PLATEAU: torch's ReduceLROnPlateau.


class PlateauTracker(EpochTracker):
    kind = "PLATEAU"

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec, spec["k0"])
        self._factor, self._min_lr, self._eps = spec["factor"], spec["min_lr"], spec["eps"]

    def _lr(self, start: int, value: float, t: float) -> float:
        return value

    def _on_plateau(self, epoch: int, total_epochs: int) -> float | None:
        old = self._values[-1]
        new = max(old * self._factor, self._min_lr)
        return new if old - new > self._eps else None

    def _checked_value(self, value: Any) -> float:
        number = _finite(value)
        if number is None or not 0.0 < number <= self._values[0]:
            raise ValueError("each LR must be a number in (0, k0]")
        return number


def _plateau_bounds(s: dict) -> tuple[float, float]:
    return (min(s["k0"], s["min_lr"]), s["k0"])


register(
    KindDecl(
        "PLATEAU",
        "Reduce on plateau",
        "adaptive",
        "multiply the LR by factor whenever the monitored metric stops improving for more than patience epochs "
        "(torch's ReduceLROnPlateau); the LR depends on what training reports",
        "k0 · factor^(plateaus so far), never below min_lr",
        (
            lr("k0", "initial LR", 0.1),
            MONITOR,
            MODE,
            real("factor", "LR multiplier at each plateau", 0.1, 1e-6, 1.0, high_inclusive=False, required=False),
            epochs_param("patience", "epochs without improvement tolerated; one more is a plateau", 10),
            THRESHOLD,
            THRESHOLD_MODE,
            epochs_param("cooldown", "epochs after a reduction during which bad epochs are not counted", 0),
            lr("min_lr", "the LR never goes below this", 0.0, positive=False, required=False),
            real("eps", "a reduction smaller than this is skipped", 1e-8, 1e-12, 1.0, required=False),
        ),
        lambda s, unit: PlateauTracker(s).lr,
        _plateau_bounds,
        units=EPOCH,
        tracker=PlateauTracker,
    )
)


# SWITCH: LRBench's dynamic switching along an ordered list of policies.


class SwitchTracker(EpochTracker):
    kind = "SWITCH"

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec, spec["initial"])
        self._stages = tuple(make_fn(stage, spec["unit"]) for stage in spec["policies"])
        self._switch_point = spec["switch_point"]

    def _lr(self, start: int, index: int, t: float) -> float:
        return self._stages[index](t - start)

    def _on_plateau(self, epoch: int, total_epochs: int) -> int | None:
        step = -1 if epoch < self._switch_point * total_epochs else 1  # -1: toward index 0, a larger LR
        target = self._values[-1] + step
        if not 0 <= target < len(self._stages):
            return None
        self._test.best = None
        return target

    def _checked_value(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(self._stages):
            raise ValueError(f"each policy index must be a whole number in [0, {len(self._stages) - 1}]")
        return value

    def _assumption_tail(self, total_epochs: int) -> str:
        switch_epoch = self._switch_point * total_epochs
        return f", and that training lasts {total_epochs} epochs (switch point: epoch {switch_epoch:g})"


def _check_switch(s: dict, bag: ErrorBag, path: str, unit: str) -> None:
    policies = s["policies"]
    if policies is None:
        return
    if s["initial"] is not None and s["initial"] >= len(policies):
        bag.add(join(path, "initial"), f"must be an index into policies: at most {len(policies) - 1}")
    highest = [lr_bounds(policy)[1] for policy in policies]
    for i in range(1, len(policies)):
        if highest[i] > highest[i - 1]:
            bag.add(
                join(path, f"policies.{i}"),
                f"policies go from the largest LR to the smallest: this one reaches {highest[i]:g}, "
                f"above policies.{i - 1} ({highest[i - 1]:g})",
            )


register(
    KindDecl(
        "SWITCH",
        "Switch on plateau",
        "adaptive",
        "LRBench's dynamic switching: policies are ordered from the largest LR (index 0) to the smallest; on a "
        "plateau of the monitored metric after epoch E, move one place toward index 0 (a larger LR) if "
        "E < switch_point·total_epochs, else one place toward the end (a smaller LR), never past either end; "
        "then wait cooldown epochs. The policy moved to starts its own clock at E.",
        "policies[i](t - E_i), i the active policy and E_i the epoch it became active",
        (
            Param(
                "policies",
                "spec_list",
                "policies ordered from the largest LR to the smallest (each one's highest LR at most the "
                "previous one's); each restarts its clock when it becomes active",
                default=[
                    {"kind": "FIX", "k0": 0.3},
                    {"kind": "FIX", "k0": 0.1},
                    {"kind": "COS", "k0": 0.001, "k1": 0.03, "l": 5.0},
                ],
                min_len=2,
                max_len=MAX_STAGES,
            ),
            Param(
                "initial",
                "int",
                "index of the policy to start with (0: the largest LR)",
                default=1,
                required=False,
                min=0,
                max=MAX_STAGES - 1,
            ),
            MONITOR,
            MODE,
            epochs_param("patience", "epochs without improvement tolerated; one more is a plateau", 3),
            THRESHOLD,
            THRESHOLD_MODE,
            epochs_param("cooldown", "epochs after a plateau during which bad epochs are not counted", 2),
            real(
                "switch_point",
                "share of training before which a plateau moves to a larger LR, after which to a smaller one",
                0.8,
                0.0,
                1.0,
                required=False,
            ),
        ),
        lambda s, unit: SwitchTracker(s).lr,
        lambda s: stages_bounds(s["policies"]),
        units=EPOCH,
        check=_check_switch,
        composite=True,
        tracker=SwitchTracker,
    )
)
