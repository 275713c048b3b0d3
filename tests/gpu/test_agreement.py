"""The CPU against the device: one epoch of every workload, on synthetic data, trains the same.

Per workload, two checks:

- The same steps. The workload's model, initialised under one seed on the CPU,
  is trained with SGD and the workload's settings on the same synthetic batches
  in the same order (CIFAR's random crops and flips drawn once, on the CPU), in
  the engine's memory format: on the CPU in float32 (the reference), on the
  device in float32 without TF32, and on the device under bf16 autocast as the
  engine trains there. The first step's loss and gradients must agree to
  rounding; over the epoch the losses and the weights' updates must stay close.
- The engine itself: `trainer.engine.train` for one epoch on the CPU and on the
  device, on synthetic data of the workload's shape (random labels: nothing to
  learn, so both must land at the same loss and at chance accuracy).

What each check measured goes to gpu-tests.json (see conftest.py), so the
tolerances can be tightened from real numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from tests.gpu.env import QUICK
from trainer.data import synthetic
from trainer.engine import TrainConfig, train
from trainer.workloads import WORKLOADS, get_workload, resolve_optimizer

LR = 0.01
FIX = {"kind": "FIX", "k0": LR}
# Training steps per workload: a whole epoch where the CPU reference takes seconds, else a cut one.
STEPS = {
    "digits-mlp": 45,
    "mnist1d-mlp": 40,
    "gauss2-mlp": 141,
    "mnist-mlp": 469,
    "mnist-lenet": 100,
    "cifar10-cnn3": 10,
    "cifar10-resnet20": 10,
    "cifar10-preresnet32": 10,
}
QUICK_STEPS = 2

# (float32 on the device, bf16 autocast on the device) against float32 on the CPU.
TOLERANCE = {
    "first_loss_rel": (1e-4, 2e-2),  # one forward pass
    # One backward pass. On random labels a batch's gradient is the small residue of per-sample terms that
    # nearly cancel, so rounding moves it far more than it moves the loss: bf16 autocast on the CPU moved the
    # first gradient of ResNet-20 by 20-40% and of PreResNet-32 by 50% (float32: 1e-6). bf16's limit only
    # tells a gradient that still points the same way (cosine > 0.5 or so) from garbage (about 1.4).
    "first_grad_rel": (1e-3, 0.8),
    "mean_loss_rel": (1e-2, 3e-2),  # the epoch's losses, averaged
    "update_rel": (1e-1, 1.0),  # |Δθ_device - Δθ_cpu| / |Δθ_cpu|: rounding grows along the trajectory
}


def steps_of(name: str) -> int:
    return QUICK_STEPS if QUICK else STEPS[name]


@contextlib.contextmanager
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def batches(name: str, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` training batches of synthetic data, made and augmented on the CPU: the same on every device."""
    workload = get_workload(name)
    size = min(workload.batch_size, 16) if QUICK else workload.batch_size  # a dry run on a CPU: small batches
    x, y, _, _ = synthetic(workload.input_shape, workload.num_classes, steps * size, 0, "cpu")
    generator = torch.Generator().manual_seed(1)
    order = torch.randperm(len(x), generator=generator)
    out = []
    for step in range(steps):
        batch = order[step * size : (step + 1) * size]
        inputs = x[batch]
        if workload.augment is not None:
            inputs = workload.augment(inputs, generator)
        out.append((inputs, y[batch]))
    return out


def trajectory(name: str, data: list, device: torch.device, bf16: bool) -> dict[str, torch.Tensor]:
    """SGD on `data` as the engine would (without its schedule and bookkeeping): losses, first gradients, weights."""
    workload = get_workload(name)
    options = workload.resolve_options(None)
    settings = resolve_optimizer(workload.optimizer, None)
    assert settings.pop("name") == "sgd"
    memory_format = torch.channels_last if workload.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = workload.create_model(options).to(device, memory_format=memory_format)
    groups = workload.param_groups(model, options)
    optimizer = torch.optim.SGD(
        [{"params": g["params"], "lr": LR * g["lr_scale"]} for g in groups if g["params"]], lr=LR, **settings
    )
    params = [p for g in groups for p in g["params"]]
    start = torch.cat([p.detach().flatten().cpu() for p in params])
    losses, first_grads = [], None
    model.train()
    for step, (inputs, targets) in enumerate(data):
        inputs = inputs.to(device).contiguous(memory_format=memory_format)
        targets = targets.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            first_grads = torch.cat([p.grad.detach().float().flatten().cpu() for p in params])
        optimizer.step()
        losses.append(loss.detach())
    end = torch.cat([p.detach().float().flatten().cpu() for p in params])
    return {
        "losses": torch.stack(losses).cpu().double(),
        "grads": first_grads.double(),
        "update": (end - start).double(),
    }


def compare(got: dict, ref: dict) -> dict[str, float]:
    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm())

    return {
        "first_loss_rel": abs(float(got["losses"][0] - ref["losses"][0])) / abs(float(ref["losses"][0])),
        "first_grad_rel": rel(got["grads"], ref["grads"]),
        "mean_loss_rel": abs(float(got["losses"].mean() - ref["losses"].mean())) / float(ref["losses"].mean()),
        "update_rel": rel(got["update"], ref["update"]),
        "finite": bool(torch.isfinite(got["losses"]).all()),
    }


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_the_same_steps_on_the_device_give_the_cpus_losses_gradients_and_weights(name, device, record):
    data = batches(name, steps_of(name))
    reference = trajectory(name, data, torch.device("cpu"), bf16=False)
    with no_tf32():
        float32 = compare(trajectory(name, data, device, bf16=False), reference)
    bf16 = compare(trajectory(name, data, device, bf16=True), reference)
    record(workload=name, steps=len(data), float32=float32, bf16=bf16)

    for label, measured, column in (("float32", float32, 0), ("bf16 autocast", bf16, 1)):
        assert measured["finite"], f"{label}: a non-finite loss"
        for key, limits in TOLERANCE.items():
            assert measured[key] <= limits[column], f"{label}: {key} = {measured[key]:.3g} > {limits[column]:g}"


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_one_engine_epoch_on_the_device_agrees_with_the_cpu(name, device, record):
    workload = get_workload(name)
    config = TrainConfig(
        workload=name,
        policy=FIX,
        epochs=1,
        device="cpu",
        synthetic=True,
        limit_train_batches=steps_of(name),
        limit_test_batches=1 if QUICK else 2,
    )
    on_cpu = train(config)
    on_device = train(dataclasses.replace(config, device=str(device)))
    cpu, dev = on_cpu["epochs"][0], on_device["epochs"][0]
    record(
        workload=name,
        device_name=on_device["device_name"],
        train_loss={"cpu": cpu["train_loss"], "device": dev["train_loss"]},
        test_acc={"cpu": cpu["test_acc"], "device": dev["test_acc"]},
        samples_per_sec={"cpu": cpu["samples_per_sec"], "device": dev["samples_per_sec"]},
    )

    assert on_cpu["status"] == on_device["status"] == "succeeded"
    assert on_device["device"].startswith(device.type)
    assert math.isfinite(dev["train_loss"]) and math.isfinite(dev["test_loss"])
    chance = math.log(workload.num_classes)  # random labels: the loss stays near ln(C)
    assert abs(dev["train_loss"] - cpu["train_loss"]) <= 0.05 * chance
    assert abs(dev["test_acc"] - cpu["test_acc"]) <= 0.08
