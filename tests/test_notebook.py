"""notebooks/model_training.ipynb, executed top to bottom on a real Jupyter kernel (nbclient).

As papermill would, the test injects its parameters after the notebook's parameters cell: a
small demo, two fast frameworks and a temporary workspace; then it checks the MLflow runs and
the files the notebook made, and that the committed notebook carries no outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from modeldev.config import resolve_settings
from modeldev.tracking.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "model_training.ipynb"
FAST = ["sklearn_logistic_regression", "xgboost_baseline"]
INHERITED = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
             "MODELDEV_CONTEXT_PATH")


def test_the_committed_notebook_has_its_outputs_cleared():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]  # the first code cell: papermill's
    assert all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.fixture
def executed(tmp_path, monkeypatch):
    """The notebook run from notebooks/ with the test's parameters injected; its workspace."""
    for name in INHERITED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        f"WORKSPACE = {str(tmp_path)!r}\nDEMO = 'breast_cancer'\nFRAMEWORKS = {','.join(FAST)!r}"
        "\nCV = 3\nREPEATS = 1")  # the notebook's own resampling options, at their smallest
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return nb, tmp_path


def test_notebook_trains_logs_charts_and_says_where(executed):
    nb, ws = executed
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "No usable GPU" in text or "GPU available" in text
    assert "[2/2] xgboost_baseline on cpu ..." in text
    figures = [o for o in outputs if o.output_type == "display_data"
               and "application/vnd.plotly.v1+json" in o.data]
    assert len(figures) == 1  # the comparison chart, inline
    panels = [a["text"] for a in figures[0].data["application/vnd.plotly.v1+json"]["layout"]
              ["annotations"]]
    assert len(panels) == 8 and any(p.startswith("\u2605 f1_score") for p in panels)

    settings = resolve_settings(ws)
    tracker = Tracker(settings)
    (parent,) = tracker.runs_of_kind(tracker.experiment_ids(), "phase1")
    assert (parent.name, parent.status) == ("phase1_baselines", "FINISHED")
    children = tracker.child_runs(parent.run_id)
    assert sorted(c.name for c in children) == sorted(FAST)
    assert all(c.status == "FINISHED" and "f1_score" in c.metrics for c in children)

    (folder,) = (settings.artifacts_dir / "training").iterdir()
    for name in ("all_models_metrics.json", "all_models_comparison.html",
                 "all_models_comparison.png", "best_model_info.json", "manifest.json"):
        assert (folder / name).is_file(), name
    best = json.loads((folder / "best_model_info.json").read_text())
    assert (best["cv_folds"], best["cv_repeats"]) == (3, 1)  # CV and REPEATS reached the engine
    assert f"best: {best['model_name']} (f1_score = " in text
    assert f"artifacts folder: {folder}" in text and f"MLflow run: {best['run_id']}" in text
    assert "epoch_005_phase1" in json.loads(settings.context_path.read_text())
