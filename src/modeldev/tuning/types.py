"""What Phase 2 is asked (TuneRequest) and what it returns (TuneResult)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldev.data.loading import Source
from modeldev.data.split import DEFAULT_SEED


@dataclass
class TuneRequest:
    """What an analyst asks of Phase 2."""

    training_run_id: str | None = None
    framework: str | None = None
    source: Source | None = None
    target: str | None = None
    task: str = "auto"
    grid: dict[str, Any] | None = None
    primary_metric: str | None = None
    workers: int | None = None
    dask_scheduler: str | None = None
    trial_timeout: float | None = None
    resume: str | None = None
    seed: int = DEFAULT_SEED
    device: str = "auto"
    experiment: str | None = None
    cv: int | None = None  # folds when tuning a data source directly (a Phase 1 session's own)
    repeats: int | None = None  # the K-fold cut made R times, likewise; None: auto
    threshold: str | float | None = None  # likewise: auto, tuned or a fixed cut (binary)
    calibration: str | None = None  # likewise: sigmoid, isotonic or None
    class_weight: str | None = None  # likewise: balanced or None
    register_as: str | None = ""  # the registered model's name; "": the experiment's; None: no


@dataclass
class TuneResult:
    """The outcome of a tuning session (the CLI's --json object)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    framework: str
    primary_metric: str
    n_combinations: int
    n_completed: int
    n_failed: int
    best_params: dict[str, Any] | None
    baseline_metric_value: float | None
    final_metric_value: float | None
    improvement_pct: float | None
    artifacts_dir: Path
    wall_seconds: float
    note: str = ""
    summary_run_id: str | None = None
    model_uri: str | None = None
    cv_folds: int = 0
    cv_repeats: int = 1
    verdict: str | None = None
    carried_forward: str | None = None
    improvement_ci_pct: list[float] | None = None
    carried_model_uri: str | None = None
    carried_params: dict[str, Any] | None = None
    verdict_p_value: float | None = None  # two-sided, adjusted for choosing the best of N
    registration: dict[str, Any] | None = None  # the registered champion (or why there is none)

    def summary(self) -> dict[str, Any]:
        """The `--json` object of `modeldev tune` (and a tune job's result)."""
        return {
            "tracking_uri": self.tracking_uri, "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id, "framework": self.framework,
            "n_combinations": self.n_combinations, "n_completed": self.n_completed,
            "n_failed": self.n_failed, "best_params": self.best_params,
            "primary_metric": self.primary_metric,
            "baseline_metric_value": self.baseline_metric_value,
            "final_metric_value": self.final_metric_value,
            "improvement_pct": self.improvement_pct, "artifacts_dir": str(self.artifacts_dir),
            "wall_seconds": round(self.wall_seconds, 3), "note": self.note,
            "cv_folds": self.cv_folds, "cv_repeats": self.cv_repeats, "verdict": self.verdict,
            "carried_forward": self.carried_forward,
            "improvement_ci_pct": self.improvement_ci_pct,
            "carried_params": self.carried_params, "carried_model_uri": self.carried_model_uri,
            "verdict_p_value": self.verdict_p_value, **(self.registration or {}),
        }


@dataclass(frozen=True)
class TrialContext:
    """What logging a trial's child run needs: where it goes and how it is named."""

    experiment_id: str
    parent_run_id: str
    framework: str
    metric: str
    index: dict[str, int]  # combination hash -> its position in the grid (trial_NNNN)
    folder: Path  # the tuning folder: its results file keeps every finished combination
