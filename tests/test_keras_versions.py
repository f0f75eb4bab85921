"""The installed Keras against the declared minimum, and the version shims.

`setup.cfg` declares the oldest Keras keras_lr supports; CI runs a core subset
of the suite on exactly that release (`.ci/run`).  The shims in
`keras_lr._compat` that depend on the Keras version are pinned here, so an
upgrade or downgrade that moves what they rely on fails in this file first.
"""

from __future__ import annotations

import configparser
import os
import re

import keras
import pytest

from keras_lr import _compat, _rate

SETUP_CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.cfg")


def declared_keras_minimum() -> str:
    """The X.Y[.Z] of `keras>=X.Y[.Z]` in setup.cfg's install_requires."""
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    requires = config["options"]["install_requires"]
    found = re.findall(r"^\s*keras\s*>=\s*([0-9][0-9.]*)\s*$", requires, flags=re.MULTILINE)
    assert len(found) == 1, f"one `keras>=X.Y` line expected in install_requires: {requires!r}"
    return found[0]


def test_installed_keras_is_at_least_the_declared_minimum():
    minimum = declared_keras_minimum()
    assert _compat.keras_version() >= _compat.version_tuple(minimum), (
        f"Keras {keras.__version__} is installed, setup.cfg declares keras>={minimum}"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3.7.0", (3, 7, 0)),
        ("3.12", (3, 12)),
        ("3.15.1", (3, 15, 1)),
        ("3.8.0.dev2024112503", (3, 8, 0)),
        ("3.10.0rc1", (3, 10, 0)),
    ],
)
def test_version_tuple(text, expected):
    assert _compat.version_tuple(text) == expected


def test_version_tuples_order_as_releases_do():
    assert _compat.version_tuple("3.12.0") > _compat.version_tuple("3.7.0")
    assert _compat.version_tuple("3.9.2") < _compat.version_tuple("3.10.0")
    assert _compat.version_tuple("3.7.0") < _compat.version_tuple("3.7.1")


OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(learning_rate=0.1),
    "adam": lambda: keras.optimizers.Adam(learning_rate=1e-3),
    "loss_scale_inner": lambda: (
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=0.1)).inner_optimizer
    ),
}


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "built"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_is_variable_recognises_the_optimizers_rate_variable(name, built):
    optimizer = OPTIMIZERS[name]()
    if built:
        optimizer.build([keras.Variable(keras.ops.zeros((2,)))])
    source = _rate.rate_source(optimizer)
    # Keras 3.0-3.6 build this from the backend's Variable class, not
    # `keras.Variable`: the callbacks then refused the optimizer.
    assert _compat.is_variable(source)
    rate = {"sgd": 0.1, "adam": 1e-3, "loss_scale_inner": 0.1}[name]
    assert _rate.variable_value(source) == pytest.approx(rate)


def test_is_variable_tells_a_variable_from_a_rate_that_is_not_one():
    assert _compat.is_variable(keras.Variable(0.5))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert not _compat.is_variable(schedule)
    assert not _compat.is_variable(keras.optimizers.SGD(learning_rate=schedule)._learning_rate)
    assert not _compat.is_variable(0.1)
    assert not _compat.is_variable(keras.ops.convert_to_tensor(0.1))
