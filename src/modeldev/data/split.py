"""The resampling every framework and every tuning trial shares: a held-out test split, then
K seeded cross-validation folds of the other rows (or one holdout validation split).

The test rows are drawn first (seeded, stratified for classification) and scored once per
model. The remaining "development" rows are cut into K folds by scikit-learn's
StratifiedKFold (classification) or KFold (regression), shuffled with the same seed, so the same
table, seed and K always give the same folds: in Phase 1, in tuning, and on any machine. With
R repeats the K-fold cut is made R times, the first with the seed itself (so one repeat is
exactly the plain K folds) and each further one with a seed derived from it: R x K folds. With
K = 0 (holdout) there is one fold: 60 % train / 20 % validation of the whole table, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from modeldev.data.validation import ColumnPlan, Prepared
from modeldev.errors import InputError

DEFAULT_SEED = 42
TEST_SHARE = 0.2
HOLDOUT_VALIDATION_SHARE = 0.25  # of the development rows: 60 / 20 / 20 of the table
AUTO_FOLDS = 5
AUTO_MAX_ROWS = 50_000  # above this, "auto" means the single holdout split
AUTO_REPEATS = 2  # repeats of the K folds when --repeats is auto (cross-validation only)
MAX_REPEATS = 20


@dataclass(frozen=True)
class Fold:
    """One resampling fold: positions of its training and validation rows in the dev rows."""

    train: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class TrainingRows:
    """What one fit sees: raw feature rows, encoded targets, and what the adapters need."""

    X: pd.DataFrame
    y: np.ndarray
    task: str
    plan: ColumnPlan
    classes: list
    seed: int
    class_weights: np.ndarray | None = None  # per class, when the fit weights classes

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" class weights of these rows: rows / (classes x class rows),
    and 0 for a class the rows lack."""
    counts = np.bincount(y.astype(np.int64), minlength=n_classes).astype(float)
    return np.divide(len(y), n_classes * counts, out=np.zeros(n_classes), where=counts > 0)


@dataclass
class Split:
    """The test rows, the development rows and their folds (one holdout fold when cv_folds=0)."""

    X_dev: pd.DataFrame
    y_dev: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    task: str
    plan: ColumnPlan
    folds: list[Fold]
    cv_folds: int  # K, or 0 for the single holdout split
    seed: int = DEFAULT_SEED
    repeats: int = 1  # R: the K-fold cut made R times (1 with the holdout split)
    class_weight: str | None = None  # "balanced": every fit weights the classes
    classes: list = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def holdout(self) -> bool:
        """True for the single train/validation split."""
        return self.cv_folds == 0

    def _rows(self, positions: np.ndarray) -> TrainingRows:
        y = self.y_dev[positions]
        weights = (balanced_weights(y, self.n_classes)
                   if self.class_weight == "balanced" and self.task != "regression" else None)
        return TrainingRows(self.X_dev.iloc[positions].reset_index(drop=True), y, self.task,
                            self.plan, list(self.classes), self.seed, weights)

    def fold_rows(self, fold: int) -> TrainingRows:
        """The training rows of fold `fold`."""
        return self._rows(self.folds[fold].train)

    def fold_valid(self, fold: int) -> tuple[pd.DataFrame, np.ndarray]:
        """The validation rows of fold `fold` and their targets."""
        positions = self.folds[fold].valid
        return self.X_dev.iloc[positions].reset_index(drop=True), self.y_dev[positions]

    def final_rows(self) -> TrainingRows:
        """What the logged model is fitted on: every development row with cross-validation,
        the training part with the holdout split."""
        if self.holdout:
            return self.fold_rows(0)
        return self._rows(np.arange(len(self.y_dev)))

    @property
    def fold_sizes(self) -> tuple[int, int]:
        """(training rows, validation rows) of the first fold."""
        return len(self.folds[0].train), len(self.folds[0].valid)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows in each part: development, test, and one fold's train and validation."""
        train, valid = self.fold_sizes
        return {"development": len(self.y_dev), "test": len(self.y_test), "folds": self.cv_folds,
                "repeats": self.repeats, "train": train, "validation": valid}

    @property
    def scheme(self) -> str:
        """How the development rows are resampled, in words: '2 x 5-fold cross-validation'."""
        return scheme_text(self.cv_folds, self.repeats)


def scheme_text(cv_folds: int, repeats: int = 1) -> str:
    """'2 x 5-fold cross-validation', '5-fold cross-validation' or 'one holdout split'."""
    if not cv_folds:
        return "one holdout split"
    return (f"{repeats} x {cv_folds}-fold cross-validation" if repeats > 1
            else f"{cv_folds}-fold cross-validation")


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


def resolve_folds(requested: int | None, n_rows: int, y_dev: np.ndarray, task: str,
                  classes: list | None = None) -> tuple[int, str | None]:
    """K for `requested` (None = auto: 5 up to 50,000 rows, else holdout), and a notice when
    auto had to use fewer folds; an impossible explicit K is refused with the counts."""
    if requested is not None and (requested < 0 or requested == 1):
        raise InputError(f"--cv must be 0 (one holdout split) or a number of folds of at least "
                         f"2, not {requested}.")
    smallest, what = _smallest_group(y_dev, task, classes or [])
    if requested is None:
        if n_rows > AUTO_MAX_ROWS:
            return 0, None
        if smallest >= AUTO_FOLDS:
            return AUTO_FOLDS, None
        if smallest >= 2:
            return smallest, (f"{smallest}-fold cross-validation instead of {AUTO_FOLDS}: "
                              f"{what} has only {smallest} rows outside the test split.")
        return 0, f"A single holdout split: {what} has only {smallest} row outside the test split."
    if requested > smallest:
        raise InputError(
            f"{requested}-fold cross-validation needs at least {requested} rows of each class "
            f"outside the test split, but {what} has {smallest}; use --cv {max(2, smallest)} or "
            "fewer, or --cv 0 for one holdout split." if task != "regression" else
            f"{requested}-fold cross-validation needs at least {requested} rows outside the test "
            f"split, but there are {smallest}; use fewer folds or --cv 0.")
    return requested, None


def _smallest_group(y_dev: np.ndarray, task: str, classes: list) -> tuple[int, str]:
    """The fewest rows a fold can be cut from: the smallest class, or all rows (regression)."""
    if task == "regression":
        return len(y_dev), "the table"
    counts = np.bincount(y_dev, minlength=max(len(classes), 1))
    i = int(np.argmin(counts))
    label = classes[i] if i < len(classes) else i
    return int(counts[i]), f"class {label!r}"


def resolve_repeats(requested: int | None, cv_folds: int) -> int:
    """R for `requested` (None = auto: AUTO_REPEATS with cross-validation); 1 with holdout."""
    if requested is not None and not 1 <= requested <= MAX_REPEATS:
        raise InputError(f"--repeats must be between 1 and {MAX_REPEATS}, not {requested}.")
    if cv_folds == 0:
        return 1
    return AUTO_REPEATS if requested is None else requested


def repeat_seed(seed: int, repeat: int) -> int:
    """The shuffle seed of repeat `repeat` (0-based): the seed itself first, then derived."""
    if repeat == 0:
        return seed
    return int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])


def make_folds(y_dev: np.ndarray, task: str, cv_folds: int, seed: int,
               repeats: int = 1) -> list[Fold]:
    """R x K seeded folds (stratified for classification), or the one holdout fold for K = 0."""
    idx = np.arange(len(y_dev))
    strat = y_dev if task != "regression" else None
    if cv_folds == 0:
        train, valid = train_test_split(idx, test_size=HOLDOUT_VALIDATION_SHARE,
                                        random_state=seed, stratify=strat)
        return [Fold(np.sort(train), np.sort(valid))]
    folds = []
    for r in range(repeats):
        shuffle = repeat_seed(seed, r)
        splitter = (KFold(cv_folds, shuffle=True, random_state=shuffle) if strat is None
                    else StratifiedKFold(cv_folds, shuffle=True, random_state=shuffle))
        folds += [Fold(train, valid) for train, valid in splitter.split(idx, strat)]
    return folds


def make_split(data: Prepared, seed: int = DEFAULT_SEED, cv: int | None = None,
               repeats: int | None = 1, class_weight: str | None = None) -> Split:
    """Hold out 20 % for test (seeded, stratified), then R x K folds of the rest (`cv`: None =
    auto, 0 = one holdout split; `repeats`: None = auto)."""
    y, classes = encode_target(data.y, data.task)
    idx = np.arange(len(y))
    strat = y if data.task != "regression" else None
    dev, test = train_test_split(idx, test_size=TEST_SHARE, random_state=seed, stratify=strat)
    dev, test = np.sort(dev), np.sort(test)
    folds_k, notice = resolve_folds(cv, len(y), y[dev], data.task, classes)
    n_repeats = resolve_repeats(repeats, folds_k)
    X = data.X.reset_index(drop=True)
    return Split(
        X_dev=X.iloc[dev].reset_index(drop=True), y_dev=y[dev],
        X_test=X.iloc[test].reset_index(drop=True), y_test=y[test], task=data.task,
        plan=data.plan, folds=make_folds(y[dev], data.task, folds_k, seed, n_repeats),
        cv_folds=folds_k, seed=seed, repeats=n_repeats, classes=classes,
        class_weight=check_class_weight(class_weight), notices=[notice] if notice else [])


def check_class_weight(value: str | None) -> str | None:
    """`--class-weight`'s value: none (None) or balanced."""
    if value in (None, "", "none"):
        return None
    if value != "balanced":
        raise InputError(f"--class-weight must be none or balanced, not {value!r}.")
    return value
