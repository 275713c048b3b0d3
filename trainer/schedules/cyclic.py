"""Cyclic kinds: k0 + (k1 - k0) · g(t), g a wave in [0, 1] of half-period l.

Each wave comes plain, with its amplitude halved every cycle ("2") or
multiplied by gamma^t ("EXP"); the D- forms (and COS) start at the top of
the wave: t is replaced by t + l inside the wave and the halving, not in
gamma^t. ONECYCLE follows torch.optim.lr_scheduler.OneCycleLR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .clock import periods
from .params import Param, decay, length, lr, real
from .registry import KindDecl, LRFn, register

Wave = Callable[[float, float], float]


def tri_wave(t: float, half: float) -> float:
    """0 at t = 0, 1 at t = half, 0 at t = 2·half, linear in between."""
    return 1.0 - abs(1.0 - (t % (2.0 * half)) / half)


def sin_wave(t: float, half: float) -> float:
    """abs(sin(pi·t/(2·half))): 0 at t = 0, 1 at t = half."""
    return math.sin(math.pi * (t % (2.0 * half)) / (2.0 * half))


def upcos_wave(t: float, half: float) -> float:
    """(1 - cos(pi·t/half))/2: 0 at t = 0, 1 at t = half."""
    return (1.0 - math.cos(math.pi * (t % (2.0 * half)) / half)) / 2.0


def _constant(s: dict) -> Callable[[float, float], float]:
    return lambda t, shifted: 1.0


def _halving(s: dict) -> Callable[[float, float], float]:
    period = 2.0 * s["l"]
    return lambda t, shifted: 0.5 ** periods(shifted, period)[0]


def _exponential(s: dict) -> Callable[[float, float], float]:
    gamma = s["gamma"]
    return lambda t, shifted: gamma**t


AMPLITUDES = {"": _constant, "2": _halving, "EXP": _exponential}


def cyclic_maker(wave: Wave, amplitude: str, shift: bool) -> Callable[[dict, str], LRFn]:
    def make(s: dict, unit: str) -> LRFn:
        k0, k1, half = s["k0"], s["k1"], s["l"]
        scale = AMPLITUDES[amplitude](s)
        offset = half if shift else 0.0

        def lr_at(t: float) -> float:
            shifted = t + offset
            return k0 + (k1 - k0) * scale(t, shifted) * wave(shifted, half)

        return lr_at

    return make


def cycle_bounds(s: dict) -> tuple[float, float]:
    return (min(s["k0"], s["k1"]), max(s["k0"], s["k1"]))


def range_params(amplitude: str, l_help: str) -> tuple[Param, ...]:
    params = (
        lr("k0", "low end of the cycle", 0.01, positive=False),
        lr("k1", "high end of the cycle", 0.1),
        length("l", l_help, 5.0),
    )
    if amplitude == "EXP":
        params += (decay(help="amplitude decay per unit of t", default=0.99),)
    return params


AMPLITUDE_TEXT = {
    "": ("", "", ""),
    "2": (" (halving)", ", amplitude halved every cycle", " / 2^floor({t}/(2l))"),
    "EXP": (" (exp. decay)", ", amplitude times gamma^t", " · gamma^t"),
}

WAVES = {  # name: (wave, shifted, label, description, formula of g)
    "TRI": (tri_wave, False, "Triangular", "triangle from k0 up to k1 at l and back at 2l",
            "(2/pi)·|asin(sin(pi·{t}/(2l)))|"),
    "DTRI": (tri_wave, True, "Triangular, from the top", "triangle from k1 down to k0 at l and back at 2l",
             "(2/pi)·|asin(sin(pi·{t}/(2l)))|"),
    "SIN": (sin_wave, False, "Sine", "|sine| from k0 up to k1 at l and back at 2l", "|sin(pi·{t}/(2l))|"),
    "DSIN": (sin_wave, True, "Sine, from the top", "|sine| from k1 down to k0 at l and back at 2l",
             "|sin(pi·{t}/(2l))|"),
    "COS": (upcos_wave, True, "Cosine", "cosine from k1 down to k0 at l and back at 2l", "(1 + cos(pi·t/l))/2"),
    "UPCOS": (upcos_wave, False, "Cosine, from the bottom", "cosine from k0 up to k1 at l and back at 2l",
              "(1 - cos(pi·{t}/l))/2"),
}


def _register_waves() -> None:
    for base in ("TRI", "DTRI", "SIN", "DSIN", "COS", "UPCOS"):
        wave, shift, label, description, g = WAVES[base]
        t_text = "(t + l)" if shift else "t"
        for amplitude, (label_tail, desc_tail, formula_tail) in AMPLITUDE_TEXT.items():
            formula = "k0 + (k1 - k0) · " + g.format(t=t_text) + formula_tail.format(t=t_text)
            register(KindDecl(
                base + amplitude, label + label_tail, "cyclic", description + desc_tail, formula,
                range_params(amplitude, "half-period: k0 to k1 takes l"),
                cyclic_maker(wave, amplitude, shift), cycle_bounds,
            ))


def _anneal(anneal: str) -> Callable[[float, float, float], float]:
    # the same expressions as torch's OneCycleLR, so values agree to the last bit
    if anneal == "cos":
        return lambda start, end, pct: end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return lambda start, end, pct: (end - start) * pct + start


def _onecycle(s: dict, unit: str) -> LRFn:
    peak = s["max_lr"]
    start = peak / s["div_factor"]
    floor_lr = start / s["final_div_factor"]
    # torch counts whole steps 0..total-1, so its phases end one step early;
    # in epochs the cycle is continuous and ends at t = total
    last = 1.0 if unit == "iteration" else 0.0
    up_end = s["pct_start"] * s["total"] - last
    down_end = s["total"] - last
    anneal = _anneal(s["anneal"])

    def lr_at(t: float) -> float:
        if t <= up_end and up_end > 0.0:
            return anneal(start, peak, t / up_end)
        t = min(t, down_end)
        span = down_end - up_end
        return anneal(peak, floor_lr, (t - up_end) / span if span > 0.0 else 1.0)

    return lr_at


def _register_onecycle() -> None:
    register(KindDecl(
        "ONECYCLE", "One cycle", "cyclic",
        "warm up from max_lr/div_factor to max_lr, then anneal far below (torch's OneCycleLR)",
        "up to max_lr over pct_start·total, down to max_lr/(div_factor·final_div_factor) at total",
        (
            lr("max_lr", "peak LR", 0.1),
            length("total", "length of the cycle in t: epochs, or iterations (torch's total_steps) "
                   "when the policy is in iterations", 100.0),
            real("pct_start", "share of the cycle spent warming up", 0.3, 0.0, 1.0,
                 low_inclusive=False, high_inclusive=False, required=False),
            real("div_factor", "initial LR = max_lr / div_factor", 25.0, 1.0, 1e6, required=False),
            real("final_div_factor", "final LR = initial LR / final_div_factor", 1e4, 1.0, 1e8, required=False),
            Param("anneal", "choice", "annealing shape", default="cos", required=False, choices=("cos", "linear")),
        ),
        _onecycle,
        lambda s: (s["max_lr"] / s["div_factor"] / s["final_div_factor"], s["max_lr"]),
    ))


_register_waves()
_register_onecycle()
