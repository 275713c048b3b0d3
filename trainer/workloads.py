"""The workload registry: a data set, a model and optimizer defaults, under one name.

Light on purpose: importing this module (and `list_workloads()`) needs no
torch, so the web process can list workloads. Data is loaded and models are
built only when a run calls `load_data` / `build_model`.

To add a workload, write its loader in `data.py` and its model in `models.py`,
then add a `Workload(...)` to `WORKLOADS` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from trainer.data import Tensors


class UnknownWorkload(ValueError):
    def __init__(self, name: object):
        self.name = name
        super().__init__(f"unknown workload {name!r}; valid names: {', '.join(WORKLOADS)}")


@dataclass(frozen=True)
class OptimizerDefaults:
    name: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    description: str
    num_classes: int
    batch_size: int
    default_epochs: int
    target_accuracy: float  # a fraction in [0, 1]; epochs_to_target counts up to it
    optimizer: OptimizerDefaults
    load_data: Callable[[Path], Tensors] = field(repr=False)  # data_dir -> (x_train, y_train, x_test, y_test)
    build_model: Callable[[], nn.Module] = field(repr=False)
    channels_last: bool = False  # conv nets: channels_last memory format on CUDA
    cpu_threads: int | None = None  # intra-op threads on CPU; None: torch's default
    eval_batch_size: int = 1000

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable description; loads nothing."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "num_classes": self.num_classes,
            "batch_size": self.batch_size,
            "default_epochs": self.default_epochs,
            "target_accuracy": self.target_accuracy,
            "optimizer": asdict(self.optimizer),
        }


# Loaders and factories import torch only when called (see the module docstring).
def _digits_data(data_dir: Path) -> Tensors:
    from trainer.data import load_digits

    return load_digits()  # shipped inside scikit-learn: data_dir is not needed


def _digits_model() -> nn.Module:
    from trainer.models import digits_mlp

    return digits_mlp()


def _mnist_data(data_dir: Path) -> Tensors:
    from trainer.data import load_mnist

    return load_mnist(data_dir)


def _mnist_model() -> nn.Module:
    from trainer.models import lenet

    return lenet()


DIGITS_MLP = Workload(
    name="digits-mlp",
    title="Digits 8x8, MLP",
    description=(
        "scikit-learn's 1,797 real 8x8 handwritten digits (1,437 train / 360 test, "
        "a fixed stratified split); an MLP 64-128-128-10. Seconds per run on a CPU."
    ),
    num_classes=10,
    batch_size=32,  # 45 iterations per epoch: enough steps for a schedule to matter
    default_epochs=10,
    target_accuracy=0.97,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=5e-4),
    load_data=_digits_data,
    build_model=_digits_model,
    # Its matrices are tiny: threads cost more in synchronisation than they save,
    # and on a busy CPU two threads ran 20x slower than one.
    cpu_threads=1,
)

MNIST_LENET = Workload(
    name="mnist-lenet",
    title="MNIST, LeNet",
    description=(
        "MNIST (60,000 train / 10,000 test 28x28 digits) with LRBench's LeNet "
        "(conv 20 - pool - conv 50 - pool - fc 500 - fc 10), batch 100, SGD momentum 0.9."
    ),
    num_classes=10,
    batch_size=100,  # LRBench's setting
    # LRBench trains 10,000 iterations (16.7 epochs); 10 epochs reach 99% with a good policy.
    default_epochs=10,
    target_accuracy=0.99,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=5e-4),
    load_data=_mnist_data,
    build_model=_mnist_model,
    channels_last=True,
)

WORKLOADS: dict[str, Workload] = {w.name: w for w in (DIGITS_MLP, MNIST_LENET)}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except (KeyError, TypeError):
        raise UnknownWorkload(name) from None


def list_workloads() -> list[dict[str, Any]]:
    return [w.summary() for w in WORKLOADS.values()]
