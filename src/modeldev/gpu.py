"""GPU detection: what nvidia-smi sees, what each framework can use, and the device per fit.

Framework checks import the framework (TensorFlow takes seconds), so each runs once, lazily, and
only where an NVIDIA driver is present: without one no framework here can reach a GPU, and
`detect_gpu()` answers in milliseconds.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

from modeldev.errors import InputError

DEVICES = ("auto", "cpu", "gpu")
GPU_LIBRARIES = ("torch", "tensorflow", "xgboost", "lightgbm")
NVIDIA_SMI_TIMEOUT_S = 5.0
_DRIVER_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


def _query_nvidia_smi() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    cmd = [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):  # hung or broken driver: treat as no GPU
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            memory = int(parts[1]) if parts[1].isdigit() else None
            gpus.append({"name": parts[0], "memory_mb": memory, "driver": parts[2]})
    return gpus


def nvidia_gpus() -> list[dict[str, Any]]:
    """The NVIDIA GPUs nvidia-smi lists (name, memory_mb, driver); empty without one."""
    return copy.deepcopy(_cached_gpus())


@functools.cache
def _cached_gpus() -> list[dict[str, Any]]:
    return _query_nvidia_smi()


def _driver_present() -> bool:
    return bool(_cached_gpus()) or any(Path(p).exists() for p in _DRIVER_MARKERS)


def _check_torch() -> tuple[bool, str]:
    import torch

    if torch.cuda.is_available():
        return True, f"torch sees {torch.cuda.device_count()} CUDA device(s)"
    return False, f"torch {torch.__version__} sees no CUDA device"


def _check_tensorflow() -> tuple[bool, str]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return bool(gpus), f"TensorFlow sees {len(gpus)} GPU(s)"


def _check_xgboost() -> tuple[bool, str]:
    import xgboost

    if xgboost.build_info().get("USE_CUDA"):
        return True, "xgboost is built with CUDA"
    return False, "xgboost is built without CUDA"


def _check_lightgbm() -> tuple[bool, str]:
    import lightgbm  # noqa: F401

    # The PyPI wheel carries an OpenCL GPU build; whether it runs is only known by trying,
    # so the adapter falls back to CPU with the reason when it does not.
    return True, "lightgbm's OpenCL build, tried on the NVIDIA GPU"


_CHECKS = {"torch": _check_torch, "tensorflow": _check_tensorflow, "xgboost": _check_xgboost,
           "lightgbm": _check_lightgbm}


@functools.cache
def framework_gpu_reason(library: str) -> tuple[bool, str]:
    """Whether `library` (torch, tensorflow, xgboost, lightgbm) can use a GPU here, and why."""
    if library not in _CHECKS:
        return False, f"{library} has no GPU support in modeldev"
    if not _driver_present():
        return False, "no NVIDIA GPU detected"
    try:
        return _CHECKS[library]()
    except Exception as exc:  # missing or broken framework: it just cannot use the GPU
        return False, f"{library} check failed: {type(exc).__name__}: {str(exc)[:200]}"


def framework_gpu(library: str) -> bool:
    """Whether `library` can use a GPU here (cached; imports the library on first call)."""
    return framework_gpu_reason(library)[0]


def _summary(gpus: list[dict[str, Any]], frameworks: dict[str, bool] | None) -> str:
    if not gpus:
        return "no GPU: CPU for all"
    names = ", ".join(f"{g['name']} ({g['memory_mb']} MiB, driver {g['driver']})" for g in gpus)
    if frameworks is None:
        return names
    able = [k for k, v in frameworks.items() if v]
    return f"{names}; GPU for: {', '.join(able) or 'none'}"


@functools.cache
def _detect(with_frameworks: bool) -> dict[str, Any]:
    gpus = nvidia_gpus()
    frameworks = {lib: framework_gpu(lib) for lib in GPU_LIBRARIES} if with_frameworks else None
    usable = bool(gpus) or any((frameworks or {}).values())
    result: dict[str, Any] = {"available": usable, "gpus": gpus,
                              "summary": _summary(gpus, frameworks)}
    if frameworks is not None:
        result["frameworks"] = frameworks
    return result


def detect_gpu(with_frameworks: bool = True) -> dict[str, Any]:
    """GPUs and per-framework GPU use as a JSON-ready dict (cached; a fresh copy each call)."""
    return copy.deepcopy(_detect(with_frameworks))


def gpu_library(framework: Any) -> str | None:
    """The GPU-capable library an adapter runs on, read from its pip requirements."""
    requirements = getattr(framework, "requirements", ())
    return next((r for r in reversed(requirements) if r in GPU_LIBRARIES), None)


def resolve_device(requested: str, framework: Any) -> tuple[str, str]:
    """('cpu' or 'gpu', reason) for one adapter, given `requested` in auto, cpu or gpu."""
    if requested not in DEVICES:
        raise InputError(f"Unknown device '{requested}'; valid devices are: {', '.join(DEVICES)}.")
    name = getattr(framework, "name", str(framework))
    if requested == "cpu":
        return "cpu", "CPU requested"
    asked = "GPU requested but " if requested == "gpu" else ""
    library = gpu_library(framework)
    if not getattr(framework, "gpu_capable", False) or library is None:
        return "cpu", f"{asked}{name} runs on CPU only"
    usable, why = framework_gpu_reason(library)
    if not usable:
        return "cpu", f"{asked}{why}; using CPU"
    gpus = nvidia_gpus()
    where = gpus[0]["name"] if gpus else "GPU"
    return "gpu", f"{why}; using {where}"
