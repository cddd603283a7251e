"""The specification's tuning parent names, and stores written under the old names.

A tuning parent is `{family}_tuning_parent` (`xgboost_tuning_parent`); resume and redraw find it
by its tag, so a parent named `xgboost_baseline_tuning_parent` by an earlier version still resumes
and redraws. Real MLflow on a temporary SQLite store.
"""

from __future__ import annotations

import mlflow
import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo, load_table
from modeldev.frameworks.registry import ADAPTERS
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.naming import family_name, tuning_parent_name
from modeldev.tuning.outputs import load_trials
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

SPEC_NAMES = {
    "xgboost_baseline": "xgboost_tuning_parent",
    "lightgbm_baseline": "lightgbm_tuning_parent",
    "sklearn_random_forest": "random_forest_tuning_parent",
    "sklearn_logistic_regression": "logistic_regression_tuning_parent",
    "tensorflow_nn": "tensorflow_tuning_parent",
    "pytorch_nn": "pytorch_tuning_parent",
}
XGB_GRID = {"n_estimators": [5, 10], "max_depth": [2, 3]}
INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH", "MODELDEV_DASK_SCHEDULER")


@pytest.mark.parametrize(("framework", "name"), sorted(SPEC_NAMES.items()))
def test_parent_names_follow_the_specification(framework, name):
    assert tuning_parent_name(framework) == name


def test_every_framework_has_its_own_family_name():
    names = {adapter.name for adapter in ADAPTERS}
    families = {family_name(n) for n in names}
    assert len(families) == len(names)
    assert family_name("statsmodels_ols") == "statsmodels_ols"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for name in INHERITED:
            mp.delenv(name, raising=False)
        yield resolve_settings(tmp_path_factory.mktemp("names_ws"))


@pytest.fixture(scope="module")
def phase1(settings):
    csv = settings.workspace / "cancer.csv"
    load_demo("breast_cancer").frame.sample(150, random_state=2).to_csv(csv, index=False)
    return run_phase1(TrainRequest(source=load_table(csv), target="target", cv=3, repeats=1,
                                   frameworks=["xgboost_baseline"]), settings)


def test_a_new_tuning_parent_gets_the_specification_name(settings, phase1):
    result = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id,
                                    grid={"n_estimators": [5]}, workers=1), settings)
    assert Tracker(settings).get_run(result.parent_run_id).name == "xgboost_tuning_parent"


def test_a_parent_under_the_old_name_resumes_and_redraws(settings, phase1):
    """A stopped parent named as before: resume finishes it in place, redraw lists and reads it."""
    tracker = Tracker(settings)
    first = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, grid=XGB_GRID,
                                   workers=1), settings)
    parent = first.parent_run_id
    client = mlflow.MlflowClient(settings.tracking_uri)
    client.update_run(parent, name="xgboost_baseline_tuning_parent")  # as written before
    trials = [r for r in tracker.child_runs(parent) if r.name.startswith("trial_")]
    tracker.delete_run(trials[0].run_id)  # as if stopped before its last trial was logged
    tracker.end_run(parent, "KILLED")

    resumed = run_tuning(TuneRequest(resume=parent, workers=1), settings)
    assert resumed.parent_run_id == parent
    assert (resumed.n_combinations, resumed.n_completed, resumed.n_failed) == (4, 4, 0)
    run = tracker.get_run(parent)
    assert (run.name, run.status) == ("xgboost_baseline_tuning_parent", "FINISHED")
    # redraw: the pages list tuning parents by kind and read their trials back
    listed = [r.run_id for r in tracker.runs_of_kind([phase1.experiment_id], "tuning")]
    assert parent in listed
    assert len(load_trials(tracker, parent)) == 4
