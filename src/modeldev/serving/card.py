"""The serving card, `serving.json`: what a registered model takes and gives, the command that
serves it, and what serving it costs, measured on this machine.

The figures come from `tracking.probe`, run in a fresh Python process on the model's files
(fetched and signature-checked first): cold load, first prediction, p50/p95 latency of
`pyfunc.predict` at batch 1 and 1,024, peak resident memory; plus the size of the model's
files. A measurement that fails leaves its one sentence in `measured.error`; the rest of the
card stands.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from modeldev.config import redact_uri
from modeldev.evaluation.latency import BATCHES
from modeldev.tracking.models import folder_columns
from modeldev.tracking.records import VersionRecord
from modeldev.tracking.registry import CHAMPION
from modeldev.tracking.support import folder_bytes

CARD_FILE = "serving.json"
SERVE = "mlflow models serve -m {uri} --env-manager local"
PROBE_TIMEOUT_S = 600


def measure(folder: Path, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The probe's figures for the model in `folder`, from a fresh process (`error`: why
    there are none)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "modeldev.tracking.probe", str(folder)],
                              capture_output=True, text=True, timeout=timeout_s, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"the measurement took longer than {timeout_s:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the measuring process failed (exit {done.returncode}): {tail}"}
    return dict(json.loads(lines[-1]))


def build_card(version: VersionRecord, folder: Path, tracking_uri: str,
               measured: dict[str, Any]) -> dict[str, Any]:
    """The card of a registered version whose files are in `folder`, with `measure`'s figures."""
    facts = dict(measured.get("facts") or {})
    uri = f"models:/{version.name}@{CHAMPION}"
    return {
        "model": {"registered_model": version.name, "version": version.version, "uri": uri,
                  "version_uri": version.uri, "logged_model": f"models:/{version.model_id}",
                  "source_run_id": version.run_id, **facts, "decision": dict(version.tags)},
        "input_schema": [{"name": c.name, "type": c.type, "required": c.required}
                         for c in folder_columns(folder)],
        "output": output_text(facts),
        "serve": {"command": SERVE.format(uri=uri),
                  "environment": {"MLFLOW_TRACKING_URI": redact_uri(tracking_uri)},
                  "request": _request_example(folder),
                  "probabilities": 'add "params": {"output": "probability"} to the request'},
        "measured": _figures(measured, folder),
    }


def output_text(facts: dict[str, Any]) -> dict[str, Any]:
    """What the model answers, by default and when asked for probabilities."""
    if facts.get("task") == "regression":
        return {"default": "one number per row: the predicted value"}
    classes = facts.get("classes") or []
    default = f"one label per row, one of {classes}"
    if facts.get("task") == "binary":
        default += (f"; {classes[-1] if classes else 'the positive class'} where its "
                    f"probability is above the decision threshold "
                    f"{facts.get('decision_threshold')}")
    return {"default": default,
            "probability": f"one column per class ({', '.join(map(str, classes))}), each "
                           "row's probabilities summing to 1"}


def _request_example(folder: Path) -> Any:
    """The REST body MLflow saved with the model, cut to its first row."""
    try:
        body = json.loads((folder / "serving_input_example.json").read_text())
        body["dataframe_split"]["data"] = body["dataframe_split"]["data"][:1]
        return body
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _figures(measured: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The measured figures in the card's shape, with where and when they were measured."""
    out: dict[str, Any] = {"model_size_mib": folder_bytes(folder) / 2**20}
    if "error" in measured:
        out["error"] = measured["error"]
    else:
        out.update({k: measured[k] for k in ("cold_load_seconds", "first_prediction_seconds",
                                             "peak_memory_mib", "memory_before_load_mib",
                                             "memory_after_load_mib")})
        out["latency_ms"] = {f"batch_{b}": {q: measured[f"latency_{q}_ms_batch{b}"]
                                            for q in ("p50", "p95")} for b in BATCHES}
    out["machine"] = {"host": socket.gethostname(), "cpus": os.cpu_count(),
                      "python": platform.python_version(), "platform": platform.platform()}
    out["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return out
