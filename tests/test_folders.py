"""tracking.folders on a real SQLite store: a session's folder is its own when it is here, else
the run's logged artifacts, downloaded once into the workspace's cache."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from modeldev.config import Settings
from modeldev.tracking import tags as T
from modeldev.tracking.folders import CACHE_SUBDIR, cache_folder, run_folder, session_folder
from modeldev.tracking.tracker import Tracker


def _session(tracker: Tracker, settings: Settings) -> tuple[str, Path]:
    """A run that logged its folder (one JSON file and one in a subfolder) and names it."""
    folder = settings.artifacts_dir / "training" / "session"
    (folder / "data").mkdir(parents=True)
    (folder / "best_model_info.json").write_text(json.dumps({"model_name": "m"}))
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    run_id = tracker.start_run(tracker.experiment_id("folders"), "phase1_baselines")
    tracker.log_artifacts(run_id, folder)
    tracker.set_tags(run_id, {T.ARTIFACTS_DIR: str(folder)})
    return run_id, folder


def test_the_own_folder_is_used_while_it_is_here(settings):
    tracker = Tracker(settings)
    run_id, folder = _session(tracker, settings)
    assert run_folder(tracker, run_id) == folder  # running, but here
    tracker.end_run(run_id)
    assert run_folder(tracker, run_id) == folder
    assert not (settings.artifacts_dir / CACHE_SUBDIR).exists()  # nothing fetched


def test_elsewhere_the_logged_files_are_fetched_once_into_the_cache(settings):
    tracker = Tracker(settings)
    run_id, folder = _session(tracker, settings)
    shutil.rmtree(folder)  # as on another machine
    assert run_folder(tracker, run_id) is None  # still running: nothing final is logged yet
    tracker.end_run(run_id)
    run = tracker.get_run(run_id)
    got = session_folder(tracker, run)
    assert got == cache_folder(tracker, run) and got.parent.name == CACHE_SUBDIR
    assert json.loads((got / "best_model_info.json").read_text()) == {"model_name": "m"}
    assert (got / "data" / "table.csv").read_text() == "a,b\n1,2\n"
    (got / "marker").write_text("kept")
    assert session_folder(tracker, run) == got and (got / "marker").is_file()  # not fetched again
    assert [p.name for p in got.parent.iterdir()] == [got.name]  # no partial download left

    time.sleep(0.01)  # a resumed run that finished again is fetched afresh
    tracker.reopen_run(run_id)
    tracker.end_run(run_id)
    again = run_folder(tracker, run_id)
    assert again is not None and again != got and not (again / "marker").exists()
