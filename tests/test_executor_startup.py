"""Worker start-up: never a hang (a `__main__` piped on stdin, workers dying at start), and the
warm-up (a framework's import) outside the trial timeout.

Regression: `python - < script.py` ran a tuning whose spawned workers died at once (spawn re-ran
`__main__` from a file called '<stdin>' that does not exist) while the driver waited forever in
`Process.start()`, writing a data split bigger than a pipe into a pipe nobody read. Each script
runs in its own interpreter with a timeout, so a hang fails the test instead of blocking it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from executor_workers import SlowWarmUp, was_warmed

from modeldev.execution.common import TrialTask
from modeldev.execution.local import run_local

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TIMEOUT_S = 240  # a hang shows as TimeoutExpired; a healthy run takes seconds

# The real trial function on a real split; the split must not fit in a pipe (64 KiB), or the
# old hang could not happen and the test would prove nothing.
TUNING_SCRIPT = textwrap.dedent("""
    import pickle
    from modeldev.data.loading import load_demo
    from modeldev.frameworks.registry import get_framework
    from modeldev.data.split import make_split
    from modeldev.tuning.plan import make_plan
    from modeldev.execution.local import run_local
    from modeldev.tuning.trial import TrialShared, evaluate_group
    from modeldev.data.validation import prepare

    src = load_demo("breast_cancer")
    split = make_split(prepare(src.frame, "target", "auto"), 0)
    shared = TrialShared("sklearn_random_forest", split)
    assert len(pickle.dumps(shared)) > 65536, len(pickle.dumps(shared))
    adapter = get_framework("sklearn_random_forest", "binary")
    plan = make_plan({"n_estimators": [3, 6], "max_depth": [2, None]}, adapter, set(),
                     len(split.folds))
    outcomes = list(run_local(plan.tasks, evaluate_group, shared, workers=2,
                              threads_per_worker=1))
    assert sorted(o.key for o in outcomes) == sorted(t.key for t in plan.tasks)
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    hashes = {r["hash"] for o in outcomes for r in o.result}
    assert hashes == set(plan.hashes), hashes
    print("TRIALS_OK", len(hashes))
""")


def _python(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=ENV, timeout=TIMEOUT_S)


def test_tuning_trials_run_from_a_script_on_stdin(tmp_path: Path) -> None:
    proc = _python(["-"], tmp_path, stdin=TUNING_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRIALS_OK 4" in proc.stdout
    assert "FileNotFoundError" not in proc.stderr  # no child tried to re-run '<stdin>'


@pytest.mark.parametrize(("via_stdin", "message"), [
    # the exit code is 7 when spawned, 1 when forked by the server (which exits its children so)
    (False, "Worker processes keep dying at start (worker process died (exit code"),
    (True, "A tuning worker process could not start: AttributeError"),
], ids=["file", "stdin"])
def test_workers_failing_at_start_are_an_error_not_a_hang(tmp_path: Path, via_stdin: bool,
                                                          message: str) -> None:
    # From a file, each child runs the script again as its __main__, and this one exits
    # there, before the child has read its arguments. From stdin, the child starts with an empty
    # __main__, where the worker_fn defined in the script does not exist.
    body = textwrap.dedent("""
        from modeldev.execution.common import TrialTask
        from modeldev.execution.local import run_local

        if __name__ == "__mp_main__":  # a spawned child running this file again
            raise SystemExit(7)

        def double(shared, payload):
            return 2 * payload

        big = b"x" * 300_000  # more than a pipe holds
        try:
            list(run_local([TrialTask("a", 1)], double, big, workers=1, threads_per_worker=1))
        except Exception as exc:
            print("DRIVER_ERROR", type(exc).__name__, exc)
        else:
            print("DRIVER_NO_ERROR")
    """)
    if via_stdin:
        proc = _python(["-"], tmp_path, stdin=body)
    else:
        (tmp_path / "unguarded.py").write_text(body)
        proc = _python(["unguarded.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"DRIVER_ERROR ModeldevError {message}" in proc.stdout, proc.stdout


def test_warm_up_runs_once_per_worker_outside_the_trial_timeout() -> None:
    # 2 s of warm-up against a 1 s trial limit: counted in the trial, every task would time out
    tasks = [TrialTask(f"t{i}", None) for i in range(3)]
    outcomes = list(run_local(tasks, was_warmed, SlowWarmUp(2.0), workers=1,
                              threads_per_worker=1, timeout=1.0))
    assert [o.error for o in outcomes] == [None] * 3
    assert all(o.result["warmed"] for o in outcomes)
    assert len({o.result["pid"] for o in outcomes}) == 1  # one worker, warmed once
