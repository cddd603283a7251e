"""Phase 2 end to end on real MLflow (temp SQLite): nesting, staged = separate fits, failures,
timeouts, Dask = local, the context keys, outputs redrawn from MLflow, and the CLI's refusals.

One workspace per module: a Phase 1 session on 200 rows of breast_cancer, tuned once over a
6-combination forest grid that the tests share. Other tunings in the module write their
context elsewhere, so that the context test sees the shared tuning's keys whatever the order.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import Source, load_demo, load_table
from modeldev.evaluation.metrics import task_metric_names
from modeldev.evaluation.scoring import score
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking.tracker import Tracker
from modeldev.tuning import analysis
from modeldev.tuning.grid import combination_hash, expand_grid
from modeldev.tuning.outputs import load_trials, trials_from_children
from modeldev.tuning.plan import make_plan
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

FOREST = "sklearn_random_forest"
GRID = {"n_estimators": [5, 10, 20], "max_depth": [3, None]}
TIMING = {"training_time", "gpu_used"}  # measured, not predicted: never compared
SEED_OUTPUT_KEYS = {"best_model_name", "best_model_params", "tuning_parent_run_id",
                    "primary_metric", "final_metric_value", "baseline_metric_value",
                    "improvement_pct"}
OUTPUT_KEYS = SEED_OUTPUT_KEYS | {"verdict", "carried_forward", "model_uri", "tuned_params",
                                  "tuned_metric_value", "tuned_improvement_pct",
                                  "improvement_ci_pct", "final_metric_ci", "logged_model_uri",
                                  "registered_model", "model_version", "serving_card",
                                  "serving_card_uri", "registration_error"}
FOLDS = 3
ARTIFACTS = ["all_tuning_results.json", "all_tuning_results.csv",
             "tuning_parameter_impact.png", "tuning_parameter_impact.html",
             "top_10_models.png", "top_10_models.html", "tuned_model_info.json",
             "tuning_summary_report.json"]
INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH", "MODELDEV_DASK_SCHEDULER")
CLI_KEYS = {"tracking_uri", "experiment_id", "parent_run_id", "framework", "n_combinations",
            "n_completed", "n_failed", "best_params", "baseline_metric_value",
            "final_metric_value", "improvement_pct", "artifacts_dir", "wall_seconds",
            "cv_folds", "verdict", "carried_forward", "improvement_ci_pct"}


def predicted(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that depend only on the predictions."""
    return {k: v for k, v in metrics.items() if k not in TIMING}


def folder_mib(settings, model_uri: str) -> float:
    """Size of the logged model's files, as MLflow hands them back."""
    local = mlflow.artifacts.download_artifacts(model_uri, tracking_uri=settings.tracking_uri)
    return sum(f.stat().st_size for f in Path(local).rglob("*") if f.is_file()) / 2**20


def split_rows(settings, result) -> tuple[int, int]:
    """A fold's (training, validation) rows, as the tuning parent's tag records them."""
    train, valid = Tracker(settings).get_run(result.parent_run_id).tags["fold_rows"].split(",")
    return int(train), int(valid)


def trial_children(tracker: Tracker, parent: str) -> list:
    return [r for r in tracker.child_runs(parent)
            if r.tags.get("modeldev.kind") == "tuning_trial"]


def elsewhere(settings, name: str):
    """The same store, with the pipeline context written to another file."""
    return dataclasses.replace(settings, context_path=settings.workspace / f"{name}.json")


@pytest.fixture(scope="module")
def ws_settings(tmp_path_factory):
    """A fresh workspace, nothing inherited from the environment (nor by subprocesses)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in INHERITED:
            mp.delenv(name, raising=False)
        settings = resolve_settings(tmp_path_factory.mktemp("tuning_ws"))
        settings.context_path.write_text(json.dumps({"epoch_004_outputs": {"keep": "me"}}))
        yield settings


@pytest.fixture(scope="module")
def phase1(ws_settings):
    csv = ws_settings.workspace / "cancer.csv"
    load_demo("breast_cancer").frame.sample(200, random_state=0).to_csv(csv, index=False)
    return run_phase1(TrainRequest(source=load_table(csv), target="target", frameworks=[
        "sklearn_logistic_regression", FOREST], cv=FOLDS, repeats=1), ws_settings)


@pytest.fixture(scope="module")
def forest(ws_settings, phase1):
    events: list[dict] = []
    result = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, framework=FOREST,
                                    grid=GRID, workers=2), ws_settings, on_event=events.append)
    return result, events


# ------------------------------------------------------------------ structure in MLflow


def test_parent_children_and_summary_in_mlflow(ws_settings, phase1, forest):
    result, _ = forest
    tracker = Tracker(ws_settings)
    parent = tracker.get_run(result.parent_run_id)
    assert parent.name == "random_forest_tuning_parent"
    assert parent.status == "FINISHED"
    assert "mlflow.parentRunId" not in parent.tags  # nested under nothing
    assert parent.tags["phase1_run_id"] == phase1.parent_run_id
    assert parent.experiment_id == phase1.experiment_id
    children = tracker.child_runs(result.parent_run_id)
    trials = [c for c in children if c.name.startswith("trial_")]
    assert sorted(c.name for c in trials) == [f"trial_{i:04d}" for i in range(6)]
    assert [c.name for c in children if c not in trials] == ["training_summary"]
    combos = {combination_hash(c): c for c in expand_grid(GRID)}
    seen = set()
    for child in trials:
        h = child.tags["combination_hash"]
        seen.add(h)
        params = combos[h]
        assert child.status == "FINISHED" and "error" not in child.tags
        assert child.params == {k: str(v) for k, v in params.items()}
        # the prediction metrics (means over the folds) and the fit time, and the primary
        # metric's spread, interval and fold scores; no model is saved or timed per trial
        spread = {"f1_score_std", "f1_score_ci_low", "f1_score_ci_high",
                  *(f"f1_score_fold{j}" for j in range(1, FOLDS + 1))}
        assert set(child.metrics) == spread | (
            set(task_metric_names("binary")) - {"inference_time_ms", "model_size_mb"})
        folds = [child.metrics[f"f1_score_fold{j}"] for j in range(1, FOLDS + 1)]
        assert child.metrics["f1_score"] == pytest.approx(np.mean(folds))
        assert json.loads(child.tags["params_json"]) == params
    assert seen == set(combos)
    summary = next(c for c in children if c.name == "training_summary")
    assert summary.status == "FINISHED"
    assert {k: summary.metrics[k] for k in ("n_combinations", "n_completed", "n_failed")} \
        == {"n_combinations": 6, "n_completed": 6, "n_failed": 0}
    assert json.loads(summary.params["best_params"]) == result.best_params


def test_result_and_cli_summary(forest):
    result, events = forest
    assert (result.framework, result.n_combinations, result.n_completed, result.n_failed) == \
        (FOREST, 6, 6, 0)
    assert set(result.summary()) >= CLI_KEYS
    json.dumps(result.summary(), allow_nan=False)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session_started" and kinds[-1] == "session_finished"
    assert kinds.count("trial_finished") == 2  # one per staged fit
    assert [e["done"] for e in events if e["type"] == "trial_finished"] == [3, 6]


# ------------------------------------------------------------------ exact and staged


def test_two_fits_per_fold_for_six_combinations_equal_separate_fits(ws_settings, phase1,
                                                                     forest):
    result, _ = forest
    adapter = get_framework(FOREST, "binary")
    plan = make_plan(GRID, adapter, set(), FOLDS)
    assert len(plan.combos) == 6 and len(plan.tasks) == 2 * FOLDS  # one fit per group and fold
    assert all(t.payload["stages"] == [5, 10, 20] for t in plan.tasks)
    assert all(t.payload["params"]["n_estimators"] == 20 for t in plan.tasks)
    split = phase1.split  # the same file and seed: the split the tuning rebuilt
    trials = load_trials(Tracker(ws_settings), result.parent_run_id)
    assert len(trials) == 6
    for trial in trials:
        per_fold = []
        for j in range(FOLDS):
            model = adapter.fit(split.fold_rows(j), trial["params"],
                                FitContext(seed=split.seed, n_threads=1))
            per_fold.append(score(model, *split.fold_valid(j)))
        assert [f["f1_score"] for f in per_fold] == \
            [trial["metrics"][f"f1_score_fold{j}"] for j in range(1, FOLDS + 1)]
        means = {k: float(np.mean([f[k] for f in per_fold])) for k in per_fold[0]}
        assert {k: trial["metrics"][k] for k in means} == means, trial["params"]
    # the stages differ, or equal metrics would prove little
    assert len({t["metrics"]["log_loss"] for t in trials}) > 3
    runs = trial_children(Tracker(ws_settings), result.parent_run_id)
    assert {r.tags["staged_from"] for r in runs} == {"20"}


def test_tuned_model_round_trip_equals_a_refit(phase1, forest):
    result, _ = forest
    split = phase1.split
    refit = get_framework(FOREST, "binary").fit(split.final_rows(), result.best_params,
                                                FitContext(seed=split.seed))
    loaded = mlflow.pyfunc.load_model(result.model_uri)
    got = np.asarray(loaded.predict(split.X_test)).ravel()
    np.testing.assert_array_equal(got, refit.predict(split.X_test))
    assert result.final_metric_value == score(refit, split.X_test, split.y_test)["f1_score"]


def test_best_is_the_best_validation_trial(ws_settings, forest):
    result, _ = forest
    trials = load_trials(Tracker(ws_settings), result.parent_run_id)
    best = max(t["metrics"]["f1_score"] for t in trials)
    first = min((t for t in trials if t["metrics"]["f1_score"] == best), key=lambda t: t["index"])
    assert result.best_params == first["params"]


# ------------------------------------------------------------------ context and outputs


def test_context_keys_exactly(ws_settings, phase1, forest):
    result, _ = forest
    ctx = json.loads(ws_settings.context_path.read_text())
    assert ctx["epoch_004_outputs"] == {"keep": "me"}
    assert ctx["epoch_005_complete"] is True
    out = ctx["epoch_005_outputs"]
    assert set(out) == OUTPUT_KEYS
    baseline = next(r for r in phase1.runs if r.name == FOREST).test_metrics["f1_score"]
    assert out["best_model_name"] == FOREST and out["primary_metric"] == "f1_score"
    assert out["tuning_parent_run_id"] == result.parent_run_id
    # the tuning's baseline is Phase 1's model refitted on the same rows: the same test value
    assert out["baseline_metric_value"] == baseline == result.baseline_metric_value
    assert out["tuned_params"] == result.best_params
    assert out["tuned_metric_value"] == result.final_metric_value
    expected = (result.final_metric_value - baseline) / abs(baseline) * 100  # higher is better
    assert out["tuned_improvement_pct"] == pytest.approx(expected)
    assert out["verdict"] == result.verdict and out["carried_forward"] == result.carried_forward
    # what deployment reads: the registered champion (docs/serving.md)
    assert out["model_uri"] == f"models:/{out['registered_model']}@champion"
    assert out["logged_model_uri"] == result.carried_model_uri
    # the seed's keys describe the model carried forward
    if result.carried_forward == "tuned":
        assert out["best_model_params"] == result.best_params
        assert out["final_metric_value"] == result.final_metric_value
        assert out["improvement_pct"] == pytest.approx(expected)
    else:
        assert out["best_model_params"] == result.carried_params
        assert out["final_metric_value"] == baseline and out["improvement_pct"] == 0.0


def test_artifacts_in_the_folder_and_on_the_parent(ws_settings, forest):
    result, _ = forest
    for name in ARTIFACTS:
        assert (result.artifacts_dir / name).stat().st_size > 0, name
    logged = {a.path for a in mlflow.MlflowClient(ws_settings.tracking_uri)
              .list_artifacts(result.parent_run_id)}
    assert set(ARTIFACTS) <= logged
    table = pd.read_csv(result.artifacts_dir / "all_tuning_results.csv")
    assert len(table) == 6 and set(table["status"]) == {"FINISHED"}
    info = json.loads((result.artifacts_dir / "tuned_model_info.json").read_text())
    assert info["best_params"] == result.best_params
    assert info["improvement_pct"] == result.improvement_pct
    # the refit best carries all the standardized metrics, measured as in Phase 1
    parent = Tracker(ws_settings).get_run(result.parent_run_id).metrics
    for key in ("training_time", "inference_time_ms", "model_size_mb"):
        assert info["test_metrics"][key] > 0 and parent[key] == info["test_metrics"][key], key
    assert info["test_metrics"]["gpu_used"] == 0.0
    assert info["test_metrics"]["model_size_mb"] == pytest.approx(
        folder_mib(ws_settings, info["model_uri"]), rel=0.05)


def test_analysis_redrawn_from_mlflow(ws_settings, forest):
    """load_trials on a past parent gives what the report was drawn from."""
    result, _ = forest
    tracker = Tracker(ws_settings)
    trials = load_trials(tracker, result.parent_run_id)
    assert [t["index"] for t in trials] == list(range(6))
    assert all(t["status"] == "FINISHED" and t["params"] and t["metrics"] for t in trials)
    # a finished parent is read from its results artifact: the same as its child runs say
    assert tracker.read_json_artifact(result.parent_run_id, "all_tuning_results.json") == trials
    assert trials_from_children(tracker, result.parent_run_id) == trials
    assert tracker.read_json_artifact(result.parent_run_id, "no_such_file.json") is None
    report = json.loads((result.artifacts_dir / "tuning_summary_report.json").read_text())
    redrawn = json.loads(json.dumps({
        "top_10": analysis.top_k(trials, "f1_score", 10),
        "parameter_impact": analysis.parameter_impact(trials, list(GRID), "f1_score",
                                                      split_rows(ws_settings, result))}))
    assert report["top_10"] == redrawn["top_10"]
    assert report["parameter_impact"] == redrawn["parameter_impact"]
    assert {row["value"] for row in report["parameter_impact"]["n_estimators"]} == \
        {"5", "10", "20"}


# ------------------------------------------------------------------ Dask = local


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local_cluster:
        yield local_cluster


def test_dask_gives_the_same_results_as_local(ws_settings, phase1, forest, cluster):
    local, _ = forest
    on_dask = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, framework=FOREST,
                                     grid=GRID, dask_scheduler=cluster.scheduler_address),
                         elsewhere(ws_settings, "dask_context"))
    tracker = Tracker(ws_settings)
    by_hash = {name: {t["hash"]: predicted(t["metrics"]) for t in load_trials(tracker, run)}
               for name, run in (("local", local.parent_run_id),
                                 ("dask", on_dask.parent_run_id))}
    assert len(by_hash["dask"]) == 6
    assert by_hash["dask"] == by_hash["local"]
    assert on_dask.best_params == local.best_params
    assert on_dask.final_metric_value == local.final_metric_value


# ------------------------------------------------------------------ failures and timeouts


def test_a_combination_the_framework_rejects_is_isolated(ws_settings):
    # scikit-learn 1.9 refuses liblinear on 3 classes: two of the four combinations fail
    wine = load_demo("wine").frame.sample(120, random_state=0).reset_index(drop=True)
    grid = {"solver": ["lbfgs", "liblinear"], "C": [0.1, 1.0], "max_iter": [300]}
    result = run_tuning(TuneRequest(framework="sklearn_logistic_regression",
                                    source=Source(wine, "wine_small", "target"), grid=grid,
                                    workers=2), elsewhere(ws_settings, "wine_context"))
    assert (result.n_combinations, result.n_completed, result.n_failed) == (4, 2, 2)
    assert result.best_params["solver"] == "lbfgs"
    tracker = Tracker(ws_settings)
    for child in trial_children(tracker, result.parent_run_id):
        params = json.loads(child.tags["params_json"])
        if params["solver"] == "liblinear":
            assert child.status == "FAILED"
            assert "liblinear" in child.tags["error"]
            assert child.tags["timed_out"] == "false"
        else:
            assert child.status == "FINISHED" and "error" not in child.tags
    summary = next(r for r in tracker.child_runs(result.parent_run_id)
                   if r.name == "training_summary")
    assert summary.metrics["n_failed"] == 2
    assert tracker.get_run(result.parent_run_id).status == "FINISHED"
    report = json.loads((result.artifacts_dir / "tuning_summary_report.json").read_text())
    assert report["n_failed"] == 2 and len(report["top_10"]) == 2


def _slow_and_fast_frame(rows: int = 10_000) -> pd.DataFrame:
    """Pure noise: depth-16 trees keep splitting (slow), stumps stay cheap."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{i}" for i in range(5)])
    frame["y"] = rng.normal(size=rows)
    return frame


def test_a_trial_past_its_timeout_is_killed_and_the_rest_go_on(ws_settings):
    # Single-threaded trials (2 workers on 2 cores): 300 rounds on 6,000 rows take a fraction
    # of a second at depth 1 or 2 and about 15 s at depth 16 (more on a busy machine), so a 4 s
    # limit leaves room both ways. XGBoost is imported before a trial's clock starts.
    grid = {"n_estimators": [300], "max_depth": [16, 1, 2], "min_child_weight": [0.0]}
    result = run_tuning(TuneRequest(framework="xgboost_baseline",
                                    source=Source(_slow_and_fast_frame(), "noise", "y"),
                                    grid=grid, workers=2, trial_timeout=4, cv=2, repeats=1),
                        elsewhere(ws_settings, "timeout_context"))
    assert (result.n_completed, result.n_failed) == (2, 1)
    status = {}
    for child in trial_children(Tracker(ws_settings), result.parent_run_id):
        depth = json.loads(child.tags["params_json"])["max_depth"]
        status[depth] = (child.status, child.tags.get("timed_out"),
                         child.tags.get("error"))
    assert status[16] == ("FAILED", "true", "timed out after 4 s")
    assert status[1][:2] == status[2][:2] == ("FINISHED", None)
    assert result.best_params["max_depth"] in (1, 2)


# ------------------------------------------------------------------ nothing to tune


def test_nothing_to_tune_tunes_the_best_framework_with_a_grid(ws_settings):
    session = run_phase1(TrainRequest(source=load_demo("diabetes"), frameworks=[
        "sklearn_linear_regression", FOREST], cv=FOLDS, repeats=1), elsewhere(ws_settings,
                                                                   "diabetes_context"))
    assert session.best.name == "sklearn_linear_regression"  # the premise of this test
    other = elsewhere(ws_settings, "diabetes_context")
    result = run_tuning(TuneRequest(training_run_id=session.parent_run_id,
                                    grid={"n_estimators": [5, 10], "max_depth": [4]},
                                    workers=1), other)
    assert result.framework == FOREST and result.n_completed == 2
    assert "sklearn_linear_regression was best by rmse but has nothing to tune" in result.note
    parent = Tracker(ws_settings).get_run(result.parent_run_id)
    assert parent.name == "random_forest_tuning_parent"
    assert parent.tags["note"] == result.note
    info = json.loads((result.artifacts_dir / "tuned_model_info.json").read_text())
    assert info["note"] == result.note
    # rmse: lower is better, so improving means going down
    baseline = next(r for r in session.runs if r.name == FOREST).test_metrics["rmse"]
    assert result.baseline_metric_value == baseline
    expected = (baseline - result.final_metric_value) / baseline * 100
    assert result.improvement_pct == pytest.approx(expected)
    out = json.loads(other.context_path.read_text())["epoch_005_outputs"]
    assert set(out) == OUTPUT_KEYS and out["primary_metric"] == "rmse"
    assert out["tuned_improvement_pct"] == pytest.approx(expected)
    carried = expected if result.carried_forward == "tuned" else 0.0
    assert out["improvement_pct"] == pytest.approx(carried)


# ------------------------------------------------------------------ CLI refusals


def test_cli_invalid_grid_exits_2_with_one_line_and_starts_no_run(ws_settings, phase1, tmp_path):
    grid_file = tmp_path / "grid.json"
    grid_file.write_text('{"n_estimators": [10], "n_trees": [5]}')
    tracker = Tracker(ws_settings)
    experiments = tracker.experiment_ids()
    before = len(tracker.search_runs(experiments))
    proc = subprocess.run(
        [sys.executable, "-m", "modeldev.cli", "tune", "--workspace", str(ws_settings.workspace),
         "--training-run", phase1.parent_run_id, "--framework", FOREST,
         "--grid", str(grid_file), "--json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modeldev: error: "), proc.stderr
    assert "n_trees" in lines[0] and "n_estimators" in lines[0]  # the unknown and the valid
    assert proc.stdout == ""
    assert len(tracker.search_runs(experiments)) == before
