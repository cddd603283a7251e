"""The Model Registry: versions of a registered model, the `champion` alias, and model URIs
resolved to the LoggedModel they name.

A mixin of `tracking.tracker.Tracker` (which sets `settings` and `_client`). Registering makes
a new version of a LoggedModel modeldev logged, tags it, moves the alias `champion` to it and
gives the version it leaves `previous_champion`. Every URI a user may give
(`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `runs:/RUN_ID/NAME`, `models:/m-...`) is
resolved to its LoggedModel first, so loading it checks that model's signature
(`tracking.trust`) like any other load; a URI that names nothing is bad input (one sentence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from modeldev.config import Settings
from modeldev.errors import InputError
from modeldev.tracking import models, trust
from modeldev.tracking.errors import mlflow_errors
from modeldev.tracking.loaded import LoadedModel
from modeldev.tracking.model_store import ModelStore
from modeldev.tracking.records import VersionRecord
from modeldev.tracking.support import TAG_MAX_CHARS, short

CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous_champion"
PAGE = 1000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_NAMED = re.compile(r"models:/([^/@]+)(?:@([A-Za-z0-9_\-]+)|/(\d+))/?")
_RUN = re.compile(r"runs:/([0-9a-f]{32})(?:/([A-Za-z0-9_.\-]+))?/?")
_ABSENT = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")
KNOWN_FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model or models:/m-..."


def registered_name(name: str) -> str:
    """`name` where a registered model may carry it (letters, digits, `_ . -`, up to 200, so
    that `models:/NAME@champion` stays a valid URI), else InputError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"{name!r} cannot name a registered model: use letters, digits and "
                         "_ . - (up to 200, starting with a letter or digit).")
    return name


def default_name(experiment: str) -> str:
    """The name an experiment's models are registered under by default: the experiment's own,
    with every character a model URI cannot carry made '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", experiment).strip("_.-")[:200]
    return cleaned or "modeldev_model"


@dataclass(frozen=True)
class ResolvedModel:
    """What a model URI names: its LoggedModel (None where the registry does not say) and, for
    a registered version, that version."""

    uri: str
    model_id: str | None
    version: VersionRecord | None = None


def _absent(exc: MlflowException) -> bool:
    return getattr(exc, "error_code", "") in _ABSENT


class RegistryStore(ModelStore):
    """Registering, listing and resolving registered models on the Tracker's store."""

    settings: Settings
    _client: MlflowClient

    def load_for_scoring(self, uri: str) -> LoadedModel:
        """The model `uri` names, loaded for scoring once its signature checks (a model this
        installation did not sign only where the server is trusted)."""
        resolved = self.resolve_model(uri)
        if resolved.model_id is not None:
            target = f"models:/{resolved.model_id}"
        else:  # a version registered from elsewhere: its own files, checked (and refused)
            target = resolved.version.uri if resolved.version else resolved.uri
        pyfunc = self.load_model(target)
        return LoadedModel(resolved.uri, resolved.model_id, resolved.version,
                           models.input_columns(pyfunc), pyfunc, models.fitted_of(pyfunc))

    @mlflow_errors("registering a model")
    def register_version(self, name: str, model_id: str, tags: dict[str, Any]) -> VersionRecord:
        """A new version of `name` for the LoggedModel `model_id`, tagged with `tags`; the alias
        `champion` moves to it and the version it leaves gets `previous_champion`."""
        name = registered_name(name)
        logged = self._client.get_logged_model(trust.checked_model_id(model_id))
        try:
            self._client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # the artifact location, not models:/m-...: SQLite's registry would look that id up
        # through MLflow's global tracking URI, which modeldev never sets
        made = self._client.create_model_version(
            name, logged.artifact_location, run_id=logged.source_run_id, model_id=model_id,
            tags={k: short(str(v), TAG_MAX_CHARS) for k, v in tags.items() if v is not None})
        before = self._aliases(name).get(CHAMPION)
        if before is not None and str(before) != str(made.version):
            self._client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(before))
        self._client.set_registered_model_alias(name, CHAMPION, str(made.version))
        return self._record(self._client.get_model_version(name, str(made.version)))

    @mlflow_errors("tagging a model version")
    def tag_version(self, version: VersionRecord, tags: dict[str, str]) -> None:
        """Set tags on a registered model version."""
        for key, value in tags.items():
            self._client.set_model_version_tag(version.name, version.version, key,
                                               short(value, TAG_MAX_CHARS))

    @mlflow_errors("listing registered models")
    def registered_versions(self) -> list[VersionRecord]:
        """Every version of every registered model, newest first, with its aliases."""
        aliases: dict[tuple[str, str], list[str]] = {}
        for model in self._pages(self._client.search_registered_models):
            for alias, version in (getattr(model, "aliases", None) or {}).items():
                aliases.setdefault((model.name, str(version)), []).append(alias)
        found = [self._record(v, aliases.get((v.name, str(v.version)), []))
                 for v in self._pages(self._client.search_model_versions)]
        return sorted(found, key=lambda v: v.created or 0, reverse=True)

    def _pages(self, search: Any) -> Iterator[Any]:
        token = None
        while True:
            page = search(max_results=PAGE, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def _aliases(self, name: str) -> dict[str, str]:
        return {a: str(v) for a, v in
                (self._client.get_registered_model(name).aliases or {}).items()}

    def _record(self, version: Any, aliases: list[str] | None = None) -> VersionRecord:
        model_id = getattr(version, "model_id", None) or trust.model_id_of(version.source or "")
        found = aliases if aliases is not None else list(version.aliases or [])
        return VersionRecord(name=version.name, version=str(version.version),
                             model_id=model_id, run_id=version.run_id or None,
                             created=version.creation_timestamp, tags=dict(version.tags or {}),
                             aliases=tuple(sorted(found)))

    @mlflow_errors("resolving a model URI")
    def resolve_model(self, uri: str) -> ResolvedModel:
        """The LoggedModel (and registered version) `uri` names; InputError where it names
        nothing this store holds, or is not a model URI."""
        text = str(uri).strip()
        try:
            if named := _NAMED.fullmatch(text):
                return self._named(text, named.group(1), named.group(2), named.group(3))
            if run := _RUN.fullmatch(text):
                return self._of_run(text, run.group(1), run.group(2) or "model")
            model_id = trust.model_id_of(text) if text.startswith("models:/m-") else None
            if model_id is not None:
                self._client.get_logged_model(model_id)
                return ResolvedModel(text, model_id)
        except MlflowException as exc:
            if _absent(exc):
                raise InputError(f"No model at {text}: {_first_line(exc)}.") from None
            raise
        raise InputError(f"{text!r} is not a model URI modeldev can load: use {KNOWN_FORMS}.")

    def _named(self, uri: str, name: str, alias: str | None, number: str | None
               ) -> ResolvedModel:
        if alias is not None:
            found = self._client.get_model_version_by_alias(name, alias)
        else:
            found = self._client.get_model_version(name, str(number))
        version = self._record(found)
        return ResolvedModel(uri, version.model_id, version)

    def _of_run(self, uri: str, run_id: str, name: str) -> ResolvedModel:
        outputs = getattr(self._client.get_run(run_id), "outputs", None)
        for output in getattr(outputs, "model_outputs", None) or []:
            if self._client.get_logged_model(output.model_id).name == name:
                return ResolvedModel(uri, output.model_id)
        raise InputError(f"No model at {uri}: run {run_id} logged no model named {name!r}.")

    @mlflow_errors("listing a run's models")
    def logged_models(self, run_id: str) -> dict[str, str]:
        """The LoggedModels a run output, by name (`model`, `baseline_model`) to id."""
        outputs = getattr(self._client.get_run(run_id), "outputs", None)
        ids = [o.model_id for o in getattr(outputs, "model_outputs", None) or []]
        return {self._client.get_logged_model(i).name: i for i in ids}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__).rstrip(".")
