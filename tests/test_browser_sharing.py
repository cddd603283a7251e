"""The real app, shared: `streamlit run app.py` and headless Chromium, several browser sessions.

An authenticating proxy's user header makes the user the owner of a job in every tab of theirs
(and only theirs); a file that lies about its size, typed as a server path, is refused by the
child that parses it while another session goes on being served and the app lives on.
"""

from __future__ import annotations

import re
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from browser_support import (
    WAIT_MS,
    app_with_jobs,
    chromium,
    expect,
    new_context,
    settled,
    wait_idle,
)

from modeldev.config import resolve_settings
from modeldev.jobs import store as jobs

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HEADER = "X-Test-User"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("sharing") / "ws"
    (ws / "data").mkdir(parents=True)
    big = pa.array(["x" * (1 << 20)])  # 1 MiB of text behind a 2,000-row dictionary page
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(2000, dtype="int32")), big)
    pq.write_table(pa.table({"text": column, "y": np.arange(2000) % 2}),
                   ws / "data" / "liar.parquet", compression="zstd", store_schema=False)
    return ws


@pytest.fixture(scope="module")
def app(workspace, tmp_path_factory):
    log = tmp_path_factory.mktemp("sharing_app") / "streamlit.log"
    env = {"MODELDEV_USER_HEADER": HEADER, "MODELDEV_MAX_DECODED_MB": "64"}
    with app_with_jobs(workspace, log, env) as server:
        yield server


@pytest.fixture(scope="module")
def browser(app):
    with chromium() as found:
        yield found


def _page(browser, user: str | None = None):
    context = new_context(browser)
    if user:
        context.set_extra_http_headers({HEADER: user})
    return context.new_page()


def test_the_proxy_user_owns_the_job_in_every_tab_of_theirs(app, browser, workspace):
    first, second, other = _page(browser, "ana"), _page(browser, "ana"), _page(browser, "bo")
    first.goto(app.url + "/training")
    start = first.get_by_role("button", name="Start training", exact=True)
    expect(start).to_be_enabled(timeout=WAIT_MS)
    wait_idle(first)
    settled(first, start.click)
    job = jobs.list_jobs(resolve_settings(workspace))[0]
    assert job["owner"] == "user:ana"
    try:
        second.goto(app.url + "/training")  # a new tab: a new browser session, the same user
        expect(second.get_by_text(re.compile(rf"^Job {job['job_id']} · "))).to_be_visible(
            timeout=WAIT_MS)
        other.goto(app.url + "/training")
        expect(other.get_by_text("No training job in this browser session yet.")).to_be_visible(
            timeout=WAIT_MS)
    finally:
        jobs.cancel(resolve_settings(workspace), job["job_id"])


def test_a_lying_file_kills_its_parse_not_the_app(app, browser, workspace):
    victim, bystander = _page(browser), _page(browser)
    victim.goto(app.url + "/")  # the default page: Data and setup
    wait_idle(victim)
    settled(victim, victim.get_by_text("File on the server", exact=True).click)
    field = victim.get_by_role("textbox", name="Path of a CSV or Parquet file on the server")

    def submit() -> None:
        field.fill(str(workspace / "data" / "liar.parquet"))
        field.press("Enter")

    submit()
    bystander.goto(app.url + "/")  # served while the victim's parse runs and dies
    expect(bystander.get_by_text("Task in use: binary")).to_be_visible(timeout=WAIT_MS)
    expect(victim.get_by_text(re.compile("decoded, it needs more than the 64 MiB"))).to_be_visible(
        timeout=WAIT_MS)
    assert app.process.poll() is None
    with urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=10) as answer:
        assert answer.status == 200
