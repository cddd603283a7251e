"""Standardized metrics equal scikit-learn's own functions; the registry behaves like a registry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from modeldev.errors import InputError
from modeldev.evaluation.metrics import (
    charted_metrics,
    check_primary_metric,
    compute_metrics,
    get_metric,
    improvement_pct,
    is_better,
    metric_names,
    task_metric_names,
)

RNG = np.random.default_rng(3)


def test_binary_against_sklearn():
    y = RNG.integers(0, 2, 200)
    proba1 = np.clip(y * 0.6 + RNG.uniform(0, 0.4, 200), 0, 1)
    proba = np.column_stack([1 - proba1, proba1])
    pred = proba.argmax(1)
    m = compute_metrics("binary", y, pred, proba, 2)
    assert m["accuracy"] == skm.accuracy_score(y, pred)
    assert m["precision"] == skm.precision_score(y, pred)
    assert m["recall"] == skm.recall_score(y, pred)
    assert m["f1_score"] == skm.f1_score(y, pred)
    assert m["roc_auc"] == skm.roc_auc_score(y, proba1)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_multiclass_weighted_against_sklearn():
    y = RNG.integers(0, 3, 300)
    proba = RNG.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 0.5
    proba /= proba.sum(1, keepdims=True)
    pred = proba.argmax(1)
    m = compute_metrics("multiclass", y, pred, proba, 3)
    assert m["f1_score"] == skm.f1_score(y, pred, average="weighted")
    assert m["precision"] == skm.precision_score(y, pred, average="weighted")
    assert m["roc_auc"] == skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted")


def test_regression_against_sklearn():
    y = RNG.normal(10, 2, 100)
    p = y + RNG.normal(0, 1, 100)
    m = compute_metrics("regression", y, p)
    assert m["mse"] == skm.mean_squared_error(y, p)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["r2_score"] == skm.r2_score(y, p)
    assert m["mape"] == skm.mean_absolute_percentage_error(y, p)


def test_missing_class_in_a_part_keeps_metrics_defined():
    y = np.array([0, 0, 2, 2])
    proba = np.array([[.8, .1, .1], [.6, .3, .1], [.1, .1, .8], [.2, .2, .6]])
    m = compute_metrics("multiclass", y, proba.argmax(1), proba, 3)
    assert np.isfinite(m["log_loss"]) and m["accuracy"] == 1.0


def test_registry_names_and_errors():
    assert metric_names() == sorted(metric_names())
    with pytest.raises(InputError, match="valid metrics are: accuracy, average_precision, "):
        get_metric("f1")
    with pytest.raises(InputError, match="does not apply to regression"):
        check_primary_metric("f1_score", "regression")
    assert task_metric_names("binary") == ["accuracy", "precision", "recall", "f1_score", "roc_auc",
                                           "log_loss", "average_precision", "brier_score",
                                           "training_time", "inference_time_ms",
                                           "model_size_mb", "gpu_used"]


def test_charted_are_the_eight():
    assert charted_metrics("binary") == ["accuracy", "precision", "recall", "f1_score", "roc_auc",
                                         "log_loss", "training_time", "inference_time_ms"]
    assert charted_metrics("regression") == ["mse", "rmse", "mae", "r2_score", "mape",
                                             "training_time", "inference_time_ms", "model_size_mb"]


def test_direction_aware_comparison_and_improvement():
    assert is_better(0.9, 0.8, "f1_score") and not is_better(0.9, 0.8, "rmse")
    assert is_better(0.1, None, "rmse") and not is_better(float("nan"), 0.5, "f1_score")
    assert improvement_pct(0.9, 0.8, "f1_score") == pytest.approx(12.5)
    assert improvement_pct(8.0, 10.0, "rmse") == pytest.approx(20.0)


def _sklearn_classification(task, y, pred, proba, k):
    """The same metrics through scikit-learn's own functions (the definitions we mirror)."""
    avg = {"average": "binary", "pos_label": 1} if task == "binary" else {"average": "weighted"}
    out = {"accuracy": skm.accuracy_score(y, pred),
           "precision": skm.precision_score(y, pred, zero_division=0, **avg),
           "recall": skm.recall_score(y, pred, zero_division=0, **avg),
           "f1_score": skm.f1_score(y, pred, zero_division=0, **avg),
           "log_loss": skm.log_loss(y, proba, labels=list(range(k)))}
    if task == "binary" and len(set(y)) == 2:
        out["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
    elif task == "multiclass" and len(set(y)) == k:
        out["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted",
                                           labels=list(range(k)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_counted_metrics_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    task = "binary" if seed % 2 else "multiclass"
    k = 2 if task == "binary" else int(rng.integers(3, 6))
    n = int(rng.integers(5, 400))
    y = rng.integers(0, k, n)
    if seed % 7 == 0:  # degenerate: one class only, or a class never predicted
        y[:] = 0
    proba = rng.dirichlet(np.ones(k), n)
    if seed % 5 == 0:  # ties in the scores and exact 0/1 probabilities
        proba = np.round(proba, 1)
        proba[0] = np.eye(k)[0]
        proba = proba / proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    ours = compute_metrics(task, y, pred, proba, k)
    theirs = _sklearn_classification(task, y, pred, proba, k)
    for name in ("accuracy", "precision", "recall", "f1_score"):
        assert ours[name] == theirs[name], (name, ours[name], theirs[name])  # bit for bit
    assert ours["log_loss"] == pytest.approx(theirs["log_loss"], rel=1e-12, abs=1e-15)
    if "roc_auc" in theirs:
        assert ours["roc_auc"] == pytest.approx(theirs["roc_auc"], rel=1e-12, abs=1e-15)
    elif task == "binary":
        assert np.isnan(ours["roc_auc"])


@pytest.mark.parametrize("seed", range(6))
def test_multiclass_roc_auc_with_tied_probabilities_equals_scikit_learns(seed):
    # a forest's probabilities: votes of 7 trees, so many rows tie exactly, and rows that
    # sum to 1 only within a float step (renormalising them broke the ties: up to 0.002 off)
    rng = np.random.default_rng(seed)
    k, n = 4, 300
    y = np.arange(n) % k
    votes = rng.multinomial(7, [0.25] * k, n) + 3 * np.eye(k, dtype=int)[y]
    proba = votes / votes.sum(axis=1, keepdims=True)
    proba = proba.astype(np.float32).astype(float)  # a float32 model: sums 1 +- 1e-7
    assert not np.all(proba.sum(axis=1) == 1.0)
    ours = compute_metrics("multiclass", y, proba.argmax(1), proba, k)["roc_auc"]
    theirs = skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted",
                               labels=list(range(k)))
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("seed", range(30))
def test_average_precision_and_brier_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    k = 2 if seed % 2 else int(rng.integers(3, 6))
    task = "binary" if k == 2 else "multiclass"
    n = int(rng.integers(5, 300))
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    if seed % 3 == 0:  # ties, as a forest's votes give them
        proba = np.round(proba, 1)
        proba[proba.sum(axis=1) == 0] = 1.0 / k
        proba /= proba.sum(axis=1, keepdims=True)
    if seed % 7 == 0:
        y[:] = 0  # no positive row at all
    ours = compute_metrics(task, y, proba.argmax(1), proba, k)
    assert ours["brier_score"] == pytest.approx(
        skm.brier_score_loss(y, proba[:, 1]) if k == 2 else
        skm.brier_score_loss(y, proba, labels=list(range(k))), rel=1e-12, abs=1e-15)
    onehot = np.eye(k)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns of a class without rows
        theirs = (skm.average_precision_score(y, proba[:, 1]) if k == 2 else
                  skm.average_precision_score(onehot, proba, average="weighted"))
    assert ours["average_precision"] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
