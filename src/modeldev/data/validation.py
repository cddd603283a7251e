"""Validation before any framework sees the data: clear refusals, notices and the column plan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from modeldev.config import Limits
from modeldev.errors import InputError
from modeldev.evaluation.metrics import TASKS

MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test
IMBALANCE_WARNING_SHARE = 0.05
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key)$", re.IGNORECASE)


@dataclass
class ColumnPlan:
    """Which raw columns the model uses, as what, and which it drops and why."""

    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    with_missing: list[str] = field(default_factory=list)
    with_inf: list[str] = field(default_factory=list)

    @property
    def used(self) -> list[str]:
        """Columns the preprocessing reads."""
        return [*self.numeric, *self.categorical]


@dataclass
class Prepared:
    """A validated table: raw features, the target, the task and what was noticed."""

    X: pd.DataFrame
    y: pd.Series
    target: str
    task: str
    task_reason: str
    plan: ColumnPlan
    notices: list[str] = field(default_factory=list)


def prepare(frame: pd.DataFrame, target: str | None, task: str = "auto",
            limits: Limits | None = None) -> Prepared:
    """Validate a table for training and work out the task and the column plan."""
    limits = limits or Limits()
    if not target:
        raise InputError("No target column given; name it with --target.")
    if target not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:50]))
        raise InputError(f"Target column '{target}' not found; available columns are: {cols}.")
    _check_size(frame, limits)
    y = frame[target]
    _check_target_values(y, target)
    inferred, reason = infer_task(y)
    task = _resolve_task(task, inferred, reason, y, target)
    if task != "auto" and task != inferred:
        reason = f"set explicitly (inference said {inferred}: {reason})"
    X = frame.drop(columns=[target])
    notices: list[str] = []
    if task != "regression":
        notices += _check_classes(y, target)
    plan = plan_columns(X)
    if plan.dropped:
        dropped = "; ".join(f"{c} ({r})" for c, r in plan.dropped.items())
        notices.append(f"Dropped columns: {dropped}")
    if plan.with_inf:
        notices.append("Infinite values are treated as missing in: " + ", ".join(plan.with_inf))
    if not plan.used:
        raise InputError("No usable feature columns remain after dropping ID-like, constant "
                         "and empty columns.")
    return Prepared(X=X, y=y, target=target, task=task, task_reason=reason, plan=plan,
                    notices=notices)


def _check_size(frame: pd.DataFrame, limits: Limits) -> None:
    rows, cols = frame.shape
    if rows < limits.min_rows:
        raise InputError(f"Too few rows to split: {rows} rows, at least {limits.min_rows} needed.")
    if rows > limits.max_rows:
        raise InputError(f"Too many rows: {rows:,} rows, the limit is {limits.max_rows:,}.")
    if cols > limits.max_columns:
        raise InputError(
            f"Too many columns: {cols:,} columns, the limit is {limits.max_columns:,}.")


def _check_target_values(y: pd.Series, target: str) -> None:
    bad = y.isna().to_numpy().copy()
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        bad |= ~np.isfinite(y.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"Target '{target}' has {int(bad.sum())} rows with missing or infinite values "
            f"(first at row {first}); remove or fill them before training."
        )
    if y.nunique() < 2:
        raise InputError(f"Target '{target}' has a single value ({y.iloc[0]!r}); nothing to learn.")


def infer_task(y: pd.Series) -> tuple[str, str]:
    """Infer binary, multiclass or regression from the target, with the reason."""
    n_unique = int(y.nunique())
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        kind = "binary" if n_unique == 2 else "multiclass"
        return kind, f"non-numeric target with {n_unique} classes"
    values = y.to_numpy(dtype=float)
    if n_unique == 2:
        return "binary", "numeric target with exactly 2 distinct values"
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and n_unique <= 20 and n_unique / len(y) < 0.05:
        return "multiclass", f"integer target with {n_unique} distinct values"
    return "regression", f"numeric target with {n_unique} distinct values"


def _resolve_task(task: str, inferred: str, reason: str, y: pd.Series, target: str) -> str:
    if task == "auto":
        return inferred
    if task not in TASKS:
        raise InputError(f"Unknown task '{task}'; choose auto, {', '.join(TASKS)}.")
    n_unique = int(y.nunique())
    if task == "regression" and (not pd.api.types.is_numeric_dtype(y)
                                 or pd.api.types.is_bool_dtype(y)):
        raise InputError(f"Target '{target}' is not numeric, so it cannot be a regression target.")
    if task == "binary" and n_unique != 2:
        raise InputError(f"Target '{target}' has {n_unique} classes; binary needs exactly 2.")
    return task


def _check_classes(y: pd.Series, target: str) -> list[str]:
    counts = y.value_counts()
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if len(small):
        label, n = small.index[0], int(small.iloc[0])
        raise InputError(
            f"Class {label!r} of '{target}' has only {n} rows; the stratified train/validation/"
            f"test split needs at least {MIN_ROWS_PER_CLASS} per class."
        )
    share = counts.min() / counts.sum()
    if share < IMBALANCE_WARNING_SHARE:
        return [f"Class {counts.idxmin()!r} is only {share:.1%} of the rows: the split is "
                "stratified; prefer f1_score or roc_auc over accuracy."]
    return []


def plan_columns(X: pd.DataFrame) -> ColumnPlan:
    """Classify feature columns as numeric or categorical; drop ID-like, constant, empty ones."""
    plan = ColumnPlan(numeric=[], categorical=[])
    n = len(X)
    for col in X.columns:
        s = X[col]
        reason = _drop_reason(str(col), s, n)
        if reason:
            plan.dropped[col] = reason
            continue
        numeric = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        (plan.numeric if numeric else plan.categorical).append(col)
        if s.isna().any():
            plan.with_missing.append(col)
        if (numeric and not pd.api.types.is_bool_dtype(s)
                and np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).any()):
            plan.with_inf.append(col)
    return plan


def _drop_reason(name: str, s: pd.Series, n: int) -> str | None:
    non_null = s.dropna()
    if non_null.empty:
        return "all values missing"
    if pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.PeriodDtype):
        return "date/time column: derive numeric features from it upstream"
    if non_null.nunique() <= 1:
        return "constant"
    if non_null.nunique() == n and _id_like(name, non_null):
        return "ID-like: every value is unique"
    return None


def _id_like(name: str, s: pd.Series) -> bool:
    if pd.api.types.is_float_dtype(s):
        return False
    if not pd.api.types.is_numeric_dtype(s):
        return True
    values = np.sort(s.to_numpy())
    consecutive = values[-1] - values[0] + 1 == len(values)
    return bool(consecutive or _ID_NAME.search(name))
