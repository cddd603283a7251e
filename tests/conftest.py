"""Shared fixtures. Keep them small and generic; module-specific ones live in their test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldev.config import Settings, resolve_settings

_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
        "MODELDEV_CONTEXT_PATH", "MODELDEV_CHILD_WRITES", "MODELDEV_STORE_RETRY_S")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a fresh workspace in tmp_path: embedded SQLite store, nothing inherited."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return resolve_settings(workspace=tmp_path)
