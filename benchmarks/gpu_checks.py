"""The checks benchmarks/gpu.py runs, each in its own process: the 50-feature table, one
adapter fit on one device, XGBoost's staged-versus-separate check, and the tuning trials of the
default XGBoost grid through the engine's own trial path (no MLflow, no app).

Imports only modeldev's engine (`data`, `frameworks`, `evaluation`, `tuning.plan` and
`tuning.trial`, `execution.local`), numpy, pandas and scikit-learn: it runs where MLflow,
Streamlit, TensorFlow or Dask are missing. Each framework is imported inside the function that
fits it, so a missing one is reported as not installed, not as a crash.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_EXTRA = 20  # numeric columns added to benchmarks/phase1.py's 30: 50 features in all
GATED = ("roc_auc", "f1_score")  # the metrics compared between CPU and GPU
REPORTED = ("roc_auc", "f1_score", "accuracy", "log_loss")
# |GPU - CPU| allowed per gated metric. Trees: the same histogram algorithm on both, so only
# the quantile sketch's bin edges and float summation order differ (a few 1e-4 expected on
# 200,000 validation rows). Nets: the CUDA and CPU generators give different dropout masks and
# cuDNN/cuBLAS sum in another order, so the GPU net is a different, equally good net.
TOLERANCE = {"tree": 0.01, "net": 0.02}
STAGES = (50, 100, 200)  # XGBoost's staged check: one 200-round fit read at 50 and 100
STAGED_PARAMS = {"subsample": 0.8, "colsample_bytree": 0.8, "max_depth": 6}
LIBRARIES = {"xgboost_baseline": "xgboost", "lightgbm_baseline": "lightgbm",
             "tensorflow_nn": "tensorflow", "pytorch_nn": "torch"}


def make_table(rows: int, seed: int) -> pd.DataFrame:
    """benchmarks/phase1.py's seeded binary table (24 numeric + 6 text columns) plus 20 numeric
    columns: 10 noisy copies of num_00..num_09 (correlated features) and 10 pure noise."""
    import benchutil

    frame = benchutil.make_dataset(rows, seed)
    rng = np.random.default_rng(seed + 1)
    extra = {}
    for i in range(N_EXTRA):
        if i < N_EXTRA // 2:
            source = frame[f"num_{i:02d}"].to_numpy(dtype=float)
            scale = np.nanstd(source) or 1.0
            extra[f"extra_{i:02d}"] = source + rng.normal(0, 0.5 * scale, rows)
        else:
            extra[f"extra_{i:02d}"] = rng.normal(0, 1, rows)
    target = frame.pop("target")
    return pd.concat([frame, pd.DataFrame(extra), target], axis=1)


def split_of(frame: pd.DataFrame, seed: int) -> Any:
    """The table validated and split as `modeldev train --cv 0` would: 20 % test, then one
    60/20 train/validation split (seeded, stratified)."""
    from modeldev.data.split import make_split
    from modeldev.data.validation import prepare

    return make_split(prepare(frame, "target", task="binary"), seed=seed, cv=0)


def load_split(path: Path, seed: int) -> Any:
    """`split_of` the table saved at `path` (Parquet)."""
    return split_of(pd.read_parquet(path), seed)


def library_status(framework: str) -> tuple[bool, str]:
    """Whether the framework's library imports here (with the reason when it does not)."""
    from modeldev.frameworks.registry import get_framework

    library = LIBRARIES[framework]
    try:
        importlib.import_module(library)
    except Exception as exc:  # missing or broken install
        return False, f"{library} not installed: {type(exc).__name__}: {str(exc)[:160]}"
    return get_framework(framework).is_available()


def _peak_memory(framework: str) -> dict[str, float]:
    """The framework's own allocator peak on the GPU (torch, TensorFlow), in MiB."""
    out: dict[str, float] = {}
    if framework == "pytorch_nn":
        import torch

        if torch.cuda.is_available():
            out["torch_max_memory_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if framework == "tensorflow_nn":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            info = tf.config.experimental.get_memory_info("GPU:0")
            out["tf_peak_mib"] = info["peak"] / 2**20
    return out


def fit_one(framework: str, device: str, split: Any, threads: int,
            net_epochs: int | None = None) -> dict[str, Any]:
    """One adapter fit on the split's training rows with `device` requested; what ran, its
    metrics on the validation rows and the fit's seconds."""
    from modeldev.evaluation.scoring import score_outputs
    from modeldev.frameworks.base import FitContext
    from modeldev.frameworks.registry import get_framework
    from modeldev.gpu import resolve_device

    adapter = get_framework(framework, "binary")
    resolved, why = resolve_device(device, adapter)
    params = {"epochs": net_epochs} if net_epochs and adapter.family == "net" else {}
    rows = split.fold_rows(0)
    prepared = adapter.preprocess(rows)
    X_valid, y_valid = split.fold_valid(0)
    Xt_valid = prepared.transform(X_valid)
    started = time.perf_counter()
    model = adapter.fit(rows, params, FitContext(device=resolved, seed=split.seed,
                                                 n_threads=threads), prepared)
    seconds = time.perf_counter() - started
    metrics = score_outputs("binary", y_valid, model.outputs(Xt_valid), 2, list(REPORTED))
    return {"framework": framework, "requested": device, "resolved": resolved,
            "resolve_reason": why, "device_used": model.device_used,
            "gpu_used": int(model.device_used == "gpu"), "fallback_reason": model.fallback_reason,
            "fit_s": seconds, "metrics": metrics, "family": adapter.family,
            "epochs_run": len(model.history) or None, "params": params,
            "train_rows": len(rows.y), "validation_rows": len(y_valid),
            "features_in": int(prepared.Xt.shape[1]), **_peak_memory(framework)}


def staged_check(split: Any, device: str, threads: int) -> dict[str, Any]:
    """XGBoost with subsampling: one fit at max(STAGES) read at each stage versus a separate
    fit per stage, all with `device` requested; equal means bit for bit."""
    from modeldev.frameworks.base import FitContext
    from modeldev.frameworks.xgboost_adapter import XGBoostAdapter

    adapter = XGBoostAdapter()
    rows = split.fold_rows(0)
    prepared = adapter.preprocess(rows)
    Xt_valid = prepared.transform(split.fold_valid(0)[0])
    ctx = FitContext(device=device, seed=split.seed, n_threads=threads)
    started = time.perf_counter()
    full = adapter.fit(rows, {**STAGED_PARAMS, "n_estimators": max(STAGES)}, ctx, prepared)
    staged = adapter.staged_outputs(full, Xt_valid, list(STAGES))
    devices, diffs = [full.device_used], {}
    for k in STAGES:
        separate = adapter.fit(rows, {**STAGED_PARAMS, "n_estimators": k}, ctx, prepared)
        devices.append(separate.device_used)
        diffs[str(k)] = float(np.max(np.abs(staged[k] - separate.outputs(Xt_valid))))
    return {"stages": list(STAGES), "params": STAGED_PARAMS, "devices": devices,
            "all_on_gpu": all(d == "gpu" for d in devices),
            "equal": all(v == 0.0 for v in diffs.values()), "max_abs_diff": diffs,
            "seconds": time.perf_counter() - started,
            "fallback_reason": full.fallback_reason}


def tuning_tasks(split: Any, groups: int | None) -> tuple[list[Any], int, int]:
    """The default XGBoost grid's trial tasks on the split's one fold (the first `groups`
    staged groups, or all): (tasks, combinations they score, groups in the whole grid)."""
    from modeldev.frameworks.xgboost_adapter import XGBoostAdapter
    from modeldev.tuning.plan import make_plan

    adapter = XGBoostAdapter()
    plan = make_plan(adapter.default_grid("binary"), adapter, set(), len(split.folds))
    keys = list(plan.groups)[:groups] if groups else list(plan.groups)
    tasks = [t for t in plan.tasks if t.key.rsplit(":", 1)[0] in set(keys)]
    return tasks, sum(len(plan.groups[k]) for k in keys), len(plan.groups)


def run_tuning(split: Any, device: str, groups: int | None,
               workers: int | None) -> dict[str, Any]:
    """The trials of `tuning_tasks` on the engine's local process pool, as `modeldev tune`
    runs them (workers = the cores unless given, threads shared out), timed from the first
    task's dispatch to the last result."""
    from modeldev.execution.common import default_workers
    from modeldev.execution.local import run_local
    from modeldev.tuning.trial import TrialShared, evaluate_group

    tasks, combos, total_groups = tuning_tasks(split, groups)
    workers = workers or default_workers()
    # tuning.trials.thread_budget, which sits next to MLflow's child logging: same rule
    shared = TrialShared("xgboost_baseline", split, device,
                         max(1, default_workers() // max(1, workers)))
    started = time.perf_counter()
    results: dict[str, float] = {}
    devices: dict[str, int] = {}
    errors: list[str] = []
    for outcome in run_local(tasks, evaluate_group, shared, workers, shared.threads):
        if outcome.error:
            errors.append(f"{outcome.key}: {outcome.error[:200]}")
            continue
        for item in outcome.result:
            results[item["hash"]] = item["metrics"]["f1_score"]
            devices[item["device"]] = devices.get(item["device"], 0) + 1
    wall = time.perf_counter() - started
    best = max(results.items(), key=lambda kv: kv[1]) if results else (None, None)
    return {"device": device, "workers": workers, "threads_per_worker": shared.threads,
            "groups": len(tasks), "groups_in_grid": total_groups, "combinations": combos,
            "scored": len(results), "wall_s": wall, "devices": devices, "errors": errors[:5],
            "best_hash": best[0], "best_f1": best[1], "f1_by_hash": results,
            "cpu_count": os.cpu_count()}
