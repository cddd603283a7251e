"""Every session-state and widget key of the app, in one place, and the browser-session owner id.

Keys are stable on purpose: AppTest and the browser tests find widgets by them. Widget values
that must survive a page switch are listed in PERSISTENT; `keep_widget_state` re-assigns them at
the top of every run so Streamlit does not clean them up when their page is not shown.
"""

from __future__ import annotations

import re
import uuid

import streamlit as st

# Pages (paths relative to app.py; st.switch_page and st.page_link take them).
PAGE_DATA = "pages/data.py"
PAGE_TRAINING = "pages/training.py"
PAGE_COMPARISON = "pages/comparison.py"
PAGE_TUNING = "pages/tuning.py"
PAGE_RUNS = "pages/runs.py"
PAGE_ARTIFACTS = "pages/artifacts.py"
PAGE_PREDICT = "pages/predict.py"

# Identity and cross-page selections.
OWNER = "owner"
OWNER_PARAM = "owner"  # the URL query parameter that keeps the owner across reloads
SIDEBAR_EXPERIMENT = "sidebar_experiment"
PENDING_EXPERIMENT = "pending_experiment"  # applied before the sidebar widget is drawn
PHASE1_RUN = "phase1_run_id"
TUNE_PARENT = "tune_parent_id"
SWEPT = "jobs_swept"
SEEN_RESULTS = "seen_job_results"
EVENTS_CACHE = "job_events"

# Data and setup page.
SRC_KIND = "data_source_kind"
SRC_DEMO = "data_demo"
SRC_UPLOAD = "data_upload"
SRC_PATH = "data_path"
SRC_CONTEXT = "data_context"
TARGET = "data_target"
TASK = "data_task"
METRIC = "data_metric"
SEED = "data_seed"
DEVICE = "data_device"
CV = "data_cv"
REPEATS = "data_repeats"
THRESHOLD = "data_threshold"
CALIBRATION = "data_calibration"
CLASS_WEIGHT = "data_class_weight"
FRAMEWORK_TIMEOUT = "data_framework_timeout"
EXPERIMENT_NAME = "data_experiment"
FRAMEWORK_PREFIX = "data_fw_"
UPLOADED_PATH = "data_uploaded_path"  # where the last upload was saved (not a widget)
UPLOAD_SAVED = "data_upload_saved"  # {file_id, path} of the last upload: hashed once

# Training page.
TRAIN_START = "train_start"
TRAIN_CANCEL = "train_cancel"
TRAIN_RESUME_PICK = "train_resume_pick"
TRAIN_RESUME = "train_resume"

# Comparison page.
SESSION_PICK = "session_pick"
CMP_MODEL = "cmp_model"
CMP_DETAIL_VIEW = "cmp_detail_view"  # the open tab of the model detail
TRUSTED_MODELS = "trusted_models"  # run ids whose unsigned model the analyst chose to load
TRUST_PREFIX = "cmp_trust_"  # the button that loads one

# Tuning page.
TUNE_FRAMEWORK = "tune_framework"
TUNE_WORKERS = "tune_workers"
TUNE_START = "tune_start"
TUNE_CANCEL = "tune_cancel"
TUNE_PARENT_PICK = "tune_parent_pick"
TUNE_RESET = "tune_reset_grid"
TUNE_TIMEOUT = "tune_trial_timeout"
TUNE_RESUME_PICK = "tune_resume_pick"
TUNE_RESUME = "tune_resume"

TUNE_REGISTER = "tune_register"

# Predict page.
PREDICT_MODEL = "predict_model"  # the model URI chosen (a Register click sets it too)
PREDICT_SOURCE = "predict_source"
PREDICT_UPLOAD = "predict_upload"
PREDICT_PATH = "predict_path"
PREDICT_PROBA = "predict_proba"
PREDICT_RUN = "predict_run"
PREDICT_SAVED = "predict_upload_saved"  # {file_id, path} of the last upload (not a widget)
PREDICT_DONE = "predict_done"  # the last result: its URL and summary (not a widget)
PREDICT_TRUST = "predict_trust_"  # the button that loads an unsigned model on a trusted server

# Runs page.
RUNS_PICK = "runs_pick"
RUNS_OPEN_COMPARISON = "runs_open_comparison"
RUNS_OPEN_TUNING = "runs_open_tuning"

# Artifacts page.
ART_FOLDER = "art_folder"
ART_BUNDLE = "art_bundle"
ART_BUNDLE_SESSION = "art_bundle_session"
ART_READY = "art_bundles_ready"  # (button, file name) -> URL of a bundle built on disk

SOURCE_KINDS = ("demo", "upload", "path", "context")
SOURCE_LABELS = {"demo": "Built-in demo", "upload": "Upload a file",
                 "path": "File on the server", "context": "pipeline_context.json"}
PERSISTENT = (SRC_KIND, SRC_DEMO, SRC_PATH, SRC_CONTEXT, TARGET, TASK, METRIC, SEED, DEVICE,
              CV, REPEATS, THRESHOLD, CLASS_WEIGHT, CALIBRATION, FRAMEWORK_TIMEOUT,
              EXPERIMENT_NAME, TUNE_FRAMEWORK, TUNE_WORKERS, TUNE_TIMEOUT)
CV_CHOICES = ("auto", "3", "5", "10", "0")
CV_LABELS = {"auto": "auto: 5 folds up to 50,000 rows, one holdout split above",
             "3": "3-fold cross-validation", "5": "5-fold cross-validation",
             "10": "10-fold cross-validation", "0": "one holdout split (60/20/20)"}
THRESHOLD_CHOICES = ("auto", "tuned", "0.5")
THRESHOLD_LABELS = {"auto": "auto: tuned when the minority class is under 30 %",
                    "tuned": "tuned per model, out of fold", "0.5": "fixed at 0.5"}
REPEAT_CHOICES = ("auto", "1", "2", "3", "5", "10")
REPEAT_LABELS = {"auto": "auto: 2 with folds", **{r: f"{r} x the folds" for r in
                                                  ("1", "2", "3", "5", "10")}}
_OWNER_RE = re.compile(r"^[0-9a-f]{12,32}$")


def grid_key(framework: str, param: str) -> str:
    """Widget key of one parameter's values in the tuning grid editor."""
    return f"tune_grid__{framework}__{param}"


def framework_key(name: str) -> str:
    """Widget key of one framework's checkbox on the Data page."""
    return FRAMEWORK_PREFIX + name


def keep_widget_state() -> None:
    """Re-assign persistent widget values so they survive pages that do not draw them."""
    for key in list(st.session_state.keys()):
        name = str(key)
        if name in PERSISTENT or name.startswith((FRAMEWORK_PREFIX, "tune_grid__")):
            st.session_state[name] = st.session_state[name]


def login_name(header: str = "") -> str | None:
    """Who is logged in: Streamlit's own login (`st.user`), else the name an authenticating
    proxy puts in `header` (MODELDEV_USER_HEADER); None where there is no login."""
    if st.user.get("is_logged_in"):
        name = st.user.get("email") or st.user.get("sub") or st.user.get("name")
        return str(name) if name else None
    value = st.context.headers.get(header) if header else None
    return value.strip()[:200] if value and value.strip() else None


def owner_id(header: str = "") -> str:
    """Who owns this session's jobs: the logged-in user where there is a login (every tab of
    theirs is one owner), else this browser session's id: from session state, else the URL,
    else a new one, mirrored into the URL so a reload finds its jobs again."""
    user = login_name(header)
    if user:
        if OWNER_PARAM in st.query_params:  # a session id in the URL means nothing here
            del st.query_params[OWNER_PARAM]
        st.session_state[OWNER] = f"user:{user}"
        return st.session_state[OWNER]
    owner = st.session_state.get(OWNER)
    if not owner or not _OWNER_RE.match(owner):
        from_url = st.query_params.get(OWNER_PARAM, "")
        owner = from_url if _OWNER_RE.match(from_url or "") else uuid.uuid4().hex[:16]
        st.session_state[OWNER] = owner
    if st.query_params.get(OWNER_PARAM) != owner:
        st.query_params[OWNER_PARAM] = owner
    return owner


def select_experiment(experiment_id: str | None) -> None:
    """Ask the sidebar to show `experiment_id` from the next run on."""
    if experiment_id:
        st.session_state[PENDING_EXPERIMENT] = str(experiment_id)
