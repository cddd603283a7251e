"""Loading tables: CSV, Parquet, built-in demos and the upstream pipeline context."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from modeldev.config import Limits
from modeldev.data import caps
from modeldev.data.isolated import parse_in_child
from modeldev.data.parsing import parse_file
from modeldev.data.paths import confine, read_small_file
from modeldev.errors import InputError

DEMOS = {
    "breast_cancer": ("load_breast_cancer", "binary"),
    "wine": ("load_wine", "multiclass"),
    "diabetes": ("load_diabetes", "regression"),
}


@dataclass
class Source:
    """A loaded table, the target it names (if any) and where it came from."""

    frame: pd.DataFrame
    name: str
    target: str | None = None
    origin: str = ""
    feature_names: list[str] | None = None
    recommended_algorithms: list[str] = field(default_factory=list)


def demo_names() -> list[str]:
    """Names of the built-in demo datasets."""
    return sorted(DEMOS)


def load_demo(name: str) -> Source:
    """Load a demo dataset that scikit-learn ships, with `target` as its target column."""
    if name not in DEMOS:
        raise InputError(f"Unknown demo '{name}'; available demos are: {', '.join(demo_names())}.")
    from sklearn import datasets

    bunch = getattr(datasets, DEMOS[name][0])(as_frame=True)
    frame = bunch.frame.copy()
    if name != "diabetes":  # class labels read better as their names
        frame["target"] = bunch.target_names[bunch.target.to_numpy()]
    return Source(frame=frame, name=name, target="target", origin=f"demo:{name}")


def load_table(path: str | Path, limits: Limits | None = None) -> Source:
    """Read a CSV or Parquet file, refusing unreadable or empty files with the reason.

    With `limits`, the row, column and decoded-size caps are checked before the table is read
    (`data.caps`), and with `limits.isolate` the parse runs in a memory-limited child process
    (`data.isolated`). Nested Parquet columns and over-long CSV headers are always refused.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        reason = "not a regular file" if p.exists() else "no such file"
        raise InputError(f"Could not read {p}: {reason}.")
    suffix = p.suffix.lower()
    caps_of = limits or Limits()
    shape: caps.Shape | None
    if suffix in (".parquet", ".pq"):
        kind, sep = "parquet", ""
        shape = caps.parquet_shape(p, caps_of)
    elif suffix in (".csv", ".txt", ".tsv"):
        kind, sep = "csv", "\t" if suffix == ".tsv" else ","
        header = csv_header(p, sep, caps_of)
        shape = caps.csv_shape(p, sep, len(header), caps_of) if limits is not None else None
    else:
        raise InputError(f"Could not read {p}: expected a .csv or .parquet file, got '{suffix}'.")
    if limits is not None and shape is not None:
        caps.check(p, shape, limits)
    if limits is not None and limits.isolate:
        frame = parse_in_child(p, kind, sep, limits)
    else:
        frame = parse_file(p, kind, sep)
    refuse_duplicate_columns(frame.columns, p)
    if frame.shape[1] == 0:
        raise InputError(f"Could not read {p}: it has no columns.")
    if len(frame) == 0:
        raise InputError(f"Could not read {p}: it has a header but no rows.")
    return Source(frame=frame, name=p.stem, origin=str(p.resolve()))


def csv_header(p: Path, sep: str, limits: Limits) -> list[str]:
    """The CSV's column names (bounded read), after refusing empty and binary files."""
    with p.open("rb") as fh:
        head = fh.read(8192)
    if not head.strip():
        raise InputError(f"Could not read {p}: the file is empty.")
    if b"\x00" in head:
        raise InputError(f"Could not read {p}: it is not a text CSV file (binary content).")
    header = caps.csv_header(p, sep, limits)
    refuse_duplicate_columns(pd.Index(header), p)
    return header


def refuse_duplicate_columns(columns: pd.Index, p: Path | str) -> None:
    """Refuse a table whose columns repeat a name, naming the repeated ones."""
    dupes = sorted({str(c) for c in columns[columns.duplicated()]})
    if dupes:
        raise InputError(f"Could not use {p}: duplicate column names {', '.join(dupes)}.")


def _context_data_file(p: Path, outputs: dict) -> Path:
    """The feature file a context names (a relative path is relative to the context file)."""
    data_file = Path(str(outputs.get("feature_data_path") or ""))
    return data_file if data_file.is_absolute() else p.parent / data_file


def load_context(path: str | Path, limits: Limits | None = None,
                 copies: Path | None = None, roots: Sequence[str | Path] | None = None) -> Source:
    """Load the feature table that `pipeline_context.json` names in `epoch_004_outputs`
    (from `copies`, a folder holding a logged copy of it, when it is not where it names).

    The context file is read only as a small regular file; with `roots`, the feature file it
    names must lie under one of them (a browser user's context, `data.paths.confine`).
    """
    p = Path(path).expanduser()
    try:
        ctx = json.loads(read_small_file(p, what="pipeline context"))
    except ValueError as exc:
        raise InputError(f"Could not read pipeline context {p}: {exc}.") from None
    if not isinstance(ctx, dict):
        raise InputError(f"Could not read pipeline context {p}: it is not a JSON object.")
    outputs = ctx.get("epoch_004_outputs") or {}
    outputs = outputs if isinstance(outputs, dict) else {}
    data_path = outputs.get("feature_data_path")
    target = outputs.get("target_variable")
    if not data_path or not target:
        raise InputError(
            f"Pipeline context {p} lacks epoch_004_outputs.feature_data_path or .target_variable."
        )
    data_file = _context_data_file(p, outputs)
    if roots is not None:
        data_file = confine(data_file, roots)
    if not data_file.is_file() and copies is not None and (copies / data_file.name).is_file():
        data_file = copies / data_file.name
    src = load_table(data_file, limits)
    features = outputs.get("feature_names")
    if features:
        missing = [f for f in features if f not in src.frame.columns]
        if missing:
            raise InputError(f"Features named in {p} are not in the data: {', '.join(missing)}.")
        src.frame = src.frame[[*features, target]] if target not in features else src.frame
    recommended = (ctx.get("epoch_001") or {}).get("recommended_algorithms") or []
    src.target, src.feature_names = target, features
    src.recommended_algorithms = [str(a) for a in recommended]
    src.origin = f"context:{p.resolve()}"
    return src


def dataset_hash(frame: pd.DataFrame) -> str:
    """A short content hash of a table (values and column names)."""
    h = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update("\x1f".join(map(str, frame.columns)).encode())
    return h.hexdigest()[:16]


def load_source(data: str | None = None, demo: str | None = None, context: str | None = None,
                target: str | None = None, limits: Limits | None = None) -> Source:
    """The table named by one of a file (`data`, with `target`), a demo or a context (capped)."""
    if data:
        if not target:
            raise InputError("--target is required with --data.")
        src = load_table(data, limits)
        src.target = target
        return src
    if demo:
        return load_demo(demo)
    if context:
        return load_context(context, limits)
    raise InputError("Name the data: one of --data FILE, --demo NAME or --context FILE.")


def reload_source(origin: str, expected_hash: str, copies: Path | None = None,
                  limits: Limits | None = None) -> Source:
    """Load a table again from where a session got it, refusing if it has changed since
    (with `limits`: capped, and parsed in a child where they say so).

    `copies` is a folder that may hold the session's own copies of its files (`source_files`,
    logged with it to a tracking server): each is read there when it is not at its origin on
    this machine (a data file; a context file and the feature file it names).
    """
    if origin.startswith("demo:"):
        src = load_demo(origin.removeprefix("demo:"))
    elif origin.startswith("context:"):
        src = load_context(_here_or_copy(Path(origin.removeprefix("context:")), copies),
                           limits, copies=copies)
        src.origin = origin
    else:
        src = load_table(_here_or_copy(Path(origin), copies), limits)
        src.origin = src.origin if Path(origin).is_file() else origin
    if dataset_hash(src.frame) != expected_hash:
        raise InputError(f"The data at {origin} changed since the Phase 1 session "
                         "(its hash differs); train again before tuning.")
    return src


def source_again(given: Source | None, origin: str | None, expected_hash: str, what: str,
                 copies: Path | None = None) -> Source:
    """A session's data for its resume: `given` (hash-checked), else reloaded from `origin`."""
    if given is None:
        if not origin:
            raise InputError(f"This {what} used an in-memory table: pass the same data again "
                             "to resume it.")
        return reload_source(origin, expected_hash, copies)
    if expected_hash and dataset_hash(given.frame) != expected_hash:
        raise InputError(f"The data given differs from the data this {what} started with "
                         "(its hash differs).")
    return given


def _here_or_copy(path: Path, copies: Path | None) -> Path:
    """`path` when it is on this machine, else its copy in `copies` when there is one."""
    if path.is_file() or copies is None or not (copies / path.name).is_file():
        return path
    return copies / path.name


def source_files(origin: str) -> list[Path]:
    """The files on this machine a table was read from, as `reload_source(origin, ...,
    copies)` looks for them in `copies`: the data file, or a context and its feature file."""
    if origin.startswith("demo:"):
        return []
    if origin.startswith("context:"):
        ctx = Path(origin.removeprefix("context:"))
        try:
            outputs = json.loads(read_small_file(ctx)).get("epoch_004_outputs") or {}
        except (InputError, ValueError, AttributeError):
            return []
        found = [ctx, _context_data_file(ctx, outputs)]
    else:
        found = [Path(origin)]
    return [p for p in found if p.is_file()]
