"""The text: a fixed list of the Python standard library's own modules, as characters.

Every machine that runs Python has it, so the data needs no download. The
modules are read from the running interpreter's standard library (their paths
come from `importlib.util.find_spec`, under `sysconfig`'s "stdlib" path), so
runs compare across machines that share a Python minor version.

Samples are windows of CONTEXT characters; a sample's label is the character
that follows it. Train windows start at random places in the first 90% of the
text, test windows in the last 10%, both drawn with a fixed seed: the data is
the same for every run and seed.
"""

from __future__ import annotations

import functools
import importlib.util
import sysconfig
from pathlib import Path

import torch

# Plain-Python modules present (as files) in every CPython from 3.11 on: about 800 kB of text.
MODULES = (
    "argparse",
    "calendar",
    "csv",
    "dataclasses",
    "difflib",
    "fractions",
    "functools",
    "heapq",
    "inspect",
    "random",
    "shutil",
    "statistics",
    "string",
    "textwrap",
    "typing",
)
CONTEXT = 32  # characters a prediction sees
TRAIN_SIZE = 25_600  # windows per epoch: 400 iterations of batch 64
TEST_SIZE = 2_048
SPLIT = 0.9  # the first 90% of the text for training, the rest for testing
SEED = 1969  # fixed: the windows are the same for every run

# Vocabulary: "\n" and printable ASCII; every other character is one "other" class.
ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
OTHER = len(ALPHABET)
VOCABULARY = len(ALPHABET) + 1  # 97 classes


def stdlib_text() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    texts = []
    for name in MODULES:
        origin = Path(importlib.util.find_spec(name).origin).resolve()
        if stdlib not in origin.parents:
            raise RuntimeError(f"{name} was found at {origin}, outside the standard library at {stdlib}")
        texts.append(origin.read_text(encoding="utf-8"))
    return "\n".join(texts)


def encode(text: str) -> torch.Tensor:
    index = {c: i for i, c in enumerate(ALPHABET)}
    return torch.tensor([index.get(c, OTHER) for c in text], dtype=torch.int64)


@functools.cache
def _windows() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    codes = encode(stdlib_text())
    split = int(len(codes) * SPLIT)
    generator = torch.Generator().manual_seed(SEED)

    def sample(low: int, high: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(low, high - CONTEXT, (n,), generator=generator)
        windows = starts[:, None] + torch.arange(CONTEXT + 1)
        chunk = codes[windows]
        return chunk[:, :-1].contiguous(), chunk[:, -1].contiguous()

    return (*sample(0, split, TRAIN_SIZE), *sample(split, len(codes), TEST_SIZE))


def load(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): int64 windows (N, CONTEXT) and next characters (N,).

    data_dir is not needed: the text is the standard library's.
    """
    return _windows()
