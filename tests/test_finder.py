"""LRFinder and find_lr: ladder, true batch loss, exact restore, stops,
suggestions, plots, data kinds, bad input.  Runs on the current backend."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import BACKEND, MULTI_STEP_EXECUTION, RateProbe
from keras import ops

import keras_lr
from keras_lr.finder import _reliability, _suggest
from keras_lr.finder._finder import ladder

os.environ.setdefault("MPLBACKEND", "Agg")


class ScalarWeight(keras.layers.Layer):
    """Outputs its one weight w for every sample: with loss = prediction and
    SGD, the loss of step t is w_t = -(sum of the rates before t)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer="zeros", name="w")

    def call(self, x):
        return ops.zeros_like(x[:, :1]) + self.w


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def identity_loss(y_true, y_pred):
    return ops.mean(y_pred, axis=-1)


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def nan_below_minus_half(y_true, y_pred):
    """The prediction, turned NaN once it falls below -0.5."""
    return ops.mean(ops.where(y_pred > -0.5, y_pred, ops.full_like(y_pred, np.nan)), axis=-1)


def expected_losses(num_steps):
    """Batch losses of `weight_model` under the ladder 1e-3..1: the loss before
    step t is w_t = -(sum of the float32 rates of the steps before t)."""
    rates32 = ladder(1e-3, 1.0, num_steps, "exponential").astype(np.float32)
    return -np.concatenate([[0.0], np.cumsum(rates32[:-1], dtype=np.float64)])


def weight_model(loss=identity_loss, optimizer=None):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, ScalarWeight(name="scalar")(inputs))
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1), loss=loss)
    return model


def regression_data(n=256, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x @ rng.normal(size=(d, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def stateful_model(seed=0):
    """Dense + BatchNorm + Dropout under Adam: trainable, non-trainable,
    seed-generator and optimizer-moment state to restore."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    z = keras.layers.Dense(16, activation="relu")(inputs)
    z = keras.layers.BatchNormalization()(z)
    z = keras.layers.Dropout(0.3)(z)
    model = keras.Model(inputs, keras.layers.Dense(1)(z))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def state_of(model):
    """Every model and optimizer variable, the rate and the rate source."""
    variables = list(model.trainable_variables) + list(model.non_trainable_variables)
    variables += list(model.optimizer.variables)
    values = [np.array(ops.convert_to_numpy(v), copy=True) for v in variables]
    inner = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    return values, inner._learning_rate


def assert_same_state(before, after):
    values_before, source_before = before
    values_after, source_after = after
    assert len(values_before) == len(values_after)
    for a, b in zip(values_before, values_after):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # bit for bit
    assert source_after is source_before


# -- ladder -----------------------------------------------------------------


def test_exponential_ladder_both_ends_constant_ratio():
    rates = ladder(1e-5, 1.0, 11, "exponential")
    assert rates[0] == 1e-5 and rates[-1] == 1.0
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10**0.5, rtol=1e-12)
    np.testing.assert_allclose(rates, 1e-5 * (1.0 / 1e-5) ** (np.arange(11) / 10), rtol=1e-12)


def test_linear_ladder_both_ends_even_steps():
    rates = ladder(0.1, 1.0, 10, "linear")
    assert rates[0] == 0.1 and rates[-1] == 1.0
    np.testing.assert_allclose(np.diff(rates), 0.1, rtol=1e-12)


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_applied_rate_is_the_ladder_at_every_step(mode):
    # The one-hot probe records the applied rate of each step in its own weight.
    probe = RateProbe(12)
    finder = keras_lr.LRFinder(
        1e-3, 0.5, num_steps=12, mode=mode, restore=False, stop_on_divergence=False, verbose=0
    )
    probe.fit([finder], epochs=3, steps_per_epoch=4)
    np.testing.assert_allclose(probe.rates(), ladder(1e-3, 0.5, 12, mode), rtol=2e-6)
    np.testing.assert_allclose(finder.history["lr"], ladder(1e-3, 0.5, 12, mode))


def test_ladder_starts_at_current_step_of_a_trained_optimizer():
    # A model that already trained (iterations > 0) still gets rate min_lr first.
    probe = RateProbe(16)
    probe.model.optimizer.learning_rate = 0.25
    probe.fit([], epochs=1, steps_per_epoch=4)
    finder = keras_lr.LRFinder(
        1e-2, 1.0, num_steps=12, restore=False, stop_on_divergence=False, verbose=0
    )
    probe.fit([finder], epochs=3, steps_per_epoch=4)
    np.testing.assert_allclose(probe.rates()[:4], 0.25, rtol=1e-7)
    np.testing.assert_allclose(probe.rates()[4:], ladder(1e-2, 1.0, 12, "exponential"), rtol=2e-6)


# -- true batch loss ----------------------------------------------------------


def test_history_loss_is_the_batch_loss_not_the_running_mean():
    model = weight_model()
    x = np.zeros((64, 3), "float32")
    finder = keras_lr.find_lr(
        model,
        x,
        np.zeros((64, 1), "float32"),
        batch_size=8,
        min_lr=1e-3,
        max_lr=1.0,
        num_steps=20,
        verbose=0,
        stop_on_divergence=False,
    )
    expected = expected_losses(20)
    history = finder.history
    assert list(history.columns[:4]) == ["step", "lr", "loss", "smoothed_loss"]
    assert len(history) == 20  # 8 batches per epoch: the data is cycled over
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-6, atol=1e-6)
    # A running mean would differ from the second step on.
    running = np.cumsum(expected[:8]) / np.arange(1, 9)
    assert not np.allclose(history["loss"][:8], running, atol=1e-3)


def test_smoothed_loss_is_bias_corrected_ema_of_batch_losses():
    model = weight_model()
    finder = keras_lr.find_lr(
        model,
        np.zeros((64, 3), "float32"),
        np.zeros((64, 1), "float32"),
        batch_size=8,
        min_lr=1e-3,
        max_lr=1.0,
        num_steps=10,
        smoothing=0.9,
        verbose=0,
        stop_on_divergence=False,
    )
    losses = finder.history["loss"].to_numpy()
    avg, expected = 0.0, []
    for k, loss in enumerate(losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (k + 1)))
    np.testing.assert_allclose(finder.history["smoothed_loss"], expected, rtol=1e-12)


# -- exact restore ------------------------------------------------------------


def test_restore_after_normal_end_is_bit_for_bit():
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    before = state_of(model)
    finder = keras_lr.find_lr(
        model, x, y, batch_size=16, min_lr=1e-5, max_lr=1e-2, num_steps=20, verbose=0
    )
    assert len(finder.history) == 20 and finder.diverged_at is None
    assert_same_state(before, state_of(model))


def test_training_after_the_test_is_as_if_no_test_had_run():
    x, y = regression_data()
    twin, tested = stateful_model(seed=3), stateful_model(seed=3)
    tested.set_weights(twin.get_weights())
    # Both models fit once first: on PyTorch a model's first fit draws from the
    # global RNG while Keras builds it, later fits do not.
    for model in (twin, tested):
        keras.utils.set_random_seed(5)
        model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    keras.utils.set_random_seed(7)
    twin.fit(x, y, epochs=1, batch_size=32, verbose=0)
    keras.utils.set_random_seed(7)
    keras_lr.find_lr(tested, x, y, batch_size=16, num_steps=30, verbose=0)
    # No reseeding: the test puts back the global streams it drew from.
    tested.fit(x, y, epochs=1, batch_size=32, verbose=0)
    for a, b in zip(twin.get_weights(), tested.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(ops.convert_to_numpy(tested.optimizer.iterations)) == int(
        ops.convert_to_numpy(twin.optimizer.iterations)
    )


def test_unbuilt_optimizer_is_left_as_a_fresh_build():
    # Before any fit the optimizer has no moments yet; the test has to build
    # it, and leaves exactly what a first `fit` would build: zeros, step 0.
    model = stateful_model()
    x, y = regression_data()
    weights = [np.array(w) for w in model.get_weights()]
    keras_lr.find_lr(model, x, y, batch_size=16, num_steps=20, verbose=0)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    opt = model.optimizer
    assert int(ops.convert_to_numpy(opt.iterations)) == 0
    moments = [v for v in opt.variables if v is not opt.iterations and v is not opt._learning_rate]
    assert moments and all(not np.any(ops.convert_to_numpy(v)) for v in moments)


def test_divergence_stops_early_cuts_the_curve_and_restores():
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)
    finder = keras_lr.find_lr(
        model, x, y, batch_size=16, min_lr=1e-4, max_lr=1e3, num_steps=100, verbose=0
    )
    assert finder.diverged_at is not None
    history = finder.history
    assert len(history) == finder.diverged_at + 1 < 100
    last = history["smoothed_loss"].iloc[-1]
    assert last > 4.0 * history["smoothed_loss"].iloc[:-1].min()
    assert history["lr"].iloc[-1] == pytest.approx(
        ladder(1e-4, 1e3, 100, "exponential")[finder.diverged_at]
    )
    assert_same_state(before, state_of(model))
    # The suggestions read only the curve before the divergent step.
    assert all(rate < history["lr"].iloc[-1] for rate in finder.suggestions().values())


def test_nan_loss_stops_and_restores():
    model = weight_model(loss=nan_below_minus_half)
    model.optimizer.build(model.trainable_variables)
    before = state_of(model)
    finder = keras_lr.find_lr(
        model,
        np.zeros((64, 3), "float32"),
        np.zeros((64, 1), "float32"),
        batch_size=8,
        min_lr=0.01,
        max_lr=1.0,
        num_steps=50,
        verbose=0,
    )
    assert finder.stop_reason == "the loss is not finite"
    assert np.isnan(finder.history["loss"].iloc[-1])
    assert np.isfinite(finder.history["loss"].iloc[:-1]).all()
    assert_same_state(before, state_of(model))


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_exception_or_interrupt_mid_test_restores(exc, monkeypatch):
    # Raised in the main thread at step 7, where Ctrl-C or a failing callback
    # would surface.
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)
    original = keras_lr.LRFinder.on_train_batch_end

    def failing(self, batch, logs=None):
        original(self, batch, logs)
        if len(self.history) == 7:
            raise exc("interrupted")

    monkeypatch.setattr(keras_lr.LRFinder, "on_train_batch_end", failing)
    with pytest.raises(exc):
        keras_lr.find_lr(model, x, y, batch_size=16, num_steps=30, verbose=0)
    assert_same_state(before, state_of(model))


def test_callback_as_context_manager_restores_when_fit_raises():
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)

    class RaiseAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                raise Boom("user callback failed")

    with pytest.raises(Boom):
        with keras_lr.LRFinder(num_steps=30, verbose=0) as finder:
            model.fit(x, y, batch_size=16, epochs=2, callbacks=[finder, RaiseAt()], verbose=0)
    assert len(finder.history) == 6
    assert_same_state(before, state_of(model))


def test_restore_false_keeps_training_but_puts_the_rate_back():
    model = weight_model()
    source = model.optimizer._learning_rate
    keras_lr.find_lr(
        model,
        np.zeros((64, 3), "float32"),
        np.zeros((64, 1), "float32"),
        batch_size=8,
        min_lr=1e-3,
        max_lr=1e-1,
        num_steps=10,
        restore=False,
        verbose=0,
        stop_on_divergence=False,
    )
    assert float(ops.convert_to_numpy(model.get_layer("scalar").w)) < 0
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 10
    assert model.optimizer._learning_rate is source
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)


def test_mixed_precision_loss_scale_optimizer_restores():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(inputs)))
    model.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)), loss="mse"
    )
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)
    finder = keras_lr.find_lr(
        model, x, y, batch_size=16, min_lr=1e-4, max_lr=1.0, num_steps=20, verbose=0
    )
    assert len(finder.history) > 2
    assert_same_state(before, state_of(model))


if MULTI_STEP_EXECUTION:

    def test_callback_refuses_steps_per_execution_before_training():
        model = stateful_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", steps_per_execution=4)
        x, y = regression_data()
        model.optimizer.build(model.trainable_variables)
        before = state_of(model)
        with pytest.raises(ValueError, match="steps_per_execution=4"):
            model.fit(
                x,
                y,
                batch_size=16,
                callbacks=[keras_lr.LRFinder(num_steps=8, verbose=0)],
                verbose=0,
            )
        assert_same_state(before, state_of(model))

    def test_find_lr_runs_per_step_and_keeps_steps_per_execution():
        model = weight_model()
        model.compile(
            optimizer=keras.optimizers.SGD(0.1), loss=identity_loss, steps_per_execution=4
        )
        finder = keras_lr.find_lr(
            model,
            np.zeros((64, 3), "float32"),
            np.zeros((64, 1), "float32"),
            batch_size=8,
            min_lr=1e-3,
            max_lr=1.0,
            num_steps=12,
            verbose=0,
            stop_on_divergence=False,
        )
        expected = expected_losses(12)
        np.testing.assert_allclose(finder.history["loss"], expected, rtol=1e-6, atol=1e-6)
        assert model.steps_per_execution == 4


# -- suggestions --------------------------------------------------------------


def synthetic_curve(n=100):
    lrs = np.logspace(-6, 1, n)
    t = np.log10(lrs)
    # Flat, then a steep descent centred at 1e-3, then a blow-up after 1e-1.
    curve = 2.0 - 1.5 / (1 + np.exp(-3 * (t + 3))) + np.where(t > -1, (t + 1) ** 2 * 4, 0)
    return lrs, curve


def test_suggestion_methods_on_a_known_curve():
    lrs, curve = synthetic_curve()
    steepest = _suggest.steepest(lrs, curve)
    assert 10**-3.2 < steepest < 10**-2.8  # the inflection at 1e-3
    assert _suggest.minimum(lrs, curve) == pytest.approx(lrs[np.argmin(curve)] / 10)
    valley = _suggest.valley(lrs, curve)
    assert 1e-5 < valley < lrs[np.argmin(curve)]
    base, high = _suggest.cyclic_bounds(lrs, curve)
    assert high == pytest.approx(lrs[np.argmin(_suggest.zero_phase(curve))])
    assert high / 10 <= base <= high / 3


def test_valley_is_fastai_longest_decreasing_run():
    # Strictly decreasing curve of 31 points: the run ends at 30 with length 31,
    # so fastai's start is 30 - 31 = -1, sections = 31 / 3 and the pick is
    # -1 + int(31 / 3) + int(31 / 6) = 14.
    lrs = np.logspace(-5, 0, 31)
    curve = np.linspace(3.0, 1.0, 31)
    assert _suggest.valley(lrs, curve) == lrs[14]
    # A bump breaks the run: the longest decreasing subsequence skips it, so it
    # has length 30 ending at 30, start 0 and pick 0 + 10 + 5 = 15.
    bumped = curve.copy()
    bumped[10] = 5.0
    assert _suggest.valley(lrs, bumped) == lrs[15]


def test_every_method_and_default_on_a_real_run():
    model = stateful_model()
    x, y = regression_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder = keras_lr.find_lr(model, x, y, batch_size=16, num_steps=60, verbose=0)
        found = finder.suggestions()
    # A fresh model's loss falls: the test is reliable and says nothing.
    assert finder.reliable and finder.unreliable_reason is None
    assert not [w for w in caught if "LRFinder" in str(w.message)]
    assert set(found) == {"zero_lag", "valley", "steepest", "minimum", "slide"}
    for method, rate in found.items():
        assert finder.suggestion(method) == rate
        assert 1e-7 <= rate <= 10.0
    assert finder.suggestion() == found["zero_lag"]
    with pytest.raises(ValueError, match="`method`"):
        finder.suggestion("best")
    base, high = finder.cyclic_bounds()
    assert 0 < base < high


def _forward_backward_average(values, beta):
    """The bias-corrected moving average run forward, then backward, written out here."""

    def one_way(series):
        out, avg = [], 0.0
        for k, value in enumerate(series, start=1):
            avg = beta * avg + (1 - beta) * value
            out.append(avg / (1 - beta**k))
        return np.array(out)

    return one_way(one_way(np.asarray(values, np.float64))[::-1])[::-1]


@pytest.mark.parametrize("validation", [False, True])
def test_default_is_a_third_of_the_lowest_point_of_the_recorded_loss_without_lag(validation):
    model = stateful_model()
    x, y = regression_data()
    kwargs = {"validation_data": (x[:64], y[:64]), "validation_every": 2} if validation else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = keras_lr.find_lr(
            model, x, y, batch_size=16, num_steps=60, max_lr=100.0, verbose=0, **kwargs
        )
    if not validation:  # a real reading, not the ladder's end
        assert finder.min_lr < finder.suggestion() < finder.max_lr
    history = finder.history
    end = len(history) if finder.diverged_at is None else finder.diverged_at
    read = history.iloc[:end]
    if validation:
        read = read.dropna(subset=["val_loss"])
        losses = read["val_loss"].to_numpy()
    else:
        losses = read["loss"].to_numpy()
    # Capped at the highest loss of the first tenth, then smoothed both ways.
    capped = np.minimum(losses, losses[: max(3, len(losses) // 10)].max())
    lowest = int(np.argmin(_forward_backward_average(capped, 0.7)))
    expected = np.clip(read["lr"].to_numpy()[lowest] / 3, finder.min_lr, finder.max_lr)
    assert finder.suggestion() == pytest.approx(expected, rel=1e-12)
    assert finder.default_method == "zero_lag"


def test_zero_lag_has_no_lag_where_the_moving_average_has():
    lrs = np.logspace(-6, 1, 100)
    rng = np.random.default_rng(0)
    # Lowest at point 70, then a steep rise: the one-way average's lowest point trails it.
    bowl = 1.0 + 0.002 * (np.arange(100) - 70.0) ** 2 + 0.02 * rng.normal(size=100)
    lagged = int(np.argmin(_suggest.smooth(bowl, 0.98)))
    found = int(np.flatnonzero(np.isclose(lrs, 3 * _suggest.zero_lag(lrs, bowl)))[0])
    assert abs(found - 70) <= 2 < lagged - 70


def test_zero_lag_is_not_pulled_to_the_start_by_the_blow_up():
    lrs = np.logspace(-6, 1, 60)
    bowl = 1.0 + 0.002 * (np.arange(60) - 45.0) ** 2
    bowl[50:] = np.geomspace(10.0, 1e4, 10)  # the divergence before the stop
    found = int(np.flatnonzero(np.isclose(lrs, 3 * _suggest.zero_lag(lrs, bowl)))[0])
    assert abs(found - 45) <= 5
    # Uncapped, the backward pass carries the blow-up back over the lowest point.
    assert int(np.argmin(_suggest.zero_phase(bowl, _suggest.ZERO_LAG_BETA))) < 35


def test_zero_lag_leaves_out_non_finite_points_and_checks_its_arguments():
    lrs = np.logspace(-3, 1, 41)
    bowl = (np.log10(lrs) + 1.0) ** 2
    spoilt = bowl.copy()
    spoilt[[3, 35]] = [np.nan, np.inf]
    assert _suggest.zero_lag(lrs, spoilt) == pytest.approx(0.1 / 3, rel=1e-6)
    assert np.isnan(_suggest.zero_lag(lrs[:2], bowl[:2]))
    with pytest.raises(ValueError, match=r"`beta`.*beta=1\.0"):
        _suggest.zero_lag(lrs, bowl, beta=1.0)
    with pytest.raises(ValueError, match=r"`divisor`.*divisor=0"):
        _suggest.zero_lag(lrs, bowl, divisor=0)


@pytest.mark.slow
def test_default_suggestion_is_safe_on_least_squares_over_seeds():
    # Plain SGD on least squares diverges above 2 / lambda_max of the Hessian.
    for seed in range(4):
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        n, d = 512, 10
        x = (rng.normal(size=(n, d)) * np.linspace(0.3, 3.0, d)).astype("float32")
        y = (x @ rng.normal(size=(d, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
        critical = 2.0 / np.linalg.eigvalsh(2.0 / n * x.T.astype(np.float64) @ x).max()
        model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(1, use_bias=False)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        finder = keras_lr.find_lr(
            model, x, y, batch_size=32, min_lr=1e-5, max_lr=10.0, num_steps=100, verbose=0
        )
        assert finder.diverged_at is not None
        assert critical / 10 < finder.suggestion() < critical / 3, seed
        assert critical / 100 < finder.suggestion("minimum") < critical, seed
        base, high = finder.cyclic_bounds()
        assert critical / 10 < high < critical, seed
        assert high / 10 <= base <= high / 3


def test_no_results_gives_a_clear_error():
    with pytest.raises(ValueError, match="no results"):
        keras_lr.LRFinder().suggestion()


# -- outputs ----------------------------------------------------------------------


def finished_finder(validation=False):
    model = stateful_model()
    x, y = regression_data()
    kwargs = {"validation_data": (x[:64], y[:64]), "validation_every": 5} if validation else {}
    return keras_lr.find_lr(model, x, y, batch_size=16, num_steps=40, verbose=0, **kwargs)


def test_plot_marks_suggestions_and_returns_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    finder = finished_finder()
    ax = finder.plot(skip_start=5, skip_end=2)
    assert ax.get_xscale() == "log"
    window = finder.history.iloc[5 : len(finder.history) - 2]
    smoothed = [line for line in ax.get_lines() if line.get_label() == "smoothed loss"][0]
    np.testing.assert_allclose(smoothed.get_xdata(), window["lr"])
    np.testing.assert_allclose(smoothed.get_ydata(), window["smoothed_loss"])
    marked = {line.get_label().split(":")[0] for line in ax.get_lines() if ":" in line.get_label()}
    # "minimum" is labelled as the rate it gives: a tenth of the minimum's.
    assert marked == {"zero-lag minimum/3", "valley", "steepest", "minimum/10", "slide"}
    minimum = [line for line in ax.get_lines() if line.get_label().startswith("minimum/10")][0]
    assert minimum.get_xdata()[0] == pytest.approx(finder.suggestion("minimum"))
    assert not any("unreliable" in line.get_label() for line in ax.get_lines())
    ax.figure.savefig(tmp_path / "finder.png")
    assert (tmp_path / "finder.png").stat().st_size > 1000
    change = finder.plot_loss_change()
    assert change.get_xscale() == "log" and len(change.get_lines()) >= 1


def test_to_csv_round_trips(tmp_path):
    finder = finished_finder()
    finder.to_csv(tmp_path / "finder.csv")
    back = pd.read_csv(tmp_path / "finder.csv")
    pd.testing.assert_frame_equal(back, finder.history, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == ["finder.csv"]  # no temporary left


@pytest.mark.parametrize(
    "end, skip_start, skip_end, expected",
    [
        (100, 10, 5, (10, 95)),  # both ends trimmed
        (16, 10, 5, (10, 16)),  # too few left for the end trim: the start only
        (12, 10, 5, (0, 12)),  # too few left for either: the whole curve
        (8, 0, 3, (0, 5)),
        (40, 4, 0, (4, 40)),
    ],
)
def test_one_trimming_rule(end, skip_start, skip_end, expected):
    part = _suggest.window(end, skip_start, skip_end)
    assert (part.start, part.stop) == expected
    assert _suggest.skip_start_default(40) == 4 and _suggest.SKIP_END == 5


def test_log_slope_is_the_gradient_against_log10_on_finite_points():
    lrs = np.logspace(-4, 0, 9)
    curve = 3.0 - 0.5 * np.log10(lrs)  # slope -0.5 per decade
    curve[4] = np.nan
    rates, slope = _suggest.log_slope(lrs, curve)
    np.testing.assert_array_equal(rates, np.delete(lrs, 4))
    np.testing.assert_allclose(slope, -0.5)
    assert _suggest.steepest(lrs, curve) in rates
    assert len(_suggest.log_slope(lrs[:1], curve[:1])[1]) == 0


@pytest.fixture(scope="module")
def diverged():
    finder = finished_finder()
    assert finder.diverged_at is not None  # the case where plot and suggestions can differ
    return finder


def test_recorded_smoothing_is_the_one_moving_average(diverged):
    history = diverged.history
    assert list(history.columns[:2]) == ["step", "lr"]
    np.testing.assert_array_equal(
        history["smoothed_loss"], _suggest.smooth(history["loss"], diverged.smoothing)
    )


def test_plot_and_suggestions_trim_the_curve_by_one_rule(diverged):
    import matplotlib

    matplotlib.use("Agg")
    history, end = diverged.history, diverged.diverged_at
    # The suggestions: the smoothed loss before the stop, trimmed by the rule.
    read = _suggest.window(end, _suggest.skip_start_default(diverged.num_steps), _suggest.SKIP_END)
    lrs, curve = history["lr"].to_numpy()[read], history["smoothed_loss"].to_numpy()[read]
    recorded = history["lr"].to_numpy()[:end], history["loss"].to_numpy()[:end]
    for method in _suggest.METHODS:
        # The default reads every recorded batch loss before the stop, untrimmed.
        read_by = recorded if method in _suggest.RAW_METHODS else (lrs, curve)
        expected = np.clip(getattr(_suggest, method)(*read_by), diverged.min_lr, diverged.max_lr)
        assert diverged.suggestion(method) == expected
    assert _suggest.RAW_METHODS == ("zero_lag",)
    # The plot: the same rule and defaults over every recorded step (the
    # stopping one too), and the span the suggestions read shaded.
    ax = diverged.plot()
    drawn = _suggest.window(len(history), diverged.num_steps // 10, 5)
    smoothed = [line for line in ax.get_lines() if line.get_label() == "smoothed loss"][0]
    np.testing.assert_array_equal(smoothed.get_xdata(), history["lr"].to_numpy()[drawn])
    (band,) = [p for p in ax.patches if p.get_label() == "read by suggestions"]
    if hasattr(band, "get_width"):  # a Rectangle (matplotlib >= 3.9)
        x = np.array([band.get_x(), band.get_x() + band.get_width()])
    else:  # a Polygon
        x = np.asarray(band.get_xy())[:, 0]
    assert (x.min(), x.max()) == pytest.approx((lrs[0], lrs[-1]))
    # The loss-change plot: the slope of the very curve "steepest" reads.
    (line,) = diverged.plot_loss_change().get_lines()[:1]
    np.testing.assert_array_equal(line.get_xdata(), lrs)
    np.testing.assert_allclose(line.get_ydata(), np.gradient(curve, np.log10(lrs)))
    assert line.get_xdata()[np.argmin(line.get_ydata())] == diverged.suggestion("steepest")


def test_to_csv_goes_through_the_one_atomic_writer(diverged, tmp_path, monkeypatch):
    from keras_lr import _io

    path = tmp_path / "finder.csv"
    path.write_text("kept\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        diverged.to_csv(path)
    assert path.read_text() == "kept\n"  # a failed write leaves the old file
    assert [p.name for p in tmp_path.iterdir()] == ["finder.csv"]  # and no temporary
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(_io, "write_csv", lambda *args: calls.append(args))
    diverged.to_csv(path)
    assert calls[0][0] == path
    pd.testing.assert_frame_equal(calls[0][1], diverged.history)


def test_validation_mode_records_val_loss_every_k_steps():
    finder = finished_finder(validation=True)
    val = finder.history["val_loss"]
    recorded = np.flatnonzero(val.notna().to_numpy())
    assert recorded[0] == 0 and set(np.diff(recorded[:-1])) <= {5}
    assert np.isfinite(val.iloc[recorded]).all()


def test_progress_bar_and_summary_line(capsys):
    model = stateful_model()
    x, y = regression_data()
    finder = keras_lr.find_lr(model, x, y, batch_size=16, num_steps=60, verbose=1)
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("LRFinder:")]
    assert len(summary) == 1
    assert f"suggested learning rate {finder.suggestion():.3g} (zero_lag)" in summary[0]
    assert "60/60" in out or "step" in out
    keras_lr.find_lr(model, x, y, batch_size=16, num_steps=20, verbose=0)
    assert capsys.readouterr().out == ""


# -- data kinds ---------------------------------------------------------------------


def two_input_model():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def endless(x, y, batch_size):
    def gen():
        k = 0
        while True:
            i = (k * batch_size) % (len(x) - batch_size + 1)
            yield x[i : i + batch_size], y[i : i + batch_size]
            k += 1

    return gen()


@pytest.mark.parametrize("kind", ["numpy", "dict", "tf_data", "py_dataset", "generator"])
def test_each_data_kind_is_cycled_to_num_steps(kind):
    x, y = regression_data(n=96)
    model = stateful_model()
    if kind == "numpy":
        args = (x, y)
    elif kind == "dict":
        model = two_input_model()
        args = ({"a": x[:, :3], "b": x[:, :2]}, y)
    elif kind == "tf_data":
        import tensorflow as tf

        args = (tf.data.Dataset.from_tensor_slices((x, y)).batch(16),)
    elif kind == "py_dataset":
        args = (Batches(x, y, 16),)
    else:
        args = (endless(x, y, 16),)
    model.optimizer.build(model.trainable_variables)
    before = state_of(model)
    finder = keras_lr.find_lr(
        model, *args, batch_size=16, min_lr=1e-5, max_lr=1e-1, num_steps=15, verbose=0
    )
    assert len(finder.history) == 15  # 6 batches per pass: cycled
    assert np.isfinite(finder.history["loss"]).all()
    assert_same_state(before, state_of(model))


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"min_lr": 1.0, "max_lr": 1.0}, ValueError, r"`min_lr`.*min_lr=1.0"),
        ({"min_lr": 2.0, "max_lr": 1.0}, ValueError, r"`min_lr`.*min_lr=2.0"),
        ({"min_lr": 0.0}, ValueError, r"`min_lr`.*min_lr=0.0"),
        ({"max_lr": -1.0}, ValueError, r"`max_lr`.*max_lr=-1.0"),
        ({"num_steps": 1}, ValueError, r"`num_steps`.*num_steps=1"),
        ({"num_steps": 10.5}, TypeError, r"`num_steps`"),
        ({"mode": "log"}, ValueError, r"`mode`.*'log'"),
        ({"smoothing": 1.0}, ValueError, r"`smoothing`.*smoothing=1.0"),
        ({"smoothing": -0.1}, ValueError, r"`smoothing`.*smoothing=-0.1"),
        ({"divergence_threshold": 1.0}, ValueError, r"`divergence_threshold`"),
        ({"restore": "yes"}, TypeError, r"`restore`"),
        ({"min_lr": float("nan")}, ValueError, r"`min_lr`"),
    ],
)
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        keras_lr.LRFinder(**kwargs)


def test_data_shorter_than_one_batch():
    x, y = regression_data(n=10)
    with pytest.raises(ValueError, match="fewer than one batch"):
        keras_lr.find_lr(stateful_model(), x, y, batch_size=32, verbose=0)


def test_model_not_compiled():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    x, y = regression_data()
    with pytest.raises(ValueError, match="compiled"):
        keras_lr.find_lr(model, x, y, verbose=0)


def test_unknown_keyword_is_named():
    x, y = regression_data()
    with pytest.raises(TypeError, match="smoothin"):
        keras_lr.find_lr(stateful_model(), x, y, smoothin=0.9)


# -- distribution -----------------------------------------------------------------------

if BACKEND == "tensorflow":

    @pytest.mark.slow
    def test_mirrored_strategy_two_cpus_restores_and_records(tmp_path):
        script = textwrap.dedent(
            """
            import numpy as np, tensorflow as tf
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
            import keras, keras_lr
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            with strategy.scope():
                inputs = keras.Input((4,))
                z = keras.layers.BatchNormalization()(keras.layers.Dense(8)(inputs))
                model = keras.Model(inputs, keras.layers.Dense(1)(z))
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
            rng = np.random.default_rng(0)
            x = rng.normal(size=(256, 4)).astype("float32"); y = x.sum(1, keepdims=True)
            model.fit(x, y, epochs=1, verbose=0)
            before = [np.array(v) for v in model.variables + model.optimizer.variables]
            finder = keras_lr.find_lr(model, x, y, batch_size=32, num_steps=20, verbose=0)
            after = [np.array(v) for v in model.variables + model.optimizer.variables]
            assert all(np.array_equal(a, b) for a, b in zip(before, after))
            assert len(finder.history) >= 3 and np.isfinite(finder.suggestion())
            print("MIRRORED_OK", len(finder.history))
            """
        )
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        assert "MIRRORED_OK" in result.stdout, result.stderr[-3000:]


def test_optimizer_driven_by_a_schedule_gets_the_ladder_and_its_schedule_back():
    # An optimizer built with a schedule reads it, not a float: the range
    # test swaps it for the ladder and puts the same object back.
    schedule = keras_lr.schedules.Cyclic(0.1, 0.3, step_size=2)
    probe = RateProbe(20, optimizer=keras.optimizers.SGD(schedule))
    probe.fit([], epochs=1, steps_per_epoch=8)
    source = probe.model.optimizer._learning_rate
    assert source is schedule
    finder = keras_lr.LRFinder(
        1e-2, 1.0, num_steps=12, restore=False, stop_on_divergence=False, verbose=0
    )
    probe.fit([finder], epochs=3, steps_per_epoch=4)
    np.testing.assert_allclose(probe.rates()[8:], ladder(1e-2, 1.0, 12, "exponential"), rtol=2e-6)
    assert probe.model.optimizer._learning_rate is source
    # Training goes on with the schedule, at the optimizer's step (20).
    assert float(ops.convert_to_numpy(probe.model.optimizer.learning_rate)) == pytest.approx(
        float(source.numpy([20])[0]), rel=1e-6
    )


def test_float_rate_is_driven_without_recompiling():
    # The common case keeps the compiled train step: no retrace per range test.
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    train_function = model.train_function
    keras_lr.find_lr(model, x, y, batch_size=16, num_steps=20, verbose=0)
    assert model.train_function is train_function


@pytest.mark.skipif(BACKEND != "jax", reason="the rate travels with the step's state on JAX only")
def test_a_rate_the_step_did_not_take_is_detected_and_recorded(monkeypatch):
    # If the trainer ever stops passing the written state to the step, the
    # step trains at the rate it already had: the finder must notice at the
    # first step, record the rate really applied, and set later rates through
    # the variables.
    from keras_lr import _compat

    write = _compat.StepWriter.write
    calls = []

    def write_dropping_the_first(self, tensors):
        in_flight = write(self, tensors)
        calls.append(in_flight)
        if in_flight and len(calls) == 1:
            self._pending = None  # the step will not see this write
        return in_flight

    monkeypatch.setattr(_compat.StepWriter, "write", write_dropping_the_first)
    probe = RateProbe(12)
    finder = keras_lr.LRFinder(
        1e-3, 0.5, num_steps=12, restore=False, stop_on_divergence=False, verbose=0
    )
    with pytest.warns(UserWarning, match="step 0 trained at rate 0.5,"):
        probe.fit([finder], epochs=3, steps_per_epoch=4)
    expected = ladder(1e-3, 0.5, 12, "exponential")
    expected[0] = 0.5  # the optimizer's own rate, which step 0 kept
    np.testing.assert_allclose(probe.rates(), expected, rtol=2e-6)
    np.testing.assert_allclose(finder.history["lr"], probe.rates(), rtol=2e-6)
    assert calls[0] is True and not any(calls[1:])


# -- gradient accumulation: one ladder step per optimizer update ------------------------


def accumulating(optimizer_cls, rate, accumulation, **kwargs):
    steps = accumulation if accumulation > 1 else None
    return optimizer_cls(rate, gradient_accumulation_steps=steps, **kwargs)


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def plus_target(y_true, y_pred):
    """The prediction plus the target: the gradient is 1, the loss shifts by y."""
    return ops.mean(y_pred + y_true, axis=-1)


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.parametrize("source", ["float", "schedule"])
@pytest.mark.parametrize("accumulation", [1, 2, 4])
def test_gradient_accumulation_applies_each_rate_for_one_update(accumulation, source):
    # Plain SGD under N-step accumulation applies lr * (mean of the N one-hot
    # gradients): every batch of update k moves its own probe weight by
    # -lr_k / N, so N times the weight is the rate update k applied.
    num_steps = 6
    rate = 0.5 if source == "float" else keras_lr.schedules.Constant(0.5)
    optimizer = accumulating(keras.optimizers.SGD, rate, accumulation)
    probe = RateProbe(num_steps * accumulation, optimizer=optimizer)
    finder = keras_lr.LRFinder(
        1e-3, 0.5, num_steps=num_steps, restore=False, stop_on_divergence=False, verbose=0
    )
    # 5 batches an epoch: updates straddle the epoch ends.
    probe.fit([finder], epochs=10, steps_per_epoch=5)
    history = finder.history
    assert len(history) == num_steps
    assert int(ops.convert_to_numpy(optimizer.iterations)) == num_steps  # updates
    applied = probe.rates().reshape(num_steps, accumulation) * accumulation
    expected = np.repeat(history["lr"].to_numpy()[:, None], accumulation, axis=1)
    np.testing.assert_allclose(applied, expected, rtol=2e-6)
    np.testing.assert_allclose(history["lr"], ladder(1e-3, 0.5, num_steps, "exponential"))


@pytest.mark.parametrize("accumulation", [2, 4])
def test_gradient_accumulation_step_loss_is_the_mean_of_its_batches(accumulation):
    # Batch j has loss w + j (its target is j): the loss of update k is
    # w_k + the mean of its N batch indices, w_k = -(sum of the earlier rates).
    num_steps = 5
    model = weight_model(
        loss=plus_target, optimizer=accumulating(keras.optimizers.SGD, 0.1, accumulation)
    )

    def batches():
        j = 0
        while True:
            yield np.zeros((1, 3), "float32"), np.full((1, 1), j, "float32")
            j += 1

    finder = keras_lr.LRFinder(
        1e-3, 1.0, num_steps=num_steps, restore=False, stop_on_divergence=False, verbose=0
    )
    model.fit(batches(), steps_per_epoch=3, epochs=20, callbacks=[finder], verbose=0)
    rates32 = ladder(1e-3, 1.0, num_steps, "exponential").astype(np.float32)
    weight = -np.concatenate([[0.0], np.cumsum(rates32[:-1], dtype=np.float64)])
    batch_mean = np.arange(num_steps) * accumulation + (accumulation - 1) / 2
    np.testing.assert_allclose(finder.history["loss"], weight + batch_mean, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("accumulation", [1, 2, 4])
def test_find_lr_runs_num_steps_updates_under_accumulation(accumulation):
    # Ten one-hot rows, batch_size=1, shuffled: whatever the order, each update
    # moves the probe weights by -lr_k in total, so minus their sum is the sum
    # of the applied rates; find_lr must run num_steps * N batches for it.
    num_steps = 6
    optimizer = accumulating(keras.optimizers.SGD, 0.5, accumulation)
    probe = RateProbe(10, optimizer=optimizer)
    x, y = np.eye(10, dtype="float32"), np.zeros((10, 1), "float32")
    finder = keras_lr.find_lr(
        probe.model,
        x,
        y,
        batch_size=1,
        min_lr=1e-3,
        max_lr=0.5,
        num_steps=num_steps,
        restore=False,
        stop_on_divergence=False,
        verbose=0,
    )
    assert len(finder.history) == num_steps
    assert int(ops.convert_to_numpy(optimizer.iterations)) == num_steps
    np.testing.assert_allclose(finder.history["lr"], ladder(1e-3, 0.5, num_steps, "exponential"))
    np.testing.assert_allclose(probe.rates().sum(), finder.history["lr"].sum(), rtol=1e-5)


def test_gradient_accumulation_divergence_per_step_mid_update_start_and_restore():
    # A fit that ended one batch into an update: the test's first step
    # completes it (one batch), each later step is two; divergence is judged
    # per step, and the restore puts the gradient accumulators back too.
    model = stateful_model()
    model.compile(optimizer=accumulating(keras.optimizers.Adam, 1e-3, 2), loss="mse")
    x, y = regression_data()
    model.fit(x[:224], y[:224], batch_size=32, epochs=1, verbose=0)  # 7 batches
    before = state_of(model)
    assert np.any([np.any(v) for v in model.optimizer._accumulated_gradients])
    counter = BatchCounter()
    with pytest.warns(UserWarning, match="1 of 2 batches into an accumulated update"):
        with keras_lr.LRFinder(1e-4, 1e3, num_steps=60, verbose=0) as finder:
            model.fit(x, y, batch_size=16, epochs=20, callbacks=[finder, counter], verbose=0)
    history = finder.history
    assert finder.diverged_at is not None and len(history) == finder.diverged_at + 1 < 60
    assert counter.batches == 2 * len(history) - 1
    assert_same_state(before, state_of(model))


# -- one callback drives the rate ---------------------------------------------------------


@pytest.mark.parametrize("finder_first", [True, False])
def test_finder_with_another_scheduling_callback_is_refused_before_training(finder_first):
    probe = RateProbe(8)
    finder = keras_lr.LRFinder(num_steps=4, verbose=0)
    cyclic = keras_lr.CyclicLR(0.1, 0.3, step_size=2)
    callbacks = [finder, cyclic] if finder_first else [cyclic, finder]
    with pytest.raises(ValueError, match="(LRFinder and CyclicLR|CyclicLR and LRFinder) both set"):
        with finder:
            probe.fit(callbacks, epochs=1, steps_per_epoch=4)
    assert int(ops.convert_to_numpy(probe.model.optimizer.iterations)) == 0
    assert not np.any(probe.rates())  # not a step was trained


def test_finder_gives_the_optimizer_back_at_the_end():
    probe = RateProbe(8)
    finder = keras_lr.LRFinder(1e-3, 0.5, num_steps=4, stop_on_divergence=False, verbose=0)
    optimizer = probe.model.optimizer
    claims = []

    class SeesTheClaim(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            claims.append(optimizer.__dict__.get("__keras_lr_driver"))

    probe.fit([finder, SeesTheClaim()], epochs=1, steps_per_epoch=4)
    assert claims and all(held is not None and held[0] is finder for held in claims)
    assert optimizer.__dict__.get("__keras_lr_driver") is None
    # The next fit may be driven by a scheduling callback.
    probe.fit([keras_lr.CyclicLR(0.1, 0.3, step_size=2)], epochs=1, steps_per_epoch=4)


# -- an interrupted restore -----------------------------------------------------------------


def test_restore_interrupted_by_a_second_ctrl_c_can_be_finished(monkeypatch):
    # Ctrl-C at step 7 starts the restore (`with` exits); a second Ctrl-C lands
    # in it, at the second weight.  The saved copy must survive, so that
    # `restore_model()` afterwards puts everything back bit for bit.
    model = stateful_model()
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)
    target = model.trainable_variables[1]
    cls = type(target)
    assign = cls.assign
    interrupts = {"armed": False, "fired": 0}

    def interrupted_assign(self, value):
        if self is target and interrupts["armed"] and not interrupts["fired"]:
            interrupts["fired"] += 1
            raise KeyboardInterrupt("second Ctrl-C")
        return assign(self, value)

    monkeypatch.setattr(cls, "assign", interrupted_assign)

    finder = keras_lr.LRFinder(num_steps=30, verbose=0)
    rng = {}

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 7:
                # NumPy's stream as the test found it, and a draw from it.
                rng["start"] = finder._snapshot.rng_states["numpy"][1].copy()
                np.random.random()
                interrupts["armed"] = True
                raise KeyboardInterrupt("first Ctrl-C")

    with pytest.raises(KeyboardInterrupt, match="second"):
        with finder:
            model.fit(x, y, batch_size=16, epochs=2, callbacks=[finder, CtrlC()], verbose=0)
    assert interrupts["fired"] == 1
    finder.restore_model()
    assert_same_state(before, state_of(model))
    np.testing.assert_array_equal(np.random.get_state()[1], rng["start"])
    finder.restore_model()  # done: a no-op
    assert_same_state(before, state_of(model))


# -- a test whose loss never falls ----------------------------------------------------------


def trained_least_squares(seed=0):
    """A linear model already at its least-squares solution, and its data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 1)) + 0.3 * rng.normal(size=(512, 1))).astype("float32")
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    w, *_ = np.linalg.lstsq(np.c_[x, np.ones(512)], y, rcond=None)
    model.set_weights([w[:10].astype("float32"), w[10].astype("float32")])
    return model, x, y


def test_falls_reads_a_descent_through_noise():
    # Over many noisy curves: a flat one rarely counts as falling, one that
    # halves over its second half nearly always does.
    rng = np.random.default_rng(0)
    halving = np.r_[np.ones(50), np.linspace(1.0, 0.5, 50)]
    curves = [1.0 + 0.1 * rng.standard_normal(100) for _ in range(200)]
    assert np.mean([_reliability.falls(c, 10) for c in curves]) < 0.1
    assert np.mean([_reliability.falls(c * halving, 10) for c in curves]) > 0.95
    # A tenth is the least drop that counts, however quiet the curve.
    assert not _reliability.falls(np.r_[np.ones(10), np.full(10, 0.91)], 10)
    assert _reliability.falls(np.r_[np.ones(10), np.full(10, 0.89)], 10)
    # Losses that go negative are compared as they are.
    assert _reliability.falls(-np.linspace(0.0, 1.0, 30), 3)
    assert not _reliability.falls(np.zeros(30), 3)
    # Too short to tell, or a start that is not finite.
    assert not _reliability.falls(np.ones(3), 3)
    assert not _reliability.falls(np.r_[np.nan, np.ones(20), np.full(10, 0.1)], 3)
    # A non-finite loss spoils only the runs that hold it.
    assert _reliability.falls(np.r_[np.ones(10), np.inf, np.full(10, 0.5)], 3)


def test_already_trained_model_is_marked_unreliable(capsys):
    # The loss is at its floor: it can only stay there, then diverge.
    model, x, y = trained_least_squares()
    with pytest.warns(UserWarning, match="never fell.*already trained.*lower `min_lr`"):
        finder = keras_lr.find_lr(
            model, x, y, batch_size=32, min_lr=1e-6, max_lr=10.0, num_steps=60, verbose=1
        )
    assert finder.diverged_at is not None
    assert finder.reliable is False and "never fell" in finder.unreliable_reason
    summary = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("LRFinder:")
    ]
    assert len(summary) == 1 and "no reliable suggestion" in summary[0]
    assert "suggested learning rate" not in summary[0]
    with pytest.warns(UserWarning, match="zero-lag minimum/3 suggestion .* is unreliable"):
        rate = finder.suggestion()
    assert 1e-6 <= rate <= 10.0
    with pytest.warns(UserWarning, match="unreliable"):
        found = finder.suggestions()
    assert all(1e-6 <= r <= 10.0 for r in found.values() if np.isfinite(r))


def test_divergence_in_the_first_steps_is_unreliable_and_minimum_stays_in_the_ladder():
    # A ladder that starts above the divergence rate stops at once; its
    # lowest loss is at min_lr, and "minimum/10" would be min_lr / 10.
    model = stateful_model()
    x, y = regression_data()
    with pytest.warns(UserWarning, match="within the first tenth.*lower `min_lr`"):
        finder = keras_lr.find_lr(
            model, x, y, batch_size=16, min_lr=30.0, max_lr=1e5, num_steps=50, verbose=0
        )
    assert finder.diverged_at is not None and finder.diverged_at < 5
    assert not finder.reliable
    with pytest.warns(UserWarning, match="minimum/10 suggestion"):
        assert finder.suggestion("minimum") == 30.0  # clipped to min_lr
    with pytest.warns(UserWarning, match="unreliable"):
        found = finder.suggestions()
    assert all(30.0 <= r <= 1e5 for r in found.values() if np.isfinite(r))


def test_plot_says_the_suggestions_are_unreliable():
    import matplotlib

    matplotlib.use("Agg")
    model, x, y = trained_least_squares()
    with pytest.warns(UserWarning):
        finder = keras_lr.find_lr(
            model, x, y, batch_size=32, min_lr=1e-6, max_lr=10.0, num_steps=60, verbose=0
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the plot says it in the legend instead
        ax = finder.plot()
    marks = [line.get_label() for line in ax.get_lines() if ":" in line.get_label()]
    assert marks and all(label.endswith("(unreliable)") for label in marks)
    assert any(label.startswith("minimum/10: ") for label in marks)


# -- configuration --------------------------------------------------------------------------


def test_config_round_trips_through_from_config():
    x, y = regression_data(n=32)
    finder = keras_lr.LRFinder(
        1e-5,
        3.0,
        num_steps=50,
        mode="linear",
        smoothing=0.9,
        divergence_threshold=3.0,
        stop_on_divergence=False,
        restore=False,
        verbose=0,
        validation_data=(x, y),
        validation_every=5,
    )
    config = finder.get_config()
    arguments = set(inspect.signature(keras_lr.LRFinder).parameters)
    # Data has no place in a config: every other argument is there.
    assert set(config) == arguments - {"validation_data"}
    back = keras_lr.LRFinder.from_config(config)
    assert type(back) is keras_lr.LRFinder and back is not finder
    assert back.get_config() == config
    assert back.validation_data is None
    np.testing.assert_array_equal(back.rates, finder.rates)
    default = keras_lr.LRFinder()
    assert keras_lr.LRFinder.from_config(default.get_config()).get_config() == default.get_config()
