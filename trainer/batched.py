"""Policy-batched training: K runs of one workload, differing in policy and seed, trained together.

The K models live as stacked tensors (trainer.functional.ModelStack) and take
each step together: one vmapped forward, one backward, one SGD update with a
per-model LR. Everything else is what K calls of trainer.engine.train would
do: each model is initialised under its own seed, draws its own data order
(and augmentation) from its own seeded generator, gets its policy's LR every
iteration, is evaluated and reported after every epoch, and an adaptive
policy observes its own epochs. So the results equal K sequential runs within
floating-point tolerance. A run that is cancelled or diverges leaves the
batch; the others go on.

Each run with a checkpoint_path gets a checkpoint in the engine's format after
every epoch, so that a run whose worker died resumes alone through the engine.

BatchNorm is handled: its running statistics are stacked buffers, one set per
model, updated in place under vmap. What cannot be reproduced this way falls
back to sequential runs through the engine, with a log line saying why:
optimizers other than SGD, policies fed every step's loss (needs_step_loss),
models with dropout (their masks would come from one shared generator) or
with cumulative-average batch norm, runs resuming from a checkpoint,
torch.compile, and TrainConfig fields newer than this module. So do models with convolutions on
the CPU, where batching them is slower (see BATCH_CONVOLUTIONS_ON_CPU).

Each run's seconds are its own share of the batch's wall time: an epoch's
time (training and evaluation) is split evenly among the runs that trained in
it, since they do the same work on the same data (a run cancelled mid-epoch is
charged its share of the time so far, and the rest share what remains). So the
seconds of a batch's runs add up to the batch's training time, never more.

As in the engine, no step waits for the host: each epoch's LRs go to the
device as one table, and losses and correct counts are summed in device
tensors read once per epoch.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainer import checkpoint, core
from trainer.core import STOP_CHECK_EVERY, Plan, TrainConfig, resolve_device
from trainer.divergence import find_divergence
from trainer.engine import PROGRESS_SECONDS, train
from trainer.functional import ModelStack, StackedSGD
from trainer.metrics import lrbench_metrics
from trainer.progress import Progress
from trainer.workloads import Workload

log = logging.getLogger(__name__)

# On the CPU, convolutions under vmap become grouped convolutions that miss the
# oneDNN channels_last kernels the engine uses: K LeNet runs trained together
# took about twice as long as the same runs one after another (docs/benchmarks.md).
# So on the CPU, models with convolutions are trained sequentially unless this is True.
BATCH_CONVOLUTIONS_ON_CPU = False

# TrainConfig fields that batched training reproduces (compile and
# checkpoint_path are checked apart). A config that sets any other, newer
# field away from its default is trained by the engine itself.
KNOWN_CONFIG_FIELDS = {
    "workload",
    "policy",
    "epochs",
    "seed",
    "device",
    "data_dir",
    "workload_options",
    "optimizer",
    "synthetic",
    "compile",
    "checkpoint_path",
    "resume",
    "limit_train_batches",
    "limit_test_batches",
    "divergence",
}


@dataclass(eq=False)  # a run is itself: compared by identity
class _Run:
    """One run's bookkeeping."""

    index: int  # its position in the caller's configs
    config: TrainConfig
    plan: Plan
    model: nn.Module  # as built under its seed; gets the trained weights when the run leaves the batch
    shuffle_rng: torch.Generator  # data order and augmentation, as in the engine
    epochs: list[dict] = field(default_factory=list)
    status: str = "running"
    diverged_epoch: int | None = None
    diverged_reason: str | None = None
    iterations: int = 0  # the global iteration count when it left the batch
    total_seconds: float = 0.0  # its share of the batch's time
    samples: int = 0  # training samples seen


def train_batched(
    configs: list[TrainConfig],
    on_epoch: Callable[[int, dict], None] | None = None,
    should_stop: Callable[[int], bool] | None = None,
    on_checkpoint: Callable[[int, Path], None] | None = None,
    on_progress: Callable[[int, dict], None] | None = None,
    progress_seconds: float = PROGRESS_SECONDS,
) -> list[dict]:
    """Train configs[k] for every k together; return what train(configs[k]) would, in order.

    on_progress(k, progress) reports run k's epoch under way as the engine's
    on_progress does, at most every progress_seconds.

    A config with checkpoint_path gets, after every epoch, a checkpoint there in
    the engine's format, then on_checkpoint(k, path): trainer.engine.train
    resumes that run from it alone. Runs that resume from checkpoints are
    trained by the engine, one after another.

    on_epoch(k, metrics) gets run k's epoch dict after every epoch it completes.
    should_stop(k) is asked, for every run still training, before every epoch,
    every STOP_CHECK_EVERY iterations and after the last epoch; True ends run k
    "cancelled" (its partial epoch unreported) and the others go on. A run that
    diverges (trainer.divergence, the engine's rule) ends "diverged" after its
    epoch is reported. Exceptions from on_epoch propagate.

    Each config is validated as train() validates it. They must share everything
    but policy, seed and optimizer settings: workload, epochs, device, data_dir,
    synthetic, workload_options and the limits (UserInputError naming the field).
    """
    if not configs:
        return []
    plans = [core.plan(c) for c in configs]
    device = _shared_device(configs, plans)
    reason = _why_not_batched(configs, plans)
    if reason is None:
        workload = plans[0].workload
        with core.workload_threads(workload, device):
            stop = should_stop or (lambda k: False)
            results, reason = _run(configs, plans, device, on_epoch, stop, on_checkpoint, on_progress, progress_seconds)
        if reason is None:
            return results
    log.info("train_batched: %s; training the %d runs one after another", reason, len(configs))
    return _train_sequentially(configs, on_epoch, should_stop, on_checkpoint, on_progress, progress_seconds)


def _shared_device(configs: list[TrainConfig], plans: list[Plan]) -> torch.device:
    """The batch's device; UserInputError naming the first setting the configs do not share."""
    for name, values in (
        ("workload", [c.workload for c in configs]),
        ("epochs", [c.epochs for c in configs]),
        ("device", [resolve_device(c.device) for c in configs]),
        ("data_dir", [core.data_dir(c.data_dir) for c in configs]),
        ("synthetic", [c.synthetic for c in configs]),
        ("workload_options", [p.options for p in plans]),
        ("limit_train_batches", [c.limit_train_batches for c in configs]),
        ("limit_test_batches", [c.limit_test_batches for c in configs]),
    ):
        if any(v != values[0] for v in values):
            raise core.UserInputError(name, f"all configs must share {name}: got {', '.join(map(str, values))}")
    return resolve_device(configs[0].device)


def _why_not_batched(configs: list[TrainConfig], plans: list[Plan]) -> str | None:
    """Why these runs cannot be batched with results equal to the engine's; None when they can."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    for config in configs:
        for f in dataclasses.fields(config):
            if f.name not in KNOWN_CONFIG_FIELDS and getattr(config, f.name) != defaults.get(f.name):
                return f"TrainConfig.{f.name} is set, which batched training does not know"
        if config.compile:
            return "compile is set (batched training runs uncompiled)"
        path = config.checkpoint_path
        if path is not None and config.resume and Path(path).expanduser().exists():
            return "a run resumes from its checkpoint (the engine resumes each run alone)"
    if plans[0].workload.has_data_options:
        return f"workload {plans[0].workload.name} loads its data in batches (options choose it); the engine trains it"
    for plan in plans:
        if getattr(plan.policy, "needs_step_loss", False):
            return "a policy sets its LR from every step's loss (observe_step), which batched training does not feed"
    names = {p.optimizer["name"] for p in plans}
    if names != {"sgd"}:
        return f"optimizer {', '.join(sorted(names))}: batched training has SGD only"
    if len({p.optimizer.get("nesterov", False) for p in plans}) > 1:
        return "the runs differ in Nesterov momentum"
    return None


def _why_model_not_batched(model: nn.Module, device: torch.device) -> str | None:
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd) and device.type == "cpu" and not BATCH_CONVOLUTIONS_ON_CPU:
            return f"its model has convolutions ({name}), which run faster one model at a time on the CPU"
        if isinstance(module, nn.modules.dropout._DropoutNd):
            return f"its model has dropout ({name}), whose random masks would not match separate runs"
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is None:
            return f"its model's batch norm {name} uses a cumulative average (momentum=None)"
    return None


def _train_sequentially(
    configs: list[TrainConfig],
    on_epoch: Callable[[int, dict], None] | None,
    should_stop: Callable[[int], bool] | None,
    on_checkpoint: Callable[[int, Path], None] | None = None,
    on_progress: Callable[[int, dict], None] | None = None,
    progress_seconds: float = PROGRESS_SECONDS,
) -> list[dict]:
    results = []
    for k, config in enumerate(configs):
        report = None if on_epoch is None else (lambda metrics, k=k: on_epoch(k, metrics))
        stop = None if should_stop is None else (lambda k=k: should_stop(k))
        stored = None if on_checkpoint is None else (lambda path, k=k: on_checkpoint(k, path))
        progress = None if on_progress is None else (lambda p, k=k: on_progress(k, p))
        results.append(
            train(
                config,
                on_epoch=report,
                should_stop=stop,
                on_checkpoint=stored,
                on_progress=progress,
                progress_seconds=progress_seconds,
            )
        )
    return results


def _run(
    configs: list[TrainConfig],
    plans: list[Plan],
    device: torch.device,
    on_epoch: Callable[[int, dict], None] | None,
    should_stop: Callable[[int], bool],
    on_checkpoint: Callable[[int, Path], None] | None = None,
    on_progress: Callable[[int, dict], None] | None = None,
    progress_seconds: float = PROGRESS_SECONDS,
) -> tuple[list[dict], str | None]:
    """The runs' results; or ([], why) when their model cannot be batched, found before any training."""
    progress = {}  # run index -> its Progress; all due together, so the first one's clock decides
    if on_progress is not None:
        progress = {k: Progress(lambda p, k=k: on_progress(k, p), progress_seconds) for k in range(len(configs))}
    workload, options = plans[0].workload, plans[0].options
    on_cuda = device.type == "cuda"
    epochs_total = configs[0].epochs

    # Data: whole sets on the device, once for all runs.
    x_train, y_train, x_test, y_test = core.load_data(configs[0], workload, device)
    n_train = len(x_train)
    batch_size = workload.batch_size
    steps_per_epoch = core.steps_per_epoch(n_train, batch_size, configs[0].limit_train_batches)

    # Models: each initialised under its own seed as the engine does, then stacked.
    runs = []
    for k, (config, plan) in enumerate(zip(configs, plans, strict=True)):
        torch.manual_seed(config.seed)
        shuffle_rng = torch.Generator(device=device).manual_seed(config.seed)
        model = workload.create_model(options).to(device)
        runs.append(_Run(k, config, plan, model, shuffle_rng))
    reason = _why_model_not_batched(runs[0].model, device)
    if reason is not None:
        return [], reason
    batch = _Batch(runs, _lr_scales(workload, runs[0].model, options), device)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)

    iteration = 0  # global, 0-based: every policy's clock
    for epoch in range(1, epochs_total + 1):
        batch.leave([r for r in batch.runs if should_stop(r.index)], "cancelled", iteration)
        if not batch.runs:
            break
        epoch_start = time.perf_counter()
        charged = 0.0  # seconds of this epoch already charged to runs cancelled in it

        # Train one epoch, all runs in step.
        batch.stack.train()
        loss_sum = torch.zeros(len(batch.runs), device=device)
        correct = torch.zeros(len(batch.runs), dtype=torch.int64, device=device)
        seen = 0
        orders = torch.stack([torch.randperm(n_train, device=device, generator=r.shuffle_rng) for r in batch.runs])
        clock = range(iteration, iteration + steps_per_epoch)
        lrs = [[r.plan.policy.lr_at(i, steps_per_epoch) for i in clock] for r in batch.runs]
        lr_table = torch.tensor(lrs, dtype=torch.float32).t().contiguous().to(device)  # (step, run): one copy
        for run in batch.runs if progress else ():
            progress[run.index].start_epoch(epoch, steps_per_epoch)
        for step in range(steps_per_epoch):
            indices = orders[:, step * batch_size : (step + 1) * batch_size]
            inputs, targets = x_train[indices], y_train[indices]
            if workload.augment is not None:  # each run's own generator, in the engine's order
                inputs = torch.stack(
                    [workload.augment(x, r.shuffle_rng) for x, r in zip(inputs, batch.runs, strict=True)]
                )
            with autocast():
                logits = batch.stack(inputs)
            losses = _cross_entropy_per_model(logits.float(), targets)
            grads = torch.autograd.grad(losses.sum(), batch.stack.trainable())
            batch.optimizer.step(grads, lr_table[step])

            loss_sum += losses.detach() * indices.shape[1]  # non-finite from any bad step on
            correct += (logits.detach().argmax(dim=2) == targets).sum(dim=1)
            seen += indices.shape[1]
            iteration += 1
            if iteration % STOP_CHECK_EVERY == 0:
                cancelled = [r for r in batch.runs if should_stop(r.index)]
                if cancelled:  # mid-epoch: their partial epoch is not reported, its time so far is shared
                    share = (time.perf_counter() - epoch_start - charged) / len(batch.runs)
                    for run in cancelled:
                        run.total_seconds += share
                    charged += share * len(cancelled)
                    kept = batch.leave(cancelled, "cancelled", iteration)
                    if not batch.runs:
                        break
                    index = torch.tensor(kept, device=device)
                    orders, lr_table = orders[index], lr_table[:, index]
                    loss_sum, correct = loss_sum[index], correct[index]
                    lrs = [lrs[i] for i in kept]
            if progress and progress[batch.runs[0].index].due():
                for run, run_loss_sum in zip(batch.runs, loss_sum.tolist(), strict=True):  # one wait for the device
                    progress[run.index].report(step + 1, run_loss_sum, seen)
        if not batch.runs:
            break
        train_losses = [s / seen for s in loss_sum.tolist()]  # the epoch's one wait for the device
        train_accs = [c / seen for c in correct.tolist()]
        train_seconds = time.perf_counter() - epoch_start

        tests = _evaluate(batch.stack, x_test, y_test, workload.eval_batch_size, autocast)
        seconds = (time.perf_counter() - epoch_start - charged) / len(batch.runs)  # each run's share

        diverged = []
        for run, run_lrs, train_loss, train_acc, test in zip(
            batch.runs, lrs, train_losses, train_accs, tests, strict=True
        ):
            run.total_seconds += seconds
            run.samples += seen
            metrics = core.epoch_metrics(
                epoch,
                train_loss=train_loss,
                train_acc=train_acc,
                test=test,
                lrs=run_lrs,
                steps_per_epoch=steps_per_epoch,
                seconds=seconds,  # this run's share of the batch's wall time for the epoch
                samples_per_sec=seen / train_seconds,  # this run's samples; the batch did K times as many
                iterations=iteration,
                samples=run.samples,
            )
            metrics = core.json_safe(workload.with_derived_metrics(metrics))  # as the engine does
            run.epochs.append(metrics)
            observe = getattr(run.plan.policy, "observe", None)
            if observe is not None:  # an adaptive policy: its next LRs may depend on this epoch
                observe(epoch, metrics, epochs_total)
            if on_epoch is not None:
                on_epoch(run.index, metrics)
            found = find_divergence(run.epochs, workload.num_classes, run.plan.divergence)
            if found is not None:
                run.diverged_epoch, run.diverged_reason = found.epoch, found.reason
                diverged.append(run)
        for run in batch.runs:  # after on_epoch, as the engine checkpoints
            if run.config.checkpoint_path is not None:
                path = Path(run.config.checkpoint_path).expanduser()
                checkpoint.save(batch.checkpoint(run, iteration), path)
                if on_checkpoint is not None:
                    on_checkpoint(run.index, path)
        batch.leave(diverged, "diverged", iteration)
    batch.leave([r for r in batch.runs if should_stop(r.index)], "cancelled", iteration)  # during the last epoch
    batch.leave(list(batch.runs), "succeeded", iteration)

    device_name = core.device_name(device)
    return [_result(run, device, device_name) for run in runs], None


def _lr_scales(workload: Workload, model: nn.Module, options: dict[str, Any]) -> dict[str, float]:
    """Each trainable parameter's LR multiplier, by name, from the workload's parameter groups."""
    scale_of = {id(p): group["lr_scale"] for group in workload.param_groups(model, options) for p in group["params"]}
    return {name: scale_of[id(p)] for name, p in model.named_parameters() if id(p) in scale_of}


class _Batch:
    """The runs still training, with their stacked models and optimizer, kept in the same order."""

    def __init__(self, runs: list[_Run], lr_scales: dict[str, float], device: torch.device):
        self.runs = list(runs)
        self.device = device
        self.trainable_names = list(lr_scales)  # the stack's trainable parameters, in its order
        self.stack = ModelStack([r.model for r in runs], trainable=list(lr_scales))
        self.optimizer = StackedSGD(
            self.stack.trainable(),
            lr_scales=list(lr_scales.values()),
            momentum=[r.plan.optimizer["momentum"] for r in runs],
            weight_decay=[r.plan.optimizer["weight_decay"] for r in runs],
            nesterov=runs[0].plan.optimizer["nesterov"],
        )

    def checkpoint(self, run: _Run, iteration: int) -> dict[str, Any]:
        """What trainer.engine.train writes after this run's latest epoch, from the stack: engine.train resumes it.

        The run's module gets its current weights and buffers; its SGD state is
        torch.optim.SGD's own, built over the engine's parameter groups and
        holding this run's slice of each momentum buffer.
        """
        position = self.runs.index(run)
        self.stack.copy_into(position, run.model)
        plan = run.plan
        groups = plan.workload.param_groups(run.model, plan.options)
        optimizer = core.build_optimizer(plan.optimizer, groups, lr=0.0)
        params = dict(run.model.named_parameters())
        for name, buffer in zip(self.trainable_names, self.optimizer.momentum_buffers, strict=True):
            if buffer is not None:
                optimizer.state[params[name]]["momentum_buffer"] = buffer[position].detach().clone()
        return core.checkpoint_state(
            config=run.config,
            plan=plan,
            iteration=iteration,
            epochs=run.epochs,
            diverged_epoch=run.diverged_epoch,
            diverged_reason=run.diverged_reason,
            model=run.model,
            optimizer=optimizer,
            rng=checkpoint.rng_states(run.shuffle_rng),
        )

    def leave(self, leaving: list[_Run], status: str, iteration: int) -> list[int]:
        """End these runs with this status, their trained weights written into their own modules.

        Returns the positions, in the old order, of the runs that stay.
        """
        if not leaving:
            return list(range(len(self.runs)))
        for run in leaving:
            run.status, run.iterations = status, iteration
            self.stack.copy_into(self.runs.index(run), run.model)
        kept = [i for i, r in enumerate(self.runs) if r not in leaving]
        self.runs = [self.runs[i] for i in kept]
        if self.runs:
            index = torch.tensor(kept, device=self.device)
            self.stack.keep(index)
            self.optimizer.keep(index, self.stack.trainable())
        return kept


def _cross_entropy_per_model(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each model's mean cross-entropy over its batch: logits (K, B, C), targets (K, B) -> (K,)."""
    per_sample = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    return per_sample.view(targets.shape).mean(dim=1)


@torch.no_grad()
def _evaluate(
    stack: ModelStack,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    autocast: Callable[[], torch.autocast],
) -> list[dict[str, float]]:
    """Every model's test metrics, as the engine's _evaluate computes them for one."""
    stack.eval()
    chunk = max(1, batch_size // len(stack))  # about batch_size samples per call in all: the engine's memory
    with autocast():
        logits = torch.cat(
            [stack(inputs[i : i + chunk], shared=True).float() for i in range(0, len(inputs), chunk)], dim=1
        )
    losses = _cross_entropy_per_model(logits, labels.expand(len(logits), -1)).tolist()
    return [
        {"loss": loss, **lrbench_metrics(model_logits, labels)}
        for loss, model_logits in zip(losses, logits, strict=True)
    ]


def _result(run: _Run, device: torch.device, device_name: str) -> dict:
    """The run's result, with train()'s keys."""
    plan = run.plan
    summary = core.summarise(
        run.epochs,
        plan.workload.target_accuracy,
        run.iterations,
        run.total_seconds,
        run.diverged_epoch,
        run.diverged_reason,
    )
    return core.run_result(
        status=run.status,
        device=device,
        config=run.config,
        plan=plan,
        epochs=run.epochs,
        summary=summary,
        device_label=device_name,
    )
