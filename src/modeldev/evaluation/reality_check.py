"""The tuning verdict after choosing the best of N combinations on the same folds.

The best mean of many noisy combinations is biased upward (the winner's curse): testing it
against the baseline as if it had been chosen in advance says `better` far more often than
the level allows (about 10 % for 9 combinations, 24 % for 81, where 2.5 % is promised). So the
chosen combination is `better` only when its corrected t beats the largest t that all N
combinations reach with no true difference: White's reality check, studentized as in Hansen's
SPA, with the null law of the largest t drawn exactly by rotation (`multiple`), since K fold
scores are far too few for the stationary bootstrap those tests use. Each combination's
variance is moderated toward the grid's mean variance, so that a t resting on 4 degrees of
freedom does not set the bar for all N (in a 300-draw simulation, power at a 2-SD gain rose
from 0.10 to 0.61 for 81 combinations on 5 folds, at the same error rate). A combination worse than
the baseline only makes the test more cautious. `worse` needs no correction: choosing the
best only pulls the chosen one away from it. With one holdout split the per-row outputs of
the other combinations are not kept, so the selection is paid for with Bonferroni: the
one-sided p (normal, from the bootstrap's standard error) is multiplied by N.

Both sides are tested at 2.5 %, so `better` and `worse` each hold a 2.5 % error rate and the
reported `p_value` is two-sided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from modeldev.evaluation.multiple import corrected_t, exceedance_p, rotation_max_t
from modeldev.evaluation.selection import LABEL_METRICS, difference_statistic, sign_of
from modeldev.evaluation.statistics import (
    ALPHA,
    Scores,
    bootstrap_distribution,
    corrected_paired_ttest,
    percentile_interval,
)
from modeldev.evaluation.thresholds import per_row

VERDICTS = ("better", "no_difference", "worse")
FOLD_METHOD = ("reality check over every combination (White; studentized as Hansen's SPA): "
               "the chosen combination's corrected t against the largest of all N, exact "
               "critical values by random rotation")
ROW_METHOD = ("paired bootstrap over the validation rows, the chosen combination's one-sided "
              "p multiplied by the number of combinations (Bonferroni)")


@dataclass(frozen=True)
class GridVerdict:
    """The chosen combination against the baseline, paid for the choice among N."""

    verdict: str
    difference: float  # tuned minus baseline, in the metric's units
    ci_low: float  # the pair's 95 % interval (not widened for the choice)
    ci_high: float
    p_value: float  # two-sided, selection-adjusted: 2 x min(p_better, p_worse)
    p_better: float  # one-sided, adjusted for choosing the best of n_compared
    p_worse: float  # one-sided (choosing the best needs no adjustment on this side)
    n_compared: int
    method: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def decide(p_better: float, p_worse: float) -> str:
    """`better` / `worse` when that side's p is below 2.5 %, else `no_difference`."""
    if p_better < ALPHA / 2:
        return "better"
    return "worse" if p_worse < ALPHA / 2 else "no_difference"


def untested(reason: str) -> GridVerdict:
    """No verdict can be computed (no fold scores): no difference is claimed, and why."""
    nan = float("nan")
    return GridVerdict("no_difference", nan, nan, nan, nan, nan, nan, 0, reason)


def _two_sided(p_better: float, p_worse: float) -> float:
    return float(min(1.0, 2.0 * min(p_better, p_worse)))


def fold_verdict(combinations: Mapping[str, Scores], chosen: str, baseline: Scores,
                 metric: str, n_train: int, n_valid: int, seed: int = 0) -> GridVerdict:
    """The verdict on shared folds: `combinations` maps every finished combination (with all
    its fold scores) to them, `chosen` is the one carried if it is better."""
    sign = sign_of(metric)
    names = list(combinations)
    base = np.asarray(baseline, dtype=float)
    table = np.array([np.asarray(combinations[n], dtype=float) for n in names]).T
    diffs = sign * (table - base[:, None])  # scores x combinations, positive: better
    floor = 1.0 / max(n_valid, 1) if metric in LABEL_METRICS else 0.0
    i, m = names.index(chosen), diffs.shape[0]
    t = corrected_t(diffs, n_train, n_valid, floor, moderate=True)
    p_better = exceedance_p(float(t[i]), rotation_max_t(diffs, n_train, n_valid, floor,
                                                        seed=seed, moderate=True))
    own = float(corrected_t(diffs[:, [i]], n_train, n_valid, floor)[0])  # the pair alone
    p_worse = float(stats.t.cdf(own, m - 1))
    pair = corrected_paired_ttest(combinations[chosen], baseline, n_train, n_valid, floor)
    return GridVerdict(decide(p_better, p_worse), pair.difference, pair.ci_low, pair.ci_high,
                       _two_sided(p_better, p_worse), p_better, p_worse, len(names),
                       f"{FOLD_METHOD}; {m} fold scores")


def row_verdict(metric: str, task: str, y: np.ndarray, tuned: np.ndarray, tuned_cut: Any,
                baseline: np.ndarray, baseline_cut: Any, n_classes: int | None,
                n_compared: int, seed: int) -> GridVerdict:
    """The verdict on one holdout split's validation rows, Bonferroni over `n_compared`; each
    side's binary labels at its cut (a float, one per row, or None for the argmax)."""
    statistic = difference_statistic(metric, task, n_classes)
    data = (y, tuned, baseline, per_row(tuned_cut, len(y)), per_row(baseline_cut, len(y)))
    observed = statistic(*data)
    dist, dropped = bootstrap_distribution(statistic, data, seed)
    if not math.isfinite(observed) or dist.size < 2:
        return untested("the validation rows gave no finite difference")
    se = float(dist.std(ddof=1))
    z = sign_of(metric) * observed / se if se > 0 else 0.0
    p_better = float(min(1.0, n_compared * stats.norm.sf(z)))
    p_worse = float(stats.norm.cdf(z))
    low, high = percentile_interval(dist)
    return GridVerdict(decide(p_better, p_worse), observed, low, high,
                       _two_sided(p_better, p_worse), p_better, p_worse, n_compared,
                       f"{ROW_METHOD}; {dist.size} resamples ({dropped} dropped)")
