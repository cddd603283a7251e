"""The dashboard through Streamlit's AppTest: every page, the pointers, and the flows that need
no browser (a real Phase 1 session and tuning run in a temp workspace; a real background job)."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from job_support import wait_for_job
from streamlit.testing.v1 import AppTest

from modeldev.config import resolve_settings
from modeldev.data.loading import load_demo
from modeldev.jobs import store as jobs
from modeldev.jobs.runner import train_request
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest
from modeldev.ui import bundles
from modeldev.ui import data_source as ds
from modeldev.ui import state as S

pytestmark = pytest.mark.slow  # an end-to-end module: scheduled first (tests/conftest.py)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = [S.PAGE_DATA, S.PAGE_TRAINING, S.PAGE_COMPARISON, S.PAGE_TUNING, S.PAGE_PREDICT,
         S.PAGE_RUNS, S.PAGE_ARTIFACTS]
FAST = ["sklearn_logistic_regression", "xgboost_baseline"]
TINY_GRIDS = {"sklearn_logistic_regression": {"C": [0.1, 1.0]},
              "xgboost_baseline": {"n_estimators": [10, 20], "max_depth": [2, 3]}}
_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
        "MODELDEV_CONTEXT_PATH")


@pytest.fixture(scope="module")
def workspace_env():
    """Point MODELDEV_WORKSPACE at a folder for this module (the app resolves it every run)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "2")

        def use(path: Path) -> None:
            mp.setenv("MODELDEV_WORKSPACE", str(path))

        yield use


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("empty_ws")


@pytest.fixture
def empty_ws(empty_dir, workspace_env):
    """A workspace with no runs (shared by the tests that create none: a store costs seconds)."""
    workspace_env(empty_dir)
    return empty_dir


@pytest.fixture(scope="module")
def real_ws(tmp_path_factory):
    """A workspace with a real Phase 1 session (2 fast frameworks) and a real tuning run."""
    ws = tmp_path_factory.mktemp("real_ws")
    settings = resolve_settings(ws)
    phase1 = run_phase1(TrainRequest(source=load_demo("breast_cancer"), frameworks=FAST, cv=3,
                                     repeats=1), settings)  # the pages, not the resampling
    grid = TINY_GRIDS[phase1.best.name]  # the best framework, as the Tuning page offers it
    tuned = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, grid=grid, workers=1),
                       settings)
    return ws, phase1, tuned


@pytest.fixture
def in_real_ws(real_ws, workspace_env):
    workspace_env(real_ws[0])
    return real_ws


def open_page(page: str, state: dict | None = None, query: dict | None = None) -> AppTest:
    """Run the app, then switch to `page` with `state` set in session state."""
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(page).run()  # url paths equal the file names, so no first run is needed
    assert not at.exception, [e.value for e in at.exception]
    return at


def unescape(text: str) -> str:
    """Markdown-escaped text (how the app shows engine and user text) back to plain text."""
    return re.sub(r"\\(.)", r"\1", text)


def errors(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.error]


def texts(at: AppTest, kinds=("markdown", "caption", "info", "error", "warning", "success",
                              "text")) -> list[str]:
    return [str(el.value) for kind in kinds for el in at.get(kind)]


# ---------------------------------------------------------------- empty workspace


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_workspace(empty_ws, page):
    at = open_page(page)
    assert at.title[0].value
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", [S.PAGE_COMPARISON, S.PAGE_TUNING, S.PAGE_RUNS,
                                  S.PAGE_ARTIFACTS])
def test_missing_prerequisites_point_to_training(empty_ws, page):
    at = open_page(page)
    assert any("train first" in i.value for i in at.info), [i.value for i in at.info]
    assert any(link.value == "Go to Training" for link in at.page_link)


def test_app_opens_ready_on_the_breast_cancer_demo(empty_ws):
    at = open_page(S.PAGE_DATA)
    assert at.session_state[S.TARGET] == "target"
    assert at.session_state[S.METRIC] == "f1_score"
    assert at.selectbox(key=S.SRC_DEMO).value == "breast_cancer"
    report = at.dataframe[0].value
    assert set(report["use"]) == {"target", "numeric"}
    at = open_page(S.PAGE_TRAINING)
    assert not at.button(key=S.TRAIN_START).disabled


def test_every_data_page_choice_survives_the_way_to_training(empty_ws):
    """Streamlit drops a widget's value on a page that does not draw it: each choice made on
    the Data page must still be there when Training starts the job (the repeats, threshold,
    class weights and calibration once were not)."""
    at = open_page(S.PAGE_DATA)
    widgets = [w for w in at.main if getattr(w, "key", None)
               and w.type in ("selectbox", "number_input", "text_input", "radio")]
    keys = {w.key for w in widgets}
    assert {S.CV, S.REPEATS, S.THRESHOLD, S.CLASS_WEIGHT, S.CALIBRATION} <= keys
    chosen = {S.CV: "3", S.REPEATS: "1", S.THRESHOLD: "tuned", S.CLASS_WEIGHT: "balanced",
              S.CALIBRATION: "sigmoid", S.FRAMEWORK_TIMEOUT: 60, S.SEED: 7}
    for key, value in chosen.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(S.PAGE_TRAINING).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {k: at.session_state[k] for k in chosen} == chosen
    assert keys <= set(S.PERSISTENT) | {S.SRC_UPLOAD}  # an upload is kept as its saved path


def test_owner_id_is_kept_in_the_url(empty_ws):
    at = open_page(S.PAGE_DATA)
    owner = at.session_state[S.OWNER]
    assert at.query_params[S.OWNER_PARAM] == owner
    again = open_page(S.PAGE_TRAINING, query={S.OWNER_PARAM: owner})
    assert again.session_state[S.OWNER] == owner


# ---------------------------------------------------------------- data page


def test_uploaded_file_is_kept_and_its_id_column_reported_dropped(empty_ws):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"customer_id": np.arange(1000, 1000 + n), "x": rng.normal(size=n),
                          "constant": 1, "label": rng.choice(["yes", "no"], n)})
    at = open_page(S.PAGE_DATA, {S.SRC_KIND: "upload"})
    at.get("file_uploader")[0].upload("clients.csv", frame.to_csv(index=False).encode(),
                                      "text/csv")
    at.run()
    assert not at.exception and not at.error, errors(at)
    saved = Path(at.session_state[S.UPLOADED_PATH])
    # the stored copy sits in a folder named by its content hash, under the file's own name
    assert saved.parent.parent == empty_ws / "uploads" and saved.name == "clients.csv"
    assert at.text[0].value.startswith("clients  (")  # the dataset is named after the file
    assert at.text_input(key=S.EXPERIMENT_NAME).placeholder == "clients_model"
    job = train_request({**ds.SourceSpec("upload", str(saved)).job_args(), "target": "label"})
    assert (job.source.name, job.experiment_name()) == ("clients", "clients_model")
    assert at.session_state[S.TARGET] == "label"  # a conventional target name is picked
    report = at.dataframe[0].value.set_index("column")
    assert report.loc["customer_id", "use"] == "dropped: ID-like: every value is unique"
    assert report.loc["constant", "use"] == "dropped: constant"
    assert [m.value for m in at.metric if m.label == "Dropped"] == ["2"]
    assert any("Dropped columns: customer_id" in unescape(w.value) for w in at.warning)


def test_hostile_names_and_cells_are_shown_as_text(empty_ws):
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({"<script>alert(1)</script>": rng.normal(size=n),
                          "note": rng.choice(["=HYPERLINK(\"http://x\")", "[a](javascript:x)"], n),
                          "![img](http://x/y.png)": rng.choice(["<b>", "**"], n),
                          "label": rng.choice(["<i>yes</i>", "no"], n)})
    path = empty_ws / "data" / "hostile.csv"  # the workspace's data folder: a data root
    path.parent.mkdir(exist_ok=True)
    frame.to_csv(path, index=False)
    at = open_page(S.PAGE_DATA, {S.SRC_KIND: "path", S.SRC_PATH: str(path), S.TARGET: "label"})
    assert not at.error, errors(at)
    report = at.dataframe[0].value.set_index("column")
    assert report.loc["<script>alert(1)</script>", "use"] == "numeric"
    shown = texts(at, ("markdown", "caption", "info", "error", "warning", "success"))
    for text in shown:  # anything rendered as Markdown has its markup escaped
        assert "<script" not in text and "](javascript" not in text and "![img]" not in text
    assert "=HYPERLINK" in " ".join(map(str, at.dataframe[-1].value["note"]))


def test_pipeline_context_names_data_and_target(empty_ws):
    folder = empty_ws / "data" / "wine"
    folder.mkdir(parents=True, exist_ok=True)
    data = load_demo("wine").frame.rename(columns={"target": "cultivar"})
    data.to_parquet(folder / "features.parquet")
    context = folder / "pipeline_context.json"
    context.write_text(json.dumps({"epoch_004_outputs": {
        "feature_data_path": "features.parquet", "target_variable": "cultivar"}}))
    at = open_page(S.PAGE_DATA, {S.SRC_KIND: "context", S.SRC_CONTEXT: str(context)})
    assert not at.error, errors(at)
    assert at.session_state[S.TARGET] == "cultivar"
    assert any("multiclass" in c.value for c in at.caption)


def test_data_page_bad_input_is_one_sentence_and_training_cannot_start(empty_ws):
    state = {S.SRC_KIND: "path", S.SRC_PATH: str(empty_ws / "data" / "missing.csv")}
    at = open_page(S.PAGE_DATA, state)
    assert len(at.error) == 1 and "no such file" in errors(at)[0]
    at = open_page(S.PAGE_TRAINING, state)
    assert at.button(key=S.TRAIN_START).disabled
    assert any(link.value == "Go to Data and setup" for link in at.page_link)


# ---------------------------------------------------------------- with a real session


def test_comparison_draws_charts_table_and_model_detail(in_real_ws):
    _, phase1, _ = in_real_ws
    at = open_page(S.PAGE_COMPARISON)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert sorted(table["model"]) == sorted(FAST)
    assert at.metric[0].value == phase1.best.name
    # the comparison, and of the model detail only the open tab's chart: the confusion matrix
    assert [t.label for t in at.tabs] == ["Confusion matrix", "ROC curve", "Precision-recall",
                                          "Reliability", "Feature importance"]
    assert [c.key for c in at.get("plotly_chart")] == ["cmp_chart", "detail_fig_0"]
    other = next(name for name in FAST if name != phase1.best.name)
    at.selectbox(key=S.CMP_MODEL).set_value(other).run()
    assert not at.exception and not at.error
    # another tab open: its chart instead (the browser test clicks one; each view's figure is
    # tests/test_charts.py's)
    at = open_page(S.PAGE_COMPARISON, {S.CMP_DETAIL_VIEW: "Feature importance"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c.key for c in at.get("plotly_chart")] == ["cmp_chart", "detail_fig_4"]


def test_tuning_page_prefills_the_grid_and_redraws_the_past_run(in_real_ws):
    _, phase1, tuned = in_real_ws
    at = open_page(S.PAGE_TUNING)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key=S.TUNE_FRAMEWORK).value == phase1.best.name
    assert at.text_input(key=S.grid_key(phase1.best.name, "C")).value.startswith("[0.001")
    assert any("54 combinations" in t for t in texts(at, ("text",)))
    assert at.selectbox(key=S.TUNE_PARENT_PICK).value == tuned.parent_run_id
    assert len(at.get("plotly_chart")) == 2  # top 10 and parameter impact
    assert any(m.label.startswith("Improvement") for m in at.metric)


@pytest.mark.parametrize(("text", "expected"), [
    ("[-1]", "does not accept -1"), ("[0.1, oops]", "not valid JSON"),
    ("0.1", "must be a list"), ("[NaN]", "NaN")])
def test_invalid_grid_value_shows_its_error_and_starts_nothing(in_real_ws, text, expected):
    ws, phase1, _ = in_real_ws
    at = open_page(S.PAGE_TUNING)
    at.text_input(key=S.grid_key(phase1.best.name, "C")).set_value(text).run()
    assert not at.exception
    assert [e for e in errors(at) if expected in e], errors(at)
    assert at.button(key=S.TUNE_START).disabled  # AppTest, like a browser, cannot click it
    assert jobs.list_jobs(resolve_settings(ws)) == []


def test_runs_lists_both_and_opens_the_tuning_run(in_real_ws):
    _, phase1, tuned = in_real_ws
    at = open_page(S.PAGE_RUNS)
    table = at.dataframe[0].value
    assert sorted(table["kind"]) == ["Phase 1", "Tuning"]
    assert set(table["run_id"]) == {phase1.parent_run_id, tuned.parent_run_id}
    at.selectbox(key=S.RUNS_PICK).set_value(tuned.parent_run_id).run()
    at.button(key=S.RUNS_OPEN_TUNING).click().run()
    assert not at.exception
    assert at.title[0].value == "Tuning"
    assert at.selectbox(key=S.TUNE_PARENT_PICK).value == tuned.parent_run_id


def test_artifacts_offers_bundles_with_the_right_files(in_real_ws, tmp_path):
    ws, phase1, tuned = in_real_ws
    at = open_page(S.PAGE_ARTIFACTS)
    names = {f["name"] for f in bundles.folders(resolve_settings(ws))}
    assert {phase1.artifacts_dir.name, tuned.artifacts_dir.name} == names
    at.selectbox(key=S.ART_FOLDER).set_value(phase1.artifacts_dir.name).run()
    assert [b.label for b in at.button] == ["Prepare the Phase 1 bundle (.zip)",
                                             "Prepare everything of this session (.zip)"]
    at.button(key=S.ART_BUNDLE).click().run()
    assert not at.exception and not at.error, errors(at)
    links = at.get("link_button")
    assert [link.proto.label for link in links] == ["Download the Phase 1 bundle (.zip)"]
    url = links[0].proto.url  # relative to the page: served by Streamlit's static route
    assert re.fullmatch(r"app/static/bundles/[\w-]{32}/training_[\w-]+\.zip", url), url
    built = Path(APP).parent / "static" / url.removeprefix("app/static/")
    assert "manifest.json" in zipfile.ZipFile(built).namelist()  # a file on disk, not bytes

    settings = resolve_settings(ws)
    url = bundles.prepare([("", tuned.artifacts_dir)], "t.zip", settings, static=tmp_path)
    members = zipfile.ZipFile(tmp_path / url.removeprefix("app/static/")).namelist()
    assert {"all_tuning_results.csv", "tuning_spec.json", "top_10_models.png"} <= set(members)
    roots = bundles.session_roots(phase1.artifacts_dir, settings, _tracker(settings))
    url = bundles.prepare(roots, "s.zip", settings, static=tmp_path)
    everything = zipfile.ZipFile(tmp_path / url.removeprefix("app/static/")).namelist()
    assert any(m.endswith("phase1/" + phase1.artifacts_dir.name + "/manifest.json")
               for m in everything)
    assert {f"models/{name}/MLmodel" for name in FAST} <= set(everything)
    assert any(m.startswith("tuning/") for m in everything)
    assert any(m.startswith("models/tuned_") and m.endswith("MLmodel") for m in everything)


def test_comparison_shows_serving_cost_beside_quality(in_real_ws):
    at = open_page(S.PAGE_COMPARISON)
    serving = at.dataframe[1].value
    assert sorted(serving["model"]) == sorted(FAST)
    assert {"f1_score", "test_f1_score", "p50 ms, batch 1", "p95 ms, batch 1,024",
            "size MiB"} <= set(serving.columns)
    assert (serving["p50 ms, batch 1"] > 0).all() and (serving["size MiB"] > 0).all()
    assert (serving["p50 ms, batch 1,024"] <= serving["p95 ms, batch 1,024"]).all()


def test_predict_scores_a_server_file_with_the_champion(in_real_ws):
    ws, _, tuned = in_real_ws
    new = load_demo("breast_cancer").frame.sample(30, random_state=3)
    (ws / "data").mkdir(exist_ok=True)
    new.to_csv(ws / "data" / "new.csv", index=False)
    at = open_page(S.PAGE_PREDICT)
    champion = tuned.registration["registered_model_uri"]
    assert champion == "models:/breast_cancer_model@champion"
    assert at.selectbox(key=S.PREDICT_MODEL).value == champion
    at.radio(key=S.PREDICT_SOURCE).set_value("path").run()
    at.text_input(key=S.PREDICT_PATH).set_value("/etc/passwd").run()
    assert any("outside the folders this app reads" in e for e in errors(at)), errors(at)
    at.text_input(key=S.PREDICT_PATH).set_value(str(ws / "data" / "new.csv")).run()
    assert not at.exception and not at.error, errors(at)
    fitted = _tracker(resolve_settings(ws)).load_for_scoring(champion).fitted
    preview = at.dataframe[0].value
    assert list(preview["prediction"]) == list(fitted.predict(new.drop(columns="target"))[:20])
    at.button(key=S.PREDICT_RUN).click().run()
    assert not at.exception and not at.error, errors(at)
    [link] = at.get("link_button")
    url = link.proto.url
    assert re.fullmatch(r"app/static/bundles/[\w-]{32}/new_predictions\.csv", url), url
    scored = pd.read_csv(Path(APP).parent / "static" / url.removeprefix("app/static/"))
    assert list(scored["prediction"]) == list(fitted.predict(new.drop(columns="target")))


def test_runs_lists_registered_versions_and_tuning_registers_again(in_real_ws):
    _, _, tuned = in_real_ws
    at = open_page(S.PAGE_RUNS)
    versions = at.dataframe[1].value
    assert list(versions["registered model"]) == ["breast_cancer_model"]
    assert list(versions["aliases"]) == ["champion"]
    assert list(versions["verdict"]) == [tuned.verdict]
    at = open_page(S.PAGE_TUNING)
    assert any("Registered: breast_cancer_model version 1 (champion)" in unescape(t)
               for t in texts(at, ("success",))), texts(at)
    at.button(key=S.TUNE_REGISTER).click().run()
    assert not at.exception and not at.error, errors(at)
    shown = [unescape(t) for t in texts(at, ("success",))]
    assert any("breast_cancer_model version 2 (champion); breast_cancer_model version 1 "
               "(previous_champion)" in t for t in shown), shown


def _tracker(settings):
    from modeldev.tracking.tracker import Tracker

    return Tracker(settings)


# ---------------------------------------------------------------- a real background job


def _wait(settings, job_id: str, timeout: float = 120.0) -> dict:
    return wait_for_job(settings, job_id, timeout)


def test_training_job_runs_in_the_background_and_reattaches_after_reload(in_real_ws):
    # Last in the module: it adds a session to the shared workspace.
    settings = resolve_settings(in_real_ws[0])
    state = {S.framework_key(n): n == "sklearn_logistic_regression"
             for n in ("sklearn_logistic_regression", "sklearn_random_forest",
                       "xgboost_baseline", "lightgbm_baseline", "tensorflow_nn", "pytorch_nn")}
    at = open_page(S.PAGE_TRAINING, state)
    at.button(key=S.TRAIN_START).click().run()
    assert not at.exception and not at.error, errors(at)
    owner = at.session_state[S.OWNER]
    [job] = jobs.list_jobs(settings, owner=owner)
    assert job["kind"] == "train" and os.path.isdir(settings.jobs_dir / job["job_id"])
    assert at.button(key=S.TRAIN_START).disabled  # one job at a time for this session
    # a reload is a new session that knows only the URL: it finds the same job
    reloaded = open_page(S.PAGE_TRAINING, query={S.OWNER_PARAM: owner})
    assert any(job["job_id"] in t for t in texts(reloaded, ("text",)))
    assert _wait(settings, job["job_id"])["state"] == "finished"
    reloaded.run()
    assert not reloaded.exception and not reloaded.error, errors(reloaded)
    result = jobs.read_status(settings, job["job_id"])["result"]
    assert reloaded.session_state[S.PHASE1_RUN] == result["parent_run_id"]
    assert any(link.value == "See the comparison" for link in reloaded.page_link)
    assert [j["job_id"] for j in jobs.list_jobs(settings)] == [job["job_id"]]  # nothing twice


def test_cancel_button_stops_the_job(in_real_ws):
    settings = resolve_settings(in_real_ws[0])
    at = open_page(S.PAGE_TRAINING)  # all frameworks: long enough to cancel
    at.button(key=S.TRAIN_START).click().run()
    assert not at.exception and not at.error, errors(at)
    job = jobs.active_job(settings, owner=at.session_state[S.OWNER], kind="train")
    at.button(key=S.TRAIN_CANCEL).click().run()
    assert not at.exception
    assert _wait(settings, job["job_id"], timeout=60)["state"] == "cancelled"
    at.run()
    assert any("cancelled" in w.value for w in at.warning)
    events, _ = jobs.read_events(settings, job["job_id"])
    started = [e for e in events if e["type"] == "session_started"]
    if started:  # cancelled after its runs began: they ended KILLED
        run = _tracker(settings).get_run(started[0]["parent_run_id"])
        assert run.status == "KILLED"
