"""The Tracker's model methods: log a FittedModel signed, load one only where it is trusted.

A mixin of `tracking.tracker.Tracker` (which sets `settings` and `_client`); what a signature
is and why it is checked: `tracking.trust`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow import MlflowClient

from modeldev.config import Settings
from modeldev.errors import UntrustedModel
from modeldev.tracking import models, trust
from modeldev.tracking.errors import mlflow_errors

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel


class ModelStore:
    """Logging and loading models on the Tracker's store."""

    settings: Settings
    _client: MlflowClient

    @mlflow_errors("logging a model")
    def log_model(self, run_id: str, model: FittedModel, input_example: pd.DataFrame,
                  requirements: list[str], name: str = "model") -> tuple[str, float]:
        """Log `model` as a pyfunc LoggedModel of the run; return (model URI, size in MiB).

        The URI is the model's artifact location, so `mlflow.pyfunc.load_model(uri)` needs no
        tracking URI for a local store. The run stays RUNNING: the caller ends it.
        """
        return models.log_fitted_model(self._client, run_id, model, input_example, requirements,
                                       self._key(), name)

    def _key(self) -> bytes:
        return trust.model_key(Path(self.settings.access.model_key))

    @mlflow_errors("loading a model")
    def load_model(self, model_uri: str, trusted: bool | None = None, own: bool = False) -> Any:
        """The pyfunc model at `model_uri`, resolved against this tracking store; only a model
        this installation signed, unless the server is trusted (`tracking.trust`)."""
        trusted = self.settings.access.trust_tracking_server if trusted is None else trusted
        return models.load_model(model_uri, self.settings.tracking_uri, self._key(), trusted,
                                 own)

    def load_fitted(self, model_id: str, trusted: bool | None = None) -> Any:
        """The FittedModel of a LoggedModel this store holds (None if not one of modeldev's)."""
        return models.fitted_of(self.load_model(f"models:/{trust.checked_model_id(model_id)}",
                                                trusted, own=True))

    @mlflow_errors("checking a model's signature")
    def model_problem(self, model_id: str) -> str | None:
        """Why a logged model is not to be loaded without trusting the server (None: this
        installation signed it and it is unchanged); its files are fetched, nothing runs."""
        uri = f"models:/{trust.checked_model_id(model_id)}"
        with tempfile.TemporaryDirectory(prefix="modeldev-check-") as tmp:
            return models.fetch_checked(uri, self.settings.tracking_uri, self._key(),
                                        Path(tmp))[1]

    @mlflow_errors("fetching a model")
    def fetch_model(self, model_id: str, dst: Path) -> Path:
        """A LoggedModel's files fetched into `dst` (nothing loaded) once they check: a model
        this installation did not sign only where the server is trusted."""
        uri = f"models:/{trust.checked_model_id(model_id)}"
        local, why = models.fetch_checked(uri, self.settings.tracking_uri, self._key(), dst)
        if why is not None and not self.settings.access.trust_tracking_server:
            raise UntrustedModel(models.refusal(uri, why))
        return local

    @mlflow_errors("reading a logged model")
    def model_location(self, model_id: str) -> str:
        """Where a LoggedModel's files are (its artifact location URI)."""
        return self._client.get_logged_model(model_id).artifact_location
