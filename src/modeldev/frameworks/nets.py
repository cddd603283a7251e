"""What both neural-net adapters share: tasks, baseline, parameter schema, the common grid."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.model_selection import train_test_split

from modeldev.frameworks.base import Framework, ParamSpec

NET_TASKS = ("binary", "multiclass", "regression")
EARLY_STOPPING_SHARE = 0.2  # of a fit's training rows, held out to stop on
COMMON_GRID: dict[str, list[Any]] = {
    "layer1_units": [32, 64, 128], "layer2_units": [16, 32, 64], "dropout": [0.2, 0.3, 0.5],
    "learning_rate": [0.001, 0.01, 0.1]}


def net_baseline() -> dict[str, Any]:
    """Baseline MLP parameters shared by both nets: small, fast, stopped early."""
    return {"layer1_units": 64, "layer2_units": 32, "dropout": 0.2, "learning_rate": 0.001,
            "batch_size": 128, "epochs": 100, "patience": 5}


def net_param_schema() -> dict[str, ParamSpec]:
    """Typed schema of the MLP parameters shared by both nets."""
    return {
        "layer1_units": ParamSpec("int", low=1, high=4096),
        "layer2_units": ParamSpec("int", low=1, high=4096),
        "dropout": ParamSpec("float", low=0.0, high=0.95),
        "learning_rate": ParamSpec("float", low=1e-6, high=1.0, log=True),
        "batch_size": ParamSpec("int", low=1, high=65_536, log=True),
        "epochs": ParamSpec("int", low=1, high=10_000),
        "patience": ParamSpec("int", low=0, high=1_000),
    }


def early_stopping_rows(y: np.ndarray, task: str, seed: int,
                        patience: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows to train on, rows to stop on): a seeded, stratified share of the training rows
    watched by early stopping, or all rows and None when there is no early stopping.

    The stopping rows come out of the fit's own training rows, so the rows a fold (or the
    holdout split) is scored on never steer the fit.
    """
    idx = np.arange(len(y))
    if patience <= 0 or len(y) < 10:
        return idx, None
    counts = np.bincount(y) if task != "regression" else None
    stratify = y if counts is not None and counts[counts > 0].min() >= 2 else None
    fit, stop = train_test_split(idx, test_size=EARLY_STOPPING_SHARE, random_state=seed,
                                 stratify=stratify)
    return np.sort(fit), np.sort(stop)


def target_scaling(y: np.ndarray, task: str) -> tuple[float, float]:
    """Mean and spread used to train regression nets on a unit-scale target; (0, 1) otherwise."""
    if task != "regression":
        return 0.0, 1.0
    std = float(np.std(y))
    return float(np.mean(y)), std if std > 0 else 1.0


class NetFramework(Framework):
    """Base of the MLP adapters: two hidden layers, dropout, Adam, early stopping."""

    tasks = NET_TASKS
    family = "net"
    grid_extra: ClassVar[dict[str, list[Any]]] = {}  # the grid entry that differs per net

    def baseline_params(self, task: str) -> dict[str, Any]:
        """64/32 units, dropout 0.2, Adam 0.001, batches of 128, up to 100 epochs, patience 5."""
        return net_baseline()

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """Layer sizes, dropout, learning rate, batch size, epochs, patience."""
        return net_param_schema()

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The seed's grid: the common four parameters plus this net's own."""
        return {**COMMON_GRID, **self.grid_extra}
