"""The LR policy catalog: specs (JSON objects) in, pure functions of t out.

    from trainer.schedules import build
    policy = build({"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 30})
    policy(45.0)  # 0.01

Adaptive kinds (group "adaptive": PLATEAU, SWITCH) follow what training
reports: their policy has ``adaptive = True`` and ``observe(epoch, metrics,
total_epochs)``, called after each epoch, plus ``state_dict`` /
``load_state_dict``; see adaptive.py for the exact rules. Other policies have
``adaptive = False`` and no ``observe``.

Importing this package does not import torch (the web process previews
curves); only ``as_lr_scheduler`` needs it.
"""

from __future__ import annotations

from . import adaptive, composite, cyclic, decaying, learned, restarts  # noqa: F401  (registers the kinds)
from .curve import MAX_PREVIEW_CONVERSION_STEPS, curve
from .errors import SpecError
from .policy import AdaptivePolicy, Policy, build
from .registry import KINDS, KindDecl, catalog
from .research import remove_weight_decay
from .torch_adapter import as_lr_scheduler
from .validation import validate

__all__ = [
    "AdaptivePolicy",
    "KINDS",
    "KindDecl",
    "Policy",
    "SpecError",
    "as_lr_scheduler",
    "build",
    "catalog",
    "curve",
    "remove_weight_decay",
    "MAX_PREVIEW_CONVERSION_STEPS",
    "validate",
]
