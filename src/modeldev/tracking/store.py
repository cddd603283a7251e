"""Where the tracking store is: the embedded SQLite file (created once, under a lock) or a server.

A server is health-checked with a short timeout before anything starts, and MLflow's HTTP retry
settings are shortened so that a dead server fails a job in seconds, not minutes.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import filelock
from mlflow import MlflowClient

from modeldev.config import redact_uri, scrub_credentials
from modeldev.errors import TrackingError
from modeldev.tracking.store_template import copy_empty_store

HEALTH_TIMEOUT_S = 5.0
STORE_LOCK_TIMEOUT_S = 120.0
# MLflow's defaults retry a dead server for ~4 minutes; these make a job fail in seconds, and a
# server that accepts connections but never answers (stopped, hung) within SERVER_SILENCE_S: three
# tries of 15 s each plus backoffs of 0 and 2 s and up to 1 s of jitter each, 49 s at most. And
# against a server, every ended run costs an extra request and prints two lines to stdout
# (which would break `--json`) unless the URL printing is suppressed.
SERVER_SILENCE_S = 60.0
HTTP_ENV_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                     "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                     "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                     "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def is_server(tracking_uri: str) -> bool:
    """True for an http(s) tracking server."""
    return tracking_uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path:
    """The database file a sqlite:/// tracking URI names."""
    rest = uri.split(":///", 1)[1].split("?", 1)[0] if ":///" in uri else ""
    if not rest or rest == ":memory:":
        raise TrackingError(f"The tracking URI {uri} names no SQLite file; use sqlite:///PATH.")
    return Path(rest).expanduser().resolve()


def check_server(tracking_uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Raise TrackingError unless the tracking server answers its health check in time."""
    url = redact_uri(tracking_uri).rstrip("/") + "/health"  # urllib reads no user:pass@
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (http(s) only)
            return
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return  # it answers: auth or a proxy path is MLflow's business, not reachability
        reason = f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
    raise TrackingError(f"MLflow tracking server at {redact_uri(tracking_uri)} is not "
                        f"reachable: {scrub_credentials(reason)}.")


def prepare_server(tracking_uri: str) -> None:
    """Short HTTP retries for this process, then the health check."""
    for key, value in HTTP_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    check_server(tracking_uri)


def first_sentence(exc: BaseException) -> str:
    """The first sentence of an error, with its direct cause when a library wrapped one."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({str(cause).splitlines()[0][:200]})"
    return scrub_credentials(text[:400].rstrip("."))


def init_sqlite_store(tracking_uri: str, workspace: Path) -> None:
    """Create the workspace and the SQLite store's tables once, under a cross-process file lock."""
    db = sqlite_path(tracking_uri)
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(f"{db}.lock", timeout=STORE_LOCK_TIMEOUT_S):
            if not db.exists():
                copy_empty_store(db)  # else MLflow builds it below, every migration run
            MlflowClient(tracking_uri).search_experiments(max_results=1)  # opens, or builds
    except filelock.Timeout as exc:
        raise TrackingError(f"Timed out waiting for the MLflow store lock {db}.lock; another "
                            "process may be stuck initialising it.") from exc
    except Exception as exc:  # whatever breaks opening the store, say it in one sentence
        raise TrackingError(f"Could not open the MLflow store {db}: "
                            f"{first_sentence(exc)}.") from exc


def sqlite_version(tracking_uri: str) -> tuple[object, ...] | None:
    """What changes whenever the SQLite store commits, read without opening it: the header's
    file change counter (bumped by every commit with a rollback journal) and the database's and
    its WAL's size and modification time. None for a server or a store not created yet."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    try:
        db = sqlite_path(tracking_uri)
        with open(db, "rb") as fh:
            fh.seek(24)
            counter = fh.read(4)
            stat = os.fstat(fh.fileno())
    except (OSError, TrackingError):
        return None
    try:
        wal = db.with_name(db.name + "-wal").stat()
        wal_stamp: tuple[int, int] | None = (wal.st_mtime_ns, wal.st_size)
    except OSError:
        wal_stamp = None
    return counter, stat.st_mtime_ns, stat.st_size, wal_stamp
