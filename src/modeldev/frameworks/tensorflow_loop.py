"""The Keras net's training loop: one compiled TensorFlow function per epoch, early stopping.

`model.fit` builds a tf.data iterator per epoch (about 20 ms each) and evaluates validation
through a second pipeline; on the small tables analysts often bring, that overhead was 90 % of a
fit (9-10 s for 51 epochs of 291 rows, of which 4.2 s iterator creation and 2.9 s evaluation,
cProfile). Here an epoch is one call of a `tf.function` that loops over the batches of a seeded
permutation, and the stopping loss one more call; the model stays a plain Keras Sequential, so
it is saved and served exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modeldev.frameworks.base import FitContext


def train(tf: Any, keras: Any, model: Any, data: tuple[np.ndarray, np.ndarray],
          stopping: tuple[np.ndarray, np.ndarray] | None, params: dict[str, Any],
          ctx: FitContext, on_epoch: Callable[[int, float, float], bool],
          class_weights: np.ndarray | None = None) -> str | None:
    """Train `model` on `data`; early stopping on `stopping` restores the best weights; with
    `class_weights` each row's loss is weighted by its class's weight.

    `on_epoch(epoch, loss, val_loss)` is called after every epoch and returns True to stop
    (a cancel). Returns why training ended early: "early_stopping", "cancelled" or None.
    """
    regression = model.output_shape[-1] == 1
    loss_fn = (keras.losses.MeanSquaredError() if regression
               else keras.losses.SparseCategoricalCrossentropy())
    opt = keras.optimizers.Adam(float(params["learning_rate"]))
    opt.build(model.trainable_variables)
    X, y = tf.constant(data[0]), tf.constant(data[1])
    n, batch = len(data[0]), int(params["batch_size"])
    weights = None if class_weights is None else tf.constant(class_weights.astype(np.float32))
    train_epoch = _epoch_function(tf, model, loss_fn, opt, X, y, n, batch, weights)
    stop_loss = None
    if stopping is not None:
        Xs, ys = tf.constant(stopping[0]), tf.constant(stopping[1])
        ws = None if weights is None else tf.gather(weights, ys)
        stop_loss = tf.function(lambda: loss_fn(ys, model(Xs, training=False),
                                                sample_weight=ws))
    rng = np.random.default_rng(ctx.seed)
    patience, best, wait, best_weights = int(params["patience"]), float("inf"), 0, None
    for epoch in range(1, int(params["epochs"]) + 1):
        loss = float(train_epoch(tf.constant(rng.permutation(n), dtype=tf.int32)))
        val = float(stop_loss()) if stop_loss is not None else float("nan")
        if on_epoch(epoch, loss, val):
            return "cancelled"
        if stop_loss is None or not patience:
            continue
        if val < best:  # NaN never improves
            best, wait, best_weights = val, 0, model.get_weights()
        else:
            wait += 1
        if wait >= patience:
            if best_weights is not None:
                model.set_weights(best_weights)
            return "early_stopping"
    if best_weights is not None:
        model.set_weights(best_weights)
    return None


def _epoch_function(tf: Any, model: Any, loss_fn: Any, opt: Any, X: Any, y: Any, n: int,
                    batch: int, weights: Any = None) -> Any:
    """One epoch of mini-batch Adam over a given permutation, compiled once per model."""
    variables = model.trainable_variables

    @tf.function
    def epoch(perm: Any) -> Any:
        total = tf.constant(0.0)
        for start in tf.range(0, n, batch):
            idx = perm[start:start + batch]
            xb, yb = tf.gather(X, idx), tf.gather(y, idx)
            wb = None if weights is None else tf.gather(weights, yb)
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True), sample_weight=wb)
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            total += loss * tf.cast(tf.shape(idx)[0], tf.float32)
        return total / n

    return epoch
