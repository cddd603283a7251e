"""Progress of Phase 1 and tuning on a console: the CLI's terminal, or a job's log file.

One implementation for both: on a terminal a progress bar (rich) with the count, the best so far
and an ETA, with one line per finished framework above it; anywhere else (a pipe, a job's
`job.log`) plain lines, at most one progress line every few seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Self, TextIO

from modeldev.data.split import scheme_text
from modeldev.evaluation.metrics import default_primary_metric, is_better
from modeldev.events import Event

LINE_INTERVAL_S = 5.0  # off a terminal: at most one progress line this often
_SHOWN = ("f1_score", "roc_auc", "rmse", "r2_score")


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `1h02m`, or `-` when unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _width(stream: TextIO) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None


class _Display:
    """A stream to report on: a rich progress bar there on a terminal, plain lines elsewhere."""

    def __init__(self, stream: TextIO | None, interactive: bool | None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = is_terminal(self.stream) if interactive is None else interactive
        self._bar: Any = None
        self._task: Any = None
        self._last_line = float("-inf")

    def line(self, text: str) -> None:
        """Print one line (above the bar while one shows)."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, emoji=False)
        else:
            print(text, file=self.stream, flush=True)

    def due(self, final: bool = False) -> bool:
        """Whether a periodic progress line is due now (the final one always is)."""
        now = time.monotonic()
        if final or now - self._last_line >= LINE_INTERVAL_S:
            self._last_line = now
            return True
        return False

    def start_bar(self, description: str, total: int, completed: int = 0) -> None:
        """Show a progress bar (on a terminal only) until close()."""
        if not self.tty or self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream, width=_width(self.stream), force_terminal=True,
                          highlight=False)
        self._bar = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=console, transient=True, redirect_stdout=False, redirect_stderr=False,
            refresh_per_second=4)
        self._task = self._bar.add_task(description, total=total, completed=completed,
                                        status="")
        self._bar.start()

    def update_bar(self, **fields: Any) -> None:
        """Update the bar's description, completed count or status text (if one shows)."""
        if self._bar is not None:
            self._bar.update(self._task, **fields)

    def close(self) -> None:
        """Take the bar off the terminal (safe to call more than once)."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProgressPrinter(_Display):
    """Phase 1: a line per finished framework; a bar with the current one, best and ETA."""

    def __init__(self, stream: TextIO | None = None, primary_metric: str | None = None,
                 interactive: bool | None = None) -> None:
        super().__init__(stream, interactive)
        self.primary_metric = primary_metric
        self.metric = primary_metric or "f1_score"
        self.total = 0
        self.done = 0
        self.begun = 0
        self.best: tuple[float, str] | None = None
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        """Show one event."""
        kind = event["type"]
        if kind == "session_started":
            self._start(event)
        elif kind == "framework_started":
            where = f"{event['framework']} on {event.get('device', 'cpu')}"
            self.begun += 1  # frameworks fit side by side: count starts, not finishes
            if self.tty:
                self.update_bar(description=where)
            else:
                self.line(f"[{self.begun}/{self.total}] {where} ...")
        elif kind == "epoch":
            text = (f"epoch {event['epoch']}/{event['epochs']} loss {event['loss']:.4f} "
                    f"val_loss {event['val_loss']:.4f}")
            if self.tty:
                self.update_bar(description=f"{event.get('framework', '')} {text}")
            elif self.due():
                self.line(f"    {text}")
        elif kind in ("framework_finished", "framework_failed"):
            self.done += 1
            self._finished(event)
        elif kind == "notice":
            self.line(f"notice: {event.get('message', '')}")
        elif kind == "session_finished":
            self.close()

    def _start(self, event: Event) -> None:
        self.total, self.done, self.begun, self.best = len(event["frameworks"]), 0, 0, None
        self.started = time.monotonic()
        self.metric = self.primary_metric or default_primary_metric(event["task"])
        self.line(f"task: {event['task']} ({event['task_reason']}); "
                  f"{evaluation_text(event.get('sizes') or {})}")
        for notice in event.get("notices", []):
            self.line(f"notice: {notice}")
        self.start_bar("Phase 1", self.total)

    def _finished(self, event: Event) -> None:
        name = event["framework"]
        prefix = f"[{self.done}/{self.total}] {name}: " if self.tty else f"    {name}: "
        if event["type"] == "framework_failed":
            self.line(f"{prefix}FAILED: {event['error']}")
        else:
            m = event.get("metrics") or {}
            value = m.get(self.metric)
            if value is not None and is_better(value, self.best[0] if self.best else None,
                                               self.metric):
                self.best = (value, name)
            shown = ", ".join(f"{k}={m[k]:.4g}" for k in _SHOWN if m.get(k) is not None)
            self.line(f"{prefix}done in {event.get('seconds', 0.0):.1f}s: {shown}")
            if event.get("warning"):
                self.line(f"    warning: {name} {event['warning']}")
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        best = f"best {self.metric} {self.best[0]:.4f} ({self.best[1]})" if self.best else ""
        self.update_bar(completed=self.done, status=f"{best} ETA {duration(eta)}".strip())


def evaluation_text(sizes: dict[str, Any]) -> str:
    """'2 x 5-fold cross-validation (128 train / 32 validation rows per fold), 40 test rows',
    or the holdout split's parts."""
    if not sizes.get("folds"):
        return (f"one holdout split: train {sizes.get('train')}, validation "
                f"{sizes.get('validation')}, test {sizes.get('test')}")
    scheme = scheme_text(sizes["folds"], sizes.get("repeats") or 1)
    return (f"{scheme} ({sizes.get('train')} train / "
            f"{sizes.get('validation')} validation rows per fold), {sizes.get('test')} test rows")


class TuneProgress(_Display):
    """Tuning: trials done/total, failures, the best so far and the ETA."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        super().__init__(stream, interactive)
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        """Show one event (off a terminal, a progress line every LINE_INTERVAL_S at most)."""
        kind = event["type"]
        if kind == "session_started":
            self.started = time.monotonic()
            note = f" ({event['note']})" if event.get("note") else ""
            kept = f" ({event['kept']} logged from the results file)" if event.get("kept") else ""
            folds, repeats = event.get("cv_folds") or 0, event.get("repeats") or 1
            on = (f" over {repeats} x {folds} folds" if folds and repeats > 1 else
                  f" over {folds} folds" if folds else " on one holdout split")
            self.line(f"tuning {event['framework']}: {event['total']} combinations in "
                      f"{event['tasks']} fits{on}, {event['workers']} workers, "
                      f"{event['skipped']} already done{kept}{note}")
            self.start_bar(f"tuning {event['framework']}", event["total"], event["skipped"])
        elif kind == "trial_finished":
            self._progress(event)
        elif kind == "session_finished":
            self.close()

    def _progress(self, event: Event) -> None:
        final = event["done"] == event["total"]
        best = event.get("best")
        shown = "-" if best is None else f"{best:.4f}"
        eta = duration(event.get("eta_seconds"))
        if self.tty:
            self.update_bar(completed=event["done"],
                            status=f"{event['failed']} failed, best {shown}, ETA {eta}")
            if final:
                self.close()
                self.line(f"  {event['done']}/{event['total']} done, {event['failed']} failed, "
                          f"best {shown}, in {duration(time.monotonic() - self.started)}")
        elif self.due(final):
            self.line(f"  {event['done']}/{event['total']} done, {event['failed']} failed, best "
                      f"{shown}, ETA {eta}")


class PredictProgress(_Display):
    """Batch scoring: rows scored of the file's rows (a line every few seconds off a terminal)."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        super().__init__(stream, interactive)
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Show `done` of `total` rows scored."""
        rate = done / max(time.monotonic() - self.started, 1e-9)
        if self.tty:
            self.start_bar("scoring", total)
            self.update_bar(completed=done, total=total, status=f"{rate:,.0f} rows/s")
        elif self.due(done >= total):
            self.line(f"  {done:,}/{total:,} rows scored, {rate:,.0f} rows/s")
