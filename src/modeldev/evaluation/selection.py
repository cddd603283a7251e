"""Choosing by a primary metric without choosing noise: the winner, the tier tied with it, and
the verdict of a tuning against its baseline.

The winner is the best cross-validated mean (direction-aware). Every other candidate is compared
with it on the same folds (the corrected resampled t-test; on one holdout split, a paired
bootstrap over its validation rows); those whose difference is not significant at 5 % are
tied with it and form the top tier, reported beside the winner. The winner is not replaced by
a cheaper model inside the tier: the tier's edge moves with the folds, so such a rule flips
between seeds more often than the best mean does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from modeldev.evaluation.metrics import get_metric
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.statistics import (
    ALPHA,
    PairedTest,
    corrected_paired_ttest,
    paired_bootstrap,
)

SELECTION_RULE = ("the best cross-validated mean of the primary metric wins (means less than "
                  "one scored row's worth apart are equal, and the framework listed first, "
                  "the simpler family, wins them); "
                  "frameworks whose difference from it is not significant (p >= 0.05, paired "
                  "on the same folds) are tied with it")
LABEL_METRICS = frozenset({"accuracy", "precision", "recall", "f1_score"})
VERDICTS = ("better", "no_difference", "worse")


@dataclass(frozen=True)
class Comparison:
    """The winner against one other candidate: how much better it is and how sure."""

    name: str
    mean: float
    advantage: float  # winner minus this one, signed so that positive favours the winner
    ci_low: float
    ci_high: float
    p_value: float
    tied: bool


@dataclass(frozen=True)
class Selection:
    """The winner, who is tied with it and why; the content of selection_rationale.json."""

    winner: str | None
    primary_metric: str
    direction: str
    method: str
    rule: str
    reason: str
    top_tier: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    def tied_with(self) -> list[str]:
        """The candidates tied with the winner, best mean first."""
        return [name for name in self.top_tier if name != self.winner]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields, with `alpha`."""
        return {**asdict(self), "alpha": ALPHA, "tied_with": self.tied_with()}


def _sign(metric: str) -> float:
    return 1.0 if get_metric(metric).higher_is_better else -1.0


def resolution(metric: str, n_rows: int) -> float:
    """The smallest difference of means that is a difference at all: one scored row's worth
    (1 / rows) for the metrics counted from labels, none (exact ties) for the others."""
    return 1.0 / max(n_rows, 1) if metric in LABEL_METRICS else 1e-12


def _ranked(means: Mapping[str, float], metric: str, tie: float = 1e-12) -> list[str]:
    """Best mean first; means within `tie` of the best are one tie, won by the candidate given
    first (Phase 1 gives them in registry order, simpler model families first)."""
    finite = [n for n, v in means.items() if np.isfinite(v)]
    ranked = sorted(finite, key=lambda n: -_sign(metric) * means[n])  # stable: input order
    if not ranked:
        return ranked
    best = means[ranked[0]]
    tie = max(tie, 1e-9 * abs(best))  # the same model fitted by two libraries: float noise
    tied = {n for n in ranked if abs(means[n] - best) <= tie}
    winner = next(n for n in finite if n in tied)
    return [winner, *(n for n in ranked if n != winner)]


def _compare(winner: str, name: str, mean: float, test: PairedTest, metric: str) -> Comparison:
    sign = _sign(metric)
    low, high = sorted((sign * test.ci_low, sign * test.ci_high))
    tied = not test.p_value < ALPHA
    return Comparison(name, mean, sign * test.difference, low, high, test.p_value, tied)


def _selection(ranked: list[str], means: Mapping[str, float], metric: str, method: str,
               tests: Mapping[str, PairedTest]) -> Selection:
    if not ranked:
        return Selection(None, metric, get_metric(metric).direction, method, SELECTION_RULE,
                         "no candidate has a finite value of the primary metric")
    winner = ranked[0]
    comparisons = [_compare(winner, n, means[n], tests[n], metric) for n in ranked[1:]]
    tier = [winner] + [c.name for c in comparisons if c.tied]
    return Selection(winner, metric, get_metric(metric).direction, method, SELECTION_RULE,
                     _reason(winner, means[winner], comparisons, metric), tier, comparisons)


def _reason(winner: str, mean: float, comparisons: list[Comparison], metric: str) -> str:
    tied = [c.name for c in comparisons if c.tied]
    equal = [c.name for c in comparisons if c.advantage <= 0]
    text = f"{winner} has the best mean {metric} ({mean:.4g})"
    if equal:
        text += (f", equal to {', '.join(equal)}'s within one scored row, and comes first "
                 "in the framework list (the simpler family)")
    if not comparisons:
        return text + "; it was the only candidate."
    if not tied:
        return text + " and is significantly better than every other framework."
    return text + (f"; {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} not significantly "
                   "different from it (tied), the others are worse.")


def select_by_folds(fold_scores: Mapping[str, Sequence[float]], metric: str, n_train: int,
                    n_valid: int) -> Selection:
    """The winner and its tier from per-fold scores on the same folds (cross-validation);
    candidates come in preference order, which breaks ties."""
    means = {n: float(np.mean(v)) for n, v in fold_scores.items()}
    n_rows = n_valid * max((len(v) for v in fold_scores.values()), default=1)
    ranked = _ranked(means, metric, resolution(metric, n_rows))
    tests = {n: corrected_paired_ttest(fold_scores[ranked[0]], fold_scores[n], n_train, n_valid)
             for n in ranked[1:]}
    method = next(iter(tests.values())).method if tests else "cross-validation"
    return _selection(ranked, means, metric, method, tests)


def select_by_rows(outputs: Mapping[str, np.ndarray], y: np.ndarray, task: str, metric: str,
                   n_classes: int | None, seed: int) -> Selection:
    """The winner and its tier from outputs on one shared validation split (holdout)."""
    means = {n: metric_of_outputs(metric, task, y, out, n_classes) for n, out in outputs.items()}
    ranked = _ranked(means, metric, resolution(metric, len(y)))
    tests = {n: paired_difference(metric, task, y, outputs[ranked[0]], outputs[n], n_classes,
                                  seed) for n in ranked[1:]}
    method = next(iter(tests.values())).method if tests else "holdout"
    return _selection(ranked, means, metric, method, tests)


def paired_difference(metric: str, task: str, y: np.ndarray, a: np.ndarray, b: np.ndarray,
                      n_classes: int | None, seed: int) -> PairedTest:
    """metric(a) - metric(b) on the same rows, with a paired bootstrap interval and p-value."""
    def statistic(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> float:
        return (metric_of_outputs(metric, task, yy, aa, n_classes)
                - metric_of_outputs(metric, task, yy, bb, n_classes))

    return paired_bootstrap(statistic, (y, a, b), seed)


def verdict(test: PairedTest, metric: str) -> str:
    """`better`, `no_difference` or `worse` for a paired test of tuned minus baseline."""
    if not test.p_value < ALPHA:
        return "no_difference"
    return "better" if _sign(metric) * test.difference > 0 else "worse"
