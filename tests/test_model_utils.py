"""`modeldev.model_utils`, used as the specification's notebooks use their helpers.

Real fits on small demo tables, real MLflow on a temporary SQLite store.
"""

from __future__ import annotations

import numpy as np
import pytest

from modeldev import model_utils as mu
from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo
from modeldev.errors import InputError
from modeldev.gpu import nvidia_gpus
from modeldev.tracking.tracker import Tracker

FAST_NET = {"epochs": 3, "patience": 0}


@pytest.fixture(scope="module")
def binary():
    return mu.split_table(load_demo("breast_cancer").frame.sample(150, random_state=0), "target")


@pytest.fixture(scope="module")
def regression():
    return mu.split_table(load_demo("diabetes").frame.sample(150, random_state=0), "target")


@pytest.fixture
def tracker(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Tracker(resolve_settings(tmp_path))


def test_detect_gpu_is_a_plain_truth_value():
    """`if detect_gpu():` is false where no framework can use a GPU; details come separately."""
    details = mu.gpu_details()
    assert set(details) >= {"available", "gpus", "summary", "frameworks"}
    assert mu.detect_gpu() is any(details["frameworks"].values())
    if not nvidia_gpus():
        assert mu.detect_gpu() is False
        assert details["summary"] == "no GPU: CPU for all"


def test_split_table_splits_as_phase1_does(binary):
    assert binary.task == "binary" and binary.sizes == {"development": 120, "test": 30,
                                                        "folds": 0, "repeats": 1, "train": 90,
                                                        "validation": 30}
    with pytest.raises(InputError, match="target"):
        mu.split_table(load_demo("wine").frame, "no_such_column")


@pytest.mark.parametrize(("helper", "kwargs", "framework"), [
    (mu.train_sklearn_model, {"kind": "logistic_regression"}, "sklearn_logistic_regression"),
    (mu.train_sklearn_model, {}, "sklearn_random_forest"),
    (mu.train_xgboost_model, {"device": "cpu"}, "xgboost_baseline"),
    (mu.train_lightgbm_model, {"device": "cpu"}, "lightgbm_baseline"),
    (mu.train_tensorflow_model, {"params": FAST_NET, "device": "cpu"}, "tensorflow_nn"),
    (mu.train_pytorch_model, {"params": FAST_NET, "device": "cpu"}, "pytorch_nn"),
])
def test_each_train_helper_fits_its_framework(binary, helper, kwargs, framework):
    model = helper(binary, **kwargs)
    assert (model.framework, model.task, model.device_used) == (framework, "binary", "cpu")
    X_valid = binary.fold_valid(0)[0]
    labels = model.predict(X_valid)
    assert set(labels) <= {"benign", "malignant"} and len(labels) == len(X_valid)
    metrics = mu.score_model(model, binary)
    assert 0.0 <= metrics["f1_score"] <= 1.0 and "roc_auc" in metrics


@pytest.mark.parametrize("kind", ["ols", "glm"])
def test_statsmodels_helper_fits_a_regression(regression, kind):
    model = mu.train_statsmodels_model(regression, kind)
    assert model.framework == f"statsmodels_{kind}"
    assert np.isfinite(mu.score_model(model, regression, "test")["rmse"])


def test_train_framework_takes_params_and_refuses_what_does_not_apply(regression):
    model = mu.train_framework("xgboost_baseline", regression, {"n_estimators": 7}, "cpu")
    assert model.fit_params["n_estimators"] == 7 and model.task == "regression"
    with pytest.raises(InputError):
        mu.train_framework("sklearn_logistic_regression", regression)
    with pytest.raises(ValueError, match="part"):
        mu.score_model(model, regression, "train")


def test_metrics_and_model_logged_and_loaded_back(binary, tracker):
    model = mu.train_xgboost_model(binary, {"n_estimators": 10}, device="cpu")
    run_id = tracker.start_run(tracker.experiment_id("utils_model"), "xgboost_baseline")
    metrics = mu.score_model(model, binary)
    logged = mu.log_standardized_metrics(tracker, run_id, metrics)
    mu.log_standardized_metrics(tracker, run_id, {"f1_score": metrics["f1_score"]}, "test_")
    with pytest.raises(InputError, match="Unknown metric 'f2'"):
        mu.log_standardized_metrics(tracker, run_id, {"f2": 0.5})
    uri = mu.log_model(tracker, run_id, model, binary)
    tracker.end_run(run_id)
    stored = tracker.get_run(run_id).metrics
    assert stored["f1_score"] == pytest.approx(logged["f1_score"])
    assert stored["test_f1_score"] == pytest.approx(metrics["f1_score"])
    loaded = mu.load_model(uri, settings=tracker.settings)
    assert list(loaded.predict(binary.X_test)) == list(model.predict(binary.X_test))
