"""Run checkpoints that any worker can read, through Django's storage API.

A worker trains against a local working copy (settings.CHECKPOINT_DIR, one file
per run) and, after every epoch's checkpoint, copies it to the `checkpoints`
storage (settings.STORAGES): the file system under the var dir by default, or
any django-storages backend (S3, GCS, Azure, …) shared by several machines.
A worker that starts or takes over a run first fetches the run's checkpoint
from the storage, so it resumes where the last worker stopped, whichever
machine that was.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages

log = logging.getLogger(__name__)

STORAGE = "checkpoints"


def local_path(run_id: int) -> Path:
    """The worker's working copy of a run's checkpoint."""
    return Path(settings.CHECKPOINT_DIR) / f"run-{run_id}.pt"


def stored_name(run_id: int) -> str:
    return f"run-{run_id}.pt"


def fetch(run_id: int) -> Path:
    """The run's working copy, refreshed from the storage (removed when the storage holds none)."""
    storage = storages[STORAGE]
    path = local_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not storage.exists(stored_name(run_id)):
        path.unlink(missing_ok=True)  # a stale local copy from another attempt must not be resumed
        return path
    with storage.open(stored_name(run_id), "rb") as source, tempfile.NamedTemporaryFile(
        dir=path.parent, delete=False
    ) as copy:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            copy.write(chunk)
    os.replace(copy.name, path)
    return path


def push(run_id: int, path: Path) -> None:
    """Store the working copy just written, replacing the run's previous checkpoint."""
    storage = storages[STORAGE]
    name = stored_name(run_id)
    with open(path, "rb") as source:
        if storage.exists(name):
            storage.delete(name)
        storage.save(name, File(source, name=name))


def drop(run_id: int) -> None:
    """Delete a run's checkpoint everywhere; a failure is logged, never raised (the run's state is stored)."""
    try:
        local_path(run_id).unlink(missing_ok=True)
        storages[STORAGE].delete(stored_name(run_id))
    except OSError:
        log.warning("run %s: could not delete its checkpoint", run_id, exc_info=True)
