"""Pins of keras_lr/_compat/_hyper.py: optimizers read their momentum in `apply`.

Each test fails, naming the shim, when a Keras release stops reading
`momentum` / `beta_1` as a Python attribute at every step, or stops taking
the class swap the shim relies on.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keras_lr import _compat

BACKEND = keras.backend.backend()


def moved(what: str) -> str:
    major, minor = _compat.keras_version()[:2]
    return f"Keras {major}.{minor} ({BACKEND}) moved {what}: update keras_lr/_compat/_hyper.py"


def ramp(step):
    """0.5, 0.6, 0.7, ... at steps 0, 1, 2, ..."""
    return 0.5 + 0.1 * ops.cast(step, "float32")


def one_weight(optimizer):
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=optimizer, loss=lambda y, p: ops.mean(p))
    return model


def weights_per_step(model, steps):
    """The weight after each of `steps` steps of constant gradient 1."""
    out = []
    x, y = np.ones((1, 1), "float32"), np.zeros((1, 1), "float32")
    for _ in range(steps):
        model.fit(x, y, epochs=1, verbose=0)
        out.append(float(np.asarray(model.layers[0].kernel.numpy()).ravel()[0]))
    return np.array(out)


def test_sgd_reads_its_momentum_in_apply_at_every_step():
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model = one_weight(opt)
    _compat.cycle_hyperparameter(opt, "momentum", ramp)
    assert isinstance(opt, keras.optimizers.SGD)
    assert type(opt).__name__ == "SGD" and opt.momentum == 0.9, moved("SGD's class")
    w = weights_per_step(model, 4)
    d = -np.diff(np.concatenate([[0.0], w]))
    # v_t = m_t v_{t-1} - lr g, so m_t = (d_t - lr) / d_{t-1}.
    applied = (d[1:] - 0.1) / d[:-1]
    np.testing.assert_allclose(
        applied, [0.6, 0.7, 0.8], rtol=1e-5, err_msg=moved("SGD's momentum read")
    )
    assert _compat.cycled_hyperparameter(opt)[0] == "momentum"
    base = type(opt).__mro__[1]
    _compat.release_hyperparameter(opt, 0.8)
    assert type(opt) is base and opt.momentum == 0.8 and isinstance(opt.momentum, float)
    assert _compat.cycled_hyperparameter(opt) is None


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Nadam", "Adamax", "Lamb"])
def test_adam_family_reads_beta_1_in_apply_at_every_step(name):
    """The first moment with g = 1: m_t = b_t m_{t-1} + (1 - b_t)."""
    opt = getattr(keras.optimizers, name)(learning_rate=1e-3)
    model = one_weight(opt)
    _compat.cycle_hyperparameter(opt, "beta_1", ramp)
    weights_per_step(model, 3)
    moments = [v for v in opt.variables if "momentum" in v.name]
    assert moments, moved(f"{name}'s first-moment variable")
    m = float(np.asarray(moments[0].numpy()).ravel()[0])
    expected = 0.0
    for b in [0.5, 0.6, 0.7]:
        expected = b * expected + (1 - b)
    assert m == pytest.approx(expected, rel=1e-5), moved(f"{name}'s beta_1 read")


def test_get_config_outside_a_step_reads_the_float():
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    one_weight(opt)
    _compat.cycle_hyperparameter(opt, "momentum", ramp)
    assert opt.get_config()["momentum"] == 0.9
    assert keras.optimizers.deserialize(keras.optimizers.serialize(opt)).momentum == 0.9
