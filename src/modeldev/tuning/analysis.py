"""Tuning analysis from trial records: ranking, best, top k, parameter impact, improvement.

The one place trials are ranked and grouped: the charts, the app and the result files draw what
these functions return.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modeldev.evaluation.metrics import get_metric, improvement_pct
from modeldev.evaluation.statistics import ALPHA, corrected_paired_ttest, fold_summary

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


def trial_folds(trial: Trial, metric: str) -> list[float] | None:
    """A trial's fold scores of `metric` (logged as `metric_fold1` ...), None without folds."""
    metrics = trial.get("metrics") or {}
    folds, j = [], 1
    while f"{metric}_fold{j}" in metrics:
        folds.append(float(metrics[f"{metric}_fold{j}"]))
        j += 1
    return folds or None


def parameter_impact(trials: list[Trial], params: list[str], metric: str,
                     fold_rows: tuple[int, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per parameter, one group per value (in value order): its label, the finished trials'
    values of `metric`, their mean, min, max and count, and with cross-validation the main
    effect per fold (the mean over the group's trials on each fold) with its 95 % interval.

    `fold_rows` is (training rows, validation rows) of a fold, for the interval's correction.
    """
    done = finished_trials(trials, metric)
    impact: dict[str, list[dict[str, Any]]] = {}
    for name in params:
        groups: dict[str, list[Trial]] = {}
        for t in done:
            groups.setdefault(value_label(t["params"].get(name)), []).append(t)
        impact[name] = [_impact_group(label, members, metric, fold_rows)
                        for label, members in sorted(groups.items(),
                                                     key=lambda g: label_order(g[0]))]
    return impact


def _impact_group(label: str, members: list[Trial], metric: str,
                  fold_rows: tuple[int, int] | None) -> dict[str, Any]:
    values = [t["metrics"][metric] for t in members]
    group: dict[str, Any] = {"value": label, "mean": sum(values) / len(values),
                             "min": min(values), "max": max(values), "n": len(values),
                             "values": values}
    folds = [trial_folds(t, metric) for t in members]
    complete = [f for f in folds if f is not None]
    if fold_rows and complete and len(complete) == len(folds) and \
            len({len(f) for f in complete}) == 1:
        effect = np.mean(np.asarray(complete, dtype=float), axis=0).tolist()
        summary = fold_summary(effect, *fold_rows)
        group.update(fold_means=effect, ci_low=summary.ci_low, ci_high=summary.ci_high)
    return group


def within_noise(impact: dict[str, list[dict[str, Any]]], metric: str,
                 fold_rows: tuple[int, int] | None) -> dict[str, dict[str, Any]]:
    """Per parameter: whether its best and worst values differ by less than the noise (the
    corrected paired t-test of their per-fold main effects, p >= 0.05), with the p-value."""
    out: dict[str, dict[str, Any]] = {}
    sign = 1.0 if get_metric(metric).higher_is_better else -1.0
    for name, groups in impact.items():
        usable = [g for g in groups if "fold_means" in g]
        if fold_rows is None or len(usable) < 2 or len(usable) != len(groups):
            out[name] = {"within_noise": None, "p_value": None, "range": None}
            continue
        best = max(usable, key=lambda g: sign * g["mean"])
        worst = min(usable, key=lambda g: sign * g["mean"])
        test = corrected_paired_ttest(best["fold_means"], worst["fold_means"], *fold_rows)
        out[name] = {"within_noise": not test.p_value < ALPHA, "p_value": test.p_value,
                     "range": abs(best["mean"] - worst["mean"]), "best": best["value"],
                     "worst": worst["value"]}
    return out


def improvement(tuned: float | None, baseline: float | None, metric: str) -> float | None:
    """Direction-aware improvement in percent, None when either value is missing."""
    if tuned is None or baseline is None:
        return None
    value = improvement_pct(tuned, baseline, metric)
    return value if math.isfinite(value) else None
