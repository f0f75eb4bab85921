"""fastai's "slide" suggestion, and `LRFinder.apply`: the suggestion set as the
optimizer's rate, measured through the next `fit`.  Runs on the current backend.

The models train a scalar weight w whose output is the loss (test_finder's
`weight_model`): under plain SGD one step moves w by exactly -lr, so the
rate a step trained at is read off the weight.
"""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from test_finder import ScalarWeight, identity_loss, synthetic_curve, weight_model

import keras_lr
from keras_lr import _rate
from keras_lr.finder import _suggest

# -- slide on synthetic curves -------------------------------------------------------


def fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """fastai `fastai/callback/schedule.py` `slide(lrs, losses, num_it, lr_diff=15,
    thresh=.005, adjust_value=1.)`, written from its definition: negative
    indices r = -1, l = r - lr_diff slide left while l >= -len(losses) and
    |grad[r] - grad[l]| > thresh, grad = np.gradient(losses); the rate is
    lrs[l] of the last step taken (lrs[-1 - lr_diff] if none), times adjust_value."""
    grad = np.gradient(np.asarray(losses, dtype=np.float64))
    r = -1
    l = r - lr_diff  # noqa: E741 (fastai's name)
    found = lrs[l]
    while l >= -len(losses) and abs(grad[r] - grad[l]) > thresh:
        found = lrs[l]
        r -= 1
        l -= 1  # noqa: E741
    return float(found) * adjust_value


def curves():
    rng = np.random.default_rng(0)
    lrs = np.logspace(-6, 1, 100)
    t = np.log10(lrs)
    return {
        # Flat, a descent at 1e-3, a blow-up after 1e-1 (test_finder's).
        "descent": synthetic_curve()[1],
        # The fastai shape: a slow start, a descent, a floor.
        "floor": 2.0 - 1.5 / (1 + np.exp(-2 * (t + 3))),
        "straight": np.linspace(3.0, 1.0, 100),
        "noisy": 2.0 - 0.01 * np.arange(100) + 0.01 * rng.normal(size=100),
        # Slopes 15 points apart differ by 0.03 everywhere: the slide runs off the start.
        "parabola": 1.0 + 0.001 * (np.arange(100) - 50.0) ** 2,
        "fall_then_rise": np.r_[np.linspace(2.0, 1.0, 90), np.linspace(1.0, 4.0, 10)],
    }


@pytest.mark.parametrize("name", sorted(curves()))
@pytest.mark.parametrize(
    "kwargs", [{}, {"lr_diff": 5, "thresh": 0.02}, {"lr_diff": 30, "adjust_value": 0.5}]
)
def test_slide_is_fastai_slide(name, kwargs):
    lrs = np.logspace(-6, 1, 100)
    curve = curves()[name]
    assert _suggest.slide(lrs, curve, **kwargs) == fastai_slide(lrs, curve, **kwargs)


def test_slide_stops_where_fastai_stops():
    lrs = np.logspace(-6, 1, 100)
    found = {
        name: int(np.argmin(np.abs(lrs - _suggest.slide(lrs, c)))) for name, c in curves().items()
    }
    # A constant slope: the first pair already agrees, lrs[n - 1 - lr_diff].
    assert found["straight"] == 100 - 1 - 15
    # Slopes that differ all the way: the while loop runs off the start, lrs[0].
    assert found["parabola"] == 0
    # Slides from the blow-up until both slopes lie on the straight fall.
    assert found["fall_then_rise"] == 90 - 15 - 1
    # On the floor the slopes agree at once (the end is flat).
    assert found["floor"] == 100 - 1 - 15
    assert 0 < found["descent"] < 100 - 1 - 15


def test_slide_needs_lr_diff_plus_one_finite_points():
    lrs = np.logspace(-4, 0, 16)
    curve = np.r_[np.linspace(2.0, 1.0, 10), np.linspace(1.0, 3.0, 6)]
    assert _suggest.slide(lrs, curve) == fastai_slide(lrs, curve)  # 16 = lr_diff + 1 points
    assert np.isnan(_suggest.slide(lrs[1:], curve[1:]))  # fastai's indexing would fail
    with_nan = np.insert(curve, 5, np.nan)
    assert _suggest.slide(np.insert(lrs, 5, 1e-3), with_nan) == _suggest.slide(lrs, curve)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr_diff": 0}, "lr_diff=0"),
        ({"thresh": -0.1}, "thresh=-0.1"),
        ({"adjust_value": 0.0}, "adjust_value=0.0"),
    ],
)
def test_slide_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _suggest.slide(np.logspace(-4, 0, 30), np.linspace(2.0, 1.0, 30), **kwargs)


# -- range tests ---------------------------------------------------------------------

X = np.zeros((32, 3), dtype="float32")
Y = np.zeros((32, 1), dtype="float32")


def run_test(model, num_steps=30):
    return keras_lr.find_lr(
        model, X, Y, batch_size=32, min_lr=1e-3, max_lr=1.0, num_steps=num_steps, verbose=0
    )


def weight(model, name="scalar"):
    return float(ops.convert_to_numpy(model.get_layer(name).w))


def rate_of(optimizer):
    return float(ops.convert_to_numpy(_rate.rate_source(optimizer)))


def step_once(model):
    model.fit(X, Y, batch_size=32, epochs=1, shuffle=False, verbose=0)


@pytest.fixture(scope="module")
def finder():
    """A reliable range test of `weight_model` (SGD at 0.1); only the first apply test
    changes its model."""
    found = run_test(weight_model())
    assert found.reliable and found.diverged_at is None
    return found


def test_slide_is_a_suggestion_read_off_fastais_curve(finder):
    history = finder.history
    n = finder.num_steps
    # fastai's lr_find: the recorded smoothed losses [num_it // 10 : -5].
    lrs, curve = history["lr"].to_numpy(), history["smoothed_loss"].to_numpy()
    expected = fastai_slide(lrs[n // 10 : -5], curve[n // 10 : -5])
    assert finder.suggestion("slide") == expected
    assert finder.suggestions()["slide"] == expected
    assert list(finder.suggestions()) == list(_suggest.METHODS)


def test_cli_and_plot_list_slide(finder, capsys):
    import matplotlib

    from keras_lr.cli._commands import print_suggestions

    matplotlib.use("Agg")
    print_suggestions(finder)
    slide = re.escape(f"{finder.suggestion('slide'):.3g}")
    assert re.search(rf"^  slide +{slide}$", capsys.readouterr().out, re.M)
    labels = [line.get_label() for line in finder.plot().get_lines()]
    assert f"slide: {finder.suggestion('slide'):.2g}" in labels


def test_apply_sets_the_suggestion_and_the_next_fit_trains_at_it(finder):
    model = finder.model  # the model the test ran on, restored to w = 0 and rate 0.1
    assert weight(model) == 0.0 and rate_of(model.optimizer) == np.float32(0.1)
    rate = finder.apply()
    assert rate == finder.suggestion() and rate != pytest.approx(0.1)
    assert rate_of(model.optimizer) == np.float32(rate)
    step_once(model)
    assert -weight(model) == np.float32(rate)  # one SGD step of rate `rate`


def test_apply_takes_a_method_and_another_model(finder):
    other = weight_model(optimizer=keras.optimizers.SGD(0.2))
    own = rate_of(finder.model.optimizer)
    assert finder.apply(other, method="slide") == finder.suggestion("slide")
    assert rate_of(other.optimizer) == np.float32(finder.suggestion("slide"))
    step_once(other)
    assert -weight(other) == np.float32(finder.suggestion("slide"))
    assert rate_of(finder.model.optimizer) == own  # the model the test ran on is left alone


def test_apply_sets_the_inner_optimizer_of_a_loss_scale_optimizer(finder):
    other = weight_model(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.2)))
    rate = finder.apply(other)
    assert rate_of(other.optimizer.inner_optimizer) == np.float32(rate)
    step_once(other)
    assert -weight(other) == pytest.approx(rate, rel=1e-6)


def two_weights(optimizer):
    inputs = keras.Input((3,))
    a, b = ScalarWeight(name="first")(inputs), ScalarWeight(name="second")(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    model.compile(optimizer=optimizer(model), loss=identity_loss)
    return model


needs_multi = pytest.mark.skipif(
    not hasattr(keras.optimizers, "MultiOptimizer"), reason="keras.optimizers.MultiOptimizer"
)


def multi(first, second):
    """A MultiOptimizer: `second` for the layer "second", `first` for the rest."""
    return lambda model: keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(first, {"second/.*": second})
    )


@needs_multi
def test_apply_sets_every_optimizer_of_a_multi_optimizer_keeping_layer_decay(finder):
    sgd = keras.optimizers.SGD(0.1)
    model = two_weights(lambda m: keras_lr.layer_decay(m, sgd, 0.5, groups=["first", "second"]))
    rate = finder.apply(model)
    assert rate == finder.suggestion()
    # Group 0 ("first") keeps its factor 0.5, as under the scheduling callbacks.
    groups = {opt.name: rate_of(opt) for opt in model.optimizer.optimizers}
    assert sorted(groups.values()) == [np.float32(0.5 * rate), np.float32(rate)]
    step_once(model)
    assert -weight(model, "first") == pytest.approx(0.5 * rate, rel=1e-6)
    assert -weight(model, "second") == pytest.approx(rate, rel=1e-6)


@needs_multi
def test_apply_sets_each_plain_sub_optimizer(finder):
    model = two_weights(multi(keras.optimizers.SGD(0.2), keras.optimizers.SGD(0.3)))
    rate = finder.apply(model)
    assert [rate_of(opt) for opt in model.optimizer.optimizers] == [np.float32(rate)] * 2
    step_once(model)
    assert -weight(model, "first") == pytest.approx(rate, rel=1e-6)
    assert -weight(model, "second") == pytest.approx(rate, rel=1e-6)


# -- refusals: nothing changes -----------------------------------------------------------


def decay():
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)


def test_apply_refuses_a_schedule_and_leaves_it(finder):
    schedule = decay()
    model = weight_model(optimizer=keras.optimizers.SGD(schedule))
    with pytest.raises(TypeError, match=r"ExponentialDecay.*OneCycleLR\(max_lr=finder"):
        finder.apply(model)
    assert _rate.rate_source(model.optimizer) is schedule


@needs_multi
def test_apply_refuses_a_multi_optimizer_with_one_schedule_before_setting_any(finder):
    float_rate = keras.optimizers.SGD(0.3)
    model = two_weights(multi(keras.optimizers.SGD(decay()), float_rate))
    # The float one comes first: it would be set before the schedule was seen.
    assert _rate.optimizers_of(model, "test")[0] is float_rate
    with pytest.raises(TypeError, match="ExponentialDecay"):
        finder.apply(model)
    assert rate_of(float_rate) == np.float32(0.3)


def test_apply_refuses_a_finder_without_results_and_an_uncompiled_model(finder):
    model = weight_model()
    with pytest.raises(ValueError, match="no results"):
        keras_lr.LRFinder().apply(model)
    bare = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled model.*model.compile"):
        finder.apply(bare)
    with pytest.raises(TypeError, match="`model` must be a compiled `keras.Model`"):
        finder.apply(model.optimizer)
    with pytest.raises(ValueError, match="`method`"):
        finder.apply(model, method="best")
    assert rate_of(model.optimizer) == np.float32(0.1)


def flat_loss(y_true, y_pred):
    return ops.mean(0.0 * y_pred, axis=-1) + 1.0


def test_apply_on_an_unreliable_test_warns_as_suggestion_and_a_short_curve_raises():
    model = weight_model(loss=flat_loss)
    with pytest.warns(UserWarning, match="never fell"):
        finder = run_test(model, num_steps=20)
    assert not finder.reliable
    # 20 steps leave 13 points, fewer than slide's lr_diff + 1 = 16.
    with pytest.raises(ValueError, match="method='slide'"):
        finder.apply(method="slide")
    assert rate_of(model.optimizer) == np.float32(0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rate = finder.apply()
    (warning,) = [w for w in caught if "LRFinder" in str(w.message)]
    message = str(warning.message)
    assert "zero-lag minimum/3 rate" in message and "unreliable" in message
    assert warning.filename == __file__  # said at the caller's line
    assert rate_of(model.optimizer) == np.float32(rate)
