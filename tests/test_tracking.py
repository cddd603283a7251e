"""tracking.py against real MLflow: a temp SQLite store, and a real `mlflow server` on loopback."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import server_support
from mlflow import MlflowClient

from modeldev.config import Settings, resolve_settings
from modeldev.data.split import make_split
from modeldev.data.validation import prepare
from modeldev.errors import StoreUnavailable, TrackingError
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter
from modeldev.tracking.store import HTTP_ENV_DEFAULTS, sqlite_version
from modeldev.tracking.support import PARAM_MAX_CHARS, package_requirements
from modeldev.tracking.tags import HOST as TAG_HOST
from modeldev.tracking.tags import PARENT as TAG_PARENT
from modeldev.tracking.tags import PID as TAG_PID
from modeldev.tracking.tags import PID_START as TAG_PID_START
from modeldev.tracking.tracker import Tracker


def _clear_http_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset MLflow's HTTP env vars for the test and restore them afterwards."""
    for name in HTTP_ENV_DEFAULTS:
        monkeypatch.setenv(name, "x")  # records the original value for restore
        monkeypatch.delenv(name)


# --- store initialisation ----------------------------------------------------------------------

def _open_store(workspace: str, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    try:
        barrier.wait(timeout=120)
        tracker = Tracker(resolve_settings(workspace=workspace,
                                           tracking_uri=f"sqlite:///{workspace}/mlflow.db"))
        exp = tracker.experiment_id("shared")
        run = tracker.start_run(exp, f"run-{os.getpid()}")
        tracker.end_run(run)
        out.put(("ok", run))
    except BaseException as exc:  # report everything: the parent asserts
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_fresh_store_opened_by_four_processes_at_once(tmp_path: Path) -> None:
    workspace = tmp_path / "fresh" / "workspace"  # does not exist yet
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open_store, args=(str(workspace), barrier, out))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert [status for status, _ in results] == ["ok"] * 4, results
    tracker = Tracker(resolve_settings(workspace=workspace,
                                       tracking_uri=f"sqlite:///{workspace}/mlflow.db"))
    runs = tracker.search_runs([tracker.experiment_id("shared")])
    assert sorted(r.run_id for r in runs) == sorted(run for _, run in results)
    assert {r.status for r in runs} == {"FINISHED"}


def test_unusable_store_file_gives_one_clear_sentence(settings: Settings) -> None:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    (settings.workspace / "mlflow.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(TrackingError, match=r"^Could not open the MLflow store .*mlflow\.db: "):
        Tracker(settings)


# --- experiments, runs, batches ------------------------------------------------------------------

def test_experiment_get_or_create_and_artifact_location(settings: Settings) -> None:
    tracker = Tracker(settings)
    first = tracker.experiment_id("churn model [v2]")
    assert tracker.experiment_id("churn model [v2]") == first
    location = MlflowClient(tracker.tracking_uri).get_experiment(first).artifact_location
    assert location.startswith((settings.workspace / "mlartifacts").as_uri() + "/")
    MlflowClient(tracker.tracking_uri).delete_experiment(first)
    assert tracker.experiment_id("churn model [v2]") == first  # restored, not a crash
    assert MlflowClient(tracker.tracking_uri).get_experiment(first).lifecycle_stage == "active"


def test_nested_runs_tags_and_statuses(settings: Settings) -> None:
    tracker = Tracker(settings)
    exp = tracker.experiment_id("nesting")
    parent = tracker.start_run(exp, "phase1_baselines", tags={"kind": "session"})
    kids = [tracker.start_run(exp, name, parent, {"framework": name}) for name in ("a", "b")]
    tracker.start_run(exp, "unrelated")
    tracker.set_tags(kids[0], {"error": "x" * 9000, "n_failed": 1})
    tracker.end_run(kids[0], "FAILED")
    tracker.end_run(kids[1])
    with pytest.raises(ValueError, match="FINISHED, FAILED, KILLED"):
        tracker.end_run(parent, "DONE")
    children = {r.run_id: r for r in tracker.child_runs(parent)}
    assert set(children) == set(kids)
    failed = children[kids[0]]
    assert failed.status == "FAILED" and failed.name == "a"
    assert failed.tags[TAG_PARENT] == parent and failed.tags["framework"] == "a"
    assert failed.tags[TAG_PID] == str(os.getpid())
    assert failed.tags[TAG_HOST] == socket.gethostname()
    assert failed.tags["n_failed"] == "1" and len(failed.tags["error"]) < 8000
    assert children[kids[1]].status == "FINISHED"
    assert tracker.get_run(parent).status == "RUNNING"
    assert tracker.get_run(parent).tags["kind"] == "session"


def test_sqlite_version_moves_with_every_write_and_stays_with_reads(settings: Settings) -> None:
    """The key the app's cached run lists use: a new tab re-reads only after a write."""
    assert sqlite_version(settings.tracking_uri) is None  # no store yet
    tracker = Tracker(settings)
    exp = tracker.experiment_id("versions")
    run = tracker.start_run(exp, "a")
    seen = [sqlite_version(settings.tracking_uri)]
    tracker.runs_of_kind([exp], "phase1")
    tracker.get_run(run)
    assert sqlite_version(settings.tracking_uri) == seen[0]
    for write in (lambda: tracker.set_tags(run, {"x": "1"}), lambda: tracker.end_run(run)):
        write()
        seen.append(sqlite_version(settings.tracking_uri))
    assert len(set(seen)) == 3
    assert sqlite_version("http://127.0.0.1:5000") is None


def test_log_batch_caps_params_and_skips_non_finite_metrics(settings: Settings) -> None:
    tracker = Tracker(settings)
    run = tracker.start_run(tracker.experiment_id("batch"), "child")
    grid = {"C": list(range(2000))}
    tracker.log_batch(run, params={"grid": grid, "solver": "lbfgs", "max_depth": None},
                      metrics={"f1_score": 0.75, "roc_auc": np.float32(0.5),
                               "log_loss": float("nan"), "mape": float("inf"), "gpu_used": True},
                      tags={"framework": "lr"}, step=3)
    tracker.log_metric_history(run, "loss", [0.9, float("nan"), 0.5, 0.4])
    data = tracker.get_run(run)
    assert len(str(grid)) > 6000
    assert len(data.params["grid"]) == PARAM_MAX_CHARS and data.params["grid"].endswith("...")
    assert data.params["solver"] == "lbfgs" and data.params["max_depth"] == "None"
    assert data.metrics.keys() == {"f1_score", "roc_auc", "gpu_used", "loss"}
    assert data.tags["framework"] == "lr"
    history = MlflowClient(tracker.tracking_uri).get_metric_history(run, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (1, 0.9), (3, 0.5), (4, 0.4)]
    assert MlflowClient(tracker.tracking_uri).get_metric_history(run, "f1_score")[0].step == 3


def test_search_runs_follows_page_tokens_past_1000(settings: Settings) -> None:
    tracker = Tracker(settings)
    exp = tracker.experiment_id("many")
    parent = tracker.start_run(exp, "tuning_parent")
    store = MlflowClient(tracker.tracking_uri)  # plain create_run: paging, not our tags
    made = {store.create_run(exp, tags={TAG_PARENT: parent}).info.run_id for _ in range(1003)}
    assert {r.run_id for r in tracker.child_runs(parent)} == made
    assert len(tracker.search_runs([exp], max_results=1002)) == 1002
    newest = tracker.search_runs([exp], order_by=["attributes.start_time DESC"], max_results=3)
    assert len(newest) == 3 and parent not in {r.run_id for r in newest}


def test_artifacts_logged_to_the_workspace(settings: Settings, tmp_path: Path) -> None:
    tracker = Tracker(settings)
    run = tracker.start_run(tracker.experiment_id("files"), "parent")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "all_models_metrics.json").write_text("[]")
    (folder / "summary.csv").write_text("a\n1\n")
    tracker.log_artifacts(run, folder)
    tracker.log_artifact(run, folder / "summary.csv", "tables")
    names = {a.path for a in MlflowClient(tracker.tracking_uri).list_artifacts(run)}
    assert names == {"all_models_metrics.json", "summary.csv", "tables"}
    assert MlflowClient(tracker.tracking_uri).get_run(run).info.artifact_uri.startswith(
        (settings.workspace / "mlartifacts").as_uri())
    with pytest.raises(TrackingError, match="logging an artifact"):
        tracker.log_artifact(run, folder / "missing.json")


# --- models --------------------------------------------------------------------------------------

def _tiny_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    x1 = rng.normal(size=n)
    frame = pd.DataFrame({
        "x1": x1, "x2": rng.normal(size=n),
        "city": rng.choice(["paris", "lyon", "nice"], size=n),
        "label": np.where(x1 + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
    frame.loc[[2, 11], "x1"] = np.nan
    frame.loc[[4, 17], "city"] = np.nan
    return frame


@pytest.fixture(scope="module")
def fitted_and_split():
    """A small sklearn-based FittedModel and its split (text column, NaNs)."""
    split = make_split(prepare(_tiny_frame(), "label"), cv=0)
    return LogisticRegressionAdapter().fit(split.final_rows()), split


def test_pyfunc_round_trip_gives_identical_labels(settings: Settings, fitted_and_split) -> None:
    fitted, split = fitted_and_split
    tracker = Tracker(settings)
    run = tracker.start_run(tracker.experiment_id("models"), "sklearn_logistic_regression")
    example = pd.concat([split.X_dev.head(5), _tiny_frame().drop(columns="label").iloc[[2, 4]]])
    uri, size_mb = tracker.log_model(run, fitted, example, ["scikit-learn"])
    assert 0 < size_mb < 5
    assert tracker.get_run(run).status == "RUNNING"  # logging a model ends nothing
    raw = pd.concat([split.X_test, split.fold_valid(0)[0]], ignore_index=True)
    expected = fitted.predict(raw)
    assert set(expected) == {"yes", "no"}
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(raw), expected)
    np.testing.assert_array_equal(tracker.load_model(uri).predict(raw), expected)
    model_id = uri.split("/models/")[1].split("/")[0]
    logged = MlflowClient(tracker.tracking_uri).get_logged_model(model_id)
    assert logged.source_run_id == run and logged.status.to_proto() == 2  # READY
    assert tracker.load_model(f"models:/{model_id}").predict(raw.head(3)).tolist() == \
        expected[:3].tolist()
    saved = Path(urllib.parse.urlparse(uri).path)
    assert saved.is_relative_to(settings.workspace / "mlartifacts")
    signature = mlflow.models.Model.load(str(saved)).signature
    assert signature.inputs.input_names() == ["x1", "x2", "city"]
    assert "scikit-learn==" in (saved / "requirements.txt").read_text()


def test_a_model_that_cannot_be_saved_is_marked_failed(settings: Settings,
                                                       fitted_and_split) -> None:
    fitted, split = fitted_and_split
    unpicklable = dataclasses.replace(fitted, fit_params={"lock": threading.Lock()})
    tracker = Tracker(settings)
    exp = tracker.experiment_id("broken model")
    run = tracker.start_run(exp, "lr")
    with pytest.raises(TrackingError, match=r"logging a model .*cannot pickle '_thread.lock'"):
        tracker.log_model(run, unpicklable, split.X_dev.head(3), ["scikit-learn"])
    client = MlflowClient(tracker.tracking_uri)
    assert [m.status.to_proto() for m in client.search_logged_models([exp])] == [3]
    assert tracker.get_run(run).status == "RUNNING"


def test_logged_model_loads_without_modeldev(settings: Settings, fitted_and_split) -> None:
    fitted, split = fitted_and_split
    tracker = Tracker(settings)
    run = tracker.start_run(tracker.experiment_id("portable"), "lr")
    uri, _ = tracker.log_model(run, fitted, split.X_dev.head(5), ["scikit-learn"])
    data = settings.workspace / "rows.json"
    split.X_test.to_json(data, orient="split")
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["modeldev"] = None  # importing modeldev now fails
        import mlflow, pandas as pd
        rows = pd.read_json({str(data)!r}, orient="split")
        print(json.dumps(mlflow.pyfunc.load_model({uri!r}).predict(rows).tolist()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == fitted.predict(split.X_test).tolist()


def test_package_requirements_pins_installed_versions() -> None:
    reqs = package_requirements(["scikit-learn", "scikit_learn", "not-a-real-dist-xyz"])
    assert reqs[:4] == [f"{n}=={__import__('importlib.metadata').metadata.version(n)}"
                        for n in ("cloudpickle", "numpy", "pandas", "scikit-learn")]
    assert reqs[4:] == ["not-a-real-dist-xyz"]


# --- stale runs ----------------------------------------------------------------------------------

_STARTER = """
import sys, time
from modeldev.config import resolve_settings
from modeldev.tracking.tracker import Tracker
tracker = Tracker(resolve_settings(workspace=sys.argv[1]))
print(tracker.start_run(tracker.experiment_id("sweep"), "victim"), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid to hold a zombie")
def test_sweep_marks_runs_of_a_killed_process(settings: Settings) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STARTER, str(settings.workspace)],
                            stdout=subprocess.PIPE, text=True)
    try:
        victim = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead but unreaped: a zombie
    tracker = Tracker(settings)
    exp = tracker.experiment_id("sweep")
    alive = tracker.start_run(exp, "ours, alive")
    foreign = tracker.start_run(exp, "other host", tags={})
    tracker.set_tags(foreign, {TAG_HOST: "some-other-host", TAG_PID: str(proc.pid)})
    recycled = tracker.start_run(exp, "our pid, another process's start time")
    tracker.set_tags(recycled, {TAG_PID_START: "1"})  # a reused pid is not the run's owner
    assert tracker.get_run(victim).status == "RUNNING"
    assert tracker.sweep_stale_runs([exp]) == 2
    proc.wait(timeout=30)
    assert tracker.get_run(victim).status == "KILLED"
    assert tracker.get_run(recycled).status == "KILLED"
    assert tracker.get_run(alive).status == "RUNNING"
    assert tracker.get_run(foreign).status == "RUNNING"
    assert tracker.sweep_stale_runs([exp]) == 0


# --- tracking servers ----------------------------------------------------------------------------

def test_unreachable_server_fails_fast_with_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    _clear_http_env(monkeypatch)
    uri = f"http://127.0.0.1:{server_support.free_port()}"  # nothing listens there
    with pytest.raises(TrackingError, match=r"tracking server at .* is not reachable: "):
        Tracker(resolve_settings(workspace=tmp_path, tracking_uri=uri))
    assert {k: os.environ[k] for k in HTTP_ENV_DEFAULTS} == HTTP_ENV_DEFAULTS


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `mlflow server` with one worker on a free loopback port; stopped afterwards."""
    with server_support.mlflow_server(tmp_path) as served:
        yield served


@pytest.mark.slow
def test_tracking_server_works_then_fails_fast_when_it_goes_down(
        mlflow_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    uri, proc = mlflow_server
    _clear_http_env(monkeypatch)
    tracker = Tracker(resolve_settings(workspace=tmp_path / "ws", tracking_uri=uri))
    exp = tracker.experiment_id("served")
    parent = tracker.start_run(exp, "parent")
    child = tracker.start_run(exp, "child", parent)
    tracker.log_batch(child, {"C": 1.0}, {"f1_score": 0.8, "nan": float("nan")}, {"t": "v"})
    (tmp_path / "note.txt").write_text("hello")
    tracker.log_artifact(child, tmp_path / "note.txt")
    tracker.end_run(child)
    seen = tracker.get_run(child)
    assert seen.status == "FINISHED" and seen.metrics == {"f1_score": 0.8}
    assert [r.run_id for r in tracker.child_runs(parent)] == [child]
    client = MlflowClient(tracker.tracking_uri)
    assert [a.path for a in client.list_artifacts(child)] == ["note.txt"]
    server_support.stop(proc)
    silent = r"The tracking server at .* did not answer for \d+ s \(logging params"
    with pytest.raises(StoreUnavailable, match=silent):
        tracker.log_batch(parent, metrics={"x": 1.0})
