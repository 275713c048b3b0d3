"""Where the trainer finds its data sets. Light: no torch here."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Shared, read-only data next to the repository (build and test machines have
# it and cannot download); see shared/datasets/README.md.
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def default_data_dir() -> Path:
    """`$DATA_DIR` if set, else `../shared/datasets` if it exists, else a user cache folder."""
    from_env = os.environ.get("DATA_DIR")
    if from_env:
        return Path(from_env).expanduser()
    if SHARED_DATASETS.is_dir():
        return SHARED_DATASETS.resolve()
    return Path.home() / ".cache" / "lr-arena" / "datasets"
