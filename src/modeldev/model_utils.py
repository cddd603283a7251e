"""Reusable helpers under the names analysts know from the notebooks this tool replaces."""

from __future__ import annotations

from typing import Any

import pandas as pd

from modeldev import gpu
from modeldev.config import Settings, resolve_settings
from modeldev.data.split import DEFAULT_SEED, Split, make_split
from modeldev.data.validation import prepare
from modeldev.evaluation.metrics import get_metric
from modeldev.evaluation.scoring import score
from modeldev.frameworks.base import FitContext, FittedModel
from modeldev.frameworks.registry import get_framework
from modeldev.gpu import resolve_device
from modeldev.tracking.tracker import Tracker

__all__ = [
    "detect_gpu", "gpu_details", "split_table", "score_model", "log_standardized_metrics",
    "train_framework", "train_sklearn_model", "train_xgboost_model", "train_lightgbm_model",
    "train_tensorflow_model", "train_pytorch_model", "train_statsmodels_model", "log_model",
    "load_model",
]


def detect_gpu() -> bool:
    """True when a framework here can run on a GPU: `if detect_gpu():` (details: gpu_details)."""
    return any(gpu_details().get("frameworks", {}).values())


def gpu_details() -> dict[str, Any]:
    """The GPUs nvidia-smi lists, which framework libraries can use one, and a summary line."""
    return gpu.detect_gpu(with_frameworks=True)


def split_table(frame: pd.DataFrame, target: str, task: str = "auto",
                seed: int = DEFAULT_SEED) -> Split:
    """Validate a table and split it 60/20/20 as Phase 1's holdout does (the helpers below fit
    on its training part)."""
    return make_split(prepare(frame, target, task), seed, cv=0)


def score_model(model: FittedModel, split: Split, part: str = "validation") -> dict[str, float]:
    """The standardized metrics of `model` on the split's validation (or test) rows."""
    if part not in ("validation", "test"):
        raise ValueError(f"part must be 'validation' or 'test', not {part!r}")
    if part == "test":
        return score(model, split.X_test, split.y_test)
    return score(model, *split.fold_valid(0))


def log_standardized_metrics(tracker: Tracker, run_id: str, metrics: dict[str, float],
                             prefix: str = "") -> dict[str, float]:
    """Log metrics under their standardized names (unknown names are refused); return them."""
    for name in metrics:
        get_metric(name)
    logged = {f"{prefix}{k}": float(v) for k, v in metrics.items()}
    tracker.log_batch(run_id, metrics=logged)
    return logged


def train_framework(name: str, split: Split, params: dict[str, Any] | None = None,
                    device: str = "auto") -> FittedModel:
    """Fit the framework called `name` on `split` (baseline params overridden by `params`)."""
    adapter = get_framework(name, split.task)
    resolved, _ = resolve_device(device, adapter)
    return adapter.fit(split.final_rows(), params, FitContext(device=resolved, seed=split.seed))


def train_sklearn_model(split: Split, params: dict[str, Any] | None = None,
                        kind: str = "random_forest") -> FittedModel:
    """scikit-learn: kind is 'logistic_regression', 'random_forest' or 'linear_regression'."""
    return train_framework(f"sklearn_{kind}", split, params, "cpu")


def train_xgboost_model(split: Split, params: dict[str, Any] | None = None,
                        device: str = "auto") -> FittedModel:
    """XGBoost baseline (GPU when available and asked for)."""
    return train_framework("xgboost_baseline", split, params, device)


def train_lightgbm_model(split: Split, params: dict[str, Any] | None = None,
                         device: str = "auto") -> FittedModel:
    """LightGBM baseline."""
    return train_framework("lightgbm_baseline", split, params, device)


def train_tensorflow_model(split: Split, params: dict[str, Any] | None = None,
                           device: str = "auto") -> FittedModel:
    """Keras Sequential net with two hidden layers."""
    return train_framework("tensorflow_nn", split, params, device)


def train_pytorch_model(split: Split, params: dict[str, Any] | None = None,
                        device: str = "auto") -> FittedModel:
    """PyTorch MLP with two hidden layers."""
    return train_framework("pytorch_nn", split, params, device)


def train_statsmodels_model(split: Split, kind: str = "ols") -> FittedModel:
    """statsmodels regression: kind is 'ols' or 'glm'."""
    return train_framework(f"statsmodels_{kind}", split, None, "cpu")


def log_model(tracker: Tracker, run_id: str, model: FittedModel, split: Split) -> str:
    """Log a fitted model to a run as a pyfunc model; returns its URI."""
    adapter = get_framework(model.framework, model.task)
    uri, _ = tracker.log_model(run_id, model, split.X_dev.head(5), list(adapter.requirements))
    return uri


def load_model(model_uri: str, tracking_uri: str | None = None,
               settings: Settings | None = None) -> Any:
    """Load a model this installation logged (an MLflow URI) as a pyfunc, its signature
    checked before anything of it runs (the key of `settings`' workspace)."""
    return Tracker(settings or resolve_settings(tracking_uri=tracking_uri)).load_model(model_uri)
