"""What MLflow costs a tuning session in wall time: the same trials with and without child logging.

    python benchmarks/tuning_mlflow_cost.py             # 3 pairs, full grid, writes results
    python benchmarks/tuning_mlflow_cost.py --pairs 1 --quick   # a quick look, prints only

Not a test. `benchmarks/tuning.py` times every MLflow call, but the children are logged by a
background thread while the workers fit, so summing call times no longer says how much longer
the session takes because of MLflow: the calls that run beside the fits cost wall time only
through the CPU they take from the workers. This script measures that directly.

One dataset (10k rows x 30 features, binary, as in tuning.py), one Phase 1 session restricted to
xgboost_baseline, then pairs of tuning runs of the same grid, each in a fresh process on a fresh
copy of the Phase 1 workspace (so the store does not grow from run to run), through `run_tuning`
with default workers:

- "on": as shipped, every child run created, filled and ended in MLflow;
- "off": `engine.log_child` replaced by a function that logs nothing; the child-logger thread,
  its queue and everything else stay, so only MLflow's own work for the children goes.

Timed: the trial loop (`run_trials`, from worker start-up to its return, which includes waiting
for the logger to finish), each run's CPU seconds, and other processes' CPU meanwhile. The steps
after the trials (refit, model, charts) are the same in both and are skipped. Runs alternate
on/off/off/on... so that drift in the machine's speed falls on both sides. MLflow's share of the
wall time is (median on - median off) / median on.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _tuning() -> Any:
    """benchmarks/tuning.py as a module (data, stage runner, grids, machine facts)."""
    spec = importlib.util.spec_from_file_location("bench_tuning", ROOT / "benchmarks" /
                                                  "tuning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Skip(Exception):
    """Raised instead of the steps after the trials, which both variants share."""


def one_run(workspace: Path, training_run: str, grid_file: Path | None, logging_on: bool,
            out: Path) -> None:
    """One tuning run in this process; writes the trial loop's wall time and what it logged."""
    from modeldev.config import resolve_settings
    from modeldev.tuning import engine, outputs
    from modeldev.tuning.engine import TuneRequest
    from modeldev.tuning.grid import load_grid_file
    from modeldev.tuning.session import run_tuning

    times: dict[str, float] = {}
    logged = [0]
    real_run_trials, real_log_child = engine.run_trials, engine.log_child

    def timed_run_trials(*args: Any, **kwargs: Any) -> Any:
        times["start"] = time.perf_counter()
        try:
            return real_run_trials(*args, **kwargs)
        finally:
            times["end"] = time.perf_counter()

    def log_child(*args: Any) -> None:
        logged[0] += 1
        if logging_on:
            real_log_child(*args)

    def skip(*args: Any, **kwargs: Any) -> Any:
        raise _Skip

    engine.run_trials, engine.log_child, outputs.finish_tuning = timed_run_trials, log_child, skip
    request = TuneRequest(training_run_id=training_run,
                          grid=load_grid_file(str(grid_file)) if grid_file else None)
    with contextlib.suppress(_Skip):
        run_tuning(request, resolve_settings(workspace))
    out.write_text(json.dumps({"trials_s": times["end"] - times["start"],
                               "children": logged[0], "logging_on": logging_on}))


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """The Phase 1 session, then the alternating pairs."""
    tb = _tuning()
    py, script = sys.executable, str(Path(__file__).resolve())
    grid = tb.QUICK_GRID if args.quick else tb.FULL_GRID
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="modeldev-mlflow-cost-") as tmp:
        base = Path(tmp)
        data = base / "synthetic_tuning.csv"
        tb._phase1().make_dataset(args.rows, seed=args.seed).to_csv(data, index=False)
        ws = base / "ws"
        train = tb.run_stage("phase1", [py, "-m", "modeldev.cli", "train", "--data", str(data),
                                        "--target", "target", "--frameworks", tb.FRAMEWORK,
                                        "--seed", str(args.seed), "--workspace", str(ws),
                                        "--json"])
        training_run = tb._last_json(train["stdout"])["parent_run_id"]
        grid_args: list[str] = []
        if args.quick:
            (base / "grid.json").write_text(json.dumps(grid))
            grid_args = ["--grid-file", str(base / "grid.json")]
        order = [i % 4 in (0, 3) for i in range(2 * args.pairs)]  # on, off, off, on, ...
        for i, on in enumerate(order):
            run_ws = base / f"ws_{i}"
            shutil.copytree(ws, run_ws)
            out = base / f"run_{i}.json"
            stage = tb.run_stage(f"tuning, child logging {'on' if on else 'off'}", [
                py, script, "--one-run", "on" if on else "off", "--workspace", str(run_ws),
                "--training-run", training_run, *grid_args, "--out", str(out)])
            stage.pop("stdout")
            runs.append({**stage, **json.loads(out.read_text())})
            shutil.rmtree(run_ws)
    return {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": tb.machine(), "packages": tb._packages(), "rows": args.rows,
            "seed": args.seed, "grid": grid, "quick": args.quick, "runs": runs,
            "summary": summarise(runs)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per variant, the difference, MLflow's share and the spread within a variant."""
    out: dict[str, Any] = {}
    for label, on in (("on", True), ("off", False)):
        times = [r["trials_s"] for r in runs if r["logging_on"] is on]
        out[label] = {"median_s": statistics.median(times), "min_s": min(times),
                      "max_s": max(times), "samples_s": times,
                      "children": runs[[r["logging_on"] for r in runs].index(on)]["children"]}
        out[label]["cpu_median_s"] = statistics.median(
            r["cpu_s"] for r in runs if r["logging_on"] is on)
    out["mlflow_s"] = out["on"]["median_s"] - out["off"]["median_s"]
    out["mlflow_share"] = out["mlflow_s"] / out["on"]["median_s"]
    out["other_procs_cores_max"] = max(r["other_procs_cores"] for r in runs)
    return out


def report_markdown(r: dict[str, Any]) -> str:
    """The markdown report."""
    s, m = r["summary"], r["machine"]
    tb = _tuning()
    grid = "the 48-combination quick grid" if r["quick"] else "the full default grid"
    rows = "\n".join(
        f"| {i + 1} | {'on' if run['logging_on'] else 'off'} | {run['trials_s']:.1f} s | "
        f"{run['cpu_s']:.0f} s | {run['children']} | {run['other_procs_cores']:.2f} |"
        for i, run in enumerate(r["runs"]))
    met = s["mlflow_share"] < tb.TARGET_MLFLOW_SHARE
    return "\n".join([
        "# What MLflow costs a tuning session (child logging on vs off)", "",
        f"`python benchmarks/tuning_mlflow_cost.py` on {m['cpu_count']} CPUs ({m['cpu_model']}),"
        f" Python {m['python']}, MLflow {r['packages']['mlflow']}, XGBoost "
        f"{r['packages']['xgboost']}; generated {r['generated_at']}. xgboost_baseline over "
        f"{grid} ({len(r['runs']) // 2} pairs, alternating), {r['rows']:,} rows x 30 features, "
        "SQLite store, default workers. \"off\" replaces the logging of each child with nothing;"
        " everything else is the same. Timed: the trial loop (worker start-up to the last child "
        "logged).", "",
        "| run | child logging | trial loop wall | CPU s (all processes) | children | other "
        "processes' cores |", "|---:|---|---:|---:|---:|---:|", rows, "",
        f"Medians: on {s['on']['median_s']:.1f} s (range {s['on']['min_s']:.1f}-"
        f"{s['on']['max_s']:.1f}), off {s['off']['median_s']:.1f} s (range "
        f"{s['off']['min_s']:.1f}-{s['off']['max_s']:.1f}). **MLflow adds {s['mlflow_s']:.1f} s"
        f" = {s['mlflow_share']:.1%} of the trial loop's wall time** (target < "
        f"{tb.TARGET_MLFLOW_SHARE:.0%}: {'met' if met else 'NOT met'}). The difference is only "
        "as good as the spread within each variant, shown by the ranges.", "",
        cpu_note(s), ""])


def cpu_note(s: dict[str, Any]) -> str:
    """How the extra CPU with logging on compares with the logger's own (from tuning.json)."""
    extra = s["on"]["cpu_median_s"] - s["off"]["cpu_median_s"]
    text = (f"CPU seconds of all the run's processes, medians: on {s['on']['cpu_median_s']:.0f} "
            f"s, off {s['off']['cpu_median_s']:.0f} s ({extra:.0f} s more with logging).")
    tuning = RESULTS / "tuning.json"
    if tuning.is_file():
        own = json.loads(tuning.read_text())["summary"].get("mlflow_cpu_s")
        if own:
            text += (f" MLflow's own CPU in benchmarks/tuning.py's instrumented run (same grid "
                     f"and data) was {own:.1f} s; the rest of the difference is the workers "
                     "running slower beside the logging thread on the same cores.")
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the pairs (or one run, in a stage process), print and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="48-combination grid, prints only")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--one-run", choices=("on", "off"), help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--training-run", help=argparse.SUPPRESS)
    p.add_argument("--grid-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--render", action="store_true",
                   help="rewrite the .md from the .json (summary recomputed), run nothing")
    args = p.parse_args(argv)
    if args.render:
        results = json.loads((RESULTS / "tuning_mlflow_cost.json").read_text())
        results["summary"] = summarise(results["runs"])
        (RESULTS / "tuning_mlflow_cost.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "tuning_mlflow_cost.md").write_text(report_markdown(results))
        print(report_markdown(results))
        return 0
    if args.one_run:
        one_run(args.workspace, args.training_run, args.grid_file, args.one_run == "on",
                args.out)
        return 0
    results = benchmark(args)
    text = report_markdown(results)
    print("\n" + text)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "tuning_mlflow_cost.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "tuning_mlflow_cost.md").write_text(text)
        print(f"wrote {RESULTS / 'tuning_mlflow_cost.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
