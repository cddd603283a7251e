"""benchmarks/gpu.py's conclusions: nothing counts as measured on a GPU unless it ran there."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_report  # noqa: E402  (benchmarks/ is no package)

METRICS = {"roc_auc": 0.90, "f1_score": 0.70, "accuracy": 0.8, "log_loss": 0.4}


def _fit(device: str, **changes: float) -> dict:
    return {"device_used": device, "gpu_used": int(device == "gpu"), "family": "tree",
            "fallback_reason": None if device == "gpu" else "XGBoost found no usable GPU",
            "resolve_reason": "", "metrics": {**METRICS, **changes}, "fit_s": 1.0}


def test_a_gpu_fit_within_tolerance_counts_as_ran_on_gpu() -> None:
    out = gpu_report.compare("xgboost_baseline", _fit("gpu", roc_auc=0.905), _fit("cpu"))
    assert out["status"] == "ran on GPU"
    assert out["compared_on_gpu"] and out["within_tolerance"]
    out = gpu_report.compare("xgboost_baseline", _fit("gpu", f1_score=0.72), _fit("cpu"))
    assert out["within_tolerance"] is False


def test_a_fallback_is_said_with_its_reason_and_is_no_gpu_comparison() -> None:
    out = gpu_report.compare("xgboost_baseline", _fit("cpu"), _fit("cpu"))
    assert out["status"] == "fell back to CPU: XGBoost found no usable GPU"
    assert out["compared_on_gpu"] is False
    failed = gpu_report.compare("pytorch_nn", {"error": "exit code 1"}, _fit("cpu"))
    assert failed["status"] == "GPU fit failed: exit code 1" and "deltas" not in failed


def test_speedup_only_when_every_gpu_trial_ran_on_the_gpu() -> None:
    gpu = {"wall_s": 10.0, "devices": {"gpu": 8}, "best_hash": "a", "f1_by_hash": {"a": 0.5}}
    cpu = {"wall_s": 50.0, "devices": {"cpu": 8}, "best_hash": "a", "f1_by_hash": {"a": 0.5}}
    out = gpu_report.compare_tuning({"gpu": gpu, "cpu": cpu}, 4.0)
    assert out["speedup"] == 5.0 and out["goal_met"] and out["same_best"]
    assert "f1_by_hash" not in out["gpu"]
    mixed = gpu_report.compare_tuning({"gpu": {"wall_s": 10.0, "devices": {"gpu": 4, "cpu": 4}},
                                       "cpu": {"wall_s": 50.0}}, 4.0)
    assert mixed["speedup"] is None and "goal_met" not in mixed
    cut = gpu_report.compare_tuning({"gpu": {"wall_s": 8.0, "process_wall_s": 10.0,
                                             "devices": {"gpu": 8}},
                                     "cpu": {"timed_out": True, "limit_s": 100.0}}, 4.0)
    assert cut["speedup_at_least"] == 10.0 and cut["goal_met"]


def test_report_without_a_gpu_says_so_first() -> None:
    results = {"gpu_present": False, "frameworks": {
        "xgboost_baseline": gpu_report.compare("xgboost_baseline", _fit("cpu"), _fit("cpu"))},
        "tuning": gpu_report.compare_tuning({"gpu": {"skipped": "no GPU present"},
                                             "cpu": {"wall_s": 3.0}}, 4.0)}
    text = gpu_report.markdown(results)
    banner = "**No GPU was present on this machine: nothing in this report was measured on a GPU."
    assert banner in text and text.index(banner) < text.index("## Environment")
    assert "ran on GPU" not in text
    assert "(CPU vs CPU)" in text


def test_subset_grid_keeps_every_round_count(tmp_path: Path) -> None:
    grid = gpu_report.write_subset_grid(tmp_path / "grid.json", 8)
    assert grid["n_estimators"] == [50, 100, 200, 300]
    groups = 1
    for key, values in grid.items():
        groups *= len(values) if key != "n_estimators" else 1
    assert groups <= 8


def test_cli_tuning_ratio_only_where_a_gpu_was_present() -> None:
    runs = {"runs": [{"name": "xgboost_baseline", "status": "FINISHED",
                      "metrics": {"gpu_used": 0.0, "f1_score": 0.7, "roc_auc": 0.9}}]}
    out = {d: {"train": {"summary": runs}, "tune": {"wall_s": w}}
           for d, w in (("gpu", 10.0), ("cpu", 40.0))}
    cpu_only = gpu_report.summarise_full(out, gpu_present=False)
    assert cpu_only["tune_speedup"] is None and "no GPU" in cpu_only["tune_speedup_note"]
    assert cpu_only["frameworks"]["xgboost_baseline"]["gpu"]["gpu_used"] == 0.0
    assert gpu_report.summarise_full(out, gpu_present=True)["tune_speedup"] == 4.0
