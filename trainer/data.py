"""Data sets as whole tensors: (x_train, y_train, x_test, y_test).

Each loader returns CPU tensors, inputs float32 and labels int64, already
normalised; the engine moves them to the device once per run. No per-sample
transforms and no DataLoader: these sets fit in memory, and batches are index
slices. Loads are cached per process, so a worker running many runs reads
each set once. Callers must not modify the returned tensors in place.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

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

    Downloads into data_dir only when the raw files are missing there.
    """
    return _load_mnist(str(Path(data_dir).expanduser().resolve()))


@functools.lru_cache(maxsize=2)
def _load_mnist(root: str) -> Tensors:
    from torchvision.datasets import MNIST

    download = not mnist_raw_files_exist(Path(root))
    train = MNIST(root=root, train=True, download=download)
    test = MNIST(root=root, train=False, download=download)
    return (
        _normalise_mnist(train.data),
        train.targets.to(torch.int64),
        _normalise_mnist(test.data),
        test.targets.to(torch.int64),
    )


def _normalise_mnist(images: torch.Tensor) -> torch.Tensor:
    pixels = images.to(torch.float32).div_(255.0)
    return pixels.sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)
