"""Chart builders: panels, traces, highlighting; export to HTML and to PNG without a browser."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.image import imread

from modeldev.charts import detail
from modeldev.charts.common import BASE_COLOR, BEST_COLOR, save_figure
from modeldev.charts.comparison import SUP_LINE_CHARS, comparison_figure
from modeldev.charts.png import figure_to_png
from modeldev.charts.tuning import STRIP_MAX_TRIALS, tuning_figures
from modeldev.evaluation.metrics import charted_metrics, get_metric


def parameter_impact_figure(trials: list[dict], params: list[str], metric: str):
    """The impact chart of these trials, as a tuning run draws it."""
    return tuning_figures(trials, params, metric, None)[1]


def top_k_figure(trials: list[dict], metric: str, k: int = 10, baseline: float | None = None):
    """The top-k chart of these trials, as a tuning run draws it."""
    return tuning_figures(trials, [], metric, baseline, k=k)[0]


MODELS = ["sklearn_logistic_regression", "sklearn_random_forest", "xgboost_baseline"]


def _rows(task: str) -> list[dict]:
    rows = []
    for i, name in enumerate(MODELS):
        rows.append({"name": name, "metrics": {m: 0.5 + 0.1 * i for m in charted_metrics(task)}})
    return rows


def _trials() -> list[dict]:
    trials = []
    for n in (50, 100, 200):
        for depth in (3, None):
            score = 0.8 + n / 2000 + (0.01 if depth else 0.0)
            trials.append({"params": {"n_estimators": n, "max_depth": depth},
                           "metrics": {"f1_score": score, "log_loss": 1 - score},
                           "status": "FINISHED"})
    trials.append({"params": {"n_estimators": 999, "max_depth": 1},
                   "metrics": {"f1_score": 0.99, "log_loss": 0.01}, "status": "FAILED"})
    return trials


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_comparison_has_one_panel_per_charted_metric_with_direction(task):
    fig = comparison_figure(_rows(task), task, charted_metrics(task)[0], "xgboost_baseline")
    metrics = charted_metrics(task)
    assert len(metrics) == 8 and len(fig.data) == 8
    titles = [a.text for a in fig.layout.annotations]
    for metric, title, trace in zip(metrics, titles, fig.data, strict=True):
        word = "higher" if get_metric(metric).higher_is_better else "lower"
        assert metric in title and f"{word} is better" in title
        assert list(trace.x) == MODELS
    assert len({(t.xaxis, t.yaxis) for t in fig.data}) == 8


def test_comparison_highlights_only_the_best_and_skips_missing_values():
    rows = _rows("binary")
    rows[0]["metrics"]["roc_auc"] = None
    rows[1]["metrics"]["roc_auc"] = float("nan")
    del rows[2]["metrics"]["log_loss"]
    fig = comparison_figure(rows, "binary", "f1_score", "sklearn_random_forest")
    by_name = {t.name: t for t in fig.data}
    accuracy = by_name["accuracy"]
    assert list(accuracy.marker.color) == [BASE_COLOR, BEST_COLOR, BASE_COLOR]
    assert list(by_name["roc_auc"].x) == ["xgboost_baseline"]
    assert "xgboost_baseline" not in list(by_name["log_loss"].x)
    no_best = comparison_figure(rows, "binary", "f1_score", None)
    assert BEST_COLOR not in list(no_best.data[0].marker.color)


def test_comparison_title_wraps_a_long_top_tier_instead_of_running_off_the_chart():
    names = [f"framework_with_a_long_name_{i}" for i in range(9)]
    rows = [{"name": n, "metrics": {"f1_score": 0.9}, "top_tier": True,
             "cv": {"f1_score": {"ci_low": 0.85, "ci_high": 0.95}}} for n in names]
    title = comparison_figure(rows, "binary", "f1_score", names[0]).layout.title.text
    head, *notes = title.split("<br>")
    assert head == f"Model comparison, 9 models; best: {names[0]} by f1_score (highlighted)"
    lines = [re.fullmatch(r"<sup>(.*)</sup>", n).group(1) for n in notes]
    assert len(lines) > 2 and all(len(line) <= SUP_LINE_CHARS for line in lines)
    text = " ".join(lines)
    assert text.startswith("whiskers: 95 % intervals; not distinguishable from it (lighter): ")
    assert all(f"{n}," in text or text.endswith(n) for n in names[1:])


def test_parameter_impact_uses_finished_trials_and_orders_values_numerically():
    # MLflow hands params back as strings: order must still be numeric, null shown as None
    trials = _trials()
    as_strings = [{**t, "params": {k: str(v) for k, v in t["params"].items()}} for t in trials]
    fig = parameter_impact_figure(as_strings, ["n_estimators", "max_depth"], "f1_score")
    assert len(fig.data) == 4
    assert [a.text for a in fig.layout.annotations] == ["n_estimators", "max_depth"]
    strip, mean = fig.data[0], fig.data[1]
    assert list(mean.x) == ["50", "100", "200"]
    assert "999" not in list(strip.x) and len(strip.x) == 6
    assert list(fig.data[3].x) == ["3", "None"]
    assert mean.y[0] == pytest.approx(0.825 + 0.005)
    assert mean.error_y.array[0] == pytest.approx(0.005)
    assert "higher is better" in fig.layout.title.text


def test_parameter_impact_of_many_trials_draws_quartile_boxes_of_every_trial(tmp_path):
    trials = [{"params": {"C": c, "solver": s}, "status": "FINISHED",
               "metrics": {"f1_score": 0.5 + c / 100 + i / 10_000}}
              for i in range(STRIP_MAX_TRIALS) for c in (1, 10) for s in ("lbfgs",)]
    fig = parameter_impact_figure(trials, ["C", "solver"], "f1_score")
    boxes = [t for t in fig.data if t.type == "box"]
    assert len(boxes) == 2 and all(b.boxpoints is False for b in boxes)
    assert len(boxes[0].y) == len(trials)  # every trial is in the distribution
    assert sorted(set(boxes[0].x)) == ["1", "10"]
    mean = next(t for t in fig.data if t.type == "scatter" and list(t.x) == ["1", "10"])
    assert mean.y[1] - mean.y[0] == pytest.approx(0.09)
    png = figure_to_png(fig, tmp_path / "impact.png")
    assert png.stat().st_size > 10_000
    few = parameter_impact_figure(trials[:STRIP_MAX_TRIALS], ["C"], "f1_score")
    assert [t.type for t in few.data] == ["scatter", "scatter"]


@pytest.mark.parametrize("metric", ["f1_score", "log_loss"])
def test_top_k_is_direction_aware_with_baseline(metric):
    fig = top_k_figure(_trials(), metric, k=3, baseline=0.5)
    (bars,) = fig.data
    values = list(bars.x)
    assert len(values) == 3
    assert values == sorted(values, reverse=get_metric(metric).higher_is_better)
    assert 0.99 not in values and 0.01 not in values  # the FAILED trial
    assert bars.y[0].startswith("#1  n_estimators=200, max_depth=3")
    assert list(bars.marker.color) == [BEST_COLOR, BASE_COLOR, BASE_COLOR]
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 0.5


def test_top_k_labels_stay_distinct_for_equal_params():
    trials = [{"params": {"a": 1}, "metrics": {"f1_score": 0.5 + i / 10}, "status": "FINISHED"}
              for i in range(3)]
    fig = top_k_figure(trials, "f1_score", k=10)
    assert len(set(fig.data[0].y)) == 3
    assert not fig.layout.shapes


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _has_color(png_path, hex_color: str) -> bool:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    pixels = imread(png_path)[..., :3]
    return bool((np.abs(pixels - rgb).max(axis=-1) < 0.02).sum() > 50)


def test_save_figure_writes_self_contained_html_and_a_real_png(tmp_path):
    fig = comparison_figure(_rows("binary"), "binary", "f1_score", "xgboost_baseline")
    html, png = save_figure(fig, tmp_path / "all_models_comparison")
    assert html.name == "all_models_comparison.html" and png.name == "all_models_comparison.png"
    text = html.read_text(encoding="utf-8")
    assert re.search(r"<script[^>]*\bsrc=", text) is None and "sklearn_random_forest" in text
    assert len(text) > 1_000_000  # plotly.js embedded, so it opens offline
    data = png.read_bytes()
    assert _png_size(data) == (fig.layout.width, fig.layout.height)
    assert 20_000 < len(data) < 5_000_000
    assert _has_color(png, BEST_COLOR) and _has_color(png, BASE_COLOR)
    assert not list(tmp_path.glob(".*tmp"))


def test_png_without_best_has_no_highlight_colour(tmp_path):
    fig = comparison_figure(_rows("regression"), "regression", "rmse", None)
    png = figure_to_png(fig, tmp_path / "plain.png")
    assert _has_color(png, BASE_COLOR) and not _has_color(png, BEST_COLOR)


def test_all_three_figures_export_png_with_no_browser_available(tmp_path):
    # a clean interpreter with an empty PATH: no Chrome to find, and kaleido must never load
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from modeldev.charts import common, comparison
        from modeldev.charts.tuning import tuning_figures
        rows = json.loads({json.dumps(_rows("binary"))!r})
        trials = json.loads({json.dumps(_trials())!r})
        out = Path({str(tmp_path)!r})
        figs = {{
            "cmp": comparison.comparison_figure(rows, "binary", "f1_score", "xgboost_baseline"),
            "impact": tuning_figures(trials, ["n_estimators", "max_depth"], "f1_score",
                                     None)[1],
            "top": tuning_figures(trials, [], "f1_score", 0.8)[0],
        }}
        for stem, fig in figs.items():
            common.save_figure(fig, out / stem)
        print(json.dumps(sorted(m for m in sys.modules if "kaleido" in m or "choreo" in m)))
    """)
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("BROWSER_PATH", "DISPLAY")}
    env.update(PATH=str(empty), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    for stem in ("cmp", "impact", "top"):
        data = (tmp_path / f"{stem}.png").read_bytes()
        width, height = _png_size(data)
        assert width >= 700 and height >= 400 and len(data) > 10_000
        assert (tmp_path / f"{stem}.html").stat().st_size > 1_000_000


def test_png_renderer_draws_box_traces_in_their_panels(tmp_path):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=["boxes", "horizontal"])
    fig.add_trace(go.Box(x=["a", "a", "b", "b"], y=[1, 2, 3, 4], marker_color="#2CA02C"),
                  row=1, col=1)
    fig.add_trace(go.Box(x=[1, 2, 3], name="h", orientation="h", marker_color="#9467BD"),
                  row=1, col=2)
    png = figure_to_png(fig.update_layout(width=800, height=400), tmp_path / "box.png")
    assert _png_size(png.read_bytes()) == (800, 400)
    assert _has_color(png, "#2CA02C") and _has_color(png, "#9467BD")


def test_detail_figures_for_regression_and_multiclass_escape_labels():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    scatter, resid = detail.regression_figures(y, y + rng.normal(0.1, size=50))
    assert scatter.layout.title.text.startswith("Predicted vs actual")
    assert len(resid.data[0].x) == 50
    proba = rng.dirichlet([1, 1, 1], size=60)
    classes, truth = ["<b>a</b>", "b", "c"], rng.integers(0, 3, 60)
    roc = detail.curve_figure(truth, proba, classes, "roc")
    assert [t.name.split(" (")[0] for t in roc.data] == ["&lt;b&gt;a&lt;/b&gt;", "b", "c",
                                                          "chance"]
    confusion = detail.confusion_figure(truth, proba.argmax(axis=1), classes)
    assert list(confusion.data[0].x) == ["&lt;b&gt;a&lt;/b&gt;", "b", "c"]
    fig = detail.importance_figure(["<script>x</script>", "f2"], [0.2, 0.8])
    assert list(fig.data[0].y) == ["f2", "&lt;script&gt;x&lt;/script&gt;"]
    long = "a_feature_name_" * 5  # 75 characters: cut on the axis, whole in the hover
    fig = detail.importance_figure([long, "f2"], [0.9, 0.1])
    assert fig.data[0].y[0] == long[:39] + "…" and fig.data[0].customdata[0] == long
