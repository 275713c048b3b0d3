"""Counting periods of t, robust to decimal lengths.

0.3 // 0.1 is 2.0 in binary floating point; a policy with l = 0.1 epoch must
still step (or restart) at t = 3/10. A quotient within 1e-9 (relative) of a
whole number counts as that whole number.
"""

from __future__ import annotations

import math

SNAP = 1e-9


def periods(t: float, length: float) -> tuple[float, float]:
    """(whole periods of ``length`` elapsed by t, fraction of the current one in [0, 1))."""
    q = t / length
    if q >= 2.0**52:  # every float this large is whole (infinity included)
        return q, 0.0
    nearest = round(q)
    if abs(q - nearest) <= SNAP * max(1.0, q):
        return float(nearest), 0.0
    whole = math.floor(q)
    return float(whole), q - whole
