"""Intervals, paired tests, the winner's tier and the tuning verdict (modeldev.evaluation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.selection import (
    paired_difference,
    select_by_folds,
    select_by_rows,
    verdict,
)
from modeldev.evaluation.statistics import (
    PairedTest,
    corrected_paired_ttest,
    flat_metrics,
    fold_summary,
    row_summary,
)

A = [0.80, 0.82, 0.78, 0.81, 0.79]
B = [0.78, 0.80, 0.79, 0.78, 0.77]


def test_corrected_paired_ttest_against_a_hand_computed_example():
    # d = a - b = [0.02, 0.02, -0.01, 0.03, 0.02]: mean 0.016, sample variance 9.2e-4 / 4
    # = 2.3e-4. Nadeau-Bengio with 400 training and 100 validation rows per fold:
    # factor 1/5 + 100/400 = 0.45, se = sqrt(0.45 * 2.3e-4) = 0.0101735, t = 1.57271 on 4 df,
    # two-sided p = 0.19089 (t table); interval 0.016 +- 2.77645 * 0.0101735.
    test = corrected_paired_ttest(A, B, n_train=400, n_valid=100)
    assert test.difference == pytest.approx(0.016)
    assert test.p_value == pytest.approx(0.19089, abs=1e-5)
    half = 2.7764451 * math.sqrt(0.45 * 2.3e-4)
    assert (test.ci_low, test.ci_high) == pytest.approx((0.016 - half, 0.016 + half))
    # the uncorrected paired t-test on the same folds would call this a near-difference
    naive = stats.ttest_rel(A, B).pvalue
    assert naive == pytest.approx(0.0777, abs=1e-4) and test.p_value > 2 * naive


def test_identical_folds_are_tied_and_constant_gaps_are_certain():
    assert corrected_paired_ttest(A, A, 400, 100).p_value == 1.0
    shifted = [a + 0.01 for a in A]
    sure = corrected_paired_ttest(shifted, A, 400, 100)
    assert sure.p_value == 0.0 and sure.difference == pytest.approx(0.01)


def test_fold_summary_interval_is_the_corrected_t_interval():
    summary = fold_summary(A, n_train=400, n_valid=100)
    std = float(np.std(A, ddof=1))
    half = stats.t.ppf(0.975, 4) * math.sqrt(0.45) * std
    assert summary.mean == pytest.approx(0.8) and summary.std == pytest.approx(std)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((0.8 - half, 0.8 + half))
    assert summary.folds == A
    one = fold_summary([0.7], 400, 100)
    assert one.mean == 0.7 and one.std is None and one.ci_low is None


def test_flat_metrics_are_plain_keys_any_client_reads():
    flat = flat_metrics("f1_score", fold_summary(A, 400, 100))
    assert list(flat)[:4] == ["f1_score", "f1_score_std", "f1_score_ci_low", "f1_score_ci_high"]
    assert [flat[f"f1_score_fold{j}"] for j in range(1, 6)] == A


def test_winner_is_the_best_mean_and_the_tier_holds_the_indistinguishable():
    folds = {"lr": A, "rf": B, "bad": [a - 0.1 for a in A]}
    sel = select_by_folds(folds, "f1_score", n_train=400, n_valid=100)
    assert sel.winner == "lr" and sel.top_tier == ["lr", "rf"] and sel.tied_with() == ["rf"]
    rf, bad = sel.comparisons
    assert rf.tied and rf.p_value == pytest.approx(0.19089, abs=1e-5)
    assert not bad.tied and bad.p_value == 0.0 and bad.advantage == pytest.approx(0.1)
    assert "rf is not significantly different" in sel.reason


def test_for_a_loss_lower_wins_and_the_advantage_keeps_its_sign():
    sel = select_by_folds({"a": [0.5, 0.6, 0.55], "b": [0.4, 0.45, 0.5]}, "log_loss", 80, 20)
    assert sel.winner == "b" and sel.comparisons[0].advantage == pytest.approx(0.1)


def _outputs(rng: np.random.Generator, y: np.ndarray, skill: float) -> np.ndarray:
    p = np.clip(np.where(y == 1, skill, 1 - skill) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    return np.column_stack([1 - p, p])


def test_holdout_rows_give_a_bootstrap_comparison():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    good, weak = _outputs(rng, y, 0.8), _outputs(rng, y, 0.55)
    sel = select_by_rows({"weak": weak, "good": good}, y, "binary", "f1_score", 2, seed=1)
    assert sel.winner == "good" and sel.top_tier == ["good"]
    assert sel.comparisons[0].p_value < 0.05 and "bootstrap" in sel.method
    diff = paired_difference("f1_score", "binary", y, good, good, 2, seed=1)
    assert diff.difference == 0.0 and diff.p_value == 1.0


def test_row_summary_interval_covers_the_value():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    out = _outputs(rng, y, 0.7)
    summary = row_summary(lambda yy, oo: metric_of_outputs("accuracy", "binary", yy, oo, 2),
                          (y, out), seed=0)
    assert summary.ci_low < summary.mean < summary.ci_high and summary.std > 0


@pytest.mark.parametrize(("difference", "p", "metric", "expected"), [
    (0.02, 0.01, "f1_score", "better"), (-0.02, 0.01, "f1_score", "worse"),
    (0.02, 0.30, "f1_score", "no_difference"), (0.02, 0.01, "rmse", "worse"),
    (-0.02, 0.01, "rmse", "better"), (0.0, float("nan"), "f1_score", "no_difference")])
def test_verdict_is_direction_aware(difference, p, metric, expected):
    assert verdict(PairedTest(difference, 0, 0, p, "t"), metric) == expected


def test_means_less_than_one_row_apart_are_a_tie_won_by_the_first_listed():
    folds = {"simple": [0.90, 0.92, 0.9099], "net": [0.90, 0.92, 0.91]}
    sel = select_by_folds(folds, "f1_score", n_train=60, n_valid=30)
    assert sel.winner == "simple" and sel.top_tier == ["simple", "net"]
    assert "equal to net's within one scored row" in sel.reason
    # a difference of more than one row's worth (1/90 here) is not a tie
    apart = {"simple": [0.90, 0.92, 0.91], "net": [0.95, 0.96, 0.97]}
    assert select_by_folds(apart, "f1_score", 60, 30).winner == "net"
    # probability and regression metrics have no row granularity: only exact ties
    close = {"simple": [0.95, 0.96, 0.9699], "net": [0.95, 0.96, 0.97]}
    assert select_by_folds(close, "roc_auc", 60, 30).winner == "net"
    same = {"ols": [54.1, 55.0], "linear": [54.1, 55.0]}
    assert select_by_folds(same, "rmse", 300, 150).winner == "ols"
    # the same model fitted by two libraries differs in the last digits: still a tie
    noisy = {"linear": [54.1 + 3e-11, 55.0], "ols": [54.1, 55.0]}
    assert select_by_folds(noisy, "rmse", 300, 150).winner == "linear"
    assert select_by_folds({"linear": [54.1 + 1e-6, 55.0], "ols": [54.1, 55.0]}, "rmse", 300,
                           150).winner == "ols"
