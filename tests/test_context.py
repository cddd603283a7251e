"""pipeline_context.json: reading, locked atomic updates, and the keys each phase writes."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from modeldev.context import (
    phase1_update,
    phase2_update,
    read_context,
    update_context,
)
from modeldev.errors import InputError

UPSTREAM = {
    "epoch_001": {"recommended_algorithms": ["xgboost", "random_forest"]},
    "epoch_004_outputs": {"feature_data_path": "/data/f.parquet", "target_variable": "churn"},
}
OUTPUT_KEYS = {
    "best_model_name", "best_model_params", "tuning_parent_run_id", "primary_metric",
    "final_metric_value", "baseline_metric_value", "improvement_pct",
}


def _write_many(path: str, worker: int, n: int) -> None:
    for j in range(n):
        update_context(path, {f"worker_{worker}": {f"update_{j}": j}})


def test_read_context_absent_is_empty_and_bad_json_is_an_input_error(tmp_path):
    path = tmp_path / "pipeline_context.json"
    assert read_context(path) == {}
    path.write_text('{"epoch_004_outputs": {"feature_data_path": ')
    with pytest.raises(InputError, match="not valid JSON: .* line 1"):
        read_context(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        read_context(path)


def test_update_of_a_corrupt_context_refuses_and_leaves_it_alone(tmp_path):
    path = tmp_path / "pipeline_context.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        update_context(path, {"epoch_005_complete": True})
    assert path.read_text() == "{not json"


def test_updates_never_touch_other_epochs_keys(tmp_path):
    path = tmp_path / "pipeline_context.json"
    path.write_text(json.dumps(UPSTREAM))
    update = phase2_update(
        best_model_name="xgboost_baseline", best_model_params={"max_depth": None, "eta": 0.1},
        tuning_parent_run_id="abc", primary_metric="f1_score", final_metric_value=0.9,
        baseline_metric_value=float("nan"), improvement_pct=float("inf"),
    )
    result = update_context(path, update, replace=True)
    on_disk = json.loads(path.read_text())
    assert on_disk == result
    assert {k: on_disk[k] for k in UPSTREAM} == UPSTREAM
    assert on_disk["epoch_005_complete"] is True
    assert set(on_disk["epoch_005_outputs"]) == OUTPUT_KEYS
    assert on_disk["epoch_005_outputs"]["baseline_metric_value"] is None
    assert on_disk["epoch_005_outputs"]["improvement_pct"] is None


def test_deep_merge_keeps_siblings_and_replace_drops_stale_entries(tmp_path):
    path = tmp_path / "ctx" / "pipeline_context.json"
    update_context(path, {"epoch_005_phase1": {"models": {"a": 1, "b": 2}, "best": "a"}})
    merged = update_context(path, {"epoch_005_phase1": {"models": {"c": 3}}})
    assert merged["epoch_005_phase1"] == {"models": {"a": 1, "b": 2, "c": 3}, "best": "a"}
    replaced = update_context(path, {"epoch_005_phase1": {"models": {"c": 3}}}, replace=True)
    assert replaced["epoch_005_phase1"] == {"models": {"c": 3}}
    assert read_context(path) == replaced


def test_phase2_update_has_exactly_the_outputs_and_direction_aware_improvement():
    update = phase2_update(
        best_model_name="lightgbm_baseline", best_model_params={"num_leaves": 31},
        tuning_parent_run_id="run1", primary_metric="rmse", final_metric_value=8.0,
        baseline_metric_value=10.0,
    )
    assert set(update) == {"epoch_005_complete", "epoch_005_outputs"}
    assert set(update["epoch_005_outputs"]) == OUTPUT_KEYS
    assert update["epoch_005_outputs"]["improvement_pct"] == pytest.approx(20.0)


def test_phase1_update_from_the_cli_json(tmp_path):
    session = {
        "tracking_uri": "sqlite:///x.db", "experiment_id": "1", "parent_run_id": "p1",
        "artifacts_dir": tmp_path, "task": "binary",
        "runs": [{"name": "xgboost_baseline", "run_id": "r1", "status": "FINISHED",
                  "metrics": {"f1_score": 0.9}},
                 {"name": "pytorch_nn", "run_id": "r2", "status": "FAILED", "metrics": {}}],
    }
    best = {"name": "xgboost_baseline", "run_id": "r1", "primary_metric": "f1_score",
            "value": 0.9}
    (key, value), = phase1_update(best, session).items()
    assert key == "epoch_005_phase1"
    assert value["best_model_name"] == "xgboost_baseline" and value["best_metric_value"] == 0.9
    assert value["parent_run_id"] == "p1" and value["artifacts_dir"] == str(tmp_path)
    assert value["models"]["pytorch_nn"]["status"] == "FAILED"
    assert set(value) >= {"experiment_id", "tracking_uri", "primary_metric", "completed_at"}
    json.dumps(value)


def test_concurrent_updates_from_processes_keep_every_key(tmp_path):
    path = tmp_path / "pipeline_context.json"
    path.write_text(json.dumps(UPSTREAM))
    workers, per_worker = 4, 15
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(path), w, per_worker))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * workers
    final = read_context(path)
    assert {k: final[k] for k in UPSTREAM} == UPSTREAM
    for w in range(workers):
        assert final[f"worker_{w}"] == {f"update_{j}": j for j in range(per_worker)}


def test_phase1_update_reads_best_model_info_names_too():
    info = {"model_name": "sklearn_random_forest", "run_id": "r9", "primary_metric": "rmse",
            "primary_metric_value": 3.5, "parent_run_id": "p9", "experiment_id": "2",
            "task": "regression"}
    session = {"tracking_uri": "sqlite:///y.db", "artifacts_dir": "/a",
               "models": {"sklearn_random_forest": "FINISHED"}}
    value = phase1_update(info, session)["epoch_005_phase1"]
    assert value["best_model_name"] == "sklearn_random_forest"
    assert value["best_metric_value"] == 3.5
    assert (value["parent_run_id"], value["experiment_id"], value["task"]) == ("p9", "2",
                                                                                "regression")
    assert value["models"] == {"sklearn_random_forest": "FINISHED"}
