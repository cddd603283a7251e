"""The Data page as a browser user on a shared app sees it (AppTest, real files): paths confined
to the data roots with one sentence whether or not a file exists, context files that are pipes,
"File on the server" turned off, the owner taken from the login, a full upload quota."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modeldev.ui import state as S

APP = str(Path(__file__).resolve().parents[1] / "app.py")
_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_ARTIFACTS_DIR", "MODELDEV_CONTEXT_PATH",
        "MODELDEV_DATA_ROOTS", "MODELDEV_SERVER_FILES", "MODELDEV_USER_HEADER")


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELDEV_WORKSPACE", str(tmp_path / "ws"))
    (tmp_path / "ws" / "data").mkdir(parents=True)
    return tmp_path / "ws"


def _page(state: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    if user is not None:
        at.user = user
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(S.PAGE_DATA).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _errors(at: AppTest) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]


def test_a_path_outside_the_roots_reads_the_same_whether_it_exists_or_not(ws, tmp_path):
    secret = tmp_path / "secret.csv"
    pd.DataFrame({"password": ["hunter2"] * 30, "y": [0, 1] * 15}).to_csv(secret, index=False)
    (ws / "data" / "link.csv").symlink_to(secret)  # inside by name, outside in fact
    shown = {}
    for name, path in {"exists": secret, "absent": tmp_path / "absent.csv",
                       "link": ws / "data" / "link.csv", "dots": ws / "data/../../secret.csv"
                       }.items():
        at = _page({S.SRC_KIND: "path", S.SRC_PATH: str(path)})
        assert not at.dataframe, f"{name}: a table was shown"
        assert "hunter2" not in str([t.value for t in at.text])
        shown[name] = [e.replace(str(path), "PATH") for e in _errors(at)]
    assert shown["exists"] == shown["absent"] == shown["link"] == shown["dots"] == [
        "PATH is outside the folders this app reads data from (MODELDEV_DATA_ROOTS)."]


def test_a_context_that_is_a_named_pipe_is_refused_without_hanging(ws):
    os.mkfifo(ws / "pipeline_context.json")  # the workspace's own context file, as a pipe
    at = _page({S.SRC_KIND: "context"})
    assert _errors(at) == [f"Could not read pipeline context {ws / 'pipeline_context.json'}: "
                           "it is not a regular file."]
    at = _page({S.SRC_KIND: "context", S.SRC_CONTEXT: "/dev/zero"})
    assert _errors(at) == ["/dev/zero is outside the folders this app reads data from "
                           "(MODELDEV_DATA_ROOTS)."]


def test_file_on_the_server_can_be_turned_off(ws, monkeypatch):
    monkeypatch.setenv("MODELDEV_SERVER_FILES", "0")
    at = _page({S.SRC_KIND: "path", S.SRC_PATH: "/etc/hostname"})
    assert at.radio(key=S.SRC_KIND).options == ["Built-in demo", "Upload a file",
                                                 "pipeline_context.json"]
    assert at.radio(key=S.SRC_KIND).value == "demo" and not at.error
    at.radio(key=S.SRC_KIND).set_value("context").run()
    assert not at.text_input  # the workspace's context file only, never a typed path
    assert any(str(ws / "pipeline_context.json") in t.value for t in at.text)


def test_with_a_login_the_owner_is_the_user_not_the_url(ws):
    user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
    at = AppTest.from_file(APP, default_timeout=90)
    at.user = user
    at.query_params[S.OWNER_PARAM] = "0123456789abcdef"  # someone else's session id
    at.switch_page(S.PAGE_TRAINING).run()
    assert at.session_state[S.OWNER] == "user:ana@example.com"
    assert S.OWNER_PARAM not in at.query_params
    anonymous = _page()
    assert re.fullmatch(r"[0-9a-f]{16}", anonymous.session_state[S.OWNER])


def test_a_full_upload_quota_is_one_sentence_on_the_page(ws, monkeypatch):
    monkeypatch.setenv("MODELDEV_UPLOAD_QUOTA_MB", "1")
    at = _page({S.SRC_KIND: "upload"})
    big = ("a,y\n" + "1,0\n" * 300_000).encode()
    at.get("file_uploader")[0].upload("big.csv", big, "text/csv")
    at.run()
    assert not at.exception
    assert any("more than the 1 MiB all uploads may hold (MODELDEV_UPLOAD_QUOTA_MB)" in e
               for e in _errors(at)), _errors(at)
    assert not (ws / "uploads").exists() or not any((ws / "uploads").rglob("*.csv"))
