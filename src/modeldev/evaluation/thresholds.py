"""Decision thresholds for binary tasks: the rule, and the best threshold on a set of rows.

A probability of 0.5 is an arbitrary cut on an imbalanced table: an 11 % class is rarely
predicted at all. With the rule `tuned` each model's threshold is the one that maximises the
objective (F1, or accuracy when that is the primary metric) on out-of-fold predictions of rows
the model was not fitted on and that its score is not reported on (`decision`: cross-fitted
over the folds). `fixed` keeps one cut for every model (0.5 is the argmax, as before).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modeldev.errors import InputError

AUTO_MINORITY = 0.30  # `auto` tunes the threshold when the minority class is rarer than this
OBJECTIVES = ("f1_score", "accuracy")  # what a tuned threshold may maximise


@dataclass(frozen=True)
class ThresholdRule:
    """How binary models turn probabilities into labels: `tuned` per model, or `fixed`."""

    mode: str  # "tuned" or "fixed"
    value: float  # the fixed cut (0.5 by default); for `tuned` the starting point only
    objective: str  # what a tuned threshold maximises
    reason: str  # why this rule, in one sentence

    @property
    def tuned(self) -> bool:
        """True when each model's threshold is chosen from its out-of-fold predictions."""
        return self.mode == "tuned"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (`threshold_rule` in the result files)."""
        return asdict(self)


def objective_for(primary: str) -> str:
    """The metric a tuned threshold maximises: the primary one when it is F1 or accuracy, else
    F1 (precision or recall alone are maximised by predicting nearly nothing or everything, and
    the threshold-free metrics do not depend on it)."""
    return primary if primary in OBJECTIVES else "f1_score"


def parse_threshold(text: str) -> str | float:
    """`--threshold`'s value: 'auto', 'tuned', or a cut strictly between 0 and 1."""
    word = text.strip().lower()
    if word in ("auto", "tuned"):
        return word
    try:
        value = float(word)
    except ValueError:
        raise InputError(f"--threshold must be auto, tuned or a number between 0 and 1, not "
                         f"{text!r}.") from None
    if not 0.0 < value < 1.0:
        raise InputError(f"--threshold must be strictly between 0 and 1, not {value}.")
    return value


def resolve_rule(requested: str | float | None, task: str, y: np.ndarray,
                 primary: str) -> ThresholdRule | None:
    """The rule for a task (None unless binary); `auto` tunes when the minority class of the
    development rows `y` (0/1) is under 30 %."""
    if task != "binary":
        if requested not in (None, "auto"):
            raise InputError("--threshold applies to binary tasks only; this task is "
                             f"{task}.")
        return None
    objective = objective_for(primary)
    if isinstance(requested, float):
        return ThresholdRule("fixed", requested, objective, f"fixed at {requested:g} (asked)")
    share = float(min(np.mean(y), 1 - np.mean(y))) if len(y) else 0.5
    if requested == "tuned" or (requested in (None, "auto") and share < AUTO_MINORITY):
        why = ("asked" if requested == "tuned" else
               f"the minority class is {share:.0%} of the rows, under {AUTO_MINORITY:.0%}")
        return ThresholdRule("tuned", 0.5, objective,
                             f"tuned per model to maximise {objective} ({why})")
    return ThresholdRule("fixed", 0.5, objective,
                         f"fixed at 0.5 (the minority class is {share:.0%} of the rows)")


def best_threshold(y: np.ndarray, score: np.ndarray, objective: str = "f1_score") -> float:
    """The cut that maximises `objective` when rows scoring above it are called positive: the
    midpoint between two adjacent distinct scores (ties of the objective go to the cut nearest
    0.5, so a flat optimum does not drift to an extreme)."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    if len(y) == 0 or y.all() or not y.any():
        return 0.5
    distinct = np.unique(score)[::-1]  # descending
    order = np.argsort(-score, kind="mergesort")
    ranked, hits = score[order], y[order]
    ends = np.searchsorted(-ranked, -distinct, side="right")  # rows scoring >= each cut
    tp = np.cumsum(hits)[ends - 1]
    fp = ends - tp
    pos = int(y.sum())
    if objective == "accuracy":
        value = (tp + (len(y) - pos - fp)) / len(y)
    else:
        value = 2 * tp / (pos + ends)
    cuts = (distinct + np.r_[distinct[1:], distinct[-1] - 1e-12]) / 2  # just below each score
    cuts = np.clip(cuts, 0.0, 1.0)
    best = np.flatnonzero(value >= value.max() - 1e-12)
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])


def per_row(cut: Any, n: int) -> np.ndarray:
    """A cut for each of n rows (NaN: the argmax), so a bootstrap resamples it with its row."""
    return np.broadcast_to(np.nan if cut is None else np.asarray(cut, dtype=float), n).copy()


def labels_at(score: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """Class indices: 1 where the positive class's probability is above the threshold."""
    return (np.asarray(score, dtype=float) > threshold).astype(np.int64)
