"""The real app in a real browser: start `streamlit run app.py` on a free port, launch Debian's
Chromium through Playwright, and wait for Streamlit's script runs to settle.

Shared by tests/test_browser.py and benchmarks/pages.py (not a test module itself).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
WAIT_MS = 120_000  # generous: the machine may be shared, and a first page load imports a lot
START_TIMEOUT_S = 120.0
_ENV_DROPPED = ("MLFLOW_TRACKING_URI", "MODELDEV_ARTIFACTS_DIR", "MODELDEV_CONTEXT_PATH")

_SCRIPT_FINISHED = "script_finished"
_IDLE = """() => document.querySelector('[data-test-script-state]')
  ?.getAttribute('data-test-script-state') === 'notRunning'"""


def chromium_path() -> str | None:
    """Debian's Chromium (MODELDEV_CHROMIUM overrides), or None when it is not installed."""
    found = os.environ.get("MODELDEV_CHROMIUM") or shutil.which("chromium")
    return found if found and os.access(found, os.X_OK) else None


def expect(locator: Any) -> Any:
    """Playwright's expect (imported late, as the rest of Playwright here)."""
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """A running `streamlit run app.py`: its URL, process and log file."""

    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_app(workspace: Path, log: Path, env: dict[str, str] | None = None,
                script: str = "app.py") -> Iterator[AppServer]:
    """Start the app (or another `script`, as benchmarks/pages.py's bare page) from the repo root
    (Streamlit reads .streamlit/config.toml from the cwd) with MODELDEV_WORKSPACE=`workspace`;
    stop its whole process group at the end."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
    full_env.update({"MODELDEV_WORKSPACE": str(workspace), "TF_CPP_MIN_LOG_LEVEL": "2",
                     **(env or {})})
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
           "--server.headless", "true"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = AppServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(server.url):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n"
                                   f"{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer /_stcore/health within "
                                   f"{START_TIMEOUT_S:.0f} s:\n{server.log_tail()}")
            time.sleep(0.3)
        yield server
    finally:
        stop_group(proc)


@contextlib.contextmanager
def app_with_jobs(workspace: Path, log: Path, env: dict[str, str] | None = None
                  ) -> Iterator[AppServer]:
    """`running_app`; any job still running in the workspace at the end (each job has its own
    session, so stopping the app leaves it) is cancelled."""
    try:
        with running_app(workspace, log, env) as server:
            yield server
    finally:
        from modeldev.config import resolve_settings
        from modeldev.jobs import store as jobs

        settings = resolve_settings(workspace)
        for job in jobs.list_jobs(settings):
            if job["state"] in jobs.ACTIVE_STATES:
                jobs.cancel(settings, job["job_id"])


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium (a test fails at once where it is not installed)."""
    import pytest
    from playwright.sync_api import sync_playwright

    if chromium_path() is None:
        pytest.fail("Chromium is not installed: run scripts/install_system_packages.sh")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


def stop_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM the process group `proc` leads, then SIGKILL what is left after `grace_s`."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):  # anything else left in the group
        os.killpg(proc.pid, signal.SIGKILL)


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium from the system (Playwright cannot download browsers here)."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed; run scripts/install_system_packages.sh "
                           "(or set MODELDEV_CHROMIUM to its path).")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def new_context(browser: Any, width: int = 1280, height: int = 800, scale: float = 1.0) -> Any:
    """A browser context (its own cookies and HTTP cache) whose pages count Streamlit's script
    runs (see `settled`)."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=scale, accept_downloads=True)
    context.on("page", _count_runs)
    # Actions and assertions alike wait up to WAIT_MS. Streamlit loads most elements' code
    # (buttons, tables, page links) as chunks after a reload, so on a busy host a page's text
    # can show seconds before its widgets: Playwright's 5 s for assertions failed CI once.
    context.set_default_timeout(WAIT_MS)
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=WAIT_MS)
    return context


# Script runs that ended, per page: the server's `script_finished` messages on the page's
# websocket (fragment runs included), read from the frames themselves. A DOM signal (the app
# root's script-state attribute) misses runs that start and end between two React commits.
_RUNS: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()


def _count_runs(page: Any) -> None:
    counter = _RUNS.setdefault(page, [0])

    def on_frame(payload: bytes | str) -> None:
        if isinstance(payload, bytes) and _is_script_finished(payload):
            counter[0] += 1

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))


def _is_script_finished(payload: bytes) -> bool:
    msg = ForwardMsg()
    try:
        msg.ParseFromString(payload)
    except DecodeError:
        return False
    return msg.WhichOneof("type") == _SCRIPT_FINISHED


def new_page(browser: Any, width: int = 1280, height: int = 800, scale: float = 1.0) -> Any:
    """A page in a fresh context (see `new_context`)."""
    return new_context(browser, width, height, scale).new_page()


def counted(page: Any) -> bool:
    """Whether `page`'s script runs are counted (a page of `new_context`)."""
    return page in _RUNS


def runs_ended(page: Any) -> int:
    """Script runs of `page` that have ended so far (pages of `new_context` only)."""
    return _RUNS[page][0]


def wait_runs_ended(page: Any, more_than: int, timeout: float = WAIT_MS) -> None:
    """Wait until more than `more_than` script runs of `page` have ended."""
    deadline = time.monotonic() + timeout / 1000
    while runs_ended(page) <= more_than:
        if time.monotonic() > deadline:
            raise TimeoutError(f"No script run ended within {timeout / 1000:.0f} s.")
        page.wait_for_timeout(20)  # Playwright delivers the websocket events meanwhile


def wait_idle(page: Any, timeout: float = WAIT_MS) -> None:
    """Wait until no script run is in progress."""
    page.wait_for_function(_IDLE, timeout=timeout)


def settled(page: Any, action: Callable[[], Any], timeout: float = WAIT_MS) -> None:
    """Do `action` (a widget change) and wait until a script run has ended after it and none
    is running: the server has then seen the change. A page link sends only the sidebar's
    widget values, so a change whose run had not started yet would be lost on navigation."""
    before = runs_ended(page)
    action()
    wait_runs_ended(page, before, timeout)
    wait_idle(page, timeout)
