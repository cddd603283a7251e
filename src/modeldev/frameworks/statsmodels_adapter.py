"""statsmodels_ols and statsmodels_glm: linear regression with statsmodels' estimators."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.errors import InputError
from modeldev.frameworks.base import FitContext, Framework

GLM_FAMILIES = ("gaussian", "poisson", "gamma")


def _with_constant(Xt: np.ndarray) -> np.ndarray:
    # Always prepend the constant: statsmodels' add_constant skips it when some column is
    # already constant, which would shift every coefficient between train and scoring data.
    Xt = np.asarray(Xt, dtype=np.float64)
    return np.column_stack([np.ones(len(Xt)), Xt])


@contextmanager
def _rank_deficiency_expected() -> Iterator[None]:
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning

    # One-hot blocks plus the constant are rank-deficient by construction; pinv copes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        yield


class StatsmodelsRegressor:
    """A fitted statsmodels result behind `predict(Xt)`; the constant column is added here."""

    def __init__(self, results: Any) -> None:
        self.summary = str(results.summary())  # needs the training data, dropped next
        # Drop the copies of the training arrays the result keeps: the model stays small.
        results.remove_data()
        self.results = results

    @property
    def params(self) -> np.ndarray:
        """Fitted coefficients, the constant first."""
        return np.asarray(self.results.params, dtype=float)

    def predict(self, Xt: np.ndarray) -> np.ndarray:
        """Predictions for preprocessed rows."""
        return np.asarray(self.results.predict(_with_constant(Xt)), dtype=float)


class _StatsmodelsBase(Framework):
    tasks = ("regression",)
    family = "linear"
    requirements = ("scikit-learn", "statsmodels")
    import_name = "statsmodels"


class OLSAdapter(_StatsmodelsBase):
    """statsmodels_ols: ordinary least squares, solved by pseudo-inverse; nothing to tune."""

    name = "statsmodels_ols"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: the pseudo-inverse solver, which tolerates collinear one-hot columns."""
        return {"method": "pinv"}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit OLS with a constant on the preprocessed rows."""
        import statsmodels.api as sm

        y = np.asarray(rows.y, dtype=np.float64)
        with _rank_deficiency_expected():
            results = sm.OLS(y, _with_constant(Xt)).fit(method=str(params["method"]))
            return StatsmodelsRegressor(results), "cpu"


class GLMAdapter(_StatsmodelsBase):
    """statsmodels_glm: a generalized linear model, Gaussian by default; nothing to tune."""

    name = "statsmodels_glm"

    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline: Gaussian family with its canonical (identity) link."""
        return {"family": "gaussian"}

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit the GLM by IRLS, each step solved by pseudo-inverse (collinear columns)."""
        import statsmodels.api as sm

        y = np.asarray(rows.y, dtype=np.float64)
        family = _family(str(params["family"]), y)
        model = sm.GLM(y, _with_constant(Xt), family=family)
        with _rank_deficiency_expected():
            return StatsmodelsRegressor(model.fit(wls_method="pinv")), "cpu"


def _family(name: str, y: np.ndarray) -> Any:
    """The statsmodels family called `name`, refusing targets outside its domain."""
    import statsmodels.api as sm

    if name not in GLM_FAMILIES:
        raise InputError(f"Unknown GLM family '{name}'; choose one of: {', '.join(GLM_FAMILIES)}.")
    if name == "poisson" and (y < 0).any():
        raise InputError("The Poisson GLM needs a target without negative values.")
    if name == "gamma" and (y <= 0).any():
        raise InputError("The Gamma GLM needs a strictly positive target.")
    if name == "gamma":  # the canonical inverse link leaves the Gamma domain; log does not
        return sm.families.Gamma(link=sm.families.links.Log())
    return sm.families.Poisson() if name == "poisson" else sm.families.Gaussian()
