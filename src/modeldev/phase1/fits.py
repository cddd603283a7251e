"""The fits Phase 1 runs in worker processes: one task per (framework, fold), plus the final fit.

A fold task fits the framework's baseline on the fold's training rows and scores its validation
rows. The final task fits the model that is logged (every development row with
cross-validation; with one holdout split, the holdout fold's fit is the final one) and scores
the test rows once. Workers never touch MLflow: they return metrics, outputs and, from the final
fit, the model; the Phase 1 process logs them. Epoch progress goes to the driver through
`execution.common.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.cross_validation import FINAL, FoldCache, fit_fold
from modeldev.evaluation.latency import latency_figures
from modeldev.evaluation.scoring import inference_ms, score_outputs
from modeldev.execution.common import TrialTask, report
from modeldev.frameworks.base import FitContext, Framework

FIT_STARTED = "fit_started"


@dataclass
class Phase1Shared:
    """What every Phase 1 task needs, sent once per worker: the split, devices, threads."""

    split: Split
    adapters: dict[str, Framework]  # the instances themselves: a worker needs no registry
    devices: dict[str, str]  # framework -> "cpu" or "gpu"
    threads: int = 1
    cache: FoldCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = FoldCache(self.split)

    def warm_up(self) -> None:
        """Import the frameworks' libraries once per worker, before any fit's clock starts:
        a TensorFlow import takes seconds, which a framework's time limit must not count."""
        for adapter in self.adapters.values():
            adapter.is_available()


def plan_tasks(frameworks: list[str], split: Split) -> list[TrialTask]:
    """Per framework, a task per fold and the final fit (holdout: its one fold is final)."""
    tasks = []
    for name in frameworks:
        if split.holdout:
            tasks.append(TrialTask(f"{name}:0", {"framework": name, "fold": 0, "final": True}))
            continue
        tasks += [TrialTask(f"{name}:{j}", {"framework": name, "fold": j, "final": False})
                  for j in range(len(split.folds))]
        tasks.append(TrialTask(f"{name}:final", {"framework": name, "fold": FINAL,
                                                 "final": True}))
    return tasks


def fit_task(shared: Phase1Shared, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one Phase 1 task; return its metrics, seconds and device (and the final model)."""
    name, fold, split = payload["framework"], int(payload["fold"]), shared.split
    adapter = shared.adapters[name]
    report({"type": FIT_STARTED, "framework": name, "fold": fold})
    ctx = FitContext(device=shared.devices.get(name, "cpu"), seed=split.seed,
                     n_threads=shared.threads,
                     on_progress=lambda e: report({**e, "fold": fold}))
    model, inputs, seconds = fit_fold(adapter, shared.cache, fold, {}, ctx)
    out: dict[str, Any] = {"framework": name, "fold": fold, "fit_seconds": seconds,
                           "device": model.device_used, "fallback_reason": model.fallback_reason,
                           "epochs": len(model.history)}
    if fold != FINAL:
        Xt_valid, y_valid = inputs.validation()
        valid = model.outputs(Xt_valid)
        out["metrics"] = score_outputs(split.task, y_valid, valid, split.n_classes)
        if split.holdout or split.task != "regression":
            # one split: the paired bootstrap over its rows needs them; classification: the
            # threshold and calibration chosen out of fold, and the constant-predictor check
            out["valid_outputs"] = np.asarray(valid, dtype=np.float64)
    if payload["final"]:
        test = model.outputs(model.transform(split.X_test))
        out.update(model=model, test_metrics=score_outputs(split.task, split.y_test, test,
                                                           split.n_classes),
                   test_outputs=np.asarray(test, dtype=np.float64),
                   inference_ms=inference_ms(model, split.X_test),
                   latency=latency_figures(model.predict, split.X_test))
    return out
