"""Liveness that survives a new container: a RUNNING run's heartbeat tells any host whether
its process lives (docs/architecture.md, "Reliability"). Real owner processes, a real store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from modeldev.config import resolve_settings
from modeldev.errors import InputError
from modeldev.liveness import Heartbeat
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker

BEAT_S, GRACE_S = 0.2, 2.0
# A process that owns one RUNNING run: "live" keeps running (and beating), "exit" dies at once
# without ending it, as a container that disappears would.
OWNER = """
import os, sys, time
from modeldev.config import resolve_settings
from modeldev.tracking.tracker import Tracker
tracker = Tracker(resolve_settings(sys.argv[1]))
run_id = tracker.start_run(tracker.experiment_id("owners"), "owner")
print(run_id, flush=True)
if sys.argv[2] == "exit":
    os._exit(0)
time.sleep(300)
"""


@pytest.fixture
def beating(tmp_path, monkeypatch):
    """Settings with a short heartbeat, set through the environment as a deployment would."""
    for name in ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELDEV_HEARTBEAT_S", str(BEAT_S))
    monkeypatch.setenv("MODELDEV_HEARTBEAT_GRACE_S", str(GRACE_S))
    settings = resolve_settings(tmp_path)
    assert (settings.heartbeat_s, settings.heartbeat_grace_s) == (BEAT_S, GRACE_S)
    return settings


def _owner(settings, mode: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(settings.workspace), mode],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _status(tracker: Tracker, run_id: str) -> str:
    return tracker.get_run(run_id).status


def test_a_foreign_run_lives_while_it_beats_and_is_swept_once_it_stops(beating):
    tracker = Tracker(beating)
    proc, run_id = _owner(beating, "live")
    try:
        tracker.set_tags(run_id, {T.HOST: "old-container-1f2e"})  # as seen from a new container
        time.sleep(2 * GRACE_S)  # a heartbeat nobody refreshed would be stale by now
        experiments = tracker.experiment_ids()
        assert tracker.sweep_stale_runs(experiments) == 0
        assert _status(tracker, run_id) == "RUNNING"
        beat = float(tracker.get_run(run_id).tags[T.HEARTBEAT])
        assert time.time() - beat < GRACE_S  # refreshed by the live process
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert tracker.sweep_stale_runs(experiments) == 0  # just died: still within the grace
    time.sleep(GRACE_S + 0.5)
    assert tracker.sweep_stale_runs(experiments) == 1
    assert _status(tracker, run_id) == "KILLED"


def test_a_run_without_a_heartbeat_is_judged_only_on_its_host(beating):
    """Runs written before heartbeats existed: the pid test, and only where the pid means it."""
    tracker = Tracker(beating)
    proc, run_id = _owner(beating, "exit")
    proc.wait(timeout=30)
    tracker.set_tags(run_id, {T.HOST: "another-machine", T.HEARTBEAT: ""})
    time.sleep(GRACE_S + 0.5)
    experiments = tracker.experiment_ids()
    assert tracker.sweep_stale_runs(experiments) == 0  # cannot tell from here: left alone
    tracker.set_tags(run_id, {T.HOST: socket.gethostname()})
    assert tracker.sweep_stale_runs(experiments) == 1  # this host: its pid is gone
    assert _status(tracker, run_id) == "KILLED"


def test_a_dead_process_on_this_host_is_swept_without_waiting_for_the_grace(beating):
    tracker = Tracker(beating)
    proc, run_id = _owner(beating, "exit")
    proc.wait(timeout=30)
    assert tracker.sweep_stale_runs(tracker.experiment_ids()) == 1
    assert _status(tracker, run_id) == "KILLED"


@pytest.mark.parametrize(("beat", "grace", "problem"), [
    ("0", "90", "MODELDEV_HEARTBEAT_S must be a positive number of seconds, got '0'."),
    ("15", "soon", "MODELDEV_HEARTBEAT_GRACE_S must be a positive number of seconds, got "
                   "'soon'."),
    ("15", "20", "MODELDEV_HEARTBEAT_GRACE_S (20 s) must be at least twice MODELDEV_HEARTBEAT_S "
                 "(15 s), or live runs would be swept."),
])
def test_heartbeat_settings_are_checked(tmp_path, monkeypatch, beat, grace, problem):
    monkeypatch.setenv("MODELDEV_HEARTBEAT_S", beat)
    monkeypatch.setenv("MODELDEV_HEARTBEAT_GRACE_S", grace)
    with pytest.raises(InputError) as err:
        resolve_settings(tmp_path)
    assert str(err.value) == problem


def test_a_job_spec_carries_the_heartbeat_settings(beating):
    again = type(beating).from_dict(beating.to_dict())
    assert (again.heartbeat_s, again.heartbeat_grace_s) == (BEAT_S, GRACE_S)
    older = {k: v for k, v in beating.to_dict().items() if not k.startswith("heartbeat")}
    assert type(beating).from_dict(older).heartbeat_grace_s == 90.0


def test_a_failing_beat_does_not_stop_the_others_and_a_removed_one_stops():
    heart, seen = Heartbeat(), []

    def unreachable_store(now: float) -> None:
        raise OSError("the store is away")

    heart.add("broken", unreachable_store, 0.05)
    heart.add("fine", seen.append, 0.05)
    time.sleep(0.6)
    assert len(seen) >= 3 and seen == sorted(seen)
    heart.remove("fine")
    time.sleep(0.1)  # a beat already under way may still land
    count = len(seen)
    time.sleep(0.4)
    assert len(seen) == count and heart.keys() == ["broken"]
