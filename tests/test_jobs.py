"""Background jobs end to end: real child processes, real signals, a real MLflow SQLite store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from modeldev.config import Settings, resolve_settings
from modeldev.errors import InputError
from modeldev.jobs import files
from modeldev.jobs import store as jobs
from modeldev.jobs.store import (
    JobSpec,
    active_job,
    cancel,
    list_jobs,
    log_tail,
    read_events,
    read_status,
    submit,
    sweep_dead_jobs,
)
from modeldev.tracking.tracker import Tracker

ENV_VARS = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
            "MODELDEV_CONTEXT_PATH")
TRAIN_ARGS = {"demo": "breast_cancer", "frameworks": ["sklearn_logistic_regression"]}
# Enough combinations (one worker) that a job is still tuning when the test acts on it.
SLOW_GRID = {"C": [float(c) for c in np.logspace(-3, 3, 40)],
             "solver": ["lbfgs", "liblinear", "saga"]}
DEADLINE_S = 300.0  # a hang guard only: no test asserts on how long anything takes
TERMINAL = ("finished", "failed", "cancelled")


def wait_for_state(settings: Settings, job_id: str, sweep: bool = False) -> dict:
    """Poll until the job ends; on a hang, fail with the end of its log."""
    give_up = time.monotonic() + DEADLINE_S
    while time.monotonic() < give_up:
        if sweep:
            sweep_dead_jobs(settings)
        status = read_status(settings, job_id)
        if status["state"] in TERMINAL:
            return status
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not end:\n{log_tail(settings, job_id)}")


def wait_for_event(settings: Settings, job_id: str, kind: str) -> list[dict]:
    """Poll the job's events until one of type `kind` arrives; return all read so far."""
    seen: list[dict] = []
    offset, give_up = 0, time.monotonic() + DEADLINE_S
    while time.monotonic() < give_up:
        new, offset = read_events(settings, job_id, offset)
        seen += new
        if any(e["type"] == kind for e in seen):
            return seen
        if read_status(settings, job_id)["state"] in TERMINAL:
            break
        time.sleep(0.1)
    pytest.fail(f"no {kind} event from job {job_id}:\n{log_tail(settings, job_id)}")


def stop_leftovers(settings: Settings) -> None:
    """Kill what a failed test left running, so it does not eat the next tests' CPU."""
    for status in list_jobs(settings):
        if status["state"] in ("queued", "running") and jobs.is_alive(status):
            with contextlib.suppress(OSError):
                os.killpg(status["pid"], signal.SIGKILL)


def runs_in(settings: Settings, parent_run_id: str, status: str = "") -> list:
    """Runs of the parent's experiment, optionally only those with `status`."""
    tracker = Tracker(settings)
    experiment = tracker.get_run(parent_run_id).experiment_id
    where = f"attributes.status = '{status}'" if status else ""
    return tracker.search_runs([experiment], where)


def exit_code(job_id: str, settings: Settings) -> int:
    """The job process's exit code (it is a child of this test process)."""
    pid = read_status(settings, job_id)["pid"]
    child = next(c for c in jobs._children if c.pid == pid)  # noqa: SLF001 - the test's child
    return child.wait(timeout=DEADLINE_S)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with one finished Phase 1 job (its settings and job id)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        settings = resolve_settings(workspace=tmp_path_factory.mktemp("jobs_ws"))
        job_id = submit(JobSpec("train", TRAIN_ARGS, owner="fixture", label="baseline"),
                        settings)
        wait_for_state(settings, job_id)
        yield settings, job_id
        stop_leftovers(settings)


@pytest.fixture
def ws(settings):
    """A fresh workspace whose leftover jobs are killed at the end."""
    yield settings
    stop_leftovers(settings)


def start_slow_tuning(settings: Settings, train_job: str, owner: str) -> tuple[str, list]:
    """A one-worker tuning job over SLOW_GRID, returned once its first trial is logged."""
    parent = read_status(settings, train_job)["result"]["parent_run_id"]
    job_id = submit(JobSpec("tune", {"training_run_id": parent, "grid": SLOW_GRID,
                                     "framework": "sklearn_logistic_regression", "workers": 1},
                            owner=owner), settings)
    return job_id, wait_for_event(settings, job_id, "trial_finished")


@pytest.mark.slow
def test_train_job_finishes_with_events_in_order(trained):
    settings, job_id = trained
    status = read_status(settings, job_id)
    assert status["state"] == "finished", status
    assert set(status) >= {"job_id", "kind", "state", "pid", "owner", "label", "created_at",
                           "started_at", "ended_at", "error", "result"}
    assert (status["kind"], status["owner"], status["label"], status["error"]) == (
        "train", "fixture", "baseline", None)
    assert status["created_at"] <= status["started_at"] <= status["ended_at"]
    events, offset = read_events(settings, job_id)
    kinds = [e["type"] for e in events]
    assert [k for k in kinds if k != "fold_finished"] == [
        "session_started", "framework_started", "framework_finished", "session_finished",
        "job_ended"]
    assert {k: events[-1][k] for k in ("state", "error", "result")} == {
        "state": "finished", "error": None, "result": status["result"]}
    folds = events[0]["cv_folds"] * events[0]["repeats"]  # R x K fold scores
    assert folds >= 2 and kinds.count("fold_finished") == folds
    assert kinds.index("framework_finished") > max(i for i, k in enumerate(kinds)
                                                   if k == "fold_finished")
    assert offset == (jobs.job_dir(settings, job_id) / files.EVENTS).stat().st_size
    assert read_events(settings, job_id, offset) == ([], offset)
    result = status["result"]
    assert result["parent_run_id"] == events[0]["parent_run_id"]
    assert [r["status"] for r in result["runs"]] == ["FINISHED"]
    assert Tracker(settings).get_run(result["parent_run_id"]).status == "FINISHED"
    assert "[1/1] sklearn_logistic_regression on cpu" in log_tail(settings, job_id)
    assert [j["job_id"] for j in list_jobs(settings, owner="fixture")] == [job_id]
    assert active_job(settings, owner="fixture") is None


@pytest.mark.slow
def test_tune_job_after_training(trained):
    settings, train_job = trained
    parent = read_status(settings, train_job)["result"]["parent_run_id"]
    job_id = submit(JobSpec("tune", {"training_run_id": parent, "grid": {"C": [0.1, 1.0]},
                                     "framework": "sklearn_logistic_regression", "workers": 1},
                            owner="tuner", label="C only"), settings)
    status = wait_for_state(settings, job_id)
    assert status["state"] == "finished", (status, log_tail(settings, job_id))
    types = [e["type"] for e in read_events(settings, job_id)[0]]
    assert types == ["session_started", "trial_finished", "trial_finished", "session_finished",
                     "job_ended"]
    result = status["result"]
    assert (result["n_combinations"], result["n_completed"], result["n_failed"]) == (2, 2, 0)
    trials = [r for r in Tracker(settings).child_runs(result["parent_run_id"])
              if r.tags.get("modeldev.kind") == "tuning_trial"]
    assert sorted(r.status for r in trials) == ["FINISHED", "FINISHED"]
    assert list_jobs(settings, kind="tune")[0]["job_id"] == job_id


@pytest.mark.slow
def test_cancel_during_tuning_ends_runs_killed(trained):
    settings, train_job = trained
    job_id, events = start_slow_tuning(settings, train_job, owner="canceller")
    assert read_status(settings, job_id)["state"] == "running"
    assert cancel(settings, job_id) is True
    assert cancel(settings, job_id) is True  # still stopping: asked again, no second signal
    status = wait_for_state(settings, job_id)
    assert (status["state"], status["error"]) == ("cancelled", None), log_tail(settings, job_id)
    assert exit_code(job_id, settings) == 128 + signal.SIGTERM
    assert cancel(settings, job_id) is False
    types = [e["type"] for e in read_events(settings, job_id)[0]]
    assert "session_finished" not in types
    parent = events[0]["parent_run_id"]
    assert Tracker(settings).get_run(parent).status == "KILLED"
    assert runs_in(settings, parent, "RUNNING") == []
    assert 0 < types.count("trial_finished") < events[0]["total"]


@pytest.mark.slow
def test_killed_job_is_swept_failed_with_runs_killed(trained):
    settings, train_job = trained
    job_id, events = start_slow_tuning(settings, train_job, owner="victim")
    status = read_status(settings, job_id)
    os.kill(status["pid"], signal.SIGKILL)
    give_up = time.monotonic() + DEADLINE_S
    while jobs.is_alive(status) and time.monotonic() < give_up:
        time.sleep(0.1)
    parent = events[0]["parent_run_id"]
    assert read_status(settings, job_id)["state"] == "running"  # nobody wrote its end
    assert runs_in(settings, parent, "RUNNING") != []
    assert sweep_dead_jobs(settings) == 1
    status = read_status(settings, job_id)
    assert (status["state"], status["error"]) == ("failed", "the job process died")
    assert Tracker(settings).get_run(parent).status == "KILLED"
    assert runs_in(settings, parent, "RUNNING") == []
    assert sweep_dead_jobs(settings) == 0


def test_cancel_right_after_submit(ws):
    job_id = submit(JobSpec("train", TRAIN_ARGS, owner="hasty"), ws)
    assert cancel(ws, job_id) is True
    status = wait_for_state(ws, job_id, sweep=True)  # killed before its handlers: the sweep
    assert status["state"] == "cancelled", (status, log_tail(ws, job_id))
    assert active_job(ws, owner="hasty") is None


def test_duplicate_submit_refused_while_running(ws):
    first = submit(JobSpec("train", TRAIN_ARGS, owner="alice"), ws)
    with pytest.raises(InputError) as err:
        submit(JobSpec("train", TRAIN_ARGS, owner="alice"), ws)
    assert str(err.value) == f"A training job is already running for this session: {first}."
    assert [j["job_id"] for j in list_jobs(ws)] == [first]
    assert active_job(ws, owner="alice", kind="train")["job_id"] == first
    assert active_job(ws, owner="alice", kind="tune") is None
    cancel(ws, first)
    assert wait_for_state(ws, first, sweep=True)["state"] == "cancelled"
    second = submit(JobSpec("train", TRAIN_ARGS, owner="alice"), ws)
    assert second != first
    cancel(ws, second)
    assert wait_for_state(ws, second, sweep=True)["state"] == "cancelled"


@pytest.mark.slow
def test_two_owners_train_at_the_same_time(ws):
    ids = [submit(JobSpec("train", TRAIN_ARGS, owner=owner), ws) for owner in ("ann", "bo")]
    statuses = [wait_for_state(ws, job_id) for job_id in ids]
    for job_id, status in zip(ids, statuses, strict=True):
        log = (jobs.job_dir(ws, job_id) / jobs.LOG).read_text()
        assert status["state"] == "finished", log[-3000:]
        assert "database is locked" not in log
    parents = [s["result"]["parent_run_id"] for s in statuses]
    assert parents[0] != parents[1]
    tracker = Tracker(ws)
    for status, parent in zip(statuses, parents, strict=True):
        children = [r.run_id for r in tracker.child_runs(parent)]
        assert children == [r["run_id"] for r in status["result"]["runs"]]
    assert [j["owner"] for j in list_jobs(ws)] == ["bo", "ann"]


def test_bad_input_fails_with_one_sentence(ws, tmp_path):
    missing = tmp_path / "nope.csv"
    job_id = submit(JobSpec("train", {"data": str(missing), "target": "y"}, owner="o"), ws)
    status = wait_for_state(ws, job_id)
    assert (status["state"], status["result"]) == ("failed", None)
    assert status["error"] == f"Could not read {missing}: no such file."
    assert exit_code(job_id, ws) == 2
    assert "Traceback" in log_tail(ws, job_id)


def test_submit_refuses_bad_specs_without_starting(ws):
    with pytest.raises(InputError, match="valid kinds are: train, tune"):
        submit(JobSpec("deploy", {}), ws)
    with pytest.raises(InputError, match=r"argument\(s\): frameworkz; valid ones are: .*demo"):
        submit(JobSpec("train", {"demo": "wine", "frameworkz": []}), ws)
    with pytest.raises(InputError, match="plain JSON values"):
        submit(JobSpec("tune", {"grid": {"C": [float("nan")]}}), ws)
    with pytest.raises(InputError, match="is not a job id"):
        jobs.job_dir(ws, "../escape")
    with pytest.raises(InputError, match="There is no job"):
        read_status(ws, "20260101-000000-00000000")
    assert list_jobs(ws) == [] and active_job(ws) is None


def test_read_events_waits_for_a_complete_last_line(ws):
    folder = ws.jobs_dir / "handmade"
    folder.mkdir(parents=True)
    first = json.dumps({"type": "session_started", "note": "é"}) + "\n"
    second = json.dumps({"type": "trial_finished", "done": 1}) + "\n"
    third = json.dumps({"type": "session_finished"})
    path = folder / files.EVENTS
    path.write_bytes((first + second + third[:7]).encode())
    events, offset = read_events(ws, "handmade")
    assert [e["type"] for e in events] == ["session_started", "trial_finished"]
    assert events[0]["note"] == "é"
    assert offset == len((first + second).encode())
    assert read_events(ws, "handmade", offset) == ([], offset)
    with open(path, "ab") as fh:
        fh.write((third[7:] + "\n{not json}\n").encode())
    events, end = read_events(ws, "handmade", offset)
    assert [e["type"] for e in events] == ["session_finished"]
    assert end == path.stat().st_size
    assert read_events(ws, "missing", 0) == ([], 0)


def test_log_tail_gives_the_last_lines(ws):
    folder = ws.jobs_dir / "logged"
    folder.mkdir(parents=True)
    (folder / jobs.LOG).write_text("".join(f"line {i} " + "x" * 300 + "\n" for i in range(500)))
    tail = log_tail(ws, "logged", 3).splitlines()
    assert [t.split()[1] for t in tail] == ["497", "498", "499"]
    assert log_tail(ws, "absent") == ""


@pytest.mark.slow
def test_job_outlives_the_process_that_submitted_it(ws):
    code = ("import sys; from modeldev.config import resolve_settings; "
            "from modeldev.jobs.store import JobSpec, submit; "
            f"print(submit(JobSpec('train', {TRAIN_ARGS!r}, owner='gone'), "
            "resolve_settings(sys.argv[1])))")
    proc = subprocess.run([sys.executable, "-c", code, str(ws.workspace)], capture_output=True,
                          text=True, timeout=DEADLINE_S, env={
                              k: v for k, v in os.environ.items() if k not in ENV_VARS})
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    assert read_status(ws, job_id)["state"] in ("queued", "running")
    status = wait_for_state(ws, job_id)
    assert status["state"] == "finished", log_tail(ws, job_id)
    assert status["result"]["runs"][0]["status"] == "FINISHED"


def modeldev_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modeldev.cli", "jobs", *args],
                          capture_output=True, text=True, timeout=DEADLINE_S)


@pytest.mark.slow
def test_jobs_cli(trained):
    settings, job_id = trained
    where = ["--workspace", str(settings.workspace)]
    listed = json.loads(modeldev_cli("list", "--json", *where).stdout)["jobs"]
    assert job_id in [j["job_id"] for j in listed]
    shown = modeldev_cli("show", job_id, "--json", *where)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["state"], body["events"][-1]["type"]) == ("finished", "job_ended")
    text = modeldev_cli("show", job_id, *where).stdout
    assert "state: finished" in text and "session_finished" in text
    refused = modeldev_cli("cancel", job_id, *where)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f"modeldev: error: Job {job_id} is not running "
                                      "(finished); nothing to cancel.")
    assert modeldev_cli("show", "../x", *where).returncode == 2
    swept = modeldev_cli("sweep", "--json", *where)
    assert swept.returncode == 0 and json.loads(swept.stdout)["swept"] == 0
    assert Path(settings.jobs_dir / job_id / jobs.SPEC).exists()


def _wait_until_running(settings: Settings, job_id: str) -> dict:
    give_up = time.monotonic() + DEADLINE_S
    while time.monotonic() < give_up:
        status = read_status(settings, job_id)
        if status["state"] != "queued":
            return status
        time.sleep(0.05)
    pytest.fail(f"job {job_id} never started:\n{log_tail(settings, job_id)}")


def test_a_failed_final_status_write_is_not_taken_for_a_dead_job(ws):
    """The job's status.lock is made a directory while it runs: its last status write fails for
    real. The job says so in job.log and exits 1; its outcome, appended to events.jsonl first,
    is what a sweep records once the folder is writable again, not "the job process died"."""
    job_id = submit(JobSpec("train", TRAIN_ARGS, owner="unlucky"), ws)
    folder = jobs.job_dir(ws, job_id)
    assert _wait_until_running(ws, job_id)["state"] == "running"
    lock = folder / "status.lock"
    lock.unlink()
    lock.mkdir()  # every status write (they all take this lock) now fails: EISDIR
    assert exit_code(job_id, ws) == 1
    status = read_status(ws, job_id)
    assert status["state"] == "running" and not jobs.is_alive(status)  # nobody wrote its end
    assert "ended finished, but could not write status.json (IsADirectoryError" in \
        log_tail(ws, job_id)
    ended = read_events(ws, job_id)[0][-1]
    assert (ended["type"], ended["state"], ended["error"]) == ("job_ended", "finished", None)
    assert sweep_dead_jobs(ws) == 0  # still unwritable: left for a later sweep, no crash
    lock.rmdir()
    assert sweep_dead_jobs(ws) == 1
    status = read_status(ws, job_id)
    assert (status["state"], status["error"]) == ("finished", None)
    assert status["result"] == ended["result"] and status["ended_at"] == ended["ended_at"]
    assert Tracker(ws).get_run(status["result"]["parent_run_id"]).status == "FINISHED"


_WRITER = """
import sys
from pathlib import Path
from modeldev.jobs.files import append_event
folder, who, n, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    append_event(folder, {"type": "bulk", "who": who, "i": i, "pad": f"{who}{i:06d}" * size})
"""


def test_a_reader_never_sees_half_an_event_while_writers_append(tmp_path):
    """Four processes append 4 kB events while this one polls: every event read is whole and in
    its writer's order, none is lost, and the file holds only whole lines. (Tried: writing each
    line in two write() calls fails this, with some 300 of the 8,000 lines interleaved.)"""
    n, size, names = 2000, 400, ("a", "b", "c", "d")  # 10 characters x 400: 4 kB a line
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), who, str(n),
                                 str(size)]) for who in names]
    seen: dict[str, list[int]] = {who: [] for who in names}
    offset, polls, waiting = 0, 0, 0
    try:
        while True:
            done = all(w.poll() is not None for w in writers)
            events, offset = files.read_events(tmp_path, offset)
            polls += 1
            size_now = (tmp_path / files.EVENTS).stat().st_size if offset else 0
            waiting += size_now > offset  # a line was being written: its end not there yet
            for event in events:
                who, i = event["who"], event["i"]
                assert event["pad"] == f"{who}{i:06d}" * size
                seen[who].append(i)
            if done:
                break
            time.sleep(0.002)
    finally:
        for w in writers:
            w.wait(timeout=DEADLINE_S)
    assert [w.returncode for w in writers] == [0] * len(names)
    assert seen == {who: list(range(n)) for who in names}
    raw = (tmp_path / files.EVENTS).read_bytes()
    assert raw.endswith(b"\n") and len(raw.splitlines()) == len(names) * n
    assert all(json.loads(line)["type"] == "bulk" for line in raw.splitlines())
    print(f"{polls} polls, {waiting} of them with a line still being written")


def _foreign_job(settings: Settings, job_id: str, beat_age_s: float) -> Path:
    """A running job as another host wrote it into a shared workspace: its pid means nothing here
    (it is this test's own pid, so a local pid test would call it alive)."""
    folder = settings.jobs_dir / job_id
    folder.mkdir(parents=True)
    (folder / jobs.STATUS).write_text(json.dumps({
        "job_id": job_id, "kind": "train", "state": "running", "pid": os.getpid(),
        "host": "other-container-9a", "owner": "remote", "created_at": 1.0}))
    files.beat(folder, time.time() - beat_age_s)
    return folder


def test_a_job_of_another_host_lives_while_its_heartbeat_is_fresh(ws):
    folder = _foreign_job(ws, "20260101-000000-0000beef", beat_age_s=1.0)
    assert sweep_dead_jobs(ws) == 0
    assert active_job(ws, owner="remote")["job_id"] == folder.name
    with pytest.raises(jobs.ModeldevError) as err:
        cancel(ws, folder.name)
    assert str(err.value) == f"Job {folder.name} runs on host other-container-9a; cancel it there."
    assert not (folder / jobs.CANCEL_MARK).exists()
    files.beat(folder, time.time() - ws.heartbeat_grace_s - 1)  # its process stopped beating
    assert sweep_dead_jobs(ws) == 1
    status = read_status(ws, folder.name)
    assert (status["state"], status["error"]) == ("failed", "the job process died")


def test_a_local_job_records_its_host_and_beats(trained):
    settings, job_id = trained
    status = read_status(settings, job_id)
    assert status["host"] == socket.gethostname()
    beat = float(files.last_beat(jobs.job_dir(settings, job_id)))
    assert status["created_at"] <= beat <= status["ended_at"]
