"""GPU detection and device resolution; the CPU-only answers are checked where no GPU exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modeldev import gpu
from modeldev.errors import InputError
from modeldev.frameworks.pytorch_adapter import PyTorchNetAdapter
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter
from modeldev.frameworks.tensorflow_adapter import TensorFlowNetAdapter

NO_DRIVER = shutil.which("nvidia-smi") is None and not any(
    Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl"))
cpu_only = pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is present")


@pytest.fixture
def fresh_caches():
    gpu._cached_gpus.cache_clear()
    gpu._detect.cache_clear()
    gpu._checked.cache_clear()
    yield
    gpu._cached_gpus.cache_clear()
    gpu._detect.cache_clear()
    gpu._checked.cache_clear()


def test_detect_gpu_is_json_and_a_copy():
    info = gpu.detect_gpu()
    assert json.loads(json.dumps(info)) == info
    assert set(info) == {"available", "gpus", "frameworks", "summary"}
    assert set(info["frameworks"]) == {"torch", "tensorflow", "xgboost", "lightgbm"}
    info["gpus"].append("edited")
    assert "edited" not in gpu.detect_gpu()["gpus"]


@cpu_only
def test_no_gpu_here():
    info = gpu.detect_gpu()
    assert info["available"] is False and info["gpus"] == []
    assert not any(info["frameworks"].values())
    assert info["summary"] == "no GPU: CPU for all"


@cpu_only
@pytest.mark.parametrize("adapter", [PyTorchNetAdapter(), TensorFlowNetAdapter()])
def test_auto_and_gpu_resolve_to_cpu_with_a_reason(adapter):
    assert gpu.resolve_device("auto", adapter) == ("cpu", "no NVIDIA GPU detected; using CPU")
    device, reason = gpu.resolve_device("gpu", adapter)
    assert device == "cpu" and reason.startswith("GPU requested but no NVIDIA GPU")


def test_cpu_and_cpu_only_frameworks():
    assert gpu.resolve_device("cpu", PyTorchNetAdapter()) == ("cpu", "CPU requested")
    device, reason = gpu.resolve_device("gpu", LogisticRegressionAdapter())
    assert device == "cpu" and "sklearn_logistic_regression runs on CPU only" in reason
    assert TensorFlowNetAdapter().gpu_library == "tensorflow"
    assert LogisticRegressionAdapter().gpu_library is None


def test_unknown_device_is_refused():
    with pytest.raises(InputError, match="valid devices are: auto, cpu, gpu"):
        gpu.resolve_device("tpu", PyTorchNetAdapter())


def test_cpu_only_framework_is_not_gpu_capable():
    adapter = LogisticRegressionAdapter()
    assert not adapter.gpu_capable
    assert gpu.framework_gpu_reason(adapter) == (
        False, "sklearn_logistic_regression runs on CPU only")


@cpu_only
def test_detection_without_driver_imports_no_framework():
    code = ("import sys; from modeldev.gpu import detect_gpu; detect_gpu(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'xgboost', 'lightgbm') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def _fake_smi(folder: Path, body: str) -> None:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)


def test_nvidia_smi_output_is_parsed(tmp_path, monkeypatch, fresh_caches):
    _fake_smi(tmp_path, "echo 'NVIDIA H100 80GB HBM3, 81559, 550.54.15'")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert gpu.nvidia_gpus() == [
        {"name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "driver": "550.54.15"}]
    info = gpu.detect_gpu(with_frameworks=False)
    assert info["available"] is True and "frameworks" not in info
    assert info["summary"].startswith("NVIDIA H100 80GB HBM3 (81559 MiB, driver 550.54.15)")


def test_hung_or_failing_nvidia_smi_means_no_gpu(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gpu, "NVIDIA_SMI_TIMEOUT_S", 0.5)
    _fake_smi(tmp_path, "exec sleep 5")
    assert gpu.nvidia_gpus() == []
    gpu._cached_gpus.cache_clear()
    _fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert gpu.nvidia_gpus() == []
