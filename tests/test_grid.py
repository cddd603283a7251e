"""Grid parsing, validation, expansion and hashing (docs/architecture.md, "Reliability")."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from sklearn.model_selection import ParameterGrid

from modeldev.config import Limits
from modeldev.errors import InputError
from modeldev.frameworks.base import ParamSpec
from modeldev.frameworks.sklearn_adapter import LogisticRegressionAdapter, RandomForestAdapter
from modeldev.tuning.grid import (
    MAX_GRID_BYTES,
    combination_hash,
    count_combinations,
    expand_grid,
    grid_to_text,
    load_grid_file,
    parse_grid_text,
    validate_grid,
)

RF = RandomForestAdapter()
LR = LogisticRegressionAdapter()
RF_SCHEMA = RF.param_schema("binary")
LR_SCHEMA = LR.param_schema("binary")
CAP = Limits().max_combinations

# A hand-made schema covering every kind, a nullable float and a bool.
TOY = {
    "depth": ParamSpec("int", low=1, high=10),
    "rate": ParamSpec("float", low=0.0, high=1.0, nullable=True),
    "mode": ParamSpec("str", choices=("fast", "exact")),
    "shuffle": ParamSpec("bool"),
}

# The issue's default grids, exactly (regressors of a family share the classifier's grid).
EXPECTED_DEFAULTS = {
    "sklearn_logistic_regression": {"C": [0.001, 0.01, 0.1, 1, 10, 100],
                                    "solver": ["lbfgs", "liblinear", "saga"],
                                    "max_iter": [500, 1000, 2000]},
    "sklearn_random_forest": {"n_estimators": [50, 100, 200, 300], "max_depth": [5, 10, 20, None],
                              "min_samples_split": [2, 5, 10], "min_samples_leaf": [1, 2, 4]},
    "xgboost_baseline": {"n_estimators": [50, 100, 200, 300], "max_depth": [3, 5, 7, 10],
                         "learning_rate": [0.01, 0.05, 0.1, 0.3], "subsample": [0.6, 0.8, 1.0],
                         "colsample_bytree": [0.6, 0.8, 1.0]},
    "lightgbm_baseline": {"n_estimators": [50, 100, 200, 300], "max_depth": [3, 5, 7, 10],
                          "learning_rate": [0.01, 0.05, 0.1, 0.3],
                          "num_leaves": [15, 31, 63, 127], "min_child_samples": [5, 10, 20]},
    "tensorflow_nn": {"layer1_units": [32, 64, 128], "layer2_units": [16, 32, 64],
                      "dropout": [0.2, 0.3, 0.5], "learning_rate": [0.001, 0.01, 0.1],
                      "batch_size": [16, 32, 64]},
    "pytorch_nn": {"layer1_units": [32, 64, 128], "layer2_units": [16, 32, 64],
                   "dropout": [0.2, 0.3, 0.5], "learning_rate": [0.001, 0.01, 0.1],
                   "epochs": [50, 100, 200]},
}


def rf(grid: dict, cap: int = CAP) -> dict:
    return validate_grid(grid, RF_SCHEMA, "sklearn_random_forest", cap)


def refused(text: str) -> str:
    with pytest.raises(InputError) as info:
        parse_grid_text(text)
    return str(info.value)


def refused_rf(grid: dict, cap: int = CAP) -> str:
    with pytest.raises(InputError) as info:
        rf(grid, cap)
    return str(info.value)


# ---------------------------------------------------------------- parsing


def test_parse_accepts_a_plain_grid():
    assert parse_grid_text('{"max_depth": [5, null], "C": [0.5]}') == {
        "max_depth": [5, None], "C": [0.5]}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant):
    message = refused(f'{{"C": [1.0, {constant}]}}')
    assert constant in message


def test_overflowing_number_is_refused():
    assert "1e999" in refused('{"C": [1e999]}')


def test_duplicate_top_level_keys_are_refused():
    assert "'max_depth'" in refused('{"max_depth": [5], "n_estimators": [10], "max_depth": [7]}')


def test_duplicate_nested_keys_are_refused():
    assert "'a'" in refused('{"max_depth": [{"a": 1, "a": 2}]}')


@pytest.mark.parametrize("text, kind", [("[1, 2]", "a list"), ("5", "a number"),
                                        ('"x"', "a string"), ("null", "null")])
def test_top_level_must_be_an_object(text, kind):
    message = refused(text)
    assert "JSON object" in message and kind in message


def test_syntax_error_gives_position():
    message = refused('{\n  "max_depth": [5, 10\n}')
    assert "line 3" in message and "column" in message


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(text):
    assert "empty" in refused(text)


def test_python_syntax_is_not_evaluated():
    # Python literals (single quotes, None, True, tuples) are not JSON: refused, never evaluated.
    refused("{'max_depth': [5, None]}")
    refused('{"max_depth": (5, 10)}')
    refused('{"x": [__import__("os").getpid()]}')


def test_deep_nesting_and_huge_integers_are_refused_cleanly():
    refused("[" * 100_000)
    refused('{"n": [' + "9" * 5000 + "]}")


# ---------------------------------------------------------------- files


def test_load_grid_file_reads_utf8_with_bom(tmp_path):
    path = tmp_path / "grid.json"
    path.write_bytes(b'\xef\xbb\xbf{"max_depth": [5]}')
    assert load_grid_file(path) == {"max_depth": [5]}


def test_missing_grid_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="Cannot read the grid file"):
        load_grid_file(tmp_path / "absent.json")


def test_directory_as_grid_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="Cannot read the grid file"):
        load_grid_file(tmp_path)


def test_non_utf8_grid_file_is_an_input_error(tmp_path):
    path = tmp_path / "grid.json"
    path.write_bytes(b'{"solver": ["\xff"]}')
    with pytest.raises(InputError, match="not UTF-8"):
        load_grid_file(path)


def test_oversized_grid_file_is_refused(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text('{"n_estimators": [' + "1," * MAX_GRID_BYTES + "1]}")
    with pytest.raises(InputError, match="larger than"):
        load_grid_file(path)


# ---------------------------------------------------------------- validation: RELIABILITY "Grids"


def test_unknown_parameter_lists_the_valid_ones():
    message = refused_rf({"max_depth": [5], "max_leaves": [3]})
    assert "'max_leaves'" in message
    for name in RF_SCHEMA:
        assert name in message


def test_wrong_type_names_parameter_value_and_range():
    message = refused_rf({"max_depth": ["deep"]})
    assert "'max_depth'" in message and '"deep"' in message
    assert RF_SCHEMA["max_depth"].describe() in message


def test_out_of_range_names_parameter_value_and_range():
    message = refused_rf({"n_estimators": [100, 0]})
    assert "'n_estimators'" in message and " 0 " in message and "out of range" in message
    assert "int in [1, 5000]" in message


def test_float_out_of_range():
    message = validate_error({"C": [1e7]}, LR_SCHEMA, "sklearn_logistic_regression")
    assert "'C'" in message and "10000000.0" in message and "float in [1e-06, 1000000.0]" in message


def test_choice_outside_choices_lists_them():
    message = validate_error({"solver": ["adam"]}, LR_SCHEMA, "sklearn_logistic_regression")
    assert '"adam"' in message and "one of lbfgs, liblinear, saga" in message


def test_scalar_instead_of_list_says_how_to_write_it():
    message = refused_rf({"max_depth": 5})
    assert '"max_depth": [5]' in message


def test_object_instead_of_list_is_refused():
    assert "must be a list" in refused_rf({"max_depth": {"low": 1}})


def test_empty_list_says_so():
    message = refused_rf({"max_depth": []})
    assert "'max_depth'" in message and "empty list" in message


def test_bool_is_not_an_int():
    message = refused_rf({"n_estimators": [True]})
    assert "true" in message and "boolean" in message


def test_bool_is_not_a_float():
    assert "boolean" in validate_error({"rate": [False]}, TOY, "toy")


def test_int_is_not_a_bool():
    assert "not a boolean" in validate_error({"shuffle": [1]}, TOY, "toy")


def test_null_refused_when_not_nullable():
    message = refused_rf({"n_estimators": [None]})
    assert "null is not allowed" in message and "'n_estimators'" in message


def test_null_accepted_when_nullable():
    assert rf({"max_depth": [5, None]}) == {"max_depth": [5, None]}
    assert validate_grid({"rate": [None, 0.5]}, TOY, "toy", CAP) == {"rate": [None, 0.5]}


def test_oversized_grid_refused_with_count_and_largest_factors():
    grid = {"n_estimators": [10, 20, 30, 40], "max_depth": [1, 2, 3, 4, 5, 6],
            "min_samples_split": [2, 3], "min_samples_leaf": list(range(1, 37))}
    message = refused_rf(grid, cap=1000)
    assert "1,728 combinations exceed the cap of 1,000" in message
    factors = "min_samples_leaf (36), max_depth (6), n_estimators (4), min_samples_split (2)"
    assert factors in message


def test_grid_at_the_cap_is_accepted():
    grid = {"n_estimators": [10, 20, 30, 40], "max_depth": [1, 2, 3, 4, 5]}
    assert count_combinations(rf(grid, cap=20)) == 20


def test_empty_grid_means_nothing_to_tune():
    assert "nothing to tune" in refused_rf({})


def test_empty_schema_means_nothing_to_tune():
    assert "nothing to tune" in validate_error({"fit_intercept": [True]}, {}, "statsmodels_ols")


def test_non_object_grid_is_refused():
    assert "must be an object" in refused_rf([["max_depth", [5]]])


def test_duplicate_values_are_refused_naming_them():
    message = refused_rf({"max_depth": [5, 10, 5.0, None, None]})
    assert "5, null" in message and "more than once" in message


def test_int_and_float_duplicates_for_float_param():
    message = validate_error({"C": [1, 1.0]}, LR_SCHEMA, "sklearn_logistic_regression")
    assert "1.0" in message and "more than once" in message


# ---------------------------------------------------------------- validation: coercion


def test_integral_float_becomes_int_and_fraction_is_refused():
    grid = rf({"max_depth": [5.0, 10]})
    assert grid == {"max_depth": [5, 10]}
    assert all(type(v) is int for v in grid["max_depth"])
    assert "not a whole number" in refused_rf({"max_depth": [5.5]})


def test_int_becomes_float_for_float_param():
    grid = validate_grid({"C": [1, 0.5]}, LR_SCHEMA, "sklearn_logistic_regression", CAP)
    assert [type(v) for v in grid["C"]] == [float, float]


def test_non_finite_python_floats_are_refused():
    assert "not finite" in validate_error({"rate": [float("nan")]}, TOY, "toy")
    assert "not finite" in validate_error({"rate": [float("inf")]}, TOY, "toy")


def test_huge_int_for_float_param_is_out_of_range():
    assert "out of range" in validate_error({"rate": [10**400]}, TOY, "toy")


def test_validate_keeps_key_order_and_accepts_tuples():
    grid = validate_grid({"shuffle": (True, False), "depth": [3]}, TOY, "toy", CAP)
    assert list(grid) == ["shuffle", "depth"] and grid["shuffle"] == [True, False]


def test_default_grids_of_sklearn_adapters_validate():
    for adapter in (RF, LR):
        for task in adapter.tasks:
            grid = adapter.default_grid(task)
            assert validate_grid(grid, adapter.param_schema(task), adapter.name, CAP) == grid
            assert grid == EXPECTED_DEFAULTS[adapter.name]


def validate_error(grid: dict, schema: dict, framework: str) -> str:
    with pytest.raises(InputError) as info:
        validate_grid(grid, schema, framework, CAP)
    return str(info.value)


# ---------------------------------------------------------------- counting, expansion, hashing


def test_count_and_expansion_of_default_forest_grid():
    grid = RF.default_grid("binary")
    combos = expand_grid(grid)
    assert count_combinations(grid) == len(combos) == 4 * 4 * 3 * 3
    assert len({combination_hash(c) for c in combos}) == len(combos)


def test_expansion_order_is_parameter_grid_order():
    grid = {"n_estimators": [300, 50], "max_depth": [None, 5], "min_samples_leaf": [1, 2, 4]}
    assert expand_grid(grid) == list(ParameterGrid(grid))
    assert expand_grid(grid)[:2] == [
        {"max_depth": None, "min_samples_leaf": 1, "n_estimators": 300},
        {"max_depth": None, "min_samples_leaf": 1, "n_estimators": 50}]


def test_expansion_order_ignores_key_order():
    grid = {"b": [1, 2], "a": ["x", "y", "z"]}
    assert expand_grid(grid) == expand_grid({"a": ["x", "y", "z"], "b": [1, 2]})


def test_hash_is_stable_under_key_reordering_and_number_form():
    one = combination_hash({"max_depth": 5, "C": 0.1, "solver": "saga", "flag": None})
    two = combination_hash({"flag": None, "solver": "saga", "C": 0.1, "max_depth": 5.0})
    assert one == two and len(one) == 16 and int(one, 16) >= 0


def test_hash_format_is_sha256_of_canonical_json():
    expected = hashlib.sha256(b'{"C":0.1,"max_depth":5}').hexdigest()[:16]
    assert combination_hash({"max_depth": 5, "C": 0.1}) == expected


def test_hash_distinguishes_values_and_types():
    base = combination_hash({"x": 1})
    assert base != combination_hash({"x": 2})
    assert base != combination_hash({"x": True})
    assert base != combination_hash({"x": "1"})
    assert combination_hash({"x": None}) != combination_hash({"x": "null"})


def test_hash_is_stable_across_processes():
    params = {"solver": "lbfgs", "C": 0.001, "max_iter": 500}
    code = ("import json, sys; from modeldev.tuning.grid import combination_hash; "
            "print(combination_hash(json.loads(sys.argv[1])))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(params)], env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == combination_hash(params)


def test_hash_refuses_non_finite_and_objects():
    with pytest.raises(InputError):
        combination_hash({"x": float("nan")})
    with pytest.raises(InputError):
        combination_hash({"x": [1]})


# ---------------------------------------------------------------- round trip


def test_grid_to_text_round_trip():
    grid = {"n_estimators": [50, 100], "max_depth": [5, None], "solver": ["lbfgs"],
            "C": [0.001, 1e-06], "flag": [True, False]}
    text = grid_to_text(grid)
    assert parse_grid_text(text) == grid
    assert list(parse_grid_text(text)) == list(grid)
    assert text.splitlines()[1] == '  "n_estimators": [50, 100],'


def test_default_grids_round_trip_and_revalidate():
    for adapter in (RF, LR):
        grid = adapter.default_grid("binary")
        parsed = parse_grid_text(grid_to_text(grid))
        assert validate_grid(parsed, adapter.param_schema("binary"), adapter.name, CAP) == grid


def test_empty_grid_to_text():
    assert parse_grid_text(grid_to_text({})) == {}


def test_grid_to_text_refuses_nan():
    with pytest.raises(InputError):
        grid_to_text({"C": [float("nan")]})


# ---------------------------------------------------------------- every registered adapter


def test_every_registered_default_grid_validates_and_matches_the_issue():
    from modeldev.frameworks.registry import ADAPTERS  # all adapter modules exist now: no skip

    seen = set()
    for adapter in ADAPTERS:
        for task in adapter.tasks:
            grid = adapter.default_grid(task)
            assert grid == EXPECTED_DEFAULTS.get(adapter.name, {}), (adapter.name, task)
            if grid:
                schema = adapter.param_schema(task)
                assert validate_grid(grid, schema, adapter.name, CAP) == grid
                assert parse_grid_text(grid_to_text(grid)) == grid
                seen.add(adapter.name)
    assert seen == set(EXPECTED_DEFAULTS)
