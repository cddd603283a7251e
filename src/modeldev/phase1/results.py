"""What Phase 1 is asked (TrainRequest) and what it returns (FrameworkResult, TrainingResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldev.config import default_experiment_name
from modeldev.data.loading import Source
from modeldev.data.split import DEFAULT_SEED, Split
from modeldev.data.validation import Prepared
from modeldev.evaluation.metrics import finite_or_none
from modeldev.frameworks.base import FittedModel


@dataclass
class TrainRequest:
    """What an analyst asks of Phase 1."""

    source: Source
    target: str | None = None
    task: str = "auto"
    frameworks: list[str] | None = None
    primary_metric: str | None = None
    seed: int = DEFAULT_SEED
    device: str = "auto"
    experiment: str | None = None
    project: str | None = None

    def experiment_name(self) -> str:
        """--experiment, else `{project}_model` (the project: --project or the dataset's name)."""
        return self.experiment or default_experiment_name(self.project or self.source.name)


@dataclass
class FrameworkResult:
    """One framework's run: status, validation and test metrics, and where it was logged."""

    name: str
    run_id: str
    status: str = "RUNNING"
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    fallback_reason: str | None = None
    model_uri: str | None = None
    error: str | None = None
    model: FittedModel | None = field(default=None, repr=False)


@dataclass
class TrainingResult:
    """The outcome of a Phase 1 session."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run_id: str
    task: str
    primary_metric: str
    runs: list[FrameworkResult]
    best: FrameworkResult | None
    artifacts_dir: Path
    notices: list[str]
    split: Split = field(repr=False)
    data: Prepared = field(repr=False)
    dataset_hash: str = ""

    def summary(self) -> dict[str, Any]:
        """The `--json` object of `modeldev train` (and a train job's result)."""
        best = self.best
        return {
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "task": self.task,
            "runs": [{"name": r.name, "run_id": r.run_id, "status": r.status,
                      "metrics": finite_or_none(r.metrics), "error": r.error}
                     for r in self.runs],
            "best_model": None if best is None else {
                "name": best.name, "run_id": best.run_id, "primary_metric": self.primary_metric,
                "value": best.metrics.get(self.primary_metric)},
            "artifacts_dir": str(self.artifacts_dir),
        }
