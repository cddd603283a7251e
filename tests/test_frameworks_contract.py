"""The adapter contract, run on every registered framework for every task it supports."""

from __future__ import annotations

import math

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.frameworks.base import FitContext, Framework, ParamSpec
from modeldev.frameworks.registry import ADAPTERS

# Keep every fit tiny: only keys an adapter already has in its baseline are overridden.
SMALL = {"n_estimators": 10, "epochs": 3, "max_iter": 200}
LABELS = {"binary": ["no", "yes"], "multiclass": ["cat", "dog", "eel"]}
CASES = [pytest.param(a, t, id=f"{a.name}-{t}") for a in ADAPTERS for t in a.tasks]


def tiny_split(task: str, rows: int = 120, seed: int = 0) -> Split:
    """Numeric columns, a text column with a NaN, and a target learnable from them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows),
                          "x3": rng.uniform(0, 5, size=rows),
                          "colour": rng.choice(["red", "green", "blue"], size=rows).astype(object)})
    frame.loc[3, "colour"] = np.nan
    signal = frame["x1"] + 0.5 * frame["x2"] + (frame["colour"] == "red") + rng.normal(0, .3, rows)
    if task == "regression":
        frame["target"] = 10.0 + 3.0 * signal
    else:
        cuts = np.quantile(signal, np.linspace(0, 1, len(LABELS[task]) + 1)[1:-1])
        frame["target"] = np.asarray(LABELS[task], dtype=object)[np.searchsorted(cuts, signal)]
    return make_split(prepare(frame, "target", task=task), seed=seed, cv=0)


def small_params(adapter: Framework, task: str) -> dict:
    """The adapter's baseline with its iteration counts cut down."""
    base = adapter.baseline_params(task)
    return {k: v for k, v in SMALL.items() if k in base}


def spec_accepts(spec: ParamSpec, value: object) -> bool:
    """Whether `value` satisfies the ParamSpec: null, kind, choices, range."""
    if value is None:
        return spec.nullable
    kinds = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
    if isinstance(value, bool) and spec.kind != "bool":
        return False
    if not isinstance(value, kinds[spec.kind]):
        return False
    if spec.choices is not None:
        return value in spec.choices
    if spec.kind in ("int", "float"):
        if not math.isfinite(value):
            return False
        if spec.low is not None and value < spec.low:
            return False
        if spec.high is not None and value > spec.high:
            return False
    return True


@pytest.mark.parametrize(("adapter", "task"), CASES)
def test_adapter_contract(adapter: Framework, task: str) -> None:
    """Fit, predict, probabilities, device, pickling and the grid's schema for one adapter."""
    assert adapter.is_available()[0], adapter.is_available()[1]
    split = tiny_split(task)
    model = adapter.fit(split.final_rows(), small_params(adapter, task),
                        FitContext(seed=0, n_threads=1))
    X = split.X_test
    pred = model.predict(X)
    assert len(pred) == len(X)
    if task == "regression":
        assert model.predict_proba(X) is None
        assert np.isfinite(np.asarray(pred, dtype=float)).all()
    else:
        assert set(pred) <= set(LABELS[task])
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), len(LABELS[task]))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_array_equal(pred, np.asarray(LABELS[task], dtype=object)[
            proba.argmax(axis=1)])
    assert model.device_used == "cpu"
    assert model.framework == adapter.name
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), pred)
    if task != "regression":
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    _check_schema(adapter, task)


def _check_schema(adapter: Framework, task: str) -> None:
    schema, grid = adapter.param_schema(task), adapter.default_grid(task)
    assert set(grid) <= set(schema), f"grid keys missing from the schema: {set(grid) - set(schema)}"
    for name, values in grid.items():
        assert values, f"{name}: empty list in the default grid"
        bad = [v for v in values if not spec_accepts(schema[name], v)]
        assert not bad, f"{name}: {bad} do not satisfy {schema[name].describe()}"
    baseline = adapter.baseline_params(task)
    bad_base = {k: v for k, v in baseline.items() if k in schema and not spec_accepts(schema[k], v)}
    assert not bad_base, f"baseline values outside the schema: {bad_base}"
    if adapter.prefix_param is not None:
        assert adapter.prefix_param in schema
        assert schema[adapter.prefix_param].kind == "int"


def test_registry_covers_every_task() -> None:
    """Each task has several frameworks, and names are unique per task."""
    for task in ("binary", "multiclass", "regression"):
        names = [a.name for a in ADAPTERS if task in a.tasks]
        assert len(names) == len(set(names)) >= 4


def test_spec_check_can_fail() -> None:
    """The schema check used above rejects what it should."""
    spec = ParamSpec("int", low=1, high=10)
    assert spec_accepts(spec, 5)
    assert not spec_accepts(spec, 0)
    assert not spec_accepts(spec, 5.0)
    assert not spec_accepts(spec, True)
    assert not spec_accepts(spec, None)
    assert spec_accepts(ParamSpec("int", low=1, high=10, nullable=True), None)
    assert not spec_accepts(ParamSpec("float", low=0, high=1), float("nan"))
    assert not spec_accepts(ParamSpec("str", choices=("a", "b")), "c")


GPU_CASES = [pytest.param(a, id=a.name) for a in ADAPTERS if a.gpu_capable]


@pytest.mark.parametrize("adapter", GPU_CASES)
def test_gpu_request_reports_what_ran(adapter: Framework) -> None:
    """Asked for a GPU: either it ran there, or it ran on CPU and says why."""
    split = tiny_split("binary")
    model = adapter.fit(split.final_rows(), small_params(adapter, "binary"),
                        FitContext(device="gpu", seed=0))
    assert model.device_used in ("cpu", "gpu")
    if model.device_used == "gpu":
        assert model.fallback_reason is None
    else:
        assert model.fallback_reason, "fell back to CPU without saying why"
    assert len(model.predict(split.X_test)) == len(split.X_test)
