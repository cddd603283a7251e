"""Frameworks that fail for real, registered by the fault tests (importable by worker processes:
the adapters travel to the fit processes pickled by reference)."""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter


class AbortingAdapter(LogisticRegressionAdapter):
    """A native crash: the fit process aborts (SIGABRT), as a segfaulting library would."""

    name = "aborts"

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Abort the process."""
        os.abort()


class MemoryHogAdapter(LogisticRegressionAdapter):
    """Allocates 4 GiB past an address-space limit set on its own process."""

    name = "memory_hog"

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Cap the process 256 MiB above what it maps now, then allocate far past it."""
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + 256 * 2**20, hard))
        try:
            block = np.ones(4 * 2**30, dtype=np.uint8)
            return block, "cpu"
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class SleeperAdapter(LogisticRegressionAdapter):
    """A hang: sleeps far past any time limit."""

    name = "sleeper"

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Sleep ten minutes."""
        time.sleep(600)
        raise AssertionError("the time limit should have killed this fit")


FAULTY = (AbortingAdapter(), MemoryHogAdapter(), SleeperAdapter())
