"""After the trials: the best combination, the verdict against the baseline, the test figures,
the model carried forward, and everything logged, written and handed on.

What goes forward is said plainly everywhere: `tuned_model_info.json`, the parent run's tags,
the CLI's JSON and `pipeline_context.json` (whose `epoch_005_outputs` describe the model carried
forward: its params, its test value and its improvement, beside `verdict` and the tuned figures).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from modeldev.artifacts import write_json
from modeldev.config import Settings
from modeldev.context import phase2_update, update_context
from modeldev.data.split import Split
from modeldev.errors import AllFailedError, ModeldevError
from modeldev.evaluation.decision import DecisionRule
from modeldev.evaluation.metrics import finite_or_none, get_metric
from modeldev.evaluation.scoring import inference_ms, metric_of_outputs
from modeldev.evaluation.statistics import FoldSummary, row_summary
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework
from modeldev.serving.carried import CARRIED_HIGH, CARRIED_LOW, CARRIED_TEST
from modeldev.serving.register import register_run
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker
from modeldev.tuning import analysis
from modeldev.tuning.baseline import Baseline
from modeldev.tuning.outputs import MEASURED, load_trials, write_result_files
from modeldev.tuning.refits import Refit
from modeldev.tuning.trial import TrialShared
from modeldev.tuning.types import TuneResult
from modeldev.tuning.verdict import Judgement, judge

REGISTRATION_KEYS = ("registered_model", "model_version", "registered_model_uri", "serving_card",
                     "serving_card_uri", "registration_error")


def finish_tuning(tracker: Tracker, settings: Settings, base: Baseline, split: Split,
                  grid: dict[str, list], parent: str, folder: Path, started: float,
                  shared: TrialShared, baseline_folds: list[dict[str, float]] | None,
                  register_as: str | None = "") -> TuneResult:
    """Judge the best combination against the baseline, log and write it all, register the
    model carried forward (`register_as`: its name, "" the experiment's, None not at all),
    end the run."""
    metric = base.primary_metric
    trials = load_trials(tracker, parent)
    best = analysis.best_trial(trials, metric)
    n_failed = sum(t["status"] != "FINISHED" for t in trials)
    if best is None:
        tracker.end_run(parent, "FAILED")
        raise AllFailedError(f"Every one of the {len(trials)} combinations failed; see the "
                             f"error tags of the child runs of {parent}.")
    adapter = get_framework(base.framework, base.task)
    # the trials' device and thread budget: all threads of a busy 2-core box made a 0.8 s
    # XGBoost fit take 12 s (OpenMP threads waiting on each other)
    ctx = FitContext(device=shared.device, seed=split.seed, n_threads=shared.threads)
    said = judge(adapter, split, metric, best, trials,
                 [f[metric] for f in baseline_folds] if baseline_folds else None, ctx,
                 shared.rule)
    model_uri, carried_uri, measured = _log_models(tracker, parent, said, split,
                                                   adapter.requirements)
    fold_rows = None if split.holdout else split.fold_sizes
    write_result_files(folder, trials, grid, metric, said.baseline_cv.mean if said.baseline_cv
                       else base.val_value, fold_rows)
    info = _info(base, best, said, split, parent, (model_uri, carried_uri), measured,
                 shared.rule)
    carried_test = _carried_test(said, split, metric)
    info["carried_test_ci"] = [carried_test.ci_low, carried_test.ci_high]
    _log_parent(tracker, parent, best, said, metric, measured, carried_test)
    registered = _register(tracker, settings, parent, folder, register_as)
    info.update(registered)
    impact = analysis.parameter_impact(trials, list(grid), metric, fold_rows)
    summary = {"framework": base.framework, "n_combinations": len(trials),
               "n_completed": len(trials) - n_failed, "n_failed": n_failed,
               "wall_seconds": time.time() - started, "best": info,
               "top_10": analysis.top_k(trials, metric, 10), "parameter_impact": impact,
               "parameters_within_noise": analysis.within_noise(impact, metric, fold_rows)}
    _write_json(folder, info, summary)
    summary_run = _log_summary(tracker, parent, summary, info)
    tracker.log_artifacts(parent, folder)
    if settings.context_path:
        update_context(settings.context_path, _context(base, said, parent, info),
                       replace=True)
    tracker.end_run(parent, "FINISHED")
    return TuneResult(
        tracking_uri=tracker.tracking_uri, experiment_id=tracker.get_run(parent).experiment_id,
        parent_run_id=parent, framework=base.framework, primary_metric=metric,
        n_combinations=len(trials), n_completed=len(trials) - n_failed, n_failed=n_failed,
        best_params=best["params"], baseline_metric_value=said.baseline.test_metrics[metric],
        final_metric_value=said.tuned.test_metrics[metric],
        improvement_pct=said.improvement_pct, artifacts_dir=folder,
        wall_seconds=time.time() - started, note=base.note, summary_run_id=summary_run,
        model_uri=model_uri, cv_folds=split.cv_folds, cv_repeats=split.repeats,
        verdict=said.verdict,
        carried_forward=said.carried_forward,
        improvement_ci_pct=[said.improvement_ci.ci_low, said.improvement_ci.ci_high],
        carried_model_uri=info["carried_model_uri"], carried_params=said.carried.params,
        verdict_p_value=finite_or_none({"p": said.verdict_test.p_value})["p"],
        registration=registered)


def _log_models(tracker: Tracker, parent: str, said: Judgement, split: Split,
                requirements: tuple[str, ...]) -> tuple[str, str, dict[str, float]]:
    """Log the tuned model (and the baseline's when it is the one carried forward); return
    both URIs and the tuned model's measured timing and size figures."""
    example = split.X_dev.head(5)
    uri, size_mb = tracker.log_model(parent, said.tuned.model, example, list(requirements))
    carried_uri = uri
    if said.carried_forward == "baseline":
        carried_uri, _ = tracker.log_model(parent, said.baseline.model, example,
                                           list(requirements), name="baseline_model")
    model = said.tuned.model
    measured = {"training_time": said.tuned.fit_seconds,
                "inference_time_ms": inference_ms(model, split.X_test),
                "model_size_mb": size_mb, "gpu_used": float(model.device_used == "gpu")}
    return uri, carried_uri, measured


def _cut(fitted: Refit) -> float | None:
    """A binary model's decision threshold (0.5: the argmax); None for other tasks."""
    if fitted.model.task != "binary":
        return None
    return fitted.model.threshold if fitted.model.threshold is not None else 0.5


def _info(base: Baseline, best: dict[str, Any], said: Judgement, split: Split, parent: str,
          uris: tuple[str, str], measured: dict[str, float],
          rule: DecisionRule | None) -> dict[str, Any]:
    """tuned_model_info.json: the seed's keys, the verdict and what is carried forward."""
    metric = base.primary_metric
    return {"model_name": base.framework, "best_params": best["params"],
            "best_trial_run_id": best["run_id"], "primary_metric": metric,
            "validation_metric_value": best["metrics"][metric],
            "final_metric_value": said.tuned.test_metrics[metric],
            "baseline_metric_value": said.baseline.test_metrics[metric],
            "improvement_pct": said.improvement_pct,
            "improvement_ci_pct": [said.improvement_ci.ci_low, said.improvement_ci.ci_high],
            "test_metrics": {**said.tuned.test_metrics, **measured},
            "baseline_test_metrics": said.baseline.test_metrics,
            "cv_folds": split.cv_folds, "cv_repeats": split.repeats,
            "tuned_cv": said.tuned_cv.as_dict() if said.tuned_cv else None,
            "baseline_cv": said.baseline_cv.as_dict() if said.baseline_cv else None,
            "verdict": said.verdict, "verdict_test": said.verdict_test.as_dict(),
            "improvement_test": said.improvement_ci.as_dict(),
            "carried_forward": said.carried_forward, "carried_params": said.carried.params,
            "carried_model_uri": uris[1], "model_uri": uris[0], "tuning_parent_run_id": parent,
            "decision_threshold": _cut(said.carried),
            "tuned_decision_threshold": _cut(said.tuned),
            **(rule.as_dict() if rule else {"threshold_rule": None, "calibration": None}),
            "phase1_run_id": base.training_run_id, "note": base.note}


def _write_json(folder: Path, info: dict[str, Any], summary: dict[str, Any]) -> None:
    write_json(folder / "tuned_model_info.json", info)
    write_json(folder / "tuning_summary_report.json", summary)


def _carried_test(said: Judgement, split: Split, metric: str) -> FoldSummary:
    """The carried model's test value with its 95 % bootstrap interval over the test rows."""
    carried = said.carried

    def statistic(y: np.ndarray, outputs: np.ndarray) -> float:
        return metric_of_outputs(metric, split.task, y, outputs, split.n_classes,
                                 carried.model.threshold)

    return row_summary(statistic, (split.y_test, carried.test_outputs), split.seed,
                       bounds=get_metric(metric).bounds)


def _register(tracker: Tracker, settings: Settings, parent: str, folder: Path,
              register_as: str | None) -> dict[str, Any]:
    """Register the carried model (see `serving.register`); what the outputs say of it. A
    registry that fails leaves the tuning standing: its sentence is kept instead."""
    none = dict.fromkeys(REGISTRATION_KEYS)
    if register_as is None:
        return none
    try:
        done = register_run(tracker, settings, parent, register_as or None, folder,
                            running_ok=True)
    except ModeldevError as exc:
        return {**none, "registration_error": str(exc)}
    keys = done.context_keys()
    keys["registered_model_uri"] = keys.pop("model_uri")
    return {**none, **keys}


def _log_parent(tracker: Tracker, parent: str, best: dict[str, Any], said: Judgement,
                metric: str, measured: dict[str, float], carried_test: FoldSummary) -> None:
    tracker.log_batch(parent, metrics={
        CARRIED_TEST: carried_test.mean, CARRIED_LOW: carried_test.ci_low,
        CARRIED_HIGH: carried_test.ci_high,
        f"best_{metric}": best["metrics"][metric],
        f"test_{metric}": said.tuned.test_metrics[metric],
        f"baseline_test_{metric}": said.baseline.test_metrics[metric],
        "improvement_pct": said.improvement_pct,
        "improvement_ci_low": said.improvement_ci.ci_low,
        "improvement_ci_high": said.improvement_ci.ci_high,
        "verdict_p_value": said.verdict_test.p_value,
        "decision_threshold": _cut(said.carried),
        "verdict_p_better": said.verdict_test.p_better,
        "verdict_n_compared": said.verdict_test.n_compared, **{k: measured[k] for k in MEASURED}},
        tags={T.VERDICT: said.verdict, T.CARRIED_FORWARD: said.carried_forward})


def _context(base: Baseline, said: Judgement, parent: str, info: dict[str, Any]) -> dict:
    """epoch_005_outputs: the seed's keys describe what is carried forward."""
    metric = base.primary_metric
    carried = said.carried
    update = phase2_update(
        best_model_name=base.framework, best_model_params=carried.params,
        tuning_parent_run_id=parent, primary_metric=metric,
        final_metric_value=carried.test_metrics[metric],
        baseline_metric_value=said.baseline.test_metrics[metric],
        improvement_pct=said.improvement_pct if said.carried_forward == "tuned" else 0.0)
    registered = {k: info.get(k) for k in REGISTRATION_KEYS if k != "registered_model_uri"}
    update["epoch_005_outputs"].update(
        verdict=said.verdict, carried_forward=said.carried_forward,
        model_uri=info["registered_model_uri"] or info["carried_model_uri"],
        logged_model_uri=info["carried_model_uri"], **registered,
        tuned_params=said.tuned.params,
        tuned_metric_value=said.tuned.test_metrics[metric],
        tuned_improvement_pct=said.improvement_pct,
        improvement_ci_pct=info["improvement_ci_pct"],
        final_metric_ci=info["carried_test_ci"])
    return update


def _log_summary(tracker: Tracker, parent: str, summary: dict[str, Any],
                 info: dict[str, Any]) -> str:
    exp = tracker.get_run(parent).experiment_id
    run_id = tracker.start_run(exp, "training_summary", parent,
                               tags={T.KIND: T.KIND_SUMMARY, T.VERDICT: info["verdict"],
                                     T.CARRIED_FORWARD: info["carried_forward"]})
    metrics = {k: summary[k] for k in ("n_combinations", "n_completed", "n_failed",
                                       "wall_seconds")}
    metrics.update({"final_metric_value": info["final_metric_value"],
                    "baseline_metric_value": info["baseline_metric_value"],
                    "improvement_pct": info["improvement_pct"]})
    tracker.log_batch(run_id, params={"framework": summary["framework"],
                                      "primary_metric": info["primary_metric"],
                                      "best_params": json.dumps(info["best_params"])},
                      metrics={k: v for k, v in metrics.items() if v is not None})
    tracker.end_run(run_id, "FINISHED")
    return run_id
