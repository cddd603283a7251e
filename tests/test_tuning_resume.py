"""Kill a real `modeldev tune` with SIGKILL part-way, then `modeldev tune --resume` it.

docs/architecture.md, "Reliability": the runs of a killed job are swept, finished children keep
their results, resume runs only the missing combinations, no duplicates. The killed session's
runs are made to look like another container's (their host tag rewritten): the resume sweeps
them by their stale heartbeat, which is short here (HEARTBEAT below).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo, load_table
from modeldev.events import Cancelled
from modeldev.frameworks.registry import get_framework
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.plan import make_plan
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

FOREST = "sklearn_random_forest"
# 16 combinations in 8 staged fits of 150 trees: a few seconds of work on one worker, so the
# kill lands part-way.
GRID = {"n_estimators": [75, 150], "max_depth": [2, 3, 4, 5], "min_samples_leaf": [1, 3]}
CLI_KEYS = {"tracking_uri", "experiment_id", "parent_run_id", "framework", "n_combinations",
            "n_completed", "n_failed", "best_params", "baseline_metric_value",
            "final_metric_value", "improvement_pct", "artifacts_dir", "wall_seconds"}
INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH", "MODELDEV_DASK_SCHEDULER")
HEARTBEAT = {"MODELDEV_HEARTBEAT_S": "0.5", "MODELDEV_HEARTBEAT_GRACE_S": "3"}


def env() -> dict[str, str]:
    """The subprocesses' environment: this one without anything pointing elsewhere."""
    return {**{k: v for k, v in os.environ.items() if k not in INHERITED},
            "TF_CPP_MIN_LOG_LEVEL": "2", **HEARTBEAT}


def _move_to_another_host(tracker: Tracker, experiment_id: str) -> list[str]:
    """Rewrite the host tag of every RUNNING run, as a re-created container would see them."""
    running = tracker.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    for run in running:
        tracker.set_tags(run.run_id, {"modeldev.host": "old-container-7c1d"})
    return [r.run_id for r in running]


def modeldev(*args: str) -> list[str]:
    return [sys.executable, "-m", "modeldev.cli", *args]


def trials(tracker: Tracker, parent: str) -> list:
    return [r for r in tracker.child_runs(parent)
            if r.tags.get("modeldev.kind") == "tuning_trial"]


def tuning_parents(tracker: Tracker, experiment_id: str) -> list:
    return tracker.search_runs([experiment_id], "tags.`modeldev.kind` = 'tuning'")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for name in INHERITED:
            mp.delenv(name, raising=False)
        yield _phase1_workspace(tmp_path_factory.mktemp("resume_ws"))


def _phase1_workspace(ws):
    settings = resolve_settings(ws)
    csv = ws / "cancer.csv"
    load_demo("breast_cancer").frame.sample(200, random_state=1).to_csv(csv, index=False)
    # 3 folds, one cut: the tuning below runs on the session's folds, and this module is about
    # the kill and the resume, not the resampling
    phase1 = run_phase1(TrainRequest(source=load_table(csv), target="target", cv=3, repeats=1,
                                     frameworks=["sklearn_logistic_regression"]), settings)
    grid_file = ws / "grid.json"
    grid_file.write_text(json.dumps(GRID))
    return settings, phase1, grid_file


def _start_and_kill(settings, phase1, grid_file) -> tuple[str, set[str], int]:
    """Start `modeldev tune` on the latest Phase 1 session, SIGKILL it once 2 children exist."""
    tracker = Tracker(settings)
    proc = subprocess.Popen(modeldev(
        "tune", "--workspace", str(settings.workspace), "--framework", FOREST,
        "--grid", str(grid_file), "--workers", "1", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    parent, finished = None, []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            parents = tuning_parents(tracker, phase1.experiment_id)
            if parents:
                parent = parents[0].run_id
                finished = [r for r in trials(tracker, parent) if r.status == "FINISHED"]
                if len(finished) >= 2:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"tune ended before the kill: {err[-2000:]}"
    assert parent is not None and len(finished) >= 2, err[-2000:]
    return parent, {r.run_id for r in finished}, proc.pid


def _fake_stale_child(tracker: Tracker, parent: str, combo_hash: str, dead_pid: int) -> str:
    """A trial child left RUNNING by the killed process, as if it died between two calls."""
    owner = tracker.get_run(parent).tags
    run_id = tracker.start_run(tracker.get_run(parent).experiment_id, "trial_9999", parent,
                               tags={"modeldev.kind": "tuning_trial",
                                     "combination_hash": combo_hash, "params_json": "{}"})
    tracker.set_tags(run_id, {"modeldev.pid": str(dead_pid),
                              "modeldev.pid_start": owner.get("modeldev.pid_start", "")})
    return run_id


def test_kill_and_resume_runs_only_the_missing_combinations(workspace):
    settings, phase1, grid_file = workspace
    tracker = Tracker(settings)
    parent, kept, dead_pid = _start_and_kill(settings, phase1, grid_file)
    assert tracker.get_run(parent).status == "RUNNING"  # stale: its process is gone
    plan = make_plan(GRID, get_framework(FOREST, "binary"), set(), 1)
    done_before = {r.tags["combination_hash"] for r in trials(tracker, parent)
                   if r.status == "FINISHED"}
    assert 2 <= len(done_before) < len(plan.combos), "the kill did not land part-way"
    missing = sorted(set(plan.hashes) - done_before)
    stale = _fake_stale_child(tracker, parent, missing[0], dead_pid)
    moved = _move_to_another_host(tracker, phase1.experiment_id)
    assert parent in moved
    moved.remove(stale)
    tracker.set_tags(stale, {"modeldev.host": socket.gethostname()})  # swept by its dead pid
    time.sleep(float(HEARTBEAT["MODELDEV_HEARTBEAT_GRACE_S"]) + 0.5)  # their heartbeats stop

    proc = subprocess.run(modeldev("tune", "--resume", parent, "--workspace",
                                   str(settings.workspace), "--workers", "1", "--json"),
                          capture_output=True, text=True, env=env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out) >= CLI_KEYS
    assert out["parent_run_id"] == parent and out["framework"] == FOREST
    assert (out["n_combinations"], out["n_completed"], out["n_failed"]) == (16, 16, 0)

    children = trials(tracker, parent)
    hashes = [r.tags["combination_hash"] for r in children]
    assert len(hashes) == len(set(hashes)) == 16, "a combination has two children"
    assert set(hashes) == set(plan.hashes)
    assert all(r.status == "FINISHED" for r in children)
    ids = {r.run_id for r in children}
    assert kept <= ids  # the children finished before the kill were kept, not rerun
    assert stale not in ids  # the stale child was swept and replaced by the rerun
    assert tracker.get_run(stale).status == "KILLED"
    assert all(tracker.get_run(r).status != "RUNNING" for r in moved)
    parent_run = tracker.get_run(parent)
    assert parent_run.status == "FINISHED"
    assert "modeldev.resumed_at" in parent_run.tags
    assert parent_run.tags["modeldev.host"] == socket.gethostname()  # owned by the resume
    summaries = [r for r in tracker.child_runs(parent) if r.name == "training_summary"]
    assert len(summaries) == 1 and summaries[0].metrics["n_combinations"] == 16
    assert len(tuning_parents(tracker, phase1.experiment_id)) == 1  # resumed, not restarted
    ctx = json.loads(settings.context_path.read_text())
    assert ctx["epoch_005_outputs"]["tuning_parent_run_id"] == parent


def test_a_cancelled_direct_tuning_resumes_on_its_own_data(workspace):
    """Tuned from a data source (no Phase 1): resume reloads that source, not the latest session.

    A stop after the first trial ends the parent KILLED with that trial kept, as SIGTERM does.
    """
    settings, _, _ = workspace
    settings = dataclasses.replace(settings, context_path=settings.workspace / "wine.json")
    grid = {"C": [0.1, 1.0, 10.0], "solver": ["lbfgs"], "max_iter": [300]}
    events: list[dict] = []
    with pytest.raises(Cancelled):
        run_tuning(TuneRequest(framework="sklearn_logistic_regression", cv=3, repeats=1,
                               source=load_demo("wine"), grid=grid, workers=1), settings,
                   on_event=events.append,
                   should_stop=lambda: any(e["type"] == "trial_finished" for e in events))
    parent = next(e["parent_run_id"] for e in events if e["type"] == "session_started")
    tracker = Tracker(settings)
    assert tracker.get_run(parent).status == "KILLED"
    [first] = trials(tracker, parent)
    assert first.status == "FINISHED"

    result = run_tuning(TuneRequest(resume=parent, workers=1), settings)
    assert (result.parent_run_id, result.framework) == (parent, "sklearn_logistic_regression")
    assert (result.n_combinations, result.n_completed) == (3, 3)
    children = trials(tracker, parent)
    assert len({r.tags["combination_hash"] for r in children}) == len(children) == 3
    assert first.run_id in {r.run_id for r in children}
    experiment = tracker.get_run(parent).experiment_id
    assert {r.experiment_id for r in children} == {experiment}
    assert tracker.get_run(parent).status == "FINISHED"
