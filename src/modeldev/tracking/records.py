"""The small records the tracking package returns: never MLflow's own entities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import Run

from modeldev.tracking import tags as T


@dataclass(frozen=True)
class RunRecord:
    """One MLflow run as modeldev reads it: identity, state, times, tags, params, metrics."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None  # epoch milliseconds
    end_time: int | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    model_ids: tuple[str, ...] = ()  # the LoggedModels this run output


@dataclass(frozen=True)
class ExperimentRecord:
    """One MLflow experiment: its id and name."""

    experiment_id: str
    name: str


@dataclass(frozen=True)
class VersionRecord:
    """One version of a registered model: where it came from, its tags and its aliases."""

    name: str
    version: str
    model_id: str | None  # the LoggedModel it registers (None: not one this store knows)
    run_id: str | None
    created: int | None  # epoch milliseconds
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """`models:/NAME/VERSION`."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a model's signature: its name, MLflow type and whether required."""

    name: str
    type: str  # "double", "float", "long", "integer", "boolean", "string", "datetime", ...
    required: bool = True


def run_record(run: Run, own_folders: Sequence[Path] = ()) -> RunRecord:
    """A RunRecord of an MLflow run; its `artifacts_dir` tag kept only where it names a folder
    under one of `own_folders` (the workspace, the artifacts folder and its cache)."""
    info, data = run.info, run.data
    outputs = getattr(run, "outputs", None)
    model_ids = tuple(o.model_id for o in (getattr(outputs, "model_outputs", None) or []))
    tags = dict(data.tags)
    if tags.get(T.ARTIFACTS_DIR) and not _under(tags[T.ARTIFACTS_DIR], own_folders):
        del tags[T.ARTIFACTS_DIR]
    return RunRecord(run_id=info.run_id, experiment_id=info.experiment_id,
                     name=info.run_name or "", status=info.status, start_time=info.start_time,
                     end_time=info.end_time, tags=tags, params=dict(data.params),
                     metrics=dict(data.metrics), model_ids=model_ids)


def _under(folder: str, roots: Sequence[Path]) -> bool:
    try:
        resolved = Path(folder).resolve()
        return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)
    except (OSError, RuntimeError, ValueError):
        return False
