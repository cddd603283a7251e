"""The error rates modeldev claims, shown by simulation through its own selection and verdict code.

Fold scores are drawn the way the corrected tests assume cross-validation makes them: each
framework or combination has its true mean, its m = repeats x K fold scores share a correlation
of n_valid / n_total (Nadeau and Bengio's model), a grid's combinations are correlated with one
another (they are similar models), and every fold has a difficulty all candidates share. No
model is trained; the engine's own functions choose and judge (`analysis.best_trial`,
`verdict.verdict_on_folds`, `selection.select_by_folds`, `analysis.within_noise`,
`reality_check.row_verdict`). The rotations are cut to 199 per test (Monte Carlo p-values are
valid for any number of draws); the seeds are fixed, so each count below is exact and the
README quotes them.
"""

from __future__ import annotations

import numpy as np
import pytest

import modeldev.evaluation.multiple as multiple
from modeldev.evaluation.reality_check import row_verdict
from modeldev.evaluation.selection import select_by_folds
from modeldev.evaluation.statistics import corrected_paired_ttest
from modeldev.tuning import analysis
from modeldev.tuning.verdict import verdict_on_folds

N_TRAIN, N_VALID = 1600, 400  # a fold of 5-fold CV on 2,500 development rows
RHO = N_VALID / (N_TRAIN + N_VALID)
METRIC = "roc_auc"


@pytest.fixture(autouse=True)
def fewer_rotations(monkeypatch):
    monkeypatch.setattr(multiple, "ROTATIONS", 199)


def fold_scores(rng: np.random.Generator, means: np.ndarray, sds: np.ndarray, m: int,
                alike: float = 0.5, difficulty: float = 0.01) -> np.ndarray:
    """(candidates, m) fold scores: equicorrelated folds (RHO), candidates alike by `alike`."""
    n = len(means)
    def shared(shape: tuple[int, ...]) -> np.ndarray:  # correlated across candidates
        return np.sqrt(alike) * rng.standard_normal(shape[1:]) + \
            np.sqrt(1 - alike) * rng.standard_normal(shape)
    a, e = shared((n,)), shared((n, m))
    noise = sds[:, None] * (np.sqrt(RHO) * a[:, None] + np.sqrt(1 - RHO) * e)
    return means[:, None] + noise + difficulty * rng.standard_normal(m)[None, :]


def trials_from(scores: np.ndarray) -> list[dict]:
    """Trial records as a tuning logs them: the mean and the fold scores of the metric."""
    return [{"index": j, "hash": f"h{j}", "params": {"j": j}, "status": "FINISHED",
             "metrics": {METRIC: float(s.mean()),
                         **{f"{METRIC}_fold{f + 1}": float(v) for f, v in enumerate(s)}}}
            for j, s in enumerate(scores)]


def tuning_outcome(rng: np.random.Generator, gains: np.ndarray, m: int, seed: int,
                   noisy_tail: bool = False) -> tuple[str, bool]:
    """One simulated tuning: the verdict, and whether the chosen combination is truly better."""
    n = len(gains)
    sds = np.full(n + 1, 0.02)
    if noisy_tail:  # a third of the grid unstable (e.g. a large learning rate) and worse
        sds[1 + 2 * n // 3:] = 0.06
        gains = gains.copy()
        gains[2 * n // 3:] -= 0.03
    scores = fold_scores(rng, 0.8 + np.r_[0.0, gains], sds, m)
    trials = trials_from(scores[1:])
    best = analysis.best_trial(trials, METRIC)
    said = verdict_on_folds(trials, best, list(scores[0]), METRIC, m, N_TRAIN, N_VALID, seed)
    return said.verdict, bool(gains[best["index"]] > 0)


@pytest.mark.parametrize(("n_combos", "m", "noisy_tail"), [
    (9, 10, False), (81, 10, False), (729, 10, False), (81, 5, False), (81, 10, True)])
def test_false_better_holds_its_level_after_choosing_the_best_of_the_grid(n_combos, m,
                                                                         noisy_tail):
    rng = np.random.default_rng(n_combos + m)
    sims = 300 if n_combos < 729 else 150
    said = [tuning_outcome(rng, np.zeros(n_combos), m, s, noisy_tail)[0] for s in range(sims)]
    false_better = said.count("better") / sims
    assert false_better <= 0.05, false_better  # promised: 2.5 % (one side of a 5 % test)


def test_the_old_verdict_on_the_best_of_81_said_better_far_too_often():
    # the same null grids judged as before: the best mean's plain corrected t-test
    rng = np.random.default_rng(81)
    hits = 0
    for _ in range(300):
        scores = fold_scores(rng, np.full(82, 0.8), np.full(82, 0.02), 10)
        best = int(np.argmax(scores[1:].mean(axis=1))) + 1
        test = corrected_paired_ttest(scores[best], scores[0], N_TRAIN, N_VALID)
        hits += test.p_value < 0.05 and test.difference > 0
    assert hits / 300 > 0.15  # the simulation can see the winner's curse the verdict removes


@pytest.mark.parametrize(("n_combos", "floor"), [(9, 0.55), (81, 0.4)])
def test_a_real_two_sd_gain_is_found(n_combos, floor):
    # a tenth of the grid truly better by 0.04, two fold standard deviations; 2 x 5 folds
    rng = np.random.default_rng(7)
    gains = np.zeros(n_combos)
    gains[: max(1, n_combos // 10)] = 0.04
    outcomes = [tuning_outcome(rng, gains, 10, s) for s in range(200)]
    power = sum(v == "better" and truly for v, truly in outcomes) / 200
    assert power >= floor, power
    # and a `better` always names a combination that is truly better here
    assert all(truly for v, truly in outcomes if v == "better")


@pytest.mark.parametrize(("means", "m"), [
    (np.full(6, 0.8), 10),  # all equal: each is a true best
    (np.array([0.80, 0.797, 0.79, 0.78, 0.75, 0.70]), 10),
    (np.array([0.80, 0.797, 0.79, 0.78, 0.75, 0.70]), 5)])
def test_the_tier_keeps_the_true_best_at_least_95_percent_of_the_time(means, m):
    rng = np.random.default_rng(int(means.sum() * 1000) + m)
    sds = np.array([0.010, 0.012, 0.012, 0.015, 0.02, 0.02])
    names = [f"f{i}" for i in range(6)]
    kept, sizes, sims = 0, [], 300
    for s in range(sims):
        scores = fold_scores(rng, means, sds, m, alike=0.3)
        sel = select_by_folds(dict(zip(names, map(list, scores), strict=True)), "accuracy",
                              N_TRAIN, N_VALID, repeats=m // 5, seed=s)
        kept += "f0" in sel.top_tier
        sizes.append(len(sel.top_tier))
    assert kept / sims >= 0.93, kept / sims  # promised 95 %; 300 draws: +-1.3 % noise
    if means[-1] < means[0] - 0.05:  # with real gaps the tier does exclude
        assert np.mean(sizes) < 5


def test_parameter_impact_beyond_noise_holds_its_level_over_four_values():
    # a grid of 4 values x 6 others with no effect at all: "beyond noise" at most 5 %
    rng = np.random.default_rng(11)
    beyond, sims = 0, 300
    for s in range(sims):
        scores = fold_scores(rng, np.full(24, 0.8), np.full(24, 0.02), 10)
        trials = trials_from(scores)
        for t in trials:
            t["params"] = {"depth": t["index"] % 4, "other": t["index"] // 4}
        impact = analysis.parameter_impact(trials, ["depth"], METRIC, (N_TRAIN, N_VALID))
        beyond += analysis.within_noise(impact, METRIC, (N_TRAIN, N_VALID), seed=s
                                        )["depth"]["within_noise"] is False
    assert beyond / sims <= 0.07, beyond / sims  # promised 5 %; the old rule gave 16 %


def test_holdout_verdict_pays_for_the_choice_with_bonferroni():
    # one holdout split: 27 combinations that are coin flips, the best chosen on the same rows
    rng = np.random.default_rng(3)
    better, sims = 0, 100
    for s in range(sims):
        y = rng.integers(0, 2, 400)
        outs = rng.uniform(0, 1, (28, 400))
        proba = [np.column_stack([1 - o, o]) for o in outs]
        acc = [float(np.mean((o > 0.5) == y)) for o in outs[1:]]
        best = int(np.argmax(acc)) + 1
        said = row_verdict("accuracy", "binary", y, proba[best], None, proba[0], None, 2, 27, s)
        better += said.verdict == "better"
    assert better / sims <= 0.05
