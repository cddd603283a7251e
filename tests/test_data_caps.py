"""Row and column caps checked before a table is read (docs/architecture.md, "Reliability").

Parquet: from the footer alone. CSV: the header line and a newline count that stops past the
cap. The 300-million-row refusal runs in a fresh process that reports its own peak RSS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeldev.config import Limits
from modeldev.data.loading import load_context, load_source, load_table
from modeldev.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
BIG_ROWS = 300_000_000
GROUP_ROWS = 50_000_000
# Run in a fresh interpreter: VmHWM is the process's peak RSS, so the baseline is taken after
# the imports and the difference is what the call itself needed at its worst.
PROBE = """
import json, re, sys, time
import pyarrow.parquet as pq
from modeldev.config import Limits
from modeldev.data.loading import load_table
from modeldev.errors import InputError
def peak_kib():
    # VmHWM: this process's own peak RSS. ru_maxrss would start at the forking parent's peak
    # (a pytest worker holding gigabytes), which hides what the call needs.
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
base = peak_kib()
start = time.perf_counter()
message = None
try:
    if sys.argv[2] == "load":
        load_table(sys.argv[1], Limits())
    else:  # two row groups made real: 100 million int8 values written into memory
        pq.ParquetFile(sys.argv[1]).read_row_groups([0, 1]).column("x").fill_null(1)
except InputError as exc:
    message = str(exc)
seconds = time.perf_counter() - start
peak = peak_kib()
print(json.dumps({"message": message, "seconds": seconds, "base_kib": base, "peak_kib": peak}))
"""


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory) -> Path:
    """300 million rows of one all-null int8 column: about 0.5 MB on disk, ~2 s to write."""
    path = tmp_path_factory.mktemp("caps") / "big.parquet"
    start = time.perf_counter()
    group = pa.table({"x": pa.nulls(GROUP_ROWS, pa.int8())})
    with pq.ParquetWriter(path, group.schema, compression="none",
                          write_statistics=False) as writer:
        for _ in range(BIG_ROWS // GROUP_ROWS):
            writer.write_table(group, row_group_size=GROUP_ROWS)
    print(f"\n300M-row Parquet written in {time.perf_counter() - start:.1f} s, "
          f"{path.stat().st_size:,} bytes")
    assert pq.ParquetFile(path).metadata.num_rows == BIG_ROWS
    return path


def _probe(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), mode], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_a_300_million_row_parquet_is_refused_from_its_footer(big_parquet):
    probe = _probe(big_parquet, "load")
    grew_mib = (probe["peak_kib"] - probe["base_kib"]) / 1024
    print(f"refused in {probe['seconds']:.3f} s, peak RSS {probe['peak_kib'] / 1024:.0f} MiB "
          f"(+{grew_mib:.1f} MiB over the baseline after imports)")
    assert probe["message"] == ("Too many rows: big.parquet has 300,000,000 rows, the limit is "
                                "5,000,000.")
    assert probe["seconds"] < 5.0
    assert grew_mib < 32


def test_the_rss_probe_sees_a_full_read(big_parquet):
    """The control: 95 MiB of that file made real shows in the probe (so the bound above can
    fail; an unfilled all-null read is mostly untouched zero pages, which RSS does not count)."""
    probe = _probe(big_parquet, "read")
    assert probe["message"] is None
    assert (probe["peak_kib"] - probe["base_kib"]) / 1024 > 64


def test_parquet_column_cap_from_the_footer_without_the_index(tmp_path):
    frame = pd.DataFrame(np.zeros((30, 5)), columns=list("abcde"))
    frame.index = pd.Index(range(100, 130), name="row_id")  # stored as a column, not counted
    frame.to_parquet(tmp_path / "wide.parquet")
    with pytest.raises(InputError) as err:
        load_table(tmp_path / "wide.parquet", Limits(max_columns=4))
    assert str(err.value) == "Too many columns: wide.parquet has 5 columns, the limit is 4."
    assert load_table(tmp_path / "wide.parquet", Limits(max_columns=5)).frame.shape == (30, 5)


def _rows_csv(path: Path, rows: int, trailing_newline: bool = True) -> Path:
    text = "a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(rows))
    path.write_text(text if trailing_newline else text[:-1])
    return path


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_csv_row_cap_counts_exactly_at_the_edge(tmp_path, trailing_newline):
    path = _rows_csv(tmp_path / "t.csv", 1000, trailing_newline)
    assert len(load_table(path, Limits(max_rows=1000)).frame) == 1000
    with pytest.raises(InputError) as err:
        load_table(path, Limits(max_rows=999))
    assert str(err.value) == "Too many rows: t.csv has more than 999 rows, the limit is 999."


def test_csv_quoted_newlines_are_one_row(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("id,note\n" + "".join(f'{i},"line one\nline two"\n' for i in range(10)))
    assert len(load_table(path, Limits(max_rows=10)).frame) == 10
    with pytest.raises(InputError, match="has more than 9 rows, the limit is 9"):
        load_table(path, Limits(max_rows=9))


def test_a_huge_csv_is_refused_after_a_bounded_scan(tmp_path):
    """8 GiB (sparse: zeros after the first rows) is refused after reading about 1 MiB."""
    path = _rows_csv(tmp_path / "huge.csv", 5000)
    with open(path, "r+b") as fh:
        fh.truncate(8 << 30)
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        load_table(path, Limits(max_rows=1000))
    seconds = time.perf_counter() - start
    assert str(err.value) == "Too many rows: huge.csv has more than 1,000 rows, the limit is 1,000."
    assert seconds < 2.0, seconds


def test_csv_column_cap_reads_the_whole_header(tmp_path):
    """A header longer than the 8 KiB sniffed for binary content still counts every column."""
    names = [f"c{i:04d}" for i in range(3000)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(names) + "\n" + ",".join("1" * 3000) + "\n")
    assert len(path.read_bytes().split(b"\n")[0]) > 8192
    with pytest.raises(InputError) as err:
        load_table(path, Limits(max_columns=2000))
    assert str(err.value) == "Too many columns: wide.csv has 3,000 columns, the limit is 2,000."


def test_the_caps_reach_files_named_by_a_source_or_a_context(tmp_path):
    data = _rows_csv(tmp_path / "features.csv", 50)
    with pytest.raises(InputError, match="features.csv has more than 40 rows"):
        load_source(data=str(data), target="b", limits=Limits(max_rows=40))
    ctx = tmp_path / "pipeline_context.json"
    ctx.write_text(json.dumps({"epoch_004_outputs": {"feature_data_path": "features.csv",
                                                     "target_variable": "b"}}))
    with pytest.raises(InputError, match="features.csv has more than 40 rows"):
        load_context(ctx, Limits(max_rows=40))
    assert len(load_context(ctx, Limits(max_rows=50)).frame) == 50


def test_the_cli_refuses_before_loading_with_its_env_cap(tmp_path):
    """`modeldev train` reads MODELDEV_MAX_ROWS (config.py) and refuses with exit code 2."""
    data = _rows_csv(tmp_path / "features.csv", 50)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELDEV_", "MLFLOW_"))}
    out = subprocess.run([sys.executable, "-m", "modeldev.cli", "train", "--data", str(data),
                          "--target", "b", "--workspace", str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**env, "MODELDEV_MAX_ROWS": "40"})
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "modeldev: error: Too many rows: features.csv has more than 40 rows, the limit is 40.")


def test_a_job_refuses_with_the_caps_of_its_settings(settings, tmp_path):
    from modeldev.jobs.store import JobSpec, read_status, submit

    data = _rows_csv(tmp_path / "features.csv", 50)
    capped = dataclasses.replace(settings, limits=Limits(max_rows=40))
    job_id = submit(JobSpec("train", {"data": str(data), "target": "b"}), capped)
    give_up = time.monotonic() + 300
    while read_status(capped, job_id)["state"] in ("queued", "running"):
        assert time.monotonic() < give_up, "the job did not end"
        time.sleep(0.2)
    status = read_status(capped, job_id)
    assert (status["state"], status["error"]) == (
        "failed", "Too many rows: features.csv has more than 40 rows, the limit is 40.")
