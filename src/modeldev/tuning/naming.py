"""The tuning parent run's name: `{family}_tuning_parent`, the specification's family names.

Only the name follows the specification; resume and redraw find a tuning parent by its tag
`modeldev.kind = tuning`, so runs named before this (`xgboost_baseline_tuning_parent`) still work.
"""

from __future__ import annotations

_PREFIXES = ("sklearn_",)
_SUFFIXES = ("_baseline", "_nn")


def family_name(framework: str) -> str:
    """The specification's family name of a framework: `xgboost_baseline` -> `xgboost`."""
    name = framework
    for prefix in _PREFIXES:
        name = name.removeprefix(prefix)
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name or framework


def tuning_parent_name(framework: str) -> str:
    """The MLflow run name of a tuning parent: `xgboost_tuning_parent` for `xgboost_baseline`."""
    return f"{family_name(framework)}_tuning_parent"
