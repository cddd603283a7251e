"""Artifact folders of the workspace and their zip bundles (docs/architecture.md, "Reliability").

Every bundle is built by modeldev.artifacts.build_bundle from a server-side file list of one
folder (symlinks skipped, no path escape, size capped); the session bundle builds one zip per
folder and copies their members under a prefix into a single zip, capped as a whole.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from modeldev.artifacts import build_bundle, list_files, safe_name
from modeldev.config import Settings
from modeldev.errors import InputError
from modeldev.tracking.tracker import Tracker

KINDS = ("training", "tuning")


def folders(settings: Settings) -> list[dict[str, Any]]:
    """Run folders under artifacts/training and artifacts/tuning, newest first."""
    out = []
    for kind in KINDS:
        root = settings.artifacts_dir / kind
        if root.is_dir():
            out += [{"kind": kind, "name": p.name, "path": p} for p in root.iterdir()
                    if p.is_dir() and not p.is_symlink()]
    return sorted(out, key=lambda f: f["name"], reverse=True)


def files_table(folder: Path) -> pd.DataFrame:
    """The regular files of a folder: relative path, size and modification time."""
    rows = []
    for path in list_files(folder):
        st = path.lstat()
        rows.append({"file": path.relative_to(folder.resolve()).as_posix(),
                     "KiB": round(st.st_size / 1024, 1),
                     "modified": dt.datetime.fromtimestamp(st.st_mtime).strftime(
                         "%Y-%m-%d %H:%M:%S")})
    return pd.DataFrame(rows, columns=["file", "KiB", "modified"])


def size_of(roots: list[tuple[str, Path]]) -> int:
    """Total bytes of the files a bundle of `roots` would hold."""
    return sum(p.lstat().st_size for _, root in roots for p in list_files(root))


def check_cap(total: int, settings: Settings) -> str | None:
    """The refusal sentence when `total` bytes exceed the bundle cap, else None."""
    cap = settings.limits.max_bundle_mb * 2**20
    if total <= cap:
        return None
    return (f"The bundle would hold {total / 2**20:.1f} MiB, over the cap of "
            f"{settings.limits.max_bundle_mb} MiB; download the files separately or raise "
            "MODELDEV_MAX_BUNDLE_MB.")


def folder_bundle(folder: Path, settings: Settings) -> bytes:
    """The zip of one run folder, as bytes."""
    with tempfile.TemporaryDirectory(prefix="modeldev-bundle-") as tmp:
        dest = build_bundle(folder, Path(tmp) / "bundle.zip",
                            settings.limits.max_bundle_mb * 2**20)
        return dest.read_bytes()


def merged_bundle(roots: list[tuple[str, Path]], settings: Settings) -> bytes:
    """One zip holding each root's files under its prefix (each part built by build_bundle)."""
    cap = settings.limits.max_bundle_mb * 2**20
    problem = check_cap(size_of(roots), settings)
    if problem:
        raise InputError(problem)
    with tempfile.TemporaryDirectory(prefix="modeldev-bundle-") as tmp:
        out = Path(tmp) / "session.zip"
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dest:
            for i, (prefix, root) in enumerate(roots):
                part = build_bundle(root, Path(tmp) / f"part{i}.zip", cap)
                with zipfile.ZipFile(part) as src:
                    for info in src.infolist():
                        info_out = zipfile.ZipInfo(f"{prefix}/{info.filename}", info.date_time)
                        info_out.compress_type = zipfile.ZIP_DEFLATED
                        info_out.external_attr = info.external_attr
                        with src.open(info) as r, dest.open(info_out, "w",
                                                            force_zip64=True) as w:
                            while chunk := r.read(1 << 20):
                                w.write(chunk)
                part.unlink()
        return out.read_bytes()


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _local_path(uri: str | None) -> Path | None:
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return None  # a model on a tracking server: not on this machine
    path = Path(unquote(parsed.path))
    return path if path.is_dir() else None


def session_roots(folder: Path, settings: Settings, tracker: Tracker) -> list[tuple[str, Path]]:
    """Everything of a Phase 1 session: its folder, its models, its tunings and tuned models."""
    phase1_id = _json(folder / "manifest.json").get("parent_run_id")
    roots = [(f"phase1/{folder.name}", folder)]
    if not phase1_id:
        return roots
    for run in tracker.child_runs(phase1_id):
        for model_id in run.model_ids:
            path = _local_path(tracker.model_location(model_id))
            if path:
                roots.append((f"models/{safe_name(run.name or model_id)}", path))
    for tuning in folders(settings):
        spec = _json(tuning["path"] / "tuning_spec.json")
        if tuning["kind"] != "tuning" or spec.get("training_run_id") != phase1_id:
            continue
        roots.append((f"tuning/{tuning['name']}", tuning["path"]))
        info = _json(tuning["path"] / "tuned_model_info.json")
        path = _local_path(info.get("model_uri"))
        if path:
            roots.append((f"models/tuned_{safe_name(tuning['name'])}", path))
    return roots
