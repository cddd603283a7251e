"""Tuning charts: parameter impact and the top k, drawn from what `tuning.analysis` computed."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modeldev.charts.common import (
    BASE_COLOR,
    BEST_COLOR,
    MEAN_COLOR,
    direction_text,
    fmt,
    number,
    params_label,
)
from modeldev.tuning import analysis
from modeldev.tuning.analysis import Trial

# Past this many trials the impact chart shows quartile boxes instead of one point per trial:
# 1,008 trials as 3,024 SVG points took the browser about 0.9 s to draw (measured).
STRIP_MAX_TRIALS = 200

Impact = dict[str, list[dict[str, Any]]]  # tuning.analysis.parameter_impact's result


def tuning_figures(trials: list[Trial], params: list[str], metric: str,
                   baseline: float | None, fold_rows: tuple[int, int] | None = None,
                   k: int = 10) -> tuple[go.Figure, go.Figure]:
    """The top-k and parameter-impact figures of a tuning run's trials (`fold_rows`: a fold's
    training and validation rows, for the intervals; None with one holdout split)."""
    n_finished = len(analysis.finished_trials(trials, metric))
    impact = analysis.parameter_impact(trials, params, metric, fold_rows)
    noise = analysis.within_noise(impact, metric, fold_rows)
    return (top_k_figure(analysis.top_k(trials, metric, k), metric, n_finished, baseline),
            parameter_impact_figure(impact, metric, n_finished, noise))


def parameter_impact_figure(impact: Impact, metric: str, n_finished: int,
                            noise: dict[str, dict[str, Any]] | None = None) -> go.Figure:
    """Per parameter, `metric` across its values: each finished trial (quartile boxes past
    STRIP_MAX_TRIALS), and the main effect (the mean at each value) with its 95 % interval
    across folds (min–max without folds); parameters within the noise say so."""
    params = list(impact)
    title = f"Parameter impact on {metric} ({direction_text(metric)}), {n_finished} finished trials"
    if not params:
        fig = go.Figure()
        fig.add_annotation(text="No parameters to show", x=0.5, y=0.5, xref="paper",
                           yref="paper", showarrow=False)
        return fig.update_layout(title=title, width=800, height=400, template="plotly_white")
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    specs: list[list[dict[str, Any] | None]] = [
        [{} if r * ncols + c < len(params) else None for c in range(ncols)]
        for r in range(nrows)]
    titles = [p + (" (within noise)" if (noise or {}).get(p, {}).get("within_noise") else "")
              for p in params]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, specs=specs,
                        vertical_spacing=0.5 / nrows, horizontal_spacing=0.08)
    for i, param in enumerate(params):
        cell = {"row": i // ncols + 1, "col": i % ncols + 1}
        for trace in _impact_traces(impact[param], n_finished, first=i == 0):
            fig.add_trace(trace, **cell)
        fig.update_xaxes(type="category", categoryorder="array",
                         categoryarray=[g["value"] for g in impact[param]], **cell)
    fig.update_yaxes(title_text=metric, col=1)
    return fig.update_layout(title=title, width=max(700, 430 * ncols + 100),
                             height=330 * nrows + 130, template="plotly_white")


def _impact_traces(groups: list[dict[str, Any]], n_finished: int,
                   first: bool) -> list[go.Scatter | go.Box]:
    labels = [g["value"] for g in groups]
    xs = [g["value"] for g in groups for _ in g["values"]]
    ys = [v for g in groups for v in g["values"]]
    strip: go.Scatter | go.Box
    if n_finished > STRIP_MAX_TRIALS:
        strip = go.Box(x=xs, y=ys, name="trials (quartiles)", legendgroup="trials",
                       showlegend=first, boxpoints=False, marker={"color": BASE_COLOR},
                       line={"width": 1.5})
    else:
        strip = go.Scatter(x=xs, y=ys, mode="markers", name="trials", legendgroup="trials",
                           showlegend=first,
                           marker={"color": BASE_COLOR, "opacity": 0.4, "size": 6})
    means = [g["mean"] for g in groups]
    intervals = all(g.get("ci_low") is not None for g in groups)
    low, high = ("ci_low", "ci_high") if intervals else ("min", "max")
    mean = go.Scatter(
        x=labels, y=means, mode="lines+markers", legendgroup="mean", showlegend=first,
        name="main effect (95 % interval)" if intervals else "mean (min–max)",
        line={"color": MEAN_COLOR}, marker={"color": MEAN_COLOR, "size": 8},
        error_y={"type": "data", "symmetric": False,
                 # max(0, .): a float mean can round a hair past its group's max or min
                 "array": [max(0.0, g[high] - g["mean"]) for g in groups],
                 "arrayminus": [max(0.0, g["mean"] - g[low]) for g in groups]},
    )
    return [strip, mean]


def top_k_figure(top: list[Trial], metric: str, n_finished: int,
                 baseline: float | None = None) -> go.Figure:
    """Horizontal bars of the ranked trials `top` (best first), with the baseline as a line."""
    values = [float(t["metrics"][metric]) for t in top]
    labels = [f"#{i + 1}  {params_label(t.get('params', {}))}" for i, t in enumerate(top)]
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", name=metric, showlegend=False,
        marker_color=[BEST_COLOR] + [BASE_COLOR] * (len(top) - 1) if top else [],
        text=[fmt(v) for v in values], textposition="outside", cliponaxis=False,
        customdata=[params_label(t.get("params", {}), 10_000) for t in top],
        hovertemplate="%{customdata}<br>" + metric + ": %{x:.6g}<extra></extra>",
    ))
    baseline = number(baseline)
    if baseline is not None:
        fig.add_vline(x=baseline, line_dash="dash", line_color="#444444", name="baseline",
                      annotation_text=f"baseline {fmt(baseline)}", annotation_position="top")
    x_range = _zoom_range([*values, *([baseline] if baseline is not None else [])])
    fig.update_xaxes(title_text=f"{metric} ({direction_text(metric)})", range=x_range)
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    return fig.update_layout(
        title=f"Top {len(top)} of {n_finished} finished trials by {metric}",
        width=1100, height=max(400, 140 + 40 * len(top)), template="plotly_white",
    )


def _zoom_range(values: list[float]) -> list[float] | None:
    """An x range around the values, so close scores stay distinguishable; 0 kept if near."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
    start = lo - pad
    if lo >= 0 > start:
        start = 0.0
    return [start, hi + 2 * pad]
