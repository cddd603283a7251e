"""A session's files on this machine: its own folder when it is here, else the run's logged
artifacts fetched from MLflow into the workspace's cache.

Phase 1 and tuning write their files into a local folder and log that folder to their parent
run; the run's `artifacts_dir` tag names the folder. On another machine (a team sharing one
tracking server) that folder does not exist, so the logged copy is downloaded once into
`<artifacts_dir>/cache/<run id>_<end time>/` and read from there: the local folder stays a cache
of what MLflow holds. A run that is still running has logged nothing final, so it has no folder
anywhere else than where it runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from modeldev.tracking import tags as T
from modeldev.tracking.records import RunRecord
from modeldev.tracking.support import checked_run_id
from modeldev.tracking.tracker import Tracker

CACHE_SUBDIR = "cache"
DATA_DIR = "data"  # a session's data file, logged with it to a tracking server
ENDED = ("FINISHED", "FAILED", "KILLED")


def local_folder(tags: dict[str, str]) -> Path | None:
    """The folder a run's `artifacts_dir` tag names, when it exists on this machine (the
    Tracker keeps that tag only where it lies under the workspace or the artifacts folder)."""
    folder = tags.get(T.ARTIFACTS_DIR, "")
    return Path(folder) if folder and Path(folder).is_dir() else None


def cache_folder(tracker: Tracker, run: RunRecord) -> Path:
    """Where the logged artifacts of an ended run are kept on this machine (named by its end
    time, so a resumed and finished-again run is fetched afresh)."""
    name = f"{checked_run_id(run.run_id)}_{int(run.end_time or 0)}"
    return tracker.settings.artifacts_dir / CACHE_SUBDIR / name


def session_folder(tracker: Tracker, run: RunRecord) -> Path | None:
    """The folder holding a run's session files: its own folder when it is on this machine,
    else its logged artifacts downloaded (once) from MLflow; None for a run still running
    elsewhere, whose files are not logged yet."""
    here = local_folder(run.tags)
    if here is not None:
        return here
    if run.status not in ENDED:
        return None
    target = cache_folder(tracker, run)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{run.run_id}_", dir=target.parent))
    try:
        tracker.download_artifacts(run.run_id, partial)
        os.replace(partial, target)  # readers never see half a download
    except OSError:
        if not target.is_dir():  # another process finished the same download first: use it
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def run_folder(tracker: Tracker, run_id: str) -> Path | None:
    """`session_folder` of the run with this id."""
    return session_folder(tracker, tracker.get_run(run_id))
