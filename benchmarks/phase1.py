"""Phase 1 benchmark: every classification framework on synthetic 30-feature data, for real.

    python benchmarks/phase1.py                    # 10k and 100k rows, 5 folds, writes results
    python benchmarks/phase1.py --rows 100000      # one size (issue 10's target: under 300 s)
    python benchmarks/phase1.py --cv 0             # the one holdout split instead of 5 folds
    python benchmarks/phase1.py --quick            # 600 rows, 2 folds, prints only
    python benchmarks/phase1.py --render           # rewrite phase1.md from phase1.json

Not a test: it runs the real `run_phase1` (all six classification frameworks, `--cv` folds
(default 5, as issue 10's target says; 0 = one holdout split), SQLite MLflow in a fresh temporary
workspace, model logging, comparison artifacts) once per size, each size in its own fresh
Python process so imports, caches and memory do not carry over from one size to the next.
Timings depend on what else the machine is doing, so the 1/5/15-minute load averages and the
CPU time used by other processes during the run are recorded next to the numbers.

Phase 1 runs one task per (framework, fold) plus one final fit per framework on a pool of
worker processes (up to 4, threads capped so workers x threads <= cores): **frameworks run
side by side and their wall-time windows overlap**, so per-framework figures do not add up to
the session. How things are measured:
- the session's wall time (the target) is `run_phase1` from call to return; the process wall
  time adds interpreter start, imports and data generation.
- per framework, from the engine's events: its window runs from its first `framework_started`
  to its `framework_finished` (or `framework_failed`); its fit seconds are the sum over its
  tasks: the `fold_finished` events' `seconds` plus the final fit's (read from each task's
  outcome as it reaches the driver: `phase1.run._collect` is wrapped, nothing else changes);
  task seconds are the whole tasks in the workers (fit, scoring, test scoring and the
  inference timing of the final fit). `training_time` (the mean fit over the folds),
  `inference_time_ms` and `model_size_mb` are the engine's own metrics.
- MLflow and artifact overhead: the Tracker's methods and the comparison writer are wrapped with
  timers in the driver (no behaviour changes); model logging is attributed to its framework by
  run id.
- memory and CPU: a psutil sampler (every 0.1 s) over this process and its worker processes:
  the peak summed RSS of the tree, the peak of a single process, and the CPU seconds of the
  tree (each process as last seen), against the CPU the whole machine used meanwhile.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_ROWS = 100_000
TARGET_SECONDS = 300.0
QUICK_ROWS, QUICK_CV = 600, 2
N_NUMERIC, CAT_LEVELS = 24, (3, 5, 8, 12, 16, 20)
NAN_SHARES = {"num_01": 0.05, "num_04": 0.10, "num_07": 0.02, "num_10": 0.15, "num_13": 0.08,
              "num_16": 0.03}
TRACKER_METHODS = ("__init__", "experiment_id", "sweep_stale_runs", "start_run", "log_batch",
                   "log_metric_history", "log_artifacts", "log_model", "end_run", "set_tags")


# ---------------------------------------------------------------- synthetic data

def make_dataset(rows: int, seed: int = 0) -> pd.DataFrame:
    """A binary table: 24 numeric columns (some with NaN), 6 text columns of 3-20 levels."""
    rng = np.random.default_rng(seed)
    num = {f"num_{i:02d}": _numeric_column(rng, i, rows) for i in range(N_NUMERIC)}
    codes = {f"cat_{j}": rng.choice(k, size=rows, p=rng.dirichlet(np.full(k, 2.0)))
             for j, k in enumerate(CAT_LEVELS)}
    z = {k: (v - v.mean()) / v.std() for k, v in num.items()}
    logit = (0.9 * z["num_00"] - 0.7 * z["num_01"] + 0.6 * z["num_02"] * z["num_03"]
             + 0.8 * np.sin(2 * z["num_04"]) + 0.4 * (z["num_05"] ** 2 - 1)
             + 0.5 * z["num_06"] - 0.3 * z["num_10"] + 0.3 * np.abs(z["num_13"]))
    for name in ("cat_0", "cat_2", "cat_4"):
        effects = rng.normal(0, 0.6, CAT_LEVELS[int(name[-1])])
        logit = logit + effects[codes[name]]
    logit = logit + rng.logistic(0, 0.6, rows)  # label noise: the task is learnable, not trivial
    target = (logit > np.quantile(logit, 0.62)).astype(np.int64)  # ~38% positives
    frame = pd.DataFrame(num)
    for name, share in NAN_SHARES.items():
        frame.loc[rng.random(rows) < share, name] = np.nan
    for name, c in codes.items():
        labels = np.array([f"{name}_L{i:02d}" for i in range(c.max() + 1)], dtype=object)
        frame[name] = labels[c]
    frame.loc[rng.random(rows) < 0.03, "cat_5"] = None  # one text column with missing values
    frame["target"] = target
    return frame


def _numeric_column(rng: np.random.Generator, i: int, rows: int) -> np.ndarray:
    kind = i % 4
    if kind == 0:
        return rng.normal(0, 1, rows)
    if kind == 1:
        return rng.lognormal(0, 0.75, rows)
    if kind == 2:
        return rng.uniform(-3, 3, rows)
    return rng.integers(0, 50, rows).astype(float)  # count-like



# ---------------------------------------------------------------- timers around the engine

class Timers:
    """Wall-clock intervals of the engine's MLflow and artifact calls in the driver."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.models: dict[str, float] = {}  # run id -> seconds of its log_model calls

    def wrap(self, label: str, fn: Any) -> Any:
        """`fn` with its wall time recorded under `label`."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                self.calls.append((label, start, end))
                if label == "mlflow.log_model" and len(args) > 1:
                    run_id = str(args[1])  # (self, run_id, model, ...)
                    self.models[run_id] = self.models.get(run_id, 0.0) + end - start

        return timed

    def total(self, prefix: str, start: float = -1e18, end: float = 1e18) -> float:
        """Seconds spent in calls whose label starts with `prefix`, inside [start, end]."""
        return sum(e - s for label, s, e in self.calls
                   if label.startswith(prefix) and s >= start and e <= end)


class Tasks:
    """Every task outcome as it reaches the driver: framework, fold, fit and task seconds."""

    def __init__(self) -> None:
        self.outcomes: list[dict[str, Any]] = []

    def wrap(self, collect: Any) -> Any:
        """`phase1.run._collect` that first notes the outcome."""

        @functools.wraps(collect)
        def noted(pending: Any, outcome: Any, *args: Any, **kwargs: Any) -> Any:
            res = outcome.result if isinstance(outcome.result, dict) else {}
            self.outcomes.append({
                "key": outcome.key, "framework": outcome.key.split(":", 1)[0],
                "final": "model" in res, "fold": res.get("fold"),
                "fit_s": res.get("fit_seconds"), "task_s": outcome.seconds,
                "epochs": res.get("epochs"), "error": outcome.error,
                "at": time.perf_counter()})
            return collect(pending, outcome, *args, **kwargs)

        return noted


def instrument(timers: Timers, tasks: Tasks) -> None:
    """Wrap the Tracker's methods, the comparison writer, the chart saver and `_collect`."""
    from modeldev.phase1 import outputs as phase1_outputs
    from modeldev.phase1 import record
    from modeldev.phase1 import run as phase1_run
    from modeldev.tracking.tracker import Tracker

    for name in TRACKER_METHODS:
        setattr(Tracker, name, timers.wrap(f"mlflow.{name}", getattr(Tracker, name)))
    # the driver's statistics: each framework's intervals (holdout: a bootstrap over the
    # validation rows) and the choice of the winner and its tier (holdout: paired bootstraps)
    record.summaries = timers.wrap("stats.summaries", record.summaries)
    phase1_run.choose = timers.wrap("stats.selection", phase1_run.choose)
    phase1_run.write_phase1_outputs = timers.wrap("outputs", phase1_run.write_phase1_outputs)
    phase1_outputs.save_figure = timers.wrap("chart", phase1_outputs.save_figure)
    phase1_run._collect = tasks.wrap(phase1_run._collect)


# ---------------------------------------------------------------- one size, in a worker process

class Recorder:
    """The `on_event` sink: per-framework windows, fold seconds and epochs, from the events."""

    def __init__(self) -> None:
        self.session: dict[str, Any] = {}
        self.frameworks: dict[str, dict[str, Any]] = {}
        self.last_event = 0.0

    def _fw(self, name: str) -> dict[str, Any]:
        return self.frameworks.setdefault(name, {
            "name": name, "start": None, "end": None, "status": None, "error": None,
            "folds": {}, "epochs": {}, "load_at_start": None, "device": None})

    def __call__(self, event: dict[str, Any]) -> None:
        kind, now = event["type"], time.perf_counter()
        self.last_event = now
        if kind == "session_started":
            self.session = {"task": event["task"], "sizes": event["sizes"],
                            "notices": event["notices"], "cv_folds": event.get("cv_folds"),
                            "started": now}
        elif kind == "framework_started":
            fw = self._fw(event["framework"])
            if fw["start"] is None:
                fw.update(start=now, device=event.get("device"),
                          load_at_start=os.getloadavg()[0])
                print(f"  {event['framework']} started", flush=True)
        elif kind == "epoch":
            fw = self._fw(event["framework"])
            fw["epochs"][str(event.get("fold"))] = event["epoch"]
        elif kind == "fold_finished":
            self._fw(event["framework"])["folds"][str(event["fold"])] = event["seconds"]
        elif kind in ("framework_finished", "framework_failed"):
            fw = self._fw(event["framework"])
            fw.update(end=now, status="FAILED" if kind == "framework_failed" else "FINISHED",
                      error=event.get("error"))
            if fw["start"] is None:  # failed before any task ran (library missing)
                fw["start"] = now
            print(f"  {fw['name']}: {fw['status'].lower()} after {now - fw['start']:.1f} s "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)


def run_size(rows: int, seed: int, device: str, frameworks: list[str] | None, cv: int | None,
             workers: int | None) -> dict[str, Any]:
    """Generate `rows` rows and run the real Phase 1 on them in a fresh temp workspace."""
    process_start = time.perf_counter()
    import benchutil as bu

    from modeldev.config import resolve_settings
    from modeldev.data.loading import Source
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    frame = make_dataset(rows, seed=seed)
    timers, tasks, recorder = Timers(), Tasks(), Recorder()
    instrument(timers, tasks)
    before, busy0 = os.getloadavg(), bu.busy_cpu()
    sampler = bu.TreeSampler(os.getpid(), interval=0.1)
    cpu0 = sampler.cpu_s()
    with tempfile.TemporaryDirectory(prefix="modeldev-bench-") as ws:
        settings = resolve_settings(workspace=ws, tracking_uri=f"sqlite:///{ws}/mlflow.db")
        request = TrainRequest(source=Source(frame=frame, name=f"synthetic_{rows}",
                                             target="target", origin="benchmark"),
                               frameworks=frameworks, seed=seed, device=device, cv=cv,
                               workers=workers)
        start = time.perf_counter()
        result = run_phase1(request, settings, on_event=recorder)
        end = time.perf_counter()
    tree = sampler.stop()
    machine_cpu = bu.busy_cpu() - busy0
    tree["session_cpu_s"] = tree["sampled_cpu_s"] - cpu0
    tree["cores_used"] = tree["session_cpu_s"] / (end - start)
    tree["other_procs_cores"] = max(machine_cpu - tree["session_cpu_s"], 0.0) / (end - start)
    return summarise(rows, frame, result, recorder, timers, tasks,
                     (start, end, process_start), (before, os.getloadavg()), tree)


def summarise(rows: int, frame: pd.DataFrame, result: Any, rec: Recorder, timers: Timers,
              tasks: Tasks, clock: tuple[float, float, float], loads: tuple[Any, Any],
              tree: dict[str, Any]) -> dict[str, Any]:
    """One size's numbers: the session, its phases, and one row per framework."""
    start, end, process_start = clock
    by_name = {r.name: r for r in result.runs}
    fws = [framework_row(f, by_name[f["name"]], timers, tasks)
           for f in sorted(rec.frameworks.values(), key=lambda f: f["start"] or end)]
    starts = [f["start"] for f in rec.frameworks.values() if f["start"] is not None]
    ends = [f["end"] for f in rec.frameworks.values() if f["end"] is not None]
    first, last = (min(starts) if starts else end), (max(ends) if ends else start)
    outputs_s = timers.total("outputs", start, end)
    return {
        "rows": rows, "columns": int(frame.shape[1]) - 1, "split": rec.session.get("sizes"),
        "cv_folds": rec.session.get("cv_folds"),
        "positive_share": float(frame["target"].mean()), "notices": rec.session.get("notices"),
        "session_wall_s": end - start, "process_wall_s": end - process_start,
        "setup_s": first - start, "frameworks_s": last - first, "outputs_s": outputs_s,
        "after_frameworks_s": end - last,
        "mlflow_s": timers.total("mlflow.", start, end),
        "mlflow_log_model_s": timers.total("mlflow.log_model", start, end),
        "chart_s": timers.total("chart", start, end),
        "intervals_s": timers.total("stats.summaries", start, end),
        "selection_s": timers.total("stats.selection", start, end),
        "mlflow_by_call_s": {name: timers.total(f"mlflow.{name}", start, end)
                             for name in TRACKER_METHODS},
        "fit_s_total": sum(f["fit_s_sum"] or 0.0 for f in fws),
        "task_s_total": sum(f["task_s_sum"] or 0.0 for f in fws),
        "tasks": len(tasks.outcomes), "tree": tree,
        "loadavg_before": [round(x, 2) for x in loads[0]],
        "loadavg_after": [round(x, 2) for x in loads[1]],
        "best": result.best.name if result.best else None, "top_tier": result.top_tier,
        "primary_metric": result.primary_metric, "frameworks": fws,
    }


def framework_row(f: dict[str, Any], run: Any, timers: Timers, tasks: Tasks) -> dict[str, Any]:
    """One framework's numbers from its events, its task outcomes and its run."""
    mine = [t for t in tasks.outcomes if t["framework"] == f["name"]]
    final = next((t for t in mine if t["final"]), None)
    event_folds = sum(f["folds"].values())
    holdout_final_is_fold = final is not None and final["fold"] in (0, "0") and len(mine) == 1
    m, cv = run.metrics, run.cv_dict() if run.cv else {}
    f1 = cv.get("f1_score") or {}
    folds = sorted(int(k) for k in f["epochs"] if k.lstrip("-").isdigit())
    epochs = [f["epochs"][str(k)] for k in folds if k >= 0]
    final_epochs = f["epochs"].get("-1")  # the final fit's (FINAL = -1), with CV
    return {
        "name": f["name"], "status": f["status"], "error": f["error"], "device": run.device,
        "wall_s": (f["end"] - f["start"]) if f["end"] and f["start"] else None,
        "tasks": len(mine), "folds_s_events": event_folds,
        "final_fit_s": final["fit_s"] if final else None,
        "fit_s_sum": event_folds + (0.0 if final is None or holdout_final_is_fold
                                    else final["fit_s"] or 0.0),
        "fit_s_sum_outcomes": sum(t["fit_s"] or 0.0 for t in mine),
        "task_s_sum": sum(t["task_s"] or 0.0 for t in mine),
        "training_time_mean": m.get("training_time"),
        "log_model_s": timers.models.get(run.run_id, 0.0),
        "inference_ms_per_1k": m.get("inference_time_ms"),
        "model_size_mb": m.get("model_size_mb"),
        "val_f1": m.get("f1_score"), "val_f1_ci": [f1.get("ci_low"), f1.get("ci_high")],
        "val_roc_auc": m.get("roc_auc"), "val_accuracy": m.get("accuracy"),
        "test_f1": run.test_metrics.get("f1_score"),
        "epochs_per_fold": epochs or None, "final_epochs": final_epochs,
        "batch_size": run.params.get("batch_size"),
        "load1_at_start": round(f["load_at_start"], 2) if f["load_at_start"] else None,
    }


def worker(rows: int, out: Path, args: argparse.Namespace) -> None:
    """Entry point of the per-size child process."""
    print(f"phase1 at {rows:,} rows, cv {'auto' if args.cv is None else args.cv} "
          f"(pid {os.getpid()}) ...", flush=True)
    names = args.frameworks.split(",") if args.frameworks else None
    out.write_text(json.dumps(run_size(rows, args.seed, args.device, names, args.cv,
                                       args.workers), default=float))


# ---------------------------------------------------------------- driver, report

def machine() -> dict[str, Any]:
    """Where the numbers were taken (benchutil's description of the machine)."""
    import benchutil as bu

    return bu.machine()


def run_worker_process(rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one size in a fresh interpreter and read back its numbers."""
    with tempfile.TemporaryDirectory(prefix="modeldev-bench-out-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(rows),
               "--worker-out", str(out), "--seed", str(args.seed), "--device", args.device,
               "--cv", "auto" if args.cv is None else str(args.cv)]
        if args.frameworks:
            cmd += ["--frameworks", args.frameworks]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        return json.loads(out.read_text())


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ci(pair: list[Any] | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return ""
    return f" [{pair[0]:.3f}, {pair[1]:.3f}]"


def framework_table(size: dict[str, Any]) -> list[str]:
    """Markdown rows for one size."""
    lines = ["| framework | window s (overlapping) | fits summed s (final fit) | tasks | "
             "fold fit mean s | infer ms / 1k rows | model MB | val F1 [95 % CI] | "
             "val ROC AUC | test F1 | epochs per fold | log_model s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in size["frameworks"]:
        epochs = ",".join(str(e) for e in f["epochs_per_fold"]) if f["epochs_per_fold"] else "-"
        if f.get("final_epochs"):
            epochs += f" (final {f['final_epochs']})"
        lines.append(
            f"| {f['name']} | {_fmt(f['wall_s'], '.1f')} | {_fmt(f['fit_s_sum'], '.1f')} "
            f"({_fmt(f['final_fit_s'], '.1f')}) | {f['tasks']} | "
            f"{_fmt(f['training_time_mean'], '.2f')} | {_fmt(f['inference_ms_per_1k'], '.1f')} | "
            f"{_fmt(f['model_size_mb'], '.2f')} | {_fmt(f['val_f1'], '.3f')}{_ci(f['val_f1_ci'])}"
            f" | {_fmt(f['val_roc_auc'], '.3f')} | {_fmt(f['test_f1'], '.3f')} | {epochs} | "
            f"{f['log_model_s']:.2f} |")
    return lines


def size_summary(size: dict[str, Any]) -> str:
    """One paragraph: total wall time, its phases and the load on the machine."""
    tree, folds = size["tree"], size.get("cv_folds")
    how = f"{folds}-fold cross-validation" if folds else "one holdout split"
    return (f"Phase 1 session ({how}, {size['tasks']} tasks) {size['session_wall_s']:.1f} s "
            f"(set-up: checks, split, MLflow runs, worker start-up until the first task "
            f"{size['setup_s']:.1f} s; frameworks side by side {size['frameworks_s']:.1f} "
            f"s; selection and comparison artifacts {size['after_frameworks_s']:.1f} s, of "
            f"which chart "
            f"{size['chart_s']:.1f} s); in the driver, the intervals of every framework "
            f"{size.get('intervals_s', 0.0):.1f} s and the choice of the winner and its tier "
            f"{size.get('selection_s', 0.0):.1f} s; fits summed over all tasks "
            f"{size['fit_s_total']:.1f} s, "
            f"whole tasks {size['task_s_total']:.1f} s; all MLflow calls in the driver "
            f"{size['mlflow_s']:.1f} s (log_model {size['mlflow_log_model_s']:.1f} s); whole "
            f"process incl. imports and data generation {size['process_wall_s']:.1f} s. CPU of "
            f"the process tree {tree['session_cpu_s']:.0f} s ({tree['cores_used']:.2f} cores on "
            f"average); peak RSS of the tree {tree['peak_tree_rss_mib']:.0f} MiB, of one process "
            f"{tree['peak_process_rss_mib']:.0f} MiB, up to {tree['max_processes']} processes. "
            f"Load average (1/5/15 min) {size['loadavg_before']} before, "
            f"{size['loadavg_after']} after; other processes used "
            f"{tree['other_procs_cores']:.2f} cores on average during the session. Best: "
            f"{size['best']} (top tier: {', '.join(size['top_tier']) or '-'}).")


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready markdown report."""
    m = results["machine"]
    lines = ["# Phase 1 benchmark", "",
             f"`{' '.join(results.get('command_line') or ['python', 'benchmarks/phase1.py'])}` "
             f"on {m['usable_cpus']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Python "
             f"{m['python']}; generated {results['generated_at']}. Synthetic binary data (38% "
             "positives), 30 features: 24 numeric (6 of them with 2-15% NaN) and 6 text columns "
             "of 3-20 levels; 20 % test rows held out, then the folds (or the 60/20/20 holdout "
             "split); all six classification frameworks with their baseline parameters, SQLite "
             "MLflow in a fresh workspace, each size in a fresh process. **Frameworks run side "
             "by side** (one task per framework and fold plus a final fit each, on up to 4 "
             "worker processes), so the per-framework windows overlap and do not add up to the "
             "session; the fits summed are CPU-bound work in the workers. Load averages include "
             "the benchmark itself; 'other processes' is the CPU everything else on the machine "
             "used.", ""]
    for key, size in results["sizes"].items():
        lines += [f"## {int(key):,} rows", "", *framework_table(size), "", size_summary(size), ""]
    lines += [results["verdict"], "",
              "window = the framework's first task start to its results logged (overlapping); "
              "fits summed = the `fold_finished` seconds plus the final fit's (preprocessing "
              "included); fold fit mean = `training_time`; infer = `inference_time_ms`, median "
              "of 5 after a warm-up on 1,000 raw rows; val = the mean over the folds with its "
              "corrected 95 % interval; epochs = epochs run on each fold (and by the final "
              "fit on every development row); log_model = the "
              "driver's model logging for that framework.", ""]
    return "\n".join(lines)


def verdict(sizes: dict[str, Any]) -> str:
    """Whether issue 10's target (100k rows, 5 folds, under 5 minutes) is met."""
    size = sizes.get(str(TARGET_ROWS))
    if size is None:
        return f"Target not measured: run with {TARGET_ROWS:,} rows."
    longest = max((f for f in size["frameworks"] if f["wall_s"] is not None),
                  key=lambda f: f["fit_s_sum"] or 0.0, default=None)
    met = size["session_wall_s"] < TARGET_SECONDS
    how = (f"{size['cv_folds']}-fold cross-validation" if size.get("cv_folds")
           else "one holdout split")
    text = (f"**Target (all six at {TARGET_ROWS:,} rows with 5-fold cross-validation under "
            f"{TARGET_SECONDS:.0f} s): {'met' if met and size.get('cv_folds') == 5 else 'NOT met'}"
            f"** - {size['session_wall_s']:.1f} s with {how}.")
    if longest is not None:
        text += (f" Most fit time: {longest['name']} ({longest['fit_s_sum']:.1f} s summed over "
                 f"its {longest['tasks']} tasks, window {longest['wall_s']:.1f} s).")
    return text


def print_report(results: dict[str, Any]) -> None:
    """The readable table on stdout."""
    for key, size in results["sizes"].items():
        print(f"\n{int(key):,} rows")
        print("\n".join(framework_table(size)))
        print(size_summary(size))
    print("\n" + results["verdict"])


def _cv(text: str) -> int | None:
    return None if text.strip().lower() == "auto" else int(text)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark sizes, print the table, write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_ROWS} rows, {QUICK_CV} folds unless --cv, print only")
    p.add_argument("--cv", help="folds (default 5; --quick 2); 0: one holdout split; auto: "
                   "the engine's own choice (5 folds up to 50,000 rows, holdout above)")
    p.add_argument("--workers", type=int, help="Phase 1 worker processes (default: the engine's)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--frameworks", help="comma-separated subset (default: all six)")
    p.add_argument("--out-dir", type=Path, help="where phase1.json/.md go "
                   "(default benchmarks/results; --quick writes nothing unless given)")
    p.add_argument("--render", action="store_true",
                   help="rewrite phase1.md (and print the table) from phase1.json, run nothing")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.cv = (QUICK_CV if args.quick else 5) if args.cv is None else _cv(args.cv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.worker:
        worker(args.worker, args.worker_out, args)
        return 0
    if args.render:
        return render(args.out_dir or RESULTS)
    rows = [QUICK_ROWS] if args.quick else args.rows
    out_dir = args.out_dir or (None if args.quick else RESULTS)
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(), "packages": _packages(), "command": sys.argv,
        "command_line": ["python", "benchmarks/phase1.py", *sys.argv[1:]], "cv": args.cv,
        "sizes": {}}
    for n in rows:
        results["sizes"][str(n)] = run_worker_process(n, args)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["verdict"] = verdict(results["sizes"])
    print_report(results)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "phase1.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
        (out_dir / "phase1.md").write_text(report_markdown(results))
        print(f"\nwrote {out_dir / 'phase1.json'} and {out_dir / 'phase1.md'}")
    return 0


def render(out_dir: Path) -> int:
    """Print the table and rewrite phase1.md from an existing phase1.json."""
    results = json.loads((out_dir / "phase1.json").read_text())
    print_report(results)
    (out_dir / "phase1.md").write_text(report_markdown(results))
    return 0


def _packages() -> dict[str, str | None]:
    from modeldev.phase1.outputs import package_versions

    return {**package_versions(), "psutil": _version("psutil"), "keras": _version("keras")}


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
