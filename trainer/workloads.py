"""The workload registry: a data set, a model and optimizer defaults, under one name.

Light on purpose: importing this module (and `list_workloads()`) needs no
torch, so the web process can list workloads and check options. Data is loaded
and models are built only when a run calls `load_data` / `create_model`.

To add a workload, write its loader in `data.py` and its model in `models.py`,
then add a `Workload(...)` to `WORKLOADS` below. A workload may declare options
(`Option`): those marked `model=True` are passed to `build_model` as keyword
arguments; `input_lr_scale` is read by `param_groups`.

`Workload`, `Option` and `OptimizerDefaults` are also the public interface of
workload plugins: a package declares a `Workload` and names it in the entry
point group `lr_arena.workloads` (see `trainer.plugins` and the README). Its
factories may be given as "module:function" strings, imported on first call,
so that the declaration imports no torch.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer import plugins
from trainer.errors import UserInputError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from trainer.data import Tensors


class UnknownWorkload(UserInputError):
    def __init__(self, name: object):
        self.name = name
        message = f"unknown workload {name!r}; valid names: {', '.join(all_workloads())}"
        failed = [f"{p.entry_point} ({p.error})" for p in plugins.plugin_statuses() if not p.loaded]
        if failed:  # the workload may be one of theirs: say so where the run's error is read
            message += f"; workload plugins that failed to load here: {'; '.join(failed)}"
        super().__init__("workload", message)


NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,49}")  # a Run's workload column holds 50 characters


class LazyCallable:
    """A function named by "package.module:function", imported on its first call.

    A plugin's declaration names its factories this way, so that importing the
    declaration (as the web process does to list workloads) imports no torch.
    """

    def __init__(self, target: str):
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(f"expected 'package.module:function', got {target!r}")
        self.target = target
        self._function: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            module, _, attribute = self.target.partition(":")
            function: Any = importlib.import_module(module)
            for part in attribute.split("."):
                function = getattr(function, part)
            self._function = function
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyCallable({self.target!r})"


@dataclass(frozen=True)
class OptimizerDefaults:
    name: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False


@dataclass(frozen=True)
class Option:
    """One setting a workload takes, declared once: its check, default and help come from here.

    A str option may list its `choices`; one whose default is None is required.
    `model` options are keyword arguments of build_model, `data` options of
    load_data (an option may be both).
    """

    name: str
    type: type  # int, float, bool or str
    default: Any  # None (str options only): the option is required
    low: float | None = None  # inclusive bounds, for int and float
    high: float | None = None
    low_open: bool = False  # True: the low bound itself is excluded
    help: str = ""
    model: bool = True  # True: a keyword argument of build_model
    data: bool = False  # True: a keyword argument of load_data
    choices: tuple[str, ...] = ()  # str options: the values allowed; (): any non-empty text

    @property
    def required(self) -> bool:
        return self.default is None

    def check(self, value: Any) -> Any:
        """The value as this option's type; ValueError naming the option otherwise."""
        where = f"workload_options.{self.name}"
        if self.type is str:
            return self._check_text(where, value)
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be {self._describe()}, got {value!r}")
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{where} must be {self._describe()}, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and value > self.high
        if not math.isfinite(value) or too_low or too_high:
            raise ValueError(f"{where} must be {self._describe()}, got {value!r}")
        return value

    def _check_text(self, where: str, value: Any) -> str:
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_OPTION:
            raise ValueError(f"{where} must be non-empty text of at most {MAX_TEXT_OPTION} characters, got {value!r}")
        return value

    def _describe(self) -> str:
        kind = "an integer" if self.type is int else "a number"
        left = "(" if self.low_open else "["
        return f"{kind} in {left}{_number(self.low)}, {_number(self.high)}]"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "required": self.required,
            "low": self.low,
            "high": self.high,
            "low_open": self.low_open,
            "choices": list(self.choices),
            "data": self.data,
            "help": self.help,
        }


MAX_TEXT_OPTION = 1000  # characters of a text option (a path, say)


def _number(value: float | None) -> str:
    return "inf" if value is None else f"{value:g}"


@dataclass(frozen=True)
class Workload:
    """A data set, a model and their training defaults, under one name.

    The factories (`load_data`, `build_model`, `augment`, `derived_metrics`)
    are callables or "package.module:function" strings imported on first call.
    `load_data(data_dir)` returns four CPU tensors (x_train, y_train, x_test,
    y_test), labels int64 class indices in [0, num_classes); `build_model(**model
    options)` returns a module mapping a batch of inputs to (batch, num_classes)
    scores. A workload with data options (`Option(data=True)`: a folder, an image
    size) is called `load_data(data_dir, **data options)` and returns an object
    whose `source(device, eval_batch_size)` is a trainer.data.DataSource (its
    batches, and its own num_classes); only the engine trains such a workload.
    Bad declarations raise ValueError naming the field.
    """

    name: str  # lower case letters, digits, ".", "_", "-"; at most 50 characters
    title: str
    description: str
    num_classes: int
    batch_size: int
    default_epochs: int
    target_accuracy: float  # a fraction in [0, 1]; epochs_to_target counts up to it
    optimizer: OptimizerDefaults
    load_data: Callable[[Path], Tensors] = field(repr=False)  # data_dir -> (x_train, y_train, x_test, y_test)
    build_model: Callable[..., nn.Module] = field(repr=False)  # keyword arguments: the model options
    channels_last: bool = False  # conv nets: channels_last memory format (faster on CUDA and on CPU)
    cpu_threads: int | None = None  # intra-op threads on CPU; None: torch's default
    prefers_gpu: bool = False  # runs asking for device "auto" go to the gpu queue where GPU workers exist
    eval_batch_size: int = 1000
    # The real data's shape, for synthetic stand-ins: one sample's input shape, and the set sizes.
    input_shape: tuple[int, ...] = ()
    train_size: int = 0
    test_size: int = 0
    options: tuple[Option, ...] = ()
    # A batched training-time transform (inputs, generator on their device) -> inputs; None: none.
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = field(default=None, repr=False)
    # More numbers of an epoch, derived from its metrics (e.g. perplexity from test_loss); torch-free.
    derived_metrics: Callable[[dict[str, Any]], dict[str, float]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("load_data", "build_model", "augment", "derived_metrics"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    object.__setattr__(self, name, LazyCallable(value))
                except ValueError as error:
                    raise ValueError(f"{name}: {error}") from None
            elif value is not None and not callable(value):
                raise ValueError(f"{name} must be a callable or a 'package.module:function' string, got {value!r}")
        self._check_declaration()

    def _check_declaration(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                f"name must be 1 to 50 lower-case letters, digits, '.', '_' or '-', starting with a letter or "
                f"digit, got {self.name!r}"
            )
        for name in ("title", "description"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        positive = {"num_classes": 2, "batch_size": 1, "default_epochs": 1, "eval_batch_size": 1}
        for name, low in positive.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        target = self.target_accuracy
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 <= target <= 1:
            raise ValueError(f"target_accuracy must be a fraction in [0, 1], got {target!r}")
        if not isinstance(self.optimizer, OptimizerDefaults) or self.optimizer.name not in OPTIMIZER_SETTINGS:
            raise ValueError(
                f"optimizer must be OptimizerDefaults(name=...) with a name among {', '.join(OPTIMIZER_SETTINGS)}, "
                f"got {self.optimizer!r}"
            )
        if not isinstance(self.input_shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in self.input_shape
        ):
            raise ValueError(f"input_shape must be a tuple of positive integers, got {self.input_shape!r}")
        if not isinstance(self.options, tuple) or not all(isinstance(o, Option) for o in self.options):
            raise ValueError(f"options must be a tuple of Option, got {self.options!r}")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"options: each name once, got {names}")
        for option in self.options:
            if option.type not in (int, float, bool, str):
                raise ValueError(f"options: {option.name!r} has type {option.type!r}; int, float, bool or str")
            if option.choices and (option.type is not str or not all(isinstance(c, str) for c in option.choices)):
                raise ValueError(f"options: {option.name!r} has choices; only a str option may, each a str")
            if option.required and option.type is not str:
                raise ValueError(f"options: {option.name!r} has no default; only a str option may be required")
            try:
                if not option.required:
                    option.check(option.default)
            except ValueError as error:
                raise ValueError(f"options: the default of {option.name!r} is invalid: {error}") from None
        if self.cpu_threads is not None and (not isinstance(self.cpu_threads, int) or self.cpu_threads < 1):
            raise ValueError(f"cpu_threads must be a positive integer or None, got {self.cpu_threads!r}")
        for name in ("channels_last", "prefers_gpu"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def resolve_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every option's value: the given ones checked, the others their defaults.

        Raises ValueError naming the option: an unknown name, a missing required
        one, a wrong type or an out-of-range value.
        """
        given = {} if given is None else given
        if not isinstance(given, Mapping):
            raise ValueError(f"workload_options must be an object of option names to values, got {given!r}")
        declared = {o.name: o for o in self.options}
        unknown = [name for name in given if name not in declared]
        if unknown:
            valid = f"valid options: {', '.join(declared)}" if declared else "it takes no options"
            raise ValueError(f"workload_options.{unknown[0]}: unknown option of {self.name!r}; {valid}")
        missing = [o for o in self.options if o.required and given.get(o.name) is None]
        if missing:
            raise ValueError(
                f"workload_options.{missing[0].name} is required by {self.name!r}: {missing[0].help or 'no default'}"
            )
        return {
            name: option.check(given[name]) if name in given else option.default for name, option in declared.items()
        }

    @property
    def has_data_options(self) -> bool:
        """True: its data depends on options (a folder, an image size); load_data returns a DataSource maker."""
        return any(o.data for o in self.options)

    def changed_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The given options, checked, without those at their defaults: what tells two runs' settings apart
        (a run stores these, so that {} and the defaults spelt out are the same run). ValueError as resolve_options.
        """
        declared = {o.name: o for o in self.options}
        return {name: value for name, value in self.resolve_options(given).items() if value != declared[name].default}

    def data_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The keyword arguments of load_data: the data options (checked; defaults for the others)."""
        resolved = self.resolve_options(options)
        return {o.name: resolved[o.name] for o in self.options if o.data}

    def create_model(self, options: Mapping[str, Any] | None = None) -> nn.Module:
        """The model, built with the model options (checked; defaults for the others)."""
        resolved = self.resolve_options(options)
        return self.build_model(**{o.name: resolved[o.name] for o in self.options if o.model})

    def param_groups(self, model: nn.Module, options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: each has "params" and "lr_scale", the policy's LR multiplier.

        Parameters that do not require grad (fixed by an option) are left out.
        With input_lr_scale, the input layer (the first module that holds
        parameters) gets its own group at that scale.
        """
        resolved = self.resolve_options(options)
        scale = resolved.get("input_lr_scale", 1.0)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if scale == 1.0:
            return [{"params": trainable, "lr_scale": 1.0}]
        input_layer = next(m for m in model.modules() if next(m.parameters(recurse=False), None) is not None)
        first = {id(p) for p in input_layer.parameters(recurse=False)}
        return [
            {"params": [p for p in trainable if id(p) in first], "lr_scale": scale},
            {"params": [p for p in trainable if id(p) not in first], "lr_scale": 1.0},
        ]

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
            "optimizer": resolve_optimizer(self.optimizer, None),
            "prefers_gpu": self.prefers_gpu,
            "input_shape": list(self.input_shape),
            "train_size": self.train_size,
            "test_size": self.test_size,
            "options": [o.summary() for o in self.options],
        }

    def with_derived_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """An epoch's metrics and, after them, the ones this workload derives from them (never overriding)."""
        if self.derived_metrics is None:
            return metrics
        return {**self.derived_metrics(dict(metrics)), **metrics}


# Optimizers. The LR always comes from the policy; these are the other settings.
OPTIMIZER_SETTINGS = {
    "sgd": ("momentum", "weight_decay", "nesterov"),
    "adam": ("betas", "eps", "weight_decay"),
    "adamw": ("betas", "eps", "weight_decay"),
}
# Defaults of an optimizer other than the workload's own: PyTorch's.
OPTIMIZER_DEFAULTS = {
    "sgd": {"momentum": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
}


def resolve_optimizer(defaults: OptimizerDefaults, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """The optimizer to train with: {"name": ..., its settings}.

    `override` (e.g. {"name": "adamw", "weight_decay": 0.01}) replaces the
    workload's defaults field by field; the fields it leaves out come from the
    workload when it names the workload's optimizer, else from PyTorch's
    defaults. Raises ValueError naming the field ("optimizer.momentum", ...).
    """
    override = {} if override is None else override
    if not isinstance(override, Mapping):
        raise ValueError(f"optimizer must be an object such as {{'name': 'adamw'}}, got {override!r}")
    name = override.get("name", defaults.name)
    if name not in OPTIMIZER_SETTINGS:
        raise ValueError(f"optimizer.name must be one of {', '.join(OPTIMIZER_SETTINGS)}, got {name!r}")
    settings = dict(OPTIMIZER_DEFAULTS[name])
    if name == defaults.name:  # the workload's own optimizer: its settings where it declares them
        settings.update({k: v for k, v in asdict(defaults).items() if k in OPTIMIZER_SETTINGS[name]})
    for key, value in override.items():
        if key == "name":
            continue
        if key not in OPTIMIZER_SETTINGS[name]:
            hint = "; the LR comes from the policy" if key == "lr" else ""
            raise ValueError(
                f"optimizer.{key} is not a setting of {name}; valid: {', '.join(OPTIMIZER_SETTINGS[name])}{hint}"
            )
        settings[key] = _OPTIMIZER_CHECKS[key](f"optimizer.{key}", value)
    if settings.get("nesterov") and settings["momentum"] == 0:
        raise ValueError("optimizer.nesterov needs optimizer.momentum > 0")
    return {"name": name, **settings}


def _fraction(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{where} must be a number in [0, 1), got {value!r}")
    return float(value)


def _weight_decay(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def _eps(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"{where} must be a number in (0, 1], got {value!r}")
    return float(value)


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def _betas(where: str, value: Any) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{where} must be a pair [beta1, beta2] of numbers in [0, 1), got {value!r}")
    return [_fraction(f"{where}[{i}]", beta) for i, beta in enumerate(value)]


_OPTIMIZER_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "momentum": _fraction,
    "weight_decay": _weight_decay,
    "nesterov": _flag,
    "eps": _eps,
    "betas": _betas,
}


# Options shared by the MLP workloads (Iyer et al.'s networks).
def _mlp_options(depth: int, width: int) -> tuple[Option, ...]:
    return (
        Option("depth", int, depth, low=1, high=64, help="hidden layers"),
        Option("width", int, width, low=1, high=4096, help="units per hidden layer"),
        Option(
            "input_lr_scale",
            float,
            1.0,
            low=0.0,
            high=1.0,
            low_open=True,
            help="the input layer's LR is the policy's times this (Iyer et al. train it at a smaller LR)",
            model=False,
        ),
    )


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


def _mnist1d_data(data_dir: Path) -> Tensors:
    from trainer.data import load_mnist1d

    return load_mnist1d()  # generated: data_dir is not needed


def _mnist1d_model(depth: int = 2, width: int = 100) -> nn.Module:
    from trainer.models import mlp

    return mlp(40, depth, width, 10)


def _mnist_mlp_model(depth: int = 4, width: int = 256) -> nn.Module:
    from trainer.models import mlp

    return mlp(28 * 28, depth, width, 10)


def _gauss2_data(data_dir: Path) -> Tensors:
    from trainer.data import load_two_gaussians

    return load_two_gaussians()  # generated: data_dir is not needed


def _gauss2_model(depth: int = 4, width: int = 256) -> nn.Module:
    from trainer.data import GAUSS2_DIM
    from trainer.models import mlp

    return mlp(GAUSS2_DIM, depth, width, 2)


def _cifar10_data(data_dir: Path) -> Tensors:
    from trainer.data import load_cifar10

    return load_cifar10(data_dir)


def _cifar10_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    from trainer.data import CIFAR10_BLACK, random_crop_flip

    return random_crop_flip(images, generator, padding=4, fill=CIFAR10_BLACK)


def _cnn3_model() -> nn.Module:
    from trainer.models import cnn3

    return cnn3()


def _resnet20_model() -> nn.Module:
    from trainer.models import resnet20

    return resnet20()


def _preresnet32_model(fix_bn: bool = False, fix_last: bool = False) -> nn.Module:
    from trainer.models import preresnet32

    return preresnet32(fix_bn=fix_bn, fix_last=fix_last)


# Tiny matrices: on CPU, threads cost more in synchronisation than they save
# (on a busy CPU two threads ran digits-mlp 20x slower than one).
SMALL_NET_THREADS = 1

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
    cpu_threads=SMALL_NET_THREADS,
    input_shape=(64,),
    train_size=1437,
    test_size=360,
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
    input_shape=(1, 28, 28),
    train_size=60_000,
    test_size=10_000,
)

MNIST1D_MLP = Workload(
    name="mnist1d-mlp",
    title="MNIST-1D, MLP",
    description=(
        "MNIST-1D (Greydanus 2020): 4,000 train / 1,000 test procedurally generated 1-D digit "
        "signals of length 40, harder than MNIST for an MLP; a ReLU MLP 40-100-100-10 "
        "(depth and width are options). Seconds per epoch on a CPU."
    ),
    num_classes=10,
    batch_size=100,  # MNIST-1D's reference setting: 40 iterations per epoch
    default_epochs=50,
    target_accuracy=0.60,  # its MLP baseline reaches about 68%
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=0.0),
    load_data=_mnist1d_data,
    build_model=_mnist1d_model,
    cpu_threads=SMALL_NET_THREADS,
    input_shape=(40,),
    train_size=4000,
    test_size=1000,
    options=_mlp_options(depth=2, width=100),
)

MNIST_MLP = Workload(
    name="mnist-mlp",
    title="MNIST, deep MLP",
    description=(
        "MNIST with Iyer et al.'s constant-width fully connected ReLU network (Kaiming-normal "
        "init, batch 128, plain SGD), of chosen depth and width, the input layer optionally "
        "at a smaller LR; target 92.5%, their threshold for the maximal initial LR."
    ),
    num_classes=10,
    batch_size=128,  # Iyer et al.'s setting
    default_epochs=10,  # their epoch budget e
    target_accuracy=0.925,
    optimizer=OptimizerDefaults(momentum=0.0, weight_decay=0.0),  # plain SGD, as in the paper
    load_data=_mnist_data,
    build_model=_mnist_mlp_model,
    input_shape=(1, 28, 28),
    train_size=60_000,
    test_size=10_000,
    options=_mlp_options(depth=4, width=256),
)

GAUSS2_MLP = Workload(
    name="gauss2-mlp",
    title="Two Gaussians, deep MLP",
    description=(
        "Iyer et al.'s binary task: two Gaussians N(±mu, I) in 100 dimensions, 9,000 train + "
        "1,000 validation samples per class, means 3.29 apart so that the best possible accuracy "
        "is 95%; a constant-width ReLU MLP of chosen depth and width. Target 90%."
    ),
    num_classes=2,
    batch_size=128,
    default_epochs=10,
    target_accuracy=0.90,
    optimizer=OptimizerDefaults(momentum=0.0, weight_decay=0.0),
    load_data=_gauss2_data,
    build_model=_gauss2_model,
    cpu_threads=SMALL_NET_THREADS,
    eval_batch_size=2000,
    input_shape=(100,),
    train_size=18_000,
    test_size=2_000,
    options=_mlp_options(depth=4, width=256),
)

_CIFAR10 = {
    "num_classes": 10,
    "load_data": _cifar10_data,
    "channels_last": True,
    "input_shape": (3, 32, 32),
    "train_size": 50_000,
    "test_size": 10_000,
    "augment": _cifar10_augment,  # random crop (4-pixel padding) and horizontal flip
    "eval_batch_size": 500,  # plenty for a GPU; and a CPU evaluates a ResNet no faster in larger batches
}

CIFAR10_CNN3 = Workload(
    name="cifar10-cnn3",
    prefers_gpu=True,
    title="CIFAR-10, CNN3",
    description=(
        "CIFAR-10 (50,000 train / 10,000 test 32x32 colour images, random crop and flip) with "
        "LRBench's CNN3: three 5x5 conv layers of 32, 32, 64 channels with pooling and local "
        "response normalisation, then fc 10 (Caffe's cifar10_full); batch 100."
    ),
    batch_size=100,  # LRBench's setting
    default_epochs=60,
    target_accuracy=0.80,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=4e-3),  # cifar10_full's solver
    build_model=_cnn3_model,
    **_CIFAR10,
)

CIFAR10_RESNET20 = Workload(
    name="cifar10-resnet20",
    prefers_gpu=True,
    title="CIFAR-10, ResNet-20",
    description=(
        "CIFAR-10 with He et al.'s ResNet-20 (0.27M parameters, batch norm, identity shortcuts), "
        "random crop and flip, batch 128, SGD momentum 0.9, weight decay 1e-4; the paper trains "
        "164 epochs to 91.25%."
    ),
    batch_size=128,
    default_epochs=164,
    target_accuracy=0.90,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=1e-4),
    build_model=_resnet20_model,
    **_CIFAR10,
)

CIFAR10_PRERESNET32 = Workload(
    name="cifar10-preresnet32",
    prefers_gpu=True,
    title="CIFAR-10, PreResNet-32",
    description=(
        "CIFAR-10 with the pre-activation ResNet-32 of Li & Arora's exponential-LR experiments "
        "(0.46M parameters), batch 128, SGD momentum 0.9, weight decay 5e-4. Options fix the "
        "batch norms' scale and bias and the last layer, which makes the loss scale-invariant."
    ),
    batch_size=128,
    default_epochs=200,
    target_accuracy=0.92,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=5e-4),
    build_model=_preresnet32_model,
    options=(
        Option("fix_bn", bool, False, help="hold every batch norm's scale at 1 and bias at 0"),
        Option("fix_last", bool, False, help="hold the last layer at its random initialisation"),
    ),
    **_CIFAR10,
)

# The image-folder workload: any torchvision classifier on a folder of images (trainer.imagefolder).
# Its classifiers by name: torchvision's list_models(module=torchvision.models), written out so that the
# web process checks the name without importing torch (a unit test keeps the two equal).
TORCHVISION_CLASSIFIERS = (
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny", "densenet121", "densenet161",
    "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_l",
    "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mnasnet0_75",
    "mnasnet1_0", "mnasnet1_3", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_x_16gf",
    "regnet_x_1_6gf", "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_8gf",
    "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf", "regnet_y_400mf",
    "regnet_y_800mf", "regnet_y_8gf", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1", "swin_b", "swin_s", "swin_t",
    "swin_v2_b", "swin_v2_s", "swin_v2_t", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32", "wide_resnet101_2", "wide_resnet50_2",
)

IMAGE_FOLDER = Workload(
    name="image-folder",
    prefers_gpu=True,
    title="Your image folder, any torchvision classifier",
    description=(
        "A folder of images in torchvision's ImageFolder layout (train/<class>/, val/<class>/, on the worker) "
        "and a torchvision classification model by name (resnet18, mobilenet_v3_small, ...), randomly "
        "initialised; random resized crops and flips for training, a centre crop for testing. The classes "
        "are the folder's. Held in memory when it fits, streamed by DataLoader workers otherwise."
    ),
    num_classes=2,  # a stand-in: the folder's classes decide (the model's outputs, the divergence rule's chance)
    batch_size=64,  # the batch_size option's default; the option decides
    default_epochs=30,
    target_accuracy=0.80,
    optimizer=OptimizerDefaults(momentum=0.9, weight_decay=5e-5),  # torchvision's recipes for its small nets
    load_data="trainer.imagefolder:load",
    build_model="trainer.imagefolder:build_model",
    channels_last=True,
    eval_batch_size=256,
    input_shape=(3, 224, 224),
    options=(
        Option(
            "path",
            str,
            None,
            help="the image folder on the worker: train/<class>/ and val/<class>/ (torchvision's ImageFolder layout)",
            data=True,
        ),
        Option("model", str, "resnet18", help="a torchvision classification model", choices=TORCHVISION_CLASSIFIERS),
        Option("image_size", int, 224, low=16, high=1024, help="the side of the square images the model sees",
               data=True),
        Option("batch_size", int, 64, low=1, high=4096, help="training images per iteration", model=False, data=True),
        Option(
            "loading",
            str,
            "auto",
            choices=("auto", "memory", "stream"),
            help="memory: decode once and hold the images on the device; stream: read them every epoch with "
            "DataLoader workers; auto: memory when they fit 2 GiB (a quarter of a GPU's free memory)",
            model=False,
            data=True,
        ),
        Option("workers", int, 4, low=0, high=64, help="DataLoader worker processes (0: read in the training "
               "process)", model=False, data=True),
        Option("pretrained", bool, False, help="start from torchvision's ImageNet weights where they are on disk "
               "already (never downloaded)"),
    ),
)

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        DIGITS_MLP,
        MNIST_LENET,
        MNIST1D_MLP,
        MNIST_MLP,
        GAUSS2_MLP,
        CIFAR10_CNN3,
        CIFAR10_RESNET20,
        CIFAR10_PRERESNET32,
        IMAGE_FOLDER,
    )
}
plugins.set_builtins(Workload, WORKLOADS)


def all_workloads() -> dict[str, Workload]:
    """The built-in workloads, then those of the installed plugins (trainer.plugins) that loaded."""
    loaded = plugins.plugin_workloads()  # the loader refuses (and reports) a plugin that takes a built-in's name
    return {**WORKLOADS, **{name: w for name, w in loaded.items() if name not in WORKLOADS}}


def get_workload(name: str) -> Workload:
    try:
        return all_workloads()[name]
    except (KeyError, TypeError):
        raise UnknownWorkload(name) from None


def list_workloads() -> list[dict[str, Any]]:
    """Every workload's summary; a plugin's has "plugin": its entry point, distribution and version."""
    return [{**w.summary(), "plugin": plugins.plugin_of(name)} for name, w in all_workloads().items()]
