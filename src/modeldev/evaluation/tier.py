"""The top tier: the frameworks that cannot be told apart from the best, chosen so that the
chance of leaving the true best out is at most 5 % over all the comparisons at once.

This is Hsu's multiple comparisons with the best: a framework leaves the tier only when some
other framework is significantly better than it, judged by the largest of its one-sided
statistics against every other framework at once (a framework that is truly the best has no
better rival, so it is left out only when that largest statistic beats its null law, at most
5 % of the time). On shared folds the statistics are corrected t's with exact rotation
critical values (`multiple`); on one holdout split they are bootstrap-studentized differences
over the validation rows, resampled jointly for every framework (Romano and Wolf's max-t).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modeldev.evaluation.multiple import exceedance_p, max_t_p
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.statistics import BOOTSTRAP_RESAMPLES, joint_bootstrap
from modeldev.evaluation.thresholds import per_row

FOLD_METHOD = ("comparison with the best (Hsu): one-sided corrected t's against every other "
               "framework at once, exact max-t critical values by random rotation")
ROW_METHOD = ("comparison with the best (Hsu): bootstrap-studentized differences over the "
              "validation rows against every other framework at once (max-t, Romano & Wolf)")


def fold_tier_p(scores: Mapping[str, Sequence[float]], sign: float, n_train: int,
                n_valid: int, floor: float = 0.0, seed: int = 0) -> dict[str, float]:
    """Per framework, the simultaneous p-value of "some other framework is better than it"
    from its fold scores (sign: +1 when higher is better)."""
    names = list(scores)
    table = sign * np.array([list(scores[n]) for n in names], dtype=float).T  # scores x models
    out = {}
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        out[name] = 1.0 if not others else max_t_p(
            table[:, others] - table[:, [i]], n_train, n_valid, floor, seed=seed)
    return out


@dataclass(frozen=True)
class RowResamples:
    """Every framework's metric on the same bootstrap resamples of the validation rows."""

    names: list[str]
    observed: np.ndarray  # sign-adjusted: higher is better
    values: np.ndarray  # (frameworks, resamples), sign-adjusted, finite
    dropped: int

    def difference(self, a: str, b: str) -> np.ndarray:
        """Bootstrap values of a - b (sign-adjusted)."""
        return self.values[self.names.index(a)] - self.values[self.names.index(b)]


def resample_rows(outputs: Mapping[str, np.ndarray], y: np.ndarray, task: str, metric: str,
                  n_classes: int | None, sign: float, seed: int,
                  n_resamples: int = BOOTSTRAP_RESAMPLES,
                  cuts: Mapping[str, Any] | None = None) -> RowResamples:
    """The metric of every framework's validation outputs on the same row resamples (binary
    labels at each framework's per-row cuts, where it has them)."""
    names = list(outputs)
    cut_rows = [per_row((cuts or {}).get(n), len(y)) for n in names]

    def statistic(yy: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        outs, rows = arrays[:len(names)], arrays[len(names):]
        return np.array([metric_of_outputs(metric, task, yy, o, n_classes,
                                           None if np.isnan(t).all() else t)
                         for o, t in zip(outs, rows, strict=True)])

    data = (y, *(outputs[n] for n in names), *cut_rows)
    values, dropped = joint_bootstrap(statistic, data, seed, n_resamples)
    return RowResamples(names, sign * statistic(*data), sign * values, dropped)


def row_tier_p(resamples: RowResamples) -> dict[str, float]:
    """Per framework, the simultaneous p-value of "some other framework is better than it" from
    the jointly resampled validation rows."""
    r = resamples
    out = {}
    for i, name in enumerate(r.names):
        others = [j for j in range(len(r.names)) if j != i]
        if not others or r.values.shape[1] < 2:
            out[name] = 1.0 if not others else float("nan")
            continue
        observed = r.observed[others] - r.observed[i]
        boot = r.values[others] - r.values[i]
        se = boot.std(axis=1, ddof=1)
        live = se > 0  # a difference with no spread (identical outputs) is no evidence
        scale = np.where(live, se, 1.0)
        t = np.where(live, observed / scale, 0.0)
        null = np.where(live[:, None], (boot - observed[:, None]) / scale[:, None], 0.0)
        out[name] = exceedance_p(float(t.max()), null.max(axis=0))
    return out
