"""The two neural-net adapters on tiny data: determinism, progress, stopping, pickling, staging."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from modeldev.data.split import make_split
from modeldev.data.validation import prepare
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.nets import early_stopping_rows
from modeldev.frameworks.pytorch_adapter import PyTorchNetAdapter
from modeldev.frameworks.tensorflow_adapter import TensorFlowNetAdapter

TORCH, TF = PyTorchNetAdapter(), TensorFlowNetAdapter()
ADAPTERS = [pytest.param(TORCH, id="pytorch"), pytest.param(TF, id="tensorflow")]


def _split(task: str, noise_labels: bool = False, n: int = 150):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    frame["colour"] = rng.choice(["red", "green", "blue"], n)
    signal = frame.a * 2 - frame.b + (frame.colour == "red")
    if task == "regression":
        frame["target"] = 50 + 10 * signal + rng.normal(size=n)
    elif task == "multiclass":
        frame["target"] = np.digitize(signal, [-1, 1]).astype(str)
    else:
        frame["target"] = np.where(rng.random(n) < 0.5 if noise_labels else signal > 0, "y", "n")
    return make_split(prepare(frame, "target", task=task), seed=0, cv=0)


@pytest.fixture(scope="module")
def binary():
    return _split("binary")


@pytest.fixture(scope="module")
def noisy():
    return _split("binary", noise_labels=True)


def _outputs(model, X):
    return model.predict(X) if model.task == "regression" else model.predict_proba(X)


def test_contract_attributes():
    grid = {"layer1_units": [32, 64, 128], "layer2_units": [16, 32, 64],
            "dropout": [0.2, 0.3, 0.5], "learning_rate": [0.001, 0.01, 0.1]}
    assert TORCH.default_grid("binary") == {**grid, "epochs": [50, 100, 200]}
    assert TF.default_grid("binary") == {**grid, "batch_size": [16, 32, 64]}
    for adapter in (TORCH, TF):
        assert adapter.tasks == ("binary", "multiclass", "regression")
        assert adapter.family == "net" and adapter.gpu_capable
        assert set(adapter.default_grid("binary")) <= set(adapter.param_schema("binary"))
        assert adapter.baseline_params("binary")["patience"] > 0
    assert TORCH.prefix_param == "epochs" and TF.prefix_param is None
    assert TORCH.requirements == ("scikit-learn", "torch")
    assert TF.requirements == ("scikit-learn", "tensorflow")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_progress_per_epoch_and_deterministic(adapter, binary):
    events: list[dict] = []
    params = {"epochs": 4, "patience": 10}
    first = adapter.fit(binary.final_rows(), params, FitContext(seed=3, on_progress=events.append))
    again = adapter.fit(binary.final_rows(), params, FitContext(seed=3))
    assert [e["epoch"] for e in events] == [1, 2, 3, 4]
    assert all(e["type"] == "epoch" and e["framework"] == adapter.name and e["epochs"] == 4
               and np.isfinite(e["loss"]) and np.isfinite(e["val_loss"]) for e in events)
    assert [h["epoch"] for h in first.history] == [1, 2, 3, 4]
    assert first.history[-1]["val_loss"] == pytest.approx(events[-1]["val_loss"])
    np.testing.assert_array_equal(first.predict_proba(binary.X_test),
                                  again.predict_proba(binary.X_test))
    assert first.device_used == "cpu"
    # without early stopping no rows are held back, so there is no stopping loss to report
    unstopped = adapter.fit(binary.final_rows(), {"epochs": 2, "patience": 0})
    assert all(np.isnan(h["val_loss"]) for h in unstopped.history)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_should_stop_ends_the_fit(adapter, binary):
    events: list[dict] = []
    ctx = FitContext(on_progress=events.append, should_stop=lambda: len(events) >= 2)
    model = adapter.fit(binary.final_rows(), {"epochs": 30, "patience": 0}, ctx)
    assert len(events) == 2 and len(model.history) == 2
    assert model.core.stopped_reason_ == "cancelled"
    assert model.predict(binary.X_test).shape == (len(binary.X_test),)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_early_stopping_restores_best_weights(adapter, noisy):
    # Random labels and a high learning rate: validation loss soon rises.
    model = adapter.fit(noisy.final_rows(), {"epochs": 60, "patience": 2, "learning_rate": 0.05})
    assert model.core.stopped_reason_ == "early_stopping"
    assert len(model.history) < 60
    best = min(h["val_loss"] for h in model.history)
    assert model.history[-1]["val_loss"] > best
    # the stopping rows are carved from the fit's own training rows (seeded), and the weights
    # kept are the ones with the best loss on them
    rows = noisy.final_rows()
    _, stop = early_stopping_rows(rows.y, rows.task, seed=rows.seed, patience=2)
    proba = model.predict_proba(rows.X.iloc[stop])
    assert log_loss(rows.y[stop], proba, labels=[0, 1]) == pytest.approx(best, rel=1e-4)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_cloudpickle_round_trip(adapter, task):
    split = _split(task)
    model = adapter.fit(split.final_rows(), {"epochs": 3, "patience": 0})
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_array_equal(_outputs(restored, split.X_test), _outputs(model, split.X_test))
    np.testing.assert_array_equal(restored.predict(split.X_test), model.predict(split.X_test))
    if task == "regression":  # trained on a scaled target, predicted back in its units
        assert abs(np.mean(model.predict(split.X_test)) - 50) < 25
    else:
        assert set(model.predict(split.X_test)) <= set(split.classes)
        np.testing.assert_allclose(model.predict_proba(split.X_test).sum(axis=1), 1.0)


@pytest.mark.parametrize(("task", "patience", "lr"),
                         [("binary", 0, 0.01), ("binary", 1, 0.1), ("binary", 3, 0.01),
                          ("regression", 0, 0.01), ("regression", 2, 0.003)])
def test_pytorch_staged_equals_separate_fits(task, patience, lr):
    split = _split(task, noise_labels=patience == 1)
    params = {"patience": patience, "learning_rate": lr, "batch_size": 16}
    long = TORCH.fit(split.final_rows(), {**params, "epochs": 8})
    staged = TORCH.staged_outputs(long, long.transform(split.fold_valid(0)[0]), [3, 5, 8])
    assert sorted(staged) == [3, 5, 8]
    if patience == 1:  # this case must exercise a run that stops before its smallest budget
        assert long.core.stopped_reason_ == "early_stopping" and len(long.history) <= 3
    else:  # the others must tell budgets apart, or the comparison proves nothing
        assert not np.array_equal(staged[3], staged[8])
    for epochs, out in staged.items():
        separate = TORCH.fit(split.final_rows(), {**params, "epochs": epochs})
        np.testing.assert_array_equal(out, _outputs(separate, split.fold_valid(0)[0]))
    np.testing.assert_array_equal(staged[8], _outputs(long, split.fold_valid(0)[0]))


def test_pytorch_staging_limits(binary):
    model = TORCH.fit(binary.final_rows(), {"epochs": 3, "patience": 0})
    with pytest.raises(ValueError, match="cannot stage 5 epochs"):
        TORCH.staged_outputs(model, model.transform(binary.X_test), [5])
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    with pytest.raises(RuntimeError, match="in memory only"):
        TORCH.staged_outputs(restored, restored.transform(binary.X_test), [2])


def test_pytorch_gpu_request_without_cuda_falls_back(binary):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    before = torch.get_num_threads()
    model = TORCH.fit(binary.final_rows(), {"epochs": 2}, FitContext(device="gpu", n_threads=1))
    assert model.device_used == "cpu"
    assert "no CUDA device" in model.fallback_reason
    assert torch.get_num_threads() == before


def test_tensorflow_gpu_request_without_gpu_falls_back(binary):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees a GPU")
    model = TF.fit(binary.final_rows(), {"epochs": 2}, FitContext(device="gpu"))
    assert model.device_used == "cpu"
    assert "sees no GPU" in model.fallback_reason
