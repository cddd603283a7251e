"""Fold outcomes gathered into one result per combination once all of a group's folds are in.

A combination's figures are its cross-validated means; its primary metric also carries the
fold scores, spread and interval (`evaluation.statistics`). A group with a failed or timed-out
fold fails as a whole: every combination in it ends FAILED with that fold's error. The
baseline's folds are kept aside for the verdict and never become a child run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeldev.errors import ModeldevError
from modeldev.evaluation.statistics import flat_metrics, fold_summary
from modeldev.execution.common import TaskOutcome
from modeldev.tuning.plan import BASELINE, Plan, fold_of, group_of


@dataclass(frozen=True)
class GroupOutcome:
    """Every fold of a group is in: its members' combined results, or the error that ended it."""

    key: str
    results: list[dict[str, Any]]
    error: str | None = None
    timed_out: bool = False


@dataclass
class FoldCollector:
    """Collects task outcomes until each group has all of its folds."""

    plan: Plan
    metric: str
    n_train: int
    n_valid: int
    baseline_folds: list[dict[str, float]] | None = None
    _got: dict[str, dict[int, TaskOutcome]] = field(default_factory=dict)

    def add(self, outcome: TaskOutcome) -> GroupOutcome | None:
        """File one fold; the group's outcome once its last fold is in (None before, and for
        the baseline, whose folds go to `baseline_folds`)."""
        key = group_of(outcome.key)
        got = self._got.setdefault(key, {})
        got[fold_of(outcome.key)] = outcome
        if len(got) < self.plan.n_folds:
            return None
        del self._got[key]
        folds = [got[f] for f in range(self.plan.n_folds)]
        failed = next((o for o in folds if o.error is not None), None)
        if key == BASELINE:
            if failed is not None:
                raise ModeldevError(f"The baseline parameters failed on a fold: {failed.error}")
            self.baseline_folds = [o.result[0]["metrics"] for o in folds]
            return None
        if failed is not None:
            return GroupOutcome(key, [], failed.error, failed.timed_out)
        return GroupOutcome(key, self._combine(key, [o.result for o in folds]))

    def _combine(self, key: str, per_fold: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        results = []
        for i, (h, _params) in enumerate(self.plan.groups[key]):
            member = [fold[i] for fold in per_fold]
            assert all(m["hash"] == h for m in member)  # the worker keeps member order
            results.append({"hash": h, "device": member[0]["device"],
                            "staged_from": member[0]["staged_from"],
                            "metrics": self.combined_metrics([m["metrics"] for m in member])})
        return results

    def combined_metrics(self, folds: list[dict[str, float]]) -> dict[str, float | None]:
        """Means over the folds, and the primary metric's spread, interval and fold scores."""
        names = folds[0].keys()
        out: dict[str, float | None] = {n: float(np.mean([f[n] for f in folds])) for n in names}
        if len(folds) > 1:
            summary = fold_summary([f[self.metric] for f in folds], self.n_train, self.n_valid)
            out.update(flat_metrics(self.metric, summary))
        return out
