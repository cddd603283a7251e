"""An imbalanced table end to end on real MLflow (temp SQLite): the threshold chosen out of
fold travels with the logged model, tuning follows the same rule, a constant predictor is named,
and a balanced table scores exactly at the argmax, as before thresholds existed."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import Source, load_table
from modeldev.data.split import make_split
from modeldev.data.validation import prepare
from modeldev.evaluation.scoring import score
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

LR, XGB = "sklearn_logistic_regression", "xgboost_baseline"


def churn_like(n: int = 600, positive: float = 0.12, seed: int = 0) -> pd.DataFrame:
    """A rare class that the first two columns predict, as churn tables go."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < positive).astype(int)
    return pd.DataFrame({"tenure": rng.normal(0, 1, n) - 1.2 * y,
                         "calls": rng.normal(0, 1, n) + 0.9 * y,
                         "noise": rng.normal(0, 1, n), "churn": np.where(y, "yes", "no")})


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    settings = resolve_settings(tmp_path_factory.mktemp("imbalance_ws"))
    csv = settings.workspace / "churn.csv"  # a file, so that the tuning can reload it
    churn_like().to_csv(csv, index=False)
    result = run_phase1(TrainRequest(source=load_table(csv), target="churn",
                                     frameworks=[LR, XGB], cv=3, repeats=1), settings)
    return settings, result


def test_the_threshold_is_tuned_logged_and_travels_with_the_model(session):
    settings, result = session
    summary = result.summary()
    assert summary["threshold_rule"]["mode"] == "tuned"
    assert "minority class is 10% of the rows" in summary["threshold_rule"]["reason"]
    assert any("Decision threshold: tuned" in n for n in result.notices)
    tracker = Tracker(settings)
    frame = churn_like().drop(columns="churn").head(200)
    for run in result.runs:
        assert run.decision_threshold is not None and run.decision_threshold != 0.5
        logged = tracker.get_run(run.run_id)
        assert float(logged.params["decision_threshold"]) == pytest.approx(run.decision_threshold)
        model = mlflow.pyfunc.load_model(run.model_uri)
        labels = np.asarray(model.predict(frame))
        proba = model.predict(frame, params={"output": "probability"})
        assert list(proba.columns) == ["no", "yes"]
        expected = np.where(proba["yes"].to_numpy() > run.decision_threshold, "yes", "no")
        np.testing.assert_array_equal(labels, expected)  # labels at the model's own cut
    rows = json.loads((result.artifacts_dir / "all_models_metrics.json").read_text())
    assert all(r["decision_threshold"] is not None for r in rows)
    info = json.loads((result.artifacts_dir / "best_model_info.json").read_text())
    assert info["threshold_rule"]["mode"] == "tuned" and info["decision_threshold"] is not None


def test_the_test_figures_are_scored_at_the_logged_threshold(session):
    _, result = session
    split = result.split
    for run in result.runs:
        assert run.model is not None and run.model.threshold == run.decision_threshold
        assert score(run.model, split.X_test, split.y_test)["f1_score"] == pytest.approx(
            run.test_metrics["f1_score"])


def test_tuning_scores_every_combination_with_the_same_rule(session):
    settings, result = session
    tuned = run_tuning(TuneRequest(training_run_id=result.parent_run_id, framework=XGB,
                                   grid={"n_estimators": [20, 40], "max_depth": [2]},
                                   workers=1), settings)
    info = json.loads((tuned.artifacts_dir / "tuned_model_info.json").read_text())
    assert info["threshold_rule"] == result.summary()["threshold_rule"]
    phase1_xgb = next(r for r in result.runs if r.name == XGB)
    # the baseline's folds decide exactly what Phase 1's folds decided
    baseline_cut = info["decision_threshold"] if info["carried_forward"] == "baseline" else None
    if baseline_cut is not None:
        assert baseline_cut == pytest.approx(phase1_xgb.decision_threshold)
    trials = json.loads((tuned.artifacts_dir / "all_tuning_results.json").read_text())
    assert all(0 < t["metrics"]["decision_threshold"] < 1 for t in trials)


def test_a_model_that_predicts_one_class_is_named(tmp_path):
    settings = resolve_settings(tmp_path)
    result = run_phase1(TrainRequest(source=Source(churn_like(), "churn", "churn"),
                                     frameworks=[LR], cv=2, repeats=1, threshold=0.999),
                        settings)
    run = result.runs[0]
    assert run.warning is not None and "predicts class 'no' for every row" in run.warning
    assert Tracker(settings).get_run(run.run_id).tags[T.CONSTANT_PREDICTOR] == run.warning
    assert result.summary()["runs"][0]["warning"] == run.warning


def test_a_balanced_table_is_scored_at_the_argmax_as_before(tmp_path):
    frame = churn_like(positive=0.45, seed=4)
    settings = resolve_settings(tmp_path)
    result = run_phase1(TrainRequest(source=Source(frame, "even", "churn"), frameworks=[LR],
                                     cv=3, repeats=1), settings)
    assert result.summary()["threshold_rule"]["mode"] == "fixed"
    run = result.runs[0]
    assert run.decision_threshold == 0.5 and run.model is not None and run.model.threshold is None
    split = make_split(prepare(frame, "churn"), cv=3)
    adapter = get_framework(LR, "binary")
    for j in range(3):  # each fold scored exactly as a plain fit at the argmax scores it
        model = adapter.fit(split.fold_rows(j), {}, FitContext(seed=split.seed))
        assert score(model, *split.fold_valid(j))["f1_score"] == \
            run.cv["f1_score"].folds[j]
