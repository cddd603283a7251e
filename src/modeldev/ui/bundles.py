"""Artifact folders of the workspace and their zip bundles (docs/team.md, "Bundles").

A bundle is built by `modeldev.artifacts.build_zip` from a server-side file list (symlinks
skipped, no path escape, size capped), file by file, straight into a file on disk:
`<app folder>/static/bundles/<random token>/<name>.zip`. Streamlit's static route serves it from
there in chunks (a download button would hold it whole in the server's memory). The token is
the only way to its URL; bundles older than an hour go, and all of them together are held
under a quota.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from modeldev.artifacts import build_zip, list_files, safe_name
from modeldev.config import Settings
from modeldev.errors import InputError, ModeldevError
from modeldev.tracking.tracker import Tracker
from modeldev.ui import common
from modeldev.ui import state as S

KINDS = ("training", "tuning")
BUNDLES = "bundles"
BUNDLE_TTL_S = 3600.0
BUNDLE_QUOTA = 4  # bundles of the largest size all prepared bundles may add up to


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


def offer(key: str, what: str, roots: list[tuple[str, Path]], filename: str,
          settings: Settings) -> None:
    """A button that builds the bundle on disk, then the link that downloads it from there
    (or the one sentence saying why not)."""
    problem = check_cap(size_of(roots), settings)
    if problem:
        common.error(problem)
        return
    ready = st.session_state.setdefault(S.ART_READY, {})
    if st.button(f"Prepare {what} (.zip)", key=key, icon=":material/folder_zip:"):
        try:
            with st.spinner("Building the bundle ..."):
                ready[(key, filename)] = prepare(roots, filename, settings)
        except ModeldevError as exc:
            common.error(exc)
    if ready.get((key, filename)):
        st.link_button(f"Download {what} (.zip)", ready[(key, filename)],
                       icon=":material/download:")


def static_root() -> Path:
    """The folder Streamlit serves at `app/static/` (next to the app's main script)."""
    ctx = get_script_run_ctx()
    main = getattr(ctx, "main_script_path", None)
    return (Path(main).parent if main else Path.cwd()) / "static"


def prepare(roots: list[tuple[str, Path]], filename: str, settings: Settings,
            static: Path | None = None) -> str:
    """Build the zip of `roots` (each folder's files under its prefix) on disk, where the app
    serves it; return its URL, relative to the page."""
    cap = settings.limits.max_bundle_mb * 2**20
    path, url = download_slot(safe_file_name(filename), settings, static)
    try:
        build_zip(roots, path, cap)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return url


def download_slot(filename: str, settings: Settings,
                  static: Path | None = None) -> tuple[Path, str]:
    """Where to write a file the app then serves from disk (a new random folder under the
    static route, room made under the quota), and its URL relative to the page."""
    folder = (static or static_root()) / BUNDLES
    _make_room(folder, settings.limits.max_bundle_mb * 2**20)
    token = secrets.token_urlsafe(24)
    (folder / token).mkdir(parents=True)
    return folder / token / filename, f"app/static/{BUNDLES}/{token}/{filename}"


def safe_file_name(filename: str) -> str:
    """`name.zip` with the name made safe."""
    return f"{safe_name(filename.removesuffix('.zip'), 120)}.zip"


def _make_room(folder: Path, cap: int) -> None:
    """Remove bundles past their hour, then refuse when the rest leave no room for one more."""
    found = sorted((p.stat().st_mtime, p) for p in folder.glob("*/*") if p.is_file()) \
        if folder.is_dir() else []
    now, kept = time.time(), 0
    for mtime, path in found:
        if now - mtime > BUNDLE_TTL_S:
            shutil.rmtree(path.parent, ignore_errors=True)
        else:
            kept += path.stat().st_size
    if kept + cap > BUNDLE_QUOTA * cap:
        raise InputError("Too many bundles were prepared in the last hour; download the files "
                         "separately, or try again later.")


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
