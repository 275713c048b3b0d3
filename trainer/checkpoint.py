"""One checkpoint dict per run, written atomically after every epoch, and the RNG states it carries.

The engine decides what goes in it (model, optimizer, policy state, epochs so
far); this module writes and reads the file and captures and restores every
random state a run draws from, so that a resumed run continues exactly where
the interrupted one stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.errors import UserInputError


class CheckpointError(UserInputError):
    """A checkpoint that cannot be read, or that another run wrote."""

    def __init__(self, message: str) -> None:
        super().__init__("checkpoint_path", message)


def save(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` to `path` atomically: readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load(path: str | Path) -> dict[str, Any]:
    """The checkpoint at `path`, tensors on the CPU; CheckpointError if it is not one.

    Loads with weights_only=True: a checkpoint holds tensors and plain data, and
    reading one never runs code from the file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged or foreign file
        raise CheckpointError(f"checkpoint_path: {path} is not a readable checkpoint ({error})") from error
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise CheckpointError(f"checkpoint_path: {path} is not a checkpoint written by trainer.engine")
    return state


def rng_states(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a run draws from: torch's (CPU and, when initialised, CUDA's), the run's own
    generator (shuffling and augmentation), Python's and numpy's."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "generator": generator.get_state(),
        "python": random.getstate(),
        # weights_only loading takes tensors, not numpy arrays
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
    }


def restore_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    generator.set_state(states["generator"])
    random.setstate(states["python"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
