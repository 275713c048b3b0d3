"""The training loop: one run of a workload under an LR policy.

It reads top to bottom: validate, data onto the device, model, optimizer (and,
when resuming, their state from the checkpoint), then for each epoch train (the
policy's LR written into the optimizer every iteration), evaluate, report, let
an adaptive policy observe the epoch, checkpoint. Data lives on the device and
batches are index slices of it (augmented there, batched, when the workload
asks); losses and correct counts are summed in device tensors and read once per
epoch, so no step waits for the host.

On CUDA the forward pass runs under bf16 autocast and conv nets use the
channels_last memory format (on the CPU too, where oneDNN is faster with it);
`TrainConfig.compile` adds torch.compile.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from trainer import checkpoint
from trainer.data import Tensors, synthetic
from trainer.divergence import DivergenceRule, find_divergence
from trainer.metrics import lrbench_metrics
from trainer.paths import default_data_dir
from trainer.progress import Progress
from trainer.schedules import build
from trainer.workloads import Workload, get_workload, resolve_optimizer

MAX_EPOCHS = 10_000
STOP_CHECK_EVERY = 100  # iterations between should_stop() calls: a Python call, no device sync
LR_TRACE_POINTS = 20  # per epoch: enough to draw the curve actually applied, small enough to stream
PROGRESS_SECONDS = 2.0  # at most this often, on_progress: one read of the device's loss sum each time
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
class _Plan:
    """A validated config's parts."""

    workload: Workload
    policy: Any
    options: dict[str, Any]  # every workload option, defaults filled in
    optimizer: dict[str, Any]  # {"name": ..., its settings}
    divergence: DivergenceRule = DivergenceRule()


def validate(config: TrainConfig) -> tuple[Workload, Any]:
    """Check a config before any work: returns (workload, policy).

    Raises UnknownWorkload, SpecError, or ValueError naming the field
    ("epochs", "device", "workload_options.depth", "optimizer.momentum", ...).
    """
    plan = _plan(config)
    return plan.workload, plan.policy


def _plan(config: TrainConfig) -> _Plan:
    workload = get_workload(config.workload)
    policy = _build_policy(config.policy)
    epochs = config.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be an integer from 1 to {MAX_EPOCHS}, got {epochs!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise ValueError(f"seed must be an integer, got {config.seed!r}")
    resolve_device(config.device)
    for name in ("synthetic", "compile", "resume"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(config, name)!r}")
    for name in ("limit_train_batches", "limit_test_batches"):
        limit = getattr(config, name)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {limit!r}")
    path = config.checkpoint_path
    if path is not None and (not isinstance(path, str | os.PathLike) or not str(path)):
        raise ValueError(f"checkpoint_path must be a file path or None, got {path!r}")
    options = workload.resolve_options(config.workload_options)
    optimizer = _optimizer_for(workload, _spec_of(policy), config.optimizer)
    if config.divergence is not None and not isinstance(config.divergence, Mapping):
        raise ValueError(f"divergence must be a dict of thresholds or None, got {config.divergence!r}")
    divergence = DivergenceRule.from_settings(config.divergence)
    return _Plan(workload, policy, options, optimizer, divergence)


def _build_policy(policy: Any) -> Any:
    """A built policy as it is (anything with lr_at); a spec through trainer.schedules.build (SpecError)."""
    if not isinstance(policy, Mapping) and callable(getattr(policy, "lr_at", None)):
        return policy
    return build(policy)


def _spec_of(policy: Any) -> dict:
    spec = getattr(policy, "spec", None)
    return spec if isinstance(spec, dict) else {}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def train(
    config: TrainConfig,
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
    on_progress: Callable[[dict], None] | None = None,
    progress_seconds: float = PROGRESS_SECONDS,
) -> dict:
    """Train one run; call on_epoch(metrics) after every epoch; return the result.

    on_progress(progress) reports the epoch under way (trainer.progress) at most
    every progress_seconds of wall time: iterations done, and the mean training
    loss since the last report. Without it, no step waits for the device.

    should_stop() is asked before every epoch, every STOP_CHECK_EVERY iterations
    and after the last epoch; True ends the run "cancelled", keeping the
    completed epochs. A run that diverges (trainer.divergence: a non-finite or
    exploding loss, or a collapse to chance accuracy) ends "diverged" after that
    epoch has been evaluated and reported. Exceptions from on_epoch propagate.

    With config.checkpoint_path, a checkpoint is written after every epoch (after
    on_epoch returns; then on_checkpoint(path) is called), and a run whose
    checkpoint exists there continues from it (unless config.resume is False):
    its earlier epochs are in the result but are not reported to on_epoch again. CheckpointError (a ValueError) if that
    checkpoint is unreadable or was written by a different run; trainer.data's
    DataUnavailable if the data set is missing and cannot be downloaded.
    """
    plan = _plan(config)
    device = resolve_device(config.device)
    with _cpu_threads(plan.workload.cpu_threads if device.type == "cpu" else None):
        progress = Progress(on_progress, progress_seconds) if on_progress is not None else None
        return _run(config, plan, device, on_epoch, should_stop or (lambda: False), on_checkpoint, progress)


def _run(
    config: TrainConfig,
    plan: _Plan,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
    on_checkpoint: Callable[[Path], None] | None = None,
    progress: Progress | None = None,
) -> dict:
    workload, policy = plan.workload, plan.policy
    on_cuda = device.type == "cuda"
    identity = _run_identity(config, plan)
    checkpoint_path = Path(config.checkpoint_path).expanduser() if config.checkpoint_path else None
    resumed = None
    if checkpoint_path is not None and config.resume and checkpoint_path.exists():
        resumed = _load_checkpoint(checkpoint_path, identity, config.epochs)

    torch.manual_seed(config.seed)  # the model's initialisation; seeds every CUDA device too
    shuffle_rng = torch.Generator(device=device).manual_seed(config.seed)  # data order and augmentation

    # Data: whole sets on the device, once.
    x_train, y_train, x_test, y_test = _load_data(config, workload, device)
    n_train = len(x_train)
    batch_size = workload.batch_size
    steps_per_epoch = math.ceil(n_train / batch_size)  # the last partial batch is kept
    if config.limit_train_batches is not None:
        steps_per_epoch = min(steps_per_epoch, config.limit_train_batches)
    memory_format = torch.channels_last if workload.channels_last else torch.contiguous_format

    # Model and optimizer. bf16 autocast on CUDA; plain float32 on CPU.
    module = workload.create_model(plan.options).to(device, memory_format=memory_format)
    model = torch.compile(module, dynamic=False) if config.compile else module
    groups = workload.param_groups(module, plan.options)
    optimizer = _build_optimizer(plan.optimizer, groups, lr=policy.lr_at(0, steps_per_epoch))
    observe = getattr(policy, "observe", None)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)

    epochs: list[dict] = []
    status = "succeeded"
    diverged_epoch = diverged_reason = None
    iteration = 0  # global, 0-based: the policy's clock
    if resumed is not None:
        module.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        if resumed["policy"] is not None:
            policy.load_state_dict(resumed["policy"])
        checkpoint.restore_rng_states(resumed["rng"], shuffle_rng)
        epochs, iteration, diverged_epoch = resumed["epochs"], resumed["iteration"], resumed["diverged_epoch"]
        diverged_reason = resumed.get("diverged_reason")
        if diverged_epoch is not None:
            status = "diverged"
    total_seconds = sum(e["seconds"] for e in epochs)
    samples = epochs[-1].get("samples", 0) if epochs else 0  # training samples seen, all epochs

    # A diverged run's checkpoint resumes as that run's result: nothing is left to train.
    remaining = range(len(epochs) + 1, config.epochs + 1) if status != "diverged" else range(0)
    for epoch in remaining:
        if stop_requested():
            status = "cancelled"
            break
        epoch_start = time.perf_counter()

        # Train one epoch.
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        lrs: list[float] = []
        order = torch.randperm(n_train, device=device, generator=shuffle_rng)
        if progress is not None:
            progress.start_epoch(epoch, steps_per_epoch)
        for step in range(steps_per_epoch):
            lr = policy.lr_at(iteration, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            lrs.append(lr)

            batch = order[step * batch_size : (step + 1) * batch_size]
            inputs, targets = x_train[batch], y_train[batch]
            if workload.augment is not None:
                inputs = workload.augment(inputs, shuffle_rng)
            with autocast():
                logits = model(inputs.contiguous(memory_format=memory_format))
            loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # Per-iteration loss hook: a policy whose next LR depends on this step's loss (MLR-SNet, the LEARNED
            # kind) has needs_step_loss. loss.item() makes the host wait for the device every step; that is
            # inherent to such a policy, and every other policy keeps the sync-free path.
            if getattr(policy, "needs_step_loss", False):
                policy.observe_step(iteration, loss.item())

            loss_sum += loss.detach() * len(batch)  # non-finite from any bad step on
            correct += (logits.detach().argmax(dim=1) == targets).sum()
            seen += len(batch)
            iteration += 1
            if iteration % STOP_CHECK_EVERY == 0 and stop_requested():
                status = "cancelled"
                break
            if progress is not None and progress.due():
                progress.report(step + 1, loss_sum, seen)
        if status == "cancelled":  # mid-epoch: the partial epoch is not reported
            total_seconds += time.perf_counter() - epoch_start
            break
        train_loss = loss_sum.item() / seen  # the epoch's one wait for the device
        train_acc = correct.item() / seen
        train_seconds = time.perf_counter() - epoch_start
        samples += seen

        test = _evaluate(model, x_test, y_test, workload.eval_batch_size, autocast, memory_format)
        seconds = time.perf_counter() - epoch_start
        total_seconds += seconds

        metrics = _finite_or_none(
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
                "lr_trace": _lr_trace(lrs, epoch - 1, steps_per_epoch),
                "seconds": seconds,
                "samples_per_sec": seen / train_seconds,
                "iterations": iteration,
                "samples": samples,
            }
        )
        epochs.append(metrics)
        if observe is not None:  # an adaptive policy: its next LRs may depend on this epoch
            observe(epoch, metrics, config.epochs)
        if on_epoch is not None:
            on_epoch(metrics)
        found = find_divergence(epochs, workload.num_classes, plan.divergence)
        if found is not None:
            status, diverged_epoch, diverged_reason = "diverged", found.epoch, found.reason
        if checkpoint_path is not None:
            checkpoint.save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "run": identity,
                    "epoch": epoch,
                    "iteration": iteration,
                    "epochs": epochs,
                    "diverged_epoch": diverged_epoch,
                    "diverged_reason": diverged_reason,
                    "model": module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "policy": policy.state_dict() if hasattr(policy, "state_dict") else None,
                    "rng": checkpoint.rng_states(shuffle_rng),
                },
                checkpoint_path,
            )
            if on_checkpoint is not None:
                on_checkpoint(checkpoint_path)
        if status == "diverged":
            break
    if status == "succeeded" and stop_requested():  # a stop asked for during the last epoch is honoured too
        status = "cancelled"

    return {
        "status": status,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if on_cuda
        else (platform.processor() or platform.machine() or "cpu"),
        "workload": workload.name,
        "workload_options": plan.options,
        "policy": getattr(policy, "spec", None),
        "optimizer": plan.optimizer,
        "synthetic": config.synthetic,
        "resumed_from_epoch": resumed["epoch"] if resumed is not None else None,
        "epochs": epochs,
        "summary": _summarise(epochs, workload, iteration, total_seconds, diverged_epoch, diverged_reason),
    }


def _load_data(config: TrainConfig, workload: Workload, device: torch.device) -> Tensors:
    """The run's four tensors on the device: the workload's data, or synthetic stand-ins of its shape.

    Synthetic sets are no larger than the limits let a run use.
    """
    test_size = workload.test_size
    if config.limit_test_batches is not None:
        test_size = min(test_size, config.limit_test_batches * workload.eval_batch_size)
    if config.synthetic:
        train_size = workload.train_size
        if config.limit_train_batches is not None:
            train_size = min(train_size, config.limit_train_batches * workload.batch_size)
        return synthetic(workload.input_shape, workload.num_classes, train_size, test_size, device)
    data_dir = Path(config.data_dir).expanduser() if config.data_dir else default_data_dir()
    x_train, y_train, x_test, y_test = (t.to(device) for t in workload.load_data(data_dir))
    if config.limit_test_batches is not None:
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    return x_train, y_train, x_test, y_test


def _run_identity(config: TrainConfig, plan: _Plan) -> dict[str, Any]:
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


def _load_checkpoint(path: Path, identity: dict[str, Any], epochs: int) -> dict[str, Any]:
    state = checkpoint.load(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise checkpoint.CheckpointError(f"checkpoint_path: {path} has format {state.get('format')!r}, not 1")
    for key, value in identity.items():
        if state["run"].get(key) != value:
            raise checkpoint.CheckpointError(
                f"checkpoint_path: {path} was written by a different run: its {key} is "
                f"{state['run'].get(key)!r}, this config's is {value!r}"
            )
    if state["epoch"] > epochs:
        raise checkpoint.CheckpointError(
            f"checkpoint_path: {path} already holds {state['epoch']} epochs, more than epochs={epochs}"
        )
    return state


def _build_optimizer(settings: dict[str, Any], groups: list[dict], lr: float) -> torch.optim.Optimizer:
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
def _cpu_threads(threads: int | None) -> Iterator[None]:
    """Use this many intra-op CPU threads for the run, then restore the process's setting."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _optimizer_for(workload: Workload, spec: dict, override: dict | None) -> dict[str, Any]:
    """The optimizer to train with: the workload's, overridden field by field, then the policy's say.

    Li & Arora's conversions (EXPGROW, TEXP, EXPCOS, NOWD: their specs carry
    "wd" and "momentum") turn a run with weight decay into an LR schedule to be
    trained with SGD without it, with the same momentum.
    """
    settings = resolve_optimizer(workload.optimizer, override)
    if "wd" in spec:
        if settings["name"] != "sgd":
            raise ValueError(
                f"optimizer.name: a {spec.get('kind')} policy stands in for SGD's weight decay; "
                f"it cannot train with {settings['name']}"
            )
        settings.update(weight_decay=0.0, momentum=spec.get("momentum", settings["momentum"]))
    return settings


def _optimizer_settings(workload: Workload, spec: dict) -> dict[str, Any]:
    """The workload's SGD settings under this policy spec: momentum, weight_decay, nesterov."""
    settings = _optimizer_for(workload, spec, None)
    name = settings.pop("name")
    if name != "sgd":
        raise ValueError(f"workload {workload.name!r}: unsupported optimizer {name!r}")
    return settings


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    autocast: Callable[[], torch.autocast],
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    model.eval()
    with autocast():
        logits = torch.cat(
            [
                model(inputs[i : i + batch_size].contiguous(memory_format=memory_format)).float()
                for i in range(0, len(inputs), batch_size)
            ]
        )
    loss = F.cross_entropy(logits, labels).item()
    return {"loss": loss, **lrbench_metrics(logits, labels)}


def _lr_trace(lrs: list[float], epoch_index: int, steps_per_epoch: int) -> list[list[float]]:
    """Up to LR_TRACE_POINTS evenly spaced [t, lr] pairs of one epoch, t in epochs, its first iteration included."""
    points = min(LR_TRACE_POINTS, len(lrs))
    picks = [j * len(lrs) // points for j in range(points)]
    return [[epoch_index + i / steps_per_epoch, lrs[i]] for i in picks]


def _finite_or_none(metrics: dict) -> dict:
    """JSON has no NaN or infinity: a diverged epoch reports them as None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def _summarise(
    epochs: list[dict],
    workload: Workload,
    iterations: int,
    total_seconds: float,
    diverged_epoch: int | None,
    diverged_reason: str | None = None,
) -> dict:
    final = epochs[-1] if epochs else {}
    best = max(epochs, key=lambda e: e["test_acc"] if e["test_acc"] is not None else -1.0, default={})
    reached = next((e for e in epochs if e["test_acc"] is not None and e["test_acc"] >= workload.target_accuracy), None)
    seconds_to_target = None
    if reached is not None:
        seconds_to_target = sum(e["seconds"] for e in epochs[: reached["epoch"]])
    test_loss, train_loss = final.get("test_loss"), final.get("train_loss")
    return {
        "final_acc": final.get("test_acc"),
        "best_acc": best.get("test_acc"),
        "best_epoch": best.get("epoch"),
        "final_top5": final.get("test_top5"),
        "final_test_loss": test_loss,
        "final_train_loss": train_loss,
        "loss_gap": test_loss - train_loss if test_loss is not None and train_loss is not None else None,
        "ac": final.get("ac"),
        "cv": final.get("cv"),
        "cvac": final.get("cvac"),
        "epochs_completed": len(epochs),
        "iterations": iterations,  # hardware-independent cost: optimizer steps and training samples
        "samples": final.get("samples"),
        "total_seconds": total_seconds,  # this run's own compute time (its share, in a batch)
        "diverged_epoch": diverged_epoch,
        "diverged_reason": diverged_reason,
        "target_accuracy": workload.target_accuracy,
        "epochs_to_target": reached["epoch"] if reached is not None else None,
        "iterations_to_target": reached.get("iterations") if reached is not None else None,
        "samples_to_target": reached.get("samples") if reached is not None else None,
        "seconds_to_target": seconds_to_target,
    }
