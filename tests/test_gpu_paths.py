"""The GPU paths on a real NVIDIA GPU (issue 13), on a small version of benchmarks/gpu.py's table.

Marked `gpu`. Skipped, with the reason, where `modeldev.gpu` finds no NVIDIA GPU (the whole
module) or where a framework is missing or has no GPU build here (that framework's tests), so
the suite stays green on CPU machines. The checks and tolerances are benchmarks/gpu_checks.py's,
the ones the benchmark applies at 1,000,000 rows:

- each adapter asked for the GPU reports device "gpu" and gpu_used 1, with no fallback;
- its validation ROC AUC and F1 are within the tolerance of the same fit on CPU;
- XGBoost's staged evaluation on the GPU equals separate GPU fits bit for bit;
- tuning trials run on the GPU from the engine's spawned worker processes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from modeldev import gpu
from modeldev.frameworks.registry import get_framework

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_checks  # noqa: E402  (benchmarks/ is no package)

ROWS = 20_000
NET_EPOCHS = 20
THREADS = 4
FRAMEWORKS = ("xgboost_baseline", "lightgbm_baseline", "tensorflow_nn", "pytorch_nn")
GPUS = gpu.nvidia_gpus()
NO_GPU = ("no NVIDIA GPU found (modeldev.gpu.nvidia_gpus(): no nvidia-smi, or it lists no GPU); "
          "these checks run only on a GPU machine: bash benchmarks/gpu_run.sh")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not GPUS, reason=NO_GPU)]


def _needs_gpu_build(name: str) -> None:
    """Skip unless the framework imports here and its library can use the GPU."""
    adapter = get_framework(name)
    ok, why = adapter.is_available()
    if not ok:
        pytest.skip(f"{name} is not installed here: {why}")
    usable, why = gpu.framework_gpu_reason(adapter)
    if not usable:
        pytest.skip(f"{name} has no usable GPU build here: {why}")


@pytest.fixture(scope="module")
def split() -> Any:
    """benchmarks/gpu.py's 50-feature table at 20,000 rows, split 60/20/20."""
    return gpu_checks.split_of(gpu_checks.make_table(ROWS, seed=42), seed=42)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_adapter_runs_on_the_gpu_and_matches_its_cpu_fit(name: str, split: Any) -> None:
    _needs_gpu_build(name)
    on_gpu = gpu_checks.fit_one(name, "gpu", split, THREADS, NET_EPOCHS)
    reason = on_gpu["fallback_reason"] or ""
    if name == "lightgbm_baseline" and "OpenCL" in reason:
        # Its gpu_check cannot know without trying: the PyPI wheel's GPU build is OpenCL's,
        # and this machine has no OpenCL runtime or no NVIDIA OpenCL ICD.
        pytest.skip(f"LightGBM's OpenCL GPU build found no OpenCL device here: {reason}")
    assert not reason, reason
    assert (on_gpu["device_used"], on_gpu["gpu_used"]) == ("gpu", 1)
    on_cpu = gpu_checks.fit_one(name, "cpu", split, THREADS, NET_EPOCHS)
    assert (on_cpu["device_used"], on_cpu["gpu_used"]) == ("cpu", 0)
    tolerance = gpu_checks.TOLERANCE[on_gpu["family"]]
    for metric in gpu_checks.GATED:
        delta = on_gpu["metrics"][metric] - on_cpu["metrics"][metric]
        assert abs(delta) <= tolerance, f"{name} {metric}: GPU - CPU = {delta:+.4f}"


def test_xgboost_staged_evaluation_on_the_gpu_equals_separate_gpu_fits(split: Any) -> None:
    _needs_gpu_build("xgboost_baseline")
    result = gpu_checks.staged_check(split, "gpu", THREADS)
    assert result["all_on_gpu"], result["devices"]
    assert result["equal"], result["max_abs_diff"]


def test_tuning_trials_run_on_the_gpu_from_worker_processes(split: Any) -> None:
    _needs_gpu_build("xgboost_baseline")
    result = gpu_checks.run_tuning(split, "gpu", groups=2, workers=2)
    assert not result["errors"], result["errors"]
    assert result["scored"] == result["combinations"] == 8
    assert result["devices"] == {"gpu": 8}
