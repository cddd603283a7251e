"""Fold outcomes gathered into one result per combination once all of a group's folds are in.

A combination's figures are its cross-validated means; its primary metric also carries the
fold scores, spread and interval (`evaluation.statistics`). Where a threshold rule or a
calibration applies, each combination's folds are scored again with what its sibling folds
chose (`evaluation.decision`), exactly as Phase 1 scores a framework, and the threshold its
logged model would take is kept as the metric `decision_threshold`. A group with a failed or
timed-out fold fails as a whole: every combination in it ends FAILED with that fold's error.
The baseline's folds are kept aside for the verdict and never become a child run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.errors import ModeldevError
from modeldev.evaluation.decision import DecisionRule, decide_split
from modeldev.evaluation.scoring import score_outputs
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
    split: Split | None = None  # with `rule`: the folds' targets, to score again
    rule: DecisionRule | None = None
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
            self.baseline_folds = self._decided([o.result[0] for o in folds])[0]
            return None
        if failed is not None:
            return GroupOutcome(key, [], failed.error, failed.timed_out)
        return GroupOutcome(key, self._combine(key, [o.result for o in folds]))

    def _combine(self, key: str, per_fold: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        results = []
        for i, (h, _params) in enumerate(self.plan.groups[key]):
            member = [fold[i] for fold in per_fold]
            assert all(m["hash"] == h for m in member)  # the worker keeps member order
            fold_metrics, threshold = self._decided(member)
            metrics = self.combined_metrics(fold_metrics)
            if threshold is not None:
                metrics["decision_threshold"] = threshold
            results.append({"hash": h, "device": member[0]["device"],
                            "staged_from": member[0]["staged_from"], "metrics": metrics})
        return results

    def _decided(self, member: list[dict[str, Any]]) -> tuple[list[dict[str, float]],
                                                               float | None]:
        """One combination's fold metrics, scored again under the rule when its folds came
        with their validation outputs; and the threshold its logged model would take."""
        if self.split is None or self.rule is None or "valid_outputs" not in member[0]:
            return [m["metrics"] for m in member], None
        split = self.split
        decided = decide_split(self.rule, split, [m.pop("valid_outputs") for m in member])
        metrics = []
        for j, m in enumerate(member):
            y = split.y_dev[split.folds[j].valid]
            metrics.append({**m["metrics"], **score_outputs(
                split.task, y, decided.outputs[j], split.n_classes,
                threshold=decided.thresholds[j])})
        cut = decided.threshold if decided.threshold is not None else (
            0.5 if split.task == "binary" else None)
        return metrics, cut

    def combined_metrics(self, folds: list[dict[str, float]]) -> dict[str, float | None]:
        """Means over the folds, and the primary metric's spread, interval and fold scores."""
        names = folds[0].keys()
        out: dict[str, float | None] = {n: float(np.mean([f[n] for f in folds])) for n in names}
        if len(folds) > 1:
            summary = fold_summary([f[self.metric] for f in folds], self.n_train, self.n_valid)
            out.update(flat_metrics(self.metric, summary))
        return out
