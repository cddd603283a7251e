"""Draw a Plotly figure's bar, scatter and box traces as a PNG with matplotlib (Agg).

Plotly 7's own image export (kaleido 1.x) drives a Chrome browser, which a server or CI machine
often lacks. This renderer reads the figure's data and layout (subplot grid from the axis domains,
panel titles from the subplot annotations, categories, ranges, line shapes) and never starts a
browser. It covers what modeldev's charts use, not all of Plotly.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from modeldev.artifacts import atomic_write_bytes
from modeldev.charts import png_traces

DEFAULT_WIDTH, DEFAULT_HEIGHT = 1200, 800
_H_ALIGN = {"left": "left", "right": "right", "center": "center", "auto": "center"}
_V_ALIGN = {"top": "top", "bottom": "bottom", "middle": "center", "auto": "center"}


@dataclass
class _Panel:
    xref: str
    yref: str
    xdomain: tuple[float, float]
    ydomain: tuple[float, float]
    title: str = ""
    traces: list = field(default_factory=list)


def figure_to_png(fig: go.Figure, path: Path, dpi: int = 100) -> Path:
    """Render `fig` into a PNG at `path` (written atomically) and return the path."""
    layout = fig.layout.to_plotly_json()
    width = layout.get("width") or DEFAULT_WIDTH
    height = layout.get("height") or DEFAULT_HEIGHT
    canvas_fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(canvas_fig)
    panels = _panels(fig, layout)
    axes = _place_axes(canvas_fig, panels)
    for panel, ax in zip(panels, axes, strict=True):
        _draw_panel(ax, panel, layout)
    by_ref = {(p.xref, p.yref): ax for p, ax in zip(panels, axes, strict=True)}
    by_x = {xref: ax for (xref, _), ax in by_ref.items()}
    _draw_shapes(layout.get("shapes", []), by_ref, by_x)
    _draw_free_annotations(canvas_fig, layout.get("annotations", []), panels, by_x)
    title = (layout.get("title") or {}).get("text")
    if title:
        canvas_fig.suptitle(_plain(title), fontsize=13)
    buffer = io.BytesIO()
    canvas_fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return atomic_write_bytes(Path(path), buffer.getvalue())


def _axis_key(ref: str, letter: str) -> str:
    """'x2' -> 'xaxis2', 'y' -> 'yaxis'."""
    return f"{letter}axis{ref[1:]}"


def _pair(trace: Any) -> tuple[str, str]:
    return (getattr(trace, "xaxis", None) or "x", getattr(trace, "yaxis", None) or "y")


def _panels(fig: go.Figure, layout: dict) -> list[_Panel]:
    """One panel per x axis (with its anchor) and per axis pair the traces use."""
    pairs: list[tuple[str, str]] = []
    for key in layout:
        match = re.fullmatch(r"xaxis(\d*)", key)
        if match:
            pairs.append((f"x{match.group(1)}", layout[key].get("anchor") or f"y{match.group(1)}"))
    pairs += [pair for pair in dict.fromkeys(map(_pair, fig.data)) if pair not in pairs]
    panels = {}
    for xref, yref in pairs:
        xdom = layout.get(_axis_key(xref, "x"), {}).get("domain") or [0.0, 1.0]
        ydom = layout.get(_axis_key(yref, "y"), {}).get("domain") or [0.0, 1.0]
        panels[(xref, yref)] = _Panel(xref, yref, tuple(xdom), tuple(ydom))
    for trace in fig.data:
        panels[_pair(trace)].traces.append(trace)
    for ann in layout.get("annotations", []):
        panel = _title_panel(ann, panels.values())
        if panel is not None:
            panel.title = _plain(ann.get("text", ""))
    return list(panels.values())


def _title_panel(ann: dict, panels: Any) -> _Panel | None:
    """The panel whose top edge a paper-referenced annotation sits on (make_subplots titles)."""
    if ann.get("xref") != "paper" or ann.get("yref") != "paper":
        return None
    x, y = ann.get("x", 0.5), ann.get("y", 1.0)
    for panel in panels:
        (x0, x1), (_, y1) = panel.xdomain, panel.ydomain
        if x0 - 1e-6 <= x <= x1 + 1e-6 and abs(y - y1) < 0.02 and not panel.title:
            return panel
    return None


def _place_axes(canvas_fig: Figure, panels: list[_Panel]) -> list[Axes]:
    if not panels:
        return []
    cols = sorted({round(p.xdomain[0], 6) for p in panels})
    rows = sorted({round(p.ydomain[0], 6) for p in panels}, reverse=True)
    grid = canvas_fig.add_gridspec(len(rows), len(cols))
    cells = [(rows.index(round(p.ydomain[0], 6)), cols.index(round(p.xdomain[0], 6)))
             for p in panels]
    return [canvas_fig.add_subplot(grid[r, c]) for r, c in cells]


def _plain(text: str) -> str:
    """Plotly's pseudo-HTML as plain text; '$' escaped so matplotlib never reads mathtext."""
    text = re.sub(r"<br\s*/?>", "\n", str(text), flags=re.IGNORECASE)
    return re.sub(r"<[^>]+>", "", text).replace("$", r"\$")


def _categories(panel: _Panel, axis: dict, letter: str) -> dict[str, int] | None:
    """Category -> position for a categorical axis (layout order first), None for numbers."""
    values = [v for t in panel.traces for v in png_traces.coords(t, letter)]
    if axis.get("type") != "category" and not any(isinstance(v, str) for v in values):
        return None
    order = [str(v) for v in axis.get("categoryarray") or []]
    for value in map(str, values):
        if value not in order:
            order.append(value)
    return {name: i for i, name in enumerate(order)}


def _draw_panel(ax: Axes, panel: _Panel, layout: dict) -> None:
    xaxis = layout.get(_axis_key(panel.xref, "x"), {})
    yaxis = layout.get(_axis_key(panel.yref, "y"), {})
    xcats, ycats = _categories(panel, xaxis, "x"), _categories(panel, yaxis, "y")
    for trace in panel.traces:
        if trace.visible in (False, "legendonly"):
            continue
        draw = png_traces.DRAWERS.get(trace.type)
        if draw is not None:
            draw(ax, trace, xcats, ycats)
    _style_axis(ax, xaxis, xcats, "x")
    _style_axis(ax, yaxis, ycats, "y")
    ax.set_title(panel.title, fontsize=10)
    if not panel.traces and not panel.title:
        ax.set_axis_off()
    if any(not label.startswith("_") for label in ax.get_legend_handles_labels()[1]):
        ax.legend(fontsize=8)


def _style_axis(ax: Axes, axis: dict, cats: dict[str, int] | None, letter: str) -> None:
    title = (axis.get("title") or {}).get("text")
    if title:
        (ax.set_xlabel if letter == "x" else ax.set_ylabel)(_plain(title), fontsize=9)
    if cats is not None:
        if letter == "x":
            angle = -(axis.get("tickangle") or 0)
            ax.set_xticks(list(cats.values()), [_plain(c) for c in cats],
                          rotation=angle, ha="right" if angle > 0 else "center", fontsize=8)
        else:
            ax.set_yticks(list(cats.values()), [_plain(c) for c in cats], fontsize=8)
        (ax.set_xlim if letter == "x" else ax.set_ylim)(-0.5, max(len(cats), 1) - 0.5)
    if axis.get("range") is not None:
        (ax.set_xlim if letter == "x" else ax.set_ylim)(*axis["range"])
    if axis.get("autorange") == "reversed":
        (ax.invert_xaxis if letter == "x" else ax.invert_yaxis)()
    ax.tick_params(labelsize=8)


def _transform(ax: Axes, xref: str, yref: str) -> Any:
    tx = ax.transAxes if xref.endswith("domain") else ax.transData
    ty = ax.transAxes if yref.endswith("domain") else ax.transData
    return blended_transform_factory(tx, ty)


def _draw_shapes(shapes: list[dict], by_ref: dict, by_x: dict) -> None:
    for shape in shapes:
        xref = shape.get("xref", "x")
        yref = shape.get("yref", "y")
        ax = by_ref.get((xref.split()[0], yref.split()[0])) or by_x.get(xref.split()[0])
        if shape.get("type") != "line" or ax is None:
            continue
        line = shape.get("line") or {}
        ax.plot([shape.get("x0"), shape.get("x1")], [shape.get("y0"), shape.get("y1")],
                transform=_transform(ax, xref, yref),
                color=png_traces.to_color(line.get("color"), "#444444"),
                linestyle="--" if line.get("dash") in ("dash", "dot", "dashdot") else "-",
                linewidth=1.2, label="_nolegend_")


def _draw_free_annotations(canvas_fig: Figure, annotations: list[dict], panels: list[_Panel],
                           by_x: dict) -> None:
    titles = {p.title for p in panels}
    for ann in annotations:
        text = _plain(ann.get("text", ""))
        xref, yref = ann.get("xref", "x"), ann.get("yref", "y")
        align: dict[str, Any] = {"ha": _H_ALIGN.get(ann.get("xanchor", "auto"), "center"),
                 "va": _V_ALIGN.get(ann.get("yanchor", "auto"), "center"), "fontsize": 9}
        if xref == "paper" and yref == "paper":
            if text not in titles:
                canvas_fig.text(ann.get("x", 0.5), ann.get("y", 0.5), text, **align)
        elif (ax := by_x.get(xref.split()[0])) is not None:
            ax.text(ann.get("x", 0), ann.get("y", 0), text,
                    transform=_transform(ax, xref, yref), **align)
