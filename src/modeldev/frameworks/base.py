"""The adapter contract every framework module implements, and the fitted-model wrapper."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from modeldev.data.preprocess import build_preprocessor, output_feature_names
from modeldev.data.split import TrainingRows

ProgressFn = Callable[[dict[str, Any]], None]


def _never() -> bool:
    return False


def _ignore(_event: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class ParamSpec:
    """Typed schema of one tunable parameter: kind, range or choices, whether null is allowed."""

    kind: str  # "int", "float", "str" or "bool"
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    log: bool = False  # values spread on a log scale (charts)

    def describe(self) -> str:
        """Human description of the accepted values."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.low is not None or self.high is not None:
            text = f"{self.kind} in [{self.low}, {self.high}]"
        else:
            text = self.kind
        return text + (" or null" if self.nullable else "")


@dataclass
class FitContext:
    """What a fit may use and how it reports: device, seed, threads, callbacks."""

    device: str = "cpu"  # "cpu" or "gpu"
    seed: int = 42
    n_threads: int | None = None
    on_progress: ProgressFn = _ignore
    should_stop: Callable[[], bool] = _never


@dataclass
class FittedModel:
    """A trained model with its preprocessing inside: takes raw rows, returns raw labels.

    `core` is any object with `predict(Xt)` (class indices or floats) and, for classifiers,
    `predict_proba(Xt)`, where Xt is the preprocessor's numeric output.
    """

    framework: str
    task: str
    preprocessor: ColumnTransformer
    core: Any
    classes: list = field(default_factory=list)
    device_used: str = "cpu"
    fallback_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    fit_params: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # binary: the positive class above it; None: the argmax
    calibrator: Any = None  # evaluation.calibration.Calibrator, applied to the probabilities

    @property
    def decision_threshold(self) -> float | None:
        """The cut a binary model labels at (0.5 where it takes the argmax); None otherwise."""
        if self.task != "binary":
            return None
        return 0.5 if self.threshold is None else float(self.threshold)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Apply the fitted preprocessing to raw rows."""
        return np.asarray(self.preprocessor.transform(X), dtype=np.float32)

    def outputs(self, Xt: np.ndarray) -> np.ndarray:
        """Class probabilities (calibrated, when a calibrator was chosen) or floats
        (regression) of preprocessed rows."""
        if self.task == "regression":
            return np.asarray(self.core.predict(Xt), dtype=float).ravel()
        proba = np.asarray(self.core.predict_proba(Xt), dtype=float)
        return self.calibrator.apply(proba) if self.calibrator is not None else proba

    def predict_encoded(self, X: pd.DataFrame) -> np.ndarray:
        """Class indices (at the decision threshold, for binary) or floats (regression)."""
        out = self.outputs(self.transform(X))
        if self.task == "regression":
            return out
        if self.task == "binary" and self.threshold is not None:
            return (out[:, 1] > self.threshold).astype(np.int64)
        return out.argmax(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities in `classes` order; None for regression."""
        if self.task == "regression":
            return None
        return self.outputs(self.transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions in the target's own labels (or floats for regression)."""
        encoded = self.predict_encoded(X)
        if self.task == "regression":
            return encoded
        return np.asarray(self.classes, dtype=object)[encoded]

    def feature_importance(self) -> tuple[list[str], list[float]] | None:
        """Native importances (trees) or mean |coefficient| (linear) per preprocessed feature;
        None for a model with neither (nets)."""
        values = getattr(self.core, "feature_importances_", None)
        if values is None and getattr(self.core, "coef_", None) is not None:
            values = np.abs(np.atleast_2d(np.asarray(self.core.coef_, dtype=float))).mean(axis=0)
        if values is None:
            return None
        values = np.asarray(values, dtype=float).ravel()
        try:
            names = output_feature_names(self.preprocessor)
        except Exception:  # a transformer without names: number them
            names = []
        if len(names) != len(values):
            names = [f"feature {i}" for i in range(len(values))]
        return names, values.tolist()


def class_weight_dict(rows: TrainingRows) -> dict[int, float] | None:
    """The rows' class weights as scikit-learn's `class_weight` takes them (None: unweighted)."""
    if rows.class_weights is None:
        return None
    return {k: float(w) for k, w in enumerate(rows.class_weights)}


def coerce_params(params: dict[str, Any], schema: dict[str, ParamSpec]) -> dict[str, Any]:
    """The schema's parameters of `params`, cast to their kinds (None kept)."""
    casts = {"int": int, "float": float, "str": str, "bool": bool}
    return {name: (None if params[name] is None else casts[spec.kind](params[name]))
            for name, spec in schema.items() if name in params}


def check_stages(values: list[int], fitted: int, param: str) -> list[int]:
    """Staged values as ints, refusing any outside 1..fitted."""
    stages = [int(v) for v in values]
    bad = [v for v in stages if not 1 <= v <= fitted]
    if bad:
        raise ValueError(f"staged {param} values {bad} are outside 1..{fitted}, the fitted size")
    return stages


class Preprocessed(NamedTuple):
    """A family's preprocessing fitted on the training rows, and the rows it produced."""

    preprocessor: ColumnTransformer
    Xt: np.ndarray  # the training rows, preprocessed (float32)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Other rows through the same fitted preprocessing (float32)."""
        return np.asarray(self.preprocessor.transform(X), dtype=np.float32)


class Framework(abc.ABC):
    """One framework adapter. Subclasses set the class attributes and implement `fit_core`."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    family: ClassVar[str]  # preprocessing family: tree, linear or net
    gpu_library: ClassVar[str | None] = None  # the library that can run it on a GPU
    prefix_param: ClassVar[str | None] = None  # staged-evaluation parameter, if any
    requirements: ClassVar[tuple[str, ...]] = ("scikit-learn",)  # pip names for model logging

    import_name: ClassVar[str | None] = None  # the library whose import makes it usable

    def is_available(self) -> tuple[bool, str]:
        """Whether the framework's library imports here, with the reason when it does not."""
        if self.import_name is None:
            return True, ""
        try:
            importlib.import_module(self.import_name)
        except Exception as exc:  # a broken install raises more than ImportError
            return False, f"{self.import_name} is not usable: {exc}"
        return True, ""

    @property
    def gpu_capable(self) -> bool:
        """Whether this framework can run on a GPU at all (its library may still lack one)."""
        return self.gpu_library is not None

    def gpu_check(self) -> tuple[bool, str]:
        """Whether this framework's library can use a GPU here, with the reason (imports it)."""
        return False, f"{self.name} runs on CPU only"

    @abc.abstractmethod
    def baseline_params(self, task: str) -> dict[str, Any]:
        """Baseline parameters for a task."""

    def param_schema(self, task: str) -> dict[str, ParamSpec]:
        """Typed schema of the tunable parameters (empty: nothing to tune)."""
        return {}

    def default_grid(self, task: str) -> dict[str, list[Any]]:
        """The default tuning grid (empty: nothing to tune)."""
        return {}

    @abc.abstractmethod
    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit on preprocessed training rows `Xt` (targets in `rows.y`); return (core model,
        device actually used). Anything a fit validates on (early stopping) it carves out of
        these rows itself: the rows a fold is scored on are never shown to it."""

    def preprocess(self, rows: TrainingRows) -> Preprocessed:
        """This family's preprocessing, fitted on `rows`, and the rows it produced."""
        pre = build_preprocessor(rows.plan, self.family)
        return Preprocessed(pre, np.asarray(pre.fit_transform(rows.X), dtype=np.float32))

    def fit(self, rows: TrainingRows, params: dict[str, Any] | None = None,
            ctx: FitContext | None = None, preprocessed: Preprocessed | None = None) -> FittedModel:
        """Fit preprocessing and model on `rows` (baseline params overridden by `params`).

        `preprocessed` (this family's `preprocess(rows)`, made once) saves refitting the
        preprocessing when many models are fitted on the same rows; fits never modify it.
        """
        ctx = ctx or FitContext(seed=rows.seed)
        merged = {**self.baseline_params(rows.task), **(params or {})}
        pre, Xt = preprocessed or self.preprocess(rows)
        core, device = self.fit_core(Xt, rows, merged, ctx)
        model = FittedModel(framework=self.name, task=rows.task, preprocessor=pre, core=core,
                            classes=list(rows.classes), device_used=device, fit_params=merged)
        model.history = list(getattr(core, "history_", []) or [])
        model.fallback_reason = getattr(core, "fallback_reason_", None)
        return model

    def staged_outputs(self, model: FittedModel, Xt: np.ndarray,
                       values: list[int]) -> dict[int, np.ndarray]:
        """Outputs at each value of `prefix_param` (staged evaluation), on preprocessed rows `Xt`.

        `Xt` is `model.transform(X)`. Returns, per value, class probabilities (classification)
        or predictions (regression) equal to those of a separate fit with `prefix_param` set to
        that value. Only adapters with a `prefix_param` implement it.
        """
        raise NotImplementedError(f"{self.name} has no staged evaluation")
