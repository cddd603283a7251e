"""A team: one real `mlflow server` on loopback, two workspaces that share nothing but it.

Phase 1 runs in workspace A on a CSV file that lives in A; then A is deleted. All workspaces
share the team's model signing key (MODELDEV_MODEL_KEY_FILE). Workspace B runs
`modeldev tune` on that session (a subprocess, as an analyst would) and renders the Comparison and
Tuning pages (AppTest, the model detail included): everything comes from the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import server_support
from streamlit.testing.v1 import AppTest

from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo, load_table
from modeldev.events import Cancelled
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.serving.predict import PredictRequest, run_predict
from modeldev.serving.register import register_run
from modeldev.tracking.folders import CACHE_SUBDIR, DATA_DIR
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest
from modeldev.ui import state as S

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FRAMEWORKS = ["sklearn_logistic_regression", "sklearn_random_forest"]
GRIDS = {"sklearn_logistic_regression": {"C": [0.1, 1.0]},
         "sklearn_random_forest": {"n_estimators": [10, 20]}}
_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
        "MODELDEV_CONTEXT_PATH", "MODELDEV_CHILD_WRITES")


@pytest.fixture(scope="module", autouse=True)
def team_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The team's model signing key, one file every workspace names (docs/team.md): models
    one machine logged load on another only with it (or with the server trusted)."""
    key = tmp_path_factory.mktemp("team") / "model_signing.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELDEV_MODEL_KEY_FILE", str(key))
        yield key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`mlflow server --backend-store-uri sqlite:///... --artifacts-destination ...` on a free
    loopback port (its own folder, apart from both workspaces); stopped afterwards."""
    root = tmp_path_factory.mktemp("server")
    with server_support.mlflow_server(root) as (uri, _):
        yield uri, root


@pytest.fixture(scope="module")
def phase1_elsewhere(server, tmp_path_factory) -> dict:
    """Phase 1 in workspace A on a CSV file kept in A; then A is gone, file and all."""
    uri, _ = server
    a = tmp_path_factory.mktemp("workspace_a")
    data = a / "cancer.csv"
    load_demo("breast_cancer").frame.to_csv(data, index=False)
    source = load_table(data)
    source.target = "target"
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        result = run_phase1(TrainRequest(source=source, frameworks=FRAMEWORKS, cv=2, repeats=1,
                                         workers=2),
                            resolve_settings(a, uri))
    assert {r.status for r in result.runs} == {"FINISHED"}
    assert result.artifacts_dir.is_relative_to(a)
    shutil.rmtree(a)
    return {"run_id": result.parent_run_id, "best": result.best.name,
            "folder": result.artifacts_dir, "data": data, "model_uri": result.best.model_uri}


@pytest.fixture(scope="module")
def tuned_elsewhere(server, phase1_elsewhere, tmp_path_factory) -> dict:
    """`modeldev tune` in workspace B, a subprocess pointed at the server by its environment."""
    uri, _ = server
    b = tmp_path_factory.mktemp("workspace_b")
    grid = b / "grid.json"
    grid.write_text(json.dumps(GRIDS[phase1_elsewhere["best"]]))
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env.update(MLFLOW_TRACKING_URI=uri, MODELDEV_WORKSPACE=str(b))
    done = subprocess.run(
        [sys.executable, "-m", "modeldev.cli", "tune", "--training-run", phase1_elsewhere["run_id"],
         "--grid", str(grid), "--workers", "1", "--json"],
        capture_output=True, text=True, env=env, cwd=b, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"workspace": b, "summary": json.loads(done.stdout)}


def test_tuning_on_another_machine_reads_phase1_from_the_server(phase1_elsewhere,
                                                                tuned_elsewhere):
    summary, b = tuned_elsewhere["summary"], tuned_elsewhere["workspace"]
    assert not phase1_elsewhere["folder"].exists() and not phase1_elsewhere["data"].exists()
    assert summary["framework"] == phase1_elsewhere["best"]
    assert summary["n_completed"] == summary["n_combinations"] == 2
    assert summary["verdict"] in ("better", "worse", "no_difference")
    assert Path(summary["artifacts_dir"]).is_relative_to(b)  # B's own tuning folder
    settings = resolve_settings(b)
    cached = list((settings.artifacts_dir / CACHE_SUBDIR).glob(f"{phase1_elsewhere['run_id']}_*"))
    assert len(cached) == 1, cached  # Phase 1's files, fetched once from the server
    assert (cached[0] / "best_model_info.json").is_file()
    assert (cached[0] / DATA_DIR / "cancer.csv").is_file()  # the data travelled with the session


def test_models_load_from_the_server_by_their_uris(server, phase1_elsewhere, tuned_elsewhere,
                                                   tmp_path):
    """Phase 1's best model and the model tuning carried forward, by the URIs the JSON and the
    context give (mlflow-artifacts:/..., proxied by the server), in a workspace with nothing."""
    uri, _ = server
    tracker = Tracker(resolve_settings(tmp_path / "workspace_e", uri))
    rows = load_demo("breast_cancer").frame.drop(columns="target").head(20)
    labels = set(load_demo("breast_cancer").frame["target"])
    for model_uri in (phase1_elsewhere["model_uri"],
                      tuned_elsewhere["summary"]["carried_model_uri"]):
        assert model_uri.startswith("mlflow-artifacts:/"), model_uri
        predicted = tracker.load_model(model_uri).predict(rows)
        assert len(predicted) == 20 and set(predicted) <= labels


def test_the_champion_is_registered_on_the_server_and_scores_by_its_alias(
        server, phase1_elsewhere, tuned_elsewhere, tmp_path):
    """`modeldev tune` in B registered its carried model on the server; a workspace with
    nothing scores a file with `models:/NAME@champion` (the logged model's signature checked
    with the team's key), then registers the Phase 1 session, which moves the champion."""
    uri, _ = server
    summary = tuned_elsewhere["summary"]
    assert (summary["registered_model"], summary["model_version"]) == ("cancer_model", "1")
    card = json.loads(Path(summary["serving_card"]).read_text())
    assert card["serve"]["environment"]["MLFLOW_TRACKING_URI"] == uri
    assert "error" not in card["measured"], card["measured"]
    settings = resolve_settings(tmp_path / "workspace_f", uri)
    new = load_demo("breast_cancer").frame.sample(25, random_state=4)
    new.to_csv(tmp_path / "new.csv", index=False)
    champion = "models:/cancer_model@champion"
    result = run_predict(PredictRequest(champion, tmp_path / "new.csv", tmp_path / "p.csv"),
                         settings)
    tracker = Tracker(settings)
    expected = tracker.load_model(summary["carried_model_uri"]).predict(
        new.drop(columns="target"))
    assert list(pd.read_csv(tmp_path / "p.csv")["prediction"]) == list(expected)
    assert result.model.version is not None and result.model.version.version == "1"
    done = register_run(tracker, settings, phase1_elsewhere["run_id"])
    assert (done.version.name, done.version.version) == ("cancer_model", "2")
    aliases = {v.version: v.aliases for v in tracker.registered_versions()}
    assert aliases == {"1": ("previous_champion",), "2": ("champion",)}
    assert done.card["measured"]["cold_load_seconds"] > 0  # measured on the server's files
    assert tracker.read_json_artifact(phase1_elsewhere["run_id"], "serving.json") == done.card


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_comparison_and_tuning_pages_on_another_machine(server, phase1_elsewhere,
                                                        tuned_elsewhere, monkeypatch):
    uri, _ = server
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MODELDEV_WORKSPACE", str(tuned_elsewhere["workspace"]))

    at = _open(S.PAGE_COMPARISON)
    assert at.metric[0].value == phase1_elsewhere["best"]
    assert sorted(at.dataframe[0].value["model"]) == sorted(FRAMEWORKS)
    # the comparison, then the best model's detail: its model loaded from the server's
    # artifact store and scored on the split rebuilt from the logged data file
    # the comparison and the detail's open tab: the confusion matrix
    assert [c.key for c in at.get("plotly_chart")] == ["cmp_chart", "detail_fig_0"]

    at = _open(S.PAGE_TUNING)
    assert at.selectbox(key=S.TUNE_FRAMEWORK).value == phase1_elsewhere["best"]
    assert at.selectbox(key=S.TUNE_PARENT_PICK).value == tuned_elsewhere["summary"]["parent_run_id"]
    assert len(at.get("plotly_chart")) == 2  # top 10 and parameter impact
    assert any(m.label.startswith("Improvement") for m in at.metric)
    assert any("2 / 2 finished" in str(m.value) for m in at.metric)

    cache = resolve_settings(tuned_elsewhere["workspace"]).artifacts_dir / CACHE_SUBDIR
    shutil.rmtree(cache)  # only a cache: the pages fetch the files again
    at = _open(S.PAGE_COMPARISON)
    assert at.metric[0].value == phase1_elsewhere["best"]
    assert any(cache.glob(f"{phase1_elsewhere['run_id']}_*/best_model_info.json"))


def test_a_tuning_stopped_in_one_workspace_resumes_in_another(server, tmp_path_factory,
                                                              monkeypatch):
    """A tuning of a CSV kept in workspace C (no Phase 1), stopped after its first trial (the
    parent ends KILLED); C deleted, file and all; resumed in workspace D: its spec and its data
    come back from the server and the rest of the grid runs."""
    uri, _ = server
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    c, d = tmp_path_factory.mktemp("workspace_c"), tmp_path_factory.mktemp("workspace_d")
    load_demo("wine").frame.to_csv(c / "wine.csv", index=False)
    source = load_table(c / "wine.csv")
    source.target = "target"
    grid = {"C": [0.1, 1.0, 10.0], "max_iter": [300]}
    events: list[dict] = []
    with pytest.raises(Cancelled):
        run_tuning(TuneRequest(framework="sklearn_logistic_regression", source=source, grid=grid,
                               workers=1, cv=2), resolve_settings(c, uri),
                   on_event=events.append,
                   should_stop=lambda: any(e["type"] == "trial_finished" for e in events))
    parent = next(e["parent_run_id"] for e in events if e["type"] == "session_started")
    tracker = Tracker(resolve_settings(d, uri))
    assert tracker.get_run(parent).status == "KILLED"
    shutil.rmtree(c)

    result = run_tuning(TuneRequest(resume=parent, workers=1), resolve_settings(d, uri))
    assert (result.parent_run_id, result.n_combinations, result.n_completed) == (parent, 3, 3)
    assert result.artifacts_dir.is_relative_to(d)
    spec = json.loads((result.artifacts_dir / "tuning_spec.json").read_text())
    assert spec["grid"] == grid and spec["dataset"]["origin"] == str(c / "wine.csv")
    assert (result.artifacts_dir / DATA_DIR / "wine.csv").is_file()  # fetched with the spec
    run = tracker.get_run(parent)
    assert run.status == "FINISHED" and run.tags["artifacts_dir"] == str(result.artifacts_dir)
