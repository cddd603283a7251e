"""Batch scoring: a file of new rows scored by a registered (or logged) model, in chunks.

`run_predict` checks the output path, opens the file (caps checked, rows counted, nothing
decoded), resolves and loads the model (signature checked, `tracking.trust`), checks the
file's columns against the model's signature before a row is scored, then reads, coerces,
scores and writes one chunk at a time: memory holds one chunk, whatever the file's size.
Labels are the model's own (a binary model's at its decision threshold); `proba` adds one
`probability_<class>` column per class. The Predict page and `modeldev predict` both call it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from modeldev.config import Limits, Settings
from modeldev.context import OUTPUTS_KEY, read_context
from modeldev.errors import InputError
from modeldev.serving.reading import Table, open_table
from modeldev.serving.schema import check_columns, coerce
from modeldev.serving.writing import Output, check_output
from modeldev.tracking.loaded import LoadedModel
from modeldev.tracking.registry import CHAMPION
from modeldev.tracking.tracker import Tracker

CHUNK_ROWS = 50_000
PREDICTION = "prediction"
PROBABILITY = "probability_"
Progress = Callable[[int, int], None]


@dataclass
class PredictRequest:
    """What to score with what: the model (a URI or `champion`), the file, the output."""

    model: str
    data: str | Path
    out: str | Path
    proba: bool = False
    keep: tuple[str, ...] = ()  # input columns copied beside the predictions (an id)
    chunk_rows: int = CHUNK_ROWS


@dataclass
class PredictResult:
    """What was scored, how fast, with which model, and where it went."""

    rows: int
    seconds: float
    output: Path
    model: LoadedModel
    ignored: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The `--json` object of `modeldev predict`."""
        version = self.model.version
        return {"rows": self.rows, "seconds": round(self.seconds, 3),
                "rows_per_second": self.rows / self.seconds if self.seconds > 0 else None,
                "output": str(self.output), "model_uri": self.model.uri,
                "registered_model": version.name if version else None,
                "model_version": version.version if version else None,
                "logged_model": f"models:/{self.model.model_id}" if self.model.model_id
                else None, "decision_threshold": self.model.threshold,
                "ignored_columns": self.ignored, "converted_columns": self.converted}


def champion_uri(tracker: Tracker, settings: Settings) -> str:
    """What `champion` means: the registered model the pipeline context names, else the one
    registered model that has a champion; InputError where there is none, or several."""
    outputs = read_context(settings.context_path).get(OUTPUTS_KEY) or {} \
        if settings.context_path else {}
    if outputs.get("registered_model"):
        return f"models:/{outputs['registered_model']}@{CHAMPION}"
    names = sorted({v.name for v in tracker.registered_versions() if CHAMPION in v.aliases})
    if len(names) == 1:
        return f"models:/{names[0]}@{CHAMPION}"
    if not names:
        raise InputError("There is no registered champion yet: a tuning registers the model "
                         "it carries forward, or run modeldev register --run RUN_ID.")
    raise InputError(f"Several registered models have a champion ({', '.join(names)}): name "
                     "one with --model models:/NAME@champion.")


def load_scoring_model(tracker: Tracker, settings: Settings, model: str) -> LoadedModel:
    """The model `model` names (`champion` or a URI), loaded once its signature checks."""
    text = str(model).strip()
    uri = champion_uri(tracker, settings) if text.lower() == CHAMPION else text
    return tracker.load_for_scoring(uri)


def run_predict(request: PredictRequest, settings: Settings,
                on_progress: Progress | None = None) -> PredictResult:
    """Score `request.data` with `request.model` into `request.out`, a chunk at a time."""
    started = time.perf_counter()
    out = check_output(request.out, Path(request.data).expanduser())
    table = open_table(request.data, settings.limits)
    model = load_scoring_model(Tracker(settings), settings, request.model)
    return score_table(model, table, out, request, settings.limits, on_progress, started)


def score_table(model: LoadedModel, table: Table, out: Path, request: PredictRequest,
                limits: Limits, on_progress: Progress | None = None,
                started: float | None = None) -> PredictResult:
    """Check `table` against `model`, then score it chunk by chunk into `out`."""
    started = time.perf_counter() if started is None else started
    where, keep = table.path.name, tuple(request.keep)
    check, wanted, text = _plan(model, table, keep, request.proba)
    converted: set[str] = set()
    done = 0
    with Output(out) as output:
        for chunk in table.chunks(wanted, text, max(1, request.chunk_rows), limits):
            output.write(score_chunk(model, chunk, keep, request.proba, where, done + 1,
                                     converted))
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, max(table.rows, done))
        if done == 0:  # lines, but none a row (blank ones): nothing to hand on
            raise InputError(f"Could not read {table.path}: it has a header but no rows.")
        path = output.commit()
    return PredictResult(done, time.perf_counter() - started, path, model, check.ignored,
                         sorted(converted))


def preview(model: LoadedModel, table: Table, rows: int, proba: bool,
            limits: Limits) -> pd.DataFrame:
    """The first `rows` rows of `table` scored (checked as a whole file would be)."""
    _, wanted, text = _plan(model, table, (), proba)
    first = next(iter(table.chunks(wanted, text, rows, limits)), None)
    if first is None:
        raise InputError(f"Could not read {table.path}: it has a header but no rows.")
    return score_chunk(model, first, (), proba, table.path.name, 1, set())


def _plan(model: LoadedModel, table: Table, keep: tuple[str, ...],
          proba: bool) -> tuple[Any, list[str], set[str]]:
    """The column check, the columns to read and the ones read as text; bad requests refused
    before anything is read."""
    where = table.path.name
    check = check_columns(table.columns, model.inputs, where, model.used_columns)
    unknown = [k for k in keep if k not in table.columns]
    if unknown:
        raise InputError(f"{where} has no column {', '.join(map(repr, unknown))} to keep.")
    if PREDICTION in keep:
        raise InputError(f"Cannot keep a column named {PREDICTION!r}: the output's own "
                         "predictions take that name.")
    if proba and model.task not in ("binary", "multiclass"):
        raise InputError("The model gives no class probabilities (it predicts numbers, or "
                         "modeldev did not log it): score without --proba.")
    text = {c.name for c in model.inputs if c.type == "string"} | set(keep)
    return check, list(dict.fromkeys([*check.used, *keep])), text


def score_chunk(model: LoadedModel, chunk: pd.DataFrame, keep: tuple[str, ...], proba: bool,
                where: str, first_row: int, converted: set[str]) -> pd.DataFrame:
    """One chunk's output: the kept columns, the prediction and (with `proba`) the class
    probabilities; the columns whose values were converted are added to `converted`."""
    rows, changed = coerce(chunk, model.inputs, where, first_row, model.used_columns)
    converted |= changed
    out = chunk[list(keep)].reset_index(drop=True) if keep else pd.DataFrame(
        index=range(len(chunk)))
    out[PREDICTION] = model.labels(rows)
    probabilities = model.probabilities(rows) if proba else None
    if probabilities is not None:
        for name in probabilities.columns:
            out[PROBABILITY + name] = probabilities[name].to_numpy()
    return out
