"""Li & Arora's equivalence, checked by training: weight decay or an exponentially growing LR.

For a loss that is scale-invariant in the trained weights, momentum SGD with
weight decay wd and LR eta_t computes the same network function at every step
as momentum SGD without weight decay and the LR that
``trainer.schedules.remove_weight_decay`` derives (shared/reference/papers.md,
section 1); the weights differ only in scale, theta_A(t) = c_t · theta_B(t),
and c_t shrinks geometrically. ``equivalence_study`` trains both from one
initialisation on the same batches and records how far their predictions and
their weight norms drift apart:

    from trainer.equivalence import equivalence_study
    study = equivalence_study({"kind": "FIX", "k0": 0.1}, wd=5e-3, iterations=200)
    study["max_prob_diff_overall"], study["norm_b"][-1] / study["norm_a"][-1]

``model="mlp"`` (the default) is a small scale-invariant network on the 8x8
digits in float64, where the predictions agree to rounding error (about 1e-15
over 200 steps; rounding differences then grow as training amplifies any
perturbation, to about 3e-11 by step 1,000). ``model="preresnet32"`` is Li &
Arora's network (fixed BN scale and bias, fixed last layer) on synthetic
CIFAR-shaped tensors, for a GPU: float32 by default, where its gradients carry
rounding errors of a few 1e-3 (relative, measured against float64 on a CPU;
the workload's own network shows the same), so the runs part by more than the
conversion could explain within a few steps; float64 checks it exactly.

EQUIVALENCE_PARAMS declares the study's parameters once (checks, the
`equivalence` command's flags, the job API's fields); `plan_study` checks
them and converts the policy before any training. The networks and the
training are in trainer.scale_invariant (torch), imported when a study runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trainer.cli_support import add_where_arguments, fmt, run_tool_command
from trainer.errors import UserInputError
from trainer.schedules import SpecError, build, remove_weight_decay
from trainer.tool_params import ToolParam, add_arguments, check, cli_values, unknown_arguments

MAX_ITERATIONS = 100_000
EVAL_SIZE = 512  # test samples in the fixed batch that predictions and accuracy are measured on (digits: all 360)
MODELS = {"mlp": ("digits", "synthetic"), "preresnet32": ("synthetic",)}  # model: its data sets, default first
DEFAULT_DTYPE = {"mlp": "float64", "preresnet32": "float32"}
DIGITS_SIZES = (1437, 360)  # (train, test): trainer.data.load_digits's split of the 1,797 digits
SYNTHETIC_SIZES = {"mlp": DIGITS_SIZES, "preresnet32": (2048, 256)}  # the MLP's as the digits'
BATCH_SIZE = 64


class BadArgument(UserInputError):
    """An argument of ``equivalence_study`` is invalid; ``name`` (``field``) is the argument."""

    @property
    def name(self) -> str:
        return self.field

    @property
    def problem(self) -> str:
        return self.message


# The study's parameters, declared once: equivalence_study checks them, `equivalence` takes them as flags, the
# dashboard's job API generates its fields from them (job_min/job_max: what one job may ask of a worker).
EQUIVALENCE_PARAMS = (
    ToolParam("wd", "float", "weight decay of run A", default=5e-4, min=0.0, max=1.0, job_min=1e-6, job_max=0.1),
    ToolParam(
        "momentum",
        "float",
        "SGD momentum of both runs",
        default=0.9,
        min=0.0,
        max=1.0,
        max_inclusive=False,
        job_max=0.99,
    ),
    ToolParam("iterations", "int", "SGD steps", default=200, min=1, max=MAX_ITERATIONS, job_min=10, job_max=5000),
    ToolParam(
        "steps_per_epoch",
        "int",
        "the policy's epoch length in iterations (default: the data's, batch_size samples a step)",
        nullable=True,
        min=1,
        job_max=100_000,
    ),
    ToolParam("seed", "int", "the network's initialisation and batch order", default=0, job_min=0, job_max=2**31 - 1),
    ToolParam(
        "model",
        "choice",
        "mlp (digits, float64) or preresnet32 (synthetic, float32)",
        default="mlp",
        choices=tuple(MODELS),
        job=False,
    ),
    ToolParam(
        "data",
        "choice",
        "the data set (default: the model's first)",
        nullable=True,
        choices=("digits", "synthetic"),
        job=False,
    ),
    ToolParam("batch_size", "int", "samples a step", default=BATCH_SIZE, min=2, job=False),
    ToolParam(
        "dtype",
        "choice",
        "default: float64 for mlp, float32 for preresnet32 (float64 there checks the equivalence exactly)",
        nullable=True,
        choices=("float32", "float64"),
        job=False,
    ),
    ToolParam("eval_size", "int", "test samples in the fixed evaluation batch", default=EVAL_SIZE, min=2, job=False),
)


@dataclass(frozen=True)
class StudyPlan:
    """A checked study: every argument of equivalence_study but the callbacks, the policy converted."""

    spec: dict[str, Any]  # run A's policy, normalised
    converted_spec: dict[str, Any] | None  # run B's (None for the control: B trains with spec)
    convert: bool
    wd: float
    momentum: float
    iterations: int
    steps_per_epoch: int
    seed: int
    model: str
    data: str
    batch_size: int
    dtype: str
    eval_size: int
    train_size: int
    test_size: int
    device: str


def equivalence_study(
    spec: Any,
    *,
    device: str = "cpu",
    convert: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    report_every: int = 1,
    **params: Any,
) -> dict[str, Any]:
    """Train A (momentum SGD, weight decay ``wd``, LR from ``spec``) and B (no weight decay,
    LR from ``remove_weight_decay(spec, ...)``) from one initialisation on the same batches.

    params are EQUIVALENCE_PARAMS (wd, momentum, iterations, steps_per_epoch,
    seed, model, data, batch_size, dtype, eval_size), each defaulting as
    declared there. ``steps_per_epoch`` is the policy's epoch length in
    iterations (default: the data's, batch_size samples a step, the last
    partial batch dropped); ``data`` defaults to the model's first (MODELS);
    ``dtype`` ("float32", "float64" or a torch dtype) to float64 for the MLP,
    float32 for PreResNet-32. ``convert=False`` is the control: B trains with
    ``spec`` itself, no weight decay, and should *not* match A.
    ``on_step(record)`` is called every ``report_every`` steps and after the
    last, with the keys of one step of the series below (scalars). The first
    ``eval_size`` test samples are the fixed evaluation batch.

    Returns, per step (downsampled to at most 500 evenly spaced steps, the
    last included): "iterations" (steps taken, 1..N), "loss_a"/"loss_b"
    (the step's training loss, before its update), "max_prob_diff" (the
    largest |p_A - p_B| of the predicted probabilities on the evaluation
    batch, after the update), "norm_a"/"norm_b" (global L2 norm of the
    trained weights), "norm_ratio" (norm_b / norm_a), "lr_a"/"lr_b"; and
    "max_prob_diff_overall" over every step, "final_norm_ratio",
    "final_test_acc_a"/"_b" (top-1 on the evaluation batch, normalised with its
    own statistics; for the digits, the whole test set), "spec" (normalised),
    "converted_spec" (None for the control), "total_iterations" and the other
    settings.
    Non-finite values are None. Raises SpecError for a bad spec (or one whose
    conversion breaks down: field "wd"), BadArgument for the other arguments.
    """
    plan = plan_study(spec, device=device, convert=convert, **params)
    if isinstance(report_every, bool) or not isinstance(report_every, int) or report_every < 1:
        raise BadArgument("report_every", f"report_every must be an integer >= 1, got {report_every!r}")
    from trainer.scale_invariant import run_study

    return run_study(plan, on_step, report_every)


def plan_study(spec: Any, *, device: str = "cpu", convert: bool = True, **params: Any) -> StudyPlan:
    """The study's arguments checked and run A's policy converted, before any training."""
    unknown_arguments("equivalence_study", EQUIVALENCE_PARAMS, params)
    policy = _policy(spec)
    dtype = params.get("dtype")
    if dtype is not None and not isinstance(dtype, str):  # a torch dtype, as the study has always taken
        params["dtype"] = str(dtype).removeprefix("torch.")
    try:
        values = check(EQUIVALENCE_PARAMS, params)
    except UserInputError as error:
        raise BadArgument(error.field, error.message) from None
    model = values["model"]
    data = values["data"] or MODELS[model][0]
    if data not in MODELS[model]:
        raise BadArgument("data", f"data must be one of {', '.join(MODELS[model])} for model {model!r}, got {data!r}")
    train_size, test_size = DIGITS_SIZES if data == "digits" else SYNTHETIC_SIZES[model]
    batch_size = values["batch_size"]
    if batch_size > train_size:
        raise BadArgument(
            "batch_size", f"batch_size must be at most the {train_size} training samples, got {batch_size}"
        )
    _check_device(device)
    steps_per_epoch = values["steps_per_epoch"] or train_size // batch_size
    wd, momentum, iterations = values["wd"], values["momentum"], values["iterations"]
    converted = remove_weight_decay(policy.spec, wd, momentum, steps_per_epoch, horizon=iterations) if convert else None
    if converted is not None:
        build(converted)  # a conversion that breaks down raises here, before any training
    return StudyPlan(
        spec=policy.spec,
        converted_spec=converted,
        convert=convert,
        wd=wd,
        momentum=momentum,
        iterations=iterations,
        steps_per_epoch=steps_per_epoch,
        seed=values["seed"],
        model=model,
        data=data,
        batch_size=batch_size,
        dtype=values["dtype"] or DEFAULT_DTYPE[model],
        eval_size=values["eval_size"],
        train_size=train_size,
        test_size=test_size,
        device=device,
    )


def _policy(spec: Any) -> Any:
    policy = build(spec)
    if policy.adaptive:
        raise SpecError({"kind": [f"{policy.kind} adapts to training metrics; the study needs a fixed schedule"]})
    return policy


def _check_device(device: Any) -> None:
    from trainer import core

    try:
        core.resolve_device(device)
    except ValueError as error:
        raise BadArgument("device", str(error)) from None


# The command line (trainer/cli.py adds it with register_cli).


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``equivalence`` command; it runs with ``args.command(args)`` and returns the exit status.

    Its flags: --policy, EQUIVALENCE_PARAMS, --device and --json (cli_support.add_where_arguments).
    """
    parser = subparsers.add_parser(
        "equivalence",
        help="train with weight decay and, side by side, without it under the converted LR (Li & Arora)",
        description=(
            "Train two copies of a scale-invariant network from one initialisation on the same batches: "
            "A with weight decay and the policy's LR, B without weight decay and the LR that "
            "remove_weight_decay derives. Prints how far their predictions and weight norms drift apart."
        ),
    )
    parser.add_argument(
        "--policy", required=True, help='the LR policy of run A as JSON, e.g. \'{"kind": "FIX", "k0": 0.1}\''
    )
    add_arguments(parser, EQUIVALENCE_PARAMS)
    add_where_arguments(parser, workload=False, device="cpu", json_help="print the whole study as one JSON object")
    parser.set_defaults(command=equivalence_command)
    return parser


def equivalence_command(args: argparse.Namespace) -> int:
    """Run the study for parsed arguments; bad input: a message naming the flag on stderr, status 2."""

    def plan() -> StudyPlan:
        try:
            spec = json.loads(args.policy)
        except json.JSONDecodeError as error:
            raise UserInputError("policy", f"not valid JSON: {error}") from None
        try:
            return plan_study(spec, device=args.device, **cli_values(args, EQUIVALENCE_PARAMS))
        except SpecError as error:  # a conversion that breaks down is the weight decay's doing (--wd)
            problems = "\n".join(f"{path}: {m}" for path, messages in error.errors.items() for m in messages)
            raise UserInputError("wd" if "wd" in error.errors else "policy", problems) from None

    def run(study: StudyPlan, stop_requested: Callable[[], bool]) -> dict:
        from trainer.scale_invariant import run_study

        return run_study(study, None, 1)

    def finish(study: dict) -> int:
        print(json.dumps(study, allow_nan=False) if args.json else summary(study))
        return 0

    return run_tool_command(plan, run, finish)


def summary(study: Mapping[str, Any]) -> str:
    """A few lines: what was compared, the largest prediction difference, the final norm ratio."""
    b_lr = "the converted LR" if study["converted"] else "the same LR (control, not converted)"
    lines = [
        f"{study['model']} on {study['data']} ({study['dtype']}, {study['device']}), "
        f"{study['total_iterations']} iterations, momentum {study['momentum']:g}:",
        f"  A: weight decay {study['wd']:g}, LR of {json.dumps(study['spec'])}",
        f"  B: no weight decay, {b_lr}",
        f"  max |p_A - p_B| over all steps: {fmt(study['max_prob_diff_overall'], '.3g')} "
        f"(final {fmt(study['max_prob_diff'][-1], '.3g')})",
        f"  final weight norm ratio |theta_B| / |theta_A|: {fmt(study['final_norm_ratio'], '.4g')} "
        f"(final LR_B / LR_A: {fmt(_ratio(study['lr_b'][-1], study['lr_a'][-1]), '.4g')})",
        f"  final loss A {fmt(study['loss_a'][-1], '.4f')}, B {fmt(study['loss_b'][-1], '.4f')}; "
        f"test accuracy A {fmt(study['final_test_acc_a'], '.4f')}, B {fmt(study['final_test_acc_b'], '.4f')}",
    ]
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
