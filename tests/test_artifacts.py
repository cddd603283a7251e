"""Run folders, atomic JSON, formula-safe CSV, and zip bundles that never leave their folder."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldev.artifacts import build_bundle, list_files, new_run_dir, write_csv, write_json
from modeldev.errors import InputError


def test_new_run_dir_is_unique_sorted_and_stays_under_root(tmp_path):
    made = [new_run_dir(tmp_path, "training", "breast cancer/../../x") for _ in range(25)]
    assert len(set(made)) == 25 and all(p.is_dir() for p in made)
    for path in made:
        assert path.parent == tmp_path / "training"
        assert re.fullmatch(r"\d{8}T\d{12}Z_breast-cancer-x_[0-9a-f]{6}", path.name), path.name
    assert new_run_dir(tmp_path, "../tuning", "").parent == tmp_path / "tuning"


def _strict_load(path: Path):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_write_json_converts_nan_numpy_and_paths(tmp_path):
    obj = {
        "nan": float("nan"), "inf": float("-inf"), "f32": np.float32(0.5),
        "i64": np.int64(7), "flag": np.bool_(True), "arr": np.array([[1.0, np.nan]]),
        "path": tmp_path / "m.pkl", "nested": [{"x": np.float64("inf")}], np.int64(3): "key",
    }
    path = write_json(tmp_path / "sub" / "all_models_metrics.json", obj)
    assert _strict_load(path) == {
        "nan": None, "inf": None, "f32": 0.5, "i64": 7, "flag": True, "arr": [[1.0, None]],
        "path": str(tmp_path / "m.pkl"), "nested": [{"x": None}], "3": "key",
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_write_json_failure_leaves_the_previous_file_intact(tmp_path):
    path = write_json(tmp_path / "info.json", {"ok": 1})
    with pytest.raises(TypeError, match="object"):
        write_json(path, {"bad": object()})
    assert _strict_load(path) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["info.json"]


def test_write_csv_escapes_formula_like_text_and_keeps_numbers(tmp_path):
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "@x", "<script>alert(1)</script>",
            "-1+cmd|' /C calc'!A0", "\tTAB", "-1", "plain"]
    frame = pd.DataFrame({
        "text": evil, "score": [-1.5, 0.0, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0],
        "=cmd": range(8), "cat": pd.Categorical(["=a", "b"] * 4),
    })
    path = write_csv(tmp_path / "model_comparison_summary.csv", frame)
    with open(path, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["text", "score", "'=cmd", "cat"]
    assert [r[0] for r in rows] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'@x", "<script>alert(1)</script>",
        "'-1+cmd|' /C calc'!A0", "'\tTAB", "-1", "plain",
    ]
    assert [r[1] for r in rows][:2] == ["-1.5", "0.0"]
    assert [r[2] for r in rows] == [str(i) for i in range(8)]
    assert [r[3] for r in rows][:2] == ["'=a", "b"]
    assert frame["text"][0].startswith("=")  # the caller's frame is not modified


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "best_model_info.json").write_text('{"a": 1}')
    (run / "sub" / "chart.png").write_bytes(b"\x89PNG" + b"0" * 100)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("password")
    (run / "leak.txt").symlink_to(outside / "secret.txt")
    (run / "leakdir").symlink_to(outside, target_is_directory=True)
    (run / "inner_link.json").symlink_to(run / "best_model_info.json")
    return run, outside


def test_list_files_skips_every_symlink(tmp_path):
    run, _ = _tree(tmp_path)
    assert [p.relative_to(run.resolve()).as_posix() for p in list_files(run)] == [
        "best_model_info.json", "sub/chart.png",
    ]


def test_bundle_contains_only_regular_files_inside(tmp_path):
    run, _ = _tree(tmp_path)
    dest = build_bundle(run, tmp_path / "out" / "bundle.zip", max_bytes=10_000)
    with zipfile.ZipFile(dest) as zf:
        assert sorted(zf.namelist()) == ["best_model_info.json", "sub/chart.png"]
        assert zf.read("best_model_info.json") == b'{"a": 1}'
        assert zf.testzip() is None
        assert all(b"password" not in zf.read(n) for n in zf.namelist())


def test_bundle_inside_its_folder_and_include_filter(tmp_path):
    run, _ = _tree(tmp_path)
    build_bundle(run, run / "bundle.zip", max_bytes=10_000)
    dest = build_bundle(run, run / "bundle.zip", max_bytes=10_000,
                        include=lambda rel: rel.suffix == ".json")
    with zipfile.ZipFile(dest) as zf:
        assert zf.namelist() == ["best_model_info.json"]


def test_bundle_over_the_cap_is_refused_with_size_and_cap(tmp_path):
    run, _ = _tree(tmp_path)
    (run / "big.bin").write_bytes(b"x" * 5000)
    dest = tmp_path / "bundle.zip"
    with pytest.raises(InputError) as err:
        build_bundle(run, dest, max_bytes=4096)
    message = str(err.value)
    assert "5112 bytes" in message and "4096 bytes" in message
    assert not dest.exists() and not list(tmp_path.glob(".bundle.zip*"))
