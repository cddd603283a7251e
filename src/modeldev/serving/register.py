"""The registered champion: a run's carried model registered, its serving card measured and
written, and the pipeline context told.

`register_run` serves a tuning as it ends (`tuning.finish`) and any finished Phase 1 or tuning
run on demand (`modeldev register`, the Tuning page's button). The model's files are fetched
and their signature checked before anything is registered: a model this installation did not
sign never becomes the champion unless the server is trusted.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldev.artifacts import new_run_dir, write_json
from modeldev.config import Settings
from modeldev.context import OUTPUTS_KEY, read_context, update_context
from modeldev.serving.card import CARD_FILE, build_card, measure
from modeldev.serving.carried import carried_model
from modeldev.tracking import tags as T
from modeldev.tracking.folders import local_folder
from modeldev.tracking.records import VersionRecord
from modeldev.tracking.registry import CHAMPION, default_name, registered_name
from modeldev.tracking.tracker import Tracker


@dataclass(frozen=True)
class Registration:
    """A registered version, its serving card and where the card was written."""

    version: VersionRecord
    card: dict[str, Any]
    card_path: Path

    @property
    def champion_uri(self) -> str:
        """`models:/NAME@champion`."""
        return f"models:/{self.version.name}@{CHAMPION}"

    def context_keys(self) -> dict[str, Any]:
        """What `epoch_005_outputs` says of the registered champion."""
        return {"registered_model": self.version.name, "model_version": self.version.version,
                "model_uri": self.champion_uri, "serving_card": str(self.card_path),
                "serving_card_uri": f"runs:/{self.card['model']['card_run_id']}/{CARD_FILE}"}

    def summary(self) -> dict[str, Any]:
        """The `--json` object of `modeldev register`."""
        return {"registered_model": self.version.name, "model_version": self.version.version,
                "model_uri": self.champion_uri, "aliases": list(self.version.aliases),
                "logged_model": f"models:/{self.version.model_id}",
                "tags": dict(self.version.tags), "serving_card": str(self.card_path),
                "serve_command": self.card["serve"]["command"],
                "measured": self.card["measured"]}


def name_for(tracker: Tracker, experiment_id: str, name: str | None) -> str:
    """The registered name: `name` checked, else the experiment's name made URI-safe."""
    if name:
        return registered_name(name)
    return default_name(tracker.experiment_name(experiment_id))


def register_run(tracker: Tracker, settings: Settings, run_id: str, name: str | None = None,
                 folder: Path | None = None, running_ok: bool = False) -> Registration:
    """Register what run `run_id` carries under `name` (default: its experiment's), move
    `champion` to it, measure and write its serving card into `folder` (default: the run's own
    folder here, else a new one) and log the card to the run."""
    carried = carried_model(tracker, run_id, running_ok)
    name = name_for(tracker, carried.run.experiment_id, name)
    with tempfile.TemporaryDirectory(prefix="modeldev-serving-") as tmp:
        files = tracker.fetch_model(carried.model_id, Path(tmp))  # refused unless trusted
        version = tracker.register_version(name, carried.model_id, carried.tags)
        card = build_card(version, files, tracker.settings.tracking_uri, measure(files))
    card["model"]["card_run_id"] = run_id
    where = folder or local_folder(tracker.get_run(run_id).tags) or \
        new_run_dir(settings.artifacts_dir, "serving", run_id[:8])
    path = write_json(Path(where) / CARD_FILE, card)
    tracker.log_artifact(run_id, path)
    tracker.tag_version(version, {T.SERVING_CARD: f"runs:/{run_id}/{CARD_FILE}"})
    tracker.set_tags(run_id, {T.REGISTERED: f"{version.name}/{version.version}"})
    done = Registration(version, card, path)
    if not running_ok:
        _tell_context(settings, run_id, done)
    return done


def _tell_context(settings: Settings, run_id: str, done: Registration) -> None:
    """A past tuning registered again: the context's outputs name the new version, where they
    describe that tuning (they describe a session, so another run's registration leaves them)."""
    if not settings.context_path or not Path(settings.context_path).is_file():
        return
    outputs = read_context(settings.context_path).get(OUTPUTS_KEY) or {}
    if outputs.get("tuning_parent_run_id") == run_id:
        update_context(settings.context_path, {OUTPUTS_KEY: done.context_keys()})
