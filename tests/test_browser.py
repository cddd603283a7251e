"""The dashboard end to end in a real headless Chromium (Debian's, driven by Playwright).

One app server on a free port over one temp workspace, one browser page, and one path through
it, split into steps that run in file order (a step is skipped when the one it needs failed):
the binary demo is ready; train a fast subset of frameworks (folds cut once) and reload
mid-job (the same job goes on, nothing starts twice); the comparison charts, one detail tab
and then another; an invalid grid value shows its error and starts nothing; a small grid runs
to its top 10 and improvement; the runs list; the tuning bundle downloaded and opened.

MODELDEV_SCREENSHOTS=1 also writes docs/<page>.png from this real run (for the README).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from browser_support import (
    WAIT_MS,
    app_with_jobs,
    chromium,
    expect,
    new_page,
    settled,
    wait_idle,
)

from modeldev.config import resolve_settings
from modeldev.jobs import store as jobs
from modeldev.ui import state as S

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCREENSHOTS = os.environ.get("MODELDEV_SCREENSHOTS") == "1"
ALL = ("sklearn_logistic_regression", "sklearn_random_forest", "xgboost_baseline",
       "lightgbm_baseline", "tensorflow_nn", "pytorch_nn")
# Two fast frameworks and one net, whose epochs keep the job running long enough to reload.
TRAINED = ("sklearn_logistic_regression", "xgboost_baseline", "pytorch_nn")
TUNED = "sklearn_logistic_regression"
GRID = {"C": [0.1, 1.0], "solver": ["lbfgs", "liblinear"], "max_iter": [500]}  # 4 combinations
BUNDLE_FILES = {"all_tuning_results.json", "all_tuning_results.csv", "top_10_models.png",
                "tuning_parameter_impact.png", "tuned_model_info.json", "tuning_spec.json",
                "tuning_summary_report.json"}


class Flow:
    """What the earlier steps established; a step skips when the one it needs did not pass."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self.train_job = ""
        self.tune_job = ""

    def need(self, step: str) -> None:
        if step not in self.done:
            pytest.skip(f"needs the '{step}' step, which did not pass")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("browser") / "modeldev_workspace"


@pytest.fixture(scope="module")
def app(workspace, tmp_path_factory):
    """`streamlit run app.py` on a free port; its process group, and any job still running in
    the workspace (each job has its own session), are stopped at the end."""
    log = tmp_path_factory.mktemp("browser_app") / "streamlit.log"
    with app_with_jobs(workspace, log) as server:
        yield server


@pytest.fixture(scope="module")
def page(app):
    """One headless Chromium and one page (1280x800) for the whole path."""
    with chromium() as browser:
        yield new_page(browser)


@pytest.fixture(scope="module")
def flow():
    return Flow()


@pytest.fixture
def settings(workspace):
    return resolve_settings(workspace)


def main(page):
    return page.get_by_test_id("stMain")


def go(page, title: str) -> None:
    """Open a page through the sidebar (the browser session and its state are kept)."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True).click()
    expect(main(page).get_by_role("heading", name=title, exact=True)).to_be_visible(
        timeout=WAIT_MS)
    wait_idle(page)


def choose(page, label: str, pick) -> str:
    """Select the first option of the `label` selectbox whose text `pick` accepts."""
    box = main(page).get_by_role("combobox", name=label, exact=True)
    expect(box).to_be_visible(timeout=WAIT_MS)
    if pick(box.input_value()):
        return box.input_value()
    box.click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible(timeout=WAIT_MS)
    wanted = next(o for o in options.all() if pick(o.inner_text()))
    settled(page, wanted.click)
    assert pick(box.input_value()), box.input_value()
    return box.input_value()


def type_into(page, label: str, text: str) -> None:
    """Replace a text field's value and submit it (Enter), waiting for the app's rerun."""
    field = main(page).get_by_role("textbox", name=label, exact=True)

    def submit() -> None:
        field.fill(text)
        field.press("Enter")

    settled(page, submit)


def metric(page, label: str):
    return main(page).get_by_test_id("stMetric").filter(has_text=label)


def job_text(job_id: str, states: str) -> re.Pattern:
    return re.compile(rf"^Job {re.escape(job_id)} · .* · ({states}) · elapsed")


def screenshot(page, name: str, anchor=None) -> None:
    """docs/<name>.png of the viewport, when MODELDEV_SCREENSHOTS=1 (so CI leaves docs alone)."""
    if not SCREENSHOTS:
        return
    if anchor is not None:
        anchor.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)  # the scroll and Plotly's resize land
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=DOCS / f"{name}.png", full_page=False)


def test_the_app_opens_ready_on_the_binary_demo(app, page, flow):
    page.goto(app.url + "/")
    body = main(page)
    expect(body.get_by_role("heading", name="Data and setup", exact=True)).to_be_visible(
        timeout=WAIT_MS)
    expect(body.get_by_role("combobox", name="Demo dataset", exact=True)).to_have_value(
        "breast_cancer", timeout=WAIT_MS)
    expect(body.get_by_text("Task in use: binary")).to_be_visible(timeout=WAIT_MS)
    for name in ALL:
        expect(body.get_by_role("checkbox", name=name, exact=True)).to_be_checked(
            timeout=WAIT_MS)
    wait_idle(page)
    screenshot(page, "data")
    for name in ALL:  # a fast subset (the checkbox's input sits under its label: click that)
        if name not in TRAINED:
            settled(page, page.locator(f".st-key-{S.framework_key(name)} label").click)
            expect(body.get_by_role("checkbox", name=name, exact=True)).not_to_be_checked()
    # the folds cut once, not twice: half the fits of the default, for the suite's time
    choose(page, "Repeats of the folds", lambda text: text == "1 x the folds")
    flow.done.add("data")


def test_training_goes_on_through_a_reload_and_never_starts_twice(page, flow, settings):
    flow.need("data")
    go(page, "Training")
    body = main(page)
    start = body.get_by_role("button", name="Start training", exact=True)
    expect(start).to_be_enabled()
    start.click()
    expect(body.get_by_text(re.compile(r"^Job \S+ · "))).to_be_visible(timeout=WAIT_MS)
    [job] = jobs.list_jobs(settings, kind="train")
    spec = json.loads((jobs.job_dir(settings, job["job_id"]) / jobs.SPEC).read_text())
    assert spec["args"]["frameworks"] == list(TRAINED) and spec["args"]["repeats"] == 1

    assert jobs.read_status(settings, job["job_id"])["state"] in jobs.ACTIVE_STATES
    page.reload()  # a new Streamlit session that knows only the URL (?owner=...)
    expect(body.get_by_text(job_text(job["job_id"], "queued|running"))).to_be_visible(
        timeout=WAIT_MS)
    expect(body.get_by_role("button", name="Start training", exact=True)).to_be_disabled()
    # the setup table, then the per-framework progress table
    expect(body.get_by_test_id("stDataFrame")).to_have_count(2, timeout=WAIT_MS)
    # the net's losses, drawn epoch by epoch (a live redraw may briefly hold two plots)
    expect(page.locator(".st-key-train_loss_chart .js-plotly-plot").first).to_be_visible(
        timeout=WAIT_MS)
    screenshot(page, "training", body.get_by_role("heading", name="Progress", exact=True))

    expect(body.get_by_text(job_text(job["job_id"], "finished"))).to_be_visible(
        timeout=5 * WAIT_MS)
    assert jobs.read_status(settings, job["job_id"])["state"] == "finished"
    assert [j["job_id"] for j in jobs.list_jobs(settings)] == [job["job_id"]]  # nothing twice
    # the full rerun at the job's end keeps the progress table and adds the way on (a late poll
    # of the panel's fragment used to blank both, about one run in three)
    expect(body.get_by_role("link", name="See the comparison")).to_be_visible(timeout=WAIT_MS)
    expect(body.get_by_test_id("stDataFrame")).to_have_count(2)
    flow.train_job = job["job_id"]
    flow.done.add("trained")


def test_comparison_draws_the_metric_and_detail_charts(page, flow, settings):
    flow.need("trained")
    go(page, "Comparison")
    best = jobs.read_status(settings, flow.train_job)["result"]["best_model"]["name"]
    expect(metric(page, "Best model")).to_contain_text(best, timeout=WAIT_MS)
    expect(page.locator(".st-key-cmp_chart .js-plotly-plot")).to_be_visible(timeout=WAIT_MS)
    # the best model's detail, one tab at a time: the confusion matrix, then the ROC curve
    expect(page.locator(".st-key-detail_fig_0 .js-plotly-plot")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    screenshot(page, "comparison")
    settled(page, main(page).get_by_role("tab", name="ROC curve").click)
    expect(page.locator(".st-key-detail_fig_1 .js-plotly-plot")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".st-key-detail_fig_0")).to_have_count(0)
    flow.done.add("comparison")


def test_an_invalid_grid_value_shows_its_error_and_starts_nothing(page, flow, settings):
    flow.need("trained")
    go(page, "Tuning")
    choose(page, "Framework", lambda text: text == TUNED)
    body = main(page)
    type_into(page, "C", "[-1]")
    expect(body.get_by_text("Parameter 'C' of sklearn_logistic_regression does not accept -1",
                            exact=False)).to_be_visible(timeout=WAIT_MS)
    start = body.get_by_role("button", name="Start tuning", exact=True)
    expect(start).to_be_disabled()
    start.click(force=True)  # a click on the disabled button does nothing either
    page.wait_for_timeout(1000)
    wait_idle(page)
    assert jobs.list_jobs(settings, kind="tune") == []
    flow.done.add("invalid grid")


def test_a_small_grid_runs_to_its_top_10_and_improvement(page, flow, settings):
    flow.need("invalid grid")
    body = main(page)
    for name, values in GRID.items():
        type_into(page, name, json.dumps(values))
    expect(body.get_by_text("4 combinations in 4 fits")).to_be_visible(timeout=WAIT_MS)
    expect(body.get_by_test_id("stAlertContentError")).to_have_count(0)
    start = body.get_by_role("button", name="Start tuning", exact=True)
    expect(start).to_be_enabled()
    start.click()
    expect(body.get_by_text(re.compile(r"^Job \S+ · sklearn_logistic_regression: 4 "))
           ).to_be_visible(timeout=WAIT_MS)
    [job] = jobs.list_jobs(settings, kind="tune")
    expect(body.get_by_text(job_text(job["job_id"], "finished"))).to_be_visible(
        timeout=5 * WAIT_MS)
    result = jobs.read_status(settings, job["job_id"])["result"]
    assert result["n_combinations"] == 4 and result["n_failed"] == 0, result

    top = page.locator(".st-key-tune_topk .js-plotly-plot")
    expect(top).to_be_visible(timeout=WAIT_MS)
    expect(top).to_contain_text("Top 4 of 4 finished trials")
    expect(page.locator(".st-key-tune_impact .js-plotly-plot")).to_be_visible(timeout=WAIT_MS)
    expect(metric(page, "Improvement over baseline (test)")).to_contain_text(
        f"{result['improvement_pct']:+.2f} %", timeout=WAIT_MS)
    wait_idle(page)
    screenshot(page, "tuning", body.get_by_role("heading", name="Results", exact=True))
    flow.tune_job = job["job_id"]
    flow.done.add("tuned")


def test_runs_lists_the_session_and_the_tuning_run(page, flow, settings):
    flow.need("tuned")
    go(page, "Runs")  # the runs, then the registered versions
    expect(main(page).get_by_test_id("stDataFrame").first).to_be_visible(timeout=WAIT_MS)
    tuned = jobs.read_status(settings, flow.tune_job)["result"]["parent_run_id"]
    runs = main(page).get_by_role("combobox", name="Run", exact=True)
    expect(runs).to_have_value(re.compile(rf"^Tuning · .*{tuned[:8]}$"), timeout=WAIT_MS)
    screenshot(page, "runs")


def test_the_tuning_bundle_downloads_with_its_files(page, flow, settings, tmp_path):
    flow.need("tuned")
    go(page, "Artifacts")
    result = jobs.read_status(settings, flow.tune_job)["result"]
    folder = Path(result["artifacts_dir"]).name
    choose(page, "Folder", lambda text: text == f"tuning · {folder}")
    button = main(page).get_by_role("button", name="Prepare the tuning bundle (.zip)")
    expect(button).to_be_visible(timeout=WAIT_MS)
    button.click()
    link = main(page).get_by_role("link", name="Download the tuning bundle (.zip)")
    expect(link).to_be_visible(timeout=WAIT_MS)
    screenshot(page, "artifacts", page.locator(f".st-key-{S.ART_FOLDER}"))
    # built on disk, served by Streamlit's static route in chunks (never held in memory)
    href = link.get_attribute("href")
    response = page.request.get(urljoin(page.url, href))
    assert response.ok and response.headers["content-type"] == "application/zip", href
    path = tmp_path / Path(urlparse(href).path).name
    path.write_bytes(response.body())
    assert path.name == f"tuning_{folder}.zip"

    with zipfile.ZipFile(path) as bundle:
        assert set(bundle.namelist()) >= BUNDLE_FILES, bundle.namelist()
        info = json.loads(bundle.read("tuned_model_info.json"))
        spec = json.loads(bundle.read("tuning_spec.json"))
        trials = json.loads(bundle.read("all_tuning_results.json"))
        assert bundle.read("top_10_models.png").startswith(b"\x89PNG")
    assert info["model_name"] == TUNED
    assert info["tuning_parent_run_id"] == result["parent_run_id"]
    assert info["improvement_pct"] == pytest.approx(result["improvement_pct"])
    assert spec["grid"] == GRID
    assert len(trials) == 4
    assert {t["params"]["solver"] for t in trials} == set(GRID["solver"])
