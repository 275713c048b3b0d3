"""Workload plugins: workloads that installed packages declare through Python entry points.

A package declares, in its pyproject.toml,

    [project.entry-points."lr_arena.workloads"]
    charlm = "lr_arena_charlm:WORKLOAD"

and the object named there is a `trainer.workloads.Workload`, a list or tuple
of them, or a function without arguments that returns either. The module
holding it must import no torch: the web process loads it to list workloads
and check options; only workers call the factories (give them as
"package.module:function" strings, imported on first call).

Plugins load once per process, on first use. One that fails (it does not
import, is not a Workload, declares an invalid field, or takes a name already
taken) is logged and reported by `plugin_statuses()` with its error, and
leaves the others working. No plugin's code runs before a workload is asked
for; none is imported by `import trainer.workloads`.

This module sits below `trainer.workloads` (which imports it, never the
reverse): workloads tells it, when it is imported, which type a workload is
and which names the built-ins take (`set_builtins`).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

ENTRY_POINT_GROUP = "lr_arena.workloads"

# Set by trainer.workloads when it is imported (set_builtins): the Workload type and the built-ins' names.
_workload_type: type = type(None)
_builtin_names: Collection[str] = ()


def set_builtins(workload_type: type, names: Collection[str]) -> None:
    """What a plugin's workloads are checked against: the Workload type, and the names the built-ins hold
    (the registry itself, so that a name added later is taken too)."""
    global _workload_type, _builtin_names
    _workload_type, _builtin_names = workload_type, names
    _load.cache_clear()

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginStatus:
    """One entry point of the group: what it gave, or why it gave nothing."""

    entry_point: str  # its name in the group
    target: str  # "package.module:attribute"
    distribution: str | None  # the installed package that declares it
    version: str | None
    workloads: tuple[str, ...] = ()
    error: str | None = None  # None: loaded

    @property
    def loaded(self) -> bool:
        return self.error is None

    def describe(self) -> dict[str, Any]:
        return {
            "entry_point": self.entry_point,
            "target": self.target,
            "distribution": self.distribution,
            "version": self.version,
            "workloads": list(self.workloads),
            "loaded": self.loaded,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Loaded:
    workloads: dict[str, Any]
    origin: dict[str, PluginStatus]  # workload name -> the plugin that declared it
    statuses: tuple[PluginStatus, ...]


def plugin_workloads() -> dict[str, Any]:
    """The workloads of every plugin that loaded, by name."""
    return _load().workloads


def plugin_statuses() -> list[PluginStatus]:
    """Every plugin found, loaded or not, in entry point order."""
    return list(_load().statuses)


def plugin_of(workload: str) -> dict[str, Any] | None:
    """Where a workload comes from: its plugin's entry point, distribution and version; None: built in."""
    status = _load().origin.get(workload)
    if status is None:
        return None
    return {"entry_point": status.entry_point, "distribution": status.distribution, "version": status.version}


def reload_plugins() -> None:
    """Forget what was loaded; the next use looks for plugins again (after an install, in tests)."""
    _load.cache_clear()


@functools.cache
def _load() -> _Loaded:
    workloads: dict[str, Any] = {}
    origin: dict[str, PluginStatus] = {}
    statuses = []
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        distribution = getattr(entry_point, "dist", None)
        found = {
            "entry_point": entry_point.name,
            "target": entry_point.value,
            "distribution": distribution.name if distribution is not None else None,
            "version": distribution.version if distribution is not None else None,
        }
        torch_before = "torch" in sys.modules
        try:
            declared = _workloads_of(entry_point)
            for workload in declared:
                taken_by = "a built-in workload" if workload.name in _builtin_names else None
                if workload.name in workloads:
                    taken_by = f"plugin {origin[workload.name].entry_point!r}"
                if taken_by is None and sum(w.name == workload.name for w in declared) > 1:
                    taken_by = "another workload of the same plugin"
                if taken_by is not None:
                    raise ValueError(f"workload name {workload.name!r} is already taken by {taken_by}")
        except (Exception, SystemExit) as error:  # noqa: BLE001 - a broken plugin must never break the others
            message = f"{type(error).__name__}: {error}"
            log.error("workload plugin %r (%s) failed to load: %s", entry_point.name, entry_point.value, message)
            statuses.append(PluginStatus(**found, error=message))
            continue
        if not torch_before and "torch" in sys.modules:
            log.warning(
                "workload plugin %r imported torch with its declaration: the web process should not load PyTorch; "
                "give its factories as 'package.module:function' strings",
                entry_point.name,
            )
        status = PluginStatus(**found, workloads=tuple(w.name for w in declared))
        statuses.append(status)
        for workload in declared:
            workloads[workload.name] = workload
            origin[workload.name] = status
        log.info("workload plugin %r loaded: %s", entry_point.name, ", ".join(status.workloads))
    return _Loaded(workloads, origin, tuple(statuses))


def _workloads_of(entry_point: metadata.EntryPoint) -> list[Any]:
    declared: Any = entry_point.load()
    if callable(declared) and not isinstance(declared, _workload_type):
        declared = declared()
    if isinstance(declared, _workload_type):
        return [declared]
    if isinstance(declared, Iterable) and not isinstance(declared, str | bytes | dict):
        declared = list(declared)
        if declared and all(isinstance(w, _workload_type) for w in declared):
            return declared
    raise TypeError(
        f"{entry_point.value} must be a trainer.workloads.Workload, a list of them, or a function returning "
        f"either; got {type(declared).__name__}"
    )
