"""Files made to hurt the app, read for real (docs/team.md, "What a browser user can do").

Each attack of issue 19 on loading: a decoded size far over its footer caps, a file whose pandas
metadata hides columns, nested columns, an endless CSV header, a file that lies about its size
(parsed in a real memory-limited child process), and context files that are devices, named
pipes or too large. The refusals are one sentence; peak memory is read from /proc in a fresh
interpreter (the app's side), never a wall-clock time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeldev.config import Limits
from modeldev.data.loading import dataset_hash, load_context, load_table
from modeldev.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
# A fresh interpreter as "the app": its own peak RSS (VmHWM) before and after one load.
PROBE = """
import json, re, sys
from modeldev.config import Limits
from modeldev.data.loading import load_table
from modeldev.errors import InputError
import pyarrow.parquet, pandas  # the imports the app has made long before
def peak():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
base, message = peak(), None
try:
    load_table(sys.argv[1], Limits(max_decoded_mb=int(sys.argv[2]), isolate=True))
except InputError as exc:
    message = str(exc)
print(json.dumps({"message": message, "grew_mib": (peak() - base) / 1024}))
"""


def _probe(path: Path, budget_mb: int) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(budget_mb)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_rows_times_columns_times_bytes_is_capped_from_the_footer(tmp_path):
    """The bomb, scaled down: rows and columns each pass their cap, their product does not."""
    zeros = pa.array(np.zeros(4000))
    pq.write_table(pa.table({f"c{i}": zeros for i in range(100)}), tmp_path / "bomb.parquet",
                   compression="zstd")
    limits = Limits(max_rows=4000, max_columns=100, max_decoded_mb=2)
    with pytest.raises(InputError) as err:
        load_table(tmp_path / "bomb.parquet", limits)
    assert str(err.value) == ("Too large: bomb.parquet would take about 3 MiB in memory (4,000 "
                              "rows x 100 columns), the limit is 2 MiB (MODELDEV_MAX_DECODED_MB).")
    assert load_table(tmp_path / "bomb.parquet", Limits(max_decoded_mb=4)).frame.shape == \
        (4000, 100)


def test_columns_the_pandas_metadata_calls_an_index_are_counted(tmp_path):
    """A file that lists 49 of its 50 columns as index columns is still 50 columns wide."""
    table = pa.table({f"c{i}": pa.array(np.zeros(10)) for i in range(50)})
    lie = {"index_columns": [f"c{i}" for i in range(49)], "columns": [],
           "column_indexes": [], "pandas_version": "3.0.0"}
    table = table.replace_schema_metadata({b"pandas": json.dumps(lie).encode()})
    pq.write_table(table, tmp_path / "liar.parquet")
    with pytest.raises(InputError) as err:
        load_table(tmp_path / "liar.parquet", Limits(max_columns=10))
    assert str(err.value) == "Too many columns: liar.parquet has 50 columns, the limit is 10."


@pytest.mark.parametrize("column", [pa.array([[1, 2], [3]]),
                                    pa.array([{"a": 1, "b": 2}, {"a": 3, "b": 4}]),
                                    pa.array([[("k", 1)], [("k", 2)]],
                                             type=pa.map_(pa.string(), pa.int64()))],
                         ids=["list", "struct", "map"])
def test_nested_columns_are_refused_before_reading(tmp_path, column):
    pq.write_table(pa.table({"nested": column, "y": [0, 1]}), tmp_path / "nested.parquet")
    with pytest.raises(InputError, match=r"^Could not use nested.parquet: column nested\S* "
                                         r"holds nested values"):
        load_table(tmp_path / "nested.parquet", Limits())


def test_a_footer_longer_than_the_column_cap_needs_is_refused_unparsed(tmp_path):
    table = pa.table({"x": [1.0, 2.0]}).replace_schema_metadata({b"pad": b"p" * (3 << 20)})
    pq.write_table(table, tmp_path / "padded.parquet")
    with pytest.raises(InputError, match=r"^Too many columns: the metadata of padded.parquet "
                                         r"takes \d+\.\d MiB, more than 2 columns need "
                                         r"\(1 MiB\)\.$"):
        load_table(tmp_path / "padded.parquet", Limits(max_columns=2))


def test_an_endless_csv_header_is_refused_after_a_bounded_read(tmp_path):
    """A 37 MiB header line (one column name): refused from its first MiB; the probe's peak
    memory shows it was never read whole."""
    path = tmp_path / "header.csv"
    with path.open("w") as fh:
        fh.write("a" * (37 << 20) + "\n1\n")
    probe = _probe(path, 2048)
    assert probe["message"] == ("Too many columns: the header line of header.csv is longer "
                                "than 1 MiB, more than 2,000 columns need.")
    assert probe["grew_mib"] < 32, probe


def _lying_parquet(path: Path, rows: int = 2000) -> Path:
    """548 bytes on disk, 2 GiB decoded: one 1 MiB text repeated through a dictionary page,
    with no Arrow schema stored (so it decodes to plain text, not a category)."""
    big = pa.array(["x" * (1 << 20)])
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype="int32")), big)
    pq.write_table(pa.table({"text": column, "y": np.arange(rows) % 2}), path,
                   compression="zstd", store_schema=False)
    return path


def test_a_file_that_lies_about_its_size_kills_the_child_not_the_caller(tmp_path):
    path = _lying_parquet(tmp_path / "liar.parquet")
    assert path.stat().st_size < 4096
    probe = _probe(path, 64)
    assert probe["message"] == (f"Could not read {path}: decoded, it needs more than the 64 MiB "
                                "this app allows (MODELDEV_MAX_DECODED_MB), more than its size "
                                "declares.")
    assert probe["grew_mib"] < 50, probe


def test_the_child_returns_the_same_table_and_the_same_refusals(tmp_path):
    frame = pd.DataFrame({"x": [1.5, np.nan, 3.0], "n": [1, 2, 3], "s": ["a", None, "=c"],
                          "y": ["yes", "no", "yes"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        here = load_table(tmp_path / name, Limits()).frame
        there = load_table(tmp_path / name, Limits(isolate=True)).frame
        pd.testing.assert_frame_equal(here, there)
        assert dataset_hash(here) == dataset_hash(there)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1" + os.urandom(64) + b"\x10\x00\x00\x00PAR1")
    refusals = []
    for isolate in (False, True):
        with pytest.raises(InputError) as err:
            load_table(tmp_path / "junk.parquet", Limits(isolate=isolate))
        refusals.append(str(err.value))
    assert refusals[0] == refusals[1] and refusals[0].startswith("Could not read ")


def _context(tmp_path: Path, data_path: str) -> Path:
    ctx = tmp_path / "pipeline_context.json"
    ctx.write_text(json.dumps({"epoch_004_outputs": {"feature_data_path": data_path,
                                                     "target_variable": "y"}}))
    return ctx


def test_a_context_path_that_is_a_device_a_pipe_or_too_large_is_refused(tmp_path):
    with pytest.raises(InputError, match="^Could not read pipeline context /dev/zero: it is not "
                                         "a regular file.$"):
        load_context("/dev/zero")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="it is not a regular file"):
        load_context(tmp_path / "zero.json")
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(_refusal(fifo)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert outcome == [f"Could not read pipeline context {fifo}: it is not a regular file."]
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"pad": "x" * (2 << 20)}))
    with pytest.raises(InputError, match=r"holds 2,097,\d+ bytes, the limit is 1,048,576\.$"):
        load_context(big)


def _refusal(path: Path) -> str:
    try:
        load_context(path)
    except InputError as exc:
        return str(exc)
    return "loaded"


def test_a_feature_file_outside_the_roots_is_refused_like_a_missing_one(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("a,y\n1,0\n2,1\n")
    for named in (str(secret), str(tmp_path / "absent.csv"), "../secret.csv"):
        with pytest.raises(InputError) as err:
            load_context(_context(root, named), roots=[root])
        shown = named if named.startswith("/") else str(root / named)
        assert str(err.value) == (f"{Path(shown)} is outside the folders this app reads data "
                                  "from (MODELDEV_DATA_ROOTS).")
    (root / "features.csv").write_text("a,y\n1,0\n2,1\n")
    assert len(load_context(_context(root, "features.csv"), roots=[root]).frame) == 2
