"""Tuning children written straight into a SQLite MLflow store, many runs per transaction.

MLflow's client spends about 21 ms of CPU on each child run on SQLite (create, log_batch and
end: twelve ORM sessions, each opening with three PRAGMAs). On 2 cores that was 11 % of a
576-combination tuning's trial loop, measured. These children are short records written once,
finished, by one process, so this writer inserts the very rows MLflow's own store writes for them
(the runs, tags, params, metrics and latest_metrics tables) in one transaction per batch.

It is used only on a store whose schema is exactly the one verified here (the Alembic revision
and every column of those five tables) under an MLflow version verified by the test that compares
it field by field with the client's path; anything else gets `ClientChildWriter`, which goes
through MLflow's client. `Tracker.child_writer` decides which path a tuning uses.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from modeldev.tracking import tags as T

BUSY_TIMEOUT_S = 20.0  # what MLflow's own sessions wait for a locked SQLite file
FLOAT_MAX = 1.7976931348623157e308  # MLflow stores +-inf as +-this (SQL has no infinity)
VERIFIED_SCHEMA_REVISION = "dc11669786a5"  # MLflow 3.17's newest migration
VERIFIED_COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
             "status", "start_time", "end_time", "source_version", "lifecycle_stage",
             "artifact_uri", "experiment_id", "deleted_time"),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
}


class StoreRefused(Exception):
    """The store refuses the write as MLflow would (e.g. the experiment was deleted)."""


@dataclass(frozen=True)
class ChildRun:
    """One finished child run: its name, tags (parent and owner included), params, metrics.

    Keys are MLflow-valid and values already capped (`Tracker.child_run` makes them so).
    """

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    status: str


class ChildWriter(Protocol):
    """Writes finished child runs; `path` says how, for the parent's tags and the logs."""

    path: str

    def write(self, children: Sequence[ChildRun]) -> list[str]:
        """Write `children`; return their run ids, in order."""

    def close(self) -> None:
        """Release what the writer holds, from the thread that wrote."""


def schema_problem(db_path: Path) -> str | None:
    """Why the SQLite store at `db_path` is not one this writer may fill, or None if it is."""
    try:
        with contextlib.closing(_connect(db_path)) as conn:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            if revision != [(VERIFIED_SCHEMA_REVISION,)]:
                return f"schema revision {revision} is not {VERIFIED_SCHEMA_REVISION}"
            for table, columns in VERIFIED_COLUMNS.items():
                found = tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
                if found != columns:
                    return f"table {table} has columns {found}"
    except sqlite3.Error as exc:
        return f"the store could not be read ({exc})"
    return None


class SqliteChildWriter:
    """Insert finished child runs into one experiment of a verified SQLite MLflow store."""

    def __init__(self, db_path: Path, experiment_id: str,
                 artifact_uri: Callable[[str], str]) -> None:
        self._db_path = db_path
        self._experiment_id = int(experiment_id)
        self._artifact_uri = artifact_uri  # run id -> its artifact URI, as MLflow builds it
        self._conn: sqlite3.Connection | None = None
        self.path = "sqlite_bulk"

    def write(self, children: Sequence[ChildRun]) -> list[str]:
        """Insert `children` in one transaction; return their new run ids, in order."""
        if self._conn is None:
            self._conn = _connect(self._db_path)
        now = int(time.time() * 1000)
        ids = [uuid.uuid4().hex for _ in children]
        rows = _Rows()
        for run_id, child in zip(ids, children, strict=True):
            rows.add(run_id, child, now, self._experiment_id, self._artifact_uri(run_id))
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._check_experiment_active(conn)
            conn.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, "
                             "entry_point_name, user_id, status, start_time, end_time, "
                             "source_version, lifecycle_stage, artifact_uri, experiment_id, "
                             "deleted_time) VALUES (?, ?, 'UNKNOWN', '', '', ?, ?, ?, ?, '', "
                             "'active', ?, ?, NULL)", rows.runs)
            conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                             rows.tags)
            conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                             rows.params)
            conn.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, "
                             "is_nan) VALUES (?, ?, ?, ?, 0, ?)", rows.metrics)
            conn.executemany("INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, "
                             "is_nan) VALUES (?, ?, ?, ?, 0, ?)", rows.metrics)
            conn.commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                conn.rollback()
            raise
        return ids

    def _check_experiment_active(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?",
                             (self._experiment_id,)).fetchall()
        if found != [("active",)]:
            raise StoreRefused(f"experiment {self._experiment_id} is "
                               f"{found[0][0] if found else 'gone'}")

    def close(self) -> None:
        """Close the connection, if one was opened; call it from the thread that writes."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ClientChildWriter:
    """Child runs through MLflow's client, three calls each: any store, any MLflow version."""

    def __init__(self, client: MlflowClient, experiment_id: str, reason: str) -> None:
        self._client = client
        self._experiment_id = experiment_id
        self.path = f"mlflow_client ({reason})"
        # A batch cut short (a locked store): what it got to, so that the same batch written
        # again (the Tracker's retry) goes on from there instead of creating a child twice.
        self._batch: Sequence[ChildRun] | None = None
        self._ids: list[str] = []
        self._open: tuple[str, int] | None = None  # (run id, timestamp) created, not yet ended

    def write(self, children: Sequence[ChildRun]) -> list[str]:
        """Create, fill and end each child run (each its own commits: no batch atomicity);
        called again with the same batch after a failure, it resumes where that one stopped."""
        if children is not self._batch:
            self._batch, self._ids, self._open = children, [], None
        for child in children[len(self._ids):]:
            if self._open is None:
                run_id = self._client.create_run(self._experiment_id, run_name=child.name,
                                                 tags=child.tags).info.run_id
                self._open = (run_id, int(time.time() * 1000))
            run_id, now = self._open
            self._client.log_batch(run_id, [Metric(k, v, now, 0) for k, v in
                                            child.metrics.items()],
                                   [Param(k, v) for k, v in child.params.items()])
            self._client.set_terminated(run_id, child.status)
            self._ids.append(run_id)
            self._open = None
        ids, self._batch, self._ids = self._ids, None, []
        return ids

    def close(self) -> None:
        """Nothing to release."""


class _Rows:
    """The rows of several children, table by table."""

    def __init__(self) -> None:
        self.runs: list[tuple[object, ...]] = []
        self.tags: list[tuple[str, str, str]] = []
        self.params: list[tuple[str, str, str]] = []
        self.metrics: list[tuple[str, float, int, str, int]] = []

    def add(self, run_id: str, child: ChildRun, now: int, experiment_id: int,
            artifact_uri: str) -> None:
        user = child.tags.get(T.USER, "unknown")
        self.runs.append((run_id, child.name, user, child.status, now, now, artifact_uri,
                          experiment_id))
        tags = {**child.tags, T.RUN_NAME: child.name}
        self.tags += [(k, v, run_id) for k, v in tags.items()]
        self.params += [(k, v, run_id) for k, v in child.params.items()]
        for key, value in child.metrics.items():
            stored, is_nan = _stored(float(value))
            self.metrics.append((key, stored, now, run_id, is_nan))


def _stored(value: float) -> tuple[float, int]:
    """(value, is_nan) as MLflow's store keeps a metric: NaN as 0 flagged, +-inf as +-max."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (FLOAT_MAX if value > 0 else -FLOAT_MAX), 0
    return value, 0


def _connect(db_path: Path) -> sqlite3.Connection:
    # Used by one thread at a time: the child logger's, which also closes it.
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
