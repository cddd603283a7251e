"""The winner, the top tier (comparison with the best), the tie band and practical equivalence."""

from __future__ import annotations

import baycomp
import numpy as np
import pytest
from stats_support import noisy_outputs

from modeldev.evaluation.multiple import corrected_t, max_t_p
from modeldev.evaluation.selection import select_by_folds, select_by_rows
from modeldev.tuning.baseline import choose_framework

A = [0.80, 0.82, 0.78, 0.81, 0.79]
B = [0.78, 0.80, 0.79, 0.78, 0.77]


def test_the_tier_holds_what_cannot_be_told_apart_and_says_no_more():
    folds = {"lr": A, "rf": B, "bad": [a - 0.1 for a in A]}
    sel = select_by_folds(folds, "f1_score", n_train=400, n_valid=100)
    assert sel.winner == "lr" and sel.top_tier == ["lr", "rf"] and sel.tied_with() == ["rf"]
    assert sel.best_mean == "lr"
    rf, bad = sel.comparisons
    assert rf.tied and not rf.equivalent and rf.p_value >= 0.05
    # the pair alone: the corrected t-test's two-sided p (hand-computed in test_statistics)
    assert rf.p_pairwise == pytest.approx(0.19089, abs=1e-5)
    assert not bad.tied and 0 < bad.p_value < 0.05 and bad.advantage == pytest.approx(0.1)
    assert "rf is not distinguishable from it" in sel.reason
    assert "as good" not in sel.reason.replace("not a claim that they are as good", "")
    assert "bad is shown not to be the best" in sel.reason
    assert sel.tier_method.startswith("comparison with the best")


def test_with_nothing_excluded_the_reason_does_not_say_the_others_are_worse():
    sel = select_by_folds({"lr": A, "rf": B}, "f1_score", 400, 100)
    assert sel.top_tier == ["lr", "rf"]
    assert "worse" not in sel.reason and "not the best" not in sel.reason


def test_a_frameworks_exclusion_p_is_its_largest_t_against_every_rival_at_once():
    rng = np.random.default_rng(4)
    scores = {n: list(0.8 + rng.normal(0, 0.01, 10) + shift)
              for n, shift in (("a", 0.02), ("b", 0.01), ("c", 0.0))}
    sel = select_by_folds(scores, "accuracy", 900, 100, repeats=2, seed=7)
    c = next(x for x in sel.comparisons if x.name == "c")
    table = np.array([scores["a"], scores["b"]]).T - np.array(scores["c"])[:, None]
    expected = max_t_p(table, 900, 100, floor=1 / 100, seed=7)
    assert c.p_value == pytest.approx(expected)
    # simultaneous: never below the p of its single most telling rival
    single = max_t_p(table[:, [int(np.argmax(corrected_t(table, 900, 100, 1 / 100)))]], 900,
                     100, floor=1 / 100, seed=7)
    assert c.p_value >= single - 0.01


def test_for_a_loss_lower_wins_and_the_advantage_keeps_its_sign():
    sel = select_by_folds({"a": [0.5, 0.6, 0.55], "b": [0.4, 0.45, 0.5]}, "log_loss", 80, 20)
    assert sel.winner == "b" and sel.comparisons[0].advantage == pytest.approx(0.1)


def test_the_tie_band_ties_the_same_model_from_two_libraries_and_counts_as_tied():
    # scikit-learn's linear regression and statsmodels' OLS: the same fit, 1e-8 apart relative
    rng = np.random.default_rng(0)
    linear = list(54 + rng.normal(0, 2, 10))
    ols = [v * (1 - 1e-8) for v in linear]  # a hair better (lower RMSE) on every fold
    worse = [v + 5 for v in linear]
    sel = select_by_folds({"sklearn_linear_regression": linear, "statsmodels_ols": ols,
                           "net": worse}, "rmse", 300, 75, repeats=2)
    assert sel.winner == "sklearn_linear_regression"  # listed first wins the tie
    tied = sel.comparisons[0]
    assert tied.name == "statsmodels_ols" and tied.same_mean and tied.tied and tied.equivalent
    # inside the band: never "significantly worse", although its fold differences are all
    # of one sign (they are float noise)
    assert "the same as statsmodels_ols's within the tie band" in sel.reason
    assert sel.top_tier[:2] == ["sklearn_linear_regression", "statsmodels_ols"]


def test_means_less_than_one_row_apart_are_one_band():
    folds = {"simple": [0.90, 0.92, 0.9099], "net": [0.90, 0.92, 0.91]}
    sel = select_by_folds(folds, "f1_score", n_train=60, n_valid=30)
    assert sel.winner == "simple" and sel.comparisons[0].same_mean
    # ROC AUC has no row granularity: a millionth of the mean is the band
    close = {"simple": [0.95, 0.96, 0.9699], "net": [0.95, 0.96, 0.97]}
    assert not select_by_folds(close, "roc_auc", 60, 30).comparisons[0].same_mean
    hair = {"simple": [0.95, 0.96, 0.97 - 1e-9], "net": [0.95, 0.96, 0.97]}
    assert select_by_folds(hair, "roc_auc", 60, 30).comparisons[0].same_mean


def test_the_winner_is_the_simplest_within_one_standard_error_of_the_best():
    rng = np.random.default_rng(8)
    noise = rng.normal(0, 0.02, 10)  # fold difficulty both share: a wide standard error
    best = 0.80 + noise
    wobble = rng.normal(0, 0.01, 10)
    close = best - 0.004 + wobble - wobble.mean()  # listed first, 0.004 lower on average
    sel = select_by_folds({"simple": list(close), "complex": list(best)}, "accuracy", 900, 100,
                          repeats=2)
    assert sel.winner == "simple" and sel.best_mean == "complex"
    assert sel.standard_error is not None and sel.standard_error > 0.004
    assert "within one standard error" in sel.reason and "complex" in sel.reason
    assert sel.top_tier[0] == "simple" and sel.comparisons[0].advantage < 0
    # beyond one standard error the best mean wins
    far = best - 0.05
    assert select_by_folds({"simple": list(far), "complex": list(best)}, "accuracy", 900, 100,
                           repeats=2).winner == "complex"
    # within one standard error but shown worse on the shared folds (a steady gap): not it
    steady = best - 0.01 + rng.normal(0, 0.0005, 10)
    sel = select_by_folds({"simple": list(steady), "complex": list(best)}, "accuracy", 900,
                          100, repeats=2)
    assert sel.winner == "complex" and "simple" not in sel.top_tier


def test_equivalence_is_baycomps_correlated_t_test_with_a_rope():
    rng = np.random.default_rng(5)
    base = 0.9 + rng.normal(0, 0.01, 10)
    near = base - 0.001 + rng.normal(0, 0.0005, 10)
    sel = select_by_folds({"a": list(base), "b": list(near)}, "accuracy", 1600, 400, repeats=2)
    comp = sel.comparisons[0]
    left, rope, right = baycomp.CorrelatedTTest.probs(near, base, rope=0.01, runs=2)
    assert comp.equivalence == pytest.approx(
        {"winner_better": right, "equivalent": rope, "other_better": left})
    assert comp.equivalent and sel.equivalent() == ["b"] and sel.equivalence_margin == 0.01
    assert "b is practically equivalent to it (within +-0.01" in sel.reason
    # a margin in the data's units for RMSE: 1 % of the best mean
    assert select_by_folds({"a": [50.0, 51.0], "b": [52.0, 53.0]}, "rmse", 80, 20
                           ).equivalence_margin == pytest.approx(0.505)


def test_holdout_rows_give_a_joint_bootstrap_tier():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    good, close = noisy_outputs(rng, y, 0.8), noisy_outputs(rng, y, 0.795)
    weak = noisy_outputs(rng, y, 0.55)
    sel = select_by_rows({"weak": weak, "close": close, "good": good}, y, "binary",
                         "accuracy", 2, seed=1)
    assert sel.winner in ("good", "close") and "weak" not in sel.top_tier
    assert set(sel.top_tier) == {"good", "close"} and sel.n_scores == 1
    assert "bootstrap" in sel.method and "Romano" in sel.tier_method
    weak_cmp = next(c for c in sel.comparisons if c.name == "weak")
    assert 0 < weak_cmp.p_value < 0.05 and weak_cmp.ci_low > 0


def test_the_framework_tuned_follows_phase_1s_tie_rule():
    def row(name: str, value: float) -> dict:
        return {"name": name, "status": "FINISHED", "metrics": {"rmse": value},
                "cv": {"rmse": {"folds": [value] * 10}}}

    # OLS is 1e-8 better than the identical linear regression: Phase 1 names linear, and
    # tuning must tune what Phase 1 named (statsmodels' OLS has no grid anyway: use two
    # tunable ones with the same rule)
    ranking = [row("sklearn_random_forest", 50.0), row("xgboost_baseline", 50.0 - 5e-7),
               row("lightgbm_baseline", 60.0)]
    chosen, note = choose_framework(ranking, "rmse", "regression", None, 75)
    assert chosen == "sklearn_random_forest" and note == ""
    ranking[1]["metrics"]["rmse"] = 49.0
    assert choose_framework(ranking, "rmse", "regression", None, 75)[0] == "xgboost_baseline"
    # Phase 1's own winner (the one-standard-error rule may name a simpler one) is tuned
    assert choose_framework(ranking, "rmse", "regression", None, 75,
                            winner="sklearn_random_forest")[0] == "sklearn_random_forest"
