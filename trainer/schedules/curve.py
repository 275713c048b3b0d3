"""Sampled curves for previews: the LR over [0, epochs], t always in epochs.

An adaptive policy's LR depends on the metric training reports, which a
preview does not have: it is simulated under a stated assumption (the metric
improves over the first PLATEAU_SHARE of the window and never after), returned
in words as "assumption".
"""

from __future__ import annotations

import math
from typing import Any

from .budget import ConversionTooLong, conversion_budget
from .errors import ErrorBag, SpecError
from .params import to_number
from .policy import Policy, build

MAX_EPOCHS = 100_000.0
MAX_POINTS = 20_000
MAX_STEPS_PER_EPOCH = 10_000_000
PLATEAU_SHARE = 0.2  # early enough that the window shows a few plateaus
# Li & Arora's exact conversions (EXPCOS, NOWD) cost one Python step per iteration
# (~1-2 us, more for a nested base): a preview computes at most this many steps, all
# its conversions together and a nested base's steps counted once per level, which
# keeps every preview within ~50 ms (bench/bench_schedules.py measures it).
MAX_PREVIEW_CONVERSION_STEPS = 12_000


def curve(
    spec: Any,
    epochs: float,
    points: int = 500,
    steps_per_epoch: int | None = None,
    max_conversion_steps: int | None = MAX_PREVIEW_CONVERSION_STEPS,
) -> dict[str, Any]:
    """{"t": [...], "lr": [...], "unit": "epoch"}: ``points`` samples, both ends included.

    For a policy in iterations ``steps_per_epoch`` is required: the policy is
    evaluated at t·steps_per_epoch. For an adaptive policy the result also has
    "assumption": the simulated metric, in words (the caller's policy is not touched).
    A preview that would compute more than ``max_conversion_steps`` iterations of an
    exact conversion (EXPCOS, NOWD; None: no limit) is a SpecError on "epochs".
    """
    bag = ErrorBag()
    policy = _policy(spec, bag)
    span = _epochs(epochs, bag)
    count = _whole(points, "points", 2, MAX_POINTS, bag)
    per_epoch = None
    if steps_per_epoch is not None or (policy is not None and policy.unit == "iteration"):
        per_epoch = _whole(steps_per_epoch, "steps_per_epoch", 1, MAX_STEPS_PER_EPOCH, bag)
    bag.raise_if_any()
    assert policy is not None and span is not None and count is not None
    scale = per_epoch if policy.unit == "iteration" and per_epoch else 1
    ts = [span * k / (count - 1) for k in range(count)]
    ts[-1] = span
    assumption = None
    if policy.adaptive:
        policy = build(policy.spec)  # a fresh state: the simulated metric must not reach a caller's policy
        assumption = policy.assume_plateau(after=max(1, round(span * PLATEAU_SHARE)), total_epochs=math.ceil(span))
    try:
        lrs = _sample(policy, [t * scale for t in ts], max_conversion_steps)
    except ConversionTooLong:
        raise SpecError({"epochs": [
            f"this preview would compute more than {max_conversion_steps} iterations of the policy's exact "
            "weight-decay conversion (EXPCOS, NOWD; fewer with a nested base): preview fewer epochs, "
            "or lower steps_per_epoch or the horizon"
        ]}) from None
    result: dict[str, Any] = {"t": ts, "lr": lrs, "unit": "epoch"}
    if assumption is not None:
        result["assumption"] = assumption
    return result


def _sample(policy: Policy, ts: list[float], max_conversion_steps: int | None) -> list[float]:
    if max_conversion_steps is None:
        return [policy(t) for t in ts]
    with conversion_budget(max_conversion_steps, shared=True):  # a caller's budget (the API's) wins
        return [policy(t) for t in ts]


def _policy(spec: Any, bag: ErrorBag) -> Policy | None:
    try:
        return build(spec)
    except SpecError as exc:
        for path, messages in exc.errors.items():
            for message in messages:
                bag.add(path, message)
        return None


def _epochs(epochs: Any, bag: ErrorBag) -> float | None:
    value = to_number(epochs, "epochs", bag)
    if value is not None and not 0.0 < value <= MAX_EPOCHS:
        bag.add("epochs", f"must be in (0, {MAX_EPOCHS:g}]")
        return None
    return value


def _whole(value: Any, field: str, low: int, high: int, bag: ErrorBag) -> int | None:
    if value is None:
        bag.add(field, "required for a policy in iterations")
        return None
    number = to_number(value, field, bag)
    if number is None:
        return None
    if not number.is_integer() or not low <= number <= high:
        bag.add(field, f"must be a whole number in [{low}, {high}]")
        return None
    return int(number)
