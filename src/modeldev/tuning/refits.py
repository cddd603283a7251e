"""The two models a tuning ends with: a parameter set refitted on the final rows, with the
calibration and decision threshold its folds chose, and scored once on the test rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.cross_validation import FINAL, FoldCache, fit_fold
from modeldev.evaluation.decision import (
    DecisionRule,
    SplitDecisions,
    decide_split,
    needs_rescoring,
)
from modeldev.evaluation.scoring import score_outputs
from modeldev.frameworks.base import FitContext, FittedModel, Framework


@dataclass
class Refit:
    """A parameter set fitted on the final rows: the model, its test outputs and metrics, and
    (where a rule applies) what its folds decided."""

    params: dict[str, Any]
    model: FittedModel
    test_outputs: np.ndarray
    test_metrics: dict[str, float]
    fit_seconds: float
    decided: SplitDecisions | None = None


def fold_decisions(adapter: Framework, split: Split, cache: FoldCache, params: dict[str, Any],
                   rule: DecisionRule | None, ctx: FitContext) -> SplitDecisions | None:
    """The calibration and threshold `params` gets, cross-fitted over its fold fits (fitted
    again here: the same seeded fits the trials made), or None where no rule applies."""
    if not needs_rescoring(rule, split.task):
        return None
    assert rule is not None
    outputs = []
    for j in range(len(split.folds)):
        model, inputs, _ = fit_fold(adapter, cache, j, params, ctx)
        outputs.append(model.outputs(inputs.validation()[0]))
    return decide_split(rule, split, outputs)


def refit(adapter: Framework, split: Split, cache: FoldCache, params: dict[str, Any],
          ctx: FitContext, rule: DecisionRule | None = None) -> Refit:
    """Fit `params` on the final rows, give it its folds' decisions, score the test rows once."""
    decided = fold_decisions(adapter, split, cache, params, rule, ctx)
    model, _, seconds = fit_fold(adapter, cache, FINAL, params, ctx)
    if decided is not None:
        model.calibrator, model.threshold = decided.calibrator, decided.threshold
    outputs = model.outputs(model.transform(split.X_test))
    return Refit(dict(params), model, outputs,
                 score_outputs(split.task, split.y_test, outputs, split.n_classes,
                               threshold=model.threshold), seconds, decided)
