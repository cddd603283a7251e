"""Shared fixtures. Keep them small and generic; module-specific ones live in their test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeldev.config import Settings, resolve_settings

ALL_CORES: set[int] = set()  # this worker's cores before pytest_configure pinned it
_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
        "MODELDEV_CONTEXT_PATH", "MODELDEV_CHILD_WRITES", "MODELDEV_STORE_RETRY_S")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a fresh workspace in tmp_path: embedded SQLite store, nothing inherited."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return resolve_settings(workspace=tmp_path)


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, each worker gets its share of the cores (CPU affinity, inherited by every
    process a test starts): with `-n 2` on 2 cores, a test file runs on one core, and the
    engine, which sizes its default pool from the cores it may run on, starts one worker
    process per session instead of two. Two pools of two on two cores spent a fifth of the
    suite's CPU starting and importing processes that then waited for a core. Tests that need
    several workers ask for them."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get(
        "PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return
    cores, n = sorted(os.sched_getaffinity(0)), int(count)
    if n > 1 and len(cores) >= n:
        ALL_CORES.update(cores)
        os.sched_setaffinity(0, cores[int(worker.removeprefix("gw")) % n::n])


@pytest.fixture(scope="module")
def every_core() -> Iterator[None]:
    """The module's processes on every core again (for faults timed against a clock: six
    sessions on one core overran their deadlines under load)."""
    if not ALL_CORES:
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CORES)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)

