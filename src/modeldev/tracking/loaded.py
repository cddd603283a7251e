"""A model loaded for scoring new rows: what its signature takes, and its labels and
probabilities for a table.

For a model modeldev logged, labels and probabilities come from its FittedModel, the very code
its pyfunc runs (`tracking.models`): labels at the model's own decision threshold. The batch
scorer checks and coerces every column against the signature first (`serving.schema`), which
is the check MLflow's own type enforcement would make, without refusing a number column for a
missing value the model imputes. Any other pyfunc model predicts through `pyfunc.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeldev.tracking.records import ColumnSpec, VersionRecord


@dataclass
class LoadedModel:
    """A scoring model: the URI asked for, the LoggedModel and version it resolved to, its
    signature's input columns, and the pyfunc (with its FittedModel where modeldev logged it)."""

    uri: str
    model_id: str | None
    version: VersionRecord | None
    inputs: list[ColumnSpec]
    pyfunc: Any
    fitted: Any = None

    @property
    def task(self) -> str | None:
        """binary, multiclass or regression (None for a model modeldev did not log)."""
        return getattr(self.fitted, "task", None)

    @property
    def classes(self) -> list[Any]:
        """The target's classes, in the order of the probability columns."""
        return list(getattr(self.fitted, "classes", None) or [])

    @property
    def used_columns(self) -> set[str] | None:
        """The raw columns the model's preprocessing reads (None where it is not known)."""
        pre = getattr(self.fitted, "preprocessor", None)
        if pre is None or not hasattr(pre, "transformers_"):
            return None
        return {str(c) for name, _, cols in pre.transformers_ if name != "remainder"
                for c in cols}

    @property
    def threshold(self) -> float | None:
        """A binary model's decision threshold (0.5 for the argmax); None otherwise."""
        return None if self.fitted is None else self.fitted.decision_threshold

    def labels(self, rows: pd.DataFrame) -> np.ndarray:
        """One prediction per row: the target's labels at the decision threshold, or numbers."""
        if self.fitted is not None:
            return np.asarray(self.fitted.predict(rows))
        return np.asarray(self.pyfunc.predict(rows))

    def probabilities(self, rows: pd.DataFrame) -> pd.DataFrame | None:
        """One column of probabilities per class (named by the class); None for regression or
        a model modeldev did not log."""
        if self.fitted is None or self.task == "regression":
            return None
        return pd.DataFrame(self.fitted.predict_proba(rows),
                            columns=[str(c) for c in self.classes])
