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
from modeldev.errors import UntrustedModel
from modeldev.tracking import tags as T
from modeldev.tracking import trust
from modeldev.tracking.records import ColumnSpec
from modeldev.tracking.support import folder_bytes, package_requirements

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel


class _DropPickleNotice(logging.Filter):
    """MLflow warns on every cloudpickled python_model; ours are deliberate and our own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_DropPickleNotice())


PROBABILITY = "probability"  # predict(rows, params={"output": PROBABILITY}): class probabilities


class _FittedModelPyfunc(PythonModel):
    """The pyfunc face of a FittedModel: raw rows in, the target's own labels out (at the
    model's decision threshold); with params {"output": "probability"}, one column of
    (calibrated) probabilities per class, named by the class."""

    def __init__(self, fitted: FittedModel) -> None:
        self.fitted = fitted

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> Any:
        if (params or {}).get("output") == PROBABILITY and self.fitted.task != "regression":
            return pd.DataFrame(self.fitted.predict_proba(model_input),
                                columns=[str(c) for c in self.fitted.classes])
        return self.fitted.predict(model_input)


def log_fitted_model(client: MlflowClient, run_id: str, model: FittedModel,
                     input_example: pd.DataFrame, requirements: list[str], key: bytes,
                     name: str = "model") -> tuple[str, float]:
    """Log `model` as a pyfunc LoggedModel output of the run, its files signed with `key` on
    the run (`tracking.trust`); return (URI, size in MiB)."""
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
            digest = trust.folder_digest(path)
            client.log_model_artifacts(logged.model_id, str(path))
        if digest is not None:
            client.set_tag(run_id, trust.signature_tag(logged.model_id),
                           trust.signature(key, logged.model_id, digest))
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
        signature=infer_signature(example, output, params={"output": "label"}),
        input_example=example,
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


def load_model(model_uri: str, tracking_uri: str, key: bytes, trusted: bool = False,
               own: bool = False) -> Any:
    """The pyfunc model at `model_uri` (`models:/m-...` or its artifact location), loaded only
    once its files, fetched here, match the signature its run holds (`tracking.trust`), or
    where the server is `trusted` (MODELDEV_TRUST_TRACKING_SERVER).

    `own`: read back by modeldev itself (the app's model detail): MLflow's check of its
    requirements against the installed packages, which only warns and scans every installed
    distribution (about 1 s of a first Comparison page), is skipped."""
    with tempfile.TemporaryDirectory(prefix="modeldev-load-") as tmp:
        local, why = fetch_checked(model_uri, tracking_uri, key, Path(tmp))
        if why is not None and not trusted:
            raise UntrustedModel(refusal(model_uri, why))
        return mlflow.pyfunc.load_model(str(local), suppress_warnings=own)  # in memory


def refusal(model_uri: str, why: str) -> str:
    """The one sentence for a model that is not loaded."""
    what = trust.model_id_of(model_uri) or model_uri
    return (f"Model {what} is not loaded: {why}, and loading it would run its code; set "
            "MODELDEV_TRUST_TRACKING_SERVER=1 to load models this installation did not sign.")


def fetch_checked(model_uri: str, tracking_uri: str, key: bytes,
                  dst: Path) -> tuple[Path, str | None]:
    """The model's files fetched into `dst` (nothing loaded), and why they are not to be
    trusted (None: signed by this installation and unchanged)."""
    client = MlflowClient(tracking_uri)
    model_id = trust.model_id_of(model_uri)
    logged = client.get_logged_model(model_id) if model_id else None
    source = logged.artifact_location if logged is not None else model_uri
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst),
                                                     tracking_uri=tracking_uri))
    if logged is None or not logged.source_run_id:
        return local, "modeldev cannot tell which run logged it"
    tags = client.get_run(logged.source_run_id).data.tags
    return local, trust.problem(tags, logged.model_id, local, key)


def input_columns(pyfunc_model: Any) -> list[ColumnSpec]:
    """The input columns of a pyfunc model's signature (empty when it has none)."""
    return _columns(pyfunc_model.metadata.get_input_schema())


def folder_columns(folder: Path) -> list[ColumnSpec]:
    """The input columns of the model saved in `folder`, from its MLmodel (nothing loaded)."""
    return _columns(Model.load(str(folder)).get_input_schema())


def _columns(schema: Any) -> list[ColumnSpec]:
    if schema is None or not schema.has_input_names():
        return []
    return [ColumnSpec(str(c.name), str(getattr(c.type, "name", c.type)), bool(c.required))
            for c in schema.inputs]


def fitted_of(pyfunc_model: Any) -> Any:
    """The FittedModel inside a pyfunc model modeldev logged (None for any other model)."""
    try:
        inner = pyfunc_model.unwrap_python_model()
    except Exception:  # not a python_function model: MLflow refuses to unwrap it
        return None
    return getattr(inner, "fitted", None)
