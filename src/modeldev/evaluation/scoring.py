"""The one scoring path: standardized metrics from a model's outputs, and inference timing.

Phase 1, every tuning trial, the tuned model's test figures and the app's detail view score
through `score_outputs`, so a metric means the same thing wherever it is shown.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from modeldev.evaluation.metrics import compute_metrics
from modeldev.evaluation.thresholds import labels_at

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel

INFERENCE_ROWS = 1_000
INFERENCE_REPEATS = 5


def predicted_labels(task: str, proba: np.ndarray,
                     threshold: float | np.ndarray | None = None) -> np.ndarray:
    """Class indices from probabilities: the positive class above `threshold` (binary, when
    one is set: a float, or one per row), else the most probable class."""
    if task == "binary" and threshold is not None:
        return labels_at(proba[:, 1], threshold)
    return proba.argmax(axis=1)


def score_outputs(task: str, y: np.ndarray, outputs: np.ndarray, n_classes: int | None = None,
                  names: Sequence[str] | None = None,
                  threshold: float | np.ndarray | None = None) -> dict[str, float]:
    """Metrics of outputs (class probabilities, or predictions for regression) against `y`
    (every prediction metric of the task, or `names`); binary labels at `threshold` if set."""
    if task == "regression":
        return compute_metrics(task, y, np.asarray(outputs, float).ravel(), names=names)
    proba = np.asarray(outputs, float)
    return compute_metrics(task, y, predicted_labels(task, proba, threshold), proba,
                           n_classes or None, names)


def metric_of_outputs(metric: str, task: str, y: np.ndarray, outputs: np.ndarray,
                      n_classes: int | None = None,
                      threshold: float | np.ndarray | None = None) -> float:
    """One metric of outputs against `y` (what a bootstrap recomputes per resample)."""
    return score_outputs(task, y, outputs, n_classes, [metric], threshold)[metric]


def score(model: FittedModel, X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Standardized prediction metrics of `model` on raw rows (X, y), at its own calibration
    and decision threshold; predictions made once."""
    return score_outputs(model.task, y, model.outputs(model.transform(X)),
                         len(model.classes) or None, threshold=model.threshold)


def inference_ms(model: FittedModel, X: pd.DataFrame) -> float:
    """Median milliseconds to score 1,000 rows (sampled from X, fixed seed) after a warm-up."""
    rows = X.sample(n=INFERENCE_ROWS, replace=len(X) < INFERENCE_ROWS, random_state=0)
    model.predict(rows)
    times = []
    for _ in range(INFERENCE_REPEATS):
        started = time.perf_counter()
        model.predict(rows)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(times))
