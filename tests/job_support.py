"""Waiting for a real background job in tests."""

from __future__ import annotations

import time
from typing import Any

from modeldev.config import Settings
from modeldev.jobs import store as jobs


def wait_for_job(settings: Settings, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """The job's status once it has ended; fails the test if it runs past `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        status = jobs.read_status(settings, job_id)
        if status["state"] not in jobs.ACTIVE_STATES:
            return status
        if time.time() > deadline:
            raise AssertionError(f"job {job_id} still {status['state']} after {timeout} s")
        time.sleep(0.3)
