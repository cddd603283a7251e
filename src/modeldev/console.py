"""Progress of Phase 1 and tuning on a console: the terminal, or a job's log file."""

from __future__ import annotations

import sys
import time

from modeldev.events import Event


class ProgressPrinter:
    """Per-framework (and per-epoch) progress on stderr."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.tty = sys.stderr.isatty()

    def __call__(self, event: Event) -> None:
        """Print one event."""
        kind = event["type"]
        if kind == "session_started":
            self.total = len(event["frameworks"])
            self._line(f"task: {event['task']} ({event['task_reason']}); split {event['sizes']}")
            for notice in event.get("notices", []):
                self._line(f"notice: {notice}")
        elif kind == "framework_started":
            self._line(f"[{self.done + 1}/{self.total}] {event['framework']} on "
                       f"{event['device']} ...")
        elif kind == "epoch" and self.tty:
            sys.stderr.write(f"\r    epoch {event['epoch']}/{event['epochs']} loss "
                             f"{event['loss']:.4f} val_loss {event['val_loss']:.4f}   ")
        elif kind in ("framework_finished", "framework_failed"):
            self.done += 1
            self._end_framework(event)

    def _end_framework(self, event: Event) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 70 + "\r")
        if event["type"] == "framework_failed":
            self._line(f"    FAILED: {event['error']}")
            return
        m = event["metrics"]
        shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("f1_score", "roc_auc", "rmse", "r2_score")
                          if m.get(k) is not None)
        self._line(f"    done in {event['seconds']:.1f}s: {shown}")

    @staticmethod
    def _line(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class TuneProgress:
    """Trials done/total, best so far and ETA on stderr."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, event: Event) -> None:
        """Print one event (progress lines at most twice a second off a terminal)."""
        if event["type"] == "session_started":
            note = f" ({event['note']})" if event.get("note") else ""
            print(f"tuning {event['framework']}: {event['total']} combinations in "
                  f"{event['tasks']} fits on {event['workers']} workers, {event['skipped']} "
                  f"already done{note}", file=sys.stderr, flush=True)
        elif event["type"] == "trial_finished":
            self._progress(event)

    def _progress(self, event: Event) -> None:
        done = event["done"] == event["total"]
        if not done and not self.tty and time.time() - self.last < 0.5:
            return
        self.last = time.time()
        eta = event.get("eta_seconds")
        best = event.get("best")
        text = (f"  {event['done']}/{event['total']} done, {event['failed']} failed, best "
                f"{'-' if best is None else f'{best:.4f}'}, ETA "
                f"{'-' if eta is None else f'{eta:.0f}s'}")
        end = "\n" if done or not self.tty else ""
        sys.stderr.write(("\r" if self.tty else "") + text + end)
        sys.stderr.flush()
