"""A new SQLite store as a copy of an empty, migrated one: MLflow builds a store by running every
schema migration (1.2-1.9 s of CPU), a copy of the result takes 0.03 s.

The template is kept per MLflow version in the user's cache (`$XDG_CACHE_HOME/modeldev`, else
`~/.cache/modeldev`), built once under a file lock by MLflow itself; a copy gets the Default
experiment's location and times MLflow would have given it. Whatever goes wrong (no writable
cache, a damaged template), the caller falls back to MLflow building the store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import filelock

TEMPLATE_LOCK_TIMEOUT_S = 120.0


def cache_dir() -> Path:
    """Where the templates live: $XDG_CACHE_HOME/modeldev, else ~/.cache/modeldev."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "modeldev"


def copy_empty_store(db: Path) -> bool:
    """Create the SQLite store `db` (which must not exist) from the template; False when no
    template could be had, and then nothing was written."""
    try:
        template = _template()
        fd, tmp = tempfile.mkstemp(prefix=f".{db.name}.", dir=db.parent)
        os.close(fd)
        try:
            shutil.copyfile(template, tmp)
            _stamp_default_experiment(Path(tmp))
            os.replace(tmp, db)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except (OSError, sqlite3.Error, filelock.Timeout):
        return False
    return True


def _template() -> Path:
    """The empty store of this MLflow version, built once (under a lock) if missing or damaged."""
    import mlflow

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mlflow-{mlflow.__version__}-empty.db"
    if _is_migrated(path):
        return path
    with filelock.FileLock(f"{path}.lock", timeout=TEMPLATE_LOCK_TIMEOUT_S):
        if not _is_migrated(path):
            _build(path)
    return path


def _build(path: Path) -> None:
    """Let MLflow create and migrate a store in a temporary file, then move it into place."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # MLflow creates the tables only in a database it finds empty
    try:
        store = SqlAlchemyStore(f"sqlite:///{tmp}", str(path.parent / "mlruns"))
        store.engine.dispose()  # no pooled connection left on the file that moves
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _is_migrated(path: Path) -> bool:
    """True when `path` is a store with its schema version recorded and the Default experiment."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            default = conn.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone()
    except sqlite3.Error:
        return False
    return bool(version and version[0]) and default is not None


def _stamp_default_experiment(db: Path) -> None:
    """The Default experiment as MLflow would create it here and now: its artifact location
    under this process's working directory, its times now."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    location = append_to_uri_path(resolve_uri_if_local(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH), "0")
    now = int(time.time() * 1000)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, "
                     "last_update_time = ? WHERE experiment_id = 0", (location, now, now))
