"""Fitting on a fold: its training rows preprocessed once per family and process, then scored.

Phase 1 and every tuning trial fit through here, so a fold means the same rows, the same
preprocessing and the same scoring everywhere. The preprocessing depends on the fold's rows and
the framework's family, never on hyperparameters: it is fitted once per (family, fold) in each
process and reused by every fit there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from modeldev.data.split import Split, TrainingRows
from modeldev.frameworks.base import FitContext, FittedModel, Framework, Preprocessed

FINAL = -1  # the fold number of the final fit (all development rows, or holdout's train part)


class FoldInputs(NamedTuple):
    """A fold's training rows, their preprocessing, and its validation rows preprocessed."""

    rows: TrainingRows
    prepared: Preprocessed
    Xt_valid: np.ndarray | None  # None for the final fit: it has no validation rows
    y_valid: np.ndarray | None
    seconds: float  # what fitting the preprocessing took

    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """The fold's validation rows (preprocessed) and their targets."""
        if self.Xt_valid is None or self.y_valid is None:
            raise ValueError("the final fit has no validation rows")
        return self.Xt_valid, self.y_valid


@dataclass
class FoldCache:
    """Each family's preprocessing per fold, made once in this process (not pickled)."""

    split: Split
    _made: dict[tuple[str, int], FoldInputs] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"split": self.split, "_made": {}}  # made where it is used, not shipped

    def inputs(self, adapter: Framework, fold: int) -> FoldInputs:
        """The fold's inputs for the adapter's family (`fold` FINAL: the final fit's rows)."""
        key = (adapter.family, fold)
        hit = self._made.get(key)
        if hit is None:  # two Dask threads may both make it: the same result, no harm
            started = time.perf_counter()
            if fold == FINAL:
                rows, X_valid, y_valid = self.split.final_rows(), None, None
            else:
                rows = self.split.fold_rows(fold)
                X_valid, y_valid = self.split.fold_valid(fold)
            prepared = adapter.preprocess(rows)
            Xt_valid = None if X_valid is None else prepared.transform(X_valid)
            hit = self._made[key] = FoldInputs(rows, prepared, Xt_valid, y_valid,
                                               time.perf_counter() - started)
        return hit


def fit_fold(adapter: Framework, cache: FoldCache, fold: int, params: dict[str, Any],
             ctx: FitContext) -> tuple[FittedModel, FoldInputs, float]:
    """Fit `params` on a fold's training rows; return the model, the fold's inputs and the
    fit's seconds (the preprocessing's included, as a separate fit would spend them)."""
    inputs = cache.inputs(adapter, fold)
    started = time.perf_counter()
    model = adapter.fit(inputs.rows, params, ctx, inputs.prepared)
    return model, inputs, time.perf_counter() - started + inputs.seconds
