"""The list of framework adapters. Adding a framework: one module plus its line here."""

from __future__ import annotations

from modeldev.errors import InputError
from modeldev.frameworks.base import Framework
from modeldev.frameworks.lightgbm_adapter import LightGBMAdapter
from modeldev.frameworks.pytorch_adapter import PyTorchNetAdapter
from modeldev.frameworks.sklearn_adapter import (
    LinearRegressionAdapter,
    LogisticRegressionAdapter,
    RandomForestAdapter,
)
from modeldev.frameworks.statsmodels_adapter import GLMAdapter, OLSAdapter
from modeldev.frameworks.tensorflow_adapter import TensorFlowNetAdapter
from modeldev.frameworks.xgboost_adapter import XGBoostAdapter

# Order is the order of the runs and of the charts.
ADAPTERS: tuple[Framework, ...] = (
    LogisticRegressionAdapter(),
    LinearRegressionAdapter(),
    RandomForestAdapter(),
    XGBoostAdapter(),
    LightGBMAdapter(),
    TensorFlowNetAdapter(),
    PyTorchNetAdapter(),
    OLSAdapter(),
    GLMAdapter(),
)


def framework_names(task: str | None = None) -> list[str]:
    """Names of the registered frameworks, for one task or all, in run order."""
    return [a.name for a in ADAPTERS if task is None or task in a.tasks]


def get_framework(name: str, task: str | None = None) -> Framework:
    """The adapter called `name`, or a clear error listing the valid names."""
    for adapter in ADAPTERS:
        if adapter.name == name and (task is None or task in adapter.tasks):
            return adapter
    valid = ", ".join(framework_names(task))
    where = f" for {task} tasks" if task else ""
    raise InputError(f"Unknown framework '{name}'{where}; valid frameworks are: {valid}.")


def frameworks_for(task: str, names: list[str] | None = None) -> list[Framework]:
    """Adapters for a task: all of them, or the ones named (validated) in run order."""
    if not names:
        return [a for a in ADAPTERS if task in a.tasks]
    chosen = {get_framework(n, task).name for n in names}
    return [a for a in ADAPTERS if a.name in chosen and task in a.tasks]
