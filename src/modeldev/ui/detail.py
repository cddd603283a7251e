"""Per-model detail of a Phase 1 session: the logged model scored again on the session's split.

The model is loaded from MLflow (only models this store logged) and the split rebuilt from the
session's manifest (same data, checked by hash, same seed), so the numbers match the metrics.
Curves are drawn on the test rows: no model saw them while it was fitted or chosen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from modeldev.config import resolve_settings
from modeldev.data.split import Split
from modeldev.phase1.outputs import session_split as rebuild_split
from modeldev.tracking.folders import DATA_DIR
from modeldev.ui import common


@st.cache_resource(show_spinner="Rebuilding the session's split ...", max_entries=2)
def session_split(folder: str, stamp: float, workspace: str) -> Split:
    """The session's train/validation/test split, from its manifest and best_model_info."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    info = json.loads((Path(folder) / "best_model_info.json").read_text())
    return rebuild_split(manifest, info, resolve_settings(workspace).limits,
                         Path(folder) / DATA_DIR)


@st.cache_resource(show_spinner="Loading the model from MLflow ...", max_entries=8)
def fitted_model(uri: str, workspace: str, run_id: str) -> Any:
    """The FittedModel logged by a Phase 1 framework run (None when it logged none)."""
    tracker = common.cached_tracker(uri, workspace)
    models = tracker.get_run(run_id).model_ids
    return tracker.load_fitted(models[0]) if models else None


@st.cache_data(show_spinner="Scoring the model ...", max_entries=16)
def model_detail(uri: str, workspace: str, folder: str, stamp: float,
                 run_id: str) -> dict[str, Any] | None:
    """Test targets, predictions, probabilities and feature importance of one model."""
    model = fitted_model(uri, workspace, run_id)
    if model is None:
        return None
    split = session_split(folder, stamp, workspace)
    out: dict[str, Any] = {"task": split.task, "classes": [str(c) for c in split.classes],
                           "y": split.y_test, "importance": model.feature_importance()}
    if split.task == "regression":
        out["pred"] = model.predict_encoded(split.X_test)
    else:
        out["proba"] = model.predict_proba(split.X_test)
        out["pred"] = out["proba"].argmax(axis=1)
    return out
