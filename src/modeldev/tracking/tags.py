"""The tag keys and values modeldev writes on MLflow runs, named once.

Engine modules, the job runner and the app read and write tags through these names; the values
are what stores written by earlier versions hold, so those still open.
"""

from __future__ import annotations

# What a run is (tag KIND), one of the KIND_* values.
KIND = "modeldev.kind"
KIND_PHASE1 = "phase1"
KIND_PHASE1_MODEL = "phase1_model"
KIND_TUNING = "tuning"
KIND_TRIAL = "tuning_trial"
KIND_SUMMARY = "tuning_summary"

# Who runs it: the process that owns a RUNNING run (stale-run sweeps read these).
PARENT = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
USER = "mlflow.user"
PID = "modeldev.pid"
PID_START = "modeldev.pid_start"
HOST = "modeldev.host"
HEARTBEAT = "modeldev.heartbeat"  # epoch seconds, refreshed by the live owner (liveness.py)

# Facts of a Phase 1 session and its framework runs.
TASK = "task"
DATASET = "dataset"
DATASET_HASH = "dataset_hash"
SPLIT_SEED = "split_seed"
CV_FOLDS = "cv_folds"  # K of the cross-validation, "0" for one holdout split
CONSTANT_PREDICTOR = "modeldev.constant_predictor"  # why a model's predictions are one class
CV_REPEATS = "cv_repeats"  # R: how many times the K-fold cut was made (1 with holdout)
FOLD_ROWS = "fold_rows"  # "train,valid": the rows of one fold (for the intervals' correction)
TOP_TIER = "top_tier"  # the winner and the frameworks tied with it, comma-separated
PRIMARY_METRIC = "primary_metric"
FRAMEWORK = "framework"
DEVICE = "device"
GPU_FALLBACK_REASON = "gpu_fallback_reason"
ARTIFACTS_DIR = "artifacts_dir"
BEST_MODEL = "best_model"
BEST_METRIC_VALUE = "best_metric_value"
ERROR = "error"
ERROR_TRACEBACK = "error_traceback"

# Facts of a tuning parent and its trials.
PHASE1_RUN_ID = "phase1_run_id"
N_COMBINATIONS = "n_combinations"
NOTE = "note"
CHILD_WRITES = "modeldev.child_writes"
RESUMED_AT = "modeldev.resumed_at"
RESUME_DROPPED = "modeldev.resume_dropped"
RESUME_KEPT = "modeldev.resume_kept"  # results logged from the folder's results file, not rerun
COMBINATION_HASH = "combination_hash"
PARAMS_JSON = "params_json"
STAGED_FROM = "staged_from"
TIMED_OUT = "timed_out"
VERDICT = "verdict"
CARRIED_FORWARD = "carried_forward"

# Tags of a logged model.
MODEL_FRAMEWORK = "modeldev.framework"
MODEL_TASK = "modeldev.task"

# Tags of a registered model version (the facts of the decision that made it the champion).
VERSION_VERDICT = "verdict"  # better, no_difference, worse; "phase1_winner" or "phase1_model"
VERSION_CARRIED = "carried_forward"
VERSION_FRAMEWORK = "framework"
VERSION_TASK = "task"
VERSION_METRIC = "primary_metric"
VERSION_TEST_VALUE = "test_value"
VERSION_CI_LOW = "test_ci_low"
VERSION_CI_HIGH = "test_ci_high"
VERSION_INTERVAL = "interval"  # what the interval is: a bootstrap on the test rows, or folds
VERSION_PHASE1 = "phase1_run_id"
VERSION_TUNING = "tuning_run_id"
VERSION_SOURCE_RUN = "source_run_id"
VERSION_THRESHOLD = "decision_threshold"
SERVING_CARD = "serving_card"  # where the version's serving card is: runs:/RUN_ID/serving.json
REGISTERED = "modeldev.registered"  # a run's tag: NAME/VERSION of its latest registration
