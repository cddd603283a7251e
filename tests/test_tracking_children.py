"""Tuning children written in bulk into SQLite equal, row for row, those MLflow's client writes."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from modeldev.config import Settings, resolve_settings
from modeldev.errors import InputError, TrackingError
from modeldev.tracking.children import ChildRun, SqliteChildWriter
from modeldev.tracking.store import sqlite_path
from modeldev.tracking.tracker import Tracker

# Columns that differ between any two runs, whoever writes them: ids and clocks.
VOLATILE = {"run_uuid", "run_id", "start_time", "end_time", "timestamp"}


def _children(tracker: Tracker, parent: str) -> list[ChildRun]:
    long_text = "x" * 9000  # capped by child_run exactly as start_run caps tags
    return [
        tracker.child_run("trial_0000", parent, {"combination_hash": "h0", "params_json": "{}",
                                                 "note": long_text},
                          {"max_depth": 3, "learning_rate": 0.1, "solver": "lbfgs"},
                          {"f1_score": 0.8125, "roc_auc": 0.9, "log_loss": float("nan")},
                          "FINISHED"),
        tracker.child_run("trial_0001", parent, {"combination_hash": "h1",
                                                 "error": "ValueError: bad solver"},
                          {"max_depth": None, "solver": "saga"}, {}, "FAILED"),
    ]


def _rows(db: Path, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table where any column holds `run_id`, the volatile columns blanked."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            where = " OR ".join(f'"{c}" = ?' for c in cols)
            found = conn.execute(f'SELECT * FROM "{table}" WHERE {where}',
                                 [run_id] * len(cols)).fetchall()
            rows[table] = sorted(
                tuple(None if c in VOLATILE else
                      (v.replace(run_id, "<id>") if isinstance(v, str) else v)
                      for c, v in zip(cols, row, strict=True))
                for row in found)
    return rows


def _times_in_ms(db: Path, run_id: str, low_ms: int, high_ms: int) -> None:
    """Start, end and metric timestamps are milliseconds within the write, in order."""
    with sqlite3.connect(db) as conn:
        start, end = conn.execute("SELECT start_time, end_time FROM runs WHERE run_uuid = ?",
                                  (run_id,)).fetchone()
        stamps = [r[0] for r in conn.execute(
            "SELECT timestamp FROM metrics WHERE run_uuid = ? UNION ALL "
            "SELECT timestamp FROM latest_metrics WHERE run_uuid = ?", (run_id, run_id))]
    assert low_ms <= start <= end <= high_ms
    assert all(start <= t <= end for t in stamps)


def _comparable(client: MlflowClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id)
    info = {k: v for k, v in vars(run.info).items()
            if k not in {"_run_id", "_run_uuid", "_start_time", "_end_time", "_artifact_uri"}}
    return {"info": info, "artifact_uri": run.info.artifact_uri.replace(run_id, "<id>"),
            "params": run.data.params, "tags": run.data.tags,
            "metrics": {k: _nan_equal(v) for k, v in run.data.metrics.items()},
            "history": {k: [(_nan_equal(m.value), m.step)
                            for m in client.get_metric_history(run_id, k)]
                        for k in run.data.metrics}}


def _nan_equal(value: float) -> float | str:
    return "NaN" if math.isnan(value) else value  # NaN != NaN would fail any comparison


def _tracker_and_parent(settings: Settings) -> tuple[Tracker, str, str]:
    tracker = Tracker(settings)
    exp = tracker.experiment_id("children")
    return tracker, exp, tracker.start_run(exp, "xgboost_tuning_parent")


def test_bulk_children_equal_client_children_in_every_table(settings: Settings) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    bulk = tracker.child_writer(exp)
    # A tripwire for upgrades: another MLflow version gets the client until this test has
    # compared the two paths on it and the version is added to VERIFIED_CHILD_WRITES_MLFLOW.
    assert bulk.path == "sqlite_bulk", f"{bulk.path}: verify this MLflow version, then add it"
    client_writer = Tracker(dataclasses.replace(settings, child_writes="client")).child_writer(exp)
    assert client_writer.path.startswith("mlflow_client")
    # NaN and infinities straight into ChildRun: Tracker.child_run drops them, the store must not
    odd = ChildRun("trial_0002", {"mlflow.parentRunId": parent}, {},
                   {"nan": float("nan"), "up": float("inf"), "down": float("-inf")}, "FINISHED")
    children = [*_children(tracker, parent), odd]
    low = int(time.time() * 1000)
    by_bulk = tracker.write_children(bulk, children)
    by_client = tracker.write_children(client_writer, children)
    high = int(time.time() * 1000)
    bulk.close()
    db = sqlite_path(settings.tracking_uri)
    client = MlflowClient(tracker.tracking_uri)
    for bulk_id, client_id in zip(by_bulk, by_client, strict=True):
        assert _comparable(client, bulk_id) == _comparable(client, client_id)
        assert _rows(db, bulk_id) == _rows(db, client_id)
        _times_in_ms(db, bulk_id, low, high)
        _times_in_ms(db, client_id, low, high)
    assert _rows(db, by_bulk[2])["metrics"] == [("down", -1.7976931348623157e308, None, None, 0, 0),
                                                ("nan", 0.0, None, None, 0, 1),
                                                ("up", 1.7976931348623157e308, None, None, 0, 0)]
    assert tracker.get_run(by_bulk[1]).status == "FAILED"
    assert len(tracker.get_run(by_bulk[0]).tags["note"]) == 5000


def test_bulk_children_are_found_by_searches_and_as_children(settings: Settings) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    writer = tracker.child_writer(exp)
    ids = tracker.write_children(writer, _children(tracker, parent))
    assert {r.run_id for r in tracker.child_runs(parent)} == set(ids)
    found = tracker.search_runs([exp], "metrics.f1_score > 0.8 and tags.combination_hash = 'h0'"
                                " and params.solver = 'lbfgs'")
    assert [r.run_id for r in found] == ids[:1]
    assert tracker.sweep_stale_runs([exp]) == 0  # children are written finished, never RUNNING


def test_a_failing_batch_writes_none_of_its_children(settings: Settings) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    writer = tracker.child_writer(exp)
    good, _ = _children(tracker, parent)
    bad = dataclasses.replace(good, name="trial_0002", status="DONE")  # refused by the schema
    with pytest.raises(TrackingError, match="writing child runs"):
        tracker.write_children(writer, [good, bad])
    assert tracker.child_runs(parent) == []
    assert len(tracker.write_children(writer, [good])) == 1  # the writer is still usable


def _edit_store(settings: Settings, sql: str) -> None:
    with sqlite3.connect(sqlite_path(settings.tracking_uri)) as conn:
        conn.execute(sql)


@pytest.mark.parametrize(("sql", "reason"), [
    ("UPDATE alembic_version SET version_num = 'ffffffffffff'", "schema revision"),
    ("ALTER TABLE runs ADD COLUMN owner VARCHAR(20)", "table runs has columns"),
])
def test_an_unverified_store_gets_the_client(settings: Settings, sql: str, reason: str) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    _edit_store(settings, sql)
    assert reason in (tracker.bulk_child_refusal() or "")
    writer = tracker.child_writer(exp)
    assert writer.path.startswith("mlflow_client") and reason in writer.path


def test_the_setting_forces_the_client_and_refuses_unknown_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELDEV_CHILD_WRITES", "client")
    tracker = Tracker(resolve_settings(workspace=tmp_path))
    assert tracker.bulk_child_refusal() == "MODELDEV_CHILD_WRITES=client"
    monkeypatch.setenv("MODELDEV_CHILD_WRITES", "fast")
    with pytest.raises(InputError, match="MODELDEV_CHILD_WRITES must be one of auto, client"):
        resolve_settings(workspace=tmp_path)


def test_a_writer_into_a_missing_experiment_fails_without_writing(settings: Settings) -> None:
    tracker, _, parent = _tracker_and_parent(settings)
    writer = SqliteChildWriter(sqlite_path(settings.tracking_uri), "999",
                               lambda run_id: f"file:///nowhere/{run_id}/artifacts")
    with pytest.raises(TrackingError, match="experiment 999 is gone"):
        tracker.write_children(writer, _children(tracker, parent))
    assert tracker.child_runs(parent) == []


def test_an_experiment_deleted_during_a_tuning_stops_the_bulk_writes(settings: Settings) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    writer = tracker.child_writer(exp)
    first, second = _children(tracker, parent)
    tracker.write_children(writer, [first])
    MlflowClient(tracker.tracking_uri).delete_experiment(exp)
    with pytest.raises(TrackingError, match=f"experiment {exp} is deleted"):
        tracker.write_children(writer, [second])
    MlflowClient(tracker.tracking_uri).restore_experiment(exp)
    assert [r.name for r in tracker.child_runs(parent)] == ["trial_0000"]


def test_a_deleted_experiment_gets_the_clients_refusal(settings: Settings) -> None:
    tracker, exp, parent = _tracker_and_parent(settings)
    MlflowClient(tracker.tracking_uri).delete_experiment(exp)
    writer = tracker.child_writer(exp)
    assert writer.path == "mlflow_client (the experiment is deleted)"
    with pytest.raises(TrackingError, match="writing child runs"):
        tracker.write_children(writer, _children(tracker, parent))
