"""What the app shows and writes keeps secrets and internals out: a tracking URI's credentials
never reach spec.json, a job's error, its summary or the Runs page (yet the job still uses
them: a real HTTP server on loopback records what the job sends), tracebacks stay in job.log
while the page's log shows one line each, and the Streamlit settings that guard against
cross-site requests are pinned."""

from __future__ import annotations

import base64
import http.server
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from job_support import wait_for_job
from streamlit.testing.v1 import AppTest

from modeldev.config import redact_uri, resolve_settings, scrub_credentials
from modeldev.jobs import files
from modeldev.jobs import store as jobs
from modeldev.ui import state as S

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Pa55"


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers /health, refuses everything else, and remembers each request's auth header."""

    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append((self.path, self.headers.get("Authorization") or ""))
        self.send_response(200 if self.path.endswith("/health") else 500)
        self.end_headers()
        self.wfile.write(b"OK")

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://analyst:{SECRET}@127.0.0.1:{server.server_address[1]}", _Recorder.seen
    finally:
        server.shutdown()


def test_uris_lose_their_credentials_where_shown_or_written():
    assert redact_uri(f"https://ana:{SECRET}@mlflow.internal:5000/x?y=1") == \
        "https://mlflow.internal:5000/x?y=1"
    assert redact_uri("sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"
    assert SECRET not in scrub_credentials(f"API request to http://ana:{SECRET}@h/api failed")


def test_a_job_uses_the_credentials_but_never_writes_or_shows_them(tmp_path, monkeypatch,
                                                                  recorder):
    uri, seen = recorder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the app's environment, which jobs inherit
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings = resolve_settings(tmp_path)
    job = jobs.submit(jobs.JobSpec("train", {"demo": "breast_cancer", "target": "target",
                                             "frameworks": ["sklearn_logistic_regression"]}),
                      settings)
    status = wait_for_job(settings, job, timeout=300)
    folder = settings.jobs_dir / job
    assert status["state"] == "failed"
    assert SECRET not in (folder / "spec.json").read_text()
    assert SECRET not in (folder / "status.json").read_text()
    assert SECRET not in (folder / "events.jsonl").read_text()
    assert "\n" not in status["error"]
    token = base64.b64encode(f"analyst:{SECRET}".encode()).decode()
    api = [auth for path, auth in seen if "/api/" in path]
    assert api and all(auth == f"Basic {token}" for auth in api), seen


def test_tracebacks_stay_in_the_log_and_the_page_shows_one_line(tmp_path):
    (tmp_path / files.LOG).write_text(
        "modeldev: starting\nTraceback (most recent call last):\n  File \"x.py\", line 1, in "
        "<module>\n    boom()\nKeyError: 'secret_column'\n\nDuring handling of the above "
        "exception, another exception occurred:\n\nTraceback (most recent call last):\n  File "
        "\"/srv/app/y.py\", line 2\nValueError: bad value\nmodeldev job: failed\n")
    assert "File \"x.py\"" in files.log_tail(tmp_path, 40)  # the server's log keeps it all
    assert files.log_tail(tmp_path, 40, tracebacks=False).splitlines() == [
        "modeldev: starting", "KeyError: 'secret_column'  [traceback in the server's log]",
        "ValueError: bad value  [traceback in the server's log]", "modeldev job: failed"]


def test_the_runs_page_never_shows_the_credentials(tmp_path, monkeypatch, recorder):
    uri, _ = recorder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MODELDEV_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(S.PAGE_RUNS).run()
    shown = [str(el.value) for kind in ("error", "text", "code", "markdown", "caption")
             for el in at.get(kind)]
    shown += [getattr(el, "proto", None) and el.proto.url for el in at.get("link_button")]
    assert not any(SECRET in str(text) for text in shown), shown


def test_cross_site_protections_are_pinned():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableCORS"] is True
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "type"
