"""The training loop: one run of a workload under an LR policy.

It reads top to bottom: validate, data onto the device, model, optimizer (and,
when resuming, their state from the checkpoint), then for each epoch train (the
policy's LR written into the optimizer every iteration), evaluate, report, let
an adaptive policy observe the epoch, checkpoint. Data comes as batches on the
device (trainer.data.DataSource): index slices of whole sets held there
(augmented there, batched, when the workload asks), or batches streamed from
disk by a DataLoader; losses and correct counts are summed in device tensors and
read once per epoch, so no step waits for the host.

On CUDA the forward pass runs under bf16 autocast and conv nets use the
channels_last memory format (on the CPU too, where oneDNN is faster with it);
`TrainConfig.compile` adds torch.compile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from trainer import checkpoint, core
from trainer.core import (
    CHECKPOINT_FORMAT,
    LR_TRACE_POINTS,
    MAX_EPOCHS,
    STOP_CHECK_EVERY,
    TrainConfig,
    resolve_device,
    validate,
)
from trainer.data import Batch
from trainer.divergence import find_divergence
from trainer.metrics import lrbench_metrics
from trainer.progress import Progress

# The engine's public surface; the config, its checks and the constants live in trainer.core.
__all__ = [
    "CHECKPOINT_FORMAT",
    "LR_TRACE_POINTS",
    "MAX_EPOCHS",
    "PROGRESS_SECONDS",
    "STOP_CHECK_EVERY",
    "TrainConfig",
    "resolve_device",
    "train",
    "validate",
]

PROGRESS_SECONDS = 2.0  # at most this often, on_progress: one read of the device's loss sum each time


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
    its earlier epochs are in the result but are not reported to on_epoch again.
    CheckpointError (a UserInputError) if that checkpoint is unreadable or was
    written by a different run; trainer.data's
    DataUnavailable if the data set is missing and cannot be downloaded.
    """
    plan = core.plan(config)
    device = resolve_device(config.device)
    with core.workload_threads(plan.workload, device):
        progress = Progress(on_progress, progress_seconds) if on_progress is not None else None
        return _run(config, plan, device, on_epoch, should_stop or (lambda: False), on_checkpoint, progress)


def _run(
    config: TrainConfig,
    plan: core.Plan,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None,
    stop_requested: Callable[[], bool],
    on_checkpoint: Callable[[Path], None] | None = None,
    progress: Progress | None = None,
) -> dict:
    workload, policy = plan.workload, plan.policy
    on_cuda = device.type == "cuda"
    identity = core.run_identity(config, plan)
    checkpoint_path = Path(config.checkpoint_path).expanduser() if config.checkpoint_path else None
    resumed = None
    if checkpoint_path is not None and config.resume and checkpoint_path.exists():
        resumed = _load_checkpoint(checkpoint_path, identity, config.epochs)

    torch.manual_seed(config.seed)  # the model's initialisation; seeds every CUDA device too
    shuffle_rng = torch.Generator(device=device).manual_seed(config.seed)  # data order and augmentation

    # Data: batches on the device (whole sets held there, once, for the workloads that fit).
    data = core.open_data(config, plan, device)
    steps_per_epoch = core.steps_per_epoch(data.train_size, data.batch_size, config.limit_train_batches)
    memory_format = core.memory_format(workload)

    # Model and optimizer. bf16 autocast on CUDA; plain float32 on CPU.
    module = core.build_model(workload, plan.options, device)
    model = torch.compile(module, dynamic=False) if config.compile else module
    groups = workload.param_groups(module, plan.options)
    optimizer = core.build_optimizer(plan.optimizer, groups, lr=policy.lr_at(0, steps_per_epoch))
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
        if progress is not None:
            progress.start_epoch(epoch, steps_per_epoch)
        for step, (inputs, targets) in enumerate(data.train_batches(shuffle_rng, steps_per_epoch)):
            lr = policy.lr_at(iteration, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            lrs.append(lr)

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

            loss_sum += loss.detach() * len(targets)  # non-finite from any bad step on
            correct += (logits.detach().argmax(dim=1) == targets).sum()
            seen += len(targets)
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

        test = _evaluate(model, data.test_batches(config.limit_test_batches), autocast, memory_format)
        seconds = time.perf_counter() - epoch_start
        total_seconds += seconds

        metrics = core.epoch_metrics(
            epoch,
            train_loss=train_loss,
            train_acc=train_acc,
            test=test,
            lrs=lrs,
            steps_per_epoch=steps_per_epoch,
            seconds=seconds,
            samples_per_sec=seen / train_seconds,
            iterations=iteration,
            samples=samples,
        )
        metrics = core.json_safe(workload.with_derived_metrics(metrics))  # e.g. a language model's perplexity
        epochs.append(metrics)
        if observe is not None:  # an adaptive policy: its next LRs may depend on this epoch
            observe(epoch, metrics, config.epochs)
        if on_epoch is not None:
            on_epoch(metrics)
        found = find_divergence(epochs, data.num_classes, plan.divergence)
        if found is not None:
            status, diverged_epoch, diverged_reason = "diverged", found.epoch, found.reason
        if checkpoint_path is not None:
            state = core.checkpoint_state(
                config=config,
                plan=plan,
                iteration=iteration,
                epochs=epochs,
                diverged_epoch=diverged_epoch,
                diverged_reason=diverged_reason,
                model=module,
                optimizer=optimizer,
                rng=checkpoint.rng_states(shuffle_rng),
            )
            checkpoint.save(state, checkpoint_path)
            if on_checkpoint is not None:
                on_checkpoint(checkpoint_path)
        if status == "diverged":
            break
    if status == "succeeded" and stop_requested():  # a stop asked for during the last epoch is honoured too
        status = "cancelled"

    return core.run_result(
        status=status,
        device=device,
        config=config,
        plan=plan,
        epochs=epochs,
        summary=core.summarise(
            epochs, workload.target_accuracy, iteration, total_seconds, diverged_epoch, diverged_reason
        ),
        resumed_from_epoch=resumed["epoch"] if resumed is not None else None,
    )


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


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    autocast: Callable[[], torch.autocast],
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    model.eval()
    scores, targets = [], []
    with autocast():
        for inputs, labels in batches:
            scores.append(model(inputs.contiguous(memory_format=memory_format)).float())
            targets.append(labels)
    logits, labels = torch.cat(scores), torch.cat(targets)
    loss = F.cross_entropy(logits, labels).item()
    return {"loss": loss, **lrbench_metrics(logits, labels)}
