"""ScheduleFreeEval: schedule-free AdamW validated, evaluated and saved at its average x.

References, written here from their definitions:
- x from y and z: Defazio et al. 2024 (arXiv:2405.15682), y = (1 - beta_1) z +
  beta_1 x, so x = (y - (1 - beta_1) z) / beta_1 (facebookresearch/schedule_free
  `eval()`); the optimizer's z is its public "..._momentum" variable.
- BatchNormalization at x: population mean and variance of each layer's inputs
  over the training inputs (the schedule_free README's BatchNorm caveat).
Every comparison of y is bit for bit (np.array_equal) against a twin trained
without the callback from the same seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from conftest import BACKEND, MULTI_STEP_EXECUTION

import keras_lr
from keras_lr.ensembles import ScheduleFreeEval

pytestmark = pytest.mark.skipif(
    not hasattr(keras.optimizers, "ScheduleFreeAdamW"),
    reason="keras.optimizers.ScheduleFreeAdamW is new in Keras 3.15",
)

BETA_1 = 0.9
_rng = np.random.default_rng(0)
X = _rng.normal(size=(32, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")).astype("float32")
VAL = (X[:8] + 0.1, Y[:8])
FIT = dict(batch_size=8, shuffle=False, verbose=0)  # 4 steps an epoch


def make(bn=False, optimizer=None, spe=1):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden")]
    if bn:
        layers.append(keras.layers.BatchNormalization(name="norm"))
    model = keras.Sequential([*layers, keras.layers.Dense(1, name="out")], name="net")
    optimizer = optimizer or keras.optimizers.ScheduleFreeAdamW(0.05, beta_1=BETA_1)
    model.compile(optimizer=optimizer, loss="mse", steps_per_execution=spe)
    # Built before fit: Keras 3.15 on TensorFlow otherwise starts z at 0.
    model.optimizer.build(model.trainable_variables)
    return model


def weights(model) -> list:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]


def moments(model) -> list:
    """z of each trainable variable: the optimizer's "<variable path>_momentum" variable."""
    found = {v.path.split("/")[-1]: v for v in model.optimizer.variables}
    keys = [var.path.replace("/", "_") + "_momentum" for var in model.trainable_variables]
    return [np.array(keras.ops.convert_to_numpy(found[key])) for key in keys]


def by_hand(model) -> list:
    """x of every trainable variable, from the twin's y and z (float64, then float32)."""
    b = float(np.float32(BETA_1))  # the step casts beta_1 to the variable's dtype
    out = []
    for var, z in zip(model.trainable_variables, moments(model)):
        y = np.asarray(keras.ops.convert_to_numpy(var), np.float64)
        out.append(((y - (1 - b) * z.astype(np.float64)) / b).astype("float32"))
    return out


def trainable(model) -> list:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]


def equal(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


class Batches(keras.callbacks.Callback):
    """y after every step (the model trains at y), and x by hand at each epoch end."""

    def __init__(self):
        super().__init__()
        self.ys, self.xs = [], []

    def on_train_batch_end(self, batch, logs=None):
        if BACKEND == "jax":
            self.model.jax_state_sync()  # the JAX trainer's in-flight weights
        self.ys.append(trainable(self.model))

    def on_epoch_end(self, epoch, logs=None):
        self.xs.append(by_hand(self.model))


def evaluate_at(model, xs, data=VAL) -> list:
    """`evaluate` of a copy of `model` at each x of `xs` (one copy: one compiled test step)."""
    probe = keras.models.clone_model(model)
    probe.compile(loss="mse")
    probe.set_weights(weights(model))
    out = []
    for x in xs:
        for var, value in zip(probe.trainable_variables, x):
            var.assign(value)
        out.append(float(probe.evaluate(*data, batch_size=8, verbose=0)))
    return out


def test_validation_runs_at_x_and_training_follows_the_same_y():
    # Two steps per execution where the trainer runs them (the swaps happen
    # between executions); the other tests run one.
    spe = 2 if MULTI_STEP_EXECUTION else 1
    twin, model = make(spe=spe), make(spe=spe)
    seen_twin, seen = Batches(), Batches()
    h_twin = twin.fit(X, Y, epochs=3, validation_data=VAL, callbacks=[seen_twin], **FIT)
    h = model.fit(X, Y, epochs=3, validation_data=VAL, callbacks=[seen, ScheduleFreeEval()], **FIT)
    assert len(seen.ys) == 12 // spe and all(equal(a, b) for a, b in zip(seen_twin.ys, seen.ys))
    assert h.history["loss"] == h_twin.history["loss"]
    at_x = evaluate_at(twin, seen_twin.xs)
    np.testing.assert_allclose(h.history["val_loss"], at_x, rtol=1e-6)
    assert not np.allclose(h.history["val_loss"], h_twin.history["val_loss"], rtol=1e-4)
    # After fit the model holds x; the optimizer's state is the twin's.
    for got, want in zip(trainable(model), by_hand(twin)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not equal(trainable(model), trainable(twin))
    assert equal(moments(model), moments(twin))


def _loss_scale():
    return keras.optimizers.LossScaleOptimizer(
        keras.optimizers.ScheduleFreeAdamW(0.05, beta_1=BETA_1)
    )


def _two_groups():
    # The output layer in its own group, at another rate (Keras 3.15).
    return keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(
            keras.optimizers.ScheduleFreeAdamW(0.05, beta_1=BETA_1),
            {"net/out/.*": keras.optimizers.ScheduleFreeAdamW(0.02, beta_1=BETA_1)},
        )
    )


@pytest.mark.parametrize("wrapped", [_loss_scale, _two_groups], ids=["loss_scale", "multi"])
def test_x_through_a_wrapper(wrapped):
    if wrapped is _two_groups and not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("keras.optimizers.MultiOptimizer is new in Keras 3.15")
    twin, model = make(optimizer=wrapped()), make(optimizer=wrapped())
    if wrapped is _two_groups:
        assert [len(o.variables) for o in model.optimizer.optimizers] == [2 + 2 * 2] * 2
    twin.fit(X, Y, epochs=1, **FIT)
    model.fit(X, Y, epochs=1, callbacks=[ScheduleFreeEval()], **FIT)
    assert equal(moments(model), moments(twin))
    for got, want in zip(trainable(model), by_hand(twin)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not equal(trainable(model), trainable(twin))


def test_y_comes_back_bit_for_bit_across_evaluate_predict_and_fits():
    twin, model = make(), make()
    sf = ScheduleFreeEval()
    for _ in range(2):
        twin.fit(X, Y, epochs=1, validation_data=VAL, **FIT)
        model.fit(X, Y, epochs=1, validation_data=VAL, callbacks=[sf], **FIT)
        model.evaluate(X, Y, verbose=0)
        model.predict(X, verbose=0)
    twin.fit(X, Y, epochs=1, **FIT)
    # A fit without the callback puts y back first, and says so.
    with pytest.warns(UserWarning, match="y is put back for this `fit`"):
        model.fit(X, Y, epochs=1, **FIT)
    assert equal(weights(model), weights(twin))
    assert equal(moments(model), moments(twin))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the model holds y: nothing to put back
        model.fit(X, Y, epochs=1, **FIT)


def test_save_and_load_model_keep_x_and_resume_from_y(tmp_path):
    twin, model = make(), make()
    twin.fit(X, Y, epochs=2, **FIT)
    model.fit(X, Y, epochs=2, callbacks=[ScheduleFreeEval()], **FIT)
    path = tmp_path / "sf.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert equal(weights(loaded), weights(model))  # x, as shipped
    assert loaded.evaluate(X, Y, verbose=0) == model.evaluate(X, Y, verbose=0)
    twin.fit(X, Y, epochs=1, **FIT)
    loaded.fit(X, Y, epochs=1, callbacks=[ScheduleFreeEval()], **FIT)
    assert equal(moments(loaded), moments(twin))  # trained from y, not from x
    for got, want in zip(trainable(loaded), by_hand(twin)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_batch_norm_statistics_recomputed_at_x_and_y_s_restored_for_training():
    twin, model = make(bn=True), make(bn=True)
    twin.fit(X, Y, epochs=1, validation_data=VAL, **FIT)
    model.fit(
        X, Y, epochs=1, validation_data=VAL, callbacks=[ScheduleFreeEval(update_bn_data=X)], **FIT
    )
    norm = model.layers[1]
    assert isinstance(norm, keras.layers.BatchNormalization)
    features = keras.Model(model.inputs, norm.input).predict(X, verbose=0).astype(np.float64)
    np.testing.assert_allclose(norm.moving_mean.numpy(), features.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), features.var(axis=0), rtol=1e-5)
    assert not np.allclose(norm.moving_mean.numpy(), twin.layers[1].moving_mean.numpy())
    twin.fit(X, Y, epochs=1, **FIT)
    with pytest.warns(UserWarning, match="y is put back"):
        model.fit(X, Y, epochs=1, **FIT)
    assert equal(weights(model), weights(twin))  # y's moving statistics went on training


def test_weights_changed_after_fit_are_left_alone():
    class Zero(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            for var in self.model.trainable_variables:
                var.assign(np.zeros(var.shape, "float32"))

    model = make()
    with pytest.warns(UserWarning, match="weights changed after the last epoch"):
        model.fit(X, Y, epochs=1, callbacks=[Zero(), ScheduleFreeEval()], **FIT)
    assert all(not w.any() for w in trainable(model))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow builds the optimizer in the step")
def test_an_optimizer_built_in_the_first_step_is_warned_about():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.ScheduleFreeAdamW(0.05), loss="mse")
    with pytest.warns(UserWarning, match=r"optimizer.build\(model.trainable_variables\)"):
        model.fit(X, Y, epochs=1, callbacks=[ScheduleFreeEval()], **FIT)


def _bn_model():
    return make(bn=True)


def _adam_group():
    return keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(
            keras.optimizers.ScheduleFreeAdamW(0.05), {"net/out/.*": keras.optimizers.Adam(0.01)}
        )
    )


REFUSED = {
    "adam": (
        lambda: make(optimizer=keras.optimizers.Adam(0.01)),
        {},
        TypeError,
        "ScheduleFreeAdamW",
    ),
    "callable_beta_1": (
        lambda: make(optimizer=keras.optimizers.ScheduleFreeAdamW(0.01, beta_1=lambda: 0.9)),
        {},
        TypeError,
        "constant `beta_1`",
    ),
    "use_ema": (
        lambda: make(optimizer=keras.optimizers.ScheduleFreeAdamW(0.01, use_ema=True)),
        {},
        ValueError,
        "use_ema=True",
    ),
    "bn_without_data": (_bn_model, {}, ValueError, "update_bn_data"),
}
if hasattr(keras.optimizers, "MultiOptimizer"):
    REFUSED["adam_group"] = (lambda: make(optimizer=_adam_group()), {}, TypeError, "type Adam")


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_the_first_step(case):
    build, kwargs, error, match = REFUSED[case]
    model = build()
    before = weights(model)
    with pytest.raises(error, match=match):
        model.fit(X, Y, epochs=1, callbacks=[ScheduleFreeEval(**kwargs)], **FIT)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    assert equal(weights(model), before)


def test_cycled_beta_1_is_refused_before_the_first_step():
    model = make()
    cycling = keras_lr.OneCycleLR(max_lr=0.05, total_steps=8, cycle_momentum=True)
    with pytest.raises(TypeError, match="cycle_momentum=False"):
        model.fit(X, Y, epochs=2, callbacks=[cycling, ScheduleFreeEval()], **FIT)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"update_bn_batch_size": 0}, ValueError, "update_bn_batch_size=0"),
        ({"update_bn_data": "x_train"}, TypeError, "update_bn_data='x_train'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        ScheduleFreeEval(**kwargs)


def test_config_round_trips():
    sf = ScheduleFreeEval(update_bn_batch_size=64)
    assert ScheduleFreeEval.from_config(sf.get_config()).get_config() == sf.get_config()


DISTRIBUTED = """
import contextlib, json, sys, warnings
import numpy as np, keras
from keras_lr.ensembles import ScheduleFreeEval
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    scope = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope
else:
    import jax
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices("cpu")))
    scope = contextlib.nullcontext
X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = X[:, :1] * 2
FIT = dict(batch_size=8, shuffle=False, verbose=0)
def make():
    keras.utils.set_random_seed(1)
    with scope():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
        m.compile(keras.optimizers.ScheduleFreeAdamW(0.05), loss="mse")
        m.optimizer.build(m.trainable_variables)
    return m
def host(vs):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in vs]
twin, model = make(), make()
h_twin = twin.fit(X, Y, epochs=2, validation_data=(X[:8], Y[:8]), **FIT)
h = model.fit(X, Y, epochs=2, validation_data=(X[:8], Y[:8]),
              callbacks=[ScheduleFreeEval(update_bn_data=X)], **FIT)
z = host([v for v in twin.optimizer.variables if v.path.endswith("_momentum")])
b = float(np.float32(0.9))
x = [((y.astype(np.float64) - (1 - b) * zz) / b).astype("float32")
     for y, zz in zip(host(twin.trainable_variables), z)]
x_ok = all(np.allclose(p, q, rtol=1e-6, atol=1e-7) for p, q in zip(host(model.trainable_variables), x))
twin.fit(X, Y, epochs=1, **FIT)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model.fit(X, Y, epochs=1, **FIT)
y_ok = all(np.array_equal(p, q) for p, q in zip(host(model.weights), host(twin.weights)))
json.dump({"same_loss": h.history["loss"] == h_twin.history["loss"], "x": x_ok, "y": y_ok,
           "val_differs": h.history["val_loss"] != h_twin.history["val_loss"]}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend, env",
    [("tensorflow", {}), ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})],
    ids=["mirrored", "data_parallel"],
)
def test_under_mirrored_strategy_and_data_parallel(tmp_path, backend, env):
    """Two CPU replicas, in a fresh process (as tests/test_momentum_distributed.py)."""
    if BACKEND != backend:
        pytest.skip(f"runs on the {backend} backend")
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED, str(result)],
        env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(result.read_text()) == {
        "same_loss": True,
        "x": True,
        "y": True,
        "val_differs": True,
    }
