"""`modeldev train` end to end in a subprocess on the demos; exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def modeldev(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modeldev.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=900)


@pytest.mark.slow
def test_train_demo_json(tmp_path):
    """The quick start's command with a net (torch in a fresh process) and --json; every
    framework's own path is tests/test_training.py's, TensorFlow's in a terminal
    tests/test_console.py's."""
    proc = modeldev("train", "--demo", "breast_cancer", "--frameworks",
                    "sklearn_logistic_regression,pytorch_nn", "--workspace", str(tmp_path),
                    "--cv", "2", "--repeats", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["cv_folds"], out["cv_repeats"]) == (2, 1)
    assert set(out) >= {"tracking_uri", "experiment_id", "parent_run_id", "runs", "best_model",
                        "artifacts_dir"}
    assert [r["name"] for r in out["runs"]] == ["sklearn_logistic_regression", "pytorch_nn"]
    assert all(r["status"] == "FINISHED" for r in out["runs"]), out["runs"]
    assert out["best_model"]["primary_metric"] == "f1_score"
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


def test_regression_demo_shows_progress_on_stderr_and_the_result_on_stdout(tmp_path):
    proc = modeldev("train", "--demo", "diabetes", "--frameworks",
                    "sklearn_linear_regression,statsmodels_glm", "--cv", "2", "--repeats", "1",
                    "--workspace", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for name in ("sklearn_linear_regression", "statsmodels_glm"):  # side by side: any order
        assert re.search(rf"^\[[12]/2\] {name} on cpu", proc.stderr, re.M), proc.stderr
    assert re.search(r"^best: \S+ .*rmse", proc.stdout, re.M), proc.stdout
