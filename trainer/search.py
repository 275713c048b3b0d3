"""Learning-rate searches, by their historical import path: each lives in a module of its own.

- trainer.max_lr: `max_initial_lr`, the maximal initial LR η* (Iyer, Hanin &
  Rolnick, ICML 2023, Algorithm 1).
- trainer.lr_grid: `lr_grid`, η* over MLP depths × widths, and
  `fit_power_law`, η* ≈ C·(depth·width)^(−p).
- trainer.range_test: `lr_range_test`, the LR range test (Smith 2017;
  fastai's lr_find), `suggest_lrs`, `range_lrs`.
- trainer.search_cli: `register_cli`, the `lr-search`, `lr-grid` and
  `lr-range` commands.

Light to import: torch, scipy and the engine are imported when a tool runs.
"""

from __future__ import annotations

from trainer.lr_grid import GRID_PARAMS, GRID_SEARCH_PARAMS, GRID_WORKLOADS, fit_power_law, lr_grid
from trainer.max_lr import MAX_ITERATIONS, PAPER_THRESHOLDS, SEARCH_PARAMS, max_initial_lr
from trainer.range_test import (
    CYCLIC_BASE_DIVISOR,
    MAX_RANGE_STEPS,
    RANGE_PARAMS,
    SKIP_START_FRACTION,
    VALLEY_POSITION,
    lr_range_test,
    range_lrs,
    suggest_lrs,
)
from trainer.search_cli import lr_grid_command, lr_range_command, lr_search_command, register_cli

__all__ = [
    "CYCLIC_BASE_DIVISOR",
    "GRID_PARAMS",
    "GRID_SEARCH_PARAMS",
    "GRID_WORKLOADS",
    "MAX_ITERATIONS",
    "MAX_RANGE_STEPS",
    "PAPER_THRESHOLDS",
    "RANGE_PARAMS",
    "SEARCH_PARAMS",
    "SKIP_START_FRACTION",
    "VALLEY_POSITION",
    "fit_power_law",
    "lr_grid",
    "lr_grid_command",
    "lr_range_command",
    "lr_range_test",
    "lr_search_command",
    "max_initial_lr",
    "range_lrs",
    "register_cli",
    "suggest_lrs",
]
