"""What every training loop needs, once: the plan, data, model and optimizer, threads, epoch metrics, the summary.

The loops (trainer.engine's one run, trainer.batched's K runs together, the
LR range test, MLR-SNet meta-training, the equivalence study) build on these
functions and keep only what is their own:

- `TrainConfig` is what a caller asks for; `plan(config)` checks it before any
  work (raising `UserInputError` naming the field) and returns a `Plan`: the
  workload, the built policy, the resolved workload options and optimizer
  settings, the divergence rule.
- `open_data`, `load_data`, `build_model`, `build_optimizer`, `workload_threads`:
  the run's data as batches on the device (every workload's; the engine), as
  whole tensors there (the workloads held in memory; the other loops), its
  model, its torch optimizer, and the CPU threads it trains with.
- `epoch_metrics`, `lr_trace`, `summarise`, `run_result`, `checkpoint_state`:
  the dicts a run reports, the same keys from every loop.
- `json_safe`: JSON has no NaN or infinity; reports carry None instead, nested
  values included.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.checks import MAX_EPOCHS
from trainer.data import DataSource, Tensors, TensorSource, synthetic
from trainer.divergence import DivergenceRule
from trainer.errors import UserInputError
from trainer.paths import default_data_dir
from trainer.schedules import build
from trainer.summary import summarise  # noqa: F401  (torch-free: the web process summarises self-reported runs)
from trainer.workloads import Workload, get_workload, resolve_optimizer

__all__ = [
    "CHECKPOINT_FORMAT",
    "LR_TRACE_POINTS",
    "MAX_EPOCHS",
    "STOP_CHECK_EVERY",
    "Plan",
    "TrainConfig",
    "UserInputError",
    "build_model",
    "build_optimizer",
    "build_policy",
    "check_held_in_memory",
    "checkpoint_state",
    "cpu_threads",
    "data_dir",
    "device_name",
    "epoch_metrics",
    "json_safe",
    "load_data",
    "lr_trace",
    "memory_format",
    "open_data",
    "optimizer_for",
    "plan",
    "policy_spec",
    "resolve_device",
    "run_identity",
    "run_result",
    "steps_per_epoch",
    "summarise",
    "validate",
    "workload_threads",
]

STOP_CHECK_EVERY = 100  # iterations between should_stop() calls: a Python call, no device sync
LR_TRACE_POINTS = 20  # per epoch: enough to draw the curve actually applied, small enough to stream
CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    workload: str
    # A policy spec (a dict, as trainer.schedules.build takes it), or a built policy:
    # any object with lr_at(iteration, steps_per_epoch); optionally observe(epoch,
    # metrics, total_epochs), state_dict() and load_state_dict(state).
    policy: Any
    epochs: int
    seed: int = 0
    device: str = "auto"  # "auto": cuda if available, else cpu
    data_dir: str | None = None  # None: paths.default_data_dir()
    workload_options: dict | None = None  # e.g. {"depth": 4, "width": 256}; None: the workload's defaults
    optimizer: dict | None = None  # e.g. {"name": "adamw", "weight_decay": 0.01}; None: the workload's
    synthetic: bool = False  # random tensors of the real data's shape instead of the data (tests, benchmarks)
    compile: bool = False  # torch.compile the model
    checkpoint_path: str | None = None  # written atomically after every epoch
    resume: bool = True  # with checkpoint_path: continue from the checkpoint there, if there is one
    limit_train_batches: int | None = None  # train at most this many batches per epoch (tests, benchmarks)
    limit_test_batches: int | None = None  # evaluate on the first this many eval batches only
    # When the run counts as diverged (trainer.divergence): thresholds overriding the defaults and the
    # ARENA_DIVERGENCE_* environment, e.g. {"loss_factor": 100}; None: those.
    divergence: dict | None = None


@dataclass(frozen=True)
class Plan:
    """A validated config's parts."""

    workload: Workload
    policy: Any
    options: dict[str, Any]  # every workload option, defaults filled in
    optimizer: dict[str, Any]  # {"name": ..., its settings}
    divergence: DivergenceRule = DivergenceRule()


# --- The plan: a config checked before any work ------------------------------------------------


def validate(config: TrainConfig) -> tuple[Workload, Any]:
    """Check a config before any work: returns (workload, policy).

    Raises UserInputError naming the field: UnknownWorkload, SpecError, or one
    for "epochs", "device", "workload_options.depth", "optimizer.momentum", ...
    (workload options and optimizer settings raise ValueError naming the field).
    """
    checked = plan(config)
    return checked.workload, checked.policy


def plan(config: TrainConfig) -> Plan:
    """The config's parts, every field checked (see validate)."""
    workload = get_workload(config.workload)
    policy = build_policy(config.policy)
    epochs = config.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise UserInputError("epochs", f"epochs must be an integer from 1 to {MAX_EPOCHS}, got {epochs!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise UserInputError("seed", f"seed must be an integer, got {config.seed!r}")
    resolve_device(config.device)
    for name in ("synthetic", "compile", "resume"):
        if not isinstance(getattr(config, name), bool):
            raise UserInputError(name, f"{name} must be true or false, got {getattr(config, name)!r}")
    if config.synthetic and workload.has_data_options:
        raise UserInputError(
            "synthetic", f"workload {workload.name!r} has no synthetic stand-in: its options choose its data's shape"
        )
    for name in ("limit_train_batches", "limit_test_batches"):
        limit = getattr(config, name)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise UserInputError(name, f"{name} must be a positive integer or None, got {limit!r}")
    path = config.checkpoint_path
    if path is not None and (not isinstance(path, str | os.PathLike) or not str(path)):
        raise UserInputError("checkpoint_path", f"checkpoint_path must be a file path or None, got {path!r}")
    options = workload.resolve_options(config.workload_options)
    optimizer = optimizer_for(workload, policy_spec(policy), config.optimizer)
    if config.divergence is not None and not isinstance(config.divergence, Mapping):
        raise UserInputError(
            "divergence", f"divergence must be a dict of thresholds or None, got {config.divergence!r}"
        )
    divergence = DivergenceRule.from_settings(config.divergence)
    return Plan(workload, policy, options, optimizer, divergence)


def build_policy(policy: Any) -> Any:
    """A built policy as it is (anything with lr_at); a spec through trainer.schedules.build (SpecError)."""
    if not isinstance(policy, Mapping) and callable(getattr(policy, "lr_at", None)):
        return policy
    return build(policy)


def policy_spec(policy: Any) -> dict:
    """A built policy's spec; {} for a policy object that has none."""
    spec = getattr(policy, "spec", None)
    return spec if isinstance(spec, dict) else {}


def optimizer_for(workload: Workload, spec: dict, override: dict | None) -> dict[str, Any]:
    """The optimizer to train with: the workload's, overridden field by field, then the policy's say.

    Li & Arora's conversions (EXPGROW, TEXP, EXPCOS, NOWD: their specs carry
    "wd" and "momentum") turn a run with weight decay into an LR schedule to be
    trained with SGD without it, with the same momentum.
    """
    settings = resolve_optimizer(workload.optimizer, override)
    if "wd" in spec:
        if settings["name"] != "sgd":
            raise UserInputError(
                "optimizer.name",
                f"optimizer.name: a {spec.get('kind')} policy stands in for SGD's weight decay; "
                f"it cannot train with {settings['name']}",
            )
        settings.update(weight_decay=0.0, momentum=spec.get("momentum", settings["momentum"]))
    return settings


def resolve_device(name: str) -> torch.device:
    """The torch device for "auto", "cpu", "cuda" or "cuda:N"; UserInputError("device", ...) if there is none."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserInputError("device", f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise UserInputError("device", f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if not torch.cuda.is_available():
        raise UserInputError("device", f"device {name!r} requested but CUDA is not available here")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise UserInputError("device", f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def device_name(device: torch.device) -> str:
    """The device as a person names it: the GPU's model, else the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


# --- Data, model, optimizer, threads ------------------------------------------------------------


def data_dir(configured: str | os.PathLike | None) -> Path:
    """Where data sets live: the configured folder (TrainConfig.data_dir), else paths.default_data_dir()."""
    return Path(configured).expanduser() if configured else default_data_dir()


def open_data(config: TrainConfig, plan: Plan, device: torch.device) -> DataSource:
    """The run's data as batches on the device (trainer.data.DataSource): what the engine trains on.

    A workload's load_data returns whole tensors, served as index slices of them
    on the device, or a DataSource of its own (a folder of images streamed from
    disk, say). limit_test_batches caps the test batches the source yields.
    """
    workload = plan.workload
    if config.synthetic or not workload.has_data_options:
        tensors = load_data(config, workload, device)
        num_classes, augment = workload.num_classes, workload.augment
        return TensorSource(tensors, num_classes, workload.batch_size, workload.eval_batch_size, augment)
    loaded = workload.load_data(data_dir(config.data_dir), **workload.data_options(plan.options))
    return loaded.source(device, eval_batch_size=workload.eval_batch_size)


def check_held_in_memory(workload: Workload) -> None:
    """UserInputError("workload") for a workload whose options choose its data (image-folder): it comes as
    batches (open_data), which only the engine reads; the research tools need whole tensors."""
    if workload.has_data_options:
        raise UserInputError(
            "workload",
            f"workload {workload.name!r} loads its data in batches; only a training run (the engine) takes it",
        )


def load_data(config: TrainConfig, workload: Workload, device: torch.device) -> Tensors:
    """The run's four tensors on the device: the workload's data, or synthetic stand-ins of its shape.

    Synthetic sets are no larger than the limits let a run use. A workload that
    streams its data (open_data) has no tensors: UserInputError("workload").
    """
    test_size = workload.test_size
    if config.limit_test_batches is not None:
        test_size = min(test_size, config.limit_test_batches * workload.eval_batch_size)
    if config.synthetic:
        train_size = workload.train_size
        if config.limit_train_batches is not None:
            train_size = min(train_size, config.limit_train_batches * workload.batch_size)
        return synthetic(workload.input_shape, workload.num_classes, train_size, test_size, device)
    check_held_in_memory(workload)
    x_train, y_train, x_test, y_test = (t.to(device) for t in workload.load_data(data_dir(config.data_dir)))
    if config.limit_test_batches is not None:
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    return x_train, y_train, x_test, y_test


def steps_per_epoch(n_train: int, batch_size: int, limit_train_batches: int | None) -> int:
    """Iterations per epoch: the last partial batch is kept; at most limit_train_batches."""
    steps = math.ceil(n_train / batch_size)
    return steps if limit_train_batches is None else min(steps, limit_train_batches)


def memory_format(workload: Workload) -> torch.memory_format:
    """channels_last for the conv nets that ask for it (oneDNN and cuDNN are faster with it)."""
    return torch.channels_last if workload.channels_last else torch.contiguous_format


def build_model(workload: Workload, options: dict[str, Any], device: torch.device) -> nn.Module:
    """The workload's model, initialised from torch's global RNG, on the device in its memory format."""
    return workload.create_model(options).to(device, memory_format=memory_format(workload))


def build_optimizer(settings: dict[str, Any], groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """The torch optimizer for resolved settings; each group keeps its "lr_scale"."""
    name = settings["name"]
    kwargs = {k: v for k, v in settings.items() if k != "name"}
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, **kwargs)
    kwargs["betas"] = tuple(kwargs["betas"])
    adam = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return adam(groups, lr=lr, **kwargs)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Use this many intra-op CPU threads (None: leave them), then restore the process's setting."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def workload_threads(workload: Workload, device: torch.device) -> contextlib.AbstractContextManager[None]:
    """The workload's CPU thread count while training on the CPU; nothing changed on a GPU."""
    return cpu_threads(workload.cpu_threads if device.type == "cpu" else None)


# --- What a run reports -------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become None, in nested dicts and lists too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def lr_trace(
    lrs: list[float], epoch_index: int, steps_per_epoch: int, points: int = LR_TRACE_POINTS
) -> list[list[float]]:
    """Up to `points` evenly spaced [t, lr] pairs of one epoch, t in epochs, its first iteration included."""
    points = min(points, len(lrs))
    picks = [j * len(lrs) // points for j in range(points)]
    return [[epoch_index + i / steps_per_epoch, lrs[i]] for i in picks]


def epoch_metrics(
    epoch: int,
    *,
    train_loss: float,
    train_acc: float,
    test: dict[str, float],
    lrs: list[float],
    steps_per_epoch: int,
    seconds: float,
    samples_per_sec: float,
    iterations: int,
    samples: int,
) -> dict:
    """One epoch's report, JSON-safe: training and test metrics (test: the evaluation's loss, top1, top5,
    ac, cv, cvac), the LRs applied, time and cost so far."""
    return json_safe(
        {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test["loss"],
            "test_acc": test["top1"],
            "test_top5": test["top5"],
            "ac": test["ac"],
            "cv": test["cv"],
            "cvac": test["cvac"],
            "lr_first": lrs[0],
            "lr_last": lrs[-1],
            "lr_mean": math.fsum(lrs) / len(lrs),
            "lr_trace": lr_trace(lrs, epoch - 1, steps_per_epoch),
            "seconds": seconds,
            "samples_per_sec": samples_per_sec,
            "iterations": iterations,
            "samples": samples,
        }
    )


def run_result(
    *,
    status: str,
    device: torch.device,
    config: TrainConfig,
    plan: Plan,
    epochs: list[dict],
    summary: dict,
    resumed_from_epoch: int | None = None,
    device_label: str | None = None,
) -> dict:
    """What train() returns: the run's status, where it ran, what it trained, its epochs and summary."""
    return {
        "status": status,
        "device": str(device),
        "device_name": device_label if device_label is not None else device_name(device),
        "workload": plan.workload.name,
        "workload_options": plan.options,
        "policy": getattr(plan.policy, "spec", None),
        "optimizer": plan.optimizer,
        "synthetic": config.synthetic,
        "resumed_from_epoch": resumed_from_epoch,
        "epochs": epochs,
        "summary": summary,
    }


# --- Checkpoints --------------------------------------------------------------------------------


def run_identity(config: TrainConfig, plan: Plan) -> dict[str, Any]:
    """What a checkpoint must share with the config that resumes it (epochs and device may differ)."""
    return {
        "workload": plan.workload.name,
        "workload_options": plan.options,
        "optimizer": plan.optimizer,
        "policy": getattr(plan.policy, "spec", None) or type(plan.policy).__qualname__,
        "seed": config.seed,
        "synthetic": config.synthetic,
        "limit_train_batches": config.limit_train_batches,
        "limit_test_batches": config.limit_test_batches,
    }


def checkpoint_state(
    *,
    config: TrainConfig,
    plan: Plan,
    iteration: int,
    epochs: list[dict],
    diverged_epoch: int | None,
    diverged_reason: str | None,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint dict written after a run's latest epoch: trainer.engine.train resumes from it."""
    policy = plan.policy
    return {
        "format": CHECKPOINT_FORMAT,
        "run": run_identity(config, plan),
        "epoch": len(epochs),
        "iteration": iteration,
        "epochs": epochs,
        "diverged_epoch": diverged_epoch,
        "diverged_reason": diverged_reason,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "policy": policy.state_dict() if hasattr(policy, "state_dict") else None,
        "rng": rng,
    }
