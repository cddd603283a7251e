"""lightgbm_baseline: LightGBM's scikit-learn API for both tasks, on CPU or OpenCL GPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks.base import (
    FitContext,
    FittedModel,
    Framework,
    ParamSpec,
    check_stages,
    class_weight_dict,
    coerce_params,
)

_OBJECTIVES = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}




class LightGBMAdapter(Framework):
    """lightgbm_baseline: LGBMClassifier or LGBMRegressor."""

    name = "lightgbm_baseline"
    tasks = ("binary", "multiclass", "regression")
    family = "tree"
    gpu_library = "lightgbm"
    prefix_param = "n_estimators"
    requirements = ("scikit-learn", "lightgbm")
    import_name = "lightgbm"

    def gpu_check(self) -> tuple[bool, str]:
        """LightGBM's PyPI wheel carries an OpenCL GPU build; whether it runs is only known by
        trying, so a GPU fit falls back to CPU with the reason when it does not."""
        import lightgbm  # noqa: F401

        return True, "lightgbm's OpenCL build, tried on the NVIDIA GPU"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: LightGBM's own defaults (100 rounds, 31 leaves, no depth limit)."""
        return {"n_estimators": 100, "max_depth": None, "learning_rate": 0.1, "num_leaves": 31,
                "min_child_samples": 20}

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """Boosting rounds, tree shape, learning rate, sampling and regularisation.

        max_depth null means no limit. Row subsampling only acts with subsample_freq >= 1.
        """
        return {
            "n_estimators": ParamSpec("int", low=1, high=10_000),
            "max_depth": ParamSpec("int", low=1, high=64, nullable=True),
            "learning_rate": ParamSpec("float", low=1e-4, high=1.0, log=True),
            "num_leaves": ParamSpec("int", low=2, high=131_072),
            "min_child_samples": ParamSpec("int", low=1, high=100_000),
            "subsample": ParamSpec("float", low=0.01, high=1.0),
            "subsample_freq": ParamSpec("int", low=0, high=1_000),
            "colsample_bytree": ParamSpec("float", low=0.01, high=1.0),
            "reg_alpha": ParamSpec("float", low=0.0, high=1e4),
            "reg_lambda": ParamSpec("float", low=0.0, high=1e4),
        }

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The seed's grid, the same for classification and regression."""
        return {"n_estimators": [50, 100, 200, 300], "max_depth": [3, 5, 7, 10],
                "learning_rate": [0.01, 0.05, 0.1, 0.3], "num_leaves": [15, 31, 63, 127],
                "min_child_samples": [5, 10, 20]}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit on the OpenCL GPU when asked (CPU fallback with the reason), else on CPU."""
        kwargs = coerce_params(params, self.param_schema(rows.task))
        if kwargs.get("max_depth") is None:
            kwargs["max_depth"] = -1
        # deterministic + a fixed histogram layout: LightGBM otherwise picks row- or col-wise
        # by timing, and staged outputs must equal separate fits bit for bit.
        kwargs.update(objective=_OBJECTIVES[rows.task], random_state=ctx.seed,
                      n_jobs=ctx.n_threads, verbose=-1, deterministic=True, force_col_wise=True)
        if ctx.device != "gpu":
            return _fit(rows, Xt, kwargs, "cpu"), "cpu"
        try:
            return _fit(rows, Xt, kwargs, "gpu"), "gpu"
        except Exception as exc:  # no OpenCL device, build without GPU, memory: CPU still answers
            model = _fit(rows, Xt, kwargs, "cpu")
            model.fallback_reason_ = f"GPU fit failed: {exc}"
            return model, "cpu"

    def staged_outputs(self, model: FittedModel, Xt: np.ndarray,
                       values: list[int]) -> dict[int, np.ndarray]:
        """Outputs of the first k boosting rounds, for each k, via `num_iteration`."""
        # Not booster_.current_iteration(): a fit that ran out of splits stopped early, and
        # num_iteration beyond it reads all trees, as a separate fit of that size would.
        fitted = int(model.core.get_params()["n_estimators"])
        out: dict[int, np.ndarray] = {}
        for k in check_stages(values, fitted, "n_estimators"):
            if model.task == "regression":
                pred = model.core.predict(Xt, num_iteration=k)
            else:
                pred = model.core.predict_proba(Xt, num_iteration=k)
            out[k] = np.asarray(pred, dtype=float)
        return out


def _fit(rows: TrainingRows, Xt: np.ndarray, kwargs: dict[str, Any], device: str) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    if rows.task == "regression":
        return LGBMRegressor(device=device, **kwargs).fit(Xt, rows.y)
    return LGBMClassifier(device=device, class_weight=class_weight_dict(rows),
                          **kwargs).fit(Xt, rows.y)
