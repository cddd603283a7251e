"""Files uploaded through the app, kept in `<workspace>/uploads/<sha256>/<name>.<ext>`.

A folder per content, named by its full SHA-256: the same bytes uploaded again reuse their file
(checked, not assumed), and nothing is ever overwritten with other content. The whole folder is
held under a quota (`MODELDEV_UPLOAD_QUOTA_MB`): uploads unused for `MODELDEV_UPLOAD_MAX_AGE_DAYS`
go first, then the least recently used, never one a queued or running job reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import filelock

from modeldev.artifacts import atomic_write_bytes, safe_name
from modeldev.config import Settings
from modeldev.errors import InputError

UPLOADS = "uploads"
TYPES = ("csv", "tsv", "txt", "parquet", "pq")
_DIGEST_CHARS = 64


def digest_of(data: bytes) -> str:
    """The full SHA-256 of an upload, the name of its folder."""
    return hashlib.sha256(data).hexdigest()


def upload_path(settings: Settings, digest: str, filename: str) -> Path:
    """Where an upload of this content and name is kept (its name made safe, its type known)."""
    stem, _, ext = filename.rpartition(".")
    ext = ext.lower() if ext.lower() in TYPES else "csv"
    return settings.workspace / UPLOADS / digest / f"{safe_name(stem or filename)}.{ext}"


def save_upload(data: bytes, filename: str, settings: Settings,
                digest: str | None = None, in_use: set[Path] | None = None) -> Path:
    """Keep an upload (hashed once by the caller where `digest` is given), making room under
    the quota first; `in_use`: files that must stay (the inputs of live jobs)."""
    digest = digest or digest_of(data)
    if len(digest) != _DIGEST_CHARS or not all(c in "0123456789abcdef" for c in digest):
        raise InputError("An upload's digest must be its full SHA-256 in hex.")
    path = upload_path(settings, digest, filename)
    root = settings.workspace / UPLOADS
    root.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(root / ".lock"), timeout=60):
        if path.is_file() and path.stat().st_size == len(data) and _sha256(path) == digest:
            os.utime(path.parent)  # used again: the age counts from now
            return path
        prune(settings, len(data), in_use or set())
        atomic_write_bytes(path, data)
        os.utime(path.parent)
    return path


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _folders(root: Path) -> list[tuple[float, int, Path]]:
    """(last use, bytes, folder) of every upload folder, least recently used first."""
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.is_dir() and not folder.is_symlink() and len(folder.name) == _DIGEST_CHARS:
            size = sum(f.lstat().st_size for f in folder.iterdir() if f.is_file())
            found.append((folder.stat().st_mtime, size, folder))
    return sorted(found)


def prune(settings: Settings, room: int, in_use: set[Path]) -> int:
    """Remove uploads past their age, then the least recently used until `room` more bytes fit
    under the quota; return how many went. Refused in one sentence when they cannot fit."""
    access = settings.access
    quota = access.upload_quota_mb * 2**20
    if room > quota:
        raise InputError(f"The upload holds {room / 2**20:,.1f} MiB, more than the "
                         f"{access.upload_quota_mb:,} MiB all uploads may hold "
                         "(MODELDEV_UPLOAD_QUOTA_MB).")
    busy = {p.resolve().parent for p in in_use}
    oldest = time.time() - access.upload_max_age_days * 86400
    folders = _folders(settings.workspace / UPLOADS)
    total, removed = sum(size for _, size, _ in folders), 0
    for used, size, folder in folders:
        if folder.resolve() in busy or (used >= oldest and total + room <= quota):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total, removed = total - size, removed + 1
    if total + room > quota:
        raise InputError(f"Uploads are full: {total / 2**20:,.1f} MiB of "
                         f"{access.upload_quota_mb:,} MiB are held by files that jobs are "
                         "reading now; try again when they end.")
    return removed
