"""Quotas of a shared workspace, with real files and real job processes: uploads kept under a
quota with age-based clean-up (a folder per full hash, content checked on reuse), a cap on
running jobs and on each job's workers, taken under the submit lock."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from job_support import wait_for_job

from modeldev import uploads
from modeldev.config import Settings
from modeldev.errors import InputError
from modeldev.jobs import store as jobs

MIB = 2**20


def _with(settings: Settings, **access) -> Settings:
    return dataclasses.replace(settings, access=dataclasses.replace(settings.access, **access))


def _upload(settings: Settings, size: int, name: str = "t.csv", fill: bytes = b"a") -> Path:
    data = fill * size
    return uploads.save_upload(data, name, settings, uploads.digest_of(data))


def test_an_upload_is_kept_under_its_full_hash_and_checked_when_reused(settings):
    data = b"a,y\n1,0\n2,1\n"
    path = uploads.save_upload(data, "../../etc/cron.d/x.csv", settings)
    assert path.parent.name == hashlib.sha256(data).hexdigest()
    assert path.parent.parent == settings.workspace / "uploads"
    assert path.name == "etc-cron-d-x.csv"  # the name made safe: no path in it
    path.write_bytes(b"a,y\n9,9\n9,9\n")  # changed behind the app's back, same size
    again = uploads.save_upload(data, "../../etc/cron.d/x.csv", settings)
    assert again == path and again.read_bytes() == data


def test_old_uploads_go_first_and_the_quota_holds(settings):
    capped = _with(settings, upload_quota_mb=3, upload_max_age_days=1.0)
    old = _upload(capped, MIB, "old.csv", b"o")
    os.utime(old.parent, (time.time() - 3 * 86400,) * 2)
    recent = _upload(capped, MIB, "recent.csv", b"r")
    fresh = _upload(capped, MIB, "fresh.csv", b"f")
    assert not old.exists() and recent.exists() and fresh.exists()  # past its age
    newest = _upload(capped, 2 * MIB, "big.csv", b"b")  # no room: the least recent goes
    assert not recent.exists() and newest.exists()
    used = sum(f.stat().st_size for f in (capped.workspace / "uploads").rglob("*.csv"))
    assert used <= 3 * MIB


def test_uploads_a_live_job_reads_stay_and_a_full_quota_is_one_sentence(settings):
    capped = _with(settings, upload_quota_mb=2)
    kept = _upload(capped, 2 * MIB, "kept.csv", b"k")
    with pytest.raises(InputError) as err:
        uploads.save_upload(b"n" * MIB, "new.csv", capped, in_use={kept})
    assert str(err.value) == ("Uploads are full: 2.0 MiB of 2 MiB are held by files that jobs "
                              "are reading now; try again when they end.")
    assert kept.exists()
    with pytest.raises(InputError, match="more than the 2 MiB all uploads may hold"):
        _upload(capped, 3 * MIB)


def test_running_jobs_are_capped_across_owners_and_workers_are_clamped(settings):
    capped = _with(settings, max_jobs=1, max_workers=1)
    spec = jobs.JobSpec("train", {"demo": "breast_cancer", "target": "target", "cv": 0,
                                  "frameworks": ["sklearn_logistic_regression"],
                                  "workers": 256}, owner="aaaaaaaaaaaa")
    first = jobs.submit(spec, capped)
    try:
        other = dataclasses.replace(spec, owner="bbbbbbbbbbbb")
        with pytest.raises(InputError) as err:
            jobs.submit(other, capped)
        assert str(err.value) == ("1 jobs are running on this server, as many as it allows "
                                  "(MODELDEV_MAX_JOBS=1); start this one when one of them ends.")
        written = json.loads((capped.jobs_dir / first / "spec.json").read_text())
        assert written["args"]["workers"] == 1
        assert written["settings"]["access"]["max_workers"] == 1
    finally:
        jobs.cancel(capped, first)
        wait_for_job(capped, first, timeout=300)
    assert len(jobs.list_jobs(capped)) == 1  # the refused job left no folder


def test_the_uploads_of_live_jobs_are_what_store_reports(settings):
    data = settings.workspace / "uploads" / ("0" * 64) / "d.csv"
    data.parent.mkdir(parents=True)
    data.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(60)))
    job = jobs.submit(jobs.JobSpec("train", {"data": str(data), "target": "y", "cv": 0,
                                             "frameworks": ["sklearn_logistic_regression"]}),
                      settings)
    try:
        assert jobs.inputs_in_use(settings) in ({data}, set())  # set() once it has ended
        if jobs.read_status(settings, job)["state"] in jobs.ACTIVE_STATES:
            assert data in jobs.inputs_in_use(settings)
    finally:
        jobs.cancel(settings, job)
        wait_for_job(settings, job, timeout=300)
    assert jobs.inputs_in_use(settings) == set()
