"""Data sets as whole tensors: (x_train, y_train, x_test, y_test).

Each loader returns CPU tensors, inputs float32 and labels int64, already
normalised; the engine moves them to the device once per run. No per-sample
transforms and no DataLoader: these sets fit in memory, and batches are index
slices. The only training-time transform, CIFAR's random crop and flip, works
on a whole batch on the device (`random_crop_flip`). Loads are cached per
process, so a worker running many runs reads each set once. Callers must not
modify the returned tensors in place.

The engine reads every data set as a `DataSource`: batches of training data
(shuffled, augmented) and of test data, on the device. `TensorSource` serves
the whole tensors above as index slices; a loader that streams from disk (the
image-folder workload, trainer.imagefolder) returns its own source instead.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


Batch = tuple[torch.Tensor, torch.Tensor]  # (inputs, labels) on the device


class DataSource:
    """A run's data as batches on the device: what the engine trains on and evaluates.

    `train_batches(generator, steps)` yields up to `steps` shuffled (and augmented)
    training batches, their order and augmentation drawn from `generator`;
    `test_batches(limit)` the test set in a fixed order, at most `limit` batches.
    """

    num_classes: int
    train_size: int
    batch_size: int

    def train_batches(self, generator: torch.Generator, steps: int) -> Iterator[Batch]:
        raise NotImplementedError

    def test_batches(self, limit: int | None = None) -> Iterator[Batch]:
        raise NotImplementedError


class TensorSource(DataSource):
    """Whole data sets held as tensors (on the device): batches are index slices, augmented there in one go."""

    def __init__(
        self,
        tensors: Tensors,
        num_classes: int,
        batch_size: int,
        eval_batch_size: int,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ):
        self.x_train, self.y_train, self.x_test, self.y_test = tensors
        self.num_classes, self.batch_size, self.eval_batch_size = num_classes, batch_size, eval_batch_size
        self.train_size = len(self.x_train)
        self.augment = augment

    def train_batches(self, generator: torch.Generator, steps: int) -> Iterator[Batch]:
        order = torch.randperm(self.train_size, device=self.x_train.device, generator=generator)
        for step in range(steps):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            inputs = self.x_train[batch]
            if self.augment is not None:
                inputs = self.augment(inputs, generator)
            yield inputs, self.y_train[batch]

    def test_batches(self, limit: int | None = None) -> Iterator[Batch]:
        size = self.eval_batch_size
        end = len(self.x_test) if limit is None else min(len(self.x_test), limit * size)
        for i in range(0, end, size):
            yield self.x_test[i : min(i + size, end)], self.y_test[i : min(i + size, end)]


class DataUnavailable(RuntimeError):
    """A data set is neither on disk nor downloadable; the message says where it was looked for."""


# scikit-learn digits: a fixed split, the same for every seed, so that seeds
# vary only the initialisation and the shuffling.
DIGITS_TEST_SIZE = 360  # 20% of 1,797: 1,437 train / 360 test
DIGITS_SPLIT_SEED = 0

# MNIST: the usual statistics of the training set's pixels in [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# CIFAR-10: the per-channel statistics of the training set's pixels in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_BLACK = tuple(-m / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD, strict=True))  # a zero pixel, normalised

# Iyer et al.'s two Gaussians (shared/reference/papers.md, section 2): N(±mu, I)
# in d = 100 dimensions with mu = (1.645 / sqrt(d)) * (1, ..., 1). The means are
# 2 * 1.645 apart along (1, ..., 1), so the best possible classifier, the sign of
# the coordinates' sum, errs with probability Phi(-1.645) = 5%.
GAUSS2_DIM = 100
GAUSS2_SEPARATION = 1.645
GAUSS2_TRAIN_PER_CLASS = 9_000
GAUSS2_TEST_PER_CLASS = 1_000
GAUSS2_SEED = 20230  # fixed: the data set is the same for every run and seed

SYNTHETIC_SEED = 0  # synthetic data is the same for every run: seeds vary the model and the order only


@functools.lru_cache(maxsize=1)
def load_digits() -> Tensors:
    """scikit-learn's 1,797 real 8x8 digits, flattened to 64 features, standardised with train statistics."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=DIGITS_TEST_SIZE,
        stratify=digits.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    x_train = torch.as_tensor(x_train, dtype=torch.float32)
    x_test = torch.as_tensor(x_test, dtype=torch.float32)
    mean = x_train.mean(dim=0)
    # A few border pixels never vary in the train set: divide them by 1, not by ~0,
    # or a rare nonzero test pixel would become a huge input.
    std = x_train.std(dim=0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return (
        (x_train - mean) / std,
        torch.as_tensor(y_train, dtype=torch.int64),
        (x_test - mean) / std,
        torch.as_tensor(y_test, dtype=torch.int64),
    )


def mnist_raw_files_exist(data_dir: Path) -> bool:
    raw = Path(data_dir) / "MNIST" / "raw"
    return all((raw / name).is_file() for name in MNIST_RAW_FILES)


def load_mnist(data_dir: Path) -> Tensors:
    """MNIST through torchvision's reader, as (N, 1, 28, 28) float32 normalised with MNIST_MEAN/STD.

    Downloads into data_dir only when the raw files are missing there; raises
    DataUnavailable when that download fails.
    """
    return _load_mnist(str(Path(data_dir).expanduser().resolve()))


@functools.lru_cache(maxsize=2)
def _load_mnist(root: str) -> Tensors:
    from torchvision.datasets import MNIST

    download = not mnist_raw_files_exist(Path(root))
    try:
        train = MNIST(root=root, train=True, download=download)
        test = MNIST(root=root, train=False, download=download)
    except (OSError, RuntimeError) as error:  # torchvision reports a failed download or read as either
        raw = Path(root) / "MNIST" / "raw"
        problem = f"is not in {raw} and could not be downloaded" if download else f"files in {raw} could not be read"
        raise DataUnavailable(
            f"MNIST {problem} ({error}). "
            "Point the data directory (--data-dir or $DATA_DIR) at a folder holding MNIST/raw/*-ubyte."
        ) from error
    return (
        _normalise_mnist(train.data),
        train.targets.to(torch.int64),
        _normalise_mnist(test.data),
        test.targets.to(torch.int64),
    )


def _normalise_mnist(images: torch.Tensor) -> torch.Tensor:
    pixels = images.to(torch.float32).div_(255.0)
    return pixels.sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)


@functools.lru_cache(maxsize=1)
def load_mnist1d() -> Tensors:
    """MNIST-1D (Greydanus, 2020) with its default arguments: 4,000 train / 1,000 test signals of length 40.

    Generated procedurally by the `mnist1d` package (about a second, no network),
    already standardised by it. Its generator seeds numpy's and Python's global
    random states; they are restored afterwards.
    """
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return (
        torch.as_tensor(data["x"], dtype=torch.float32),
        torch.as_tensor(data["y"], dtype=torch.int64),
        torch.as_tensor(data["x_test"], dtype=torch.float32),
        torch.as_tensor(data["y_test"], dtype=torch.int64),
    )


@functools.lru_cache(maxsize=1)
def load_two_gaussians() -> Tensors:
    """Iyer et al.'s binary task: 9,000 train + 1,000 test samples per class of N(±mu, I), d = 100.

    Label 1 has mean +mu, label 0 mean -mu. Generated from GAUSS2_SEED, so every
    run sees the same samples.
    """
    generator = torch.Generator().manual_seed(GAUSS2_SEED)
    mu = torch.full((GAUSS2_DIM,), GAUSS2_SEPARATION / math.sqrt(GAUSS2_DIM))

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(2).repeat_interleave(per_class)
        noise = torch.randn(2 * per_class, GAUSS2_DIM, generator=generator)
        return noise + (2 * labels[:, None] - 1) * mu, labels

    x_train, y_train = sample(GAUSS2_TRAIN_PER_CLASS)
    x_test, y_test = sample(GAUSS2_TEST_PER_CLASS)
    return x_train, y_train, x_test, y_test


def load_cifar10(data_dir: Path) -> Tensors:
    """CIFAR-10 through torchvision, as (N, 3, 32, 32) float32 normalised per channel.

    torchvision downloads it into data_dir when it is missing (it checks the
    files' checksums first); raises DataUnavailable when that fails.
    """
    return _load_cifar10(str(Path(data_dir).expanduser().resolve()))


@functools.lru_cache(maxsize=1)
def _load_cifar10(root: str) -> Tensors:
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(root=root, train=True, download=True)
        test = CIFAR10(root=root, train=False, download=True)
    except (OSError, RuntimeError) as error:
        raise DataUnavailable(
            f"CIFAR-10 is not in {root} and could not be downloaded ({error}). "
            "Point the data directory (--data-dir or $DATA_DIR) at a folder holding cifar-10-batches-py, "
            "or train on synthetic data (--synthetic)."
        ) from error
    return (
        _normalise_cifar(train.data),
        torch.as_tensor(train.targets, dtype=torch.int64),
        _normalise_cifar(test.data),
        torch.as_tensor(test.targets, dtype=torch.int64),
    )


def _normalise_cifar(images) -> torch.Tensor:
    """(N, 32, 32, 3) uint8 -> (N, 3, 32, 32) float32, normalised per channel."""
    pixels = torch.as_tensor(images).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return pixels.sub_(mean).div_(std).contiguous()


def synthetic(
    input_shape: tuple[int, ...],
    num_classes: int,
    train_size: int,
    test_size: int,
    device: torch.device | str = "cpu",
) -> Tensors:
    """Standard-normal inputs and uniform labels, of a data set's shape, generated on the device.

    For tests and throughput benchmarks where the real data is not available:
    there is nothing to learn in it. The same for every call with the same sizes.
    """
    generator = torch.Generator(device=device).manual_seed(SYNTHETIC_SEED)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.randn(n, *input_shape, device=device, generator=generator)
        labels = torch.randint(0, num_classes, (n,), device=device, generator=generator)
        return inputs, labels

    return (*sample(train_size), *sample(test_size))


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator, padding: int, fill: tuple[float, ...]
) -> torch.Tensor:
    """A random crop of each image, padded by `padding` pixels of colour `fill`, then a random horizontal flip.

    All on the images' device and for the whole batch at once: one gather, no
    per-sample Python. Offsets and flips come from `generator` (on that device),
    so a seeded run augments the same way every time.
    """
    n, channels, height, width = images.shape
    device = images.device
    dy = torch.randint(0, 2 * padding + 1, (n, 1), device=device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), device=device, generator=generator)
    flip = torch.randint(0, 2, (n, 1), device=device, generator=generator).bool()
    # Output pixel (r, c) reads source pixel (rows[r], cols[c]) of the unpadded image;
    # a flip reads the crop's columns right to left.
    rows = dy + torch.arange(height, device=device) - padding  # (n, height)
    cols = dx + torch.arange(width, device=device) - padding  # (n, width)
    cols = torch.where(flip, cols.flip(1), cols)
    outside = ((rows < 0) | (rows >= height))[:, :, None] | ((cols < 0) | (cols >= width))[:, None, :]
    crops = images[
        torch.arange(n, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows.clamp(0, height - 1)[:, None, :, None],
        cols.clamp(0, width - 1)[:, None, None, :],
    ]
    for channel, value in enumerate(fill):  # scalars: no host-to-device copy per batch
        crops[:, channel].masked_fill_(outside, value)
    return crops
