"""Did tuning help? The verdict, the honest test figure, and the model to carry forward.

1. **Verdict**, from the rows the choice was made on: the best combination's fold scores
   against the baseline's on the same folds (corrected resampled t-test), or with one holdout
   split a paired bootstrap over its validation rows: `better`, `no_difference` or `worse`.
2. **Test figure**: both are refitted on the final rows and scored once on the untouched test
   rows; the improvement gets a paired bootstrap interval over those rows.
3. **Carried forward**: the tuned model only when the verdict is `better` and the test interval
   of the improvement does not lie wholly below zero; otherwise the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.cross_validation import FINAL, FoldCache, fit_fold
from modeldev.evaluation.metrics import improvement_pct
from modeldev.evaluation.scoring import metric_of_outputs, score_outputs
from modeldev.evaluation.selection import paired_difference, verdict
from modeldev.evaluation.statistics import (
    FoldSummary,
    PairedTest,
    corrected_paired_ttest,
    fold_summary,
    paired_bootstrap,
)
from modeldev.frameworks.base import FitContext, FittedModel, Framework


@dataclass
class Refit:
    """A parameter set fitted on the final rows: the model, its test outputs and metrics."""

    params: dict[str, Any]
    model: FittedModel
    test_outputs: np.ndarray
    test_metrics: dict[str, float]
    fit_seconds: float


@dataclass
class Judgement:
    """Everything the tuning concludes: verdict, test figures and what goes forward."""

    verdict: str
    verdict_test: PairedTest
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


def refit(adapter: Framework, split: Split, cache: FoldCache, params: dict[str, Any],
          ctx: FitContext) -> Refit:
    """Fit `params` on the final rows and score the test rows once."""
    model, _, seconds = fit_fold(adapter, cache, FINAL, params, ctx)
    outputs = model.outputs(model.transform(split.X_test))
    return Refit(dict(params), model, outputs,
                 score_outputs(split.task, split.y_test, outputs, split.n_classes), seconds)


def judge(adapter: Framework, split: Split, metric: str, tuned_params: dict[str, Any],
          tuned_folds: list[float] | None, baseline_folds: list[float] | None,
          ctx: FitContext) -> Judgement:
    """The verdict on the folds (or holdout rows), the test figures, the model to carry."""
    cache = FoldCache(split)
    tuned = refit(adapter, split, cache, tuned_params, ctx)
    baseline = refit(adapter, split, cache, adapter.baseline_params(split.task), ctx)
    n_train, n_valid = split.fold_sizes
    if split.holdout or not tuned_folds or not baseline_folds:
        Xt_valid, y_valid = cache.inputs(adapter, 0).validation()
        test = paired_difference(metric, split.task, y_valid, tuned.model.outputs(Xt_valid),
                                 baseline.model.outputs(Xt_valid), split.n_classes, split.seed)
        tuned_cv = baseline_cv = None
    else:
        test = corrected_paired_ttest(tuned_folds, baseline_folds, n_train, n_valid)
        tuned_cv = fold_summary(tuned_folds, n_train, n_valid)
        baseline_cv = fold_summary(baseline_folds, n_train, n_valid)
    said = verdict(test, metric)
    gain = improvement_pct(tuned.test_metrics[metric], baseline.test_metrics[metric], metric)
    gain_ci = improvement_interval(metric, split, tuned.test_outputs, baseline.test_outputs)
    return Judgement(said, test, tuned_cv, baseline_cv, tuned, baseline,
                     gain if np.isfinite(gain) else None, gain_ci, carry_forward(said, gain_ci))


def carry_forward(said: str, improvement: PairedTest) -> str:
    """"tuned" only when the verdict is `better` and the test interval of the improvement does
    not lie wholly below zero (an interval that could not be computed does not block it)."""
    return "tuned" if said == "better" and not improvement.ci_high < 0 else "baseline"


def improvement_interval(metric: str, split: Split, tuned: np.ndarray,
                         baseline: np.ndarray) -> PairedTest:
    """The tuned model's improvement over the baseline on the test rows, in percent, with a
    paired bootstrap 95 % interval over those rows."""
    def statistic(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return improvement_pct(metric_of_outputs(metric, split.task, y, a, split.n_classes),
                               metric_of_outputs(metric, split.task, y, b, split.n_classes),
                               metric)

    return paired_bootstrap(statistic, (split.y_test, tuned, baseline), split.seed)
