"""Classification metrics from one confusion matrix and one ranking, in plain numpy.

scikit-learn's metric functions validate their inputs on every call (about 2 ms for six metrics
on a thousand rows, most of it checks). Every tuning trial scores every staged value on every
fold, and a bootstrap recomputes a metric about a thousand times, so these compute the same
definitions directly: accuracy, precision, recall and F1 from the confusion matrix, with
scikit-learn's formulas, averaging and zero-division handling (0), the binary ROC AUC as the
Mann-Whitney rank statistic, average precision as scikit-learn steps the precision-recall
curve, the Brier score, and the log loss with scikit-learn's clipping.
tests/test_metrics.py checks them against scikit-learn on random and degenerate inputs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = float(np.finfo(np.float64).eps)


def confusion_counts(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """The k x k confusion matrix (rows: true class, columns: predicted class)."""
    return np.bincount(y.astype(np.int64) * k + pred.astype(np.int64),
                       minlength=k * k).reshape(k, k)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = num.astype(np.float64), den.astype(np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def label_metrics(cm: np.ndarray, binary: bool) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 of the positive class (binary) or their
    support-weighted averages (multiclass)."""
    tp = np.diag(cm)
    pred_sum, true_sum = cm.sum(axis=0), cm.sum(axis=1)
    precision, recall = _divide(tp, pred_sum), _divide(tp, true_sum)
    f1 = _divide(2.0 * tp, true_sum.astype(np.float64) + pred_sum)
    out = {"accuracy": float(tp.sum() / cm.sum())}
    if binary:
        out.update(precision=float(precision[1]), recall=float(recall[1]), f1_score=float(f1[1]))
    elif true_sum.sum() == 0:
        out.update(precision=0.0, recall=0.0, f1_score=0.0)
    else:
        out.update({name: float(np.average(values, weights=true_sum)) for name, values in
                    (("precision", precision), ("recall", recall), ("f1_score", f1))})
    return out


def binary_roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of the positive class: the Mann-Whitney U statistic (ties
    count half); NaN when only one class is present."""
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve of the positive class, as scikit-learn steps it:
    the sum over distinct scores (descending) of the recall gained times the precision there;
    0 when no row is positive."""
    positive = np.asarray(y) == 1
    n_pos = int(positive.sum())
    if n_pos == 0:
        return 0.0
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    hits = positive[order]
    ranked = np.asarray(score, dtype=float)[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # end of each tie group
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(recall_gain * precision))


def brier(y: np.ndarray, proba: np.ndarray, binary: bool) -> float:
    """Mean squared distance of the probabilities from the true class: of the positive class's
    probability for binary, summed over the classes for multiclass (scikit-learn's)."""
    onehot = np.eye(proba.shape[1])[np.asarray(y, dtype=np.int64)]
    if binary:
        return float(np.mean((proba[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean cross-entropy of the true classes' probabilities, clipped as scikit-learn clips."""
    p = np.clip(proba[np.arange(len(y)), y.astype(np.int64)], EPS, 1 - EPS)
    return float(np.mean(-np.log(p)))
