"""How fast a worker process starts, forked from the preloaded server or spawned afresh.

`python benchmarks/worker_start.py [--rounds 3]`: for each start method (MODELDEV_WORKER_START),
in alternating rounds on the same machine, two stages timed from outside with the CPU of their
whole process tree (the fork server and its children included, `benchutil.run_stage`):

- in-process: one Python process runs a one-task pool five times (the time until the first
  result: a worker's start, the server warm after the first), then four Phase 1 sessions one
  after another (logistic regression and random forest, breast cancer, 2 folds, 1 repeat), as a
  notebook, a script or the test suite does;
- terminal: one `modeldev train` session (logistic regression and XGBoost, 2 folds), as from
  the command line or a job, where the server's imports are paid once per process.

Writes benchmarks/results/worker_start.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import operator
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchutil import child_env, machine, packages, run_stage, write_results

METHODS = ("spawn", "forkserver")
SESSIONS = 4
POOLS = 5


def in_process() -> dict[str, Any]:
    """The in-process stage: five one-task pools, then four Phase 1 sessions; their walls."""
    from modeldev.config import resolve_settings
    from modeldev.data.loading import load_demo
    from modeldev.execution.common import TrialTask
    from modeldev.execution.local import run_local
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    pools = []
    for i in range(POOLS):
        started = time.perf_counter()
        [outcome] = run_local([TrialTask(f"t{i}", 2)], operator.add, 1, workers=1,
                              threads_per_worker=1)
        assert outcome.result == 3, outcome
        pools.append(time.perf_counter() - started)
    sessions = []
    for _ in range(SESSIONS):
        request = TrainRequest(load_demo("breast_cancer"), cv=2, repeats=1, frameworks=[
            "sklearn_logistic_regression", "sklearn_random_forest"])
        started = time.perf_counter()
        run_phase1(request, resolve_settings(workspace=Path(tempfile.mkdtemp())))
        sessions.append(time.perf_counter() - started)
    return {"pool_s": pools, "session_s": sessions}


def terminal_command(workspace: Path) -> list[str]:
    """`modeldev train` on two frameworks and 2 folds in a new workspace."""
    return [sys.executable, "-m", "modeldev.cli", "train", "--workspace", str(workspace),
            "--demo", "breast_cancer", "--frameworks",
            "sklearn_logistic_regression,xgboost_baseline", "--cv", "2", "--repeats", "1",
            "--quiet"]


def measure(rounds: int) -> dict[str, Any]:
    """Every stage for both methods, alternating, `rounds` times."""
    runs: dict[str, dict[str, list[Any]]] = {m: {"in_process": [], "terminal": []}
                                             for m in METHODS}
    for r in range(rounds):
        for method in METHODS if r % 2 == 0 else METHODS[::-1]:
            env = child_env({"MODELDEV_WORKER_START": method})
            stage = run_stage(f"{method} in-process", [sys.executable, __file__, "--stage"],
                              env=env, timeout=900)
            stage.update(json.loads(stage.pop("stdout").strip().splitlines()[-1]))
            runs[method]["in_process"].append(stage)
            with tempfile.TemporaryDirectory() as tmp:
                stage = run_stage(f"{method} terminal", terminal_command(Path(tmp)), env=env,
                                  timeout=900)
            stage.pop("stdout")
            runs[method]["terminal"].append(stage)
    return runs


def summary(runs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Medians over rounds for each method."""
    out = {}
    for method, stages in runs.items():
        inp, term = stages["in_process"], stages["terminal"]
        out[method] = {
            "first_pool_s": statistics.median(s["pool_s"][0] for s in inp),
            "warm_pool_s": statistics.median(x for s in inp for x in s["pool_s"][1:]),
            "first_session_s": statistics.median(s["session_s"][0] for s in inp),
            "later_session_s": statistics.median(x for s in inp for x in s["session_s"][1:]),
            "in_process_wall_s": statistics.median(s["wall_s"] for s in inp),
            "in_process_cpu_s": statistics.median(s["sampled_cpu_s"] for s in inp),
            "terminal_wall_s": statistics.median(s["wall_s"] for s in term),
            "terminal_cpu_s": statistics.median(s["sampled_cpu_s"] for s in term)}
    return out


def markdown(report: dict[str, Any]) -> str:
    """The results as a markdown table, forkserver against spawn."""
    med, fs, sp = report["medians"], "forkserver", "spawn"
    rows = [("a one-task pool, first in its process", "first_pool_s"),
            ("a one-task pool, server warm", "warm_pool_s"),
            ("Phase 1 session, first in its process", "first_session_s"),
            ("Phase 1 session, later ones", "later_session_s"),
            (f"in-process stage, wall ({POOLS} pools, {SESSIONS} sessions)", "in_process_wall_s"),
            ("in-process stage, CPU of the process tree", "in_process_cpu_s"),
            ("`modeldev train` (2 frameworks, 2 folds), wall", "terminal_wall_s"),
            ("`modeldev train`, CPU of the process tree", "terminal_cpu_s")]
    lines = ["# Worker start: forked from a preloaded server against spawned afresh", "",
             f"Medians of {report['rounds']} alternating rounds; seconds. Machine: "
             f"{report['machine']['usable_cpus']} usable cores, load at start "
             f"{report['machine']['loadavg_at_start']}.", "",
             "| | forkserver | spawn | forkserver / spawn |", "|---|---:|---:|---:|"]
    for label, key in rows:
        lines.append(f"| {label} | {med[fs][key]:.2f} | {med[sp][key]:.2f} | "
                     f"{med[fs][key] / med[sp][key]:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the stages (or, with --stage, be the in-process stage) and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(in_process()))
        return
    report: dict[str, Any] = {"machine": machine(), "packages": packages(),
                              "rounds": args.rounds}
    report["runs"] = measure(args.rounds)
    report["medians"] = summary(report["runs"])
    write_results("worker_start", report, markdown(report))


if __name__ == "__main__":
    main()
