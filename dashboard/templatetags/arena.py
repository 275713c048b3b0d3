from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def metric(row: dict, name: str) -> dict:
    return row.get(name) or {}


@register.filter
def num(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    digits = int(digits)
    return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"


@register.filter
def percent(value) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}%"
