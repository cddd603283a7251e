"""tensorflow_nn: a two-hidden-layer Keras Sequential MLP with early stopping on validation loss."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks import tensorflow_loop
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.nets import NetFramework, early_stopping_rows, target_scaling

PREDICT_CHUNK = 65_536


def _import_tf() -> tuple[Any, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up chatter drowns progress
    import keras
    import tensorflow as tf

    return tf, keras


class KerasNet:
    """Fitted core: a Keras model plus target scaling; pickles as its config and weights."""

    def __init__(self, model: Any, task: str, y_mean: float, y_std: float) -> None:
        self.model, self.task, self.y_mean, self.y_std = model, task, y_mean, y_std
        self.history_: list[dict[str, float]] = []
        self.fallback_reason_: str | None = None
        self.stopped_reason_: str | None = None  # "early_stopping", "cancelled" or None

    def _outputs(self, Xt: np.ndarray) -> np.ndarray:
        # predict_on_batch: a compiled call (predict() spends ~150 ms per call setting up,
        # an eager call ~5 ms per 1,000 rows against ~1 ms here).
        parts = [np.asarray(self.model.predict_on_batch(
                     np.asarray(Xt[s:s + PREDICT_CHUNK], np.float32)), dtype=np.float64)
                 for s in range(0, max(len(Xt), 1), PREDICT_CHUNK)]
        out = np.concatenate(parts)
        if self.task == "regression":
            return out[:, 0] * self.y_std + self.y_mean
        return out / out.sum(axis=1, keepdims=True)  # float32 softmax, renormalised in float64

    def predict_proba(self, Xt: np.ndarray) -> np.ndarray:
        """Class probabilities (classification only)."""
        return self._outputs(Xt)

    def predict(self, Xt: np.ndarray) -> np.ndarray:
        """Class indices, or floats for regression."""
        out = self._outputs(Xt)
        return out if self.task == "regression" else out.argmax(axis=1)

    def __getstate__(self) -> dict[str, Any]:
        # Architecture and weights only: no optimizer state, no file round trip.
        state = {k: v for k, v in self.__dict__.items() if k != "model"}
        state["config"] = self.model.get_config()
        state["weights"] = [np.array(w) for w in self.model.get_weights()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        _, keras = _import_tf()
        config, weights = state.pop("config"), state.pop("weights")
        self.__dict__.update(state)
        self.model = keras.Sequential.from_config(config)
        self.model.set_weights(weights)


def _build(keras: Any, n_in: int, n_out: int, task: str, params: dict[str, Any]) -> Any:
    layers, drop = keras.layers, float(params["dropout"])
    model = keras.Sequential([
        keras.Input(shape=(n_in,)),
        layers.Dense(int(params["layer1_units"]), activation="relu"), layers.Dropout(drop),
        layers.Dense(int(params["layer2_units"]), activation="relu"), layers.Dropout(drop),
        layers.Dense(n_out, activation=None if task == "regression" else "softmax"),
    ])
    # compiled only for predict_on_batch; training is tensorflow_loop's own loop
    model.compile(loss="mse" if task == "regression" else "sparse_categorical_crossentropy")
    return model


def _epoch_reporter(core: KerasNet, ctx: FitContext, name: str,
                    epochs: int) -> Callable[[int, float, float], bool]:
    """Record each epoch's losses, report them, and say whether a stop was asked for."""
    def on_epoch(epoch: int, loss: float, val_loss: float) -> bool:
        row = {"epoch": epoch, "loss": loss, "val_loss": val_loss}
        core.history_.append(row)
        ctx.on_progress({"type": "epoch", "framework": name, **row, "epochs": epochs})
        return ctx.should_stop()

    return on_epoch


def _targets(y: np.ndarray, core: KerasNet) -> np.ndarray:
    if core.task == "regression":
        return ((np.asarray(y, np.float64) - core.y_mean) / core.y_std).astype(np.float32)
    return np.asarray(y, np.int64)


def _set_threads(tf: Any, n: int | None) -> None:
    if not n:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already initialised in this process: keep its pools
        pass


def _device(tf: Any, requested: str) -> tuple[str, str | None]:
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # TF otherwise reserves the whole card, starving the frameworks that run after it;
        # once its runtime is initialised in this process the setting can no longer change.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    if requested == "gpu" and gpus:
        return "gpu", None
    if requested == "gpu":
        return "cpu", "TensorFlow sees no GPU; ran on CPU"
    return "cpu", None


class TensorFlowNetAdapter(NetFramework):
    """tensorflow_nn: Keras MLP (two hidden layers, dropout, Adam), early stopping on its own
    stopping rows."""

    name = "tensorflow_nn"
    requirements = ("scikit-learn", "tensorflow")
    gpu_library = "tensorflow"
    grid_extra = {"batch_size": [16, 32, 64]}

    def is_available(self) -> tuple[bool, str]:
        """Whether TensorFlow imports and Keras runs on it."""
        try:
            _, keras = _import_tf()
        except Exception as exc:  # a broken install raises more than ImportError
            return False, f"tensorflow is not usable: {exc}"
        if keras.backend.backend() != "tensorflow":
            return False, f"Keras is set to the {keras.backend.backend()} backend (KERAS_BACKEND)"
        return True, ""

    def gpu_check(self) -> tuple[bool, str]:
        """Whether TensorFlow sees a GPU."""
        tf, _ = _import_tf()
        gpus = tf.config.list_physical_devices("GPU")
        return bool(gpus), f"TensorFlow sees {len(gpus)} GPU(s)"

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Fit under an explicit device scope, so the reported device is the one that ran."""
        tf, keras = _import_tf()
        _set_threads(tf, ctx.n_threads)
        device, reason = _device(tf, ctx.device)
        keras.utils.set_random_seed(ctx.seed)
        n_out = 1 if rows.task == "regression" else rows.n_classes
        fit, stop = early_stopping_rows(rows.y, rows.task, ctx.seed, int(params["patience"]))
        with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
            model = _build(keras, int(Xt.shape[1]), n_out, rows.task, params)
            core = KerasNet(model, rows.task, *target_scaling(rows.y[fit], rows.task))
            stopping = None if stop is None else (Xt[stop], _targets(rows.y[stop], core))
            data = (Xt[fit] if stop is not None else Xt, _targets(rows.y[fit], core))
            core.stopped_reason_ = tensorflow_loop.train(
                tf, keras, model, data, stopping, params, ctx,
                _epoch_reporter(core, ctx, self.name, int(params["epochs"])),
                None if rows.task == "regression" else rows.class_weights)
        core.fallback_reason_ = reason
        return core, device
