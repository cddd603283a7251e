"""What every chart shares: colours, number formatting, metric direction, saving to HTML+PNG.

PNG export goes through `figure_to_png` (matplotlib, no browser): kaleido 1.x needs Chrome.
HTML embeds plotly.js in full (~4.8 MB a file) so a chart opens offline, from a bundle or from
MLflow's artifact view, with nothing beside it.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from modeldev.artifacts import atomic_write_text
from modeldev.charts.png import figure_to_png
from modeldev.evaluation.metrics import get_metric
from modeldev.tuning.analysis import value_label

BASE_COLOR = "#4C78A8"
BEST_COLOR = "#F58518"
TIER_COLOR = "#F9C28B"  # tied with the best: not distinguishable from it
WHISKER_COLOR = "#333333"
MEAN_COLOR = "#222222"


def direction_text(metric: str) -> str:
    """'higher is better' or 'lower is better' for a registered metric."""
    return "higher is better" if get_metric(metric).higher_is_better else "lower is better"


def number(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN and inf values."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fmt(value: float) -> str:
    """A value as shown on a bar: four significant digits."""
    return f"{value:.4g}"


def params_label(params: dict, max_len: int = 70) -> str:
    """A short one-line 'name=value, ...' string, cut with an ellipsis past `max_len`."""
    text = ", ".join(f"{k}={value_label(v)}" for k, v in (params or {}).items())
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def save_figure(fig: go.Figure, stem: Path) -> list[Path]:
    """Write `stem`.html (plotly.js embedded) and `stem`.png (no browser); return both paths."""
    stem = Path(stem)
    html = atomic_write_text(
        stem.with_name(stem.name + ".html"),
        fig.to_html(include_plotlyjs=True, full_html=True),
    )
    png = figure_to_png(fig, stem.with_name(stem.name + ".png"))
    return [html, png]
