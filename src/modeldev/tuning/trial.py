"""The trial function workers run: fit one combination group on one fold, score every stage.

A group is the combinations that differ only in the adapter's prefix parameter (e.g.
n_estimators): one fit at the largest value scores all of them (staged evaluation), with the
same results as separate fits (tests/test_staged.py). Each group is fitted once per fold; the
fold's preprocessing is made once per process (`FoldCache`). Workers never touch MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeldev.data.split import Split
from modeldev.evaluation.cross_validation import FoldCache, fit_fold
from modeldev.evaluation.decision import DecisionRule, needs_rescoring
from modeldev.evaluation.scoring import score_outputs
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework


@dataclass
class TrialShared:
    """What every trial needs, sent once per worker: the framework, the split, the device."""

    framework: str
    split: Split
    device: str = "cpu"
    threads: int = 1
    rule: DecisionRule | None = None  # the threshold rule and calibration, if they apply
    cache: FoldCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.cache = FoldCache(self.split)

    def warm_up(self) -> None:
        """Import the framework's library once per worker, before any trial's clock starts.

        Otherwise the first trial of every fresh worker pays the import (TensorFlow: seconds)
        against --trial-timeout, and a worker replacing a killed one could be killed in turn.
        """
        get_framework(self.framework, self.split.task).is_available()


def group_payload(params: dict[str, Any], prefix: str | None,
                  members: list[tuple[str, dict[str, Any]]], fold: int) -> dict[str, Any]:
    """Payload of one task: the fit params, the (hash, params) combinations it scores, the fold."""
    stages = sorted({int(p[prefix]) for _, p in members}) if prefix else None
    return {"params": params, "prefix": prefix, "stages": stages, "members": members,
            "fold": fold}


def evaluate_group(shared: TrialShared, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Fit once on the payload's fold and return one result per member: hash, metrics on the
    fold's validation rows, device and seconds."""
    split = shared.split
    adapter = get_framework(shared.framework, split.task)
    ctx = FitContext(device=shared.device, seed=split.seed, n_threads=shared.threads)
    model, inputs, fit_seconds = fit_fold(adapter, shared.cache, int(payload["fold"]),
                                          payload["params"], ctx)
    prefix, stages = payload["prefix"], payload["stages"]
    Xt_valid, y_valid = inputs.validation()
    outputs: dict[int | None, Any] = {}
    if stages and len(stages) > 1:
        for value, out in adapter.staged_outputs(model, Xt_valid, stages).items():
            outputs[value] = out
    else:  # from the validation rows preprocessed once, as the staged path does
        outputs[stages[0] if stages else None] = model.outputs(Xt_valid)
    top = max(stages) if stages else None
    keep = needs_rescoring(shared.rule, split.task)  # the driver decides out of fold
    results = []
    for combo_hash, params in payload["members"]:
        stage = int(params[prefix]) if stages else None
        metrics = score_outputs(split.task, y_valid, outputs[stage], split.n_classes)
        share = stage / top if stage and top else 1.0
        metrics["training_time"] = fit_seconds * share
        metrics["gpu_used"] = float(model.device_used == "gpu")
        result = {"hash": combo_hash, "metrics": metrics, "device": model.device_used,
                  "staged_from": top if stages and len(stages) > 1 else None}
        if keep:
            result["valid_outputs"] = np.asarray(outputs[stage], dtype=np.float32)
        results.append(result)
    return results
