"""The preprocessing each framework family needs; it travels inside every saved model.

One policy for every framework: infinite values count as missing; numeric columns are
median-imputed, categorical ones most-frequent-imputed. Trees get ordinal codes; linear models
and nets get scaled numbers and one-hot categories (rare ones pooled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from modeldev.data.validation import ColumnPlan

FAMILIES = ("tree", "linear", "net")
MAX_ONE_HOT_CATEGORIES = 32
MISSING_POLICY = "inf->missing; numeric median impute; categorical most-frequent impute"


def _numeric_as_float(X: pd.DataFrame) -> np.ndarray:
    arr = np.array(X, dtype=np.float64)  # a copy: the input may be a read-only view
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _categorical_as_text(X: pd.DataFrame) -> np.ndarray:
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), None).astype(object).to_numpy()


def build_preprocessor(plan: ColumnPlan, family: str) -> ColumnTransformer:
    """A fresh, unfitted ColumnTransformer for `family` ('tree', 'linear' or 'net')."""
    if family not in FAMILIES:
        raise ValueError(f"unknown preprocessing family {family!r}")
    numeric_steps: list = [
        ("finite", FunctionTransformer(_numeric_as_float, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
    ]
    if family != "tree":
        numeric_steps.append(("scale", StandardScaler()))
    if family == "tree":
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 encoded_missing_value=-1)
    else:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,
                                max_categories=MAX_ONE_HOT_CATEGORIES)
    categorical_steps = [
        ("text", FunctionTransformer(_categorical_as_text, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="most_frequent", missing_values=None)),
        ("encode", encoder),
    ]
    transformers = []
    if plan.numeric:
        transformers.append(("num", Pipeline(numeric_steps), list(plan.numeric)))
    if plan.categorical:
        transformers.append(("cat", Pipeline(categorical_steps), list(plan.categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def output_feature_names(pre: ColumnTransformer) -> list[str]:
    """Names of the columns a fitted preprocessor produces (for feature importance)."""
    return [str(n) for n in pre.get_feature_names_out()]
