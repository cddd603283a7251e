"""The Tuning page resumes a cancelled tuning run as a job, with its trial time limit; each
combination ends with exactly one child."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from job_support import wait_for_job
from streamlit.testing.v1 import AppTest

from modeldev import events as ev
from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo
from modeldev.jobs import store as jobs
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest
from modeldev.ui import state as S

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
LR = "sklearn_logistic_regression"
GRID = {"C": [0.01, 0.1, 1.0, 10.0], "max_iter": [200, 400]}


def test_the_tuning_page_resumes_a_cancelled_tuning_run(settings, monkeypatch):
    phase1 = run_phase1(TrainRequest(source=load_demo("breast_cancer"), frameworks=[LR], cv=2,
                                     repeats=1),
                        settings)
    events: list[dict] = []
    with pytest.raises(ev.Cancelled):
        run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, grid=GRID, workers=1),
                   settings, on_event=events.append,
                   should_stop=lambda: sum(e["type"] == ev.TRIAL_FINISHED for e in events) >= 2)
    parent = next(e["parent_run_id"] for e in events if e["type"] == ev.SESSION_STARTED)
    tracker = Tracker(settings)
    assert tracker.get_run(parent).status == "KILLED"

    monkeypatch.setenv("MODELDEV_WORKSPACE", str(settings.workspace))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state[S.TUNE_TIMEOUT] = 120
    at.switch_page(S.PAGE_TUNING).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=S.TUNE_RESUME_PICK).value == parent
    at.button(key=S.TUNE_RESUME).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [job] = jobs.list_jobs(settings, owner=at.session_state[S.OWNER])
    spec = json.loads((jobs.job_dir(settings, job["job_id"]) / jobs.SPEC).read_text())
    assert spec["args"]["resume"] == parent and spec["args"]["trial_timeout"] == 120
    status = wait_for_job(settings, job["job_id"], timeout=240)
    assert status["state"] == "finished", status.get("error")
    assert status["result"]["parent_run_id"] == parent
    tracker = Tracker(resolve_settings(settings.workspace))
    assert tracker.get_run(parent).status == "FINISHED"
    hashes = [r.tags[T.COMBINATION_HASH] for r in tracker.child_runs(parent)
              if r.tags.get(T.KIND) == T.KIND_TRIAL]
    assert len(hashes) == len(set(hashes)) == 8  # every combination once
