"""The model a run carries forward, and the facts its registered version is tagged with.

- a **tuning run**: the model its verdict carried forward (the tuned one when `better`, else the
  baseline's), its test value with the 95 % bootstrap interval over the test rows;
- a **Phase 1 session**: its winner's model;
- a **Phase 1 framework run**: its own model. Phase 1 has no interval on the test rows, so the
  interval is the cross-validated one (and the tag `interval` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldev.errors import InputError
from modeldev.tracking import tags as T
from modeldev.tracking.records import RunRecord
from modeldev.tracking.tracker import Tracker

TEST_BOOTSTRAP = "95 % bootstrap interval over the test rows"
CV_INTERVAL = "95 % interval over the cross-validation folds (Phase 1 has none on the test rows)"
CARRIED_TEST = "carried_test_value"  # a tuning parent's metrics: the carried model's test value
CARRIED_LOW, CARRIED_HIGH = "carried_test_ci_low", "carried_test_ci_high"


@dataclass(frozen=True)
class Carried:
    """The run named, the LoggedModel it carries forward, and the version's tags."""

    run: RunRecord
    model_id: str
    tags: dict[str, Any]


def carried_model(tracker: Tracker, run_id: str, running_ok: bool = False) -> Carried:
    """What run `run_id` carries forward; InputError for a run that carries no model (or has
    not finished, unless `running_ok`: the tuning that is finishing registers itself)."""
    run = tracker.get_run(run_id)
    kind = run.tags.get(T.KIND)
    if kind not in (T.KIND_TUNING, T.KIND_PHASE1, T.KIND_PHASE1_MODEL):
        raise InputError(f"Run {run_id} is not a Phase 1 session, a framework run or a tuning "
                         "run: it carries no model to register.")
    if run.status != "FINISHED" and not (running_ok and run.status == "RUNNING"):
        raise InputError(f"Run {run_id} is {run.status}, not FINISHED: only a finished run's "
                         "model can be registered.")
    if kind == T.KIND_TUNING:
        return _of_tuning(tracker, run)
    if kind == T.KIND_PHASE1:
        return _of_session(tracker, run)
    return _of_framework(tracker, run)


def _of_tuning(tracker: Tracker, run: RunRecord) -> Carried:
    metric, m = run.tags.get(T.PRIMARY_METRIC, ""), run.metrics
    carried = run.tags.get(T.CARRIED_FORWARD, "tuned")
    name = "model" if carried == "tuned" else "baseline_model"
    model_id = tracker.logged_models(run.run_id).get(name)
    if model_id is None:
        raise InputError(f"Tuning run {run.run_id} logged no {name} to register.")
    fallback = m.get(f"test_{metric}" if carried == "tuned" else f"baseline_test_{metric}")
    return Carried(run, model_id, {
        T.VERSION_VERDICT: run.tags.get(T.VERDICT), T.VERSION_CARRIED: carried,
        T.VERSION_FRAMEWORK: run.tags.get(T.FRAMEWORK), T.VERSION_TASK: run.tags.get(T.TASK),
        T.VERSION_METRIC: metric, T.VERSION_TEST_VALUE: m.get(CARRIED_TEST, fallback),
        T.VERSION_CI_LOW: m.get(CARRIED_LOW), T.VERSION_CI_HIGH: m.get(CARRIED_HIGH),
        T.VERSION_INTERVAL: TEST_BOOTSTRAP if CARRIED_LOW in m else None,
        T.VERSION_PHASE1: run.tags.get(T.PHASE1_RUN_ID) or None,
        T.VERSION_TUNING: run.run_id, T.VERSION_SOURCE_RUN: run.run_id,
        T.VERSION_THRESHOLD: m.get("decision_threshold")})


def _of_session(tracker: Tracker, run: RunRecord) -> Carried:
    best = run.tags.get(T.BEST_MODEL)
    winner = next((c for c in tracker.child_runs(run.run_id)
                   if best and c.tags.get(T.FRAMEWORK) == best), None)
    if winner is None:
        raise InputError(f"Phase 1 session {run.run_id} named no winner to register.")
    return _of_framework(tracker, tracker.get_run(winner.run_id), run)


def _of_framework(tracker: Tracker, run: RunRecord,
                  session: RunRecord | None = None) -> Carried:
    if not run.model_ids:
        raise InputError(f"Framework run {run.run_id} logged no model to register.")
    parent = session or tracker.get_run(run.tags.get(T.PARENT, ""))
    metric, m = parent.tags.get(T.PRIMARY_METRIC, ""), run.metrics
    framework = run.tags.get(T.FRAMEWORK)
    won = framework == parent.tags.get(T.BEST_MODEL)
    threshold = run.params.get("decision_threshold")
    return Carried(run, run.model_ids[0], {
        T.VERSION_VERDICT: "phase1_winner" if won else "phase1_model",
        T.VERSION_FRAMEWORK: framework, T.VERSION_TASK: run.tags.get(T.TASK),
        T.VERSION_METRIC: metric, T.VERSION_TEST_VALUE: m.get(f"test_{metric}"),
        T.VERSION_CI_LOW: m.get(f"{metric}_ci_low"), T.VERSION_CI_HIGH: m.get(f"{metric}_ci_high"),
        T.VERSION_INTERVAL: CV_INTERVAL if f"{metric}_ci_low" in m else None,
        T.VERSION_PHASE1: parent.run_id, T.VERSION_SOURCE_RUN: run.run_id,
        T.VERSION_THRESHOLD: float(threshold) if threshold is not None else None})
