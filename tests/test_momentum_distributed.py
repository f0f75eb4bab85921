"""Momentum cycling under TensorFlow's MirroredStrategy and JAX's DataParallel.

`apply` runs once per replica (MirroredStrategy: in one thread each, with the
update in a merge call while they wait); the momentum each step applies must
still be the schedule's.  One fresh process per engine, as in
tests/test_distribution.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND

pytestmark = pytest.mark.slow

CHILD = """
import json
import numpy as np, keras, keras_lr
from keras import ops
with scope():
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss=lambda y, p: ops.mean(p))
cb = keras_lr.OneCycleLR(0.5, total_steps=8)
weights = []
class Record(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        weights.append(float(np.asarray(self.model.layers[0].kernel.numpy()).ravel()[0]))
model.fit(data(), steps_per_epoch=1, epochs=8, verbose=0, callbacks=[cb, Record()])
json.dump({"weights": weights, "rates": cb.rates(8).tolist(),
           "momentums": cb.momentums(8).tolist(), "after": model.optimizer.momentum,
           "kind": type(model.optimizer).__name__}, open(RESULT, "w"))
"""

MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
scope = strategy.scope
def data():
    ones = tf.data.Dataset.from_tensor_slices((np.ones((2, 1), "float32"), np.zeros((2, 1), "float32")))
    return ones.batch(2).repeat()
"""

DATA_PARALLEL = """
import contextlib, jax
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices("cpu")))
scope = contextlib.nullcontext
def data():
    while True:
        yield np.ones((2, 1), "float32"), np.zeros((2, 1), "float32")
"""


@pytest.mark.parametrize(
    "engine, backend, env",
    [
        (MIRRORED, "tensorflow", {}),
        (DATA_PARALLEL, "jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}),
    ],
    ids=["mirrored", "data_parallel"],
)
def test_each_step_applies_the_schedules_momentum(tmp_path, engine, backend, env):
    if BACKEND != backend:
        pytest.skip(f"runs on the {backend} backend")
    result = tmp_path / "result.json"
    code = "import numpy as np, keras\n" + engine + f"RESULT = {str(result)!r}\n" + CHILD
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, KERAS_BACKEND=backend, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(result.read_text())
    w = np.concatenate([[0.0], out["weights"]])
    d = -np.diff(w)
    lr = np.array(out["rates"])
    g = d[0] / lr[0]  # the gradient the replicas' sum gives (2 with MirroredStrategy)
    applied = (d[1:] - g * lr[1:]) / d[:-1]
    np.testing.assert_allclose(applied, out["momentums"][1:], rtol=2e-5)
    assert out["kind"] == "SGD" and out["after"] == pytest.approx(out["momentums"][-1])
