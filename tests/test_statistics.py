"""Intervals, paired tests, the winner's tier and the tuning verdict (modeldev.evaluation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from stats_support import noisy_outputs

from modeldev.evaluation.metrics import get_metric
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.selection import paired_difference
from modeldev.evaluation.statistics import (
    bootstrap_p,
    corrected_paired_ttest,
    flat_metrics,
    fold_summary,
    paired_bootstrap,
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


def test_identical_folds_give_p_1_and_constant_gaps_are_never_p_0():
    assert corrected_paired_ttest(A, A, 400, 100).p_value == 1.0
    shifted = [a + 0.01 for a in A]
    # every fold 0.01 apart: no spread to weigh the gap against; the test is undefined
    undefined = corrected_paired_ttest(shifted, A, 400, 100)
    assert math.isnan(undefined.p_value) and undefined.difference == pytest.approx(0.01)
    # with a label metric's resolution (one row of 100) as the least spread, a finite p
    floored = corrected_paired_ttest(shifted, A, 400, 100, floor=0.01)
    assert 0.0 < floored.p_value < 1.0
    expected = 2 * stats.t.sf(0.01 / math.sqrt(0.45 * 0.01**2), 4)
    assert floored.p_value == pytest.approx(expected)


def test_fold_summary_interval_is_the_corrected_t_interval():
    summary = fold_summary(A, n_train=400, n_valid=100)
    std = float(np.std(A, ddof=1))
    half = stats.t.ppf(0.975, 4) * math.sqrt(0.45) * std
    assert summary.mean == pytest.approx(0.8) and summary.std == pytest.approx(std)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((0.8 - half, 0.8 + half))
    assert summary.folds == A
    one = fold_summary([0.7], 400, 100)
    assert one.mean == 0.7 and one.std is None and one.ci_low is None


def test_intervals_stay_inside_the_metrics_range():
    # five folds of F1 near 1 on small folds: the t-interval alone reaches past 1.0
    folds = [1.0, 0.95, 1.0, 0.90, 1.0]
    loose = fold_summary(folds, 80, 20)
    assert loose.ci_high > 1.0
    bounded = fold_summary(folds, 80, 20, get_metric("f1_score").bounds)
    assert bounded.ci_high == 1.0 and bounded.ci_low == loose.ci_low
    r2 = fold_summary([0.99, 0.90, 0.999, 0.95, 0.999], 80, 20, get_metric("r2_score").bounds)
    assert r2.ci_high <= 1.0
    rmse = fold_summary([0.01, 0.2, 0.02, 0.3, 0.01], 80, 20, get_metric("rmse").bounds)
    assert rmse.ci_low == 0.0


def test_flat_metrics_are_plain_keys_any_client_reads():
    flat = flat_metrics("f1_score", fold_summary(A, 400, 100))
    assert list(flat)[:4] == ["f1_score", "f1_score_std", "f1_score_ci_low", "f1_score_ci_high"]
    assert [flat[f"f1_score_fold{j}"] for j in range(1, 6)] == A


def test_a_paired_bootstrap_of_identical_outputs_has_p_1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    good = noisy_outputs(rng, y, 0.8)
    diff = paired_difference("f1_score", "binary", y, good, good, 2, seed=1)
    assert diff.difference == 0.0 and diff.p_value == 1.0 and diff.dropped == 0


def test_bootstrap_p_is_never_0():
    # every resample above 0: the smallest p B resamples can give, 2 / (B + 1)
    assert bootstrap_p(np.full(999, 0.3)) == pytest.approx(2 / 1000)
    assert bootstrap_p(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(min(1, 2 * 2 / 5))


def test_non_finite_resamples_are_dropped_from_the_interval_and_the_p_value_alike():
    # a ratio whose denominator is 0 on some resamples (inf or NaN there)
    rng = np.random.default_rng(2)
    a = rng.normal(1.0, 1.0, 20)
    b = np.r_[np.zeros(17), [1.0, 2.0, 3.0]]

    def ratio(aa: np.ndarray, bb: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return float(aa.mean() / bb.mean())

    test = paired_bootstrap(ratio, (a, b), seed=0, n_resamples=499)
    assert 0 < test.dropped < 499
    assert math.isfinite(test.ci_low) and math.isfinite(test.ci_high)
    assert 0 < test.p_value <= 1 and f"{499} resamples" in test.method


def test_row_summary_interval_covers_the_value():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    out = noisy_outputs(rng, y, 0.7)
    summary = row_summary(lambda yy, oo: metric_of_outputs("accuracy", "binary", yy, oo, 2),
                          (y, out), seed=0)
    assert summary.ci_low < summary.mean < summary.ci_high and summary.std > 0
