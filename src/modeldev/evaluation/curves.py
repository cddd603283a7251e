"""Curves and counts for the per-model detail: confusion matrix, ROC and precision-recall."""

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
