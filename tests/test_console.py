"""A quiet, conventional terminal: `modeldev train|tune` in a real pseudo-terminal.

On a terminal: a progress bar and one line per framework, nothing from MLflow or TensorFlow's
C++ logging (that goes to the session's log file under <workspace>/logs/); off a terminal (a
pipe, a job's log): plain lines, at most one progress line every few seconds; --quiet prints
only the result and --json exactly one JSON object on stdout.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from terminal_support import render, run_in_pty

from modeldev.config import resolve_settings
from modeldev.console import ProgressPrinter, TuneProgress, duration
from modeldev.data.loading import load_demo, load_table
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH", "MODELDEV_DASK_SCHEDULER", "TF_CPP_MIN_LOG_LEVEL")
ENV = {k: v for k, v in os.environ.items() if k not in INHERITED}  # TF's log level left unset
WIDE = 240  # wide enough that no path wraps: lines are counted as printed
GRID = {"n_estimators": [10, 20], "max_depth": [2, 3], "learning_rate": [0.1, 0.3]}
TF_CPP_LINE = re.compile(r"absl::|^[IWE]\d{4} ", re.M)


def modeldev(*args: str) -> list[str]:
    return [sys.executable, "-m", "modeldev.cli", *args]


def pty_run(argv: list[str], pipe_stdout: bool = False) -> tuple[list[str], str, str | None, int]:
    """(screen lines, raw terminal text, stdout if piped, exit code) of argv in a terminal."""
    run = run_in_pty(argv, ENV, cols=WIDE, pipe_stdout=pipe_stdout)
    return render(run.terminal, WIDE), run.terminal, run.stdout, run.returncode


def session_logs(ws: Path) -> list[Path]:
    return sorted((ws / "logs").glob("*.log"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A workspace with a Phase 1 session on 200 breast_cancer rows and a tuning grid file."""
    ws = tmp_path_factory.mktemp("console_ws")
    csv = ws / "cancer.csv"
    load_demo("breast_cancer").frame.sample(200, random_state=3).to_csv(csv, index=False)
    (ws / "grid.json").write_text(json.dumps(GRID))
    return ws, csv


def test_phase1_on_a_terminal_bar_and_lines_engine_output_in_the_log(tmp_path):
    screen, raw, _, code = pty_run(modeldev(
        "train", "--demo", "breast_cancer", "--workspace", str(tmp_path),
        "--frameworks", "sklearn_logistic_regression,tensorflow_nn", "--cv", "2", "--repeats", "1"))
    assert code == 0, "\n".join(screen)
    assert "\x1b[?25l" in raw  # rich hid the cursor: a live progress bar was drawn
    assert "━" in raw and "best f1_score" in raw
    assert screen[0].startswith("task: binary")
    assert screen[1].startswith("[1/2] sklearn_logistic_regression: done in")
    assert screen[2].startswith("[2/2] tensorflow_nn: done in")
    assert any(line.startswith("best: ") for line in screen)
    (log,) = session_logs(tmp_path)
    assert screen[-1] == f"log: {log}"
    text = log.read_text()
    assert "INFO mlflow.pyfunc: Validating input example against model signature" in text
    assert TF_CPP_LINE.search(text), text[:2000]  # TensorFlow's C++ start-up, from fd 2
    assert "INFO mlflow" not in raw and not TF_CPP_LINE.search(raw)
    assert len(screen) == 10, "\n".join(screen)  # task, 2 frameworks, 6 of summary, log


def test_tuning_on_a_terminal_is_a_bar_not_a_line_per_trial(workspace):
    ws, csv = workspace
    screen, raw, _, code = pty_run(modeldev(
        "tune", "--framework", "xgboost_baseline", "--data", str(csv), "--target", "target",
        "--grid", str(ws / "grid.json"), "--workspace", str(ws), "--workers", "2",
        "--cv", "5", "--repeats", "1"))
    assert code == 0, "\n".join(screen)
    assert screen[0] == "tuning xgboost_baseline: 8 combinations in 25 fits over 5 folds, " \
                        "2 workers, 0 already done"  # 4 staged groups and the baseline, 5 folds
    assert re.fullmatch(r"  8/8 done, 0 failed, best \d\.\d{4}, in \d+s", screen[1]), screen[1]
    assert screen[2].startswith("tuned xgboost_baseline: 8 of 8 combinations done, 0 failed")
    assert screen[-1].startswith("log: ")
    assert "INFO mlflow" not in raw
    assert len([line for line in screen if re.match(r"\s+\d+/8 done", line)]) == 1
    assert len(screen) <= 10, "\n".join(screen)  # header, final count, 6 of result, log


def test_quiet_prints_only_the_result_and_json_one_object(workspace):
    ws, csv = workspace
    common = ("--data", str(csv), "--target", "target", "--workspace", str(ws),
              "--frameworks", "sklearn_logistic_regression")
    screen, raw, _, code = pty_run(modeldev("train", *common, "--quiet"))
    assert code == 0 and "\x1b[?25l" not in raw
    assert screen[0].startswith("experiment ") and screen[-1].startswith("tracking: ")
    assert len(screen) == 5, "\n".join(screen)  # experiment, 1 run, best, artifacts, tracking

    screen, raw, stdout, code = pty_run(modeldev("train", *common, "--json"), pipe_stdout=True)
    assert code == 0, raw
    assert stdout is not None and stdout.count("\n") == 1
    assert json.loads(stdout)["best_model"]["name"] == "sklearn_logistic_regression"
    assert screen == []  # nothing on the terminal besides


def test_off_a_terminal_tuning_prints_a_line_every_few_seconds(workspace):
    ws, csv = workspace
    proc = subprocess.run(modeldev("tune", "--framework", "xgboost_baseline", "--data",
                                   str(csv), "--target", "target", "--grid",
                                   str(ws / "grid.json"), "--workspace", str(ws), "--cv", "3",
                                   "--repeats", "1"),
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("tuning xgboost_baseline: 8 combinations")
    progress = [line for line in lines if re.match(r"  \d+/8 done", line)]
    assert progress[-1].startswith("  8/8 done, 0 failed, best ")
    assert len(progress) < 8  # a line per trial only if each took LINE_INTERVAL_S
    assert "INFO mlflow" not in proc.stderr and "\x1b[" not in proc.stderr


def test_job_log_lines_from_real_events(workspace):
    """The printers as the job runner uses them (not a terminal), fed a real session's events."""
    ws, csv = workspace
    settings = resolve_settings(ws / "printers")
    events: list[dict] = []
    run_phase1(TrainRequest(source=load_table(csv), target="target", frameworks=[
        "sklearn_logistic_regression", "xgboost_baseline"], cv=2, repeats=2), settings,
        events.append)
    out = io.StringIO()
    printer = ProgressPrinter(out, interactive=False)
    for event in events:
        printer(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("task: binary (non-numeric target with 2 classes); 2 x 2-fold "
                        "cross-validation (80 train / 80 validation rows per fold), 40 test rows")
    # the two frameworks fit side by side, so their lines may interleave
    assert len(lines) == 5
    started = [line for line in lines if line.endswith(" on cpu ...")]
    assert {line.split()[1] for line in started} == {"sklearn_logistic_regression",
                                                     "xgboost_baseline"}
    assert sorted(line.split()[0] for line in started) == ["[1/2]", "[2/2]"]
    done = [line.split() for line in lines if line.startswith("    ")]
    assert sorted(d[0] for d in done) == ["sklearn_logistic_regression:", "xgboost_baseline:"]
    assert all(d[1:3] == ["done", "in"] and "f1_score=" in " ".join(d) for d in done)

    tune_events: list[dict] = []
    run_tuning(TuneRequest(framework="xgboost_baseline", source=load_table(csv), target="target",
                           grid=GRID, workers=1, cv=3, repeats=1), settings, tune_events.append)
    assert [e["done"] for e in tune_events if e["type"] == "trial_finished"][-1] == 8
    out = io.StringIO()
    tune = TuneProgress(out, interactive=False)
    for event in tune_events:
        tune(event)
    lines = out.getvalue().splitlines()
    # fed within LINE_INTERVAL_S: the header, the first progress line and the last one
    assert len(lines) == 3, lines
    assert lines[-1].startswith("  8/8 done, 0 failed, best ")


def test_durations_read_as_a_person_writes_them():
    assert [duration(s) for s in (None, 4.4, 65, 3725)] == ["-", "4s", "1m05s", "1h02m"]
