"""Registry of standardized metrics: one definition, used by every framework.

Definitions (also in the README):
- binary precision / recall / f1_score are for the positive class, the second of the two sorted
  class labels (1 for a 0/1 target); multiclass uses the support-weighted average.
- roc_auc is computed from probabilities: the positive class's for binary, one-vs-rest weighted
  for multiclass. log_loss uses the full probability matrix. average_precision (the area under
  the precision-recall curve) likewise; brier_score is the mean squared error of the positive
  class's probability (binary) or of the whole probability vector (multiclass). These four do
  not depend on the decision threshold; the label metrics do.
- mape is scikit-learn's mean_absolute_percentage_error: a fraction (0.1 means 10 %).
- training_time is fit seconds; inference_time_ms the median milliseconds to score 1,000 rows
  after a warm-up; model_size_mb the size of the saved model folder; gpu_used 1 only when the
  fit really ran on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from modeldev.errors import InputError
from modeldev.evaluation import classification

CLASSIFICATION_TASKS = ("binary", "multiclass")
TASKS = (*CLASSIFICATION_TASKS, "regression")


@dataclass(frozen=True)
class Metric:
    """One standardized metric: its name, which way is better and where it applies."""

    name: str
    higher_is_better: bool
    tasks: tuple[str, ...]
    charted: bool = True
    needs_proba: bool = False
    computed: bool = True  # False: measured by the training loop, not from predictions
    bounds: tuple[float | None, float | None] = (0.0, None)  # the range its values lie in

    @property
    def direction(self) -> str:
        """'max' or 'min', for charts and tables."""
        return "max" if self.higher_is_better else "min"


_C, _R, _ALL = CLASSIFICATION_TASKS, ("regression",), TASKS
UNIT = (0.0, 1.0)
_REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", True, _C, bounds=UNIT),
        Metric("precision", True, _C, bounds=UNIT),
        Metric("recall", True, _C, bounds=UNIT),
        Metric("f1_score", True, _C, bounds=UNIT),
        Metric("roc_auc", True, _C, needs_proba=True, bounds=UNIT),
        Metric("log_loss", False, _C, needs_proba=True),
        Metric("average_precision", True, _C, charted=False, needs_proba=True, bounds=UNIT),
        Metric("brier_score", False, _C, charted=False, needs_proba=True, bounds=(0.0, 2.0)),
        Metric("mse", False, _R),
        Metric("rmse", False, _R),
        Metric("mae", False, _R),
        Metric("r2_score", True, _R, bounds=(None, 1.0)),
        Metric("mape", False, _R),
        Metric("training_time", False, _ALL, computed=False),
        Metric("inference_time_ms", False, _ALL, computed=False),
        Metric("model_size_mb", False, _ALL, computed=False),
        Metric("gpu_used", True, _ALL, charted=False, computed=False, bounds=UNIT),
    )
}
_CHARTED_ONLY_REGRESSION = {"model_size_mb"}


def get_metric(name: str) -> Metric:
    """Return the metric called `name`, or fail with the list of valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(
            f"Unknown metric '{name}'; valid metrics are: {', '.join(metric_names())}."
        ) from None


def metric_names(task: str | None = None) -> list[str]:
    """Sorted names of the metrics, for one task or all."""
    return sorted(n for n, m in _REGISTRY.items() if task is None or task in m.tasks)


def task_metric_names(task: str) -> list[str]:
    """The metrics of a task in their standard (issue) order."""
    return [n for n, m in _REGISTRY.items() if task in m.tasks]


def charted_metrics(task: str) -> list[str]:
    """The 8 metrics drawn in the comparison chart for a task."""
    names = [n for n, m in _REGISTRY.items() if task in m.tasks and m.charted]
    if task in CLASSIFICATION_TASKS:
        names = [n for n in names if n not in _CHARTED_ONLY_REGRESSION]
    return names


def default_primary_metric(task: str) -> str:
    """f1_score for classification, rmse for regression."""
    return "rmse" if task == "regression" else "f1_score"


def check_primary_metric(name: str, task: str) -> Metric:
    """Return the primary metric, refusing one that does not apply to the task."""
    metric = get_metric(name)
    if task not in metric.tasks:
        raise InputError(
            f"Metric '{name}' does not apply to {task} tasks; choose one of: "
            f"{', '.join(metric_names(task))}."
        )
    return metric


def is_better(candidate: float, incumbent: float | None, metric: str) -> bool:
    """True when `candidate` beats `incumbent` for `metric` (NaN never wins)."""
    if candidate is None or not np.isfinite(candidate):
        return False
    if incumbent is None or not np.isfinite(incumbent):
        return True
    return candidate > incumbent if get_metric(metric).higher_is_better else candidate < incumbent


def improvement_pct(tuned: float, baseline: float, metric: str) -> float:
    """Direction-aware relative improvement of `tuned` over `baseline`, in percent."""
    if baseline == 0:
        return 0.0 if tuned == baseline else float("inf")
    sign = 1.0 if get_metric(metric).higher_is_better else -1.0
    return float(sign * (tuned - baseline) / abs(baseline) * 100.0)


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_proba: np.ndarray | None = None,
    n_classes: int | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, float]:
    """Score predictions once for every prediction-based metric of the task (or `names`).

    For classification `y_true`/`y_pred` are encoded labels 0..K-1 and `y_proba` has K columns.
    """
    wanted = [n for n in (names or task_metric_names(task)) if _REGISTRY[n].computed]
    if task == "regression":
        y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
        return {n: float(_REGRESSION[n](y, p)) for n in wanted}
    y, p = np.asarray(y_true), np.asarray(y_pred)
    k = n_classes or int(max(y.max(), p.max()) + 1)
    out: dict[str, float] = {}
    if any(n in _LABEL_METRICS for n in wanted):
        counted = classification.label_metrics(classification.confusion_counts(y, p, k),
                                               binary=task == "binary")
        out.update({n: counted[n] for n in wanted if n in counted})
    if any(n in _PROBABILITY_METRICS for n in wanted):
        probs = _probability_metrics(task, y, y_proba, list(range(k)))
        out.update({n: probs[n] for n in wanted if n in probs})
    return out


_REGRESSION: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "mse": lambda y, p: skm.mean_squared_error(y, p),
    "rmse": lambda y, p: np.sqrt(skm.mean_squared_error(y, p)),
    "mae": lambda y, p: skm.mean_absolute_error(y, p),
    "r2_score": lambda y, p: skm.r2_score(y, p),
    "mape": lambda y, p: skm.mean_absolute_percentage_error(y, p),
}
_LABEL_METRICS = frozenset({"accuracy", "precision", "recall", "f1_score"})
_PROBABILITY_METRICS = frozenset({"roc_auc", "log_loss", "average_precision", "brier_score"})
ROW_SUM_TOLERANCE = 1e-6  # float32 nets' rows sum to 1 +- 1e-7


def _probability_metrics(
    task: str, y: np.ndarray, proba: np.ndarray | None, labels: list[int]
) -> dict[str, float]:
    if proba is None:
        return dict.fromkeys(_PROBABILITY_METRICS, float("nan"))
    proba = np.clip(np.asarray(proba, float), 0.0, 1.0)
    sums = proba.sum(axis=1, keepdims=True)
    # only rows that are not probabilities already: dividing every row by a sum one float step
    # from 1 breaks exact ties (tree ensembles have many) and moves the ROC AUC
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        proba = np.where(off, proba / np.where(sums > 0, sums, 1.0), proba)
    if task == "binary":
        auc = classification.binary_roc_auc(y, proba[:, 1])
        ap = classification.average_precision(y, proba[:, 1])
    else:
        try:
            auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted",
                                    labels=labels)
        except ValueError:  # a split with one class present has no ROC curve
            auc = float("nan")
        ap = _weighted_average_precision(y, proba)
    return {"roc_auc": float(auc), "log_loss": classification.log_loss(y, proba),
            "average_precision": ap,
            "brier_score": classification.brier(y, proba, binary=task == "binary")}


def _weighted_average_precision(y: np.ndarray, proba: np.ndarray) -> float:
    """One-vs-rest average precision per class, weighted by the class's rows (scikit-learn's
    `average="weighted"` on the one-hot labels)."""
    support = np.bincount(y.astype(np.int64), minlength=proba.shape[1])
    if support.sum() == 0:
        return 0.0
    per_class = [classification.average_precision((y == k).astype(int), proba[:, k])
                 for k in range(proba.shape[1])]
    return float(np.average(per_class, weights=support))


def finite_or_none(values: Mapping[str, float | None]) -> dict[str, float | None]:
    """JSON-safe copy: NaN and inf become None."""
    return {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in values.items()}
