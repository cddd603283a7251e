"""Folds: the same rows for every framework and in tuning, refusals, early stopping inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeldev.data.loading import load_demo
from modeldev.data.split import make_split, resolve_folds
from modeldev.data.validation import prepare
from modeldev.errors import InputError
from modeldev.frameworks.nets import early_stopping_rows
from modeldev.tuning.verdict import carry_forward


@pytest.fixture(scope="module")
def cancer():
    src = load_demo("breast_cancer")
    return prepare(src.frame, src.target)


def test_same_table_seed_and_k_give_the_same_folds(cancer):
    first, again = make_split(cancer, 7, 5), make_split(cancer, 7, 5)
    assert len(first.folds) == 5 and first.cv_folds == 5
    for a, b in zip(first.folds, again.folds, strict=True):
        np.testing.assert_array_equal(a.train, b.train)
        np.testing.assert_array_equal(a.valid, b.valid)
    other = make_split(cancer, 8, 5)
    assert not np.array_equal(first.folds[0].valid, other.folds[0].valid)


def test_folds_partition_the_development_rows_and_are_stratified(cancer):
    split = make_split(cancer, 42, 5)
    valid = np.sort(np.concatenate([f.valid for f in split.folds]))
    np.testing.assert_array_equal(valid, np.arange(len(split.y_dev)))
    for fold in split.folds:
        assert not set(fold.train) & set(fold.valid)
        share = split.y_dev[fold.valid].mean()
        assert abs(share - split.y_dev.mean()) < 0.02
    assert len(split.y_test) == round(0.2 * len(cancer.y))


def test_the_test_rows_do_not_depend_on_k(cancer):
    holdout, cv = make_split(cancer, 42, 0), make_split(cancer, 42, 5)
    pd.testing.assert_frame_equal(holdout.X_test, cv.X_test)
    assert holdout.holdout and len(holdout.folds) == 1
    train, valid = holdout.fold_sizes
    assert (train, valid) == (len(holdout.final_rows().y), len(holdout.fold_valid(0)[1]))
    assert len(cv.final_rows().y) == len(cv.y_dev)  # the logged model sees every dev row


def test_auto_is_five_folds_up_to_50000_rows_and_holdout_above():
    y = np.repeat([0, 1], 500)
    assert resolve_folds(None, 1_000, y, "binary", ["a", "b"]) == (5, None)
    assert resolve_folds(None, 60_000, y, "binary", ["a", "b"]) == (0, None)
    assert resolve_folds(0, 1_000, y, "binary", ["a", "b"]) == (0, None)


def test_auto_uses_fewer_folds_for_a_small_class_and_says_so():
    y = np.array([0] * 50 + [1] * 3)
    k, notice = resolve_folds(None, 60, y, "binary", ["ok", "rare"])
    assert k == 3 and "class 'rare' has only 3 rows" in notice


@pytest.mark.parametrize(("k", "message"), [
    (10, "10-fold cross-validation needs at least 10 rows of each class outside the test "
         "split, but class 'rare' has 3; use --cv 3 or fewer, or --cv 0"),
    (1, "--cv must be 0 (one holdout split) or a number of folds of at least 2, not 1"),
    (-2, "not -2")])
def test_impossible_folds_are_refused_with_the_counts(k, message):
    y = np.array([0] * 50 + [1] * 3)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_folds(k, 60, y, "binary", ["ok", "rare"])


def test_too_few_rows_for_k_folds_in_regression():
    with pytest.raises(InputError, match="needs at least 30 rows outside the test split, but "
                                         "there are 24"):
        resolve_folds(30, 30, np.arange(24.0), "regression")


def test_nets_stop_early_on_rows_carved_from_their_own_training_rows():
    y = np.repeat([0, 1], 100)
    fit, stop = early_stopping_rows(y, "binary", seed=3, patience=5)
    assert stop is not None and not set(fit) & set(stop)
    assert len(stop) == 40 and set(fit) | set(stop) == set(range(200))
    assert y[stop].mean() == pytest.approx(0.5)  # stratified
    again, _ = early_stopping_rows(y, "binary", seed=3, patience=5)
    np.testing.assert_array_equal(fit, again)
    all_rows, none = early_stopping_rows(y, "binary", seed=3, patience=0)
    assert none is None and len(all_rows) == 200


@pytest.mark.parametrize(("said", "carried"), [
    ("better", "tuned"), ("no_difference", "baseline"), ("worse", "baseline")])
def test_only_a_better_verdict_carries_the_tuned_model(said, carried):
    # decided on the development rows alone: the test rows report, they never decide
    assert carry_forward(said) == carried


def test_repeats_make_the_k_fold_cut_again_and_the_first_repeat_is_the_plain_k_folds(cancer):
    data = cancer
    once, twice = make_split(data, 7, cv=5, repeats=1), make_split(data, 7, cv=5, repeats=2)
    assert len(once.folds) == 5 and len(twice.folds) == 10 and twice.repeats == 2
    for a, b in zip(once.folds, twice.folds[:5], strict=True):
        np.testing.assert_array_equal(a.valid, b.valid)
    # the second repeat is a new partition of the same development rows
    second = np.sort(np.concatenate([f.valid for f in twice.folds[5:]]))
    np.testing.assert_array_equal(second, np.arange(len(twice.y_dev)))
    assert not np.array_equal(twice.folds[0].valid, twice.folds[5].valid)
    assert make_split(data, 7, cv=None, repeats=None).repeats == 2  # auto
    assert make_split(data, 7, cv=0, repeats=None).repeats == 1  # holdout: one split
    with pytest.raises(InputError, match="--repeats must be between 1 and 20"):
        make_split(data, 7, cv=5, repeats=0)
