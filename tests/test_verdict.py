"""The tuning verdict's pieces: the reality check, the improvement interval, parameter effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeldev.evaluation.reality_check import fold_verdict
from modeldev.evaluation.statistics import fold_summary
from modeldev.tuning import analysis
from modeldev.tuning.verdict import improvement_interval, verdict_on_folds

FOLD_ROWS = (400, 100)


def _trial(index: int, folds: list[float], params: dict | None = None) -> dict:
    return {"index": index, "hash": f"h{index}", "params": params or {"i": index},
            "status": "FINISHED",
            "metrics": {"f1_score": float(np.mean(folds)),
                        **{f"f1_score_fold{j}": v for j, v in enumerate(folds, start=1)}}}


def test_a_clear_gain_over_the_baseline_is_better_and_reports_its_price():
    rng = np.random.default_rng(0)
    base = 0.80 + rng.normal(0, 0.01, 10)
    combos = {f"c{j}": base + rng.normal(0, 0.003, 10) for j in range(8)}
    combos["c8"] = base + 0.05 + rng.normal(0, 0.003, 10)
    said = fold_verdict(combos, "c8", base, "f1_score", *FOLD_ROWS)
    assert said.verdict == "better" and said.n_compared == 9
    assert 0 < said.p_better < 0.025 and said.p_value == pytest.approx(2 * said.p_better)
    assert said.difference == pytest.approx(float(np.mean(combos["c8"] - base)))
    worse = fold_verdict({"c": base - 0.05 + rng.normal(0, 0.003, 10)}, "c", base,
                         "f1_score", *FOLD_ROWS)
    assert worse.verdict == "worse" and worse.p_worse < 0.025


def test_the_same_gain_chosen_from_more_combinations_needs_more_evidence():
    rng = np.random.default_rng(1)
    base = 0.80 + rng.normal(0, 0.01, 10)
    chosen = base + 0.004 + rng.normal(0, 0.004, 10)
    few = {"best": chosen, **{f"c{j}": base + rng.normal(0, 0.004, 10) for j in range(2)}}
    many = {"best": chosen, **{f"c{j}": base + rng.normal(0, 0.004, 10) for j in range(200)}}
    p_few = fold_verdict(few, "best", base, "f1_score", *FOLD_ROWS).p_better
    p_many = fold_verdict(many, "best", base, "f1_score", *FOLD_ROWS).p_better
    assert p_many > p_few


def test_missing_fold_scores_are_not_tested_rather_than_scored_in_sample():
    trials = [_trial(0, [0.8, 0.81, 0.79]), {**_trial(1, [0.9]), "metrics": {"f1_score": 0.9}}]
    best = trials[1]  # the best mean has no fold scores (an older run, say)
    said = verdict_on_folds(trials, best, [0.8, 0.8, 0.8], "f1_score", 3, *FOLD_ROWS)
    assert said.verdict == "no_difference" and said.n_compared == 0
    assert math.isnan(said.p_value) and "no in-sample fallback" in said.method
    no_baseline = verdict_on_folds(trials, trials[0], None, "f1_score", 3, *FOLD_ROWS)
    assert no_baseline.verdict == "no_difference" and math.isnan(no_baseline.p_value)


def test_the_improvement_interval_is_the_absolute_differences_over_the_observed_baseline():
    # a baseline that finds few positives: on many resamples its F1 is 0, so the ratio of
    # resampled figures (the old interval) was inf there
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(12, int), np.zeros(88, int)]
    tuned = np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.15, 100)
    base = np.full(100, 0.1)
    base[[0, 50]] = 0.9  # one true positive, one false positive
    as_proba = [np.column_stack([1 - np.clip(p, 0, 1), np.clip(p, 0, 1)]) for p in (tuned, base)]
    gain = improvement_interval("f1_score", "binary", y, *as_proba, 2, seed=0)
    assert math.isfinite(gain.ci_low) and math.isfinite(gain.ci_high)
    assert gain.ci_low <= gain.difference <= gain.ci_high and gain.ci_low > 0
    assert "divided by the baseline's value" in gain.method


def test_parameter_effects_cancel_how_hard_each_fold_is():
    # folds differ a lot in difficulty; depth=6 is better by 0.01 on every fold
    difficulty = np.array([0.0, 0.08, -0.06, 0.05, -0.07])
    trials = []
    for i in range(8):
        depth = 6 if i % 2 else 3
        noise = np.random.default_rng(i).normal(0, 0.002, 5)
        trials.append(_trial(i, list(0.8 + difficulty + 0.01 * (depth == 6) + noise),
                             {"depth": depth, "other": i // 2}))
    impact = analysis.parameter_impact(trials, ["depth"], "f1_score", FOLD_ROWS)
    shallow, deep = impact["depth"]
    assert deep["effect_ci_low"] > 0 > shallow["effect_ci_high"]  # the effects are clear
    # the spread of each value's mean alone (the old whisker) overlaps fully
    plain = [fold_summary(g["fold_means"], *FOLD_ROWS) for g in (shallow, deep)]
    assert plain[0].ci_high > plain[1].ci_low
    noise = analysis.within_noise(impact, "f1_score", FOLD_ROWS)
    assert noise["depth"]["within_noise"] is False and noise["depth"]["best"] == "6"
