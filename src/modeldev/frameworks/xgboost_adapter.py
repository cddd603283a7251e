"""xgboost_baseline: XGBoost's scikit-learn API for both tasks, on CPU or CUDA."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks.base import (
    FitContext,
    FittedModel,
    Framework,
    ParamSpec,
    check_stages,
    coerce_params,
)

_OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob",
               "regression": "reg:squarederror"}
_LOG_PREFIX = re.compile(r"^\[[^\]]*\] WARNING: \S+: ")  # "[time] WARNING: file.cc:53: "




class XGBoostAdapter(Framework):
    """xgboost_baseline: XGBClassifier or XGBRegressor with the hist tree method."""

    name = "xgboost_baseline"
    tasks = ("binary", "multiclass", "regression")
    family = "tree"
    gpu_library = "xgboost"
    prefix_param = "n_estimators"
    requirements = ("scikit-learn", "xgboost")
    import_name = "xgboost"

    def gpu_check(self) -> tuple[bool, str]:
        """Whether this XGBoost build has CUDA."""
        import xgboost

        if xgboost.build_info().get("USE_CUDA"):
            return True, "xgboost is built with CUDA"
        return False, "xgboost is built without CUDA"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: 100 rounds of depth-6 trees at learning rate 0.1, no subsampling."""
        return {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, "subsample": 1.0,
                "colsample_bytree": 1.0}

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """Boosting rounds, tree shape, learning rate, sampling and regularisation."""
        return {
            "n_estimators": ParamSpec("int", low=1, high=10_000),
            "max_depth": ParamSpec("int", low=1, high=64),
            "learning_rate": ParamSpec("float", low=1e-4, high=1.0, log=True),
            "subsample": ParamSpec("float", low=0.01, high=1.0),
            "colsample_bytree": ParamSpec("float", low=0.01, high=1.0),
            "min_child_weight": ParamSpec("float", low=0.0, high=1e4),
            "gamma": ParamSpec("float", low=0.0, high=1e4),
            "reg_alpha": ParamSpec("float", low=0.0, high=1e4),
            "reg_lambda": ParamSpec("float", low=0.0, high=1e4),
        }

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The seed's grid, the same for classification and regression."""
        return {"n_estimators": [50, 100, 200, 300], "max_depth": [3, 5, 7, 10],
                "learning_rate": [0.01, 0.05, 0.1, 0.3], "subsample": [0.6, 0.8, 1.0],
                "colsample_bytree": [0.6, 0.8, 1.0]}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit on CUDA when asked (CPU fallback with the reason), else on CPU."""
        kwargs = coerce_params(params, self.param_schema(rows.task))
        kwargs.update(tree_method="hist", objective=_OBJECTIVES[rows.task],
                      random_state=ctx.seed, n_jobs=ctx.n_threads)
        if ctx.device != "gpu":
            return _fit(rows, Xt, kwargs, "cpu"), "cpu"
        try:
            model, reason = _fit_on_gpu(rows, Xt, kwargs)
        except Exception as exc:  # any GPU failure (no device, memory): CPU still answers
            model, reason = _fit(rows, Xt, kwargs, "cpu"), f"GPU fit failed: {exc}"
        # Predict on CPU so the saved model serves anywhere without device-mismatch warnings.
        model.set_params(device="cpu")
        if reason:
            model.fallback_reason_ = reason
        return model, "cpu" if reason else "gpu"

    def staged_outputs(self, model: FittedModel, Xt: np.ndarray,
                       values: list[int]) -> dict[int, np.ndarray]:
        """Outputs of the first k boosting rounds, for each k, via `iteration_range`."""
        fitted = int(model.core.get_params()["n_estimators"])
        out: dict[int, np.ndarray] = {}
        for k in check_stages(values, fitted, "n_estimators"):
            if model.task == "regression":
                pred = model.core.predict(Xt, iteration_range=(0, k))
            else:
                pred = model.core.predict_proba(Xt, iteration_range=(0, k))
            out[k] = np.asarray(pred, dtype=float)
        return out


def _fit(rows: TrainingRows, Xt: np.ndarray, kwargs: dict[str, Any], device: str) -> Any:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBRegressor if rows.task == "regression" else XGBClassifier
    w = rows.class_weights
    if w is not None and rows.task == "binary":  # the positive class's weight, relative
        return cls(device=device, scale_pos_weight=float(w[1] / w[0]), **kwargs).fit(Xt, rows.y)
    weight = None if w is None else w[rows.y]
    return cls(device=device, **kwargs).fit(Xt, rows.y, sample_weight=weight)


def _fit_on_gpu(rows: TrainingRows, Xt: np.ndarray,
                kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """Fit with device cuda; XGBoost silently moves to CPU without a GPU, so read what ran."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _fit(rows, Xt, kwargs, "cuda")
    config = json.loads(model.get_booster().save_config())
    used = str(config["learner"]["generic_param"].get("device", "cpu"))
    if used.startswith("cuda"):
        return model, None
    said = "; ".join(_LOG_PREFIX.sub("", str(w.message)) for w in caught) or "no detail given"
    return model, f"XGBoost found no usable GPU and trained on CPU ({said})"
