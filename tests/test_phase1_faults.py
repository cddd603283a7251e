"""Phase 1 under faults made for real: a fit process that aborts, one that runs out of the memory
its process may map, one that hangs past --framework-timeout; then resuming a cancelled session
(engine, CLI, Training page) and the resume lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from faulty_frameworks import FAULTY, SleeperAdapter
from job_support import wait_for_job
from streamlit.testing.v1 import AppTest

from modeldev import events as ev
from modeldev.config import resolve_settings
from modeldev.data.loading import Source, load_demo
from modeldev.errors import InputError
from modeldev.frameworks import registry
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter
from modeldev.jobs import store as jobs
from modeldev.locks import resume_lock
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import resume_phase1, run_phase1
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker
from modeldev.ui import state as S

pytestmark = pytest.mark.slow
LR, RF = "sklearn_logistic_regression", "sklearn_random_forest"
ROOT = Path(__file__).resolve().parents[1]


class Recovered(LogisticRegressionAdapter):
    """The hung framework, fixed: a plain logistic regression under the sleeper's name."""

    name = SleeperAdapter.name


def _small_demo() -> Source:
    return load_demo("breast_cancer")


def _children(tracker: Tracker, parent: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in tracker.child_runs(parent):
        out.setdefault(run.tags.get(T.FRAMEWORK, ""), []).append(run)
    return out


def _stop_after(framework: str, events: list[dict]):
    """A should_stop that turns true once `framework` has finished (a cancel mid-session)."""
    return lambda: any(e["type"] == ev.FRAMEWORK_FINISHED and e["framework"] == framework
                       for e in events)


def test_a_crash_an_out_of_memory_fit_and_a_hang_each_fail_alone(settings, monkeypatch):
    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS, *FAULTY))
    request = TrainRequest(source=_small_demo(), frameworks=[LR, *(a.name for a in FAULTY)],
                           cv=2, repeats=1, workers=2, framework_timeout=8)
    events: list[dict] = []
    result = run_phase1(request, settings, on_event=events.append)

    runs = {r.name: r for r in result.runs}
    assert runs[LR].status == "FINISHED" and result.best is not None and result.best.name == LR
    assert "SIGABRT" in runs["aborts"].error, runs["aborts"].error
    assert "MemoryError" in runs["memory_hog"].error, runs["memory_hog"].error
    assert "timed out after 8 s" in runs["sleeper"].error, runs["sleeper"].error
    tracker = Tracker(settings)
    assert tracker.get_run(result.parent_run_id).status == "FINISHED"
    stored = {name: [r.status for r in rs] for name, rs in
              _children(tracker, result.parent_run_id).items()}
    assert stored == {LR: ["FINISHED"], "aborts": ["FAILED"], "memory_hog": ["FAILED"],
                      "sleeper": ["FAILED"]}
    assert tracker.get_run(runs["sleeper"].run_id).tags[T.ERROR].startswith("timed out")
    failed = [e["framework"] for e in events if e["type"] == ev.FRAMEWORK_FAILED]
    assert sorted(failed) == ["aborts", "memory_hog", "sleeper"]  # each reported once


def test_a_cancelled_session_resumes_with_only_its_missing_framework(settings, monkeypatch):
    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS, SleeperAdapter()))
    events: list[dict] = []
    request = TrainRequest(source=_small_demo(), frameworks=[LR, "sleeper"], cv=2, repeats=1,
                           workers=2)
    with pytest.raises(ev.Cancelled):
        run_phase1(request, settings, on_event=events.append,
                   should_stop=_stop_after(LR, events))
    parent = next(e["parent_run_id"] for e in events if e["type"] == ev.SESSION_STARTED)
    tracker = Tracker(settings)
    assert tracker.get_run(parent).status == "KILLED"
    lr_run = _children(tracker, parent)[LR][0]
    assert lr_run.status == "FINISHED"

    with pytest.raises(InputError, match="differs from the data"):
        resume_phase1(parent, settings, Source(_small_demo().frame.head(300), "x", "target"))

    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS[:-1], Recovered()))
    resumed: list[dict] = []
    result = resume_phase1(parent, settings, on_event=resumed.append)
    assert result.parent_run_id == parent and tracker.get_run(parent).status == "FINISHED"
    started = [e["framework"] for e in resumed if e["type"] == ev.FRAMEWORK_STARTED]
    assert started == ["sleeper"]  # the finished framework was not fitted again
    assert [e["resumed"] for e in resumed if e["type"] == ev.SESSION_STARTED] == [[LR]]
    children = _children(tracker, parent)
    assert [r.run_id for r in children[LR]] == [lr_run.run_id]
    assert [r.status for r in children["sleeper"]] == ["FINISHED"]  # the killed run replaced
    assert {r.name for r in result.runs} == {LR, "sleeper"}
    assert result.runs[0].cv[result.primary_metric].folds == \
        [lr_run.metrics[f"{result.primary_metric}_fold{j}"] for j in (1, 2)]
    rows = json.loads((result.artifacts_dir / "all_models_metrics.json").read_text())
    assert {r["name"] for r in rows} == {LR, "sleeper"}


def test_a_second_resume_of_one_session_is_refused_while_the_first_holds_it(settings):
    parent = _cancelled_lr_rf_session(settings)
    with resume_lock(settings.workspace, parent), \
            pytest.raises(InputError, match="already being resumed"):
        resume_phase1(parent, settings)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from modeldev.locks import resume_lock\n"
        "with resume_lock(Path(sys.argv[1]), sys.argv[2]):\n"
        "    print('held', flush=True); time.sleep(60)"), str(settings.workspace), parent],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match="already being resumed"):
            resume_phase1(parent, settings)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with resume_lock(settings.workspace, parent):  # the lock died with its process
        pass
    assert Tracker(settings).get_run(parent).status == "KILLED"  # the refusals changed nothing


def _cancelled_lr_rf_session(settings) -> str:
    events: list[dict] = []
    with pytest.raises(ev.Cancelled):
        run_phase1(TrainRequest(source=_small_demo(), frameworks=[LR, RF], cv=2, repeats=1,
                                workers=1),
                   settings, on_event=events.append, should_stop=_stop_after(LR, events))
    return next(e["parent_run_id"] for e in events if e["type"] == ev.SESSION_STARTED)


def test_modeldev_train_resume_finishes_a_cancelled_session(settings):
    parent = _cancelled_lr_rf_session(settings)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "modeldev.cli", "train", "--resume", parent,
                           "--workspace", str(settings.workspace), "--json", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["parent_run_id"] == parent
    assert {r["name"]: r["status"] for r in summary["runs"]} == {LR: "FINISHED", RF: "FINISHED"}
    again = subprocess.run([sys.executable, "-m", "modeldev.cli", "train", "--workspace",
                            str(settings.workspace)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert again.returncode != 0 and "--resume" in again.stderr  # no data and no --resume


def test_the_training_page_resumes_a_cancelled_session(settings, monkeypatch):
    parent = _cancelled_lr_rf_session(settings)
    monkeypatch.setenv("MODELDEV_WORKSPACE", str(settings.workspace))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.switch_page(S.PAGE_TRAINING).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=S.TRAIN_RESUME_PICK).value == parent
    at.button(key=S.TRAIN_RESUME).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [job] = jobs.list_jobs(settings, owner=at.session_state[S.OWNER])
    assert job["kind"] == "train"
    status = wait_for_job(settings, job["job_id"], timeout=240)
    assert status["state"] == "finished", status.get("error")
    assert status["result"]["parent_run_id"] == parent
    tracker = Tracker(resolve_settings(settings.workspace))
    assert tracker.get_run(parent).status == "FINISHED"
    assert sorted(_children(tracker, parent)) == [LR, RF]
