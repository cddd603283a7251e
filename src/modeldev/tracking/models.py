"""Models in MLflow: a FittedModel saved as a pyfunc LoggedModel, and loading one back.

The pyfunc wraps the FittedModel (preprocessing inside), so `mlflow.pyfunc.load_model(uri)
.predict(raw_rows)` gives the predictions the app showed. modeldev's own code is pickled by value
into the model where it can be, so a model loads where modeldev is not installed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import Model, infer_signature
from mlflow.pyfunc import PythonModel

import modeldev
from modeldev.tracking import tags as T
from modeldev.tracking.support import folder_bytes, package_requirements

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel


class _DropPickleNotice(logging.Filter):
    """MLflow warns on every cloudpickled python_model; ours are deliberate and our own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_DropPickleNotice())


class _FittedModelPyfunc(PythonModel):
    """The pyfunc face of a FittedModel: raw rows in, the target's own labels out."""

    def __init__(self, fitted: FittedModel) -> None:
        self.fitted = fitted

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> Any:
        return self.fitted.predict(model_input)


def log_fitted_model(client: MlflowClient, run_id: str, model: FittedModel,
                     input_example: pd.DataFrame, requirements: list[str],
                     name: str = "model") -> tuple[str, float]:
    """Log `model` as a pyfunc LoggedModel output of the run; return (URI, size in MiB)."""
    run = client.get_run(run_id)
    output = pd.Series(model.predict(input_example), name="prediction").infer_objects()
    logged = client.create_logged_model(
        run.info.experiment_id, name=name, source_run_id=run_id,
        tags={T.MODEL_FRAMEWORK: model.framework, T.MODEL_TASK: model.task})
    try:
        with tempfile.TemporaryDirectory(prefix="modeldev-model-") as tmp:
            path = Path(tmp) / "model"
            meta = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                         run_id=run_id, model_id=logged.model_id)
            _save_pyfunc(path, model, meta, input_example, output, requirements)
            size_mb = folder_bytes(path) / 2**20
            client.log_model_artifacts(logged.model_id, str(path))
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        with contextlib.suppress(Exception):  # never leave it PENDING; the first error wins
            client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.artifact_location, size_mb


def _save_pyfunc(path: Path, model: FittedModel, meta: Model, example: pd.DataFrame,
                 output: pd.Series, requirements: list[str]) -> None:
    """Save the pyfunc folder; modeldev's own code is pickled by value when it can be."""
    kwargs: dict[str, Any] = dict(
        path=str(path), python_model=_FittedModelPyfunc(model), mlflow_model=meta,
        signature=infer_signature(example, output), input_example=example,
        pip_requirements=package_requirements(list(requirements)))
    try:
        with _modeldev_by_value():
            mlflow.pyfunc.save_model(**kwargs)
    except Exception:  # some object refused by-value pickling: fall back to by-reference
        shutil.rmtree(path, ignore_errors=True)
        mlflow.pyfunc.save_model(**kwargs)


@contextlib.contextmanager
def _modeldev_by_value() -> Iterator[None]:
    """Pickle modeldev's classes and functions into the model so it loads without modeldev."""
    cloudpickle.register_pickle_by_value(modeldev)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(modeldev)


def load_model(model_uri: str, tracking_uri: str | None = None, own: bool = False) -> Any:
    """The pyfunc model at `model_uri`; `tracking_uri` resolves `models:/`, `runs:/` and servers.

    `own`: a model modeldev logged, read back by modeldev (the app's model detail): MLflow's
    check of its requirements against the installed packages, which only warns, is skipped; it
    scans every installed distribution, about 1 s of a first Comparison page."""
    if tracking_uri and model_uri.startswith("models:/m-"):  # MLflow would use the global client
        model_uri = MlflowClient(tracking_uri).get_logged_model(model_uri[8:]).artifact_location
    if not tracking_uri or model_uri.startswith(("file:", "/")):
        return mlflow.pyfunc.load_model(model_uri, suppress_warnings=own)
    with tempfile.TemporaryDirectory(prefix="modeldev-load-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=tmp, tracking_uri=tracking_uri)
        return mlflow.pyfunc.load_model(local, suppress_warnings=own)  # in memory: folder may go


def fitted_of(pyfunc_model: Any) -> Any:
    """The FittedModel inside a pyfunc model modeldev logged (None for any other model)."""
    return getattr(pyfunc_model.unwrap_python_model(), "fitted", None)
