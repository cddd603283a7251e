"""Did tuning help? The verdict, the honest test figure, and the model to carry forward.

1. **Verdict**, from the development rows only: the chosen (best) combination against the
   baseline on the same folds, paid for having chosen it among every combination of the grid
   (`evaluation.reality_check`); with one holdout split, on its validation rows with a
   Bonferroni correction. `better`, `no_difference` or `worse`, each side at 2.5 %.
2. **Test figure**: both are refitted on the final rows and scored once on the untouched test
   rows; the improvement's interval is a paired bootstrap of the absolute difference over
   those rows, divided by the baseline's observed value. It reports; it decides nothing.
3. **Carried forward**: the tuned model when the verdict is `better`, otherwise the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.cross_validation import FoldCache
from modeldev.evaluation.decision import DecisionRule
from modeldev.evaluation.metrics import get_metric, improvement_pct
from modeldev.evaluation.reality_check import GridVerdict, fold_verdict, row_verdict, untested
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.selection import paired_difference, sign_of
from modeldev.evaluation.statistics import FoldSummary, PairedTest, fold_summary
from modeldev.frameworks.base import FitContext, Framework
from modeldev.tuning import analysis
from modeldev.tuning.analysis import Trial
from modeldev.tuning.refits import Refit, refit


@dataclass
class Judgement:
    """Everything the tuning concludes: verdict, test figures and what goes forward."""

    verdict: str
    verdict_test: GridVerdict
    tuned_cv: FoldSummary | None
    baseline_cv: FoldSummary | None
    tuned: Refit
    baseline: Refit
    improvement_pct: float | None
    improvement_ci: PairedTest
    carried_forward: str  # "tuned" or "baseline"

    @property
    def carried(self) -> Refit:
        """The refit that goes forward."""
        return self.tuned if self.carried_forward == "tuned" else self.baseline


def judge(adapter: Framework, split: Split, metric: str, best: Trial, trials: list[Trial],
          baseline_folds: list[float] | None, ctx: FitContext,
          rule: DecisionRule | None = None) -> Judgement:
    """The verdict on the development rows, the test figures, the model to carry."""
    cache = FoldCache(split)
    tuned = refit(adapter, split, cache, best["params"], ctx, rule)
    baseline = refit(adapter, split, cache, adapter.baseline_params(split.task), ctx, rule)
    n_train, n_valid = split.fold_sizes
    tuned_cv = baseline_cv = None
    if split.holdout:
        Xt_valid, y_valid = cache.inputs(adapter, 0).validation()
        said = row_verdict(metric, split.task, y_valid, *_validation(tuned, Xt_valid),
                           *_validation(baseline, Xt_valid), split.n_classes or None,
                           len(analysis.finished_trials(trials, metric)), split.seed)
    else:
        said = verdict_on_folds(trials, best, baseline_folds, metric, len(split.folds),
                                n_train, n_valid, split.seed)
        if said.n_compared:
            bounds = get_metric(metric).bounds
            tuned_cv = fold_summary(analysis.trial_folds(best, metric) or [], n_train, n_valid,
                                    bounds)
            baseline_cv = fold_summary(baseline_folds or [], n_train, n_valid, bounds)
    gain = improvement_pct(tuned.test_metrics[metric], baseline.test_metrics[metric], metric)
    gain_ci = improvement_interval(metric, split.task, split.y_test, tuned.test_outputs,
                                   baseline.test_outputs, split.n_classes or None, split.seed,
                                   (tuned.model.threshold, baseline.model.threshold))
    return Judgement(said.verdict, said, tuned_cv, baseline_cv, tuned, baseline,
                     gain if np.isfinite(gain) else None, gain_ci, carry_forward(said.verdict))


def _validation(fitted: Refit, Xt_valid: np.ndarray) -> tuple[np.ndarray, Any]:
    """A holdout refit's validation outputs and cuts: as its decisions scored them (each half
    with the other half's choice), else its own outputs at the argmax."""
    if fitted.decided is not None:
        return fitted.decided.outputs[0], fitted.decided.thresholds[0]
    return fitted.model.outputs(Xt_valid), None


def verdict_on_folds(trials: list[Trial], best: Trial, baseline_folds: list[float] | None,
                     metric: str, n_folds: int, n_train: int, n_valid: int,
                     seed: int = 0) -> GridVerdict:
    """The verdict from every finished combination's n_folds fold scores and the baseline's;
    without them it is not tested (never scored on rows the models were trained on)."""
    folds = {t["hash"]: f for t in analysis.finished_trials(trials, metric)
             if (f := analysis.trial_folds(t, metric)) and len(f) == n_folds}
    if best["hash"] not in folds or not baseline_folds or len(baseline_folds) != n_folds:
        return untested("not tested: fold scores are missing (no in-sample fallback)")
    return fold_verdict(folds, best["hash"], baseline_folds, metric, n_train, n_valid, seed)


def carry_forward(said: str) -> str:
    """"tuned" when the verdict is `better`, else "baseline": decided on development rows."""
    return "tuned" if said == "better" else "baseline"


def improvement_interval(metric: str, task: str, y: np.ndarray, tuned: np.ndarray,
                         baseline: np.ndarray, n_classes: int | None, seed: int,
                         cuts: tuple[float | None, float | None] = (None, None)) -> PairedTest:
    """The tuned model's improvement over the baseline on the test rows, in percent: a paired
    bootstrap 95 % interval of the absolute difference over those rows, divided by the
    baseline's observed value (a ratio of two resampled figures can blow up to inf)."""
    diff = paired_difference(metric, task, y, tuned, baseline, n_classes, seed, cuts)
    base = metric_of_outputs(metric, task, y, baseline, n_classes, cuts[1])
    if not np.isfinite(base) or base == 0:
        nan = float("nan")
        return PairedTest(nan, nan, nan, diff.p_value, diff.method, diff.dropped)
    scale = sign_of(metric) * 100.0 / abs(base)
    low, high = sorted((diff.ci_low * scale, diff.ci_high * scale))
    return PairedTest(diff.difference * scale, low, high, diff.p_value,
                      diff.method + ", divided by the baseline's value", diff.dropped)
