"""Bad data gets one clear sentence before any framework runs (docs/architecture.md)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modeldev.config import Limits
from modeldev.data.loading import (
    dataset_hash,
    load_context,
    load_demo,
    load_table,
    reload_source,
    source_files,
)
from modeldev.data.split import make_split
from modeldev.data.validation import infer_task, prepare
from modeldev.errors import InputError


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 5, n).astype(float),
                         "colour": rng.choice(["red", "green", "blue"], n),
                         "y": np.tile(["no", "yes"], n // 2)})


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(InputError, match="Could not read .*empty"):
        load_table(p)


def test_header_only(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("a,b,y\n")
    with pytest.raises(InputError, match="header but no rows"):
        load_table(p)


def test_binary_bytes_named_csv(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="not a text CSV"):
        load_table(p)


def test_unreadable_parquet(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="Could not read"):
        load_table(p)


def test_csv_and_parquet_round_trip(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    a, b = load_table(tmp_path / "d.csv").frame, load_table(tmp_path / "d.parquet").frame
    assert a.shape == b.shape == df.shape
    assert dataset_hash(a) == dataset_hash(df)


def test_missing_target_names_columns():
    with pytest.raises(InputError, match="Target column 'yy' not found.*x1, x2, colour, y"):
        prepare(_frame(), "yy")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_target_with_nan_or_inf_counts_and_names_first(bad):
    df = _frame()
    df["y"] = np.arange(len(df), dtype=float)
    df.loc[[7, 9], "y"] = bad
    expected = r"2 rows with missing or infinite values \(first at row 7\)"
    with pytest.raises(InputError, match=expected):
        prepare(df, "y")


def test_single_class_refused():
    df = _frame()
    df["y"] = "yes"
    with pytest.raises(InputError, match="single value"):
        prepare(df, "y")


def test_class_too_small_for_split_named():
    df = _frame()
    df.loc[0:1, "y"] = "rare"
    with pytest.raises(InputError, match="Class 'rare' .* only 2 rows"):
        prepare(df, "y")


def test_extreme_imbalance_warns_and_stratifies():
    df = _frame(n=400)
    df["y"] = "common"
    df.loc[:9, "y"] = "rare"
    data = prepare(df, "y")
    assert any("only 2.5%" in n for n in data.notices)
    split = make_split(data)  # 8 rare rows outside the test split: 5 folds
    rare = split.classes.index("rare")
    assert split.cv_folds == 5 and (split.y_test == rare).sum() >= 1
    assert all((split.y_dev[f.valid] == rare).sum() >= 1 for f in split.folds)
    holdout = make_split(data, cv=0)
    assert all((y == rare).sum() >= 1 for y in (holdout.final_rows().y,
                                                 holdout.fold_valid(0)[1], holdout.y_test))


def test_duplicate_columns_named(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("a,b,a,y\n1,2,3,0\n4,5,6,1\n")
    with pytest.raises(InputError, match="duplicate column names a"):
        load_table(p)


def test_id_constant_empty_dropped_with_notice():
    df = _frame()
    df["customer_id"] = np.arange(len(df)) + 1000
    df["uuid"] = [f"u{i}" for i in range(len(df))]
    df["const"] = 3
    df["empty"] = np.nan
    data = prepare(df, "y")
    assert set(data.plan.dropped) == {"customer_id", "uuid", "const", "empty"}
    assert "colour" in data.plan.categorical
    assert any("Dropped columns" in n and "customer_id" in n for n in data.notices)


def test_unique_floats_are_features_not_ids():
    data = prepare(_frame(), "y")
    assert "x1" in data.plan.numeric


def test_inf_features_noticed():
    df = _frame()
    df.loc[3, "x1"] = np.inf
    data = prepare(df, "y")
    assert data.plan.with_inf == ["x1"]


def test_too_few_rows_and_caps():
    with pytest.raises(InputError, match="Too few rows to split: 10 rows"):
        prepare(_frame(n=10), "y")
    with pytest.raises(InputError, match="Too many rows: 60 rows, the limit is 50"):
        prepare(_frame(), "y", limits=Limits(max_rows=50))
    with pytest.raises(InputError, match="Too many columns: 4 columns, the limit is 3"):
        prepare(_frame(), "y", limits=Limits(max_columns=3))


@pytest.mark.parametrize(("values", "task"), [
    (["a", "b"] * 30, "binary"), ([0, 1] * 30, "binary"), ([0, 1, 2] * 40, "multiclass"),
    (list(np.linspace(0, 1, 60)), "regression"), (list(range(60)), "regression"),
])
def test_task_inference(values, task):
    assert infer_task(pd.Series(values))[0] == task


def test_explicit_task_checked():
    with pytest.raises(InputError, match="not numeric"):
        prepare(_frame(), "y", task="regression")
    with pytest.raises(InputError, match="Unknown task"):
        prepare(_frame(), "y", task="ranking")


def test_split_is_seeded_stratified_and_disjoint():
    data = prepare(_frame(n=200), "y")
    a, b = make_split(data, seed=7, cv=0), make_split(data, seed=7, cv=0)
    assert a.sizes == {"development": 160, "test": 40, "folds": 0, "repeats": 1, "train": 120,
                       "validation": 40}
    pd.testing.assert_frame_equal(a.X_test, b.X_test)
    assert abs(a.fold_valid(0)[1].mean() - 0.5) < 0.05
    assert make_split(data, seed=7).sizes == {"development": 160, "test": 40, "folds": 5,
                                             "repeats": 1, "train": 128, "validation": 32}


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
def test_demos_load(name):
    src = load_demo(name)
    assert src.target in src.frame.columns and len(src.frame) > 100


def test_unknown_demo_lists_valid():
    with pytest.raises(InputError, match="breast_cancer, diabetes, wine"):
        load_demo("iris")


def test_context_source(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "features.csv", index=False)
    ctx = tmp_path / "pipeline_context.json"
    ctx.write_text('{"epoch_004_outputs": {"feature_data_path": "features.csv", '
                   '"feature_names": ["x1", "colour"], "target_variable": "y"}, '
                   '"epoch_001": {"recommended_algorithms": ["xgboost", "random_forest"]}}')
    src = load_context(ctx)
    assert list(src.frame.columns) == ["x1", "colour", "y"]
    assert src.target == "y" and src.recommended_algorithms == ["xgboost", "random_forest"]


def test_reload_reads_the_logged_copy_only_when_the_file_is_not_at_its_origin(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "target": ["a", "b", "a"]})
    origin = tmp_path / "elsewhere" / "table.csv"  # never written: another machine's path
    copies = tmp_path / "data"
    copies.mkdir()
    frame.to_csv(copies / "table.csv", index=False)
    expected = dataset_hash(load_table(copies / "table.csv").frame)
    src = reload_source(str(origin), expected, copies)
    assert src.origin == str(origin) and list(src.frame["target"]) == ["a", "b", "a"]
    with pytest.raises(InputError, match="no such file"):
        reload_source(str(origin), expected)  # no copy given
    frame.assign(x=[9.0, 2.0, 3.0]).to_csv(copies / "table.csv", index=False)
    with pytest.raises(InputError, match="changed since the Phase 1 session"):
        reload_source(str(origin), expected, copies)  # the copy is checked like the file
    origin.parent.mkdir()
    frame.to_csv(origin, index=False)
    assert reload_source(str(origin), expected, copies).frame["x"].tolist() == [1.0, 2.0, 3.0]


def test_a_context_source_reloads_from_its_logged_copies(tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    _frame().to_csv(here / "features.csv", index=False)
    ctx = here / "pipeline_context.json"
    ctx.write_text(json.dumps({"epoch_004_outputs": {
        "feature_data_path": str(here / "features.csv"), "feature_names": ["x1", "colour"],
        "target_variable": "y"}}))
    src = load_context(ctx)
    assert source_files(src.origin) == [ctx, here / "features.csv"]  # what Phase 1 logs
    assert source_files("demo:wine") == [] and source_files(str(tmp_path / "gone.csv")) == []
    copies = tmp_path / "data"
    copies.mkdir()
    for path in source_files(src.origin):
        path.rename(copies / path.name)  # the files leave this machine; their copies remain
    again = reload_source(src.origin, dataset_hash(src.frame), copies)
    assert again.origin == src.origin and list(again.frame.columns) == ["x1", "colour", "y"]
    with pytest.raises(InputError, match="Could not read pipeline context"):
        reload_source(src.origin, dataset_hash(src.frame))
