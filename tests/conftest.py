"""Shared test harness.

The backend is chosen by KERAS_BACKEND before Keras is imported (CI runs the
suite once per backend).  `RateProbe` measures the learning rate the optimizer
really applied at every step of a real `model.fit`: the model is a bias-free
Dense layer with one zero-initialised weight per step, step k feeds the one-hot
row e_k, and the loss is the prediction itself, so plain SGD writes exactly
-lr_k into weight k and touches no other weight.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

BACKEND = keras.backend.backend()
# PyTorch's trainer only runs steps_per_execution=1.
MULTI_STEP_EXECUTION = BACKEND in ("tensorflow", "jax")


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def prediction_loss(y_true, y_pred):
    """Loss equal to the prediction: its gradient is the input row."""
    return ops.mean(y_pred, axis=-1)


def one_hot_rows(n, start=0):
    """Endless (e_{k mod n}, 0) batches of one row, k = start, start + 1, ..."""
    eye = np.eye(n, dtype="float32")
    zero = np.zeros((1, 1), dtype="float32")
    k = start
    while True:
        yield eye[[k % n]], zero
        k += 1


def fit_on_rows(model, callbacks, epochs, start, steps_per_epoch, initial_epoch=0, **kwargs):
    """`fit` on the one-hot rows from step `start` on, for any probe-shaped model."""
    return model.fit(
        one_hot_rows(model.input_shape[-1], start),
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
        **kwargs,
    )


class RateProbe:
    """A model whose weights record the rate applied at each step.

    Args:
        n_steps: total steps the probe can record (one weight each).
        steps_per_execution: passed to `compile`.
        optimizer: defaults to plain SGD with learning_rate=0.5.
    """

    def __init__(self, n_steps, steps_per_execution=1, optimizer=None):
        self.n_steps = n_steps
        inputs = keras.Input((n_steps,))
        outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="probe")(
            inputs
        )
        self.model = keras.Model(inputs, outputs)
        self.model.compile(
            optimizer=optimizer or keras.optimizers.SGD(learning_rate=0.5),
            loss=prediction_loss,
            steps_per_execution=steps_per_execution,
        )

    def data(self, start_step=0):
        """Endless generator of (e_k, 0) for k = start_step, start_step + 1, ..."""
        return one_hot_rows(self.n_steps, start_step)

    def fit(self, callbacks, epochs, steps_per_epoch, initial_epoch=0, **kwargs):
        """Trains on the one-hot rows, continuing from the optimizer's step."""
        start = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        return fit_on_rows(
            self.model, callbacks, epochs, start, steps_per_epoch, initial_epoch, **kwargs
        )

    def rates(self, model=None):
        """The applied rate of every step so far (float64 view of float32)."""
        model = model or self.model
        kernel = model.get_layer("probe").kernel
        return -np.asarray(ops.convert_to_numpy(kernel), dtype=np.float64)[:, 0]


@pytest.fixture
def probe_factory():
    return RateProbe


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulates an interruption: stops training after epoch `epoch` (1-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epoch:
            self.model.stop_training = True


def assert_rates(applied, expected, rtol=2e-6, atol=1e-9):
    """Applied float32 rates equal the float64 formula up to float32 rounding."""
    np.testing.assert_allclose(applied, expected, rtol=rtol, atol=atol)
