"""GPU proof (issue 13): the framework adapters on a GPU against the same fits on CPU cores.

    python benchmarks/gpu.py                     # 1,000,000 x 50, all checks, writes results
    python benchmarks/gpu.py --rows 200000 --tune-groups 8 --budget-s 420   # sized to a lease
    python benchmarks/gpu.py --quick             # 4,000 rows, tiny grid: a CPU smoke run
    python benchmarks/gpu.py --adapters          # adapter checks only, even where MLflow is
    python benchmarks/gpu.py --full              # also `modeldev train|tune --device gpu`
    python benchmarks/gpu.py --render            # rewrite gpu.md from gpu.json

Not a test. Everything that touches a GPU runs in a fresh child process, one at a time, while
this process samples the GPU's used memory (NVML through pynvml, else `nvidia-smi` polling), so
each figure belongs to one framework. Stages, in order (a stage past `--budget-s` is skipped and
says so; results are rewritten after every stage, so a killed run keeps what it measured):

1. environment: nvidia-smi (GPU name, memory, driver, the driver's CUDA version), each
   library's version and CUDA build, and per framework whether it is installed and can use a
   GPU here (`modeldev.gpu`);
2. per framework (XGBoost, LightGBM, Keras, PyTorch): one adapter fit with `device="gpu"`
   requested and one on CPU (all cores) on the same 60/20/20 split of the same seeded table;
   what ran (`device_used`, `gpu_used`, the fallback reason), seconds, validation metrics,
   |GPU - CPU| of ROC AUC and F1 against the tolerance (gpu_checks.TOLERANCE), peak GPU memory;
3. XGBoost staged evaluation on the GPU: one 200-round fit read at 50 and 100 rounds against
   separate GPU fits, bit for bit;
4. tuning the default XGBoost grid (or its first `--tune-groups` staged groups: the same
   combinations on both sides) through the engine's trial path (`tuning.plan` +
   `tuning.trial.evaluate_group` on `execution.local`, as `modeldev tune` runs it, without
   MLflow's child runs) on the GPU and on all CPU cores; wall times and their ratio (goal: the
   GPU at least 4x faster). A CPU process cut off at --cpu-tune-factor x the GPU process's
   wall time gives a lower bound on the whole-process ratio instead;
5. with `--full` (or by default where MLflow imports and not `--adapters`/`--quick`):
   `modeldev train --device gpu|cpu --cv 0` and `modeldev tune --device gpu|cpu` on the same
   CSV, each timed from outside.

On a machine without a GPU the GPU-requested fits still run (they must fall back to CPU with a
reason) and the report says, first, that no GPU was present and nothing was measured on one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchutil
import gpu_checks
import gpu_report

FRAMEWORKS = ("xgboost_baseline", "lightgbm_baseline", "tensorflow_nn", "pytorch_nn")
DEFAULT_ROWS = 1_000_000
QUICK_ROWS, QUICK_GROUPS, QUICK_EPOCHS = 4_000, 4, 5
SPEEDUP_GOAL = 4.0
HERE = Path(__file__).resolve().parent
SRC = benchutil.ROOT / "src"


def _env() -> dict[str, str]:
    """A child's environment: benchutil's, with src/ first on PYTHONPATH (modeldev need not be
    installed on a GPU machine)."""
    path = os.environ.get("PYTHONPATH")
    return benchutil.child_env({"PYTHONPATH": f"{SRC}{os.pathsep}{path}" if path else str(SRC)})


class GpuMemory:
    """Samples the GPU's used memory in a thread: NVML (pynvml) every 0.05 s, else nvidia-smi
    every 0.25 s; `peak_mib` is the most used above what was used when sampling began."""

    def __init__(self) -> None:
        self.method, self._read = _memory_reader()
        self.baseline = self.peak = None if self._read is None else self._read()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self._read is not None:
            self._thread.start()

    def _run(self) -> None:
        interval = 0.05 if self.method.startswith("NVML") else 0.25
        while not self._done.wait(interval):
            with contextlib.suppress(Exception):
                used = self._read()
                self.peak = max(self.peak or 0.0, used)

    def stop(self) -> dict[str, Any]:
        """The peak above the starting level, in MiB, and how it was read."""
        self._done.set()
        if self._read is None:
            return {"gpu_memory_method": self.method}
        self._thread.join()
        return {"gpu_memory_method": self.method, "gpu_idle_mib": self.baseline,
                "gpu_peak_above_idle_mib": (self.peak or 0.0) - (self.baseline or 0.0)}


def _memory_reader() -> tuple[str, Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return "NVML used memory of GPU 0, every 0.05 s", (
            lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)
    except Exception:  # no pynvml, no driver, no device
        pass
    exe = shutil.which("nvidia-smi")
    if exe is None or not _smi(["--query-gpu=memory.used", "--format=csv,noheader,nounits"]):
        return "none: no NVML and no working nvidia-smi", None
    return "nvidia-smi memory.used of GPU 0, every 0.25 s", (lambda: float(_smi(
        ["--query-gpu=memory.used", "--format=csv,noheader,nounits"]).splitlines()[0]))


def _smi(args: list[str]) -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ""
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# ---------------------------------------------------------------- child processes

def worker(args: argparse.Namespace) -> int:
    """Run one stage in this (child) process and write its JSON to --out."""
    sys.path.insert(0, str(SRC))
    threads = args.threads or benchutil.usable_cpus()
    if args.worker == "env":
        result = environment()
    else:
        split = gpu_checks.load_split(args.data, args.seed)
        if args.worker == "fit":
            result = gpu_checks.fit_one(args.framework, args.device, split, threads,
                                        args.net_epochs)
        elif args.worker == "staged":
            result = gpu_checks.staged_check(split, args.device, threads)
        else:
            result = gpu_checks.run_tuning(split, args.device, args.tune_groups,
                                           args.tune_workers)
    benchutil.write_json(args.out, result)
    return 0


def environment() -> dict[str, Any]:
    """The GPU as nvidia-smi and each library see it, and per framework what is installed."""
    from modeldev.frameworks.registry import get_framework
    from modeldev.gpu import detect_gpu, framework_gpu_reason

    header = _smi([])
    cuda = next((line.split("CUDA Version:")[1].strip(" |") for line in header.splitlines()
                 if "CUDA Version:" in line), None)
    out: dict[str, Any] = {"gpus": detect_gpu(with_frameworks=False)["gpus"],
                           "driver_cuda_version": cuda, "frameworks": {}}
    for name in FRAMEWORKS:
        installed, why = gpu_checks.library_status(name)
        entry: dict[str, Any] = {"installed": installed, "reason": why}
        if installed:
            entry["gpu_ok"], entry["gpu_reason"] = framework_gpu_reason(get_framework(name))
            entry["build"] = _build_info(name)
        out["frameworks"][name] = entry
    return out


def _build_info(name: str) -> dict[str, Any]:
    with contextlib.suppress(Exception):
        if name == "xgboost_baseline":
            import xgboost

            info = xgboost.build_info()
            return {"version": xgboost.__version__, "USE_CUDA": info.get("USE_CUDA"),
                    "CUDA_VERSION": info.get("CUDA_VERSION")}
        if name == "pytorch_nn":
            import torch

            return {"version": torch.__version__, "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version()}
        if name == "tensorflow_nn":
            import tensorflow as tf

            info = tf.sysconfig.get_build_info()
            return {"version": tf.__version__, "cuda": info.get("cuda_version"),
                    "cudnn": info.get("cudnn_version")}
        if name == "lightgbm_baseline":
            import lightgbm

            return {"version": lightgbm.__version__}
    return {}


class Runner:
    """Runs stages as child processes within the budget and keeps the results written."""

    def __init__(self, args: argparse.Namespace, results: dict[str, Any],
                 out_dir: Path | None) -> None:
        self.args, self.results, self.out_dir = args, results, out_dir
        self.started = time.perf_counter()
        self.tmp = Path(tempfile.mkdtemp(prefix="modeldev_gpu_"))

    def remaining(self) -> float | None:
        """Seconds left of --budget-s (None: no budget)."""
        if self.args.budget_s is None:
            return None
        return self.args.budget_s - (time.perf_counter() - self.started)

    def child(self, name: str, worker_args: list[str],
              timeout: float | None = None) -> dict[str, Any]:
        """One child stage: its JSON, wall seconds and GPU memory, or why it has none."""
        left = self.remaining()
        if left is not None and left < 5:
            return {"skipped": f"budget of {self.args.budget_s:.0f} s spent"}
        limit = min(x for x in (timeout, left, self.args.stage_timeout) if x is not None)
        out = self.tmp / f"{name}.json"
        cmd = [sys.executable, str(HERE / "gpu.py"), "--worker", *worker_args,
               "--out", str(out), "--seed", str(self.args.seed)]
        print(f"[{time.strftime('%H:%M:%S')}] {name} (limit {limit:.0f} s)", flush=True)
        memory, start = GpuMemory(), time.perf_counter()
        proc = subprocess.Popen(cmd, env=_env(), start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        wall = time.perf_counter() - start
        facts = {"process_wall_s": wall, **memory.stop()}
        if code is None:
            return {"timed_out": True, "limit_s": limit, **facts}
        if code != 0 or not out.exists():
            return {"error": f"exit code {code}", **facts}
        return {**json.loads(out.read_text()), **facts}

    def save(self) -> None:
        """Rewrite gpu.json and gpu.md (when writing) with what is known so far."""
        self.results["elapsed_s"] = time.perf_counter() - self.started
        if self.out_dir is not None:
            benchutil.write_json(self.out_dir / "gpu.json", self.results)
            (self.out_dir / "gpu.md").write_text(gpu_report.markdown(self.results))


# ---------------------------------------------------------------- the stages

def framework_stage(run: Runner, data: Path, name: str) -> dict[str, Any]:
    """GPU-requested and CPU fits of one framework, compared."""
    env = run.results["environment"]["frameworks"].get(name, {})
    if not env.get("installed"):
        return {"status": f"not installed: {env.get('reason', 'unknown')}"}
    common = ["fit", "--framework", name, "--data", str(data)]
    if run.args.net_epochs:
        common += ["--net-epochs", str(run.args.net_epochs)]
    gpu = run.child(f"{name}_gpu", [*common, "--device", "gpu"])
    cpu = run.child(f"{name}_cpu", [*common, "--device", "cpu"])
    return gpu_report.compare(name, gpu, cpu)


def tuning_stage(run: Runner, data: Path, gpu_present: bool) -> dict[str, Any]:
    """The grid's trials on the GPU, then on all CPU cores; the CPU process is cut off at
    --cpu-tune-factor x the GPU process's wall time, which still bounds the speedup of the whole
    process (data loading and worker start included on both sides) from below."""
    groups = ["--data", str(data)] + (["--tune-groups", str(run.args.tune_groups)]
                                      if run.args.tune_groups else [])
    out: dict[str, Any] = {}
    if gpu_present:
        extra = ["--tune-workers", str(run.args.gpu_tune_workers)] if run.args.gpu_tune_workers \
            else []
        out["gpu"] = run.child("tune_gpu", ["tune", "--device", "gpu", *groups, *extra])
    else:
        out["gpu"] = {"skipped": "no GPU present"}
    gpu_wall = out["gpu"].get("process_wall_s") if "wall_s" in out["gpu"] else None
    limit = run.args.cpu_tune_factor * gpu_wall if gpu_wall else None
    out["cpu"] = run.child("tune_cpu", ["tune", "--device", "cpu", *groups], timeout=limit)
    return gpu_report.compare_tuning(out, SPEEDUP_GOAL)


def full_stage(run: Runner, data: Path) -> dict[str, Any]:
    """`modeldev train` and `modeldev tune` through the CLI, GPU and CPU, on the same CSV."""
    csv = run.tmp / "table.csv"
    import pandas as pd

    pd.read_parquet(data).to_csv(csv, index=False)
    out: dict[str, Any] = {}
    grid = None
    if run.args.tune_groups:
        grid = run.tmp / "grid.json"
        gpu_report.write_subset_grid(grid, run.args.tune_groups)
    for device in ("gpu", "cpu"):
        ws = run.tmp / f"ws_{device}"
        base = [sys.executable, "-m", "modeldev.cli"]
        train = [*base, "train", "--data", str(csv), "--target", "target", "--task", "binary",
                 "--frameworks", ",".join(run.args.frameworks), "--device", device,
                 "--cv", "0", "--json", "--quiet", "--workspace", str(ws)]
        tune = [*base, "tune", "--framework", "xgboost_baseline", "--device", device,
                "--json", "--quiet", "--workspace", str(ws)] + (["--grid", str(grid)] if grid
                                                                 else [])
        out[device] = {}
        for stage, cmd in (("train", train), ("tune", tune)):
            left = run.remaining()
            if left is not None and left < 5:
                out[device][stage] = {"skipped": "budget spent"}
                continue
            memory = GpuMemory()
            try:
                timed = benchutil.run_stage(f"{stage} --device {device}", cmd, env=_env(),
                                           timeout=left)
                timed["summary"] = benchutil.last_json(timed.pop("stdout"))
            except SystemExit as exc:
                timed = {"error": str(exc)}
            out[device][stage] = {**timed, **memory.stop()}
            run.save()
    return gpu_report.summarise_full(out, bool(run.results.get("gpu_present")))


def _mlflow_present() -> bool:
    try:
        import mlflow  # noqa: F401
    except Exception:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the stages, print the report, write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    p.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS} rows, the first "
                   f"{QUICK_GROUPS} groups of the grid, nets {QUICK_EPOCHS} epochs; adapters only")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--adapters", action="store_true", help="adapter checks only")
    mode.add_argument("--full", action="store_true", help="also the CLI (needs MLflow)")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--tune-groups", type=int, help="tune only the first K staged groups of the "
                   "default grid (4 combinations each; default all 144: 576 combinations)")
    p.add_argument("--gpu-tune-workers", type=int, help="trial processes sharing the GPU "
                   "(default: the engine's, one per core)")
    p.add_argument("--cpu-tune-factor", type=float, default=10.0, help="stop the CPU tuning "
                   "after this many times the GPU's wall time (the speedup is then a bound)")
    p.add_argument("--net-epochs", type=int, help="cap the nets' epochs (default: baseline 100)")
    p.add_argument("--budget-s", type=float, help="skip stages once this many seconds are spent")
    p.add_argument("--stage-timeout", type=float, default=3600.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out-dir", type=Path, help="where gpu.json/.md go (default "
                   "benchmarks/results; --quick writes nothing unless given)")
    p.add_argument("--render", action="store_true", help="rewrite gpu.md from gpu.json")
    p.add_argument("--worker", choices=["env", "fit", "staged", "tune"], help=argparse.SUPPRESS)
    for hidden in ("--framework", "--device", "--data", "--out"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    p.add_argument("--tune-workers", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.data = Path(args.data) if args.data else None
        args.out = Path(args.out)
        return worker(args)
    out_dir = args.out_dir or (None if args.quick else benchutil.RESULTS)
    if args.render:
        results = json.loads(((out_dir or benchutil.RESULTS) / "gpu.json").read_text())
        ((out_dir or benchutil.RESULTS) / "gpu.md").write_text(gpu_report.markdown(results))
        return 0
    if args.quick:
        args.rows = QUICK_ROWS
        args.tune_groups = args.tune_groups or QUICK_GROUPS
        args.net_epochs = args.net_epochs or QUICK_EPOCHS
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    full = args.full or (not args.adapters and not args.quick and _mlflow_present())
    if args.full and not _mlflow_present():
        raise SystemExit("--full needs MLflow (and the rest of requirements.txt); use --adapters")
    results: dict[str, Any] = {
        "generated_at": benchutil.utc_now(), "machine": benchutil.machine(),
        "packages": benchutil.packages(), "command_line": ["python", "benchmarks/gpu.py",
                                                           *sys.argv[1:]],
        "rows": args.rows, "features": 50, "seed": args.seed, "mode": "full" if full else
        "adapters", "tolerance": gpu_checks.TOLERANCE, "gated_metrics": list(gpu_checks.GATED),
        "speedup_goal": SPEEDUP_GOAL, "net_epochs": args.net_epochs,
        "tune_groups": args.tune_groups, "frameworks": {}}
    run = Runner(args, results, out_dir)
    try:
        data = run.tmp / "table.parquet"
        gpu_checks.make_table(args.rows, args.seed).to_parquet(data)
        results["environment"] = run.child("environment", ["env"])
        present = bool(results["environment"].get("gpus"))
        results["gpu_present"] = present
        run.save()
        for name in args.frameworks:
            results["frameworks"][name] = framework_stage(run, data, name)
            run.save()
        results["staged"] = (run.child("staged_gpu", ["staged", "--device", "gpu",
                                                      "--data", str(data)])
                             if present else {"skipped": "no GPU present"})
        run.save()
        results["tuning"] = tuning_stage(run, data, present)
        run.save()
        if full:
            results["full"] = full_stage(run, data)
        results["verdict"] = gpu_report.verdict(results)
        run.save()
    finally:
        shutil.rmtree(run.tmp, ignore_errors=True)
    print(gpu_report.markdown(results))
    if out_dir is not None:
        print(f"wrote {out_dir / 'gpu.json'} and {out_dir / 'gpu.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
