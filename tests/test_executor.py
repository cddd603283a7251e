"""The trial executor: local process pool and Dask (docs/architecture.md, "Reliability").

Real processes and a real `distributed.LocalCluster`; the worker functions live in
tests/executor_workers.py so that spawned processes can import them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from executor_workers import CountingShared, compute, file_of, unpicklable, whoami

from modeldev.errors import InputError
from modeldev.execution.common import TaskOutcome, TrialTask, default_workers, thread_caps
from modeldev.execution.dask import run_dask
from modeldev.execution.local import run_local
from modeldev.execution.start import START_VARIABLE, start_worker_server

SHARED = CountingShared([1, 2, 3])
LONG = 60.0  # a "stuck" task: every test that has one must end far sooner


def _tasks(*payloads: dict) -> list[TrialTask]:
    return [TrialTask(f"t{i}", payload) for i, payload in enumerate(payloads)]


def _by_key(outcomes: list[TaskOutcome]) -> dict[str, TaskOutcome]:
    keys = [o.key for o in outcomes]
    assert len(keys) == len(set(keys)), f"a task was reported twice: {keys}"
    return {o.key: o for o in outcomes}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_worker(process: psutil.Process) -> bool:
    """A spawned worker, or one forked by the fork server (not the server, not the tracker)."""
    if "spawn_main" in " ".join(process.cmdline()):
        return True
    parent = process.parent()
    return parent is not None and "multiprocessing.forkserver" in " ".join(parent.cmdline())


def _spawned_children() -> set[int]:
    """Live worker processes among the descendants of this process."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if _alive(child.pid) and _is_worker(child):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture
def no_leftover_workers():
    """Fails the test if it leaves a spawned worker process alive."""
    before = _spawned_children()
    yield
    assert _spawned_children() - before == set()


# ---------------------------------------------------------------- local pool


def test_all_tasks_complete_with_correct_results(no_leftover_workers):
    tasks = _tasks(*({"x": x} for x in range(6)))
    outcomes = _by_key(list(run_local(tasks, compute, SHARED, workers=2, threads_per_worker=1)))
    assert set(outcomes) == {t.key for t in tasks}
    for task in tasks:
        outcome = outcomes[task.key]
        assert outcome.error is None and not outcome.timed_out
        assert outcome.result == {"x": task.payload["x"], "value": 6 * task.payload["x"]}
        assert outcome.seconds >= 0


def test_shared_is_unpickled_once_per_worker_process(no_leftover_workers):
    tasks = _tasks(*({"seconds": 0.05} for _ in range(6)))
    results = [o.result for o in run_local(tasks, whoami, SHARED, workers=2,
                                           threads_per_worker=1)]
    pids = {r["pid"] for r in results}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    # 6 tasks on at most 2 processes: some process ran 3 or more, and still loaded shared once
    assert max(sum(r["pid"] == pid for r in results) for pid in pids) >= 3
    assert [r["loads"] for r in results] == [1] * 6


def test_a_raising_task_is_an_error_outcome_and_the_others_finish(no_leftover_workers):
    tasks = _tasks({"x": 1}, {"op": "raise", "x": 7}, {"x": 2}, {"x": 3})
    outcomes = _by_key(list(run_local(tasks, compute, SHARED, workers=2, threads_per_worker=1)))
    failed = outcomes["t1"]
    assert failed.error == "ValueError: bad value 7" and failed.result is None
    assert "raise ValueError" in failed.traceback and not failed.timed_out
    assert [outcomes[k].result["value"] for k in ("t0", "t2", "t3")] == [6, 12, 18]


def test_an_unpicklable_result_is_an_error_outcome(no_leftover_workers):
    outcomes = list(run_local(_tasks({}, {}), unpicklable, None, workers=1,
                              threads_per_worker=1))
    assert len(outcomes) == 2
    assert all(o.error.startswith("The result could not be sent back") for o in outcomes)


def test_a_task_past_its_timeout_is_killed_and_the_rest_complete(no_leftover_workers):
    # one worker: the rest can only finish if the stuck one is killed and replaced
    tasks = _tasks({"op": "sleep", "seconds": LONG, "x": 1}, {"x": 1}, {"x": 2})
    start = time.monotonic()
    outcomes = _by_key(list(run_local(tasks, compute, SHARED, workers=1, threads_per_worker=1,
                                      timeout=1.0)))
    assert time.monotonic() - start < LONG / 2
    stuck = outcomes["t0"]
    assert stuck.timed_out and stuck.error == "timed out after 1 s" and stuck.result is None
    assert stuck.seconds >= 1.0
    assert [outcomes[k].result["value"] for k in ("t1", "t2")] == [6, 12]
    assert not outcomes["t1"].timed_out


def test_a_dying_worker_is_reported_and_replaced(no_leftover_workers):
    tasks = _tasks({"op": "exit", "code": 3, "x": 1}, {"x": 1}, {"x": 2})
    outcomes = _by_key(list(run_local(tasks, compute, SHARED, workers=1, threads_per_worker=1)))
    assert outcomes["t0"].error == "worker process died (exit code 3)"
    assert [outcomes[k].result["value"] for k in ("t1", "t2")] == [6, 12]


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_worker_has_the_thread_caps_before_its_imports_and_the_drivers_cores_and_stdout(
        no_leftover_workers, monkeypatch, method):
    monkeypatch.setenv(START_VARIABLE, method)
    driver_omp = os.environ.get("OMP_NUM_THREADS")
    start_worker_server()  # its BLAS loaded with 1 thread: a forked worker must raise it to 3
    own_cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if own_cores:  # the driver's cores now, not the server's when it started
        os.sched_setaffinity(0, {min(own_cores)})
    try:
        [outcome] = run_local(_tasks({}), whoami, SHARED, workers=1, threads_per_worker=3)
    finally:
        if own_cores:
            os.sched_setaffinity(0, own_cores)
    result = outcome.result
    assert result["omp"] == result["mkl"] == "3"
    assert result["omp_at_import"] == "3"  # set when the worker_fn module was imported
    if method == "forkserver":  # the server's BLAS, loaded with 1 thread, raised to the cap
        assert result["pools"] and set(result["pools"].values()) == {3}, result["pools"]
    elif sys.platform == "linux":  # in the environment the interpreter started with
        assert result["omp_at_exec"] == "3"
    assert result["stdout"] == file_of(1)  # the driver's stdout as it is now (pytest's capture)
    if own_cores:
        assert result["cores"] == [min(own_cores)]
    assert os.environ.get("OMP_NUM_THREADS") == driver_omp  # the driver's own env is untouched
    assert thread_caps(2)["OPENBLAS_NUM_THREADS"] == "2"


def test_should_stop_ends_early_and_kills_the_workers(no_leftover_workers):
    tasks = _tasks({"x": 1}, *({"op": "sleep", "seconds": LONG, "x": 1} for _ in range(3)))
    seen: list[TaskOutcome] = []
    start = time.monotonic()
    for outcome in run_local(tasks, compute, SHARED, workers=2, threads_per_worker=1,
                             should_stop=lambda: bool(seen)):  # stop once t0 is in
        seen.append(outcome)
    assert time.monotonic() - start < LONG / 2
    assert [o.key for o in seen] == ["t0"]


def test_closing_the_generator_early_leaves_no_worker(no_leftover_workers):
    tasks = _tasks({"x": 1}, *({"op": "sleep", "seconds": LONG, "x": 1} for _ in range(3)))
    outcomes = run_local(tasks, compute, SHARED, workers=2, threads_per_worker=1)
    assert next(outcomes).key == "t0"
    assert _spawned_children()  # the stuck ones are running now
    outcomes.close()


def test_workers_exit_when_the_driver_is_killed(tmp_path: Path):
    pid_file = tmp_path / "worker.pid"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from executor_workers import pid_then_sleep\n"
        "from modeldev.execution.common import TrialTask\n"
        "from modeldev.execution.local import run_local\n"
        "if __name__ == '__main__':\n"
        f"    task = TrialTask('stuck', {{'path': sys.argv[2], 'seconds': {LONG}}})\n"
        "    list(run_local([task], pid_then_sleep, None, workers=1, threads_per_worker=1))\n")
    driver = subprocess.Popen([sys.executable, "-c", script, str(Path(__file__).parent),
                               str(pid_file)])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker_pid = int(pid_file.read_text())
        assert _alive(worker_pid)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 10
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker_pid), "the worker outlived its SIGKILLed driver"


def test_an_unknown_start_method_is_one_sentence_before_anything_starts(monkeypatch):
    monkeypatch.setenv(START_VARIABLE, "fork")
    with pytest.raises(InputError, match=r"^MODELDEV_WORKER_START must be forkserver or spawn, "
                                         r"not 'fork'\.$"):
        run_local(_tasks({"x": 1}), compute, SHARED, workers=1, threads_per_worker=1)


def test_arguments_are_checked_before_anything_starts():
    tasks = _tasks({"x": 1})
    with pytest.raises(InputError, match="at least 1"):
        run_local(tasks, compute, SHARED, workers=0, threads_per_worker=1)
    with pytest.raises(InputError, match="Threads per worker"):
        run_local(tasks, compute, SHARED, workers=1, threads_per_worker=0)
    with pytest.raises(InputError, match="unique key"):
        run_local(tasks * 2, compute, SHARED, workers=1, threads_per_worker=1)
    with pytest.raises(InputError, match="positive number"):
        run_dask(tasks, compute, SHARED, "tcp://127.0.0.1:1", timeout=0)
    assert list(run_local([], compute, SHARED, workers=2, threads_per_worker=1)) == []
    assert default_workers() >= 1


# ---------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local_cluster:
        yield local_cluster


def _summary(outcomes: list[TaskOutcome]) -> dict[str, tuple]:
    return {o.key: (o.result, o.error, o.timed_out) for o in outcomes}


def test_dask_gives_the_same_outcomes_as_local(cluster):
    tasks = _tasks(*({"x": x} for x in range(5)), {"op": "raise", "x": 9})
    on_dask = list(run_dask(tasks, compute, SHARED, cluster.scheduler_address))
    local = list(run_local(tasks, compute, SHARED, workers=2, threads_per_worker=1))
    assert _summary(on_dask) == _summary(local)
    assert len(_by_key(on_dask)) == len(tasks)
    failed = _by_key(on_dask)["t5"]
    assert failed.error == "ValueError: bad value 9" and "raise ValueError" in failed.traceback


def test_dask_should_stop_cancels_the_rest(cluster):
    from distributed import Client

    tasks = _tasks(*({"op": "sleep", "seconds": 0.3, "x": x} for x in range(12)))
    seen = []
    for outcome in run_dask(tasks, compute, SHARED, cluster.scheduler_address,
                            should_stop=lambda: bool(seen)):
        seen.append(outcome)
    assert 1 <= len(seen) < len(tasks)
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        deadline = time.monotonic() + 15
        while client.run_on_scheduler(_n_tasks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.run_on_scheduler(_n_tasks) == 0  # cancelled and released, shared too


def _n_tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def test_dask_timeout_counts_from_the_start_and_the_rest_complete(cluster):
    # 5 s stuck task with a 1 s timeout: reported timed out; its thread runs on (Dask cannot
    # stop it), so the quick tasks queue on the other worker without being timed out themselves
    tasks = _tasks({"op": "sleep", "seconds": 5, "x": 1},
                   *({"op": "sleep", "seconds": 0.4, "x": x} for x in range(4)))
    outcomes = _by_key(list(run_dask(tasks, compute, SHARED, cluster.scheduler_address,
                                     timeout=1.0)))
    assert outcomes["t0"].timed_out and outcomes["t0"].error == "timed out after 1 s"
    assert [outcomes[f"t{x + 1}"].result["value"] for x in range(4)] == [0, 6, 12, 18]
    assert not any(outcomes[f"t{x + 1}"].timed_out for x in range(4))


def test_an_unreachable_scheduler_is_an_input_error_fast():
    with socket.socket() as sock:  # a free port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(InputError, match="Could not connect to the Dask scheduler at tcp://"):
        list(run_dask(_tasks({"x": 1}), compute, SHARED, address, connect_timeout=2))
    assert time.monotonic() - start < 15
