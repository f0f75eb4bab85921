"""`keras_lr.layer_decay`: per-group rates measured through a real `fit`.

The probe model is a chain of `Tap` layers, one per group: each holds one
zero-initialised weight per step, step k feeds the one-hot row e_k, and the
loss is the sum of e_k . w_g over the taps, so plain SGD writes exactly
-rate_g(k) into weight k of tap g and touches nothing else (the idea of
conftest's `RateProbe`, one probe per group).  Models with BatchNorm and
nested models are checked against the same model trained with the plain
optimizer: one SGD step from the same weights moves every variable of group g
by exactly factor_g times as much.
"""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest
from conftest import MULTI_STEP_EXECUTION, assert_rates, prediction_loss
from keras import ops

import keras_lr
from keras_lr import _rate

N_STEPS = 8
LR = 0.5


@keras.saving.register_keras_serializable(package="keras_lr_tests")
class Tap(keras.layers.Layer):
    """Adds e . w to the running sum in the last column; passes e on."""

    def __init__(self, n_steps, **kwargs):
        super().__init__(**kwargs)
        self.n_steps = n_steps

    def build(self, input_shape):
        self.w = self.add_weight(shape=(self.n_steps,), initializer="zeros", name="w")

    def call(self, x):
        e, total = x[:, : self.n_steps], x[:, self.n_steps :]
        return ops.concatenate([e, total + ops.sum(e * self.w, axis=-1, keepdims=True)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "n_steps": self.n_steps}


def tap_model(n_groups=3, n_steps=N_STEPS):
    inputs = keras.Input((n_steps + 1,))
    x = inputs
    for g in range(n_groups):
        x = Tap(n_steps, name=f"tap{g}")(x)
    return keras.Model(inputs, x[:, n_steps:])


def tap_data(n_steps=N_STEPS):
    x = np.concatenate([np.eye(n_steps), np.zeros((n_steps, 1))], axis=1).astype("float32")
    return x, np.zeros((n_steps, 1), "float32")


def fit_taps(model, optimizer, callbacks=(), steps_per_execution=1):
    model.compile(
        optimizer=optimizer, loss=prediction_loss, steps_per_execution=steps_per_execution
    )
    x, y = tap_data(model.get_layer("tap0").n_steps)
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))


def applied(model, g):
    """The rate group g's optimizer applied at each step (weight k of tap g is -rate)."""
    return -np.asarray(ops.convert_to_numpy(model.get_layer(f"tap{g}").w), np.float64)


# -- the factors ------------------------------------------------------------------


def test_factors_are_powers_of_decay_with_the_output_group_at_one():
    model = tap_model(3)
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(0.1), decay=0.5)
    assert isinstance(opt, keras.optimizers.MultiOptimizer)
    # Input side first, as the model: tap0 (nearest the input) gets decay**2.
    assert [_rate.rate_factor(o) for o in opt.optimizers] == [0.25, 0.5, 1.0]
    rates = [float(ops.convert_to_numpy(o.learning_rate)) for o in opt.optimizers]
    np.testing.assert_allclose(rates, [0.025, 0.05, 0.1], rtol=1e-6)
    # "<the optimizer's name>_<group>_<its first layer>"; Keras numbers the
    # name ("sgd_3") when several optimizers were made in one process.
    base = keras.optimizers.SGD(0.1).name.split("_")[0]
    for g, o in enumerate(opt.optimizers):
        assert re.fullmatch(rf"{base}(_\d+)?_{g}_tap{g}", o.name), o.name


def test_decay_one_gives_every_group_the_full_rate():
    opt = keras_lr.layer_decay(tap_model(3), keras.optimizers.SGD(0.1), decay=1)
    assert [_rate.rate_factor(o) for o in opt.optimizers] == [1.0, 1.0, 1.0]


def test_each_group_is_a_copy_of_the_optimizer_with_its_rate_scaled():
    adam = keras.optimizers.Adam(0.01, beta_1=0.8, weight_decay=0.1, clipnorm=2.0)
    opt = keras_lr.layer_decay(tap_model(2), adam, decay=0.5)
    ignore = ("name", "learning_rate")
    expected = {k: v for k, v in adam.get_config().items() if k not in ignore}
    for sub, factor in zip(opt.optimizers, [0.5, 1.0]):
        assert type(sub) is type(adam) and sub is not adam
        assert {k: v for k, v in sub.get_config().items() if k not in ignore} == expected
        assert sub.get_config()["learning_rate"] == pytest.approx(0.01 * factor)


def test_each_group_trains_at_its_factor_through_fit():
    model = tap_model(3)
    fit_taps(model, keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5))
    for g, factor in enumerate([0.25, 0.5, 1.0]):
        assert_rates(applied(model, g), np.full(N_STEPS, factor * LR))


@pytest.mark.parametrize(
    "callback",
    [
        lambda: keras_lr.CosineAnnealing(max_lr=0.4, min_lr=0.01),
        lambda: keras_lr.StepDecay(
            initial_lr=0.4, decay_factor=0.5, step_size=1, steps_per_epoch=2
        ),
    ],
    ids=["CosineAnnealing", "StepDecay"],
)
@pytest.mark.parametrize("execution", [1, 4] if MULTI_STEP_EXECUTION else [1])
def test_a_scheduling_callback_trains_each_group_at_its_factor_times_the_schedule(
    callback, execution
):
    callback = callback()
    model = tap_model(3)
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5)
    fit_taps(model, opt, [callback], steps_per_execution=execution)
    schedule = callback.rates(np.arange(N_STEPS), steps_per_epoch=N_STEPS, epochs=1)
    for g, factor in enumerate([0.25, 0.5, 1.0]):
        assert_rates(applied(model, g), factor * schedule)
    # After fit each group holds a float rate again, its factor kept.
    assert [_rate.rate_factor(o) for o in opt.optimizers] == [0.25, 0.5, 1.0]


def test_gradient_accumulation_applies_each_group_s_factor_per_update():
    model = tap_model(2)
    sgd = keras.optimizers.SGD(LR, gradient_accumulation_steps=2)
    callback = keras_lr.CosineAnnealing(max_lr=0.4, min_lr=0.01)
    fit_taps(model, keras_lr.layer_decay(model, sgd, decay=0.5), [callback])
    # Update u averages the gradients e_2u and e_2u+1: half the rate on each.
    updates = N_STEPS // 2
    schedule = callback.rates(np.arange(updates), steps_per_epoch=updates, epochs=1)
    for g, factor in enumerate([0.5, 1.0]):
        assert_rates(applied(model, g), np.repeat(factor * schedule / 2, 2))


def test_the_result_can_be_wrapped_in_a_loss_scale_optimizer():
    model = tap_model(2)
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5)
    callback = keras_lr.CosineAnnealing(max_lr=0.4, min_lr=0.01)
    fit_taps(model, keras.optimizers.LossScaleOptimizer(opt), [callback])
    schedule = callback.rates(np.arange(N_STEPS), steps_per_epoch=N_STEPS, epochs=1)
    for g, factor in enumerate([0.5, 1.0]):
        assert_rates(applied(model, g), factor * schedule)


# -- frozen layers, BatchNorm, nested models --------------------------------------


@pytest.mark.parametrize("frozen", [0, 1])
def test_a_frozen_layer_keeps_its_group_and_the_others_their_factors(frozen):
    model = tap_model(3)
    model.get_layer(f"tap{frozen}").trainable = False
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5)
    assert len(opt.optimizers) == 3
    callback = keras_lr.CosineAnnealing(max_lr=0.4, min_lr=0.01)
    fit_taps(model, opt, [callback])
    schedule = callback.rates(np.arange(N_STEPS), steps_per_epoch=N_STEPS, epochs=1)
    for g, factor in enumerate([0.25, 0.5, 1.0]):
        expected = np.zeros(N_STEPS) if g == frozen else factor * schedule
        assert_rates(applied(model, g), expected)
    # The frozen group's optimizer never steps: the callback must count the
    # steps of the groups that train.
    np.testing.assert_array_equal(callback.history["step"], np.arange(N_STEPS))


def one_step_deltas(model, optimizer, x, y):
    """How far one step of `optimizer` moves each trainable variable, in model order."""
    before = [np.array(ops.convert_to_numpy(v)) for v in model.trainable_variables]
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return [
        np.array(ops.convert_to_numpy(v)) - b for v, b in zip(model.trainable_variables, before)
    ]


def twin(model):
    """The same model with the same weights (a clone may name its paths differently)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def assert_scaled(model, expected, decay=0.5, **kwargs):
    """One step with layer_decay moves group g's variables factor_g times plain SGD's.

    `expected` is the grouping the step must show: lists of variable paths,
    input side first.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, model.input_shape[-1])).astype("float32")
    y = rng.normal(size=(16, model.output_shape[-1])).astype("float32")
    paths = [v.path for v in model.trainable_variables]
    plain = dict(zip(paths, one_step_deltas(twin(model), keras.optimizers.SGD(LR), x, y)))
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay, **kwargs)
    decayed = dict(zip(paths, one_step_deltas(model, opt, x, y)))
    assert sorted(p for group in expected for p in group) == sorted(paths)
    for g, group in enumerate(expected):
        factor = decay ** (len(expected) - 1 - g)
        for path in group:
            assert np.abs(plain[path]).max() > 1e-6, path  # the check can fail
            np.testing.assert_allclose(
                decayed[path], factor * plain[path], rtol=1e-4, atol=1e-7, err_msg=path
            )
    return model


def dense_bn_model():
    inputs = keras.Input((6,))
    # No bias before BatchNorm: its gradient is zero.
    x = keras.layers.Dense(5, use_bias=False, name="d0")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.0, name="drop")(x)  # no weights: no group
    x = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, x)


def test_batchnorm_gamma_and_beta_train_at_their_group_s_factor():
    model = dense_bn_model()
    bn = model.get_layer("bn")
    stats_before = [np.array(ops.convert_to_numpy(v)) for v in bn.non_trainable_weights]
    assert_scaled(
        model,
        [["d0/kernel"], ["bn/gamma", "bn/beta"], ["head/kernel", "head/bias"]],
    )
    # The moving statistics are the layer's to update, not an optimizer's.
    assert len(model.optimizer.optimizers) == 3
    for v, before in zip(bn.non_trainable_weights, stats_before):
        assert not np.allclose(ops.convert_to_numpy(v), before), v.path


def nested_model():
    backbone = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, use_bias=False, name="b_dense"),
            keras.layers.BatchNormalization(name="b_bn"),
        ],
        name="backbone",
    )
    inputs = keras.Input((6,))
    x = keras.layers.Dense(6, activation="tanh", name="stem")(inputs)
    x = backbone(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


STEM = ["stem/kernel", "stem/bias"]
BACKBONE = ["backbone/b_dense/kernel", "backbone/b_bn/gamma", "backbone/b_bn/beta"]
HEAD = ["head/kernel", "head/bias"]


def test_a_nested_model_is_one_group_with_all_its_variables():
    assert_scaled(nested_model(), [STEM, BACKBONE, HEAD])


def test_groups_can_split_a_nested_model():
    model = nested_model()
    backbone = model.get_layer("backbone")
    groups = ["stem", backbone.get_layer("b_dense"), [backbone.get_layer("b_bn"), "head"]]
    assert_scaled(model, [STEM, BACKBONE[:1], BACKBONE[1:] + HEAD], groups=groups)


def test_groups_take_layers_lists_and_name_patterns():
    model = tap_model(4)
    groups = ["tap[01]", model.get_layer("tap2"), [model.get_layer("tap3")]]
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5, groups=groups)
    assert len(opt.optimizers) == 3
    fit_taps(model, opt)
    for g, factor in enumerate([0.25, 0.25, 0.5, 1.0]):
        assert_rates(applied(model, g), np.full(N_STEPS, factor * LR))


@pytest.mark.slow
def test_save_and_load_keep_groups_factors_and_routing(tmp_path):
    # Keras builds a loaded nested Sequential's variables without its name
    # ("backbone/b_dense/kernel" becomes "b_dense/kernel"): routing by path
    # tail keeps them in their group.
    model = assert_scaled(nested_model(), [STEM, BACKBONE, HEAD])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    opt = loaded.optimizer
    assert type(opt) is keras.optimizers.MultiOptimizer
    assert [o.name for o in opt.optimizers] == [o.name for o in model.optimizer.optimizers]
    assert [_rate.rate_factor(o) for o in opt.optimizers] == [0.25, 0.5, 1.0]
    plain = keras.saving.load_model(path, compile=False)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    expected = one_step_deltas(plain, keras.optimizers.SGD(LR), x, y)
    before = [np.array(ops.convert_to_numpy(v)) for v in loaded.trainable_variables]
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    moved = [ops.convert_to_numpy(v) - b for v, b in zip(loaded.trainable_variables, before)]
    factors = [0.25] * 2 + [0.5] * 3 + [1.0] * 2  # stem, backbone, head
    for v, delta, factor, want in zip(loaded.trainable_variables, moved, factors, expected):
        np.testing.assert_allclose(delta, factor * want, rtol=1e-4, atol=1e-7, err_msg=v.path)
    # The sub-optimizers resumed their step count.
    assert [int(ops.convert_to_numpy(o.iterations)) for o in opt.optimizers] == [2, 2, 2]


def test_a_callback_keeps_the_factors_after_load_model(tmp_path):
    model = tap_model(2)
    fit_taps(model, keras_lr.layer_decay(model, keras.optimizers.SGD(LR), decay=0.5))
    model.save(tmp_path / "taps.keras")
    loaded = keras.saving.load_model(tmp_path / "taps.keras")
    for g in range(2):
        loaded.get_layer(f"tap{g}").w.assign(np.zeros(N_STEPS, "float32"))
    callback = keras_lr.CosineAnnealing(max_lr=0.4, min_lr=0.01, total_steps=2 * N_STEPS)
    x, y = tap_data()
    loaded.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    schedule = callback.rates(np.arange(N_STEPS, 2 * N_STEPS))
    for g, factor in enumerate([0.5, 1.0]):
        assert_rates(applied(loaded, g), factor * schedule)


# -- arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("decay", [0, 0.0, -0.5, 1.01, 2])
def test_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(ValueError, match=r"Argument `decay` must be in \(0.0, 1.0\]"):
        keras_lr.layer_decay(tap_model(2), keras.optimizers.SGD(0.1), decay=decay)


@pytest.mark.parametrize("decay", ["0.5", None, True])
def test_decay_of_a_wrong_type_is_a_type_error(decay):
    with pytest.raises(TypeError, match="Argument `decay`"):
        keras_lr.layer_decay(tap_model(2), keras.optimizers.SGD(0.1), decay=decay)


def test_a_model_that_is_not_a_model_or_not_built_is_refused():
    sgd = keras.optimizers.SGD(0.1)
    with pytest.raises(TypeError, match="Argument `model` must be a `keras.Model`"):
        keras_lr.layer_decay(keras.layers.Dense(2), sgd)
    unbuilt = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="Argument `model` must be built"):
        keras_lr.layer_decay(unbuilt, sgd)
    no_weights = keras.Sequential([keras.Input((3,)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="must have weights"):
        keras_lr.layer_decay(no_weights, sgd)


class OwnWeight(keras.Model):
    """A model holding a weight of its own, outside its layers."""

    def __init__(self):
        super().__init__(name="own")
        self.dense = keras.layers.Dense(2, name="dense")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        return self.dense(x) * self.scale


def test_a_weight_of_the_model_itself_is_refused():
    model = OwnWeight()
    model.build((None, 3))
    with pytest.raises(ValueError, match=r"weights of its own: \['own/scale'\]"):
        keras_lr.layer_decay(model, keras.optimizers.SGD(0.1))


def test_optimizers_it_cannot_copy_and_scale_are_refused():
    model = tap_model(2)
    with pytest.raises(TypeError, match="Argument `optimizer` must be a Keras optimizer"):
        keras_lr.layer_decay(model, "sgd")
    multi = keras_lr.layer_decay(model, keras.optimizers.SGD(0.1))
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    for wrapper in (multi, wrapped):
        with pytest.raises(ValueError, match="must be a plain optimizer"):
            keras_lr.layer_decay(model, wrapper)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    for rate in (schedule, lambda: 0.1):
        with pytest.raises(ValueError, match="must be built with a float learning rate"):
            keras_lr.layer_decay(model, keras.optimizers.SGD(rate))


def test_global_clipnorm_warns_that_it_clips_per_group():
    with pytest.warns(UserWarning, match="global_clipnorm"):
        keras_lr.layer_decay(tap_model(2), keras.optimizers.SGD(0.1, global_clipnorm=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        keras_lr.layer_decay(tap_model(2), keras.optimizers.SGD(0.1, clipnorm=1.0))


def test_groups_of_a_wrong_type_are_a_type_error():
    model = tap_model(2)
    sgd = keras.optimizers.SGD(0.1)
    with pytest.raises(TypeError, match="Argument `groups` must be None or a list"):
        keras_lr.layer_decay(model, sgd, groups="tap0")
    with pytest.raises(TypeError, match=r"groups\[1\] holding 3"):
        keras_lr.layer_decay(model, sgd, groups=["tap0", [3]])


def test_bad_groups_are_refused_with_what_is_wrong():
    model = tap_model(3)
    t0, t1, t2 = (model.get_layer(f"tap{g}") for g in range(3))
    sgd = keras.optimizers.SGD(0.1)
    cases = [
        ([], "must not be empty"),
        ([t0, [], [t1, t2]], r"groups\[1\]=\[\] \(no weights\)"),
        ([t0, "nothing.*", [t1, t2]], r"matches no top-level layer.*groups\[1\]='nothing.\*'"),
        ([t0, "tap[", [t1, t2]], "invalid regular expression"),
        ([t0, t1, [t1, t2]], r"layer 'tap1' .* in groups\[1\] .* and groups\[2\]"),
        ([t0, "tap.*"], r"in groups\[0\] .* and groups\[1\]"),
        ([t0, t2], r"leaves out layers with weights: \['tap1'\]"),
        ([t0, t1, t2, keras.layers.Dense(2)], "(no weights)"),
    ]
    for groups, message in cases:
        with pytest.raises(ValueError, match=message):
            keras_lr.layer_decay(model, sgd, groups=groups)
    other = tap_model(1)
    with pytest.raises(ValueError, match="not part of"):
        keras_lr.layer_decay(model, sgd, groups=[t0, t1, t2, other.get_layer("tap0")])


def block(name, layer_name="dense"):
    """A functional block, built outside any name scope: its kernel is "dense/kernel"."""
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(3, name=layer_name)(inputs), name=name)


def test_two_groups_with_one_variable_path_are_refused():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, block("b")(block("a")(inputs)))
    assert model.get_layer("a").weights[0].path == model.get_layer("b").weights[0].path
    with pytest.raises(ValueError, match="paths 'dense/kernel' and 'dense/kernel'.*unique names"):
        keras_lr.layer_decay(model, keras.optimizers.SGD(0.1))
    # In one group they need no telling apart.
    opt = keras_lr.layer_decay(model, keras.optimizers.SGD(0.1), groups=[["a", "b"]])
    assert len(opt.optimizers) == 1


def test_a_path_that_ends_another_group_s_path_is_refused():
    # A loaded model builds the nested Sequential's "block/dense/kernel" as
    # "dense/kernel", the path of the top-level layer "dense".
    nested = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, name="dense")], name="block"
    )
    inputs = keras.Input((3,))
    model = keras.Model(inputs, nested(keras.layers.Dense(3, name="dense")(inputs)))
    paths = sorted(v.path for v in model.trainable_variables)
    assert paths[0] == "block/dense/bias" and "dense/bias" in paths
    with pytest.raises(ValueError, match="'dense/kernel' and 'block/dense/kernel'"):
        keras_lr.layer_decay(model, keras.optimizers.SGD(0.1))
    # Tails that differ are enough: "stem/kernel" against "block/dense/kernel".
    renamed = keras.Model(inputs, nested(keras.layers.Dense(3, name="stem")(inputs)))
    assert_scaled(
        renamed, [["stem/kernel", "stem/bias"], ["block/dense/kernel", "block/dense/bias"]]
    )
