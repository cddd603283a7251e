"""Choosing by a primary metric without choosing noise: the winner, the frameworks that cannot
be told apart from the best, and those that are practically equivalent to the winner.

The top tier holds every framework that cannot be told apart from the best at 5 % over all
comparisons at once (`tier`: Hsu's comparison with the best), so the true best is left out at
most 5 % of the time; "not distinguishable" is all it says. The winner is chosen by the
one-standard-error rule (Breiman, Friedman, Olshen and Stone 1984): the simplest framework (the
first listed: simpler families come first) in the tier whose mean is within one standard error
of the best mean (the corrected standard error of that mean; on a holdout split, its bootstrap
one). Between near-equals the best mean is a coin toss (over six split seeds breast_cancer's
went 4 to 2 between two frameworks); the simplest of them is a stable answer that gives up
less than the noise. Means within the tie band are equal. A framework is called equivalent to
the winner only when the Bayesian correlated t-test puts their difference inside the
equivalence margin with probability >= 0.95 (`equivalence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modeldev.evaluation import tier as T
from modeldev.evaluation.equivalence import Equivalence, default_margin, equivalence
from modeldev.evaluation.metrics import get_metric
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.selection_text import Standing, reason
from modeldev.evaluation.statistics import (
    ALPHA,
    PairedTest,
    bootstrap_p,
    clip,
    corrected_paired_ttest,
    corrected_scale,
    paired_bootstrap,
    percentile_interval,
)
from modeldev.evaluation.thresholds import per_row

SELECTION_RULE = (
    "the top tier holds the frameworks that cannot be told apart from the best: one leaves it "
    "only when another framework is better than it at 5 % over all comparisons at once (Hsu's "
    "comparison with the best), so the true best is left out at most 5 % of the time; the "
    "winner is the first-listed (simplest) framework of the tier whose cross-validated mean is "
    "within one standard error of the best mean (the one-standard-error rule; means within the "
    "tie band, one scored row for the label metrics or a millionth of the mean for the others, "
    "are equal); 'equivalent' needs the Bayesian correlated t-test to put the difference from "
    "the winner inside the equivalence margin with probability >= 0.95")
LABEL_METRICS = frozenset({"accuracy", "precision", "recall", "f1_score"})
TIE_RELATIVE = 1e-6  # the same model fitted by two libraries differs by ~1e-8 of the mean


@dataclass(frozen=True)
class Comparison:
    """The winner against one other candidate: its advantage, how sure, and where it stands."""

    name: str
    mean: float
    advantage: float  # winner minus this one, signed so that positive favours the winner
    ci_low: float  # the advantage's 95 % interval (this pair alone)
    ci_high: float
    p_value: float  # simultaneous: some framework is better than this one (the tier's test)
    tied: bool  # in the top tier: not distinguishable from the best
    p_pairwise: float = float("nan")  # this pair alone, two-sided, not adjusted
    same_mean: bool = False  # inside the tie band: equal to the winner's mean
    equivalence: dict[str, float] | None = None  # posterior: winner_better, equivalent, ...
    equivalent: bool = False  # equivalent within the margin with probability >= 0.95


@dataclass(frozen=True)
class Selection:
    """The winner, who cannot be told from it and why; the content of selection_rationale.json."""

    winner: str | None
    primary_metric: str
    direction: str
    method: str
    rule: str
    reason: str
    top_tier: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    tier_method: str = ""
    equivalence_margin: float | None = None
    repeats: int = 1
    n_scores: int = 0  # fold scores per framework (repeats x K), 1 for a holdout split
    dropped: int = 0  # holdout: bootstrap resamples dropped for a NaN or inf
    best_mean: str | None = None  # the framework with the best mean (the winner or simpler)
    standard_error: float | None = None  # of the best mean: the one-standard-error band

    def tied_with(self) -> list[str]:
        """The candidates not distinguishable from the winner, best mean first."""
        return [name for name in self.top_tier if name != self.winner]

    def equivalent(self) -> list[str]:
        """The candidates practically equivalent to the winner (within the margin)."""
        return [c.name for c in self.comparisons if c.equivalent]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields, with `alpha`, `tied_with` (kept: the tier without the winner),
        `not_distinguishable` (the same list, by its honest name) and `equivalent`."""
        return {**asdict(self), "alpha": ALPHA, "tied_with": self.tied_with(),
                "not_distinguishable": self.tied_with(), "equivalent": self.equivalent()}


def sign_of(metric: str) -> float:
    """+1 when higher is better for `metric`, else -1."""
    return 1.0 if get_metric(metric).higher_is_better else -1.0


def tie_tolerance(metric: str, n_rows: int, best: float) -> float:
    """The smallest difference of means that is a difference at all: one scored row's worth
    (1 / rows) for the metrics counted from labels, a millionth of the best mean for the others."""
    if metric in LABEL_METRICS:
        return 1.0 / max(n_rows, 1)
    return max(1e-12, TIE_RELATIVE * abs(best))


def rank_by_means(means: Mapping[str, float], metric: str,
                  n_rows: int = 0) -> tuple[list[str], set[str]]:
    """Best mean first, and the tie band: the candidates whose means are within the tie
    tolerance of the best, won by the one given first (Phase 1 gives them in registry order,
    simpler model families first)."""
    finite = [n for n, v in means.items() if np.isfinite(v)]
    ranked = sorted(finite, key=lambda n: -sign_of(metric) * means[n])  # stable: input order
    if not ranked:
        return ranked, set()
    best = means[ranked[0]]
    tol = tie_tolerance(metric, n_rows, best)
    band = {n for n in ranked if abs(means[n] - best) <= tol}
    winner = next(n for n in finite if n in band)
    return [winner, *(n for n in ranked if n != winner)], band


def _difference_bounds(metric: str) -> tuple[float | None, float | None]:
    low, high = get_metric(metric).bounds
    if low is None or high is None:
        return None, None
    return low - high, high - low


def _comparison(name: str, mean: float, test: PairedTest, p_tier: float, band: set[str],
                metric: str, posterior: Equivalence | None) -> Comparison:
    """One comparison; `test` is already winner minus this one in the metric's favour."""
    same = name in band
    return Comparison(name, mean, test.difference, test.ci_low, test.ci_high, p_tier,
                      same or not p_tier < ALPHA, test.p_value, same,
                      None if posterior is None else {
                          "winner_better": posterior.winner_better,
                          "equivalent": posterior.equivalent,
                          "other_better": posterior.other_better},
                      same or (posterior is not None and posterior.claimed))


def one_se_winner(order: Sequence[str], means: Mapping[str, float], best: str, se: float,
                  in_tier: set[str], metric: str) -> str:
    """The first of `order` in the tier whose mean is within `se` of the best mean."""
    sign = sign_of(metric)
    return next((n for n in order if n in in_tier and np.isfinite(means[n])
                 and sign * (means[best] - means[n]) <= se), best)


def _order(winner: str, ranked: list[str], means: Mapping[str, float], metric: str,
           n_rows: int) -> tuple[list[str], set[str]]:
    """The winner, then the others best mean first; and the tie band around the winner."""
    tol = tie_tolerance(metric, n_rows, means[winner])
    band = {n for n in ranked if abs(means[n] - means[winner]) <= tol}
    return [winner, *(n for n in ranked if n != winner)], band


def _selection(ranked: list[str], means: Mapping[str, float], metric: str, method: str,
               comparisons: list[Comparison], **extra: object) -> Selection:
    direction = get_metric(metric).direction
    if not ranked:
        return Selection(None, metric, direction, method, SELECTION_RULE,
                         "no candidate has a finite value of the primary metric")
    winner = ranked[0]
    tier = [winner] + [c.name for c in comparisons if c.tied]
    standing = Standing(
        same=[c.name for c in comparisons if c.same_mean],
        unclear=[c.name for c in comparisons if c.tied and not c.same_mean],
        out=[c.name for c in comparisons if not c.tied],
        equivalent=[c.name for c in comparisons if c.equivalent and not c.same_mean])
    best = str(extra.get("best_mean") or winner)
    text = reason(winner, means[winner], standing, metric, extra.get("equivalence_margin"),
                  (best, means[best], extra.get("standard_error")))
    return Selection(winner, metric, direction, method, SELECTION_RULE, text, tier,
                     comparisons, **extra)  # type: ignore[arg-type]


def select_by_folds(fold_scores: Mapping[str, Sequence[float]], metric: str, n_train: int,
                    n_valid: int, repeats: int = 1, margin: float | None = None,
                    seed: int = 0) -> Selection:
    """The winner, its tier and its equivalents from per-fold scores on the same folds
    (repeats x K per candidate); candidates come in preference order, which breaks ties."""
    means = {n: float(np.mean(v)) for n, v in fold_scores.items()}
    m = max((len(v) for v in fold_scores.values()), default=1)
    ranked, band = rank_by_means(means, metric, n_valid * m)
    if not ranked:
        return _selection(ranked, means, metric, "cross-validation", [])
    sign, best = sign_of(metric), ranked[0]
    floor = 1.0 / max(n_valid, 1) if metric in LABEL_METRICS else 0.0
    p_tier = T.fold_tier_p({n: fold_scores[n] for n in ranked}, sign, n_train, n_valid, floor,
                           seed)
    folds = np.asarray(fold_scores[best], dtype=float)
    se = (math.sqrt(corrected_scale(len(folds), n_train, n_valid) * folds.var(ddof=1))
          if len(folds) > 1 else 0.0)
    in_tier = band | {n for n in ranked if not p_tier[n] < ALPHA}
    winner = one_se_winner(list(fold_scores), means, best, se, in_tier, metric)
    ranked, band = _order(winner, ranked, means, metric, n_valid * m)
    margin = default_margin(metric, means[winner]) if margin is None else margin
    scaled = {n: sign * np.asarray(fold_scores[n], dtype=float) for n in ranked}
    comparisons = [_comparison(
        n, means[n], corrected_paired_ttest(scaled[winner], scaled[n], n_train, n_valid, floor,
                                            _difference_bounds(metric)),
        p_tier[n], band, metric, equivalence(scaled[winner], scaled[n], margin, repeats))
        for n in ranked[1:]]
    method = (f"corrected resampled t-tests (Nadeau & Bengio; Bouckaert & Frank) on "
              f"{repeats} x {m // max(repeats, 1)} fold scores")
    return _selection(ranked, means, metric, method, comparisons, tier_method=T.FOLD_METHOD,
                      equivalence_margin=margin, repeats=repeats, n_scores=m, best_mean=best,
                      standard_error=se)


def select_by_rows(outputs: Mapping[str, np.ndarray], y: np.ndarray, task: str, metric: str,
                   n_classes: int | None, seed: int, margin: float | None = None,
                   cuts: Mapping[str, Any] | None = None) -> Selection:
    """The winner and its tier from outputs on one shared validation split (holdout); binary
    labels at each framework's cuts (`cuts`: a float or one per row; absent: the argmax)."""
    cuts = cuts or {}
    means = {n: metric_of_outputs(metric, task, y, out, n_classes, cuts.get(n))
             for n, out in outputs.items()}
    ranked, band = rank_by_means(means, metric, len(y))
    if not ranked:
        return _selection(ranked, means, metric, "holdout", [])
    best = ranked[0]
    resamples = T.resample_rows({n: outputs[n] for n in ranked}, y, task, metric, n_classes,
                                sign_of(metric), seed, cuts=cuts)
    p_tier = T.row_tier_p(resamples)
    values = resamples.values[resamples.names.index(best)]
    se = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    in_tier = band | {n for n in ranked if not p_tier[n] < ALPHA}
    winner = one_se_winner(list(outputs), means, best, se, in_tier, metric)
    ranked, band = _order(winner, ranked, means, metric, len(y))
    margin = default_margin(metric, means[winner]) if margin is None else margin
    at = {n: i for i, n in enumerate(resamples.names)}
    comparisons = []
    for n in ranked[1:]:
        dist = resamples.difference(winner, n)
        observed = float(resamples.observed[at[winner]] - resamples.observed[at[n]])
        low, high = (clip(*percentile_interval(dist), _difference_bounds(metric))
                     if dist.size > 1 else (float("nan"), float("nan")))
        test = PairedTest(observed, low, high, bootstrap_p(dist) if dist.size else float("nan"),
                          "paired bootstrap", resamples.dropped)
        posterior = _bootstrap_equivalence(dist, margin)
        comparisons.append(_comparison(n, means[n], test, p_tier[n], band, metric, posterior))
    method = (f"paired bootstrap over {len(y)} validation rows, "
              f"{resamples.values.shape[1]} resamples")
    return _selection(ranked, means, metric, method, comparisons, tier_method=T.ROW_METHOD,
                      equivalence_margin=margin, repeats=1, n_scores=1,
                      dropped=resamples.dropped, best_mean=best, standard_error=se)


def _bootstrap_equivalence(dist: np.ndarray, margin: float) -> Equivalence | None:
    """Shares of the bootstrap differences above, within and below +-margin."""
    if dist.size < 2:
        return None
    above, below = float(np.mean(dist > margin)), float(np.mean(dist < -margin))
    return Equivalence(margin, above, 1.0 - above - below, below)


def paired_difference(metric: str, task: str, y: np.ndarray, a: np.ndarray, b: np.ndarray,
                      n_classes: int | None, seed: int,
                      cuts: tuple[Any, Any] = (None, None)) -> PairedTest:
    """metric(a) - metric(b) on the same rows, with a paired bootstrap interval and p-value;
    binary labels at each side's cut (a float, one per row, or None for the argmax)."""
    return paired_bootstrap(difference_statistic(metric, task, n_classes),
                            (y, a, b, *(per_row(c, len(y)) for c in cuts)), seed,
                            bounds=_difference_bounds(metric))


def difference_statistic(metric: str, task: str, n_classes: int | None) -> Any:
    """metric(a) - metric(b) of rows (y, a, b, cut of a, cut of b)."""
    def statistic(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray, ta: np.ndarray,
                  tb: np.ndarray) -> float:
        return (metric_of_outputs(metric, task, yy, aa, n_classes, _cut(ta))
                - metric_of_outputs(metric, task, yy, bb, n_classes, _cut(tb)))

    return statistic


def _cut(rows: np.ndarray) -> np.ndarray | None:
    return None if np.isnan(rows).all() else rows
