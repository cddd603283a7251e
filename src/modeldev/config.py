"""Settings resolved once: explicit arguments, then env `MODELDEV_*`, then defaults."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modeldev.errors import InputError

ARTIFACTS_SUBDIR = "artifacts/epoch005-model-development"
CHILD_WRITES = ("auto", "client")
_USERINFO = re.compile(r"//[^/@\s]+@")
MAX_SERVED_MB = 200  # Streamlit's static route refuses larger files
STORE_RETRY_S = 120.0  # MODELDEV_STORE_RETRY_S: a locked or busy store is retried this long


@dataclass(frozen=True)
class Limits:
    """Caps that protect the machine from oversized input."""

    max_rows: int = 5_000_000
    max_columns: int = 2_000
    max_combinations: int = 5_000
    # Streamlit serves a static file of at most 200 MiB, and a bundle is served as one.
    max_bundle_mb: int = 200
    min_rows: int = 20
    # Rows x physical columns x bytes per value, estimated before a table is read.
    max_decoded_mb: int = 2_048
    # Parse a file in a child process limited to about the budget (the app's loads): a file
    # that decodes larger than its footer says kills the child, never the caller.
    isolate: bool = False


@dataclass(frozen=True)
class Access:
    """Who may do what on a shared app: readable folders, trust, identity and quotas."""

    data_roots: tuple[str, ...] = ()  # the folders a browser user's paths must lie under
    server_files: bool = True  # False: no "File on the server", the context file fixed
    trust_tracking_server: bool = False  # load models that carry no valid signature of ours
    model_key: str = ""  # the file holding the key that signs the models this installation logs
    user_header: str = ""  # a header the authenticating proxy sets to the user's name
    max_jobs: int = 4  # jobs running at once on this workspace
    max_workers: int = 1  # worker processes one job may use (at most the cores)
    upload_quota_mb: int = 2_048
    upload_max_age_days: float = 7.0


@dataclass(frozen=True)
class Settings:
    """Where modeldev keeps its state and how far it may go."""

    workspace: Path
    tracking_uri: str
    artifacts_dir: Path
    context_path: Path
    jobs_dir: Path
    limits: Limits = field(default_factory=Limits)
    access: Access = field(default_factory=Access)
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
        """JSON-ready settings, as a job's spec carries them to its process (no credentials:
        the job takes them from the environment it inherits)."""
        out = asdict(self)
        out["tracking_uri"] = redact_uri(self.tracking_uri)
        for key in ("workspace", "artifacts_dir", "context_path", "jobs_dir"):
            out[key] = str(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """The settings `to_dict` wrote (a job process rebuilds its parent's settings)."""
        paths = {k: Path(data[k]) for k in ("workspace", "artifacts_dir", "context_path",
                                             "jobs_dir")}
        access = dict(data.get("access") or {})
        access["data_roots"] = tuple(access.get("data_roots") or ())
        return cls(tracking_uri=with_credentials(data["tracking_uri"]),
                   limits=Limits(**data["limits"]), access=Access(**access),
                   child_writes=data.get("child_writes", "auto"),
                   dask_scheduler=data.get("dask_scheduler"),
                   heartbeat_s=data.get("heartbeat_s", cls.heartbeat_s),
                   heartbeat_grace_s=data.get("heartbeat_grace_s", cls.heartbeat_grace_s),
                   store_retry_s=float(data.get("store_retry_s", STORE_RETRY_S)), **paths)


def redact_uri(uri: str) -> str:
    """`uri` without the user name and password it may carry: the form shown and written."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def scrub_credentials(text: str) -> str:
    """`text` with every URL's user name and password removed (an error message naming one)."""
    return _USERINFO.sub("//", text)


def with_credentials(uri: str) -> str:
    """The environment's tracking URI where it is `uri` with credentials (a job's spec holds
    the redacted form; the job inherits the app's environment), else `uri`."""
    env = os.environ.get("MLFLOW_TRACKING_URI") or ""
    return env if env and env != uri and redact_uri(env) == uri else uri


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


def _env_flag(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{name} must be 1 or 0 (true or false), got {raw!r}.")


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _access(ws: Path) -> Access:
    """Data roots (`MODELDEV_DATA_ROOTS`, separated by ':'), trust, identity and quotas."""
    raw = os.environ.get("MODELDEV_DATA_ROOTS")
    roots = [r for r in (raw.split(os.pathsep) if raw else [str(ws / "data")]) if r.strip()]
    cores = _cores()
    workers = _env_int("MODELDEV_MAX_WORKERS", cores)
    numbers = {"MODELDEV_MAX_JOBS": _env_int("MODELDEV_MAX_JOBS", Access.max_jobs),
               "MODELDEV_MAX_WORKERS": workers,
               "MODELDEV_UPLOAD_QUOTA_MB": _env_int("MODELDEV_UPLOAD_QUOTA_MB",
                                                    Access.upload_quota_mb)}
    for name, value in numbers.items():
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}.")
    return Access(
        data_roots=tuple(str(Path(r).expanduser().resolve()) for r in roots),
        server_files=_env_flag("MODELDEV_SERVER_FILES", True),
        trust_tracking_server=_env_flag("MODELDEV_TRUST_TRACKING_SERVER", False),
        model_key=str(Path(os.environ.get("MODELDEV_MODEL_KEY_FILE") or ws / "model_signing.key")
                      .expanduser().resolve()),
        user_header=(os.environ.get("MODELDEV_USER_HEADER") or "").strip(),
        max_jobs=numbers["MODELDEV_MAX_JOBS"], max_workers=min(workers, cores),
        upload_quota_mb=numbers["MODELDEV_UPLOAD_QUOTA_MB"],
        upload_max_age_days=_env_seconds("MODELDEV_UPLOAD_MAX_AGE_DAYS",
                                         Access.upload_max_age_days, unit="days"))


def _env_seconds(name: str, default: float, zero_ok: bool = False,
                 unit: str = "seconds") -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf") or (value == 0 and not zero_ok):
        wanted = f"a number of {unit} (0 or more)" if zero_ok else \
            f"a positive number of {unit}"
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
        max_decoded_mb=_env_int("MODELDEV_MAX_DECODED_MB", Limits.max_decoded_mb),
    )
    if not 1 <= limits.max_bundle_mb <= MAX_SERVED_MB:
        raise InputError(f"MODELDEV_MAX_BUNDLE_MB must be 1 to {MAX_SERVED_MB} (the largest "
                         f"file Streamlit serves), got {limits.max_bundle_mb}.")
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
        access=_access(ws),
        child_writes=child_writes,
        store_retry_s=_env_seconds("MODELDEV_STORE_RETRY_S", STORE_RETRY_S, zero_ok=True),
    )
