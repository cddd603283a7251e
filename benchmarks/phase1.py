"""Phase 1 benchmark: every classification framework on synthetic 30-feature data, for real.

    python benchmarks/phase1.py                    # 10k and 100k rows, writes benchmarks/results/
    python benchmarks/phase1.py --rows 10000       # one size
    python benchmarks/phase1.py --quick            # 2k rows smoke run, prints only
    python benchmarks/phase1.py --render           # rewrite phase1.md from phase1.json

Not a test: it runs the real `run_phase1` (all six classification frameworks, SQLite MLflow in a
fresh temporary workspace, model logging, comparison artifacts) once per size, each size in its
own fresh Python process so imports, caches and memory do not carry over from one size to the
next. Timings depend on what else the machine is doing, so the 1/5/15-minute load averages and
the CPU time used by other processes during the run are recorded next to the numbers.

How things are measured:
- fit seconds and inference ms per 1,000 rows are the engine's own `training_time` and
  `inference_time_ms` metrics (fit includes the preprocessing fit; inference is the median of 5
  predictions of 1,000 raw validation rows after a warm-up).
- peak memory is the process's peak resident set size while each framework runs (from its
  `framework_started` event to the next event that ends it), read from the kernel's high-water
  mark (VmHWM in /proc/self/status), which is reset at every `framework_started` by writing 5 to
  /proc/self/clear_refs. A psutil thread sampling RSS every 20 ms runs alongside as a cross-check
  (and is the only source where the reset is not allowed). RSS is process-wide: it includes the
  data, the imported frameworks and the models of the frameworks that ran before, so the growth
  over the RSS at the framework's start is given too.
- MLflow and artifact overhead: the Tracker's methods, the scoring and the inference timing are
  wrapped with timers (no behaviour changes), so a framework's wall time splits into fit, scoring,
  inference timing, model logging, other MLflow calls and the rest (mostly imports).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_ROWS = 100_000
TARGET_SECONDS = 300.0
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


# ---------------------------------------------------------------- memory and CPU probes

def _hwm_kib() -> int | None:
    with contextlib.suppress(OSError, AttributeError):
        match = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
        return int(match.group(1))
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class MemoryProbe:
    """Peak RSS per window: the kernel's resettable high-water mark plus a 20 ms sampler."""

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.proc, self.interval = psutil.Process(), interval
        self.lock = threading.Lock()
        self.sampled_peak = self.start_rss = self.rss()
        self.hwm_resettable = _reset_hwm()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def rss(self) -> int:
        """Current RSS in bytes."""
        return int(self.proc.memory_info().rss)

    def _sample(self) -> None:
        while not self.done.wait(self.interval):
            rss = self.rss()
            with self.lock:
                self.sampled_peak = max(self.sampled_peak, rss)

    def window(self) -> dict[str, float | None]:
        """Close the current window (peaks since the last call) and open the next one."""
        rss = self.rss()
        hwm = _hwm_kib() if self.hwm_resettable else None
        with self.lock:
            sampled, start = max(self.sampled_peak, rss), self.start_rss
            self.sampled_peak = self.start_rss = rss
        if self.hwm_resettable:
            _reset_hwm()
        peak = hwm * 1024 if hwm is not None else sampled
        mib = 2**20
        return {"peak_rss_mib": peak / mib, "sampled_peak_rss_mib": sampled / mib,
                "start_rss_mib": start / mib, "growth_mib": (peak - start) / mib,
                "source": "VmHWM" if hwm is not None else "psutil-20ms"}

    def stop(self) -> None:
        """Stop the sampler thread."""
        self.done.set()
        self.thread.join()


class CpuProbe:
    """CPU seconds of this process and of everything else on the machine, per window."""

    def __init__(self) -> None:
        import psutil

        self.psutil, self.proc = psutil, psutil.Process()
        self.last = self._now()

    def _now(self) -> tuple[float, float, float]:
        mine = self.proc.cpu_times()
        total = self.psutil.cpu_times()
        busy = total.user + total.nice + total.system + getattr(total, "irq", 0.0) \
            + getattr(total, "softirq", 0.0) + getattr(total, "steal", 0.0)
        return time.perf_counter(), mine.user + mine.system, busy

    def window(self) -> dict[str, float]:
        """CPU use since the last call: ours, others', and the load averages now."""
        now = self._now()
        wall, ours, busy = (now[i] - self.last[i] for i in range(3))
        self.last = now
        return {"cpu_s": ours, "cores_used": ours / wall if wall > 0 else 0.0,
                "other_procs_cores": max(busy - ours, 0.0) / wall if wall > 0 else 0.0,
                "loadavg": [round(x, 2) for x in os.getloadavg()]}


# ---------------------------------------------------------------- timers around the engine

class Timers:
    """Wall-clock intervals of the engine's MLflow, scoring and artifact calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    def wrap(self, label: str, fn: Any) -> Any:
        """`fn` with its wall time recorded under `label`."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls.append((label, start, time.perf_counter()))

        return timed

    def total(self, prefix: str, start: float = -1e18, end: float = 1e18) -> float:
        """Seconds spent in calls whose label starts with `prefix`, inside [start, end]."""
        return sum(e - s for label, s, e in self.calls
                   if label.startswith(prefix) and s >= start and e <= end)


def instrument(timers: Timers) -> None:
    """Wrap the Tracker's methods, scoring, inference timing and the artifact writers."""
    from modeldev.phase1 import outputs as phase1_outputs
    from modeldev.phase1 import run as phase1_run
    from modeldev.tracking.tracker import Tracker

    for name in TRACKER_METHODS:
        setattr(Tracker, name, timers.wrap(f"mlflow.{name}", getattr(Tracker, name)))
    phase1_run.score = timers.wrap("score", phase1_run.score)
    phase1_run.inference_ms = timers.wrap("inference", phase1_run.inference_ms)
    phase1_run.write_phase1_outputs = timers.wrap(
        "outputs", phase1_run.write_phase1_outputs)
    phase1_outputs.save_figure = timers.wrap("chart", phase1_outputs.save_figure)


# ---------------------------------------------------------------- one size, in a worker process

class Recorder:
    """The `on_event` sink: per-framework windows of time, memory, CPU and epochs."""

    def __init__(self, memory: MemoryProbe, cpu: CpuProbe) -> None:
        self.memory, self.cpu = memory, cpu
        self.current: dict[str, Any] | None = None
        self.frameworks: list[dict[str, Any]] = []
        self.session: dict[str, Any] = {}
        self.setup: dict[str, Any] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind, now = event["type"], time.perf_counter()
        if kind == "session_started":
            self.session = {"task": event["task"], "sizes": event["sizes"],
                            "notices": event["notices"], "started": now}
        elif kind == "framework_started":
            self._close(now, None)
            self.current = {"name": event["framework"], "device": event["device"],
                            "start": now, "epochs": [], "load_at_start": os.getloadavg()[0]}
            print(f"  {event['framework']} ...", flush=True)
        elif kind == "epoch" and self.current is not None:
            self.current["epochs"].append((event["epoch"], event["loss"], event["val_loss"]))
        elif kind in ("framework_finished", "framework_failed"):
            self._close(now, event)

    def _close(self, now: float, event: dict[str, Any] | None) -> None:
        window = {"memory": self.memory.window(), "cpu": self.cpu.window()}
        if self.current is None:  # set-up before the first framework; later gaps are ~ms
            self.setup = self.setup or window
            return
        cur, self.current = self.current, None
        cur.update(window, end=now, wall_s=now - cur["start"])
        cur["status"] = "FAILED" if event and event["type"] == "framework_failed" else "FINISHED"
        cur["error"] = event.get("error") if event else None
        self.frameworks.append(cur)
        print(f"  {cur['name']}: {cur['status'].lower()} in {cur['wall_s']:.1f} s, peak RSS "
              f"{cur['memory']['peak_rss_mib']:.0f} MiB, load {os.getloadavg()[0]:.2f}",
              flush=True)


def run_size(rows: int, seed: int, device: str, frameworks: list[str] | None) -> dict[str, Any]:
    """Generate `rows` rows and run the real Phase 1 on them in a fresh temp workspace."""
    process_start = time.perf_counter()
    from modeldev.config import resolve_settings
    from modeldev.data.loading import Source
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    frame = make_dataset(rows, seed=seed)
    timers, memory, cpu = Timers(), MemoryProbe(), CpuProbe()
    instrument(timers)
    recorder = Recorder(memory, cpu)
    before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="modeldev-bench-") as ws:
        settings = resolve_settings(workspace=ws, tracking_uri=f"sqlite:///{ws}/mlflow.db")
        request = TrainRequest(source=Source(frame=frame, name=f"synthetic_{rows}",
                                             target="target", origin="benchmark"),
                               frameworks=frameworks, seed=seed, device=device)
        start = time.perf_counter()
        result = run_phase1(request, settings, on_event=recorder)
        end = time.perf_counter()
        tail = {"memory": memory.window(), "cpu": cpu.window()}
    memory.stop()
    return summarise(rows, frame, result, recorder, timers, (start, end, process_start),
                     (before, os.getloadavg()), tail)


def summarise(rows: int, frame: pd.DataFrame, result: Any, rec: Recorder, timers: Timers,
              clock: tuple[float, float, float], loads: tuple[Any, Any],
              tail: dict[str, Any]) -> dict[str, Any]:
    """One size's numbers: the session, its phases, and one row per framework."""
    start, end, process_start = clock
    by_name = {r.name: r for r in result.runs}
    fws = [framework_row(f, by_name[f["name"]], timers) for f in rec.frameworks]
    first = rec.frameworks[0]["start"] if rec.frameworks else end
    last = rec.frameworks[-1]["end"] if rec.frameworks else start
    mlflow_s = timers.total("mlflow.", start, end)
    outputs_s = timers.total("outputs", start, end)
    return {
        "rows": rows, "columns": int(frame.shape[1]) - 1, "split": rec.session.get("sizes"),
        "positive_share": float(frame["target"].mean()), "notices": rec.session.get("notices"),
        "session_wall_s": end - start, "process_wall_s": end - process_start,
        "setup_s": first - start, "frameworks_s": last - first, "outputs_s": outputs_s,
        "after_frameworks_s": end - last,
        "mlflow_s": mlflow_s, "mlflow_log_model_s": timers.total("mlflow.log_model", start, end),
        "artifacts_non_mlflow_s": outputs_s - timers.total("mlflow.", last, end),
        "chart_s": timers.total("chart", start, end),
        "mlflow_by_call_s": {name: timers.total(f"mlflow.{name}", start, end)
                             for name in TRACKER_METHODS},
        "fit_s_total": sum(f["fit_s"] or 0.0 for f in fws),
        "setup_window": rec.setup, "outputs_window": tail,
        "loadavg_before": [round(x, 2) for x in loads[0]],
        "loadavg_after": [round(x, 2) for x in loads[1]],
        "best": result.best.name if result.best else None,
        "primary_metric": result.primary_metric, "frameworks": fws,
    }


def framework_row(f: dict[str, Any], run: Any, timers: Timers) -> dict[str, Any]:
    """One framework's numbers and where its wall time went."""
    window = (f["start"], f["end"])
    m = run.metrics
    epochs = f["epochs"]
    best_epoch = (min(epochs, key=lambda e: e[2])[0] if epochs else None)
    parts = {"fit_s": m.get("training_time"), "score_s": timers.total("score", *window),
             "inference_timing_s": timers.total("inference", *window),
             "log_model_s": timers.total("mlflow.log_model", *window),
             "other_mlflow_s": timers.total("mlflow.", *window)
             - timers.total("mlflow.log_model", *window)}
    known = sum(v or 0.0 for v in parts.values())
    return {
        "name": f["name"], "status": f["status"], "error": f["error"], "device": run.device,
        "wall_s": f["wall_s"], **parts, "rest_s": f["wall_s"] - known,
        "inference_ms_per_1k": m.get("inference_time_ms"),
        "model_size_mb": m.get("model_size_mb"),
        "val_f1": m.get("f1_score"), "val_roc_auc": m.get("roc_auc"),
        "val_accuracy": m.get("accuracy"), "test_f1": run.test_metrics.get("f1_score"),
        "epochs_run": len(epochs) or None, "epochs_budget": run.params.get("epochs"),
        "best_epoch": best_epoch, "batch_size": run.params.get("batch_size"),
        "memory": f["memory"], "cpu": f["cpu"], "load1_at_start": round(f["load_at_start"], 2),
    }


def worker(rows: int, out: Path, seed: int, device: str, frameworks: list[str] | None) -> None:
    """Entry point of the per-size child process."""
    print(f"phase1 at {rows:,} rows (pid {os.getpid()}) ...", flush=True)
    out.write_text(json.dumps(run_size(rows, seed, device, frameworks), default=float))


# ---------------------------------------------------------------- driver, report

def machine() -> dict[str, Any]:
    """Where the numbers were taken."""
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else ""
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": model, "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def run_worker_process(rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one size in a fresh interpreter and read back its numbers."""
    with tempfile.TemporaryDirectory(prefix="modeldev-bench-out-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(rows),
               "--worker-out", str(out), "--seed", str(args.seed), "--device", args.device]
        if args.frameworks:
            cmd += ["--frameworks", args.frameworks]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        return json.loads(out.read_text())


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def framework_table(size: dict[str, Any]) -> list[str]:
    """Markdown rows for one size."""
    lines = ["| framework | fit s | infer ms / 1k rows | peak RSS MiB (growth) | model MB | "
             "val F1 | val ROC AUC | epochs (best) | wall s (log_model s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in size["frameworks"]:
        mem = f["memory"]
        epochs = (f"{f['epochs_run']} ({f['best_epoch']})" if f["epochs_run"] else "-")
        lines.append(
            f"| {f['name']} | {_fmt(f['fit_s'], '.1f')} | {_fmt(f['inference_ms_per_1k'], '.1f')}"
            f" | {mem['peak_rss_mib']:.0f} (+{max(mem['growth_mib'], 0):.0f}) | "
            f"{_fmt(f['model_size_mb'], '.2f')} | {_fmt(f['val_f1'], '.3f')} | "
            f"{_fmt(f['val_roc_auc'], '.3f')} | {epochs} | "
            f"{f['wall_s']:.1f} ({f['log_model_s']:.2f}) |")
    return lines


def size_summary(size: dict[str, Any]) -> str:
    """One paragraph: total wall time, its phases and the load on the machine."""
    cpu = [f["cpu"]["other_procs_cores"] for f in size["frameworks"]]
    return (f"Phase 1 session {size['session_wall_s']:.1f} s (set-up {size['setup_s']:.1f} s, "
            f"frameworks {size['frameworks_s']:.1f} s, comparison artifacts "
            f"{size['after_frameworks_s']:.1f} s, of which chart {size['chart_s']:.1f} s); "
            f"all MLflow calls {size['mlflow_s']:.1f} s (log_model "
            f"{size['mlflow_log_model_s']:.1f} s); whole process incl. imports and data "
            f"generation {size['process_wall_s']:.1f} s. Load average (1/5/15 min) "
            f"{size['loadavg_before']} before, {size['loadavg_after']} after; other processes "
            f"used {np.mean(cpu) if cpu else 0:.2f} cores on average during the fits. "
            f"Best: {size['best']}.")


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready markdown report."""
    m = results["machine"]
    lines = ["# Phase 1 benchmark", "",
             f"`python benchmarks/phase1.py` on {m['cpu_count']} CPUs ({m['cpu_model']}), "
             f"{m['memory_gib']} GiB, Python {m['python']}; generated {results['generated_at']}. "
             "Synthetic binary data (38% positives), 30 features: 24 numeric (6 of them with "
             "2-15% NaN) and 6 text columns of 3-20 levels; 60/20/20 split; all six "
             "classification frameworks with their baseline parameters, SQLite MLflow in a fresh "
             "workspace, each size in a fresh process. Load averages include the benchmark "
             "itself; 'other processes' is the CPU everything else on the machine used.", ""]
    for key, size in results["sizes"].items():
        lines += [f"## {int(key):,} rows", "", *framework_table(size), "", size_summary(size), ""]
    lines += [results["verdict"], "",
              "fit s = `training_time` (preprocessing fit + model fit); infer = "
              "`inference_time_ms`, median of 5 after a warm-up on 1,000 raw rows; peak RSS = "
              "process high-water mark while the framework ran (growth over its start); epochs = "
              "epochs run (best validation-loss epoch); wall = framework start to end, incl. "
              "scoring, model logging and imports.", ""]
    return "\n".join(lines)


def verdict(sizes: dict[str, Any]) -> str:
    """Whether the issue's target (100k rows under 5 minutes) is met, and the bottleneck."""
    size = sizes.get(str(TARGET_ROWS))
    if size is None:
        return f"Target not measured: run with {TARGET_ROWS:,} rows."
    slowest = max(size["frameworks"], key=lambda f: f["wall_s"])
    share = slowest["wall_s"] / size["session_wall_s"]
    met = size["session_wall_s"] < TARGET_SECONDS
    return (f"**Target (all six at {TARGET_ROWS:,} rows under {TARGET_SECONDS:.0f} s): "
            f"{'met' if met else 'NOT met'}** - {size['session_wall_s']:.1f} s. Slowest framework: "
            f"{slowest['name']} at {slowest['wall_s']:.1f} s ({share:.0%} of the session).")


def print_report(results: dict[str, Any]) -> None:
    """The readable table on stdout."""
    for key, size in results["sizes"].items():
        print(f"\n{int(key):,} rows")
        print("\n".join(framework_table(size)))
        print(size_summary(size))
    print("\n" + results["verdict"])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark sizes, print the table, write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--quick", action="store_true", help="2,000 rows, print only")
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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    names = args.frameworks.split(",") if args.frameworks else None
    if args.worker:
        worker(args.worker, args.worker_out, args.seed, args.device, names)
        return 0
    if args.render:
        return render(args.out_dir or RESULTS)
    rows = [2_000] if args.quick else args.rows
    out_dir = args.out_dir or (None if args.quick else RESULTS)
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(), "packages": _packages(), "command": sys.argv, "sizes": {}}
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
