"""A framework's out-of-fold decisions in Phase 1: its calibration and decision threshold
applied to its fold scores, test figures and logged model, and whether it predicts one class.

The fold tasks score at the argmax; once every fold of a framework is in, the rule is
cross-fitted over its folds (`evaluation.decision`) and each fold is scored again with what
its sibling folds chose, the test rows with what all of them chose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.decision import DecisionRule, decide_split
from modeldev.evaluation.scoring import predicted_labels, score_outputs
from modeldev.frameworks.base import FittedModel


def apply_rule(rule: DecisionRule, split: Split, folds: list[dict[str, Any]],
               final: dict[str, Any], model: FittedModel) -> None:
    """Rescore each fold and the test rows under the rule; give the model its calibrator and
    threshold (holdout: the validation outputs and per-row cuts the comparison uses)."""
    decided = decide_split(rule, split, [np.asarray(f["valid_outputs"]) for f in folds])
    for j, fold in enumerate(folds):
        y = split.y_dev[split.folds[j].valid]
        fold["metrics"].update(score_outputs(split.task, y, decided.outputs[j],
                                             split.n_classes, threshold=decided.thresholds[j]))
        fold["valid_outputs"], fold["threshold"] = decided.outputs[j], decided.thresholds[j]
    model.calibrator, model.threshold = decided.calibrator, decided.threshold
    test = np.asarray(final["test_outputs"], dtype=float)
    final["test_outputs"] = decided.calibrator.apply(test) if decided.calibrator else test
    final["test_metrics"] = score_outputs(split.task, split.y_test, final["test_outputs"],
                                          split.n_classes, threshold=decided.threshold)


def constant_predictions(split: Split, folds: list[dict[str, Any]], final: dict[str, Any],
                         threshold: float | None) -> str | None:
    """A warning when the model predicts one class for every row of a fold or of the test
    rows (a net that collapsed, or a cut no probability reaches); None otherwise."""
    if split.task == "regression":
        return None
    one_class = [f for f in folds if "valid_outputs" in f and len(np.unique(predicted_labels(
        split.task, np.asarray(f["valid_outputs"]), f.get("threshold")))) == 1]
    test = predicted_labels(split.task, np.asarray(final["test_outputs"]), threshold)
    if not one_class and len(np.unique(test)) > 1:
        return None
    label = split.classes[int(test[0])] if len(np.unique(test)) == 1 else None
    where = [f"{len(one_class)} of {len(folds)} folds"] if one_class else []
    if label is not None:
        where.append("the test rows")
    what = f"class {label!r}" if label is not None else "a single class"
    return f"predicts {what} for every row on {' and on '.join(where)}"
