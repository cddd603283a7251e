"""Staged evaluation: one fit read at smaller n_estimators equals separate fits, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.frameworks.base import FitContext, Framework
from modeldev.frameworks.lightgbm_adapter import LightGBMAdapter
from modeldev.frameworks.registry import get_framework
from modeldev.frameworks.sklearn_adapter import RandomForestAdapter
from modeldev.frameworks.xgboost_adapter import XGBoostAdapter

STAGES = [5, 10, 20]
# Subsampling on, so the test covers the random draws of every round.
PARAMS = {
    "xgboost_baseline": {"subsample": 0.8, "colsample_bytree": 0.8, "max_depth": 4},
    "lightgbm_baseline": {"subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                          "num_leaves": 7, "min_child_samples": 5},
    "sklearn_random_forest": {"max_depth": 6, "min_samples_leaf": 3},
}
ADAPTERS = (XGBoostAdapter(), LightGBMAdapter(), RandomForestAdapter())
CASES = [pytest.param(a, t, id=f"{a.name}-{t}") for a in ADAPTERS
         for t in ("binary", "multiclass", "regression")]


def tiny_split(task: str, rows: int = 200, seed: int = 3, cv: int = 0) -> Split:
    """Noisy numeric and text features, so that trees keep changing from round to round."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(4)})
    frame["kind"] = rng.choice(["a", "b", "c", None], size=rows)
    noise = rng.normal(size=rows)
    signal = frame["x0"] - frame["x1"] * frame["x2"] + (frame["kind"] == "a") + noise
    if task == "regression":
        frame["target"] = signal
    else:
        k = 2 if task == "binary" else 3
        cuts = np.quantile(signal, np.linspace(0, 1, k + 1)[1:-1])
        frame["target"] = np.searchsorted(cuts, signal)
    return make_split(prepare(frame, "target", task=task), seed=seed, cv=cv)


def _output(adapter: Framework, split: Split, fold: int, params: dict, n: int) -> np.ndarray:
    model = adapter.fit(split.fold_rows(fold), {**params, "n_estimators": n},
                        FitContext(seed=7, n_threads=2))
    X = split.fold_valid(fold)[0]
    out = model.predict(X) if split.task == "regression" else model.predict_proba(X)
    return np.asarray(out, dtype=float)


@pytest.mark.parametrize(("adapter", "task"), CASES)
def test_staged_equals_separate_fits_on_every_fold(adapter: Framework, task: str) -> None:
    """On each of 3 folds, outputs at 5, 10 and 20 of one 20-round fit are exactly those of
    separate fits on that fold."""
    split = tiny_split(task, cv=3)
    params = PARAMS[adapter.name]
    for fold in range(3):
        rows = split.fold_rows(fold)
        prepared = adapter.preprocess(rows)  # made once and shared, as tuning workers do
        full = adapter.fit(rows, {**params, "n_estimators": max(STAGES)},
                           FitContext(seed=7, n_threads=2), prepared)
        staged = adapter.staged_outputs(full, prepared.transform(split.fold_valid(fold)[0]),
                                        STAGES)
        assert sorted(staged) == STAGES
        for k in STAGES:
            separate = _output(adapter, split, fold, params, k)
            assert staged[k].shape == separate.shape
            np.testing.assert_array_equal(staged[k], separate,
                                          err_msg=f"{adapter.name} fold {fold} at {k}")
        # The stages must differ from each other, or the comparison proves nothing.
        assert not np.array_equal(staged[5], staged[20])


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.name)
def test_staged_refuses_values_beyond_the_fit(adapter: Framework) -> None:
    """Asking for more rounds than were fitted is an error, not a silent truncation."""
    split = tiny_split("binary")
    model = adapter.fit(split.final_rows(), {"n_estimators": 5}, FitContext(seed=0, n_threads=1))
    with pytest.raises(ValueError, match="outside"):
        adapter.staged_outputs(model, model.transform(split.fold_valid(0)[0]), [3, 6])


SHARED_CASES = [pytest.param(a, t, id=f"{a.name}-{t}") for t in ("binary", "regression")
                for a in (*ADAPTERS, *(get_framework(n, t) for n in (
                    "sklearn_logistic_regression" if t == "binary" else "statsmodels_glm",
                    "pytorch_nn", "tensorflow_nn")))]


@pytest.mark.parametrize(("adapter", "task"), SHARED_CASES)
def test_a_shared_preprocessing_gives_the_same_model_and_stays_unchanged(
        adapter: Framework, task: str) -> None:
    """Tuning workers fit every combination from one preprocessing; fits must not alter it."""
    split = tiny_split(task)
    params = {"epochs": 3} if adapter.name.endswith("_nn") else {}
    prepared = adapter.preprocess(split.final_rows())
    before = prepared.Xt.copy()
    ctx = FitContext(seed=7, n_threads=1)
    shared = [adapter.fit(split.final_rows(), params, ctx, prepared) for _ in range(2)]
    own = adapter.fit(split.final_rows(), params, ctx)
    np.testing.assert_array_equal(prepared.Xt, before)
    for model in shared:
        np.testing.assert_array_equal(_scores(model, split), _scores(own, split))


def _scores(model, split: Split) -> np.ndarray:
    if split.task == "regression":
        return np.asarray(model.predict(split.fold_valid(0)[0]), dtype=float)
    return model.predict_proba(split.fold_valid(0)[0])
