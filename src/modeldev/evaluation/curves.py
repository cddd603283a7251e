"""Curves and counts for the per-model detail: confusion matrix, ROC, precision-recall (with
the decision threshold's point) and the reliability of the probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Curve:
    """One class's curve: x and y points and its summary score (AUC or average precision)."""

    label: int
    x: np.ndarray
    y: np.ndarray
    score: float


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of true (rows) against predicted (columns) class indices."""
    return skm.confusion_matrix(y, pred, labels=list(range(n_classes)))


def class_curves(y: np.ndarray, proba: np.ndarray, kind: str) -> list[Curve]:
    """ROC (`kind` 'roc') or precision-recall ('pr') curves: the positive class of a binary
    task, else one per class; a class absent from `y` has none."""
    y, proba = np.asarray(y), np.asarray(proba)
    shown = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    curves = []
    for k in shown:
        truth = (y == k).astype(int)
        if truth.min() == truth.max():
            continue
        if kind == "roc":
            x, yy, _ = skm.roc_curve(truth, proba[:, k])
            value = float(skm.auc(x, yy))
        else:
            yy, x, _ = skm.precision_recall_curve(truth, proba[:, k])
            value = float(skm.average_precision_score(truth, proba[:, k]))
        curves.append(Curve(int(k), x, yy, value))
    return curves


def operating_point(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """(recall, precision) of the positive class when rows above `threshold` are positive."""
    truth, called = np.asarray(y) == 1, np.asarray(score, dtype=float) > threshold
    tp = float(np.sum(truth & called))
    return (tp / max(float(truth.sum()), 1.0), tp / float(called.sum()) if called.any() else 1.0)


def reliability(y: np.ndarray, proba: np.ndarray, bins: int = 10
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability of the probabilities in quantile bins: mean predicted probability, observed
    frequency and rows per bin; the positive class for binary, the most probable class (its
    probability against how often it is right) for multiclass."""
    proba, y = np.asarray(proba, dtype=float), np.asarray(y)
    if proba.shape[1] == 2:
        p, hit = proba[:, 1], (y == 1).astype(float)
    else:
        p, hit = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    keep = np.bincount(which, minlength=len(edges)) > 0
    counts = np.bincount(which, minlength=len(edges))[keep]
    mean_p = np.bincount(which, weights=p, minlength=len(edges))[keep] / counts
    freq = np.bincount(which, weights=hit, minlength=len(edges))[keep] / counts
    return mean_p, freq, counts
