"""One seeded train/validation/test split for everything, stratified for classification."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from modeldev.data.validation import ColumnPlan, Prepared

DEFAULT_SEED = 42
VALIDATION_SHARE = 0.2
TEST_SHARE = 0.2


@dataclass
class Split:
    """Raw feature frames and encoded targets (class indices 0..K-1 for classification)."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    task: str
    plan: ColumnPlan
    seed: int = DEFAULT_SEED
    classes: list = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows in each part."""
        return {"train": len(self.X_train), "validation": len(self.X_val), "test": len(self.X_test)}


def encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, list]:
    """Class indices in sorted-label order (and the labels), or floats for regression."""
    if task == "regression":
        return y.to_numpy(dtype=float), []
    classes = sorted(pd.unique(y), key=_sort_key)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in y], dtype=np.int64), [_plain(c) for c in classes]


def _sort_key(v: object) -> tuple[int, object]:
    return (0, float(v)) if isinstance(v, (int, float, np.number, bool)) else (1, str(v))


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def make_split(data: Prepared, seed: int = DEFAULT_SEED) -> Split:
    """Split 60/20/20 with `seed`, stratified on the target for classification."""
    y, classes = encode_target(data.y, data.task)
    idx = np.arange(len(y))
    strat = y if data.task != "regression" else None
    rest, test = train_test_split(idx, test_size=TEST_SHARE, random_state=seed, stratify=strat)
    val_share = VALIDATION_SHARE / (1 - TEST_SHARE)
    strat_rest = y[rest] if strat is not None else None
    train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=strat_rest)
    X = data.X.reset_index(drop=True)
    return Split(
        X_train=X.iloc[train].reset_index(drop=True), X_val=X.iloc[val].reset_index(drop=True),
        X_test=X.iloc[test].reset_index(drop=True), y_train=y[train], y_val=y[val], y_test=y[test],
        task=data.task, plan=data.plan, seed=seed, classes=classes,
    )
