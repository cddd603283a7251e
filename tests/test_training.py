"""Phase 1 end to end on real MLflow (temp SQLite): nesting, metrics, pyfunc round trip, outputs."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import Source, load_demo
from modeldev.errors import AllFailedError
from modeldev.evaluation.metrics import charted_metrics, task_metric_names
from modeldev.evaluation.selection import tie_tolerance
from modeldev.events import Cancelled
from modeldev.frameworks import registry
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking.tracker import Tracker

ARTIFACTS = ["all_models_metrics.json", "model_comparison_summary.csv",
             "all_models_comparison.png", "all_models_comparison.html", "best_model_info.json",
             "manifest.json"]


def awkward_frame(n: int = 240, seed: int = 1) -> pd.DataFrame:
    """Mixed features with the names and values docs/architecture.md ("Reliability") lists."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    df = pd.DataFrame({
        "row_id": np.arange(n),
        "f[0]": signal + rng.normal(scale=0.5, size=n),
        "<b>": rng.normal(size=n),
        'c"d{}': rng.choice(["alpha", "beta", "=HYPERLINK(x)"], n),
        "constant": 1.0,
        "label": np.where(signal > 0, "pos", "neg"),
    })
    df.loc[5, "f[0]"] = np.inf
    df.loc[6:9, "<b>"] = np.nan
    return df


@pytest.fixture(scope="module")
def binary_session(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    settings = resolve_settings(ws)
    settings.context_path.parent.mkdir(parents=True, exist_ok=True)
    settings.context_path.write_text(json.dumps({"epoch_004_outputs": {"keep": "me"}}))
    events: list[dict] = []
    # 2 folds, one cut: every framework (the two nets too) fitted 3 times, not 11; the
    # resampling itself is tests/test_cv.py's
    result = run_phase1(TrainRequest(source=Source(awkward_frame(), "awkward", "label"), cv=2,
                                     repeats=1), settings, on_event=events.append)
    return settings, result, events


def test_every_classification_framework_finishes(binary_session):
    _, result, _ = binary_session
    assert [r.name for r in result.runs] == registry.framework_names("binary")
    assert [r.status for r in result.runs] == ["FINISHED"] * 6, [r.error for r in result.runs]
    for run in result.runs:
        assert set(task_metric_names("binary")) <= set(run.metrics)
        assert run.metrics["gpu_used"] == 0.0 and run.metrics["model_size_mb"] > 0


def test_best_follows_the_one_standard_error_rule(binary_session):
    _, result, _ = binary_session
    sel = result.selection
    values = {r.name: r.metrics["f1_score"] for r in result.runs}
    # the best mean, or tied with it within one scored row (then the earlier framework)
    scored_rows = sum(len(fold.valid) for fold in result.split.folds)
    assert max(values.values()) - values[sel.best_mean] <= tie_tolerance("f1_score", scored_rows,
                                                                         max(values.values()))
    assert result.best.name in sel.top_tier
    # the winner is within one standard error of the best mean, and no simpler tier member is
    assert values[sel.best_mean] - values[result.best.name] <= sel.standard_error + 1e-12
    order = registry.framework_names("binary")
    simpler = order[:order.index(result.best.name)]
    assert not [n for n in simpler if n in sel.top_tier
                and values[sel.best_mean] - values[n] <= sel.standard_error]


def test_mlflow_nesting_names_tags_and_metrics(binary_session):
    settings, result, _ = binary_session
    tracker = Tracker(settings)
    children = tracker.child_runs(result.parent_run_id)
    assert sorted(r.name for r in children) == sorted(registry.framework_names("binary"))
    for child in children:
        assert child.status == "FINISHED"
        for tag in ("framework", "task", "dataset_hash", "split_seed", "device"):
            assert tag in child.tags
        assert "test_f1_score" in child.metrics and "f1_score" in child.metrics
        assert child.params["missing_value_policy"].startswith("inf->missing")
    parent = tracker.get_run(result.parent_run_id)
    assert parent.status == "FINISHED"


def test_pyfunc_round_trip_for_every_framework(binary_session):
    _, result, _ = binary_session
    X = result.split.X_test
    for run in result.runs:
        loaded = mlflow.pyfunc.load_model(run.model_uri)
        got = np.asarray(loaded.predict(X)).ravel()
        np.testing.assert_array_equal(got, run.model.predict(X), err_msg=run.name)


def test_artifacts_written_and_logged(binary_session):
    settings, result, _ = binary_session
    for name in ARTIFACTS:
        assert (result.artifacts_dir / name).stat().st_size > 0, name
    info = json.loads((result.artifacts_dir / "best_model_info.json").read_text())
    assert info["model_name"] == result.best.name and info["primary_metric"] == "f1_score"
    logged = {a.path for a in mlflow.MlflowClient(settings.tracking_uri)
              .list_artifacts(result.parent_run_id)}
    assert set(ARTIFACTS) <= logged
    rows = json.loads((result.artifacts_dir / "all_models_metrics.json").read_text())
    assert all(set(charted_metrics("binary")) <= set(r["metrics"]) for r in rows)


def test_context_updated_without_clobbering(binary_session):
    settings, result, _ = binary_session
    ctx = json.loads(settings.context_path.read_text())
    assert ctx["epoch_004_outputs"] == {"keep": "me"}
    assert result.parent_run_id in json.dumps(ctx)


def test_events_in_order(binary_session):
    _, _, events = binary_session
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session_started" and kinds[-1] == "session_finished"
    assert kinds.count("framework_finished") == 6
    assert "epoch" in kinds  # the nets report per-epoch losses


def test_regression_frameworks_round_trip(tmp_path):
    src = load_demo("diabetes")
    settings = resolve_settings(tmp_path)
    result = run_phase1(TrainRequest(source=src, frameworks=[
        "sklearn_linear_regression", "statsmodels_ols", "statsmodels_glm", "lightgbm_baseline"],
        repeats=1), settings)
    assert [r.status for r in result.runs] == ["FINISHED"] * 4
    assert result.primary_metric == "rmse"
    rmse = {r.name: r.metrics["rmse"] for r in result.runs}
    assert rmse[result.selection.best_mean] == min(rmse.values())
    assert rmse[result.best.name] - min(rmse.values()) <= result.selection.standard_error + 1e-12
    for run in result.runs:
        got = mlflow.pyfunc.load_model(run.model_uri).predict(result.split.X_test)
        np.testing.assert_allclose(np.asarray(got, float).ravel(),
                                   run.model.predict(result.split.X_test), rtol=1e-6)


class BrokenAdapter(LogisticRegressionAdapter):
    """A framework that crashes in its fit, as a missing native library would."""

    name = "broken_framework"

    def fit_core(self, Xt, rows, params, ctx):
        raise RuntimeError("native library not found")


def test_one_failure_is_isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS, BrokenAdapter()))
    result = run_phase1(TrainRequest(source=Source(awkward_frame(), "awk", "label"),
                                     frameworks=["broken_framework", "sklearn_random_forest"],
                                     repeats=1),
                        resolve_settings(tmp_path))
    status = {r.name: r.status for r in result.runs}
    assert status == {"sklearn_random_forest": "FINISHED", "broken_framework": "FAILED"}
    run = Tracker(resolve_settings(tmp_path)).get_run(
        next(r.run_id for r in result.runs if r.name == "broken_framework"))
    assert run.status == "FAILED" and "native library" in run.tags["error"]


def test_all_failed_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS, BrokenAdapter()))
    with pytest.raises(AllFailedError, match="native library not found"):
        run_phase1(TrainRequest(source=Source(awkward_frame(), "awk", "label"),
                                frameworks=["broken_framework"], repeats=1),
                   resolve_settings(tmp_path))


def test_cancel_ends_runs_killed(tmp_path):
    settings = resolve_settings(tmp_path)
    seen: list[dict] = []

    def stop_after_first() -> bool:
        return any(e["type"] == "framework_finished" for e in seen)

    with pytest.raises(Cancelled):
        run_phase1(TrainRequest(source=Source(awkward_frame(), "awk", "label"), frameworks=[
            "sklearn_logistic_regression", "sklearn_random_forest"], repeats=1), settings,
            on_event=seen.append, should_stop=stop_after_first)
    tracker = Tracker(settings)
    parent_id = next(e["parent_run_id"] for e in seen if e["type"] == "session_started")
    assert tracker.get_run(parent_id).status == "KILLED"
    # every framework's run starts with the session; the one cut short ends KILLED
    assert sorted(r.status for r in tracker.child_runs(parent_id)) == ["FINISHED", "KILLED"]
