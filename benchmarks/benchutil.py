"""What the benchmark scripts share: machine facts, package versions, the synthetic table, and
running one stage as a separate process timed from outside with the CPU of its process tree.

Imported by the scripts next to it (`python benchmarks/<script>.py` puts this folder on
sys.path); it imports only the standard library, psutil and, on demand, benchmarks/phase1.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED_LOAD = 0.5  # other processes' average cores above which a stage counts as shared
PACKAGES = ("modeldev", "mlflow", "xgboost", "lightgbm", "scikit-learn", "tensorflow", "keras",
            "torch", "numpy", "pandas", "joblib", "psutil")


def phase1_module() -> Any:
    """benchmarks/phase1.py as a module (its seeded data generator `make_dataset`)."""
    spec = importlib.util.spec_from_file_location("bench_phase1", ROOT / "benchmarks" / "phase1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_dataset(rows: int, seed: int) -> Any:
    """The synthetic binary table of benchmarks/phase1.py (24 numeric, 6 text columns)."""
    return phase1_module().make_dataset(rows, seed=seed)


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def usable_cpus() -> int:
    """Cores this process may run on (CPU affinity respected)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """Where the numbers were taken: CPU model, cores, memory, Python, load average now."""
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else ""
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": model, "cpu_count": os.cpu_count(), "usable_cpus": usable_cpus(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "loadavg_at_start": loadavg()}


def packages(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that matter to the numbers (None: not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A stage's environment: --workspace alone decides the store and folders."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELDEV_", "MLFLOW_TRACKING"))}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.update(extra or {})
    return env


def busy_cpu() -> float:
    """CPU seconds every process on the machine has used since boot."""
    return _busy_cpu()


def _busy_cpu() -> float:
    import psutil

    t = psutil.cpu_times()
    return (t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
            + getattr(t, "steal", 0.0))


def reaped_cpu() -> float:
    """CPU seconds of this process and of every descendant it (or they) reaped."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class TreeSampler:
    """Samples a process tree every `interval` s: CPU seconds per process (the last value seen,
    so a process is counted even if nobody reaps it), peak summed RSS and the most processes."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        import psutil

        self.psutil, self.root, self.interval = psutil, psutil.Process(pid), interval
        self.cpu: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self.peak_process_rss = 0
        self.max_processes = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except self.psutil.Error:
            return
        rss = 0
        for p in procs:
            with contextlib.suppress(self.psutil.Error), p.oneshot():
                t = p.cpu_times()
                self.cpu[(p.pid, p.create_time())] = t.user + t.system
                one = p.memory_info().rss
                rss += one
                self.peak_process_rss = max(self.peak_process_rss, one)
        self.peak_rss = max(self.peak_rss, rss)
        self.max_processes = max(self.max_processes, len(procs))

    def _run(self) -> None:
        while not self.done.is_set():
            self._sample()
            self.done.wait(self.interval)

    def cpu_s(self) -> float:
        """CPU seconds of the tree so far (each process as last seen)."""
        return sum(self.cpu.values())

    def stop(self) -> dict[str, float]:
        """Stop sampling; the tree's CPU seconds (as last seen), peak RSS and process count."""
        self.done.set()
        self.thread.join()
        self._sample()
        return {"sampled_cpu_s": self.cpu_s(), "peak_tree_rss_mib": self.peak_rss / 2**20,
                "peak_process_rss_mib": self.peak_process_rss / 2**20,
                "max_processes": self.max_processes}


def run_stage(name: str, cmd: list[str], env: dict[str, str] | None = None,
              cwd: Path = ROOT, timeout: float | None = None) -> dict[str, Any]:
    """Run one stage process to its end: wall time, CPU of its whole tree, others' CPU, stdout.

    CPU: getrusage over the reaped descendants (exact for every process that was waited for)
    and a 0.25 s psutil sampler of the tree as a cross-check (it also sees processes nobody
    reaps, and gives the peak RSS of the tree).
    """
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])[:200]}", flush=True)
    load_before, busy0, own0 = loadavg(), _busy_cpu(), reaped_cpu()
    started_epoch, start = time.time(), time.perf_counter()
    proc = subprocess.Popen(cmd, env=env or child_env(), cwd=cwd, stdout=subprocess.PIPE,
                            text=True)
    sampler = TreeSampler(proc.pid)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        sampler.stop()
        raise SystemExit(f"{name} ran past {timeout:.0f} s and was killed") from None
    wall = time.perf_counter() - start
    ended_epoch = time.time()
    tree = sampler.stop()
    busy, own = _busy_cpu() - busy0, reaped_cpu() - own0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    stage = {"wall_s": wall, "cpu_s": own, "cores_used": own / wall if wall else 0.0, **tree,
             "other_procs_cores": max(busy - max(own, tree["sampled_cpu_s"]), 0.0) / wall
             if wall else 0.0,
             "started_epoch": started_epoch, "ended_epoch": ended_epoch,
             "loadavg_before": load_before, "loadavg_after": loadavg(), "stdout": stdout}
    print(f"  {name}: {wall:.1f} s wall, CPU {own:.1f} s (sampled {tree['sampled_cpu_s']:.1f} s),"
          f" other processes {stage['other_procs_cores']:.2f} cores, load "
          f"{stage['loadavg_after']}", flush=True)
    return stage


def last_json(text: str) -> dict[str, Any]:
    """The last line of `text` that is a JSON object (a CLI's --json output)."""
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def python() -> str:
    """The interpreter running this script (stages use the same one)."""
    return sys.executable


def utc_now() -> str:
    """The time now, ISO 8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON (floats as floats)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")


def shared_note(stages: dict[str, dict[str, Any]]) -> str:
    """One sentence on the load during the stages (and a warning when it was shared)."""
    other = ", ".join(f"{k} {v['other_procs_cores']:.2f}" for k, v in stages.items())
    text = f"Cores used by other processes on average during each stage: {other}."
    if any(v["other_procs_cores"] > SHARED_LOAD for v in stages.values()):
        text += (f" **Taken on a shared machine**: other processes used more than {SHARED_LOAD} "
                 "cores on average during at least one stage, so wall times are noisier.")
    return text


def write_results(stem: str, results: dict[str, Any], report: str) -> None:
    """benchmarks/results/<stem>.json and <stem>.md, and the report printed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text(report)
    print(report)
