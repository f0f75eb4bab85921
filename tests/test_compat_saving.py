"""Pins of `keras_lr/_compat/_saving.py`: the functional-model class and the
`.weights.h5` layout that `load_ensemble` checks snapshots against.

Each test checks one thing the shims rely on, on the installed Keras, and
fails naming the shim to update; no test here goes through `load_ensemble`
(tests/test_ensemble.py pins its behaviour).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_lr import _compat
from keras_lr._compat import _saving


def moved(what: str) -> str:
    major, minor = _compat.keras_version()[:2]
    return (
        f"Keras {major}.{minor} ({keras.backend.backend()}) moved {what}: update "
        "keras_lr/_compat/_saving.py"
    )


def functional(name: str = "net") -> keras.Model:
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    normed = keras.layers.BatchNormalization(name="bn")(hidden)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(normed), name=name)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_the_functional_class_is_what_keras_model_builds():
    model = functional()
    assert type(model) is _saving.Functional, moved(
        f"the class of keras.Model(inputs, outputs) (now {type(model).__module__}."
        f"{type(model).__qualname__})"
    )
    assert _compat.is_functional(model)
    assert _compat.is_functional(keras.models.clone_model(model)), moved(
        "the class keras.models.clone_model gives a functional model"
    )
    assert not _compat.is_functional(Subclassed())
    assert isinstance(_saving.Functional, type) and issubclass(_saving.Functional, keras.Model)


def test_weights_file_layout_finds_each_variable_of_save_weights(tmp_path):
    model = functional()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    layout = _compat.weights_file_layout(path)
    # One dataset per variable, shaped like it, under the model's groups.
    expected_shapes = sorted(tuple(v.shape) for v in model.weights)
    assert sorted(layout.values()) == expected_shapes, moved(
        f"the datasets of a .weights.h5 file (found {sorted(layout)})"
    )
    tops = {key.split("/", 1)[0] for key in layout}
    assert tops <= set(_compat.MODEL_WEIGHT_GROUPS), moved(
        f"the top-level groups of a model's variables (found {sorted(tops)})"
    )
    kernels = [key for key, shape in layout.items() if shape == (3, 4)]
    assert len(kernels) == 1 and kernels[0].startswith("layers/"), moved(
        f"the path of a layer's variables (found {kernels})"
    )
    assert kernels[0].rsplit("/", 2)[1:] == ["vars", "0"], moved(
        f"the name of a layer's first variable (found {kernels[0]})"
    )


def test_an_optimizer_is_stored_outside_the_model_groups(tmp_path):
    model = functional()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
    path = tmp_path / "compiled.weights.h5"
    model.save_weights(path)
    everything = _compat.weights_file_layout(path)
    model_only = _compat.weights_file_layout(path, groups=_compat.MODEL_WEIGHT_GROUPS)
    others = {key.split("/", 1)[0] for key in set(everything) - set(model_only)}
    assert others and not others & set(_compat.MODEL_WEIGHT_GROUPS), moved(
        f"where save_weights stores the optimizer (groups {sorted(others)})"
    )
    # The model's part of a compiled model's file is that of an uncompiled copy.
    bare = tmp_path / "bare.weights.h5"
    functional("bare").save_weights(bare)
    assert model_only == _compat.weights_file_layout(bare), moved(
        "the variable paths of two models of one architecture"
    )


def test_weights_file_layout_refuses_a_file_that_is_not_hdf5(tmp_path):
    path = tmp_path / "garbage.weights.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(OSError):
        _compat.weights_file_layout(path)
