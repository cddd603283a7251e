"""Loading tables: CSV, Parquet, built-in demos and the upstream pipeline context."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from modeldev.config import Limits
from modeldev.errors import InputError

_SCAN_CHUNK = 1 << 20
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

    With `limits`, the row and column caps are checked before the table is read: from the
    Parquet footer, or from a CSV's header and a newline count that stops past the cap.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"Could not read {p}: no such file.")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        if limits is not None:
            _check_caps(p, *_parquet_shape(p), limits)
        frame = _read_parquet(p)
    elif suffix in (".csv", ".txt", ".tsv"):
        frame = _read_csv(p, "\t" if suffix == ".tsv" else ",", limits)
    else:
        raise InputError(f"Could not read {p}: expected a .csv or .parquet file, got '{suffix}'.")
    _refuse_duplicate_columns(frame.columns, p)
    if frame.shape[1] == 0:
        raise InputError(f"Could not read {p}: it has no columns.")
    if len(frame) == 0:
        raise InputError(f"Could not read {p}: it has a header but no rows.")
    return Source(frame=frame, name=p.stem, origin=str(p.resolve()))


def _check_caps(p: Path, rows: int | None, columns: int, limits: Limits) -> None:
    """Refuse a table over the caps before it is read (rows None: more than the cap)."""
    if columns > limits.max_columns:
        raise InputError(f"Too many columns: {p.name} has {columns:,} columns, the limit is "
                         f"{limits.max_columns:,}.")
    if rows is None or rows > limits.max_rows:
        count = f"more than {limits.max_rows:,}" if rows is None else f"{rows:,}"
        raise InputError(f"Too many rows: {p.name} has {count} rows, the limit is "
                         f"{limits.max_rows:,}.")


def _parquet_shape(p: Path) -> tuple[int, int]:
    """Rows and columns from the Parquet footer alone (a pandas index column not counted)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(p).metadata
        schema = meta.schema.to_arrow_schema()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Could not read {p}: {reason}.") from None
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}") or b"{}")
    index = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}
    return meta.num_rows, len([n for n in schema.names if n not in index])


def _csv_rows(p: Path, cap: int, sep: str) -> int | None:
    """A CSV's data rows, or None past `cap`: a bounded scan that stops there, no table built.

    Newlines are counted in 1 MiB chunks; only where that count passes the cap and the file
    quotes fields (a quoted field may hold newlines) are records counted by the csv module.
    """
    lines, quoted, last = 0, False, b"\n"
    with p.open("rb") as fh:
        while lines <= cap + 1 and (chunk := fh.read(_SCAN_CHUNK)):
            lines += chunk.count(b"\n")
            quoted = quoted or b'"' in chunk
            last = chunk[-1:]
    rows = lines - 1 + (last != b"\n")  # the header is no row; a last line may lack its newline
    if rows > cap and quoted:
        with p.open(newline="", encoding="utf-8", errors="replace") as text:
            records = csv.reader(text, delimiter=sep)
            rows = sum(1 for _ in itertools.islice(records, cap + 2)) - 1
    return None if rows > cap else rows


def _csv_header(p: Path, sep: str) -> list[str]:
    """The column names of the CSV's first record (read whole, however long)."""
    try:
        with p.open(newline="", encoding="utf-8-sig", errors="replace") as text:
            return [h.strip() for h in next(csv.reader(text, delimiter=sep))]
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"Could not read {p}: {exc}.") from None


def _read_csv(p: Path, sep: str, limits: Limits | None = None) -> pd.DataFrame:
    head = p.open("rb").read(8192)
    if not head.strip():
        raise InputError(f"Could not read {p}: the file is empty.")
    if b"\x00" in head:
        raise InputError(f"Could not read {p}: it is not a text CSV file (binary content).")
    header = _csv_header(p, sep)
    _refuse_duplicate_columns(pd.Index(header), p)
    if limits is not None:
        _check_caps(p, _csv_rows(p, limits.max_rows, sep), len(header), limits)
    try:
        return pd.read_csv(p, sep=sep, engine="pyarrow")
    except Exception:  # pyarrow is strict on ragged or oddly quoted files: retry with the C parser
        try:
            return pd.read_csv(p, sep=sep, low_memory=False)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"Could not read {p}: {reason}.") from None


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(p)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Could not read {p}: {reason}.") from None


def _refuse_duplicate_columns(columns: pd.Index, p: Path | str) -> None:
    dupes = sorted({str(c) for c in columns[columns.duplicated()]})
    if dupes:
        raise InputError(f"Could not use {p}: duplicate column names {', '.join(dupes)}.")


def _context_data_file(p: Path, outputs: dict) -> Path:
    """The feature file a context names (a relative path is relative to the context file)."""
    data_file = Path(outputs.get("feature_data_path") or "")
    return data_file if data_file.is_absolute() else p.parent / data_file


def load_context(path: str | Path, limits: Limits | None = None,
                 copies: Path | None = None) -> Source:
    """Load the feature table that `pipeline_context.json` names in `epoch_004_outputs`
    (from `copies`, a folder holding a logged copy of it, when it is not where it names)."""
    p = Path(path).expanduser()
    try:
        ctx = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"Could not read pipeline context {p}: {exc}.") from None
    outputs = ctx.get("epoch_004_outputs") or {}
    data_path = outputs.get("feature_data_path")
    target = outputs.get("target_variable")
    if not data_path or not target:
        raise InputError(
            f"Pipeline context {p} lacks epoch_004_outputs.feature_data_path or .target_variable."
        )
    data_file = _context_data_file(p, outputs)
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


def reload_source(origin: str, expected_hash: str, copies: Path | None = None) -> Source:
    """Load a table again from where a session got it, refusing if it has changed since.

    `copies` is a folder that may hold the session's own copies of its files (`source_files`,
    logged with it to a tracking server): each is read there when it is not at its origin on
    this machine (a data file; a context file and the feature file it names).
    """
    if origin.startswith("demo:"):
        src = load_demo(origin.removeprefix("demo:"))
    elif origin.startswith("context:"):
        src = load_context(_here_or_copy(Path(origin.removeprefix("context:")), copies),
                           copies=copies)
        src.origin = origin
    else:
        src = load_table(_here_or_copy(Path(origin), copies))
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
            outputs = json.loads(ctx.read_text()).get("epoch_004_outputs") or {}
        except (OSError, ValueError, AttributeError):
            return []
        found = [ctx, _context_data_file(ctx, outputs)]
    else:
        found = [Path(origin)]
    return [p for p in found if p.is_file()]
