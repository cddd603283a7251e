"""Tuning analysis from trial records: ranking, best, top k, parameter impact, improvement.

The one place trials are ranked and grouped: the charts, the app and the result files draw what
these functions return.
"""

from __future__ import annotations

import math
from typing import Any

from modeldev.evaluation.metrics import get_metric, improvement_pct

Trial = dict[str, Any]  # {"index", "hash", "params", "metrics", "status", "run_id", "error"}
_NONE_WORDS = {"", "none", "null", "nan"}


def value_label(value: Any) -> str:
    """How a parameter value is shown and grouped: null and 'None'-like text as 'None',
    100.0 as '100'."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        return "None"
    if isinstance(value, float):
        return "None" if math.isnan(value) else f"{value:g}"
    return str(value)


def label_order(label: str) -> tuple[int, float, str]:
    """Numbers (numeric text too, as MLflow returns params) by value, then text, None last."""
    if label == "None":
        return (2, 0.0, label)
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _value(trial: Trial, metric: str) -> float | None:
    value = (trial.get("metrics") or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def finished_trials(trials: list[Trial], metric: str) -> list[Trial]:
    """Trials that finished with a finite value of `metric`."""
    return [t for t in trials
            if str(t.get("status", "")).upper() == "FINISHED" and _value(t, metric) is not None]


def rank_trials(trials: list[Trial], metric: str) -> list[Trial]:
    """Finished trials best first (direction-aware); ties keep grid order."""
    sign = -1.0 if get_metric(metric).higher_is_better else 1.0
    return sorted(finished_trials(trials, metric),
                  key=lambda t: (sign * t["metrics"][metric], t.get("index", 0)))


def best_trial(trials: list[Trial], metric: str) -> Trial | None:
    """The best finished trial, or None when none finished."""
    ranked = rank_trials(trials, metric)
    return ranked[0] if ranked else None


def top_k(trials: list[Trial], metric: str, k: int = 10) -> list[Trial]:
    """The k best finished trials."""
    return rank_trials(trials, metric)[:k]


def parameter_impact(trials: list[Trial], params: list[str],
                     metric: str) -> dict[str, list[dict[str, Any]]]:
    """Per parameter, one group per value (in value order): its label, the finished trials'
    values of `metric`, and their mean, min, max and count."""
    done = finished_trials(trials, metric)
    impact: dict[str, list[dict[str, Any]]] = {}
    for name in params:
        groups: dict[str, list[float]] = {}
        for t in done:
            groups.setdefault(value_label(t["params"].get(name)), []).append(
                t["metrics"][metric])
        impact[name] = [{"value": label, "mean": sum(v) / len(v), "min": min(v),
                         "max": max(v), "n": len(v), "values": v}
                        for label, v in sorted(groups.items(), key=lambda g: label_order(g[0]))]
    return impact


def improvement(tuned: float | None, baseline: float | None, metric: str) -> float | None:
    """Direction-aware improvement in percent, None when either value is missing."""
    if tuned is None or baseline is None:
        return None
    value = improvement_pct(tuned, baseline, metric)
    return value if math.isfinite(value) else None
