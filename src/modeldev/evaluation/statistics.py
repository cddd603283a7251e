"""Spread, intervals and paired tests for the figures modeldev chooses by.

Cross-validated figures: the fold scores of K-fold cross-validation are not independent (every
pair of folds shares (K-2)/(K-1) of its training rows), so the plain standard error of their mean
is too small. Nadeau and Bengio's correction (Machine Learning 52, 2003) inflates the variance
of the mean from s²/K to (1/K + n_valid/n_train) s², with Student's t on K-1 degrees of freedom.
It gives each mean its interval and each paired comparison on shared folds its p-value
("corrected resampled t-test"). A paired bootstrap over only 5 fold differences would have 126
distinct resamples and would ignore that correlation; over rows it is used where there is one
validation split (holdout) and for the test rows, which are scored once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 999


@dataclass(frozen=True)
class FoldSummary:
    """A cross-validated figure: mean of the fold scores, their spread, a 95 % interval."""

    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    folds: list[float]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (mean, std, ci_low, ci_high, folds)."""
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison a - b: the observed difference, its 95 % interval, the p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def corrected_scale(n_folds: int, n_train: int, n_valid: int) -> float:
    """Nadeau-Bengio's variance factor for the mean of K fold scores: 1/K + n_valid/n_train."""
    return 1.0 / n_folds + n_valid / max(n_train, 1)


def fold_summary(values: Sequence[float], n_train: int, n_valid: int) -> FoldSummary:
    """Mean, standard deviation and corrected 95 % t-interval of K fold scores."""
    folds = [float(v) for v in values]
    mean = float(np.mean(folds)) if folds else float("nan")
    if len(folds) < 2 or not _finite(folds):
        return FoldSummary(mean, None, None, None, folds)
    std = float(np.std(folds, ddof=1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(folds) - 1) * math.sqrt(
        corrected_scale(len(folds), n_train, n_valid)) * std
    return FoldSummary(mean, std, mean - half, mean + half, folds)


def corrected_paired_ttest(a: Sequence[float], b: Sequence[float], n_train: int,
                           n_valid: int) -> PairedTest:
    """Nadeau and Bengio's corrected resampled t-test of mean(a - b) over shared folds."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    k = len(diff)
    mean = float(diff.mean())
    method = f"corrected resampled t-test (Nadeau & Bengio), {k} folds"
    if k < 2 or not np.isfinite(diff).all():
        return PairedTest(mean, float("nan"), float("nan"), float("nan"), method)
    var = float(diff.var(ddof=1))
    if var == 0.0:  # identical differences on every fold: no spread to weigh them against
        p = 1.0 if mean == 0.0 else 0.0
        return PairedTest(mean, mean, mean, p, method)
    se = math.sqrt(corrected_scale(k, n_train, n_valid) * var)
    t = mean / se
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1) * se
    return PairedTest(mean, mean - half, mean + half, float(2 * stats.t.sf(abs(t), k - 1)),
                      method)


def _row_bootstrap(statistic: Callable[..., float], data: tuple[np.ndarray, ...], seed: int,
                   n_resamples: int) -> tuple[np.ndarray, Any]:
    """scipy's bootstrap over row indices: every array is resampled with the same rows."""
    def on_rows(idx: np.ndarray) -> float:
        return float(statistic(*(arr[idx] for arr in data)))

    res = stats.bootstrap((np.arange(len(data[0])),), on_rows, vectorized=False,
                          n_resamples=n_resamples, confidence_level=CONFIDENCE,
                          method="percentile", rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    return dist[np.isfinite(dist)], res.confidence_interval


def paired_bootstrap(statistic: Callable[..., float], data: tuple[np.ndarray, ...],
                     seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES) -> PairedTest:
    """A statistic of paired rows (e.g. metric(a) - metric(b)), with its 95 % percentile
    interval and a two-sided p-value for "it is 0", from a bootstrap over the rows."""
    observed = float(statistic(*data))
    method = f"paired bootstrap over {len(data[0])} rows, {n_resamples} resamples"
    if not math.isfinite(observed) or len(data[0]) < 2:
        return PairedTest(observed, float("nan"), float("nan"), float("nan"), method)
    dist, ci = _row_bootstrap(statistic, data, seed, n_resamples)
    if dist.size == 0:
        return PairedTest(observed, float("nan"), float("nan"), float("nan"), method)
    p = min(1.0, 2.0 * min(float(np.mean(dist <= 0)), float(np.mean(dist >= 0))))
    return PairedTest(observed, float(ci.low), float(ci.high), p, method)


def row_summary(statistic: Callable[..., float], data: tuple[np.ndarray, ...],
                seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES) -> FoldSummary:
    """A figure on one set of rows with its bootstrap spread and 95 % percentile interval."""
    observed = float(statistic(*data))
    if not math.isfinite(observed) or len(data[0]) < 2:
        return FoldSummary(observed, None, None, None, [observed])
    dist, ci = _row_bootstrap(statistic, data, seed, n_resamples)
    std = float(np.std(dist, ddof=1)) if dist.size > 1 else None
    return FoldSummary(observed, std, float(ci.low), float(ci.high), [observed])


def flat_metrics(name: str, summary: FoldSummary) -> dict[str, float | None]:
    """How a figure and its spread are logged as plain MLflow metrics any client can read:
    `name` (the mean), `name_std`, `name_ci_low`, `name_ci_high`, `name_fold1` ... `name_foldK`."""
    out: dict[str, float | None] = {name: summary.mean, f"{name}_std": summary.std,
                                    f"{name}_ci_low": summary.ci_low,
                                    f"{name}_ci_high": summary.ci_high}
    if len(summary.folds) > 1:
        out.update({f"{name}_fold{j}": v for j, v in enumerate(summary.folds, start=1)})
    return out
