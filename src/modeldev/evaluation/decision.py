"""What is decided after the fits, out of fold: calibration and the decision threshold.

Both are cross-fitted. The out-of-fold predictions of a repeat cover every development row
once, each made by a model that was not fitted on it. Fold f's calibrator and threshold are
chosen on the other folds of its repeat (rows of fold f's own training part, predicted by
models that did not fit them) and fold f is scored with them, so a fold's score never rests on
a choice made on its own rows. The logged model's calibrator and threshold are chosen on every
out-of-fold prediction. With one holdout split the validation rows are halved (stratified):
each half is scored with what the other half chose, and the logged model takes what all of
them choose. No model is fitted again: what `TunedThresholdClassifierCV` and
`CalibratedClassifierCV` would refit on inner folds (2 to 6 times the fits) is read off the
folds the comparison fits anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from modeldev.data.split import Split
from modeldev.errors import InputError
from modeldev.evaluation.calibration import METHODS, Calibrator, fit_calibrator
from modeldev.evaluation.thresholds import ThresholdRule, best_threshold


@dataclass(frozen=True)
class DecisionRule:
    """The threshold rule (binary tasks) and the calibration method, if any."""

    threshold: ThresholdRule | None = None
    calibration: str | None = None

    @property
    def active(self) -> bool:
        """Whether anything is chosen out of fold (a tuned threshold or a calibration)."""
        return bool(self.calibration) or bool(self.threshold and self.threshold.tuned)

    def fixed(self) -> float | None:
        """A fixed cut other than 0.5 (0.5 is the argmax: None)."""
        t = self.threshold
        return t.value if t is not None and not t.tuned and t.value != 0.5 else None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: the threshold rule and the calibration."""
        return {"threshold_rule": self.threshold.as_dict() if self.threshold else None,
                "calibration": self.calibration}


def needs_rescoring(rule: DecisionRule | None, task: str) -> bool:
    """Whether the rule changes anything the fold tasks scored at the argmax (a tuned cut, a
    fixed cut other than 0.5, or a calibration)."""
    return task != "regression" and rule is not None and (
        rule.active or rule.fixed() is not None)


def decision_notices(rule: DecisionRule) -> list[str]:
    """What the session says about its rule before it starts (one line each)."""
    notes = []
    if rule.threshold is not None and rule.threshold.tuned:
        notes.append(f"Decision threshold: {rule.threshold.reason}; chosen out of fold, never "
                     "on the rows a score is reported on.")
    elif rule.threshold is not None and rule.threshold.value != 0.5:
        notes.append(f"Decision threshold: {rule.threshold.reason}.")
    if rule.calibration:
        notes.append(f"Probabilities calibrated ({rule.calibration}), out of fold.")
    return notes


def check_calibration(method: str | None) -> str | None:
    """`--calibrate`'s value: none, sigmoid or isotonic."""
    if method in (None, "", "none"):
        return None
    if method not in METHODS:
        raise InputError(f"--calibrate must be none, sigmoid or isotonic, not {method!r}.")
    return method


@dataclass
class Decided:
    """Per part, the calibrated outputs and the threshold it is scored with; and the logged
    model's calibrator and threshold (None: the argmax)."""

    outputs: list[np.ndarray]
    thresholds: list[float | None]
    calibrator: Calibrator | None
    threshold: float | None


def sibling_parts(n_parts: int, repeats: int) -> list[list[int]]:
    """For each fold, the other folds of its repeat (folds are listed repeat by repeat)."""
    k = n_parts // max(repeats, 1)
    return [[j for j in range(r * k, (r + 1) * k) if j != f]
            for r in range(max(repeats, 1)) for f in range(r * k, (r + 1) * k)]


def _choose(rule: DecisionRule, y: np.ndarray, proba: np.ndarray,
            ) -> tuple[Calibrator | None, float | None]:
    calibrator = fit_calibrator(rule.calibration, y, proba) if rule.calibration else None
    if rule.threshold is None or not rule.threshold.tuned:
        return calibrator, rule.fixed()
    seen = calibrator.apply(proba) if calibrator else proba
    return calibrator, best_threshold(y, seen[:, 1], rule.threshold.objective)


def decide(rule: DecisionRule, ys: list[np.ndarray], outputs: list[np.ndarray],
           siblings: list[list[int]]) -> Decided:
    """Cross-fit the rule: part f is calibrated and cut by what its siblings' rows choose."""
    scored, cuts = [], []
    for f, others in enumerate(siblings):
        y = np.concatenate([ys[j] for j in others])
        proba = np.concatenate([outputs[j] for j in others])
        calibrator, threshold = _choose(rule, y, proba)
        scored.append(calibrator.apply(outputs[f]) if calibrator else outputs[f])
        cuts.append(threshold)
    calibrator, threshold = _choose(rule, np.concatenate(ys), np.concatenate(outputs))
    return Decided(scored, cuts, calibrator, threshold)


def halves(y: np.ndarray, seed: int) -> list[np.ndarray]:
    """One holdout split's validation positions in two stratified halves."""
    if len(y) < 4 or np.bincount(np.asarray(y, dtype=np.int64)).min() < 2:
        order = np.random.default_rng(seed).permutation(len(y))
        return [np.sort(order[::2]), np.sort(order[1::2])]
    split = StratifiedKFold(2, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return [valid for _, valid in split]


@dataclass
class SplitDecisions:
    """A model's decisions over a split: per fold, its calibrated validation outputs and the
    threshold they are scored at (one per row on a holdout split); the logged model's own."""

    outputs: list[np.ndarray]
    thresholds: list[float | np.ndarray | None]
    calibrator: Calibrator | None
    threshold: float | None


def decide_split(rule: DecisionRule, split: Split, fold_outputs: list[np.ndarray]
                 ) -> SplitDecisions:
    """Cross-fit the rule over a split's folds (holdout: over two halves of its validation
    rows) from each fold's validation outputs."""
    ys = [split.y_dev[fold.valid] for fold in split.folds]
    if not split.holdout:
        d = decide(rule, ys, fold_outputs, sibling_parts(len(ys), split.repeats))
        return SplitDecisions(d.outputs, list(d.thresholds), d.calibrator, d.threshold)
    parts = halves(ys[0], split.seed)
    d = decide(rule, [ys[0][p] for p in parts], [fold_outputs[0][p] for p in parts],
               [[1], [0]])
    outputs = np.empty_like(np.asarray(fold_outputs[0], dtype=float))
    per_row = np.full(len(ys[0]), np.nan)
    for p, out, cut in zip(parts, d.outputs, d.thresholds, strict=True):
        outputs[p] = out
        per_row[p] = np.nan if cut is None else cut
    cuts: float | np.ndarray | None = None if np.isnan(per_row).all() else per_row
    return SplitDecisions([outputs], [cuts], d.calibrator, d.threshold)
