"""`scripts/tune_best_model.py`: the specification's Phase 2 command, `modeldev tune` underneath.

Real subprocesses on a real workspace: with no arguments it tunes the best framework of the
latest Phase 1 session; with options it behaves as `modeldev tune` with the same options.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo, load_table
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking.tracker import Tracker

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tune_best_model.py"
INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH", "MODELDEV_DASK_SCHEDULER")


def env(workspace: Path | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in INHERITED}
    out["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if workspace is not None:
        out["MODELDEV_WORKSPACE"] = str(workspace)
    return out


def run(argv: list[str], cwd: Path, workspace: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env(workspace),
                          timeout=600)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Two Phase 1 sessions; the latest has logistic regression only (its grid is quick)."""
    ws = tmp_path_factory.mktemp("script_ws")
    with pytest.MonkeyPatch.context() as mp:
        for name in INHERITED:
            mp.delenv(name, raising=False)
        settings = resolve_settings(ws)
        csv = ws / "cancer.csv"
        load_demo("breast_cancer").frame.sample(150, random_state=4).to_csv(csv, index=False)
        run_phase1(TrainRequest(source=load_table(csv), target="target", cv=3, repeats=1,
                                frameworks=["xgboost_baseline"]), settings)
        latest = run_phase1(TrainRequest(source=load_table(csv), target="target", cv=3,
                                         repeats=1, frameworks=["sklearn_logistic_regression"]),
                            settings)  # 3 folds: the script's 54 combinations are tuned on them
    return settings, latest


def test_no_arguments_tunes_the_best_of_the_latest_session(workspace, tmp_path):
    settings, latest = workspace
    proc = run([sys.executable, str(SCRIPT)], cwd=tmp_path, workspace=settings.workspace)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tuned sklearn_logistic_regression: 54 of 54 combinations done, "
                               "0 failed")
    (parent_line,) = [line for line in lines if line.startswith("parent run ")]
    parent = Tracker(settings).get_run(parent_line.split()[2])
    assert parent.name == "logistic_regression_tuning_parent"
    assert parent.tags["phase1_run_id"] == latest.parent_run_id
    assert lines[-1].startswith(f"log: {settings.logs_dir}")


def test_options_are_those_of_modeldev_tune(workspace, tmp_path):
    settings, latest = workspace
    script_help = run([sys.executable, str(SCRIPT), "--help"], cwd=tmp_path)
    cli_help = run([sys.executable, "-m", "modeldev.cli", "tune", "--help"], cwd=tmp_path)
    assert script_help.returncode == cli_help.returncode == 0
    assert script_help.stdout == cli_help.stdout and "--resume" in script_help.stdout

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"C": [0.1, 1.0]}))
    proc = run([sys.executable, str(SCRIPT), "--training-run", latest.parent_run_id,
                "--grid", str(grid), "--workspace", str(settings.workspace), "--workers", "1",
                "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["framework"], out["n_combinations"], out["n_completed"]) == (
        "sklearn_logistic_regression", 2, 2)

    bad = run([sys.executable, str(SCRIPT), "--grid", str(tmp_path / "missing.json"),
               "--workspace", str(settings.workspace)], cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("modeldev: error: ")
