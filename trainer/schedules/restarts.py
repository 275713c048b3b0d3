"""Restart kinds: each period of length l starts at the top (k1) and falls to k0.

With x the fraction of the period elapsed, the shapes are: saw-tooth
(1 - x), sine (cos(pi·x/2)) and cosine (1 + cos(pi·x))/2, the last being
SGDR's cosine annealing with warm restarts. At a restart the LR is k1 (the
reference implementation gave k0 there, a rounding quirk).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .clock import periods
from .cyclic import cycle_bounds, range_params
from .registry import KindDecl, LRFn, register

SHAPES: dict[str, tuple[Callable[[float], float], str, str]] = {
    "RSW": (lambda x: 1.0 - x, "Saw-tooth restarts", "(1 - x)"),
    "SINRSW": (lambda x: math.cos(math.pi * x / 2.0), "Sine restarts", "sin(pi/2 · (1 - x))"),
    "COSRSW": (lambda x: (1.0 + math.cos(math.pi * x)) / 2.0, "SGDR cosine restarts", "(1 + cos(pi·x))/2"),
}


Scale = Callable[[float, float], float]  # (t, restarts so far) -> amplitude factor


def _constant(s: dict) -> Scale:
    return lambda t, restarts: 1.0


def _halving(s: dict) -> Scale:
    return lambda t, restarts: 0.5**restarts


def _exponential(s: dict) -> Scale:
    gamma = s["gamma"]
    return lambda t, restarts: gamma**t


SCALES: dict[str, Callable[[dict], Scale]] = {"": _constant, "2": _halving, "EXP": _exponential}


def restart_maker(shape: Callable[[float], float], amplitude: str) -> Callable[[dict, str], LRFn]:
    def make(s: dict, unit: str) -> LRFn:
        k0, k1, period = s["k0"], s["k1"], s["l"]
        scale = SCALES[amplitude](s)

        def lr_at(t: float) -> float:
            restarts, fraction = periods(t, period)
            return k0 + (k1 - k0) * scale(t, restarts) * shape(fraction)

        return lr_at

    return make


AMPLITUDE_TEXT = {  # label, description and formula tails
    "": ("", "", ""),
    "2": (" (halving)", ", amplitude halved at each restart", " / 2^floor(t/l)"),
    "EXP": (" (exp. decay)", ", amplitude times gamma^t", " · gamma^t"),
}


def _register() -> None:
    for base in ("RSW", "SINRSW", "COSRSW"):
        shape, label, g = SHAPES[base]
        for amplitude, (label_tail, desc_tail, formula_tail) in AMPLITUDE_TEXT.items():
            register(KindDecl(
                base + amplitude, label + label_tail, "restarts",
                "restart at k1 every l, fall to k0" + desc_tail,
                f"k0 + (k1 - k0) · {g}{formula_tail}, x = (t mod l)/l",
                range_params(amplitude, "period between restarts"),
                restart_maker(shape, amplitude), cycle_bounds,
            ))


_register()
