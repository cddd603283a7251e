"""Page responsiveness: the Comparison and Tuning pages with a tuning run of 1,000+ child runs.

    python benchmarks/pages.py                   # build a workspace, measure, write results/pages.*
    python benchmarks/pages.py --workspace DIR   # reuse DIR (built there first if it lacks one)
    python benchmarks/pages.py --render          # rewrite pages.md from pages.json
    python benchmarks/pages.py --before DIR      # also time new tabs of an older checkout
    python benchmarks/pages.py --quick           # only new tabs and navigation, printed

Not a test. The workspace is real: a Phase 1 session on the breast_cancer demo
(sklearn_logistic_regression and xgboost_baseline), then a real tuning of
sklearn_logistic_regression over a 1,008-combination grid (63 C values x 2 solvers x 8 max_iter
values), one MLflow child run per combination, through `run_tuning` like `modeldev tune`. The
pages then read those runs through their normal path (MLflow search with page tokens, the cached
reads of modeldev.ui.sessions).

Two kinds of measurement, per page:

1. Server side, `AppTest` (the app's script run, no browser): each in a fresh Python process
   (imports and empty caches): the first render; then renders with the data caches cleared
   (`st.cache_data.clear()` and the figure cache cleared before each: every run and trial read
   again from MLflow, every figure rebuilt; loaded models and the split stay cached as
   `st.cache_resource`); then renders with warm caches (what a page switch costs once the
   children were read). Each render is a new session running app.py and the page, timed
   around `at.run()`. One more cleared-cache render runs under cProfile (the page body only)
   to say where the time goes.
2. In a real browser (`streamlit run app.py` on a free port, headless Chromium through Playwright),
   timed from the navigation to the page's Plotly charts being visible (Comparison: the metric
   panels and the best model's open detail tab, its confusion matrix; Tuning: the top 10 and the
   parameter impact): the first visit after a server start (fresh server per page), a new tab on the
   warm server (`page.goto`, a new session), and in-app navigation through the sidebar link (the
   usual case), alternating between the two pages. New tabs are taken in rounds with the floor, a
   bare Streamlit page with one Plotly chart (FLOOR_SCRIPT) on its own server, and with `--before
   DIR`, the app of an older checkout: each round opens every one of them once, and a page's ratio
   to the floor is taken within its round. A new tab is timed twice: by Playwright (navigation to
   every chart visible) and on the page's own clock (navigation start to every chart's first
   `plotly_afterplot`).

The targets: both pages render in under a second with 1,000 child runs, judged on the
server-side render with cleared data caches and on the in-app navigation in the browser
(medians; issue 4); a new tab within FLOOR_RATIO of the floor's, on the page's clock (issue
21). The machine may be shared: load averages are recorded with the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
APP = str(ROOT / "app.py")
sys.path.insert(0, str(ROOT / "tests"))  # browser_support: the app server and Chromium helpers

TARGET_S = 1.0
MIN_CHILDREN = 1000
BUILD_INFO = "pages_benchmark_build.json"  # in the workspace: how this script built it
FRAMEWORK = "sklearn_logistic_regression"
PHASE1 = ["sklearn_logistic_regression", "xgboost_baseline"]
GRID: dict[str, list[Any]] = {  # 63 x 2 x 8 = 1,008 combinations, each fit takes milliseconds
    "C": [float(f"{10 ** (-3 + 5 * i / 62):.6g}") for i in range(63)],
    "solver": ["lbfgs", "liblinear"],
    "max_iter": [100, 200, 300, 500, 1000, 2000, 5000, 10000]}
PAGES = {"comparison": "pages/comparison.py", "tuning": "pages/tuning.py"}
TITLES = {"comparison": "Comparison", "tuning": "Tuning", "floor": "Floor"}
CHARTS = {"floor": ["floor_chart"],
          "comparison": ["cmp_chart", "detail_fig_0"],  # the detail draws its open tab only
          "tuning": ["tune_topk", "tune_impact"]}
FLOOR_RATIO = 1.5  # a new tab of a page within this factor of the bare page's new tab
# The floor: a bare Streamlit page with one Plotly chart, served with the app's own config
# (.streamlit/config.toml, read from the repository root) to the same browser.
FLOOR_SCRIPT = """
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="floor", layout="wide")
st.title("Floor")
st.plotly_chart(go.Figure(go.Bar(x=["a", "b", "c"], y=[1, 3, 2])), key="floor_chart")
"""
# Sums the browser main thread's long tasks (over 50 ms: script, style, layout, paint), and
# notes, on the page's own clock (ms since the navigation started), when each chart was first
# drawn: its first `plotly_afterplot`, under the element keyed `st-key-<key>`.
LONG_TASKS = """
window.__longTaskMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTaskMs += e.duration;
}).observe({type: 'longtask'});
window.__drawn = {};
const hooked = new WeakSet();
new MutationObserver(() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    if (hooked.has(el)) continue;
    hooked.add(el);
    const key = (el.closest('[class*="st-key-"]')?.className.match(/st-key-(\\S+)/) || [])[1];
    const hook = () => el.on ? el.on('plotly_afterplot', () => {
      if (key && !(key in window.__drawn)) window.__drawn[key] = performance.now();
    }) : setTimeout(hook, 5);
    hook();
  }
}).observe(document, {subtree: true, childList: true});
"""
# Functions whose cumulative time the profile reports (file suffix, function name).
HOTSPOTS = [
    ("modeldev/ui/sessions.py", "_runs", "list the Phase 1 / tuning parents (MLflow search)"),
    ("modeldev/tuning/outputs.py", "load_trials", "read the trials (MLflow)"),
    ("modeldev/tracking/tracker.py", "read_json_artifact", "the run's results artifact (MLflow)"),
    ("modeldev/tuning/outputs.py", "trials_from_children",
     "read every child run (MLflow search, pages)"),
    ("modeldev/tracking/tracker.py", "search_runs", "MLflow search_runs (all callers)"),
    ("modeldev/ui/results.py", "tuning_results", "the Results section of Tuning"),
    ("modeldev/ui/results.py", "baseline_value", "baseline value (Phase 1 children)"),
    ("modeldev/charts/tuning.py", "top_k_figure", "build the top-10 figure"),
    ("modeldev/charts/tuning.py", "parameter_impact_figure", "build the parameter impact figure"),
    ("modeldev/charts/comparison.py", "comparison_figure", "build the 8-metric comparison figure"),
    ("modeldev/ui/results.py", "model_detail", "per-model detail (model scored again)"),
    ("streamlit/elements/plotly_chart.py", "plotly_chart", "st.plotly_chart (figure to JSON)"),
    ("modeldev/ui/grid_editor.py", "editor", "the grid editor"),
    ("modeldev/ui/sessions.py", "_files", "the run folder's JSON files"),
]


def _env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELDEV_", "MLFLOW_TRACKING"))}
    env.update(MODELDEV_WORKSPACE=str(workspace), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _stats(samples: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "n": len(samples),
            "samples": [round(s, 3) for s in samples]}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- the workspace

def _existing(workspace: Path) -> dict[str, Any] | None:
    """The tuning parent with the most trial children in `workspace`, if it has MIN_CHILDREN
    (a finished tuning parent also has one summary child run, not counted)."""
    from modeldev.config import resolve_settings
    from modeldev.tracking.store import sqlite_path
    from modeldev.tracking.tracker import Tracker

    settings = resolve_settings(workspace)
    if not sqlite_path(settings.tracking_uri).exists():
        return None
    tracker = Tracker(settings)
    best = None
    for parent in tracker.runs_of_kind(tracker.experiment_ids(), "tuning", "FINISHED"):
        n = sum(child.tags.get("modeldev.kind") == "tuning_trial"
                for child in tracker.child_runs(parent.run_id))
        if n >= MIN_CHILDREN and (best is None or n > best["children"]):
            best = {"tuning_run_id": parent.run_id, "children": n,
                    "phase1_run_id": parent.tags.get("phase1_run_id")}
    return best


def build(workspace: Path) -> dict[str, Any]:
    """A Phase 1 session and a real 1,008-combination tuning run (reused when already there)."""
    found = _existing(workspace)
    if found:
        log(f"reusing {workspace}: tuning run {found['tuning_run_id']} with "
            f"{found['children']} children")
        with contextlib.suppress(OSError, ValueError):  # how it was built, when this script did
            return {**json.loads((workspace / BUILD_INFO).read_text()), **found, "built": True,
                    "reused": True}
        return {**found, "built": False, "reused": True}
    from modeldev.config import resolve_settings
    from modeldev.data.loading import load_demo
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1
    from modeldev.tuning.grid import count_combinations
    from modeldev.tuning.session import run_tuning
    from modeldev.tuning.types import TuneRequest

    settings = resolve_settings(workspace)
    log(f"building {workspace}: Phase 1 ({', '.join(PHASE1)})")
    start = time.perf_counter()
    phase1 = run_phase1(TrainRequest(source=load_demo("breast_cancer"), frameworks=PHASE1),
                        settings)
    phase1_s = time.perf_counter() - start
    log(f"tuning {FRAMEWORK}: {count_combinations(GRID):,} combinations, 1 worker")
    start = time.perf_counter()
    tuned = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id, framework=FRAMEWORK,
                                   grid=GRID, workers=1), settings)
    tune_s = time.perf_counter() - start
    found = _existing(workspace)
    if not found or found["tuning_run_id"] != tuned.parent_run_id:
        raise RuntimeError(f"the tuning run {tuned.parent_run_id} has fewer than "
                           f"{MIN_CHILDREN} children")
    log(f"built in {phase1_s + tune_s:.0f} s ({found['children']} children)")
    info = {"phase1_seconds": round(phase1_s, 1), "tuning_seconds": round(tune_s, 1),
            "n_failed": tuned.n_failed, "loadavg_after_build": _loadavg()}
    (workspace / BUILD_INFO).write_text(json.dumps(info))
    return {**found, **info, "built": True, "reused": False}


# ---------------------------------------------------------------- server side (AppTest)

def _render(page: str) -> tuple[float, Any]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    start = time.perf_counter()
    at.switch_page(PAGES[page]).run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    if at.error:
        raise RuntimeError(f"{page}: {[e.value for e in at.error]}")
    return elapsed, at


def _check(page: str, at: Any, children: int) -> dict[str, Any]:
    """What the render showed: its charts, and for Tuning that it saw every child run."""
    charts = len(at.get("plotly_chart"))
    out: dict[str, Any] = {"plotly_charts": charts}
    if page == "tuning":
        trials = next(m.value for m in at.metric if m.label == "Trials")
        out["trials_metric"] = trials
        if trials != f"{children} / {children} finished":
            raise RuntimeError(f"Tuning shows {trials!r}, not all {children} children")
    if charts < len(CHARTS[page]):
        raise RuntimeError(f"{page} drew {charts} Plotly charts")
    return out


def _clear_caches() -> None:
    """Forget what the pages read and the figures they built (not the tracker or models)."""
    import streamlit as st

    from modeldev.ui import common

    st.cache_data.clear()
    common.figure.clear()


def _profile(page: str) -> dict[str, Any]:
    """One cleared-cache render with cProfile around the page body (modeldev.ui.routing)."""

    from modeldev.ui import routing

    prof = cProfile.Profile()
    original = routing.routed
    body: list[float] = []

    @contextlib.contextmanager
    def profiled():
        with original():
            start = time.perf_counter()
            prof.enable()
            try:
                yield
            finally:
                prof.disable()
                body.append(time.perf_counter() - start)

    _clear_caches()
    routing.routed = profiled
    try:
        total, _ = _render(page)
    finally:
        routing.routed = original
    stats = pstats.Stats(prof)
    found = []
    for suffix, name, what in HOTSPOTS:
        ct = sum(v[3] for (path, _, func), v in stats.stats.items()  # type: ignore[attr-defined]
                 if func == name and path.endswith(suffix))
        if ct > 0:
            found.append({"function": f"{suffix.rsplit('/', 1)[-1]}:{name}", "what": what,
                          "seconds": round(ct, 3)})
    top = sorted(((v[3], f"{Path(path).name}:{line}:{func}")
                  for (path, line, func), v in stats.stats.items()  # type: ignore[attr-defined]
                  if "site-packages" not in path or "/streamlit/" in path or "/mlflow/" in path),
                 reverse=True)
    return {"render_s": round(total, 3), "page_body_s": round(body[0], 3) if body else None,
            "hotspots": found, "top_cumulative": [{"where": w, "seconds": round(s, 3)}
                                                  for s, w in top[:25]]}


def apptest_worker(page: str, children: int, repeats: int, out: Path) -> None:
    """Runs in a fresh process: first render, cleared-cache renders, cached renders, profile."""

    first, at = _render(page)
    result: dict[str, Any] = {"first_s": round(first, 3), "shown": _check(page, at, children)}
    cleared = []
    for _ in range(repeats):
        _clear_caches()
        cleared.append(_render(page)[0])
    result["uncached"] = _stats(cleared)
    result["cached"] = _stats([_render(page)[0] for _ in range(repeats)])
    result["profile"] = _profile(page)
    if page == "tuning":
        result["trial_reads"] = _trial_reads(repeats)
    out.write_text(json.dumps(result))


def _trial_reads(repeats: int) -> dict[str, Any]:
    """The two ways to read a finished tuning run's trials, timed outside the page."""
    from modeldev.config import resolve_settings
    from modeldev.tracking.tracker import Tracker
    from modeldev.tuning.outputs import load_trials, trials_from_children

    found = _existing(resolve_settings().workspace)
    if found is None:
        raise RuntimeError("no tuning run to read")
    tracker, run_id = Tracker(resolve_settings()), found["tuning_run_id"]
    out: dict[str, Any] = {}
    read_back: dict[str, list[dict[str, Any]]] = {}
    for name, read in (("results_artifact", load_trials), ("child_runs", trials_from_children)):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            read_back[name] = read(tracker, run_id)
            times.append(time.perf_counter() - start)
        out[name] = {**_stats(times), "trials": len(read_back[name])}
    out["same_trials"] = read_back["results_artifact"] == read_back["child_runs"]
    return out


def measure_apptest(workspace: Path, children: int, repeats: int) -> dict[str, Any]:
    results = {}
    for page in PAGES:
        log(f"AppTest: {page} (fresh process, {repeats} cleared-cache and {repeats} cached "
            "renders, one profiled)")
        with tempfile.TemporaryDirectory(prefix="modeldev-pages-") as tmp:
            out = Path(tmp) / "result.json"
            cmd = [sys.executable, __file__, "--apptest-worker", page, "--children",
                   str(children), "--repeats", str(repeats), "--worker-out", str(out)]
            subprocess.run(cmd, env=_env(workspace), cwd=ROOT, check=True)
            results[page] = json.loads(out.read_text())
        r = results[page]
        log(f"  first {r['first_s']:.2f} s, uncached median {r['uncached']['median']:.2f} s, "
            f"cached median {r['cached']['median']:.2f} s")
    return results


# ---------------------------------------------------------------- in the browser

def _charts_visible(page: Any, name: str) -> dict[str, float]:
    """Wait for each chart of `name`; seconds (from now) at which each became visible."""
    from browser_support import WAIT_MS

    start = time.perf_counter()
    seen = {}
    for key in CHARTS[name.split("@")[0]]:  # "comparison@before": the same page, older code
        page.locator(f".st-key-{key} .js-plotly-plot").first.wait_for(state="visible",
                                                                      timeout=WAIT_MS)
        seen[key] = time.perf_counter() - start
    return seen


def _timed_visit(page: Any, name: str, navigate: Any, new_document: bool) -> dict[str, float]:
    """Seconds from `navigate()` to the title, the first chart and all charts being visible, to
    the end of the script run (its script_finished message on the websocket), and the
    browser's long tasks."""
    from browser_support import WAIT_MS, counted, runs_ended, wait_runs_ended

    before = 0 if new_document or not counted(page) else runs_ended(page)
    busy = 0.0 if new_document else page.evaluate("window.__longTaskMs || 0")
    start = time.perf_counter()
    navigate()
    page.get_by_test_id("stMain").get_by_role("heading", name=TITLES[name.split("@")[0]],
                                              exact=True
                                              ).wait_for(state="visible", timeout=WAIT_MS)
    title = time.perf_counter() - start
    charts = _charts_visible(page, name)
    out = {"title_s": title, "first_chart_s": title + min(charts.values()),
           "all_charts_s": title + max(charts.values())}
    if counted(page):  # the script runs are counted from the websocket (see new_tabs)
        wait_runs_ended(page, before, WAIT_MS)
        out["run_end_s"] = time.perf_counter() - start
    page.wait_for_timeout(100)  # a long task is reported when it ends
    out["browser_long_tasks_s"] = (page.evaluate("window.__longTaskMs || 0") - busy) / 1000
    if new_document:  # the page's own clock, from the navigation's start
        drawn = page.evaluate("window.__drawn")
        out["drawn_in_page_s"] = max(drawn[k] for k in CHARTS[name.split("@")[0]]) / 1000
    return out


def _summary(visits: list[dict[str, float]]) -> dict[str, Any]:
    return {k: _stats([v[k] for v in visits]) for k in visits[0]}


def measure_browser(workspace: Path, repeats: int, quick: bool = False,
                    before: Path | None = None) -> dict[str, Any]:
    """First visits after a start, new tabs (with the floor), in-app navigation, JS profiles;
    `quick`: only the new tabs and the navigation; `before`: another checkout of the app (its
    own src/), whose new tabs are measured in the same rounds ("comparison@before")."""
    from browser_support import (
        launch_chromium,
        new_context,
        new_page,
        running_app,
        wait_idle,
    )
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="modeldev-pages-") as tmp, \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            first = {}
            # a fresh server (imports, empty caches), a fresh browser profile
            for name in [] if quick else PAGES:
                log(f"browser: first visit of {name} after a server start")
                with running_app(workspace, Path(tmp) / f"first_{name}.log") as app:
                    page = new_page(browser)
                    page.context.add_init_script(LONG_TASKS)
                    first[name] = _timed_visit(page, name, lambda page=page, url=(
                        f"{app.url}/{name}"): page.goto(url), new_document=True)
                    page.context.close()
                log(f"  all charts after {first[name]['all_charts_s']:.2f} s")
            out["first_visit_after_start"] = first

            floor_script = Path(tmp) / "floor.py"
            floor_script.write_text(FLOOR_SCRIPT)
            with contextlib.ExitStack() as servers:
                app = servers.enter_context(running_app(workspace, Path(tmp) / "warm.log"))
                floor = servers.enter_context(running_app(
                    workspace, Path(tmp) / "floor.log", script=str(floor_script)))
                urls = {"floor": floor.url, **{name: f"{app.url}/{name}" for name in PAGES}}
                if before:
                    old = servers.enter_context(running_app(
                        workspace, Path(tmp) / "before.log", script=str(before / "app.py"),
                        env={"PYTHONPATH": str(before / "src")}))
                    urls.update({f"{name}@before": f"{old.url}/{name}" for name in PAGES})
                # one browser profile (its HTTP cache is kept), no websocket decoding here
                tabs = browser.new_context(viewport={"width": 1280, "height": 800})
                tabs.add_init_script(LONG_TASKS)
                out["new_tab"] = new_tabs(tabs, urls, repeats)
                tabs.close()
                context = new_context(browser)
                context.add_init_script(LONG_TASKS)
                log("browser: new tab " + ", ".join(
                    f"{n} {s['all_charts_s']['median']:.2f} s" for n, s in out["new_tab"].items()))

                page = context.new_page()
                page.goto(f"{app.url}/runs")
                page.get_by_test_id("stMain").get_by_role("heading", name="Runs").wait_for()
                wait_idle(page)
                nav: dict[str, list] = {name: [] for name in PAGES}
                for _ in range(repeats):
                    for name in PAGES:
                        link = page.get_by_test_id("stSidebar").get_by_role(
                            "link", name=TITLES[name], exact=True)
                        nav[name].append(_timed_visit(page, name, link.click,
                                                      new_document=False))
                        wait_idle(page)
                out["in_app_navigation"] = {name: _summary(v) for name, v in nav.items()}
                log("browser: in-app navigation " + ", ".join(
                    f"{n} {s['all_charts_s']['median']:.2f} s"
                    for n, s in out["in_app_navigation"].items()))
                if not quick:
                    out["browser_profile"] = {name: _js_profile(context, page, name)
                                              for name in PAGES}
                context.close()
        finally:
            browser.close()
    return out


def new_tabs(context: Any, urls: dict[str, str], repeats: int) -> dict[str, Any]:
    """A new tab of each page in `urls` on its warm server, `repeats` rounds, the pages taken
    in turn within a round so that the machine's load falls on all of them alike. Each URL is
    visited once first: the server has imported everything and the browser cached the app.

    `context` should not count script runs (browser_support.new_context does): decoding every
    websocket frame in this process competes with the browser for the CPU, more for a page of
    many messages than for the floor's few."""
    warm = context.new_page()
    for name, url in urls.items():
        warm.goto(url)
        _charts_visible(warm, name)
    warm.close()
    tabs: dict[str, list] = {name: [] for name in urls}
    for _ in range(repeats):
        for name, url in urls.items():
            page = context.new_page()
            tabs[name].append(_timed_visit(page, name, lambda page=page, url=url: page.goto(url),
                                           new_document=True))
            page.close()
    out = {name: _summary(v) for name, v in tabs.items()}
    floor = out.get("floor")
    if floor:  # each page's new tab over the floor's in the same round; the median of those
        for summary in out.values():
            summary["over_floor"] = {k: _stats([a / b for a, b in zip(
                summary[k]["samples"], floor[k]["samples"], strict=True)])
                for k in ("all_charts_s", "drawn_in_page_s", "browser_long_tasks_s")}
    return out


def _js_profile(context: Any, page: Any, name: str) -> dict[str, Any]:
    """One more in-app navigation under Chrome's sampling profiler (renderer main thread):
    JavaScript time by script file, and '(program)', the browser's native work (parsing, style,
    layout, paint, and native waits that are not marked idle)."""
    from browser_support import wait_idle

    cdp = context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 1000})
    cdp.send("Profiler.start")
    link = page.get_by_test_id("stSidebar").get_by_role("link", name=TITLES[name], exact=True)
    visit = _timed_visit(page, name, link.click, new_document=False)
    profile = cdp.send("Profiler.stop")["profile"]
    cdp.detach()
    wait_idle(page)
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    by_where: dict[str, float] = {}
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = frames[node_id]
        where = frame["url"].rsplit("/", 1)[-1] or frame["functionName"] or "(native)"
        by_where[where] = by_where.get(where, 0.0) + delta / 1e6
    span = sum(by_where.values())
    native = {k: by_where.pop(k, 0.0) for k in ("(idle)", "(program)", "(garbage collector)")}
    top = sorted(by_where.items(), key=lambda kv: -kv[1])[:6]
    return {"all_charts_s": round(visit["all_charts_s"], 3), "profile_span_s": round(span, 3),
            "javascript_s": round(sum(by_where.values()), 3),
            "program_s": round(native["(program)"], 3), "idle_s": round(native["(idle)"], 3),
            "gc_s": round(native["(garbage collector)"], 3),
            "top_javascript": [{"where": w, "seconds": round(t, 3)} for w, t in top]}


# ---------------------------------------------------------------- report

def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": model, "cpu_count": os.cpu_count()}


def _packages() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("streamlit", "mlflow", "plotly", "playwright"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    chromium = "/usr/bin/chromium"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["chromium"] = subprocess.run([chromium, "--version"], capture_output=True,
                                         text=True, timeout=30).stdout.strip()
    return out


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 4's target (server render and in-app navigation under TARGET_S) and issue 21's
    (a new tab within FLOOR_RATIO of the bare page's, on the page's own clock)."""
    checks = {}
    for page in PAGES:
        server = results["apptest"][page]["uncached"]["median"]
        nav = results["browser"]["in_app_navigation"][page]["all_charts_s"]["median"]
        ratio = results["browser"]["new_tab"][page]["over_floor"]
        checks[page] = {"server_uncached_s": server, "browser_navigation_s": nav,
                        "new_tab_over_floor": ratio["drawn_in_page_s"]["median"],
                        "new_tab_over_floor_wall": ratio["all_charts_s"]["median"]}
        checks[page]["met"] = (server < TARGET_S and nav < TARGET_S
                               and checks[page]["new_tab_over_floor"] <= FLOOR_RATIO)
    return {"target_s": TARGET_S, "floor_ratio": FLOOR_RATIO, "pages": checks,
            "met": all(c["met"] for c in checks.values())}


def _row(label: str, per_page: dict[str, Any], key: str | None = None, unit: str = "s") -> str:
    cells = []
    for page in PAGES:
        s = per_page[page] if key is None else per_page[page][key]
        sep = " " if unit == "s" else ""
        cells.append(f"{s['median']:.2f}{sep}{unit} ({s['min']:.2f}-{s['max']:.2f})")
    return f"| {label} | " + " | ".join(cells) + " |"


def _floor_lines(tabs: dict[str, Any]) -> list[str]:
    """The floor, and the app before this change where it was measured beside it."""
    floor = tabs["floor"]
    lines = [f"The floor, a bare Streamlit page with one Plotly bar chart served with the app's "
             f"config to the same browser profile, in the same rounds: all drawn after "
             f"{floor['drawn_in_page_s']['median']:.2f} s ({floor['drawn_in_page_s']['min']:.2f}"
             f"-{floor['drawn_in_page_s']['max']:.2f}) on the page's clock, "
             f"{floor['all_charts_s']['median']:.2f} s as Playwright sees it. Each round opens "
             "the floor and every page once, in turn, so a change in the machine's load falls "
             "on all of them; a ratio is taken within a round. The page's clock leaves out "
             "Playwright's own polling, which costs a page of several charts more than the "
             "floor's one.", ""]
    old = {p: tabs[f"{p}@before"] for p in PAGES if f"{p}@before" in tabs}
    if old:
        lines += ["The same rounds also opened the app as it was before this change (`--before`, "
                  "its own checkout and src/): " + "; ".join(
                      f"{TITLES[p]} {t['drawn_in_page_s']['median']:.2f} s, "
                      f"{t['over_floor']['drawn_in_page_s']['median']:.2f}x the floor "
                      f"({t['over_floor']['all_charts_s']['median']:.2f}x as Playwright sees it)"
                      for p, t in old.items()) + ".", ""]
    return lines


def report_markdown(r: dict[str, Any]) -> str:
    m, ws, v = r["machine"], r["workspace"], r["verdict"]
    pk = r["packages"]
    a, b = r["apptest"], r["browser"]
    lines = [
        "# Page responsiveness benchmark", "",
        f"`python benchmarks/pages.py` on {m['cpu_count']} CPUs ({m['cpu_model']}), Python "
        f"{m['python']}, Streamlit {pk.get('streamlit')}, MLflow {pk.get('mlflow')}, Plotly "
        f"{pk.get('plotly')}, {pk.get('chromium') or 'Chromium'} through Playwright "
        f"{pk.get('playwright')}; generated {r['generated_at']}. The store (SQLite) holds a Phase "
        f"1 session (breast_cancer, {', '.join(PHASE1)}) and a real tuning run of {FRAMEWORK} "
        f"with **{ws['children']:,} child runs** (63 C values x 2 solvers x 8 max_iter values"
        + (f"; built by this script in {ws['phase1_seconds']:.0f} s + "
           f"{ws['tuning_seconds']:.0f} s" if ws.get("built") else "")
        + ("; workspace reused from an earlier run" if ws.get("reused") else "")
        + "). Medians (min-max) of "
        f"{r['repeats']} renders each.", "",
        "| | Comparison | Tuning |", "|---|---:|---:|",
        "| **server render, data caches cleared** (AppTest `at.run()`: every run and trial "
        "read again from MLflow, every figure rebuilt) | "
        + " | ".join(f"**{a[p]['uncached']['median']:.2f} s** ({a[p]['uncached']['min']:.2f}-"
                     f"{a[p]['uncached']['max']:.2f})" for p in PAGES) + " |",
        _row("server render, warm caches (AppTest)", {p: a[p]["cached"] for p in PAGES}),
        "| server render, first in a fresh process (imports, empty caches) | "
        + " | ".join(f"{a[p]['first_s']:.2f} s" for p in PAGES) + " |",
        "| **browser, in-app navigation** (sidebar link click to all charts visible) | "
        + " | ".join(f"**{b['in_app_navigation'][p]['all_charts_s']['median']:.2f} s** "
                     f"({b['in_app_navigation'][p]['all_charts_s']['min']:.2f}-"
                     f"{b['in_app_navigation'][p]['all_charts_s']['max']:.2f})" for p in PAGES)
        + " |",
        _row("browser, in-app navigation, first chart visible",
             {p: b["in_app_navigation"][p] for p in PAGES}, "first_chart_s"),
        _row("browser, in-app navigation, end of the script run as the browser sees it",
             {p: b["in_app_navigation"][p] for p in PAGES}, "run_end_s"),
        _row("browser, in-app navigation, main thread busy (long tasks: script, layout, paint)",
             {p: b["in_app_navigation"][p] for p in PAGES}, "browser_long_tasks_s"),
        _row("browser, new tab on the warm server, all charts drawn (the page's own clock from "
             "the navigation's start)", {p: b["new_tab"][p] for p in PAGES}, "drawn_in_page_s"),
        _row("browser, new tab on the warm server (`goto` to all charts visible, as Playwright "
             "sees it)", {p: b["new_tab"][p] for p in PAGES}, "all_charts_s"),
        _row("**new tab over the floor** (same round; page's own clock)",
             {p: b["new_tab"][p]["over_floor"] for p in PAGES}, "drawn_in_page_s", unit="x"),
        _row("new tab over the floor (same round; as Playwright sees it)",
             {p: b["new_tab"][p]["over_floor"] for p in PAGES}, "all_charts_s", unit="x"),
        "| browser, first visit after a server start, fresh browser profile (to all charts "
        "visible) | "
        + " | ".join(f"{b['first_visit_after_start'][p]['all_charts_s']:.2f} s" for p in PAGES)
        + " |", "",
        f"**Targets (with 1,000 child runs: both pages under {v['target_s']:.0f} s, judged on "
        "the cleared-cache server render and the in-app navigation in the browser; a new tab "
        f"within {v['floor_ratio']}x of the floor's): "
        + ("met" if v["met"] else "NOT met") + "** - " + "; ".join(
            f"{TITLES[p]} {c['server_uncached_s']:.2f} s server, {c['browser_navigation_s']:.2f}"
            f" s in-app navigation, new tab {c['new_tab_over_floor']:.2f}x the floor "
            f"({c['new_tab_over_floor_wall']:.2f}x as Playwright sees it)"
            for p, c in v["pages"].items()) + ".", "",
        *_floor_lines(b["new_tab"]),
        "Charts: Comparison = the 8-metric panels and the best model's open detail tab (its "
        "confusion matrix; one chart per tab); Tuning = the top 10 and the parameter impact. "
        "Tuning showed "
        f"\"{a['tuning']['shown'].get('trials_metric')}\" (every trial read). The first "
        "visit after a start includes importing the engine, plotting and MLflow into the "
        "server and loading the logged model for the detail.", "",
        "## Where the time goes (one cleared-cache render under cProfile, page body only)", ""]
    for page in PAGES:
        prof = a[page]["profile"]
        lines += [f"**{TITLES[page]}**: render {prof['render_s']:.2f} s under the profiler, "
                  f"page body {prof['page_body_s']:.2f} s. "
                  + "; ".join(f"{h['what']} ({h['function']}) {h['seconds']:.2f} s"
                              for h in sorted(prof["hotspots"], key=lambda h: -h["seconds"]))
                  + ".", ""]
    reads = a["tuning"].get("trial_reads")
    if reads:
        art, kids = reads["results_artifact"], reads["child_runs"]
        lines += [f"Reading the {ws['children']:,} trials of the finished tuning run (medians "
                  f"of {art['n']}, outside the page): from its `all_tuning_results.json` "
                  f"artifact in MLflow {art['median']:.3f} s, which is what the page does; "
                  f"from its child runs through `MlflowClient.search_runs` {kids['median']:.2f} s "
                  "(every run built with its params, metrics and tags, in pages of 1,000), "
                  "which is what it did before and still does for a run that is going or was "
                  "stopped early. Both give the same "
                  f"trials: {'yes' if reads['same_trials'] else 'NO'}. Either read is cached "
                  "for good once the run has finished (keyed by its status and end time).", ""]
    if "browser_profile" in b:
        lines += ["## In the browser (one more in-app navigation under Chrome's sampling "
                  "profiler)", ""]
        for page, prof in b["browser_profile"].items():
            lines += [f"**{TITLES[page]}**: all charts after {prof['all_charts_s']:.2f} s "
                      f"(profiled; the profile spans {prof['profile_span_s']:.2f} s): "
                      f"JavaScript {prof['javascript_s']:.2f} s ("
                      + ", ".join(f"{t['where']} {t['seconds']:.2f} s"
                                  for t in prof["top_javascript"])
                      + f"), the browser's native work `(program)` {prof['program_s']:.2f} s, "
                      f"garbage collection {prof['gc_s']:.2f} s, idle {prof['idle_s']:.2f} s.",
                      ""]
        nav = b["in_app_navigation"]
        lines += ["In-app navigation, medians: "
                  + "; ".join(f"{TITLES[p]} {nav[p]['all_charts_s']['median']:.2f} s to all "
                              f"charts, with the browser's main thread busy "
                              f"{nav[p]['browser_long_tasks_s']['median']:.2f} s (long tasks) "
                              f"and a warm-cache server render of "
                              f"{a[p]['cached']['median']:.2f} s (AppTest)" for p in PAGES)
                  + ". The two overlap (the page streams while the script runs), and the "
                  "charts become visible with the end of the run: the browser draws each "
                  "figure as it arrives. `PlotlyChart` is Streamlit's chunk holding plotly.js; "
                  "`(program)` is mostly style, layout and paint, in a software-rendered "
                  "headless Chromium that shares the machine's two cores with the app server.",
                  ""]
    lines += [f"Load average (1/5/15 min) {r['loadavg_start']} at the start, {r['loadavg_end']} "
              "at the end (they include the benchmark itself; the machine may be shared, which "
              "makes every number here slower, never faster).", ""]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pages.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "pages.md").write_text(report_markdown(results))
    log(f"wrote {RESULTS / 'pages.json'} and {RESULTS / 'pages.md'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, help="reuse or build the workspace here")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--render", action="store_true", help="rewrite pages.md from pages.json")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--quick", action="store_true",
                        help="only new tabs (and the floor) and in-app navigation; print only")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time new tabs of the app checked out in DIR (e.g. `git "
                             "archive REF | tar -x -C DIR`), in the same rounds")
    parser.add_argument("--apptest-worker", choices=list(PAGES), help=argparse.SUPPRESS)
    parser.add_argument("--children", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.apptest_worker:
        apptest_worker(args.apptest_worker, args.children, args.repeats, args.worker_out)
        return 0
    if args.render:
        (RESULTS / "pages.md").write_text(report_markdown(
            json.loads((RESULTS / "pages.json").read_text())))
        return 0

    with contextlib.ExitStack() as stack:
        if args.workspace:
            workspace = args.workspace.expanduser().resolve()
        else:
            workspace = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="modeldev-pages-ws-"))) / "modeldev_workspace"
        results: dict[str, Any] = {
            "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(), "packages": _packages(), "repeats": args.repeats,
            "loadavg_start": _loadavg()}
        for name in [k for k in os.environ if k.startswith(("MODELDEV_", "MLFLOW_TRACKING"))]:
            del os.environ[name]
        os.environ.update(MODELDEV_WORKSPACE=str(workspace), TF_CPP_MIN_LOG_LEVEL="2")
        results["workspace"] = build(workspace)
        if args.quick:
            print(json.dumps(measure_browser(workspace, args.repeats, quick=True,
                                             before=args.before), indent=1))
            return 0
        results["apptest"] = measure_apptest(workspace, results["workspace"]["children"],
                                             args.repeats)
        results["browser"] = measure_browser(workspace, args.repeats, before=args.before)
        results["loadavg_end"] = _loadavg()
        results["verdict"] = verdict(results)
    print(report_markdown(results))
    if not args.no_write:
        write(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
