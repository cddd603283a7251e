"""Settings resolved once: explicit arguments, then env `MODELDEV_*`, then defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modeldev.errors import InputError

ARTIFACTS_SUBDIR = "artifacts/epoch005-model-development"
CHILD_WRITES = ("auto", "client")
STORE_RETRY_S = 120.0  # MODELDEV_STORE_RETRY_S: a locked or busy store is retried this long


@dataclass(frozen=True)
class Limits:
    """Caps that protect the machine from oversized input."""

    max_rows: int = 5_000_000
    max_columns: int = 2_000
    max_combinations: int = 5_000
    max_bundle_mb: int = 2_048
    min_rows: int = 20


@dataclass(frozen=True)
class Settings:
    """Where modeldev keeps its state and how far it may go."""

    workspace: Path
    tracking_uri: str
    artifacts_dir: Path
    context_path: Path
    jobs_dir: Path
    limits: Limits = field(default_factory=Limits)
    child_writes: str = "auto"  # "client": tuning children through MLflow's client, never bulk
    dask_scheduler: str | None = None  # tcp://host:8786: tuning trials run on that cluster
    # A live process refreshes its RUNNING runs' heartbeat tag every heartbeat_s; a run whose
    # heartbeat is older than heartbeat_grace_s is swept as dead from any host.
    heartbeat_s: float = 15.0
    heartbeat_grace_s: float = 90.0
    store_retry_s: float = STORE_RETRY_S  # how long a locked store is retried before giving up

    @property
    def logs_dir(self) -> Path:
        """Where each `modeldev train|tune` session keeps its log (MLflow, TensorFlow, workers)."""
        return self.workspace / "logs"

    @property
    def uses_sqlite(self) -> bool:
        """True when the tracking store is the embedded SQLite file."""
        return self.tracking_uri.startswith("sqlite:")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, as a job's spec carries them to its process."""
        out = asdict(self)
        for key in ("workspace", "artifacts_dir", "context_path", "jobs_dir"):
            out[key] = str(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """The settings `to_dict` wrote (a job process rebuilds its parent's settings)."""
        paths = {k: Path(data[k]) for k in ("workspace", "artifacts_dir", "context_path",
                                             "jobs_dir")}
        return cls(tracking_uri=data["tracking_uri"], limits=Limits(**data["limits"]),
                   child_writes=data.get("child_writes", "auto"),
                   dask_scheduler=data.get("dask_scheduler"),
                   heartbeat_s=data.get("heartbeat_s", cls.heartbeat_s),
                   heartbeat_grace_s=data.get("heartbeat_grace_s", cls.heartbeat_grace_s),
                   store_retry_s=float(data.get("store_retry_s", STORE_RETRY_S)), **paths)


def default_experiment_name(project: str | None) -> str:
    """`{project}_model`, the experiment a session logs to unless one is named."""
    return f"{project or 'modeldev'}_model"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {raw!r}.") from None


def _env_seconds(name: str, default: float, zero_ok: bool = False) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf") or (value == 0 and not zero_ok):
        wanted = "a number of seconds (0 or more)" if zero_ok else \
            "a positive number of seconds"
        raise InputError(f"{name} must be {wanted}, got {raw!r}.")
    return value


def _heartbeat() -> tuple[float, float]:
    """The heartbeat interval and grace: the grace at least twice the interval."""
    beat = _env_seconds("MODELDEV_HEARTBEAT_S", Settings.heartbeat_s)
    grace = _env_seconds("MODELDEV_HEARTBEAT_GRACE_S", Settings.heartbeat_grace_s)
    if grace < 2 * beat:
        raise InputError(f"MODELDEV_HEARTBEAT_GRACE_S ({grace:g} s) must be at least twice "
                         f"MODELDEV_HEARTBEAT_S ({beat:g} s), or live runs would be swept.")
    return beat, grace


def resolve_settings(workspace: str | Path | None = None,
                     tracking_uri: str | None = None) -> Settings:
    """Resolve settings from arguments, `MODELDEV_*` / `MLFLOW_TRACKING_URI`, then defaults."""
    ws = Path(workspace or os.environ.get("MODELDEV_WORKSPACE") or "modeldev_workspace")
    ws = ws.expanduser().resolve()
    uri = (
        tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{ws / 'mlflow.db'}"
    )
    artifacts = Path(os.environ.get("MODELDEV_ARTIFACTS_DIR") or ws / ARTIFACTS_SUBDIR)
    context = Path(os.environ.get("MODELDEV_CONTEXT_PATH") or ws / "pipeline_context.json")
    limits = Limits(
        max_rows=_env_int("MODELDEV_MAX_ROWS", Limits.max_rows),
        max_columns=_env_int("MODELDEV_MAX_COLUMNS", Limits.max_columns),
        max_combinations=_env_int("MODELDEV_MAX_COMBINATIONS", Limits.max_combinations),
        max_bundle_mb=_env_int("MODELDEV_MAX_BUNDLE_MB", Limits.max_bundle_mb),
    )
    child_writes = os.environ.get("MODELDEV_CHILD_WRITES") or "auto"
    if child_writes not in CHILD_WRITES:
        raise InputError(f"MODELDEV_CHILD_WRITES must be one of {', '.join(CHILD_WRITES)}, "
                         f"got {child_writes!r}.")
    heartbeat_s, heartbeat_grace_s = _heartbeat()
    return Settings(
        heartbeat_s=heartbeat_s, heartbeat_grace_s=heartbeat_grace_s,
        dask_scheduler=os.environ.get("MODELDEV_DASK_SCHEDULER") or None,
        workspace=ws,
        tracking_uri=uri,
        artifacts_dir=artifacts.expanduser().resolve(),
        context_path=context.expanduser().resolve(),
        jobs_dir=ws / "jobs",
        limits=limits,
        child_writes=child_writes,
        store_retry_s=_env_seconds("MODELDEV_STORE_RETRY_S", STORE_RETRY_S, zero_ok=True),
    )
