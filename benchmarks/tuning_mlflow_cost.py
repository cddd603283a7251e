"""What MLflow costs a tuning session in wall time: the same trials with and without child logging.

    python benchmarks/tuning_mlflow_cost.py             # 3 rounds, full grid, writes results
    python benchmarks/tuning_mlflow_cost.py --rounds 1 --quick   # a quick look, prints only

Not a test. `benchmarks/tuning.py` times every MLflow call, but the children are logged by a
background thread while the workers fit, so summing call times no longer says how much longer
the session takes because of MLflow: the calls that run beside the fits cost wall time only
through the CPU they take from the workers. This script measures that directly.

One dataset (10k rows x 30 features, binary, as in tuning.py), one Phase 1 session (`--cv 0`: the
one holdout split, as tuning.py's default) restricted to
xgboost_baseline, then rounds of tuning runs of the same grid, each in a fresh process on a fresh
copy of the Phase 1 workspace (so the store does not grow from run to run), through `run_tuning`
with default workers, one run per variant in each round:

- "bulk": as shipped, the children written into the SQLite store in batches
  (`tracking_children.SqliteChildWriter`);
- "client": every child created, filled and ended through MLflow's client
  (`MODELDEV_CHILD_WRITES=client`, what any other store or MLflow version gets);
- "off": `trials.write_children` replaced by a function that writes nothing; the child-logger
  thread, its queue and everything else stay, so only MLflow's own work for the children goes.

Timed: the trial loop (`run_trials`, from worker start-up to its return, which includes waiting
for the logger to finish), each run's CPU seconds, and other processes' CPU meanwhile. The steps
after the trials (refit, model, charts) are the same in all and are skipped. The order rotates
from round to round so that drift in the machine's speed falls on every variant. MLflow's share
of the wall time is (median of a variant - median off) / median of that variant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = ("bulk", "client", "off")


def _tuning() -> Any:
    """benchmarks/tuning.py as a module (data, stage runner, grids, machine facts)."""
    spec = importlib.util.spec_from_file_location("bench_tuning", ROOT / "benchmarks" /
                                                  "tuning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Skip(Exception):
    """Raised instead of the steps after the trials, which both variants share."""


def one_run(workspace: Path, training_run: str, grid_file: Path | None, variant: str,
            out: Path) -> None:
    """One tuning run in this process; writes the trial loop's wall time and what it logged."""
    from modeldev.config import resolve_settings
    from modeldev.tuning import session
    from modeldev.tuning import trials as engine
    from modeldev.tuning.child_logger import ChildLogger
    from modeldev.tuning.grid import load_grid_file
    from modeldev.tuning.session import run_tuning
    from modeldev.tuning.types import TuneRequest

    times: dict[str, float] = {}
    logged, paths = [0], set()
    real_run_trials, real_write = engine.run_trials, engine.write_children

    def timed_run_trials(*args: Any, **kwargs: Any) -> Any:
        times["start"] = time.perf_counter()
        try:
            return real_run_trials(*args, **kwargs)
        finally:
            times["end"] = time.perf_counter()

    def write_children(*args: Any) -> None:
        logged[0] += len(args[-1])
        paths.add(args[1].path)  # which writer the run chose
        if variant != "off":
            real_write(*args)

    def skip(*args: Any, **kwargs: Any) -> Any:
        raise _Skip

    loggers: list[Any] = []  # kept for the writing thread's own CPU time
    exit_logger = ChildLogger.__exit__

    def keep_and_exit(self: Any, *exc: Any) -> None:
        loggers.append(self)
        exit_logger(self, *exc)

    ChildLogger.__exit__ = keep_and_exit  # type: ignore[method-assign]
    session.run_trials, engine.write_children = timed_run_trials, write_children
    session.finish_tuning = skip
    if variant == "client":
        os.environ["MODELDEV_CHILD_WRITES"] = "client"
    request = TuneRequest(training_run_id=training_run,
                          grid=load_grid_file(str(grid_file)) if grid_file else None)
    settings = resolve_settings(workspace)
    with contextlib.suppress(_Skip):
        run_tuning(request, settings)
    out.write_text(json.dumps({"trials_s": times["end"] - times["start"],
                               "children": logged[0], "variant": variant,
                               "writer": sorted(paths),
                               "writer_cpu_s": sum(lg.cpu_seconds for lg in loggers)}))


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """The Phase 1 session, then the rounds of runs."""
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
                                        # the one holdout split, as tuning.py measures by
                                        # default: MLflow's share of the same 576 children
                                        "--cv", "0", "--seed", str(args.seed),
                                        "--workspace", str(ws), "--json"])
        training_run = tb._last_json(train["stdout"])["parent_run_id"]
        grid_args: list[str] = []
        if args.quick:
            (base / "grid.json").write_text(json.dumps(grid))
            grid_args = ["--grid-file", str(base / "grid.json")]
        order = [VARIANTS[(r + k) % len(VARIANTS)] for r in range(args.rounds)
                 for k in range(len(VARIANTS))]  # bulk client off, client off bulk, ...
        for i, variant in enumerate(order):
            run_ws = base / f"ws_{i}"
            shutil.copytree(ws, run_ws)
            out = base / f"run_{i}.json"
            stage = tb.run_stage(f"tuning, child writes {variant}", [
                py, script, "--one-run", variant, "--workspace", str(run_ws),
                "--training-run", training_run, *grid_args, "--out", str(out)])
            stage.pop("stdout")
            runs.append({**stage, **json.loads(out.read_text())})
            shutil.rmtree(run_ws)
    return {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": tb.machine(), "packages": tb._packages(), "rows": args.rows,
            "seed": args.seed, "grid": grid, "quick": args.quick, "runs": runs,
            "summary": summarise(runs)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per variant, each variant's cost over "off" and its share, and the spreads."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        times = [r["trials_s"] for r in mine]
        out[variant] = {"median_s": statistics.median(times), "min_s": min(times),
                        "max_s": max(times), "samples_s": times, "children": mine[0]["children"],
                        "cpu_median_s": statistics.median(r["cpu_s"] for r in mine),
                        "writer_cpu_median_s": statistics.median(r["writer_cpu_s"] for r in mine)}
    for variant in ("bulk", "client"):
        cost = out[variant]["median_s"] - out["off"]["median_s"]
        out[variant].update(mlflow_s=cost, mlflow_share=cost / out[variant]["median_s"])
    out["mlflow_s"], out["mlflow_share"] = out["bulk"]["mlflow_s"], out["bulk"]["mlflow_share"]
    out["other_procs_cores_max"] = max(r["other_procs_cores"] for r in runs)
    return out


def report_markdown(r: dict[str, Any]) -> str:
    """The markdown report."""
    s, m = r["summary"], r["machine"]
    tb = _tuning()
    grid = "the 48-combination quick grid" if r["quick"] else "the full default grid"
    rows = "\n".join(
        f"| {i + 1} | {run['variant']} | {', '.join(run['writer'])} | {run['trials_s']:.1f} s |"
        f" {run['writer_cpu_s']:.2f} s | {run['cpu_s']:.0f} s | {run['children']} | "
        f"{run['other_procs_cores']:.2f} |"
        for i, run in enumerate(r["runs"]))
    medians = "; ".join(f"{v} {s[v]['median_s']:.1f} s (range {s[v]['min_s']:.1f}-"
                        f"{s[v]['max_s']:.1f})" for v in VARIANTS)
    spread = max(s[v]["max_s"] - s[v]["min_s"] for v in VARIANTS)
    share = {v: s[v]["writer_cpu_median_s"] / s[v]["median_s"] for v in ("bulk", "client")}
    return "\n".join([
        "# What MLflow costs a tuning session (children in bulk, through the client, or not "
        "at all)", "",
        f"`python benchmarks/tuning_mlflow_cost.py` on {m['cpu_count']} CPUs ({m['cpu_model']}),"
        f" Python {m['python']}, MLflow {r['packages']['mlflow']}, XGBoost "
        f"{r['packages']['xgboost']}; generated {r['generated_at']}. xgboost_baseline over "
        f"{grid} ({len(r['runs']) // len(VARIANTS)} rounds, order rotated), {r['rows']:,} rows "
        "x 30 features, SQLite store, default workers. \"bulk\" is what ships (children "
        "written into the store in batches), \"client\" writes each child through MLflow's "
        "client (any other store or MLflow version), \"off\" writes nothing; everything else "
        "is the same. Timed: the trial loop (worker start-up to the last child written).", "",
        "| run | child writes | writer chosen | trial loop wall | writing thread's CPU | CPU s "
        "(all processes) | children | other processes' cores |",
        "|---:|---|---|---:|---:|---:|---:|---:|", rows, "",
        f"**The child writing's own CPU** (exact, medians): bulk "
        f"{s['bulk']['writer_cpu_median_s']:.2f} s for {s['bulk']['children']} children, "
        f"{share['bulk']:.1%} of the trial loop's wall time even if every CPU second of it cost "
        f"a second of wall time (target < {tb.TARGET_MLFLOW_SHARE:.0%}: "
        f"{'met' if share['bulk'] < tb.TARGET_MLFLOW_SHARE else 'NOT met'}); through the "
        f"client {s['client']['writer_cpu_median_s']:.2f} s ({share['client']:.1%}).", "",
        f"Wall-time medians: {medians}. Differences from off: bulk {s['bulk']['mlflow_s']:+.1f}"
        f" s ({s['bulk']['mlflow_share']:+.1%}), client {s['client']['mlflow_s']:+.1f} s "
        f"({s['client']['mlflow_share']:+.1%}). The spread within a variant (up to "
        f"{spread:.1f} s) {'exceeds' if spread > abs(s['bulk']['mlflow_s']) else 'is within'}"
        " the bulk difference: a difference of medians only resolves effects larger than the "
        "machine's drift between runs.", "", cpu_note(s), ""])


def cpu_note(s: dict[str, Any]) -> str:
    """The CPU all processes used per variant: MLflow's work plus the workers slowed beside it."""
    extra = {v: s[v]["cpu_median_s"] - s["off"]["cpu_median_s"] for v in ("bulk", "client")}
    return (f"CPU seconds of all the run's processes, medians: bulk {s['bulk']['cpu_median_s']:.0f}"
            f" s, client {s['client']['cpu_median_s']:.0f} s, off {s['off']['cpu_median_s']:.0f} "
            f"s ({extra['bulk']:+.0f} s and {extra['client']:+.0f} s against off). On 2 cores "
            "the workers already use every core, so CPU the writing takes comes out of the "
            "trials.")


def main(argv: list[str] | None = None) -> int:
    """Run the rounds (or one run, in a stage process), print and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="runs of each variant")
    p.add_argument("--quick", action="store_true", help="48-combination grid, prints only")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--one-run", choices=VARIANTS, help=argparse.SUPPRESS)
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
        one_run(args.workspace, args.training_run, args.grid_file, args.one_run, args.out)
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
