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


@register.filter
def metricnum(value, metric) -> str:
    """A board value in its metric's unit: accuracies as percentages, counts whole, the rest with its digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if getattr(metric, "percent", False):
        return f"{100 * value:.{metric.digits}f}%"
    return num(value, getattr(metric, "digits", 4))


@register.filter
def direction(metric) -> str:
    return "higher is better" if metric.higher_is_better else "lower is better"


@register.filter
def metriclabel(name: str | None) -> str:
    from dashboard.leaderboard import METRIC_BY_NAME

    metric = METRIC_BY_NAME.get(name or "")
    return metric.label if metric else (name or "")


@register.filter
def seedcount(value) -> str:
    from dashboard.stats import MAX_SEEDS

    if value is None:
        return "–"
    return f"more than {MAX_SEEDS:,}" if value > MAX_SEEDS else f"{value:,}"
