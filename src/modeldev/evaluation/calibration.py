"""Probability calibration: a monotone map from a model's probabilities to calibrated ones.

What `CalibratedClassifierCV` fits inside each of its splits, fitted here on out-of-fold
probabilities (`decision`): isotonic regression, or Platt's sigmoid (a logistic regression on
the probability's log-odds), one-vs-rest for each class and renormalised, as scikit-learn does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

METHODS = ("sigmoid", "isotonic")
_EPS = 1e-12


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p)).reshape(-1, 1)


@dataclass
class Calibrator:
    """One fitted map per class (only the positive class for binary)."""

    method: str
    maps: list[Any] = field(default_factory=list)
    binary: bool = True

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, rows summing to 1."""
        proba = np.asarray(proba, dtype=float)
        columns = [1] if self.binary else range(proba.shape[1])
        out = np.empty_like(proba)
        for k, fitted in zip(columns, self.maps, strict=True):
            out[:, k] = (fitted.predict(proba[:, k]) if self.method == "isotonic"
                         else fitted.predict_proba(_log_odds(proba[:, k]))[:, 1])
        if self.binary:
            out[:, 0] = 1.0 - out[:, 1]
            return out
        sums = out.sum(axis=1, keepdims=True)
        return np.where(sums > _EPS, out / np.maximum(sums, _EPS), 1.0 / proba.shape[1])


def fit_calibrator(method: str, y: np.ndarray, proba: np.ndarray) -> Calibrator:
    """A calibrator of `method` fitted on class indices `y` and probabilities `proba`."""
    proba = np.asarray(proba, dtype=float)
    binary = proba.shape[1] == 2
    maps = []
    for k in [1] if binary else range(proba.shape[1]):
        target = (np.asarray(y) == k).astype(int)
        if method == "isotonic":
            maps.append(IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                        .fit(proba[:, k], target))
        elif target.min() == target.max():  # one class only: a constant map
            maps.append(_Constant(float(target[0])))
        else:
            maps.append(LogisticRegression(C=1e6).fit(_log_odds(proba[:, k]), target))
    return Calibrator(method, maps, binary)


@dataclass
class _Constant:
    """The map of a class that the calibration rows all have (or all lack)."""

    value: float

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1 - self.value), np.full(len(X), self.value)])
