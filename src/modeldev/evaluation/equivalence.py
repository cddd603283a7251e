"""Practical equivalence: the Bayesian correlated t-test with a region of practical equivalence
(Benavoli, Corani, Demsar and Zaffalon 2017, through `baycomp`).

Its posterior of the mean difference is Student's t with the same Nadeau-Bengio correlation
the frequentist tests use, so "the two are equivalent within the margin with probability 0.97"
is a positive claim that "not significantly different" never is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeldev.evaluation.metrics import get_metric
from modeldev.evaluation.statistics import Scores

EQUIVALENCE_PROBABILITY = 0.95  # how sure the posterior must be to say "equivalent"
ABSOLUTE_MARGIN = 0.01  # for metrics with a fixed scale (accuracy, F1, ROC AUC, R²)
RELATIVE_MARGIN = 0.01  # for metrics in the data's units (RMSE, MAE, log loss): 1 % of the best


@dataclass(frozen=True)
class Equivalence:
    """Posterior probabilities that the winner's advantage is above, within or below the
    margin (they sum to 1)."""

    margin: float
    winner_better: float
    equivalent: float
    other_better: float

    @property
    def claimed(self) -> bool:
        """True when the posterior says "equivalent within the margin" with probability >= 0.95."""
        return self.equivalent >= EQUIVALENCE_PROBABILITY


def default_margin(metric: str, best_mean: float) -> float:
    """0.01 for metrics on a fixed 0-1 scale (and R²), else 1 % of the best mean."""
    if get_metric(metric).bounds[1] == 1.0:
        return ABSOLUTE_MARGIN
    return RELATIVE_MARGIN * abs(best_mean) if np.isfinite(best_mean) else ABSOLUTE_MARGIN


def equivalence(winner: Scores, other: Scores, margin: float,
                repeats: int) -> Equivalence | None:
    """baycomp's correlated t-test of winner minus other (sign-adjusted scores, higher is
    better) with a region of practical equivalence of +-margin; None without fold scores."""
    import baycomp  # loaded with the first comparison: importing modeldev stays light

    x, y = np.asarray(other, dtype=float), np.asarray(winner, dtype=float)
    if len(x) < 2 or len(x) != len(y) or len(x) % repeats or not np.isfinite(x - y).all():
        return None
    other_better, within, winner_better = baycomp.CorrelatedTTest.probs(
        x, y, rope=margin, runs=repeats)
    return Equivalence(margin, float(winner_better), float(within), float(other_better))
