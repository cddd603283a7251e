"""The Tracker: the one door to MLflow for the engine, the job runner and the app.

Every call goes through an `MlflowClient` bound to the settings' tracking URI (no global fluent
state); MLflow failures surface as one-sentence `TrackingError`s, and runs come back as
`RunRecord`s, never as MLflow entities.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
import sqlalchemy.exc
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.utils.uri import append_to_uri_path

from modeldev.config import Settings
from modeldev.tracking import models
from modeldev.tracking import tags as T
from modeldev.tracking.children import (
    ChildRun,
    ChildWriter,
    ClientChildWriter,
    SqliteChildWriter,
    schema_problem,
)
from modeldev.tracking.errors import mlflow_errors
from modeldev.tracking.records import ExperimentRecord, RunRecord, run_record
from modeldev.tracking.store import (
    init_sqlite_store,
    is_server,
    prepare_server,
    sqlite_path,
)
from modeldev.tracking.support import (
    TAG_MAX_CHARS,
    capped_params,
    finite,
    finite_metrics,
    keep_alive,
    owner_gone,
    owner_tags,
    run_tags,
    short,
    stop_beating,
)

if TYPE_CHECKING:
    from modeldev.frameworks.base import FittedModel

SEARCH_PAGE = 1000  # MLflow's largest page
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow versions whose child runs tests/test_tracking_children.py found identical, field by
# field, when written by SqliteChildWriter and by the client.
VERIFIED_CHILD_WRITES_MLFLOW = ("3.17.2",)

class Tracker:
    """Experiments, runs, batched logging, child runs, models and queries, on one store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracking_uri: str = settings.tracking_uri
        self._artifact_root: Path | None = None
        self.store_away = False  # set by a StoreUnavailable: later calls get one try each
        if self.tracking_uri.startswith("sqlite:"):
            self._artifact_root = settings.workspace / "mlartifacts"
            init_sqlite_store(self.tracking_uri, settings.workspace)
        elif is_server(self.tracking_uri):
            prepare_server(self.tracking_uri)
        self._client = MlflowClient(tracking_uri=self.tracking_uri)

    @mlflow_errors("getting or creating an experiment")
    def experiment_id(self, name: str) -> str:
        """Id of the experiment called `name`, created (race-safely) when missing."""
        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            try:
                return self._client.create_experiment(name, self._experiment_location(name))
            except MlflowException:  # another process created it first
                exp = self._client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            self._client.restore_experiment(exp.experiment_id)
        return exp.experiment_id

    def _experiment_location(self, name: str) -> str | None:
        if self._artifact_root is None:
            return None  # a server decides where its artifacts go
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:60] or "experiment"
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        return (self._artifact_root / f"{slug}-{digest}").as_uri()

    @mlflow_errors("listing experiments")
    def experiments(self) -> list[ExperimentRecord]:
        """Every active experiment, most recently updated first (following page tokens)."""
        found: list[ExperimentRecord] = []
        token = None
        while True:
            page = self._client.search_experiments(max_results=SEARCH_PAGE, page_token=token,
                                                   order_by=["last_update_time DESC"])
            found += [ExperimentRecord(e.experiment_id, e.name) for e in page]
            token = page.token
            if not token:
                return found

    def experiment_ids(self) -> list[str]:
        """Ids of every active experiment."""
        return [e.experiment_id for e in self.experiments()]

    @mlflow_errors("searching runs")
    def has_runs(self, experiment_id: str) -> bool:
        """Whether the experiment holds any active run."""
        return bool(self._client.search_runs([experiment_id], max_results=1))

    @mlflow_errors("starting a run")
    def start_run(self, experiment_id: str, name: str, parent_run_id: str | None = None,
                  tags: dict[str, str] | None = None) -> str:
        """Create a RUNNING run (nested under `parent_run_id` if given); return its id."""
        run = self._client.create_run(experiment_id, run_name=name,
                                      tags=run_tags(tags, parent_run_id))
        keep_alive(self._client, run.info.run_id, self.settings.heartbeat_s)
        return run.info.run_id

    @mlflow_errors("logging params, metrics and tags")
    def log_batch(self, run_id: str, params: dict[str, Any] | None = None,
                  metrics: Mapping[str, float | None] | None = None,
                  tags: dict[str, Any] | None = None,
                  step: int = 0) -> None:
        """Log in one call: params capped at 500 chars, non-finite metrics skipped."""
        now = int(time.time() * 1000)
        metric_list = [Metric(k, v, now, step) for k, v in finite_metrics(metrics).items()]
        param_list = [Param(k, v) for k, v in capped_params(params).items()]
        tag_list = [RunTag(k, short(v, TAG_MAX_CHARS)) for k, v in (tags or {}).items()]
        if metric_list or param_list or tag_list:
            self._client.log_batch(run_id, metrics=metric_list, params=param_list,
                                   tags=tag_list)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set several tags in one call."""
        self.log_batch(run_id, tags=tags)

    @mlflow_errors("logging a metric history")
    def log_metric_history(self, run_id: str, key: str, values: list[float]) -> None:
        """Log `values` as steps 1..n of `key` (step k: after epoch k); non-finite ones skipped."""
        now = int(time.time() * 1000)
        metric_list = [Metric(key, float(v), now, i) for i, v in enumerate(values, start=1)
                       if finite(v)]
        if metric_list:
            self._client.log_batch(run_id, metrics=metric_list)

    def child_run(self, name: str, parent_run_id: str, tags: dict[str, Any],
                  params: dict[str, Any], metrics: dict[str, float], status: str) -> ChildRun:
        """A finished child run, capped and tagged as `start_run` and `log_batch` would do it."""
        return ChildRun(name, run_tags(tags, parent_run_id), capped_params(params),
                        finite_metrics(metrics), status)

    @mlflow_errors("opening the child-run writer")
    def child_writer(self, experiment_id: str) -> ChildWriter:
        """What writes finished child runs into `experiment_id`: in bulk where verified safe."""
        refusal = self.bulk_child_refusal()
        if refusal is not None:
            return ClientChildWriter(self._client, experiment_id, refusal)
        experiment = self._client.get_experiment(experiment_id)
        if experiment.lifecycle_stage != "active":  # the client refuses it with its reason
            return ClientChildWriter(self._client, experiment_id, "the experiment is deleted")
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

    @mlflow_errors("writing child runs")
    def write_children(self, writer: ChildWriter, children: Sequence[ChildRun]) -> list[str]:
        """Write finished child runs with `writer`; return their run ids."""
        return writer.write(children)

    @mlflow_errors("logging artifacts")
    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files into the run's artifacts."""
        self._client.log_artifacts(run_id, str(local_dir), artifact_path)

    @mlflow_errors("logging an artifact")
    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """Copy one file into the run's artifacts."""
        self._client.log_artifact(run_id, str(path), artifact_path)

    @mlflow_errors("downloading artifacts")
    def download_artifacts(self, run_id: str, dst: Path) -> Path:
        """Every logged artifact of the run, copied into the existing folder `dst`."""
        return Path(self._client.download_artifacts(run_id, "", str(dst)))

    @mlflow_errors("logging a model")
    def log_model(self, run_id: str, model: FittedModel, input_example: pd.DataFrame,
                  requirements: list[str], name: str = "model") -> tuple[str, float]:
        """Log `model` as a pyfunc LoggedModel of the run; return (model URI, size in MiB).

        The URI is the model's artifact location, so `mlflow.pyfunc.load_model(uri)` needs no
        tracking URI for a local store. The run stays RUNNING: the caller ends it.
        """
        return models.log_fitted_model(self._client, run_id, model, input_example, requirements,
                                       name)

    @mlflow_errors("loading a model")
    def load_model(self, model_uri: str) -> Any:
        """The pyfunc model at `model_uri`, resolved against this tracking store."""
        return models.load_model(model_uri, self.tracking_uri)

    @mlflow_errors("loading a model")
    def load_fitted(self, model_id: str) -> Any:
        """The FittedModel of a LoggedModel this store holds (None if not one of modeldev's)."""
        return models.fitted_of(models.load_model(f"models:/{model_id}", self.tracking_uri,
                                                  own=True))

    @mlflow_errors("reading a logged model")
    def model_location(self, model_id: str) -> str:
        """Where a LoggedModel's files are (its artifact location URI)."""
        return self._client.get_logged_model(model_id).artifact_location

    @mlflow_errors("ending a run")
    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark a run FINISHED, FAILED or KILLED."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        stop_beating(run_id)
        self._client.set_terminated(run_id, status)

    @mlflow_errors("reopening a run")
    def reopen_run(self, run_id: str) -> None:
        """Set an ended run RUNNING again (a resumed tuning), owned by this process from now."""
        self._client.update_run(run_id, "RUNNING")
        self.set_tags(run_id, {k: v for k, v in owner_tags().items() if k.startswith("modeldev.")})
        keep_alive(self._client, run_id, self.settings.heartbeat_s)

    @mlflow_errors("deleting a run")
    def delete_run(self, run_id: str) -> None:
        """Delete a run (MLflow keeps it in the trash)."""
        self._client.delete_run(run_id)

    @mlflow_errors("searching runs")
    def search_runs(self, experiment_ids: list[str], filter_string: str = "",
                    order_by: list[str] | None = None,
                    max_results: int | None = None) -> list[RunRecord]:
        """All matching active runs (following page tokens), or the first `max_results`."""
        runs: list[RunRecord] = []
        token = None
        while max_results is None or len(runs) < max_results:
            want = SEARCH_PAGE if max_results is None else min(SEARCH_PAGE, max_results - len(runs))
            page = self._client.search_runs(experiment_ids, filter_string, ViewType.ACTIVE_ONLY,
                                            want, order_by, token)
            runs.extend(run_record(run) for run in page)
            token = page.token
            if not token:
                break
        return runs

    def runs_of_kind(self, experiment_ids: list[str], kind: str, status: str | None = None,
                     max_results: int | None = None) -> list[RunRecord]:
        """Runs tagged with this `kind` (optionally in one status), newest first."""
        query = f"tags.`{T.KIND}` = '{kind}'"
        if status:
            query += f" and attributes.status = '{status}'"
        return self.search_runs(experiment_ids, query, ["attributes.start_time DESC"],
                                max_results)

    def child_runs(self, parent_run_id: str) -> list[RunRecord]:
        """Every run nested directly under `parent_run_id`."""
        experiment = self.get_run(parent_run_id).experiment_id
        return self.search_runs([experiment], f"tags.`{T.PARENT}` = '{parent_run_id}'")

    def read_json_artifact(self, run_id: str, path: str) -> Any:
        """The parsed JSON file `path` of the run's artifacts; None if missing or unreadable."""
        try:
            with tempfile.TemporaryDirectory(prefix="modeldev-artifact-") as tmp:
                local = self._client.download_artifacts(run_id, path, tmp)
                return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError, sqlalchemy.exc.SQLAlchemyError):
            return None

    @mlflow_errors("reading a run")
    def get_run(self, run_id: str) -> RunRecord:
        """The run with its params, metrics and tags."""
        return run_record(self._client.get_run(run_id))

    def sweep_stale_runs(self, experiment_ids: list[str]) -> int:
        """Mark KILLED the RUNNING runs whose process is gone (`owner_gone`); return how many."""
        swept = 0
        for run in self.search_runs(experiment_ids, "attributes.status = 'RUNNING'"):
            if owner_gone(run.tags, time.time(), self.settings.heartbeat_grace_s):
                self.end_run(run.run_id, "KILLED")
                swept += 1
        return swept

    def end_process_runs(self, experiment_id: str, pid: int, status: str) -> None:
        """End the RUNNING runs of one process of this host (a job cleaning up after itself)."""
        query = f"attributes.status = 'RUNNING' and tags.`{T.PID}` = '{pid}'"
        for run in self.search_runs([experiment_id], query):
            self.end_run(run.run_id, status)
