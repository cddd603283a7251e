"""scikit-learn adapters: LogisticRegression, RandomForest (both tasks), LinearRegression."""

from __future__ import annotations

from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks.base import (
    FitContext,
    FittedModel,
    Framework,
    ParamSpec,
    class_weight_dict,
)

CLASSIFICATION = ("binary", "multiclass")


class LogisticRegressionAdapter(Framework):
    """sklearn_logistic_regression."""

    name = "sklearn_logistic_regression"
    tasks = CLASSIFICATION
    family = "linear"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: lbfgs, C=1, enough iterations to converge on scaled data."""
        return {"C": 1.0, "solver": "lbfgs", "max_iter": 1000}

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """C, solver and max_iter."""
        return {
            "C": ParamSpec("float", low=1e-6, high=1e6, log=True),
            "solver": ParamSpec("str", choices=("lbfgs", "liblinear", "saga", "newton-cg",
                                                "newton-cholesky", "sag")),
            "max_iter": ParamSpec("int", low=10, high=100_000),
        }

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The seed's grid."""
        return {"C": [0.001, 0.01, 0.1, 1, 10, 100], "solver": ["lbfgs", "liblinear", "saga"],
                "max_iter": [500, 1000, 2000]}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit LogisticRegression on the preprocessed rows."""
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=float(params["C"]), solver=params["solver"],
                                   max_iter=int(params["max_iter"]), random_state=ctx.seed,
                                   class_weight=class_weight_dict(rows))
        return model.fit(Xt, rows.y), "cpu"


class RandomForestAdapter(Framework):
    """sklearn_random_forest: a classifier or a regressor, same grid."""

    name = "sklearn_random_forest"
    tasks = (*CLASSIFICATION, "regression")
    family = "tree"
    prefix_param = "n_estimators"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: 100 trees, unlimited depth."""
        return {"n_estimators": 100, "max_depth": None, "min_samples_split": 2,
                "min_samples_leaf": 1}

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """Forest size and tree shape."""
        return {
            "n_estimators": ParamSpec("int", low=1, high=5000),
            "max_depth": ParamSpec("int", low=1, high=1000, nullable=True),
            "min_samples_split": ParamSpec("int", low=2, high=100_000),
            "min_samples_leaf": ParamSpec("int", low=1, high=100_000),
        }

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The seed's grid."""
        return {"n_estimators": [50, 100, 200, 300], "max_depth": [5, 10, 20, None],
                "min_samples_split": [2, 5, 10], "min_samples_leaf": [1, 2, 4]}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit the forest with the seed, so its first k trees equal a k-tree forest."""
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestRegressor if rows.task == "regression" else RandomForestClassifier
        depth = params["max_depth"]
        model = cls(n_estimators=int(params["n_estimators"]),
                    max_depth=None if depth is None else int(depth),
                    min_samples_split=int(params["min_samples_split"]),
                    min_samples_leaf=int(params["min_samples_leaf"]),
                    random_state=ctx.seed, n_jobs=ctx.n_threads or -1,
                    **({"class_weight": class_weight_dict(rows)} if rows.task != "regression"
                       else {}))
        model.fit(Xt, rows.y)
        # sklearn sums the trees' outputs in whatever order its threads finish, so predictions
        # with n_jobs > 1 can differ in the last bit from run to run; one thread sums them in
        # tree order, which makes them reproducible and equal to staged_outputs.
        model.set_params(n_jobs=1)
        return model, "cpu"

    def staged_outputs(self, model: FittedModel, Xt: np.ndarray,
                       values: list[int]) -> dict[int, np.ndarray]:
        """Outputs of the first k trees, averaged as sklearn averages a k-tree forest.

        sklearn draws every tree's seed from random_state in order, so the first k trees of a
        forest are the trees of a k-tree forest grown with the same seed.
        """
        trees = model.core.estimators_
        stages = sorted({int(v) for v in values})
        if not stages or stages[0] < 1 or stages[-1] > len(trees):
            raise ValueError(f"staged n_estimators values {values} are outside 1..{len(trees)}")
        total, out = None, {}
        for i, tree in enumerate(trees[: stages[-1]], start=1):
            pred = tree.predict(Xt) if model.task == "regression" else tree.predict_proba(Xt)
            if total is None:
                total = np.zeros(pred.shape, dtype=np.float64)
            total += pred  # the same running sum, in the same order, as sklearn's predict
            if i in stages:
                out[i] = total / i
        return {int(v): out[int(v)] for v in values}


class LinearRegressionAdapter(Framework):
    """sklearn_linear_regression: ordinary least squares, nothing to tune."""

    name = "sklearn_linear_regression"
    tasks = ("regression",)
    family = "linear"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: with intercept."""
        return {"fit_intercept": True}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit LinearRegression."""
        from sklearn.linear_model import LinearRegression

        return LinearRegression(fit_intercept=bool(params["fit_intercept"])).fit(
            Xt, rows.y), "cpu"
