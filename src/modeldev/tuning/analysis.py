"""Tuning analysis from trial records: best, top k, parameter impact, improvement."""

from __future__ import annotations

import math
from typing import Any

from modeldev.metrics import get_metric, improvement_pct

Trial = dict[str, Any]  # {"index", "hash", "params", "metrics", "status", "run_id", "error"}


def finished_trials(trials: list[Trial], metric: str) -> list[Trial]:
    """Trials that finished with a finite value of `metric`."""
    out = []
    for t in trials:
        value = (t.get("metrics") or {}).get(metric)
        if t.get("status") == "FINISHED" and value is not None and math.isfinite(value):
            out.append(t)
    return out


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
    """Per parameter and value: mean, min, max and count of `metric` over finished trials."""
    done = finished_trials(trials, metric)
    impact: dict[str, list[dict[str, Any]]] = {}
    for name in params:
        groups: dict[str, list[float]] = {}
        for t in done:
            groups.setdefault(str(t["params"].get(name)), []).append(t["metrics"][metric])
        impact[name] = [{"value": value, "mean": sum(v) / len(v), "min": min(v), "max": max(v),
                         "n": len(v)} for value, v in groups.items()]
    return impact


def improvement(tuned: float | None, baseline: float | None, metric: str) -> float | None:
    """Direction-aware improvement in percent, None when either value is missing."""
    if tuned is None or baseline is None:
        return None
    value = improvement_pct(tuned, baseline, metric)
    return value if math.isfinite(value) else None
