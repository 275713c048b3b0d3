from __future__ import annotations

import json
import math

from django import template

register = template.Library()


@register.filter
def json_text(value) -> str:
    """A value as compact JSON text (a board's workload options in its selector); autoescaped where shown."""
    return json.dumps(value)


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


# Specs and parameters as people read them: the kind and its key numbers, never
# Python dict text or a learner's base64 weights (the full JSON is one click away).

MAX_LIST_ITEMS = 6


def _value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.4g}"
    if isinstance(value, dict):
        return spec_summary(value) if "kind" in value else "{…}"
    if isinstance(value, list | tuple):
        items = [_value(v) for v in value[:MAX_LIST_ITEMS]]
        more = len(value) - MAX_LIST_ITEMS
        return "[" + ", ".join(items) + (f", … {more} more" if more > 0 else "") + "]"
    return str(value)


def _pairs(mapping: dict, skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{key} = {_value(value)}" for key, value in mapping.items() if key not in skip)


@register.filter
def spec_summary(spec) -> str:
    """One line: `INV(k0 = 0.01, gamma = 0.0001, p = 0.75), t in iterations`; composites stage by stage."""
    if not isinstance(spec, dict):
        return _value(spec)
    kind = spec.get("kind", "?")
    if kind == "PIECEWISE" and isinstance(spec.get("stages"), list):
        stages = spec["stages"]
        boundaries = spec.get("boundaries") or []
        parts = [spec_summary(stages[0])] if stages else []
        parts += [f"from t = {_value(b)}: {spec_summary(s)}" for b, s in zip(boundaries, stages[1:], strict=False)]
        text = "PIECEWISE: " + "; then ".join(parts)
    elif kind == "LEARNED":
        learners = spec.get("learners") or []
        count = len(learners) if isinstance(learners, list) else 1
        rest = _pairs(spec, skip=("kind", "unit", "learners"))
        text = f"LEARNED: {count} MLR-SNet learner{'s' if count != 1 else ''}" + (f", {rest}" if rest else "")
    else:
        text = f"{kind}({_pairs(spec, skip=('kind', 'unit'))})"
    if spec.get("unit") == "iteration":
        text += ", t in iterations"
    return text


@register.filter
def params_summary(params) -> str:
    """A job's or run's parameters: `workload = mnist-mlp, depth = 4, policy = COS(…)`."""
    if isinstance(params, dict):
        return _pairs(params)
    return _value(params)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


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


@register.simple_tag
def workload_plugin_failures() -> list:
    """The workload plugins that failed to load (trainer.plugins), for the admin's index."""
    from trainer.plugins import plugin_statuses

    return [plugin for plugin in plugin_statuses() if not plugin.loaded]
