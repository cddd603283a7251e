"""What Phase 1 is asked (TrainRequest) and what it returns (FrameworkResult, TrainingResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modeldev.config import default_experiment_name
from modeldev.data.loading import Source
from modeldev.data.split import DEFAULT_SEED, Split
from modeldev.data.validation import Prepared
from modeldev.evaluation.decision import DecisionRule
from modeldev.evaluation.metrics import finite_or_none
from modeldev.evaluation.selection import SELECTION_RULE, Selection
from modeldev.evaluation.statistics import FoldSummary
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
    cv: int | None = None  # folds; None: 5 up to 50,000 rows, else one holdout split; 0: holdout
    threshold: str | float | None = None  # binary: auto, tuned or a fixed cut; None: auto
    calibration: str | None = None  # sigmoid, isotonic or None
    class_weight: str | None = None  # balanced or None
    repeats: int | None = None  # the K-fold cut made R times; None: auto (2 with folds)
    equivalence_margin: float | None = None  # None: 0.01 on a 0-1 scale, else 1 % of the best
    workers: int | None = None  # fits side by side (default: the cores, at most 4)
    framework_timeout: float | None = None  # seconds one fit of a framework may take
    resume: str | None = None  # a Phase 1 parent run to finish: only its missing frameworks

    def experiment_name(self) -> str:
        """--experiment, else `{project}_model` (the project: --project or the dataset's name)."""
        return self.experiment or default_experiment_name(self.project or self.source.name)


@dataclass
class FrameworkResult:
    """One framework's run: status, cross-validated and test metrics, where it was logged.

    `metrics` holds the headline figures under the standard names (the cross-validated means,
    or the holdout values), `cv` each figure's fold scores, spread and interval.
    """

    name: str
    run_id: str
    status: str = "RUNNING"
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    cv: dict[str, FoldSummary] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    fallback_reason: str | None = None
    model_uri: str | None = None
    error: str | None = None
    model: FittedModel | None = field(default=None, repr=False)
    valid_outputs: np.ndarray | None = field(default=None, repr=False)  # holdout only
    valid_thresholds: Any = field(default=None, repr=False)  # holdout: the cut per row, or None
    decision_threshold: float | None = None  # binary: the logged model's cut
    warning: str | None = None  # e.g. it predicts one class for every row

    def cv_dict(self) -> dict[str, dict[str, Any]]:
        """`cv` as JSON-ready dicts (mean, std, ci_low, ci_high, folds), non-finite as None."""
        return {m: {**finite_or_none({"mean": s.mean, "std": s.std, "ci_low": s.ci_low,
                                      "ci_high": s.ci_high}),
                    "folds": [None if not np.isfinite(v) else v for v in s.folds]}
                for m, s in self.cv.items()}


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
    selection: Selection | None = None
    decision: DecisionRule | None = None  # the threshold rule and the calibration

    @property
    def top_tier(self) -> list[str]:
        """The winner and the frameworks tied with it, best mean first."""
        return list(self.selection.top_tier) if self.selection else []

    def summary(self) -> dict[str, Any]:
        """The `--json` object of `modeldev train` (and a train job's result)."""
        best = self.best
        return {
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "task": self.task,
            "cv_folds": self.split.cv_folds, "cv_repeats": self.split.repeats,
            "runs": [{"name": r.name, "run_id": r.run_id, "status": r.status,
                      "metrics": finite_or_none(r.metrics), "cv": r.cv_dict(), "error": r.error,
                      "decision_threshold": r.decision_threshold, "warning": r.warning}
                     for r in self.runs],
            "best_model": None if best is None else {
                "name": best.name, "run_id": best.run_id, "primary_metric": self.primary_metric,
                "value": best.metrics.get(self.primary_metric)},
            "top_tier": self.top_tier,
            "equivalent": self.selection.equivalent() if self.selection else [],
            "equivalence_margin": self.selection.equivalence_margin if self.selection else None,
            "tier_method": self.selection.tier_method if self.selection else "",
            "selection_rule": SELECTION_RULE,
            **(self.decision.as_dict() if self.decision else {"threshold_rule": None,
                                                               "calibration": None}),
            "class_weight": self.split.class_weight,
            "artifacts_dir": str(self.artifacts_dir),
        }
