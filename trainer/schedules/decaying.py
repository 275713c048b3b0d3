"""Fixed and decaying kinds: k0 · g(t), g falling from 1 (LINEAR also ramps up)."""

from __future__ import annotations

import math
from bisect import bisect_right

from .clock import periods
from .params import boundaries, decay, length, lr, real
from .registry import KindDecl, LRFn, register

K0 = lr("k0", "initial LR", 0.1)


def _fix(s: dict, unit: str) -> LRFn:
    k0 = s["k0"]
    return lambda t: k0


def _step(s: dict, unit: str) -> LRFn:
    k0, gamma, step = s["k0"], s["gamma"], s["l"]
    return lambda t: k0 * gamma ** periods(t, step)[0]


def _nstep(s: dict, unit: str) -> LRFn:
    k0, gamma, milestones = s["k0"], s["gamma"], tuple(s["l"])
    return lambda t: k0 * gamma ** bisect_right(milestones, t)


def _exp(s: dict, unit: str) -> LRFn:
    k0, gamma = s["k0"], s["gamma"]
    return lambda t: k0 * gamma**t


def _inv(s: dict, unit: str) -> LRFn:
    k0, gamma, p = s["k0"], s["gamma"], s["p"]
    return lambda t: k0 * (1.0 + gamma * t) ** -p


def _poly(s: dict, unit: str) -> LRFn:
    k0, k1, p, span = s["k0"], s["k1"], s["p"], s["l"]
    return lambda t: k1 + (k0 - k1) * (1.0 - min(t, span) / span) ** p


def _sig(s: dict, unit: str) -> LRFn:
    k0, gamma, centre = s["k0"], s["gamma"], s["l"]

    def lr_at(t: float) -> float:
        z = gamma * (t - centre)
        if z >= 0.0:  # the two forms keep exp() from overflowing
            return k0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return k0 * e / (1.0 + e)

    return lr_at


def _linear(s: dict, unit: str) -> LRFn:
    k0, k1, span = s["k0"], s["k1"], s["l"]
    return lambda t: k0 + (k1 - k0) * (min(t, span) / span)


def _up_to_k0(s: dict) -> tuple[float, float]:
    return (0.0, s["k0"])


def _k0_to_k1(s: dict) -> tuple[float, float]:
    return (min(s["k0"], s["k1"]), max(s["k0"], s["k1"]))


register(KindDecl(
    "FIX", "Fixed", "fixed", "constant LR",
    "k0", (K0,), _fix, lambda s: (s["k0"], s["k0"]),
))
register(KindDecl(
    "STEP", "Step decay", "decaying", "multiply by gamma every l",
    "k0 · gamma^floor(t/l)",
    (K0, decay(), length("l", "step size: decay every l", 30.0)),
    _step, _up_to_k0,
))
register(KindDecl(
    "NSTEP", "Multi-step decay", "decaying", "multiply by gamma at each boundary of the list l",
    "k0 · gamma^(number of boundaries in l that are <= t)",
    (K0, decay(), boundaries("l", "boundaries (milestones), strictly increasing", [30.0, 60.0, 80.0], allow_zero=True)),
    _nstep, _up_to_k0,
))
register(KindDecl(
    "EXP", "Exponential decay", "decaying", "multiply by gamma every unit of t",
    "k0 · gamma^t", (K0, decay(default=0.95)), _exp, _up_to_k0,
))
register(KindDecl(
    "INV", "Inverse-time decay", "decaying", "decay as an inverse power of time",
    "k0 · (1 + gamma·t)^(-p)",
    (K0, real("gamma", "time scale of the decay", 0.1, 0.0, 1e3, low_inclusive=False),
     real("p", "power", 0.5, 0.0, 100.0, low_inclusive=False)),
    _inv, _up_to_k0,
))
register(KindDecl(
    "POLY", "Polynomial decay", "decaying", "polynomial from k0 to k1 over l, then hold k1",
    "k1 + (k0 - k1) · (1 - min(t, l)/l)^p",
    (K0, lr("k1", "final LR, held after l", 0.0, positive=False, required=False),
     real("p", "power", 1.0, 0.0, 100.0, low_inclusive=False),
     length("l", "length of the decay", 100.0)),
    _poly, _k0_to_k1,
))
register(KindDecl(
    "SIG", "Sigmoid", "decaying", "sigmoid ramp from 0 to k0 centred at l (falls if gamma < 0)",
    "k0 / (1 + exp(-gamma·(t - l)))",
    (K0, real("gamma", "steepness (negative: falling)", 0.1, -1e3, 1e3),
     length("l", "centre of the ramp", 10.0, allow_zero=True)),
    _sig, _up_to_k0,
))
register(KindDecl(
    "LINEAR", "Linear ramp", "decaying", "linear from k0 to k1 over l, then hold k1 (warm-up or linear decay)",
    "k0 + (k1 - k0) · min(t, l)/l",
    (lr("k0", "LR at t = 0", 0.0, positive=False), lr("k1", "LR reached at t = l and held", 0.1, positive=False),
     length("l", "length of the ramp", 5.0)),
    _linear, _k0_to_k1,
))
