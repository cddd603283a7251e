"""Tuning analysis from trial records: ranking, best, top k, parameter impact, improvement.

The one place trials are ranked and grouped: the charts, the app and the result files draw what
these functions return.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modeldev.evaluation.metrics import get_metric, improvement_pct
from modeldev.evaluation.multiple import max_t_p
from modeldev.evaluation.statistics import ALPHA, fold_summary

Trial = dict[str, Any]  # {"index", "hash", "params", "metrics", "status", "run_id", "error"}
_NONE_WORDS = {"", "none", "null", "nan"}
IMPACT_METHOD = ("each value's effect (its mean minus the mean of all trials, fold by fold), the "
                 "largest |corrected t| over the values against its exact law by rotation: 5 % "
                 "over all values at once")


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


def _fold_table(trials: list[Trial], metric: str) -> dict[str, list[float]] | None:
    """Every trial's fold scores by hash, when all have the same number of them."""
    folds = {t["hash"]: trial_folds(t, metric) for t in trials}
    lengths = {len(f) for f in folds.values() if f is not None}
    if None in folds.values() or len(lengths) != 1:
        return None
    return {h: f for h, f in folds.items() if f is not None}


def parameter_impact(trials: list[Trial], params: list[str], metric: str,
                     fold_rows: tuple[int, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per parameter, one group per value (in value order): its label, the finished trials'
    values of `metric`, their mean, min, max and count, and with cross-validation its effect:
    on each fold, the group's mean minus the mean of every trial on that fold (so how hard a
    fold is cancels out), with the effect's 95 % interval, drawn around the group's mean as
    `ci_low`/`ci_high`.

    `fold_rows` is (training rows, validation rows) of a fold, for the interval's correction.
    """
    done = finished_trials(trials, metric)
    table = _fold_table(done, metric) if fold_rows and done else None
    grand = np.mean(np.asarray(list(table.values())), axis=0) if table else None
    impact: dict[str, list[dict[str, Any]]] = {}
    for name in params:
        groups: dict[str, list[Trial]] = {}
        for t in done:
            groups.setdefault(value_label(t["params"].get(name)), []).append(t)
        impact[name] = [_impact_group(label, members, metric, fold_rows, table, grand)
                        for label, members in sorted(groups.items(),
                                                     key=lambda g: label_order(g[0]))]
    return impact


def _impact_group(label: str, members: list[Trial], metric: str,
                  fold_rows: tuple[int, int] | None, table: dict[str, list[float]] | None,
                  grand: np.ndarray | None) -> dict[str, Any]:
    values = [t["metrics"][metric] for t in members]
    group: dict[str, Any] = {"value": label, "mean": sum(values) / len(values),
                             "min": min(values), "max": max(values), "n": len(values),
                             "values": values}
    if fold_rows and table is not None and grand is not None:
        means = np.mean(np.asarray([table[t["hash"]] for t in members]), axis=0)
        effect = means - grand
        summary = fold_summary(effect, *fold_rows)
        shift = group["mean"] - summary.mean  # the effect's interval, around the group's mean
        group.update(fold_means=means.tolist(), effect_folds=effect.tolist(),
                     effect=summary.mean, effect_ci_low=summary.ci_low,
                     effect_ci_high=summary.ci_high,
                     ci_low=None if summary.ci_low is None else summary.ci_low + shift,
                     ci_high=None if summary.ci_high is None else summary.ci_high + shift)
    return group


def within_noise(impact: dict[str, list[dict[str, Any]]], metric: str,
                 fold_rows: tuple[int, int] | None, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per parameter: whether its values' effects are all within the noise, tested at 5 % over
    all of its values at once (the largest |corrected t| of the effects against its exact
    null law by rotation, `evaluation.multiple`), with the p-value and the range of means."""
    out: dict[str, dict[str, Any]] = {}
    sign = 1.0 if get_metric(metric).higher_is_better else -1.0
    for name, groups in impact.items():
        usable = [g for g in groups if "effect_folds" in g]
        if fold_rows is None or len(usable) < 2 or len(usable) != len(groups):
            out[name] = {"within_noise": None, "p_value": None, "range": None}
            continue
        effects = np.asarray([g["effect_folds"] for g in usable], dtype=float).T
        p = max_t_p(np.hstack([effects, -effects]), *fold_rows, seed=seed)
        best = max(usable, key=lambda g: sign * g["mean"])
        worst = min(usable, key=lambda g: sign * g["mean"])
        out[name] = {"within_noise": not p < ALPHA, "p_value": p,
                     "range": abs(best["mean"] - worst["mean"]), "best": best["value"],
                     "worst": worst["value"], "method": IMPACT_METHOD}
    return out


def improvement(tuned: float | None, baseline: float | None, metric: str) -> float | None:
    """Direction-aware improvement in percent, None when either value is missing."""
    if tuned is None or baseline is None:
        return None
    value = improvement_pct(tuned, baseline, metric)
    return value if math.isfinite(value) else None
