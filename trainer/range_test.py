"""The LR range test (Smith 2017; fastai's lr_find, torch-lr-finder), and the LRs it suggests.

One short run with an exponentially growing LR; `suggest_lrs` reads LRs off
its smoothed loss curve (steepest descent, valley, minimum), and a prefill for
the cyclic policy kinds. `plan_range_test` checks the arguments
(UserInputError naming one) before any training; `run_range_test` runs a
checked plan; `lr_range_test` does both.

Light to import: torch, numpy and the core are imported when a test runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer.errors import UserInputError
from trainer.schedules.params import MAX_LR  # the largest LR a policy takes: suggestions must be policies
from trainer.tool_params import ToolParam, check, unknown_arguments

MAX_RANGE_STEPS = 10_000  # each step waits for the host: more is a long run, not a range test
SKIP_START_FRACTION = 0.1  # suggestions ignore the first tenth: an EMA of a few losses is noise
VALLEY_POSITION = 2 / 3  # how far down the longest descent the valley pick lies
CYCLIC_BASE_DIVISOR = 4.0  # Smith (2017): a cycle's base LR is a third to a quarter of its max


@dataclass(frozen=True)
class RangeTestPlan:
    """A validated range test: every argument of lr_range_test but the callbacks."""

    workload: str
    min_lr: float
    max_lr: float
    steps: int
    beta: float
    diverge_factor: float
    seed: int
    options: dict[str, Any]
    optimizer: dict[str, Any]
    data_dir: Any
    device: str


# The range test's parameters, declared once: lr_range_test checks them, `lr-range` takes them as flags,
# the dashboard's job API generates its fields from them (job_min/job_max: what one job may ask).
RANGE_PARAMS = (
    ToolParam(
        "min_lr",
        "float",
        "the first step's LR",
        default=1e-7,
        min=0.0,
        min_inclusive=False,
        max=MAX_LR,
        job_min=1e-10,
        job_max=1.0,
    ),
    ToolParam(
        "max_lr", "float", "the last step's LR", default=10.0, min=0.0, min_inclusive=False, max=MAX_LR, job_min=1e-6
    ),
    ToolParam(
        "steps",
        "int",
        "training steps, LR growing geometrically",
        default=100,
        min=5,
        max=MAX_RANGE_STEPS,
        job_min=10,
        job_max=5000,
    ),
    ToolParam(
        "beta",
        "float",
        "the loss's smoothing factor",
        default=0.98,
        min=0.0,
        max=1.0,
        max_inclusive=False,
        job_max=0.999,
    ),
    ToolParam(
        "diverge_factor",
        "float",
        "stop when the smoothed loss exceeds this x its best",
        default=4.0,
        min=1.0,
        min_inclusive=False,
        job=False,
    ),
    ToolParam("seed", "int", "the network's initialisation and data order", default=0, job_min=0, job_max=2**31 - 1),
)


def lr_range_test(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    on_step: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> dict:
    """The LR range test: train one short run with the LR growing exponentially; suggest LRs from its loss.

    params are RANGE_PARAMS (min_lr, max_lr, steps, beta, diverge_factor,
    seed), each defaulting as declared there.

    Step i (0-based) trains one mini-batch at LR min_lr·(max_lr/min_lr)^(i/(steps−1)),
    so the first step uses min_lr and the last max_lr; batches are a seeded
    shuffle of the training set, reshuffled when it runs out (full batches
    only). The loss recorded at step i is that batch's loss before the update
    at LR i, as fastai and torch-lr-finder record it. Smoothed: the
    bias-corrected exponential moving average a_i = beta·a_(i−1) + (1 − beta)·loss_i,
    smoothed_i = a_i / (1 − beta^(i+1)). The test stops early ("diverged") once
    the smoothed loss exceeds diverge_factor × the best so far, ("non_finite")
    at a NaN or infinite loss, or ("cancelled") when should_stop() says so.
    The model, optimizer and data come from the workload as in the engine; the
    model is thrown away.

    Suggestions, from the recorded steps less the first tenth (noise) and less
    the step that stopped the test:
      - "steepest": the LR where d(smoothed)/d(log LR) is most negative
        (numpy.gradient: central differences);
      - "valley": the longest run of consecutive steps over which the smoothed
        loss falls at every step (ties: the first) spans steps a..b; the pick
        is step a + round(2/3·(b − a)), two thirds of the way down the longest
        descent. (fastai's valley takes the longest decreasing subsequence
        instead, which can thread through the noisy plateau at tiny LRs and
        pick an LR there; a run cannot.)
      - "min_loss": the LR of the smallest smoothed loss, and "min_loss_div10",
        a tenth of it, the conventional pick;
    all None when fewer than 3 steps remain.
    "cyclic", a prefill for the cyclic kinds (TRI, SIN, ...): k1 = the valley
    LR, a top that the loss still falls at; k0 = k1 / 4 (Smith 2017: the base a
    third to a quarter of the top). None with no suggestions.

    on_step({"step", "lr", "loss", "smoothed"}) follows every step (non-finite
    values as None). Reading the loss is one host sync per step, by design: it
    decides when to stop. Raises UserInputError naming the argument before any training.
    """
    test = plan_range_test(workload, workload_options=workload_options, data_dir=data_dir, device=device, **params)
    return run_range_test(test, on_step, should_stop or _never)


def plan_range_test(
    workload: str,
    *,
    workload_options: dict | None = None,
    data_dir: Any = None,
    device: str = "auto",
    **params: Any,
) -> RangeTestPlan:
    """The range test's arguments checked (RANGE_PARAMS, the workload and its options, the device)."""
    from trainer import core
    from trainer.workloads import get_workload, resolve_optimizer

    unknown_arguments("lr_range_test", RANGE_PARAMS, params)
    spec = get_workload(workload)
    core.check_held_in_memory(spec)
    values = check(RANGE_PARAMS, params)
    if values["max_lr"] <= values["min_lr"]:
        raise UserInputError(
            "max_lr", f"max_lr must be greater than min_lr ({values['min_lr']!r}), got {values['max_lr']!r}"
        )
    options = spec.resolve_options(workload_options)
    config = core.TrainConfig(
        workload=spec.name,
        policy={"kind": "FIX", "k0": values["min_lr"]},
        epochs=1,
        seed=values["seed"],
        device=device,
        data_dir=data_dir,
        workload_options=options,
    )
    core.validate(config)  # device
    return RangeTestPlan(
        workload=spec.name,
        options=options,
        optimizer=resolve_optimizer(spec.optimizer, None),
        data_dir=data_dir,
        device=device,
        **values,
    )


def run_range_test(test: RangeTestPlan, on_step: Callable[[dict], None] | None, stop_requested: Callable[[], bool]):
    from trainer import core
    from trainer.workloads import get_workload

    workload = get_workload(test.workload)
    device = core.resolve_device(test.device)
    with core.workload_threads(workload, device):
        lrs, losses, smoothed, stop_reason = _range_losses(test, workload, device, on_step, stop_requested)
    usable = len(lrs) - (1 if stop_reason in ("diverged", "non_finite") else 0)
    suggestions = suggest_lrs(lrs[:usable], smoothed[:usable])
    cyclic = None
    if suggestions["valley"] is not None:
        cyclic = {"k0": suggestions["valley"] / CYCLIC_BASE_DIVISOR, "k1": suggestions["valley"]}
    return {
        "workload": test.workload,
        "workload_options": test.options,
        "optimizer": test.optimizer,
        "min_lr": test.min_lr,
        "max_lr": test.max_lr,
        "steps": test.steps,
        "beta": test.beta,
        "diverge_factor": test.diverge_factor,
        "seed": test.seed,
        "lrs": lrs,
        "losses": core.json_safe(losses),
        "smoothed": core.json_safe(smoothed),
        "stopped_early": stop_reason is not None,
        "stop_reason": stop_reason,
        "suggestions": suggestions,
        "cyclic": cyclic,
    }


def range_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """The range test's LRs: geometric from min_lr (step 0) to max_lr (step steps − 1)."""
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def _range_losses(test: RangeTestPlan, workload: Any, device: Any, on_step, stop_requested):
    """Train through the LR ramp: (lrs, losses, smoothed, stop_reason) of the steps taken."""
    import torch
    import torch.nn.functional as F

    from trainer import core

    torch.manual_seed(test.seed)  # the model's initialisation, as in the engine
    shuffle_rng = torch.Generator(device=device).manual_seed(test.seed)
    config = core.TrainConfig(
        workload=test.workload, policy=None, epochs=1, data_dir=test.data_dir, workload_options=test.options
    )
    x_train, y_train, _, _ = core.load_data(config, workload, device)
    memory_format = core.memory_format(workload)
    model = core.build_model(workload, test.options, device)
    schedule = range_lrs(test.min_lr, test.max_lr, test.steps)
    optimizer = core.build_optimizer(test.optimizer, workload.param_groups(model, test.options), lr=schedule[0])
    batches = _endless_batches(len(x_train), workload.batch_size, shuffle_rng, device)
    model.train()

    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    for step, lr in enumerate(schedule):
        if stop_requested():
            return lrs, losses, smoothed, "cancelled"
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        batch = next(batches)
        inputs = x_train[batch]
        if workload.augment is not None:
            inputs = workload.augment(inputs, shuffle_rng)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(inputs.contiguous(memory_format=memory_format))
        loss = F.cross_entropy(logits.float(), y_train[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        value = loss.item()  # a host sync every step, by design: this loss decides when to stop
        average = test.beta * average + (1 - test.beta) * value
        smooth = average / (1 - test.beta ** (step + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(smooth)
        if on_step is not None:
            on_step(core.json_safe({"step": step, "lr": lr, "loss": value, "smoothed": smooth}))
        if not math.isfinite(smooth):
            return lrs, losses, smoothed, "non_finite"
        best = min(best, smooth)
        if smooth > test.diverge_factor * best:
            return lrs, losses, smoothed, "diverged"
    return lrs, losses, smoothed, None


def _endless_batches(n: int, batch_size: int, generator: Any, device: Any):
    """Index batches of a fresh shuffle of range(n) per pass, forever; a pass's last partial batch is skipped."""
    import torch

    size = min(batch_size, n)
    while True:
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


def suggest_lrs(lrs: list[float], smoothed: list[float]) -> dict[str, float | None]:
    """Suggested LRs from a range test's LRs and smoothed losses, the step that stopped it left out.

    {"steepest", "valley", "min_loss", "min_loss_div10"}, by the rules in
    lr_range_test's docstring, computed without the first tenth of the steps;
    all None when fewer than 3 steps remain.
    """
    import numpy as np

    skip = int(len(lrs) * SKIP_START_FRACTION)
    lrs, smoothed = lrs[skip:], smoothed[skip:]
    if len(lrs) < 3:
        return {"steepest": None, "valley": None, "min_loss": None, "min_loss_div10": None}
    losses = np.array(smoothed, dtype=float)
    slopes = np.gradient(losses, np.log(np.array(lrs, dtype=float)))
    first, last = _longest_descent(smoothed)
    min_loss = lrs[int(np.argmin(losses))]
    return {
        "steepest": lrs[int(np.argmin(slopes))],
        "valley": lrs[first + round(VALLEY_POSITION * (last - first))],
        "min_loss": min_loss,
        "min_loss_div10": min_loss / 10,
    }


def _longest_descent(values: list[float]) -> tuple[int, int]:
    """(first, last) index of the longest run of consecutive steps over which values fall at every step.

    Ties: the first such run. A single value is a run of length zero: (0, 0).
    """
    first, last = 0, 0
    start = 0
    for i in range(1, len(values)):
        if values[i] >= values[i - 1]:
            start = i
        elif i - start > last - first:
            first, last = start, i
    return first, last


def _never() -> bool:
    return False
