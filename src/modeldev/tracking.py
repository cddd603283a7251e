"""MLflow, and only here: store set-up, experiments, runs, batched logging, models, queries, sweeps.

Every call goes through an `MlflowClient` bound to the settings' tracking URI; no global fluent
state. MLflow failures surface as one-sentence `TrackingError`s.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import cloudpickle
import filelock
import mlflow
import pandas as pd
import sqlalchemy.exc
from mlflow import MlflowClient
from mlflow.entities import (
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.utils.uri import append_to_uri_path

import modeldev
from modeldev.config import Settings
from modeldev.errors import TrackingError
from modeldev.events import Cancelled
from modeldev.tracking_children import (
    ChildRun,
    ChildWriter,
    SqliteChildWriter,
    StoreRefused,
    schema_problem,
)
from modeldev.tracking_support import (
    TAG_HOST,
    TAG_PARENT,
    TAG_PID,
    TAG_PID_START,
    check_server,
    finite,
    folder_bytes,
    owner_tags,
    package_requirements,
    process_alive,
    short,
    sqlite_path,
)

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel

PARAM_MAX_CHARS = 500  # full values belong in JSON artifacts
TAG_MAX_CHARS = 5000  # MLflow refuses tag values over 8,000 characters
SEARCH_PAGE = 1000  # MLflow's largest page
STORE_LOCK_TIMEOUT_S = 120.0
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow versions whose child runs tests/test_tracking_children.py found identical, field by
# field, when written by SqliteChildWriter and by the client.
VERIFIED_CHILD_WRITES_MLFLOW = ("3.17.2",)
# MLflow's defaults retry a dead server for ~4 minutes; these make a job fail in seconds. And
# against a server, every ended run costs an extra request and prints two lines to stdout
# (which would break `--json`) unless the URL printing is suppressed.
HTTP_ENV_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                     "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                     "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                     "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}

F = TypeVar("F", bound=Callable[..., Any])


class _DropPickleNotice(logging.Filter):
    """MLflow warns on every cloudpickled python_model; ours are deliberate and our own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_DropPickleNotice())


def _mlflow_errors(action: str) -> Callable[[F], F]:
    """Turn MLflow and I/O failures of a Tracker method into one-sentence TrackingErrors."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: Tracker, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (MlflowException, OSError, sqlalchemy.exc.SQLAlchemyError,
                    sqlite3.Error, StoreRefused) as exc:
                cancel = _cancel_in_chain(exc)
                if cancel is not None:  # a stop signal landed inside an MLflow call
                    raise cancel from exc
                raise TrackingError(f"MLflow failed {action} at {self.tracking_uri}: "
                                    f"{_reason(exc)}.") from exc
        return inner  # type: ignore[return-value]
    return wrap


def _run_tags(tags: dict[str, Any] | None, parent_run_id: str | None) -> dict[str, str]:
    """A new run's tags as stored: the owner's added, the parent's if any, each capped."""
    all_tags = {**(tags or {}), **owner_tags()}
    if parent_run_id:
        all_tags[TAG_PARENT] = parent_run_id
    return {k: short(v, TAG_MAX_CHARS) for k, v in all_tags.items()}


def _capped_params(params: dict[str, Any] | None) -> dict[str, str]:
    """Params as text, capped at PARAM_MAX_CHARS (full values belong in JSON artifacts)."""
    return {k: short(v, PARAM_MAX_CHARS) for k, v in (params or {}).items()}


def _finite_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    """The metrics that are finite numbers, as floats; the others are skipped."""
    return {k: float(v) for k, v in (metrics or {}).items() if finite(v)}


def _cancel_in_chain(exc: BaseException) -> BaseException | None:
    """The Cancelled (or KeyboardInterrupt) MLflow wrapped, if any."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, (Cancelled, KeyboardInterrupt)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException) -> str:
    """The first sentence of an error, with its direct cause when MLflow wrapped one."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({str(cause).splitlines()[0][:200]})"
    return text[:400].rstrip(".")


class Tracker:
    """The one door to MLflow: experiments, runs, batched logging, models and queries."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracking_uri: str = settings.tracking_uri
        self._artifact_root: Path | None = None
        if self.tracking_uri.startswith("sqlite:"):
            self._artifact_root = settings.workspace / "mlartifacts"
            init_sqlite_store(self.tracking_uri, settings.workspace)
        elif self.tracking_uri.startswith(("http://", "https://")):
            for key, value in HTTP_ENV_DEFAULTS.items():
                os.environ.setdefault(key, value)
            check_server(self.tracking_uri)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)

    @_mlflow_errors("getting or creating an experiment")
    def experiment_id(self, name: str) -> str:
        """Id of the experiment called `name`, created (race-safely) when missing."""
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return self.client.create_experiment(name, self._experiment_location(name))
            except MlflowException:  # another process created it first
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            self.client.restore_experiment(exp.experiment_id)
        return exp.experiment_id

    def _experiment_location(self, name: str) -> str | None:
        if self._artifact_root is None:
            return None  # a server decides where its artifacts go
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:60] or "experiment"
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        return (self._artifact_root / f"{slug}-{digest}").as_uri()

    @_mlflow_errors("starting a run")
    def start_run(self, experiment_id: str, name: str, parent_run_id: str | None = None,
                  tags: dict[str, str] | None = None) -> str:
        """Create a RUNNING run (nested under `parent_run_id` if given); return its id."""
        run = self.client.create_run(experiment_id, run_name=name,
                                     tags=_run_tags(tags, parent_run_id))
        return run.info.run_id

    @_mlflow_errors("logging params, metrics and tags")
    def log_batch(self, run_id: str, params: dict[str, Any] | None = None,
                  metrics: dict[str, float] | None = None, tags: dict[str, Any] | None = None,
                  step: int = 0) -> None:
        """Log in one call: params capped at 500 chars, non-finite metrics skipped."""
        now = int(time.time() * 1000)
        metric_list = [Metric(k, v, now, step) for k, v in _finite_metrics(metrics).items()]
        param_list = [Param(k, v) for k, v in _capped_params(params).items()]
        tag_list = [RunTag(k, short(v, TAG_MAX_CHARS)) for k, v in (tags or {}).items()]
        if metric_list or param_list or tag_list:
            self.client.log_batch(run_id, metrics=metric_list, params=param_list, tags=tag_list)

    def child_run(self, name: str, parent_run_id: str, tags: dict[str, Any],
                  params: dict[str, Any], metrics: dict[str, float], status: str) -> ChildRun:
        """A finished child run, capped and tagged as `start_run` and `log_batch` would do it."""
        return ChildRun(name, _run_tags(tags, parent_run_id), _capped_params(params),
                        _finite_metrics(metrics), status)

    @_mlflow_errors("opening the child-run writer")
    def child_writer(self, experiment_id: str) -> ChildWriter:
        """What writes finished child runs into `experiment_id`: in bulk where verified safe."""
        refusal = self.bulk_child_refusal()
        if refusal is not None:
            return _ClientChildWriter(self.client, experiment_id, refusal)
        experiment = self.client.get_experiment(experiment_id)
        if experiment.lifecycle_stage != "active":  # the client refuses it with its reason
            return _ClientChildWriter(self.client, experiment_id, "the experiment is deleted")
        location = experiment.artifact_location
        return SqliteChildWriter(sqlite_path(self.tracking_uri), experiment_id,
                                 lambda run_id: append_to_uri_path(location, run_id, "artifacts"))

    def bulk_child_refusal(self) -> str | None:
        """Why child runs go through MLflow's client here instead of in bulk, or None."""
        if not self.settings.uses_sqlite:
            return "the tracking store is not SQLite"
        if self.settings.child_writes == "client":
            return "MODELDEV_CHILD_WRITES=client"
        if mlflow.__version__ not in VERIFIED_CHILD_WRITES_MLFLOW:
            return f"MLflow {mlflow.__version__} is not a version verified for bulk writes"
        return schema_problem(sqlite_path(self.tracking_uri))

    @_mlflow_errors("writing child runs")
    def write_children(self, writer: ChildWriter, children: Sequence[ChildRun]) -> list[str]:
        """Write finished child runs with `writer`; return their run ids."""
        return writer.write(children)

    @_mlflow_errors("logging a metric history")
    def log_metric_history(self, run_id: str, key: str, values: list[float]) -> None:
        """Log `values` as steps 1..n of `key` (step k: after epoch k); non-finite ones skipped."""
        now = int(time.time() * 1000)
        metric_list = [Metric(key, float(v), now, i) for i, v in enumerate(values, start=1)
                       if finite(v)]
        if metric_list:
            self.client.log_batch(run_id, metrics=metric_list)

    @_mlflow_errors("logging artifacts")
    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files into the run's artifacts."""
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    @_mlflow_errors("logging an artifact")
    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """Copy one file into the run's artifacts."""
        self.client.log_artifact(run_id, str(path), artifact_path)

    @_mlflow_errors("logging a model")
    def log_model(self, run_id: str, model: FittedModel, input_example: pd.DataFrame,
                  requirements: list[str]) -> tuple[str, float]:
        """Log `model` as a pyfunc LoggedModel of the run; return (model URI, size in MiB).

        The URI is the model's artifact location, so `mlflow.pyfunc.load_model(uri)` needs no
        tracking URI for a local store. The run stays RUNNING: the caller ends it.
        """
        run = self.client.get_run(run_id)
        output = pd.Series(model.predict(input_example), name="prediction").infer_objects()
        logged = self.client.create_logged_model(
            run.info.experiment_id, name="model", source_run_id=run_id,
            tags={"modeldev.framework": model.framework, "modeldev.task": model.task})
        try:
            with tempfile.TemporaryDirectory(prefix="modeldev-model-") as tmp:
                path = Path(tmp) / "model"
                meta = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                             run_id=run_id, model_id=logged.model_id)
                _save_pyfunc(path, model, meta, input_example, output, requirements)
                size_mb = folder_bytes(path) / 2**20
                self.client.log_model_artifacts(logged.model_id, str(path))
            self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        except BaseException:
            with contextlib.suppress(Exception):  # never leave it PENDING; the first error wins
                self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            raise
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        return logged.artifact_location, size_mb

    @_mlflow_errors("loading a model")
    def load_model(self, model_uri: str) -> Any:
        """The pyfunc model at `model_uri`, resolved against this tracking store."""
        return load_model(model_uri, self.tracking_uri)

    @_mlflow_errors("ending a run")
    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark a run FINISHED, FAILED or KILLED."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        self.client.set_terminated(run_id, status)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set several tags in one call."""
        self.log_batch(run_id, tags=tags)

    @_mlflow_errors("searching runs")
    def search_runs(self, experiment_ids: list[str], filter_string: str = "",
                    order_by: list[str] | None = None, max_results: int | None = None) -> list[Run]:
        """All matching active runs (following page tokens), or the first `max_results`."""
        runs: list[Run] = []
        token = None
        while max_results is None or len(runs) < max_results:
            want = SEARCH_PAGE if max_results is None else min(SEARCH_PAGE, max_results - len(runs))
            page = self.client.search_runs(experiment_ids, filter_string, ViewType.ACTIVE_ONLY,
                                           want, order_by, token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        return runs

    def child_runs(self, parent_run_id: str) -> list[Run]:
        """Every run nested directly under `parent_run_id`."""
        experiment = self.get_run(parent_run_id).info.experiment_id
        return self.search_runs([experiment], f"tags.`{TAG_PARENT}` = '{parent_run_id}'")

    @_mlflow_errors("listing experiments")
    def experiment_ids(self) -> list[str]:
        """Ids of every active experiment (following page tokens)."""
        ids: list[str] = []
        token = None
        while True:
            page = self.client.search_experiments(max_results=1000, page_token=token)
            ids += [e.experiment_id for e in page]
            token = page.token
            if not token:
                return ids

    def read_json_artifact(self, run_id: str, path: str) -> Any:
        """The parsed JSON file `path` of the run's artifacts; None if missing or unreadable."""
        try:
            with tempfile.TemporaryDirectory(prefix="modeldev-artifact-") as tmp:
                local = self.client.download_artifacts(run_id, path, tmp)
                return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError, sqlalchemy.exc.SQLAlchemyError):
            return None

    @_mlflow_errors("reading a run")
    def get_run(self, run_id: str) -> Run:
        """The run with its params, metrics and tags."""
        return self.client.get_run(run_id)

    def sweep_stale_runs(self, experiment_ids: list[str]) -> int:
        """Mark KILLED the RUNNING runs whose process on this host is gone; return how many."""
        host = socket.gethostname()
        swept = 0
        for run in self.search_runs(experiment_ids, "attributes.status = 'RUNNING'"):
            tags = run.data.tags
            pid = tags.get(TAG_PID, "")
            if tags.get(TAG_HOST) != host or not pid.isdigit():
                continue  # another machine's run, or not ours: leave it
            if not process_alive(int(pid), tags.get(TAG_PID_START)):
                self.end_run(run.info.run_id, "KILLED")
                swept += 1
        return swept


class _ClientChildWriter:
    """Child runs through MLflow's client, three calls each: any store, any MLflow version."""

    def __init__(self, client: MlflowClient, experiment_id: str, reason: str) -> None:
        self._client = client
        self._experiment_id = experiment_id
        self.path = f"mlflow_client ({reason})"

    def write(self, children: Sequence[ChildRun]) -> list[str]:
        """Create, fill and end each child run (each its own commits: no batch atomicity)."""
        ids = []
        for child in children:
            run_id = self._client.create_run(self._experiment_id, run_name=child.name,
                                             tags=child.tags).info.run_id
            now = int(time.time() * 1000)
            self._client.log_batch(run_id, [Metric(k, v, now, 0) for k, v in
                                            child.metrics.items()],
                                   [Param(k, v) for k, v in child.params.items()])
            self._client.set_terminated(run_id, child.status)
            ids.append(run_id)
        return ids

    def close(self) -> None:
        """Nothing to release."""


class _FittedModelPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc face of a FittedModel: raw rows in, the target's own labels out."""

    def __init__(self, fitted: FittedModel) -> None:
        self.fitted = fitted

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> Any:
        return self.fitted.predict(model_input)


def _save_pyfunc(path: Path, model: FittedModel, meta: Model, example: pd.DataFrame,
                 output: pd.Series, requirements: list[str]) -> None:
    """Save the pyfunc folder; modeldev's own code is pickled by value when it can be."""
    kwargs = dict(path=str(path), python_model=_FittedModelPyfunc(model), mlflow_model=meta,
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


def load_model(model_uri: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model at `model_uri`; `tracking_uri` resolves `models:/`, `runs:/` and servers."""
    if tracking_uri and model_uri.startswith("models:/m-"):  # MLflow would use the global client
        model_uri = MlflowClient(tracking_uri).get_logged_model(model_uri[8:]).artifact_location
    if not tracking_uri or model_uri.startswith(("file:", "/")):
        return mlflow.pyfunc.load_model(model_uri)
    with tempfile.TemporaryDirectory(prefix="modeldev-load-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=tmp, tracking_uri=tracking_uri)
        return mlflow.pyfunc.load_model(local)  # fully in memory: the folder may go


def init_sqlite_store(tracking_uri: str, workspace: Path) -> None:
    """Create the workspace and the SQLite store's tables once, under a cross-process file lock."""
    db = sqlite_path(tracking_uri)
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(f"{db}.lock", timeout=STORE_LOCK_TIMEOUT_S):
            MlflowClient(tracking_uri).search_experiments(max_results=1)  # builds and migrates
    except filelock.Timeout as exc:
        raise TrackingError(f"Timed out waiting for the MLflow store lock {db}.lock; another "
                            "process may be stuck initialising it.") from exc
    except Exception as exc:  # whatever breaks opening the store, say it in one sentence
        raise TrackingError(f"Could not open the MLflow store {db}: {_reason(exc)}.") from exc


