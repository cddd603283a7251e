"""`modeldev train` end to end in a subprocess, on each demo dataset; exit codes and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def modeldev(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modeldev.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize(("demo", "n_frameworks", "metric"), [
    ("breast_cancer", 6, "f1_score"), ("wine", 6, "f1_score"), ("diabetes", 8, "rmse")])
def test_train_demo_json(tmp_path, demo, n_frameworks, metric):
    proc = modeldev("train", "--demo", demo, "--workspace", str(tmp_path), "--cv", "2",
                    "--repeats", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["cv_folds"], out["cv_repeats"]) == (2, 1)
    assert set(out) >= {"tracking_uri", "experiment_id", "parent_run_id", "runs", "best_model",
                        "artifacts_dir"}
    assert len(out["runs"]) == n_frameworks
    assert all(r["status"] == "FINISHED" for r in out["runs"]), out["runs"]
    assert out["best_model"]["primary_metric"] == metric
    assert (tmp_path / "mlflow.db").exists()


def test_bad_input_exits_2_with_one_line(tmp_path):
    proc = modeldev("train", "--data", str(tmp_path / "nope.csv"), "--target", "y",
                    "--workspace", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"modeldev: error: Could not read "
                                                f"{tmp_path / 'nope.csv'}: no such file."]


def test_unknown_framework_exits_2(tmp_path):
    proc = modeldev("train", "--demo", "wine", "--frameworks", "sklearn_svm",
                    "--workspace", str(tmp_path))
    assert proc.returncode == 2
    assert "valid frameworks are: sklearn_logistic_regression" in proc.stderr


def test_progress_display_on_stderr(tmp_path):
    proc = modeldev("train", "--demo", "breast_cancer", "--frameworks",
                    "sklearn_logistic_regression", "--workspace", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "[1/1] sklearn_logistic_regression on cpu" in proc.stderr
    assert "best: sklearn_logistic_regression" in proc.stdout
