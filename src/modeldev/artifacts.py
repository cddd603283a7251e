"""Dual storage on disk: unique run folders, atomic JSON/CSV writers and safe zip bundles."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import secrets
import stat
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldev.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A cell that is exactly a negative decimal is a number to a spreadsheet, never a formula.
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?([eE][-+]?\d+)?")
_CHUNK = 1 << 20


def safe_name(text: str, max_len: int = 60) -> str:
    """A file-name-safe slug of `text` (letters, digits, `_-`), never empty."""
    slug = _UNSAFE.sub("-", str(text)).strip("-_")[:max_len]
    return slug or "run"


def new_run_dir(root: Path, kind: str, label: str) -> Path:
    """Create and return root/kind/<UTC timestamp>_<label>_<6 hex>, unique per call."""
    parent = Path(root) / safe_name(kind)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = parent / f"{stamp}_{safe_name(label)}_{secrets.token_hex(3)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file and os.replace: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """UTF-8 text variant of `atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values: NaN/inf become None; numpy, Path, datetime and pandas NA converted."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {_json_key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    raise TypeError(f"Cannot write a {type(obj).__name__} value as JSON.")


def _json_key(key: Any) -> str:
    value = to_jsonable(key)
    return value if isinstance(value, str) else json.dumps(value)


def write_json(path: Path, obj: Any) -> Path:
    """Write `obj` as indented JSON atomically (NaN/inf as null, numpy and Paths converted)."""
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def escape_cell(value: Any) -> Any:
    """Prefix a single quote to formula-like text so spreadsheets show it as text."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _NEGATIVE_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose formula-like text cells and column names are escaped."""
    out = frame.copy()
    out.columns = [escape_cell(str(c)) for c in out.columns]
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        out.isetitem(i, column.astype(object).map(escape_cell))
    return out


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write `frame` (without its index) as CSV atomically, escaping formula-like text cells."""
    return atomic_write_text(path, escape_frame(frame).to_csv(index=False))


def list_files(folder: Path) -> list[Path]:
    """Regular files under `folder` (sorted), skipping symlinks and anything resolving outside."""
    root = Path(folder).resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in filenames:
            path = Path(dirpath) / name
            if _is_regular_inside(path, root):
                found.append(path)
    return sorted(found)


def _is_regular_inside(path: Path, root: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and path.resolve().is_relative_to(root)


def build_bundle(
    folder: Path,
    dest: Path,
    max_bytes: int,
    include: Callable[[Path], bool] | None = None,
) -> Path:
    """Zip the regular files of `folder` into `dest`; `include` gets each path relative to folder.

    Symlinks and paths resolving outside `folder` are skipped; a total over `max_bytes` is refused
    with an InputError before anything is written.
    """
    return build_zip([("", Path(folder))], dest, max_bytes, include)


def build_zip(roots: list[tuple[str, Path]], dest: Path, max_bytes: int,
              include: Callable[[Path], bool] | None = None) -> Path:
    """One zip of several folders, each one's files under its prefix ("" for none), streamed
    file by file from disk into `dest` (never whole in memory, no intermediate zips).

    As `build_bundle`: symlinks and paths resolving outside a folder skipped, `dest` itself
    left out, a total over `max_bytes` refused before anything is written.
    """
    dest = Path(dest)
    dest_resolved = dest.resolve()
    members = []
    for prefix, folder in roots:
        root = Path(folder).resolve()
        for path in list_files(root):
            rel = path.relative_to(root)
            if path != dest_resolved and (include is None or include(rel)):
                members.append((path, f"{prefix}/{rel.as_posix()}" if prefix else rel.as_posix()))
    total = sum(path.lstat().st_size for path, _ in members)
    _check_size(total, max_bytes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            written = 0
            for path, arcname in members:
                written += _add_member(zf, path, arcname)
                _check_size(written, max_bytes)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _check_size(total: int, max_bytes: int) -> None:
    if total > max_bytes:
        raise InputError(
            f"The bundle would hold {_human(total)} ({total} bytes), over the cap of "
            f"{_human(max_bytes)} ({max_bytes} bytes); download the files separately or "
            f"raise MODELDEV_MAX_BUNDLE_MB."
        )


def _human(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def _add_member(zf: zipfile.ZipFile, path: Path, arcname: str) -> int:
    """Copy one file into the zip, opened without following links; returns the bytes copied."""
    # O_NOFOLLOW closes the gap between listing a file and reading it (a swap for a symlink).
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # vanished or became a symlink since it was listed
        return 0
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            return 0
        when = dt.datetime.fromtimestamp(max(info.st_mtime, 315532800))  # zip dates start in 1980
        member = zipfile.ZipInfo(arcname, date_time=when.timetuple()[:6])
        member.compress_type = zipfile.ZIP_DEFLATED
        member.external_attr = (stat.S_IFREG | stat.S_IMODE(info.st_mode)) << 16
        copied = 0
        with zf.open(member, "w", force_zip64=True) as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                copied += len(chunk)
    return copied
