"""Decision thresholds, calibration and class weights, decided out of fold (evaluation.decision)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from modeldev.data.split import TrainingRows, balanced_weights
from modeldev.data.validation import prepare
from modeldev.errors import InputError
from modeldev.evaluation.calibration import fit_calibrator
from modeldev.evaluation.decision import DecisionRule, decide, sibling_parts
from modeldev.evaluation.scoring import score_outputs
from modeldev.evaluation.thresholds import (
    best_threshold,
    parse_threshold,
    resolve_rule,
)
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework


def _proba(p1: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p1, p1])


@pytest.mark.parametrize("seed", range(8))
def test_the_best_threshold_is_the_best_cut_of_every_possible_one(seed):
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=200) < 0.15).astype(int)
    score = np.round(np.clip(0.15 + 0.3 * y + rng.normal(0, 0.15, 200), 0, 1), 2)  # ties
    cut = best_threshold(y, score, "f1_score")
    ours = skm.f1_score(y, (score > cut).astype(int))
    brute = max(skm.f1_score(y, (score >= c).astype(int)) for c in np.unique(score))
    assert ours == pytest.approx(brute)
    assert not np.any(score == cut)  # a midpoint between two scores, never a score itself
    acc_cut = best_threshold(y, score, "accuracy")
    assert skm.accuracy_score(y, score > acc_cut) == pytest.approx(
        max(skm.accuracy_score(y, score >= c) for c in np.unique(score)))


def test_auto_tunes_for_a_rare_class_and_keeps_0_5_otherwise():
    rare = np.r_[np.ones(20), np.zeros(80)]
    rule = resolve_rule(None, "binary", rare, "f1_score")
    assert rule is not None and rule.tuned and "20% of the rows" in rule.reason
    even = np.r_[np.ones(45), np.zeros(55)]
    fixed = resolve_rule("auto", "binary", even, "f1_score")
    assert fixed is not None and not fixed.tuned and fixed.value == 0.5
    assert DecisionRule(fixed).fixed() is None  # 0.5 is the argmax, exactly as before
    assert resolve_rule(0.3, "binary", even, "roc_auc").objective == "f1_score"
    assert resolve_rule(None, "multiclass", even, "f1_score") is None
    with pytest.raises(InputError, match="binary tasks only"):
        resolve_rule(0.3, "multiclass", even, "f1_score")
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        parse_threshold("1.5")
    assert parse_threshold("AUTO") == "auto" and parse_threshold("0.2") == 0.2


def test_a_folds_threshold_never_sees_the_folds_own_labels():
    rng = np.random.default_rng(0)
    ys = [(rng.uniform(size=100) < 0.2).astype(int) for _ in range(5)]
    outs = [_proba(np.clip(0.2 + 0.4 * y + rng.normal(0, 0.2, 100), 0, 1)) for y in ys]
    rule = DecisionRule(resolve_rule("tuned", "binary", np.concatenate(ys), "f1_score"))
    siblings = sibling_parts(5, 1)
    first = decide(rule, ys, outs, siblings)
    flipped = [1 - y if j == 2 else y for j, y in enumerate(ys)]  # fold 2's labels turned over
    second = decide(rule, flipped, outs, siblings)
    assert first.thresholds[2] == second.thresholds[2]  # fold 2 scored by what others chose
    assert first.thresholds[0] != second.thresholds[0] or first.thresholds[1] != \
        second.thresholds[1]  # its labels do move the thresholds of the folds they serve
    assert sibling_parts(10, 2)[7] == [5, 6, 8, 9]  # the other folds of its own repeat


def test_no_optimism_where_there_is_no_signal():
    # scores independent of the labels: the best cut chosen on the scored rows finds an F1
    # above what a fresh sample gives; the cross-fitted cut does not
    rng = np.random.default_rng(3)
    inside, crossed, fresh = [], [], []
    for _ in range(60):
        ys = [(rng.uniform(size=60) < 0.2).astype(int) for _ in range(5)]
        outs = [_proba(rng.uniform(size=60)) for _ in ys]
        rule = DecisionRule(resolve_rule("tuned", "binary", np.concatenate(ys), "f1_score"))
        d = decide(rule, ys, outs, sibling_parts(5, 1))
        crossed.append(np.mean([score_outputs("binary", y, o, 2, ["f1_score"], t)["f1_score"]
                                for y, o, t in zip(ys, d.outputs, d.thresholds, strict=True)]))
        inside.append(np.mean([skm.f1_score(y, o[:, 1] > best_threshold(y, o[:, 1]))
                               for y, o in zip(ys, outs, strict=True)]))
        y_new = (rng.uniform(size=300) < 0.2).astype(int)
        fresh.append(skm.f1_score(y_new, rng.uniform(size=300) > d.threshold))
    assert np.mean(inside) > np.mean(fresh) + 0.05  # the leak the protocol avoids
    assert abs(np.mean(crossed) - np.mean(fresh)) < 0.03


def test_calibration_maps_are_scikit_learns_and_improve_a_miscalibrated_model():
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=2000) < 0.3).astype(int)
    raw = np.clip(0.3 + 0.25 * y + rng.normal(0, 0.15, 2000), 0.01, 0.99) ** 2  # too low
    iso = fit_calibrator("isotonic", y, _proba(raw))
    expected = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, y)
    np.testing.assert_allclose(iso.apply(_proba(raw))[:, 1], expected.predict(raw))
    for method in ("isotonic", "sigmoid"):
        calibrated = fit_calibrator(method, y, _proba(raw)).apply(_proba(raw))
        assert np.allclose(calibrated.sum(axis=1), 1.0)
        assert skm.brier_score_loss(y, calibrated[:, 1]) < skm.brier_score_loss(y, raw)
    three = rng.dirichlet([1, 1, 1], 300)
    labels = three.argmax(axis=1)
    out = fit_calibrator("sigmoid", labels, three).apply(three)
    assert np.allclose(out.sum(axis=1), 1.0) and out.shape == (300, 3)


def _rows(n_pos: int = 30, n_neg: int = 270) -> TrainingRows:
    rng = np.random.default_rng(2)
    import pandas as pd

    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    frame = pd.DataFrame({"a": rng.normal(0, 1, len(y)) + 0.8 * y,
                          "b": rng.normal(0, 1, len(y)), "t": y})
    data = prepare(frame, "t")
    return TrainingRows(data.X, y, "binary", data.plan, [0, 1], 0, balanced_weights(y, 2))


def test_balanced_weights_are_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    np.testing.assert_allclose(balanced_weights(y, 2),
                               compute_class_weight("balanced", classes=np.array([0, 1]), y=y))


@pytest.mark.parametrize("name", ["sklearn_logistic_regression", "sklearn_random_forest",
                                  "xgboost_baseline", "lightgbm_baseline", "pytorch_nn"])
def test_every_framework_with_class_weights_finds_more_of_the_rare_class(name):
    rows = _rows()
    plain = TrainingRows(rows.X, rows.y, rows.task, rows.plan, rows.classes, rows.seed)
    adapter = get_framework(name, "binary")
    params = {"epochs": 30} if name == "pytorch_nn" else {}
    ctx = FitContext(seed=0, n_threads=1)
    unweighted = adapter.fit(plain, params, ctx).predict_proba(rows.X)[:, 1]
    weighted = adapter.fit(rows, params, ctx).predict_proba(rows.X)[:, 1]
    # weighting the rare class up moves its probabilities up (and so how many are called)
    assert weighted[rows.y == 1].mean() > unweighted[rows.y == 1].mean()
