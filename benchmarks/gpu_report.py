"""What benchmarks/gpu.py concludes from its stages, and the markdown report it writes.

Nothing here claims a GPU figure that was not measured: a framework counts as run on the GPU
only when its adapter reported `device_used == "gpu"` (`gpu_used = 1`), a comparison counts as
CPU-versus-GPU only then, and a speedup is computed only when every GPU trial ran on the GPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import gpu_checks


def _failure(stage: dict[str, Any]) -> str | None:
    if "skipped" in stage:
        return f"skipped: {stage['skipped']}"
    if stage.get("timed_out"):
        return f"timed out after {stage['limit_s']:.0f} s"
    if "error" in stage:
        return f"failed: {stage['error']}"
    return None


def compare(name: str, gpu: dict[str, Any], cpu: dict[str, Any]) -> dict[str, Any]:
    """One framework's status, |GPU - CPU| per metric and whether it is within tolerance."""
    out: dict[str, Any] = {"gpu": gpu, "cpu": cpu}
    failed = _failure(gpu)
    if failed:
        out["status"] = f"GPU fit {failed}"
    elif gpu.get("gpu_used") == 1:
        out["status"] = "ran on GPU"
    else:
        why = gpu.get("fallback_reason") or gpu.get("resolve_reason") or "no reason given"
        out["status"] = f"fell back to CPU: {why}"
    if "metrics" in gpu and "metrics" in cpu:
        out["deltas"] = {m: gpu["metrics"][m] - cpu["metrics"][m] for m in gpu_checks.REPORTED}
        tol = gpu_checks.TOLERANCE[gpu["family"]]
        out["tolerance"] = tol
        out["within_tolerance"] = all(abs(out["deltas"][m]) <= tol for m in gpu_checks.GATED)
    out["compared_on_gpu"] = out["status"] == "ran on GPU" and "deltas" in out
    return out


def compare_tuning(out: dict[str, Any], goal: float) -> dict[str, Any]:
    """The GPU and CPU tunings side by side: the same scores, and the speedup (or its bound)."""
    gpu, cpu = out["gpu"], out["cpu"]
    g_scores, c_scores = gpu.pop("f1_by_hash", None), cpu.pop("f1_by_hash", None)
    if g_scores and c_scores:
        common = set(g_scores) & set(c_scores)
        out["max_abs_f1_diff"] = max((abs(g_scores[h] - c_scores[h]) for h in common),
                                     default=None)
        out["same_best"] = gpu.get("best_hash") == cpu.get("best_hash")
    all_gpu = bool(gpu.get("devices")) and set(gpu["devices"]) == {"gpu"}
    out["gpu_all_on_gpu"] = all_gpu
    g_wall = gpu.get("wall_s")
    if not (all_gpu and g_wall):
        out["speedup"] = None
        out["speedup_note"] = ("not measured: " + (_failure(gpu) or "the GPU trials did not all "
                                                   "run on the GPU"))
    elif cpu.get("timed_out"):
        g_process = gpu.get("process_wall_s") or g_wall
        out["speedup_at_least"] = cpu["limit_s"] / g_process
        out["speedup_note"] = (f"CPU process cut off after {cpu['limit_s']:.0f} s, the GPU "
                               f"process took {g_process:.0f} s: whole process at least "
                               f"{out['speedup_at_least']:.1f}x faster on the GPU")
        out["goal_met"] = out["speedup_at_least"] >= goal
    elif cpu.get("wall_s"):
        out["speedup"] = cpu["wall_s"] / g_wall
        out["speedup_note"] = f"GPU {out['speedup']:.2f}x faster than the CPU cores"
        out["goal_met"] = out["speedup"] >= goal
    return out


def write_subset_grid(path: Path, groups: int) -> dict[str, list[Any]]:
    """The default XGBoost grid trimmed (longest list first, last values dropped) to at most
    `groups` staged groups, every n_estimators value kept; written as JSON for `--grid`."""
    from modeldev.frameworks.xgboost_adapter import XGBoostAdapter

    grid = XGBoostAdapter().default_grid("binary")
    others = [k for k in grid if k != "n_estimators"]
    while math.prod(len(grid[k]) for k in others) > max(1, groups):
        longest = max(others, key=lambda k: len(grid[k]))
        grid[longest] = grid[longest][:-1]
    path.write_text(json.dumps(grid))
    return grid


def summarise_full(out: dict[str, Any], gpu_present: bool) -> dict[str, Any]:
    """The CLI runs: per framework the device Phase 1 logged, and the tuning wall times (their
    ratio only where a GPU was present: the CLI's summary does not say where trials ran, the
    adapter-mode tuning does)."""
    frameworks: dict[str, dict[str, Any]] = {}
    for device in ("gpu", "cpu"):
        summary = out.get(device, {}).get("train", {}).get("summary") or {}
        for r in summary.get("runs", []):
            m = r.get("metrics") or {}
            frameworks.setdefault(r["name"], {})[device] = {
                "status": r.get("status"), "gpu_used": m.get("gpu_used"),
                "f1_score": m.get("f1_score"), "roc_auc": m.get("roc_auc")}
    out["frameworks"] = frameworks
    walls = [out.get(d, {}).get("tune", {}).get("wall_s") for d in ("gpu", "cpu")]
    out["tune_speedup"] = walls[1] / walls[0] if all(walls) and gpu_present else None
    if not gpu_present:
        out["tune_speedup_note"] = "no GPU present: both CLI tunings ran on CPU"
    return out


def verdict(results: dict[str, Any]) -> list[str]:
    """The sentences at the top of the report."""
    lines = []
    if not results.get("gpu_present"):
        lines.append("**No GPU was present on this machine: nothing in this report was measured "
                     "on a GPU.** The GPU-requested fits ran to show the fallback (each fell "
                     "back to CPU with the reason below); GPU tuning and the GPU staged check "
                     "were skipped.")
    for name, fw in results.get("frameworks", {}).items():
        status = fw.get("status", "?")
        if fw.get("compared_on_gpu"):
            ok = "within" if fw.get("within_tolerance") else "**OUTSIDE**"
            status += f"; metrics {ok} ±{fw['tolerance']} of the CPU fit's"
        lines.append(f"- {name}: {status}")
    staged = results.get("staged", {})
    if staged.get("all_on_gpu"):
        lines.append(f"- XGBoost staged evaluation on the GPU equals separate GPU fits: "
                     f"{'yes, bit for bit' if staged['equal'] else '**NO**'}")
    tuning = results.get("tuning", {})
    if tuning:
        lines.append(f"- Tuning: {tuning.get('speedup_note', '-')}")
    return lines


def _f(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def framework_table(results: dict[str, Any]) -> list[str]:
    """One row per framework: status, device, gpu_used, seconds, metrics, deltas, memory."""
    lines = ["| framework | status | device (GPU run / CPU run) | gpu_used | fit s GPU / CPU | "
             "ROC AUC GPU / CPU (Δ) | F1 GPU / CPU (Δ) | tolerance | peak GPU MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, fw in results.get("frameworks", {}).items():
        g, c, d = fw.get("gpu", {}), fw.get("cpu", {}), fw.get("deltas", {})
        gm, cm = g.get("metrics", {}), c.get("metrics", {})
        peak = g.get("torch_max_memory_allocated_mib") or g.get("tf_peak_mib")
        mem = _f(g.get("gpu_peak_above_idle_mib"), ".0f")
        if peak is not None:
            mem += f" (allocator {peak:.0f})"
        ok = ("-" if "within_tolerance" not in fw else
              f"±{fw['tolerance']} {'ok' if fw['within_tolerance'] else 'FAIL'}"
              + ("" if fw.get("compared_on_gpu") else " (CPU vs CPU)"))
        lines.append(
            f"| {name} | {fw.get('status', '?')[:160]} | {g.get('device_used', '-')} / "
            f"{c.get('device_used', '-')} | {g.get('gpu_used', '-')} | {_f(g.get('fit_s'), '.1f')}"
            f" / {_f(c.get('fit_s'), '.1f')} | {_f(gm.get('roc_auc'))} / {_f(cm.get('roc_auc'))}"
            f" ({_f(d.get('roc_auc'), '+.4f')}) | {_f(gm.get('f1_score'))} / "
            f"{_f(cm.get('f1_score'))} ({_f(d.get('f1_score'), '+.4f')}) | {ok} | {mem} |")
    return lines


def _environment(results: dict[str, Any]) -> list[str]:
    env = results.get("environment", {})
    gpus = env.get("gpus") or []
    named = "; ".join(f"{g['name']}, {g['memory_mb']} MiB, driver {g['driver']}" for g in gpus)
    lines = [f"GPU: {named}, CUDA (driver) {env.get('driver_cuda_version')}" if gpus
             else "GPU: none (nvidia-smi lists no GPU)", ""]
    for name, fw in env.get("frameworks", {}).items():
        state = (f"installed {fw.get('build', {})}; GPU here: {fw.get('gpu_ok')} "
                 f"({fw.get('gpu_reason')})" if fw.get("installed") else fw.get("reason"))
        lines.append(f"- {name}: {state}")
    return lines


def _tuning(results: dict[str, Any]) -> list[str]:
    t = results.get("tuning") or {}
    lines = ["| side | status | combinations (groups) | workers x threads | devices | trials wall s"
             " | process wall s | peak GPU MiB |", "|---|---|---|---|---|---|---|---|"]
    for side in ("gpu", "cpu"):
        s = t.get(side, {})
        lines.append(f"| {side} | {_failure(s) or 'done'} | {s.get('scored', '-')} / "
                     f"{s.get('combinations', '-')} ({s.get('groups', '-')} of "
                     f"{s.get('groups_in_grid', '-')}) | {s.get('workers', '-')} x "
                     f"{s.get('threads_per_worker', '-')} | {s.get('devices', '-')} | "
                     f"{_f(s.get('wall_s'), '.1f')} | {_f(s.get('process_wall_s'), '.1f')} | "
                     f"{_f(s.get('gpu_peak_above_idle_mib'), '.0f')} |")
    lines += ["", f"{t.get('speedup_note', '-')}. Largest |Δ F1| between the two sides' scores of "
              f"the same combination: {_f(t.get('max_abs_f1_diff'), '.5f')}; same best "
              f"combination: {t.get('same_best', '-')}."]
    return lines


def _full(results: dict[str, Any]) -> list[str]:
    full = results.get("full")
    if not full:
        return ["Not run (adapter mode: MLflow missing, or --adapters/--quick)."]
    lines = [f"- {name}: " + ", ".join(
                 f"{d} gpu_used={v.get('gpu_used')} F1={_f(v.get('f1_score'))}"
                 for d, v in sides.items())
             for name, sides in full.get("frameworks", {}).items()]
    for device in ("gpu", "cpu"):
        for stage in ("train", "tune"):
            s = full.get(device, {}).get(stage, {})
            lines.append(f"- `modeldev {stage} --device {device}`: "
                         f"{_failure(s) or _f(s.get('wall_s'), '.1f') + ' s'}")
    lines.append(f"- tuning speedup through the CLI: {_f(full.get('tune_speedup'), '.2f')}"
                 + (f" ({full['tune_speedup_note']})" if full.get("tune_speedup_note") else ""))
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The report: verdict, environment, frameworks, staged check, tuning, CLI runs, method."""
    m = results.get("machine", {})
    staged = results.get("staged", {})
    staged_line = (_failure(staged) or
                   f"devices {staged.get('devices')}; equal: {staged.get('equal')}; max |diff| "
                   f"per stage {staged.get('max_abs_diff')}; {_f(staged.get('seconds'), '.1f')} s")
    tol = results.get("tolerance", {})
    return "\n".join([
        "# GPU benchmark (issue 13)" + ("" if results.get("gpu_present") else
                                         ": no GPU present, CPU parts only"), "",
        f"`{' '.join(results.get('command_line', []))}` on {m.get('usable_cpus')} cores "
        f"({m.get('cpu_model')}), {m.get('memory_gib')} GiB, Python {m.get('python')}; generated "
        f"{results.get('generated_at')}; {results.get('rows', 0):,} rows x 50 features "
        f"(benchmarks/phase1.py's table plus 20 numeric columns), seed {results.get('seed')}, "
        f"mode {results.get('mode')}, nets' epochs {results.get('net_epochs') or 'baseline'}; "
        f"elapsed {_f(results.get('elapsed_s'), '.0f')} s.", "",
        *verdict(results), "", "## Environment", "", *_environment(results), "",
        "## Adapters: GPU-requested fit against the CPU fit (same split)", "",
        *framework_table(results), "",
        f"Tolerance on |GPU - CPU| of ROC AUC and F1 (validation rows): trees {tol.get('tree')}, "
        f"nets {tol.get('net')} (see benchmarks/gpu_checks.py: trees differ only by histogram "
        "bin edges and summation order; nets by the CUDA generator's dropout masks). Peak GPU "
        "MiB: the GPU's used memory above its level before the fit's process started, sampled "
        "(method in gpu.json); 'allocator': torch.cuda.max_memory_allocated or TensorFlow's "
        "peak.", "",
        "## XGBoost staged evaluation on the GPU", "", staged_line, "",
        "## Tuning the default XGBoost grid: GPU against all CPU cores", "", *_tuning(results), "",
        "## Through the CLI (`modeldev train|tune`)", "", *_full(results), ""])

