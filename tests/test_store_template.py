"""A new SQLite store is a copy of an empty migrated one, and is the store MLflow would build."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import mlflow
import pytest

from modeldev.tracking import store_template
from modeldev.tracking.store import init_sqlite_store
from modeldev.tracking.tracker import Tracker


def schema(db: Path) -> tuple[list[tuple[str, list[str]]], list[tuple], list[tuple]]:
    """The store's table and index definitions, its schema version and the Default experiment's
    name, location and stage. A definition's clauses are sorted: MLflow's own migrations write
    a table's constraints in a different order from one build to the next."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ddl = [(name, sorted(line.strip().rstrip(",") for line in sql.splitlines()))
               for name, sql in conn.execute("SELECT name, sql FROM sqlite_master "
                                             "WHERE sql IS NOT NULL ORDER BY name")]
        version = conn.execute("SELECT * FROM alembic_version").fetchall()
        default = conn.execute("SELECT experiment_id, name, artifact_location, lifecycle_stage "
                               "FROM experiments").fetchall()
    return ddl, version, default


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # MLflow puts the Default experiment under the working directory
    return tmp_path / "cache" / "modeldev"


def test_a_copied_store_is_the_store_mlflow_builds_and_works(tmp_path, cache):
    built = tmp_path / "built.db"
    mlflow.MlflowClient(f"sqlite:///{built}").search_experiments(max_results=1)  # MLflow's way
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    for db in (first, second):
        init_sqlite_store(f"sqlite:///{db}", db.parent)
    assert [p.name for p in cache.glob("*.db")] == [f"mlflow-{mlflow.__version__}-empty.db"]
    assert schema(first) == schema(second) == schema(built)
    assert schema(first)[2] == [(0, "Default", str(tmp_path / "mlruns" / "0"), "active")]
    assert sorted(p.name for p in first.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]

    client = mlflow.MlflowClient(f"sqlite:///{second}")
    exp = client.create_experiment("copied", artifact_location=str(tmp_path / "art"))
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "m", 1.5)
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    assert [e.name for e in mlflow.MlflowClient(f"sqlite:///{first}").search_experiments()] \
        == ["Default"]  # the copies share nothing


def test_without_a_writable_cache_mlflow_builds_the_store(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    db = tmp_path / "ws" / "mlflow.db"
    init_sqlite_store(f"sqlite:///{db}", db.parent)
    assert schema(db)[1] and schema(db)[2][0][:2] == (0, "Default")
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]


def test_a_damaged_template_is_rebuilt(tmp_path, cache, settings):
    cache.mkdir(parents=True)
    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    template.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # a header and nothing else
    assert store_template.copy_empty_store(tmp_path / "copy.db")
    assert schema(tmp_path / "copy.db")[1] == schema(template)[1] != []
    tracker = Tracker(settings)  # and a workspace's store, opened the usual way, works
    assert tracker.experiment_id("after_rebuild")
