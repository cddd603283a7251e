"""GPU detection: what nvidia-smi sees, what each framework can use, and the device per fit.

Each adapter checks its own library (`Framework.gpu_check`). A check imports the framework
(TensorFlow takes seconds), so each runs once per library, lazily, and only where an NVIDIA
driver is present: without one no framework here can reach a GPU, and `detect_gpu()` answers in
milliseconds.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

from modeldev.errors import InputError
from modeldev.frameworks.base import Framework

DEVICES = ("auto", "cpu", "gpu")
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


def framework_gpu_reason(adapter: Framework) -> tuple[bool, str]:
    """Whether `adapter` can run on a GPU here, and why (its library checked once, lazily)."""
    library = adapter.gpu_library
    if library is None:
        return False, f"{adapter.name} runs on CPU only"
    if not _driver_present():
        return False, "no NVIDIA GPU detected"
    return _checked(library, adapter)


@functools.cache
def _checked(library: str, adapter: Framework) -> tuple[bool, str]:
    try:
        return adapter.gpu_check()
    except Exception as exc:  # missing or broken framework: it just cannot use the GPU
        return False, f"{library} check failed: {type(exc).__name__}: {str(exc)[:200]}"


def _summary(gpus: list[dict[str, Any]], frameworks: dict[str, bool] | None) -> str:
    if not gpus:
        return "no GPU: CPU for all"
    names = ", ".join(f"{g['name']} ({g['memory_mb']} MiB, driver {g['driver']})" for g in gpus)
    if frameworks is None:
        return names
    able = [k for k, v in frameworks.items() if v]
    return f"{names}; GPU for: {', '.join(able) or 'none'}"


def _gpu_adapters() -> dict[str, Framework]:
    """One adapter per GPU library, in registry order."""
    from modeldev.frameworks.registry import ADAPTERS

    found: dict[str, Framework] = {}
    for adapter in ADAPTERS:
        if adapter.gpu_library is not None:
            found.setdefault(adapter.gpu_library, adapter)
    return found


@functools.cache
def _detect(with_frameworks: bool) -> dict[str, Any]:
    gpus = nvidia_gpus()
    frameworks = ({lib: framework_gpu_reason(a)[0] for lib, a in _gpu_adapters().items()}
                  if with_frameworks else None)
    usable = bool(gpus) or any((frameworks or {}).values())
    result: dict[str, Any] = {"available": usable, "gpus": gpus,
                              "summary": _summary(gpus, frameworks)}
    if frameworks is not None:
        result["frameworks"] = frameworks
    return result


def detect_gpu(with_frameworks: bool = True) -> dict[str, Any]:
    """GPUs and per-framework GPU use as a JSON-ready dict (cached; a fresh copy each call)."""
    return copy.deepcopy(_detect(with_frameworks))


def resolve_device(requested: str, framework: Framework) -> tuple[str, str]:
    """('cpu' or 'gpu', reason) for one adapter, given `requested` in auto, cpu or gpu."""
    if requested not in DEVICES:
        raise InputError(f"Unknown device '{requested}'; valid devices are: {', '.join(DEVICES)}.")
    name = framework.name
    if requested == "cpu":
        return "cpu", "CPU requested"
    asked = "GPU requested but " if requested == "gpu" else ""
    if framework.gpu_library is None:
        return "cpu", f"{asked}{name} runs on CPU only"
    usable, why = framework_gpu_reason(framework)
    if not usable:
        return "cpu", f"{asked}{why}; using CPU"
    gpus = nvidia_gpus()
    where = gpus[0]["name"] if gpus else "GPU"
    return "gpu", f"{why}; using {where}"
