"""Spread, intervals and paired tests for the figures modeldev chooses by.

Cross-validated figures: the fold scores of K-fold cross-validation are not independent (every
pair of folds shares (K-2)/(K-1) of its training rows), so the plain standard error of their mean
is too small. Nadeau and Bengio's correction (Machine Learning 52, 2003) inflates the variance
of the mean from s²/K to (1/K + n_valid/n_train) s², with Student's t on K-1 degrees of freedom;
with R repeats of K folds (Bouckaert and Frank 2004) the same holds for the m = R x K scores.
It gives each mean its interval and each paired comparison on shared folds its p-value
("corrected resampled t-test"). A paired bootstrap over only 5 fold differences would have 126
distinct resamples and would ignore that correlation; over rows it is used where there is one
validation split (holdout) and for the test rows, which are scored once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 999
Bounds = tuple[float | None, float | None]  # a metric's range: (lowest, highest), None: open
OPEN: Bounds = (None, None)
Scores = Sequence[float] | np.ndarray  # fold scores, or any paired values


@dataclass(frozen=True)
class FoldSummary:
    """A cross-validated figure: mean of the fold scores, their spread, a 95 % interval
    (inside the metric's range); `dropped`: bootstrap resamples that gave no finite value."""

    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    folds: list[float]
    dropped: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (mean, std, ci_low, ci_high, folds, dropped)."""
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison a - b: the observed difference, its 95 % interval, the p-value;
    `dropped`: bootstrap resamples left out because they gave no finite value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    dropped: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def clip(low: float, high: float, bounds: Bounds) -> tuple[float, float]:
    """An interval cut to the metric's range: the true value lies in it, so coverage is kept."""
    lo, hi = bounds
    return (low if lo is None else max(low, lo), high if hi is None else min(high, hi))


def corrected_scale(n_folds: int, n_train: int, n_valid: int) -> float:
    """Nadeau-Bengio's variance factor for the mean of m fold scores (m = repeats x K, as
    Bouckaert and Frank correct repeated cross-validation): 1/m + n_valid/n_train."""
    return 1.0 / n_folds + n_valid / max(n_train, 1)


def fold_summary(values: Scores, n_train: int, n_valid: int,
                 bounds: Bounds = OPEN) -> FoldSummary:
    """Mean, standard deviation and corrected 95 % t-interval of the fold scores, the interval
    cut to `bounds` (an F1 interval never passes 1)."""
    folds = [float(v) for v in values]
    mean = float(np.mean(folds)) if folds else float("nan")
    if len(folds) < 2 or not _finite(folds):
        return FoldSummary(mean, None, None, None, folds)
    std = float(np.std(folds, ddof=1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(folds) - 1) * math.sqrt(
        corrected_scale(len(folds), n_train, n_valid)) * std
    low, high = clip(mean - half, mean + half, bounds)
    return FoldSummary(mean, std, low, high, folds)


def corrected_paired_ttest(a: Scores, b: Scores, n_train: int,
                           n_valid: int, floor: float = 0.0,
                           bounds: Bounds = OPEN) -> PairedTest:
    """Nadeau and Bengio's corrected resampled t-test of mean(a - b) over shared folds.

    The fold differences' spread is floored at `floor` (one scored row's worth for the label
    metrics). Differences that are all equal have no spread to weigh them against: with no
    floor the test is undefined there (p NaN, read as "not shown"), never p = 0.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    k = len(diff)
    mean = float(diff.mean())
    method = f"corrected resampled t-test (Nadeau & Bengio), {k} fold scores"
    if k < 2 or not np.isfinite(diff).all():
        return PairedTest(mean, float("nan"), float("nan"), float("nan"), method)
    var = max(float(diff.var(ddof=1)), floor**2)
    if var == 0.0:
        p = 1.0 if mean == 0.0 else float("nan")
        return PairedTest(mean, mean, mean, p, method + "; no spread across folds")
    se = math.sqrt(corrected_scale(k, n_train, n_valid) * var)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1) * se
    low, high = clip(mean - half, mean + half, bounds)
    return PairedTest(mean, low, high, float(2 * stats.t.sf(abs(mean / se), k - 1)), method)


def joint_bootstrap(statistic: Callable[..., np.ndarray | float],
                    data: tuple[np.ndarray, ...], seed: int,
                    n_resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[np.ndarray, int]:
    """scipy's bootstrap over row indices (every array resampled with the same rows) of a
    statistic with one or several values: the resamples where every value is finite (shape
    (values, resamples)), and how many resamples were dropped for a NaN or inf."""
    def on_rows(idx: np.ndarray) -> np.ndarray:
        return np.atleast_1d(np.asarray(statistic(*(arr[idx] for arr in data)), dtype=float))

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of the non-finite ones: counted below
        res = stats.bootstrap((np.arange(len(data[0])),), on_rows, vectorized=False,
                              n_resamples=n_resamples, confidence_level=CONFIDENCE,
                              method="percentile", rng=np.random.default_rng(seed))
    dist = np.atleast_2d(np.asarray(res.bootstrap_distribution, dtype=float))
    keep = np.isfinite(dist).all(axis=0)
    return dist[:, keep], int(keep.size - keep.sum())


def bootstrap_distribution(statistic: Callable[..., float], data: tuple[np.ndarray, ...],
                           seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES,
                           ) -> tuple[np.ndarray, int]:
    """The finite bootstrap values of a one-valued statistic, and how many resamples gave
    none (NaN or inf)."""
    dist, dropped = joint_bootstrap(statistic, data, seed, n_resamples)
    return dist[0], dropped


def percentile_interval(dist: np.ndarray) -> tuple[float, float]:
    """The 95 % percentile interval of bootstrap values."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(dist, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_p(dist: np.ndarray) -> float:
    """Two-sided p for "the statistic is 0" from its bootstrap values: twice the smaller tail,
    each counted as (1 + count) / (B + 1), so never 0."""
    n = dist.size
    below = (1 + np.count_nonzero(dist <= 0)) / (n + 1)
    above = (1 + np.count_nonzero(dist >= 0)) / (n + 1)
    return float(min(1.0, 2.0 * min(below, above)))


def paired_bootstrap(statistic: Callable[..., float], data: tuple[np.ndarray, ...],
                     seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES,
                     bounds: Bounds = OPEN) -> PairedTest:
    """A statistic of paired rows (e.g. metric(a) - metric(b)), with its 95 % percentile
    interval and a two-sided p-value for "it is 0", both from the same finite resamples."""
    observed = float(statistic(*data))
    method = f"paired bootstrap over {len(data[0])} rows, {n_resamples} resamples"
    if not math.isfinite(observed) or len(data[0]) < 2:
        return PairedTest(observed, float("nan"), float("nan"), float("nan"), method)
    dist, dropped = bootstrap_distribution(statistic, data, seed, n_resamples)
    if dist.size < 2:
        return PairedTest(observed, float("nan"), float("nan"), float("nan"), method, dropped)
    low, high = clip(*percentile_interval(dist), bounds)
    return PairedTest(observed, low, high, bootstrap_p(dist), method, dropped)


def row_summary(statistic: Callable[..., float], data: tuple[np.ndarray, ...],
                seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES,
                bounds: Bounds = OPEN) -> FoldSummary:
    """A figure on one set of rows with its bootstrap spread and 95 % percentile interval."""
    observed = float(statistic(*data))
    if not math.isfinite(observed) or len(data[0]) < 2:
        return FoldSummary(observed, None, None, None, [observed])
    dist, dropped = bootstrap_distribution(statistic, data, seed, n_resamples)
    if dist.size < 2:
        return FoldSummary(observed, None, None, None, [observed], dropped)
    low, high = clip(*percentile_interval(dist), bounds)
    return FoldSummary(observed, float(np.std(dist, ddof=1)), low, high, [observed], dropped)


def flat_metrics(name: str, summary: FoldSummary) -> dict[str, float | None]:
    """How a figure and its spread are logged as plain MLflow metrics any client can read:
    `name` (the mean), `name_std`, `name_ci_low`, `name_ci_high`, `name_fold1` ... `name_foldM`."""
    out: dict[str, float | None] = {name: summary.mean, f"{name}_std": summary.std,
                                    f"{name}_ci_low": summary.ci_low,
                                    f"{name}_ci_high": summary.ci_high}
    if len(summary.folds) > 1:
        out.update({f"{name}_fold{j}": v for j, v in enumerate(summary.folds, start=1)})
    return out
