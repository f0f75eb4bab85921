"""keras_lr.ReduceLROnPlateau measured through a real `model.fit`.

A callback listed first writes a chosen value into the epoch logs
(`logs["val_fake"] = metrics[epoch]`), so each test decides exactly which
epochs are "bad"; the `RateProbe` then shows the rate applied at every step.
Alone, the callback must reduce a float rate exactly as Keras's
`ReduceLROnPlateau` does (both are run on the same tables, and with the same
arguments side by side: same rate every epoch, same logged `learning_rate`);
`threshold_mode="rel"` follows PyTorch's rule; mode "auto" reads the
direction of the compiled metric, as Keras does.  Composed with a schedule it
must scale the schedule, keeping its shape.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest
from conftest import RateProbe, assert_rates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_lr
from keras_lr import schedules as S

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

# float32 evaluation of a schedule inside the step: an ulp or two of the peak.
F32_ATOL = 1.5e-7
LR0 = 0.5


class Inject(keras.callbacks.Callback):
    """Writes `metrics[epoch]` under `key` into the epoch logs."""

    def __init__(self, metrics, key="val_fake"):
        super().__init__()
        self.metrics = list(metrics)
        self.key = key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.metrics[epoch]


def run(callbacks, epochs, spe, optimizer=None):
    probe = RateProbe(epochs * spe, optimizer=optimizer)
    history = probe.fit(callbacks, epochs=epochs, steps_per_epoch=spe)
    return probe, history


def plateau_min(**kwargs):
    """Ours on the injected `val_fake`, minimised: no compiled metric of that
    name tells mode "auto" a direction."""
    return keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, mode="min", **kwargs)


def per_epoch(rates, spe):
    """Checks the rate is constant inside each epoch and returns one per epoch."""
    rates = np.asarray(rates).reshape(-1, spe)
    np.testing.assert_array_equal(rates, rates[:, :1].repeat(spe, axis=1))
    return rates[:, 0]


# -- alone, with a float rate: Keras's behaviour ---------------------------------

# (keras_lr kwargs, Keras kwargs or None when Keras has no equivalent, metric per
# epoch, expected rate of each epoch); factor 0.5 from LR0 = 0.5 throughout.
SCENARIOS = {
    "patience": (
        dict(patience=2, min_delta=0.0, mode="min"),
        dict(patience=2, min_delta=0.0, mode="min"),
        [1.0, 0.9, 0.95, 0.96, 0.8, 0.85],
        [0.5, 0.5, 0.5, 0.5, 0.25, 0.25],
    ),
    "patience_0_reduces_on_every_bad_epoch": (
        dict(patience=0, min_delta=0.0, mode="min"),
        dict(patience=0, min_delta=0.0, mode="min"),
        [1.0, 0.9, 0.95, 0.8, 0.85],
        [0.5, 0.5, 0.5, 0.25, 0.25],
    ),
    "cooldown": (
        dict(patience=1, cooldown=2, min_delta=0.0, mode="min"),
        dict(patience=1, cooldown=2, min_delta=0.0, mode="min"),
        [1.0] * 8,
        [0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625, 0.0625],
    ),
    "min_lr": (
        dict(patience=1, min_lr=0.1, min_delta=0.0, mode="min"),
        dict(patience=1, min_lr=0.1, min_delta=0.0, mode="min"),
        [1.0] * 6,
        [0.5, 0.5, 0.25, 0.125, 0.1, 0.1],
    ),
    "min_delta_abs": (
        # Each epoch improves by 0.2 > 0.1: never a plateau.
        dict(patience=2, min_delta=0.1, threshold_mode="abs", mode="min"),
        dict(patience=2, min_delta=0.1, mode="min"),
        [10.0, 9.7, 9.5, 9.3, 9.1, 8.9],
        [0.5] * 6,
    ),
    "min_delta_rel": (
        # Improvement needs current < best * 0.9: only 8.9 < 9.0 counts.
        dict(patience=2, min_delta=0.1, threshold_mode="rel", mode="min"),
        None,
        [10.0, 9.7, 9.5, 9.3, 9.1, 8.9],
        [0.5, 0.5, 0.5, 0.25, 0.25, 0.125],
    ),
    "mode_max": (
        dict(patience=1, min_delta=0.0, mode="max"),
        dict(patience=1, min_delta=0.0, mode="max"),
        [0.1, 0.2, 0.3, 0.25, 0.4, 0.5],
        [0.5, 0.5, 0.5, 0.5, 0.25, 0.25],
    ),
    "mode_min_on_rising_metric": (
        dict(patience=1, min_delta=0.0, mode="min"),
        dict(patience=1, min_delta=0.0, mode="min"),
        [0.1, 0.2, 0.3, 0.25, 0.4, 0.5],
        [0.5, 0.5, 0.25, 0.125, 0.0625, 0.03125],
    ),
}


ALONE = [(name, "keras_lr") for name in sorted(SCENARIOS)] + [
    # The reference: Keras's own callback on the same tables (it has no "rel").
    (name, "keras")
    for name in sorted(SCENARIOS)
    if SCENARIOS[name][1] is not None
]


@pytest.mark.parametrize("name, impl", ALONE)
def test_alone_reduces_a_float_rate_like_keras(name, impl):
    ours, theirs, metrics, expected = SCENARIOS[name]
    if impl == "keras_lr":
        plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, **ours)
    else:
        plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_fake", factor=0.5, **theirs)
    probe, _ = run([Inject(metrics), plateau], len(metrics), 2)
    assert_rates(per_epoch(probe.rates(), 2), expected)


# -- alone, with Keras's defaults: the same run as Keras's callback -------------

NAN = float("nan")


class SetRate(keras.callbacks.Callback):
    """Sets the float rate at the start of chosen epochs, as a user's callback may."""

    def __init__(self, rates):
        super().__init__()
        self.rates = dict(rates)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch in self.rates:
            self.model.optimizer.learning_rate = self.rates[epoch]


class RateAfter(keras.callbacks.Callback):
    """Listed last: the float rate each epoch leaves for the next one."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def keras_and_ours(kwargs, metrics, monitor="val_loss", set_rates=()):
    """One `fit` with Keras's callback, one with ours, same arguments and metrics.

    Returns, per implementation: the rate applied in each epoch, the rate left
    after each epoch, the logged `learning_rate`, and the epochs after which
    the rate was reduced (read from the rates, so the same for both).
    """
    out = {}
    for impl, cls in (
        ("keras", keras.callbacks.ReduceLROnPlateau),
        ("ours", keras_lr.ReduceLROnPlateau),
    ):
        after = RateAfter()
        callbacks = [
            SetRate(set_rates),
            Inject(metrics, key=monitor),
            cls(monitor=monitor, **kwargs),
            after,
        ]
        probe, history = run(callbacks, len(metrics), 1)
        applied = per_epoch(probe.rates(), 1)
        reduced = [e for e, (a, b) in enumerate(zip(applied, after.rates)) if b < a]
        out[impl] = (applied, np.array(after.rates), history.history["learning_rate"], reduced)
        out[impl + "_callback"] = callbacks[2]
    return out


# (arguments beyond monitor="val_loss" -- none: Keras's defaults --, monitored
# value per epoch, {epoch: rate set at its start}, Keras's reduction epochs).
KERAS_DEFAULT_RUNS = {
    "defaults_constant": ({}, [1.0] * 23, {}, [10, 20]),
    # Steps of 1e-6 are under the absolute 1e-4 (no improvement) but over a
    # relative 1e-4 of 1e-3.
    "defaults_tiny_steps": ({}, [1e-3 - 1e-6 * i for i in range(23)], {}, [10, 20]),
    # Steps of 0.005 are over the absolute 1e-4 but under a relative 1e-4 of 100.
    "large_slow_steps": (dict(patience=2), [100.0 - 0.005 * i for i in range(10)], {}, []),
    "negative_slow_steps": (dict(patience=2), [-100.0 - 0.005 * i for i in range(10)], {}, []),
    "negative_max": (
        dict(patience=2, mode="max"),
        [-100.0 + 0.005 * i for i in range(8)] + [-99.96] * 4,
        {},
        [10],
    ),
    "negative_plateau": (
        dict(patience=2),
        [-1.0, -1.00005, -1.00005, -1.2, -1.2, -1.2, -1.2, -1.3],
        {},
        [2, 5],
    ),
    # 1.0 - 1e-4 - 1e-9 improves on 1.0 in float64 but not in Keras's float32.
    "float32_threshold": (
        dict(patience=1),
        [1.0, 1.0 - 1e-4 - 1e-9, 0.5, 0.5 - 1e-4 - 1e-12, 0.4],
        {},
        [1, 3],
    ),
    "patience_0": (dict(patience=0), [1.0, 1.0, 0.5, 0.6, 0.4], {}, [1, 3]),
    "cooldown": (dict(patience=1, cooldown=2), [1.0] * 9, {}, [1, 3, 5, 7]),
    "cooldown_and_improvements": (
        dict(patience=2, cooldown=1, factor=0.5),
        [1.0, 1.0, 1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85],
        {},
        [2, 5, 9],
    ),
    "min_lr": (dict(patience=1, min_lr=0.004), [1.0] * 6, {}, [1, 2, 3]),
    # At min_lr nothing is reduced: no cooldown starts and the wait goes on, so
    # once the rate is raised again the next bad epoch reduces it.
    "min_lr_then_raised": (
        dict(patience=1, cooldown=2, min_lr=0.01),
        [1.0] * 10,
        {6: 0.5},
        [1, 3, 6, 8],
    ),
    # The rate 0.1 in float32 is above 0.1 in float64: Keras compares in float32.
    "min_lr_in_float32": (dict(patience=1, cooldown=2, min_lr=0.1), [1.0] * 7, {4: 0.5}, [1, 4]),
    "nan": (dict(patience=2, cooldown=1), [1.0, NAN, NAN, 0.5, NAN, NAN, NAN, NAN], {}, [2, 5, 7]),
    "nan_first": (dict(patience=1), [NAN, 1.0, 0.5, 0.4], {}, [1, 2, 3]),
    "mode_max": (dict(patience=1, mode="max"), [0.1, 0.2, 0.2 + 5e-5, 0.3, 0.3, 0.35], {}, [2, 4]),
}


def assert_same_runs(out):
    keras_run, ours = out["keras"], out["ours"]
    np.testing.assert_array_equal(ours[0], keras_run[0])  # rate of each epoch
    np.testing.assert_array_equal(ours[1], keras_run[1])  # rate after each epoch
    assert ours[2] == keras_run[2]  # logged learning_rate
    assert ours[3] == keras_run[3]
    assert out["ours_callback"].reductions["epoch"].tolist() == keras_run[3]


@pytest.mark.parametrize("name", sorted(KERAS_DEFAULT_RUNS))
def test_alone_with_kerass_arguments_runs_exactly_as_keras(name):
    kwargs, metrics, set_rates, reductions = KERAS_DEFAULT_RUNS[name]
    out = keras_and_ours(kwargs, metrics, set_rates=set_rates)
    assert out["keras"][3] == reductions
    assert_same_runs(out)


# Walks from a start by steps around Keras's min_delta (1e-4), its float32
# rounding and a relative 1e-4 of the start, now and then a NaN.
STARTS = [-100.0, -1.0, 1e-3, 1.0, 100.0]
STEPS = [0.0, 5e-5, -5e-5, 1e-4 + 1e-9, -1e-4 - 1e-9, 2e-4, -2e-4, 0.005, -0.005, 0.1, -0.1]


@st.composite
def monitored(draw):
    start = draw(st.sampled_from(STARTS))
    steps = draw(st.lists(st.sampled_from(STEPS), min_size=3, max_size=9))
    values = [float(v) for v in start + np.cumsum(steps)]
    if draw(st.booleans()):
        values[draw(st.integers(0, len(values) - 1))] = NAN
    return values


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metrics=monitored(),
    patience=st.integers(0, 3),
    cooldown=st.integers(0, 2),
    min_lr=st.sampled_from([0.0, 0.004, 0.1]),
    factor=st.sampled_from([0.1, 0.5]),
    min_delta=st.sampled_from([1e-4, 0.0, 0.05]),
    mode=st.sampled_from(["auto", "min", "max"]),
)
def test_alone_runs_as_keras_on_random_metrics(
    metrics, patience, cooldown, min_lr, factor, min_delta, mode
):
    kwargs = dict(
        patience=patience,
        cooldown=cooldown,
        min_lr=min_lr,
        factor=factor,
        min_delta=min_delta,
        mode=mode,
    )
    assert_same_runs(keras_and_ours(kwargs, metrics, set_rates={len(metrics) // 2: LR0}))


# threshold_mode="rel": PyTorch's rule, also for negative values, where a
# value a little worse than the best (or equal to it) counts as improving.
# (mode, min_delta, patience, metric per epoch, reduction epochs)
REL_RUNS = {
    "positive_min": ("min", 0.1, 2, [10.0, 9.7, 9.5, 9.3, 9.1, 8.9, 8.8, 8.8], [2, 4, 7]),
    "negative_min_worse_values_improve": ("min", 0.1, 1, [-10.0, -9.5, -9.2, -8.95, -8.8], []),
    "negative_min_constant_improves": ("min", 0.1, 1, [-10.0] * 5, []),
    "negative_min_large_steps": ("min", 0.1, 1, [-10.0, -8.0, -9.5, -9.0, -7.0], [1, 4]),
    "positive_max": ("max", 0.1, 1, [1.0, 1.05, 1.2, 1.25, 1.4], [1, 3]),
    "negative_max_worse_values_improve": ("max", 0.1, 1, [-10.0, -10.5, -11.0, -11.5, -12.0], []),
    "negative_max_large_steps": ("max", 0.1, 2, [-10.0, -11.5, -12.0, -11.9, -13.0, -14.0], [2, 4]),
}


@pytest.mark.parametrize("name", sorted(REL_RUNS))
def test_threshold_mode_rel_is_pytorchs_rule(name):
    mode, min_delta, patience, metrics, reductions = REL_RUNS[name]
    plateau = keras_lr.ReduceLROnPlateau(
        monitor="val_fake",
        factor=0.5,
        patience=patience,
        mode=mode,
        min_delta=min_delta,
        threshold_mode="rel",
    )
    probe, _ = run([Inject(metrics), plateau], len(metrics), 1)
    assert plateau.reductions["epoch"].tolist() == reductions
    expected = [LR0 * 0.5 ** sum(r < e for r in reductions) for e in range(len(metrics))]
    assert_rates(per_epoch(probe.rates(), 1), expected)

    torch = pytest.importorskip("torch")
    # PyTorch reduces after more than `patience` bad epochs, Keras after `patience`.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR0)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=0.5, patience=patience - 1, threshold=min_delta, threshold_mode="rel"
    )
    theirs = []
    for value in metrics:
        theirs.append(opt.param_groups[0]["lr"])
        scheduler.step(value)
    assert_rates(expected, theirs)


# -- mode "auto": the direction of the compiled metric ---------------------------


def wiggle(y_true, y_pred):
    """A custom metric function: nothing says whether to minimise it."""
    return keras.ops.mean(y_pred)


def classifier(metrics, built):
    """A small compiled classifier on random data; `built` builds its metrics first
    (TensorFlow otherwise builds them in the first training step)."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(LR0), loss="binary_crossentropy", metrics=metrics)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = (rng.random((8, 1)) > 0.5).astype("float32")
    if built:
        model.evaluate(x, y, verbose=0)
    return model, x, y


# (monitor, metrics to compile, maximise?); names given so Keras does not
# number a second instance ("auc_1").
DIRECTIONS = {
    "val_auc": ("val_auc", lambda: [keras.metrics.AUC(name="auc")], True),
    "val_precision": ("val_precision", lambda: [keras.metrics.Precision(name="precision")], True),
    "val_recall": ("val_recall", lambda: [keras.metrics.Recall(name="recall")], True),
    "auc_by_string": ("auc", lambda: ["auc"], True),
    "val_accuracy": ("val_accuracy", lambda: ["accuracy"], True),
    "val_loss": ("val_loss", lambda: [], False),
    "loss": ("loss", lambda: [keras.metrics.AUC(name="auc")], False),
    "val_mean_squared_error": (
        "val_mean_squared_error",
        lambda: [keras.metrics.MeanSquaredError(name="mean_squared_error")],
        False,
    ),
    "mse_by_string": ("val_mse", lambda: ["mse"], False),
    "a_loss_as_metric": (
        "val_binary_crossentropy",
        lambda: [keras.losses.binary_crossentropy],
        False,
    ),
}
# Rising values (written over the real ones): maximised, only epoch 2 is bad;
# minimised, every epoch after the first.
RISING = [0.5, 0.6, 0.6, 0.7]


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "metrics_built"])
@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_mode_auto_reads_the_direction_of_the_compiled_metric(name, built):
    monitor, metrics, maximise = DIRECTIONS[name]
    logged = {}
    for impl, cls in (
        ("ours", keras_lr.ReduceLROnPlateau),
        ("keras", keras.callbacks.ReduceLROnPlateau),
    ):
        if impl == "keras" and built:
            continue  # Keras reads the direction at the first epoch end either way
        model, x, y = classifier(metrics(), built)
        plateau = cls(monitor=monitor, factor=0.5, patience=1, min_delta=0.0)
        callbacks = [Inject(RISING, key=monitor), plateau]
        history = model.fit(x, y, epochs=len(RISING), verbose=0, callbacks=callbacks)
        logged[impl] = history.history["learning_rate"]
        if impl == "ours":
            assert plateau.reductions["epoch"].tolist() == ([2] if maximise else [1, 2, 3])
    if "keras" in logged:
        assert logged["ours"] == logged["keras"]


def test_mode_auto_reads_a_per_output_loss_as_minimised():
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs,
        {
            "a": keras.layers.Dense(1, name="a")(inputs),
            "b": keras.layers.Dense(1, name="b")(inputs),
        },
    )
    model.compile(optimizer=keras.optimizers.SGD(LR0), loss={"a": "mse", "b": "mse"})
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = {"a": x[:, :1], "b": x[:, 1:2]}
    assert "a_loss" in model.evaluate(x, y, verbose=0, return_dict=True)
    plateau = keras_lr.ReduceLROnPlateau(
        monitor="val_a_loss", factor=0.5, patience=1, min_delta=0.0
    )
    callbacks = [Inject(RISING, key="val_a_loss"), plateau]
    model.fit(x, y, epochs=len(RISING), verbose=0, callbacks=callbacks)
    assert plateau.reductions["epoch"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "metrics_built"])
@pytest.mark.parametrize("monitor", ["val_wiggle", "val_not_a_metric"])
def test_mode_auto_without_a_direction_raises_before_the_first_step(monitor, built):
    model, x, y = classifier([wiggle], built)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel).copy()
    plateau = keras_lr.ReduceLROnPlateau(monitor=monitor)
    with pytest.raises(ValueError, match=f"monitor='{monitor}', mode='auto'") as raised:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[plateau])
    assert "mode='min' or mode='max'" in str(raised.value)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].kernel), kernel)
    # An explicit mode needs no direction.
    values = [1.0, 1.0, 1.0]
    plateau = keras_lr.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1, mode="max")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Inject(values, key=monitor), plateau])
    assert plateau.reductions["epoch"].tolist() == [1, 2]


def test_alone_history_records_each_reduction():
    metrics, spe = [1.0] * 6, 2
    plateau = plateau_min(patience=1, min_lr=0.1)
    run([Inject(metrics), plateau], len(metrics), spe)
    hist = plateau.reductions
    assert list(hist.columns) == ["epoch", "step", "old_lr", "new_lr"]
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert hist["step"].tolist() == [4, 6, 8]
    # `.history`, the old name, warns and gives the same table.
    with pytest.warns(
        DeprecationWarning,
        match=r"ReduceLROnPlateau: attribute `history` is deprecated.*`reductions`",
    ):
        old = plateau.history
    assert old.equals(hist)
    np.testing.assert_allclose(hist["old_lr"], [0.5, 0.25, 0.125], rtol=1e-6)
    np.testing.assert_allclose(hist["new_lr"], [0.25, 0.125, 0.1], rtol=1e-6)


@pytest.mark.parametrize("impl", ["keras_lr", "keras"])
def test_logs_learning_rate_is_the_rate_of_the_epoch_alone(impl):
    """`learning_rate` in the epoch logs is the rate the epoch trained with, as in Keras."""
    metrics, spe = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85], 2
    cls = keras_lr.ReduceLROnPlateau if impl == "keras_lr" else keras.callbacks.ReduceLROnPlateau
    plateau = cls(monitor="val_fake", factor=0.5, patience=2, min_delta=0.0, mode="min")
    probe, history = run([Inject(metrics), plateau], len(metrics), spe)
    last_step_rates = probe.rates()[spe - 1 :: spe]
    assert_rates(history.history["learning_rate"], last_step_rates)


# -- composed with a schedule -------------------------------------------------

SPE, EPOCHS = 4, 6
TOTAL = SPE * EPOCHS
# Bad epochs (patience 1): 2, 4 and 5 -> reductions after epochs 2, 4, 5.
METRICS = [1.0, 0.9, 0.95, 0.8, 0.85, 0.9]


def smith_triangular(i, base=0.1, peak=0.5, step_size=3):
    cycle = math.floor(1 + i / (2 * step_size))
    x = abs(i / step_size - 2 * cycle + 1)
    return base + (peak - base) * max(0.0, 1 - x)


def cosine(i, max_lr=0.5, min_lr=0.05, total=TOTAL):
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * min(i, total) / total)) / 2


SCHEDULES = {
    "cyclic": (lambda: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3), smith_triangular),
    "cosine": (lambda: keras_lr.CosineAnnealing(max_lr=0.5, min_lr=0.05), cosine),
}


def expected_scales(base, metrics, factor, min_lr=0.0, spe=SPE):
    """Scale per epoch under the documented rule (patience 1, min_delta 0, mode min).

    At a reduction after epoch e (next step s = (e + 1) * spe) the scale becomes
    max(scale * factor, min_lr / base(s)), and nothing happens when the rate at s
    is already <= min_lr.  Returns (scale per epoch, list of reductions).
    """
    scale, best, scales, reductions = 1.0, None, [], []
    for e, m in enumerate(metrics):
        scales.append(scale)
        if best is None or m < best:
            best = m
            continue
        s = (e + 1) * spe
        old = scale * base(s)
        if old <= min_lr:
            continue
        scale = max(scale * factor, min_lr / base(s))
        reductions.append((e, s, old, scale * base(s)))
    return np.array(scales), reductions


def composed(kind, order, plateau, metrics=METRICS):
    make, base = SCHEDULES[kind]
    scheduler = make()
    middle = [scheduler, plateau] if order == "plateau_last" else [plateau, scheduler]
    probe, history = run([Inject(metrics)] + middle, EPOCHS, SPE)
    return probe, history, scheduler, base


ORDERS = pytest.mark.parametrize("order", ["plateau_last", "plateau_first"])
KINDS = pytest.mark.parametrize("kind", sorted(SCHEDULES))


@ORDERS
@KINDS
def test_composed_reduction_scales_the_schedule_and_keeps_its_shape(kind, order):
    plateau = plateau_min(patience=1, min_delta=0.0)
    probe, _, scheduler, base = composed(kind, order, plateau)
    scales, reductions = expected_scales(base, METRICS, 0.5)
    assert scales.tolist() == [1, 1, 1, 0.5, 0.5, 0.25]
    base_rates = np.array([base(i) for i in range(TOTAL)])
    applied = probe.rates()
    assert_rates(applied, base_rates * np.repeat(scales, SPE), atol=F32_ATOL)
    # The shape is kept: inside an epoch, applied / schedule is the epoch's scale.
    assert_rates(applied / base_rates, np.repeat(scales, SPE), rtol=1e-5)
    # The schedule's own history shows the scaled rates too.
    assert_rates(scheduler.history["lr"].to_numpy(), applied, atol=F32_ATOL)

    hist = plateau.reductions
    assert hist["epoch"].tolist() == [r[0] for r in reductions] == [2, 4, 5]
    assert hist["step"].tolist() == [r[1] for r in reductions]
    np.testing.assert_allclose(hist["old_lr"], [r[2] for r in reductions], rtol=1e-6)
    np.testing.assert_allclose(hist["new_lr"], [r[3] for r in reductions], rtol=1e-6)


@ORDERS
def test_composed_min_lr_bounds_the_reduction(order):
    # Cosine at step 12 is 0.275: halving would give 0.1375 < min_lr = 0.2, so
    # the scale stops at 0.2 / 0.275; at step 20 the rate is under min_lr: no
    # further reduction.
    plateau = plateau_min(patience=1, min_delta=0.0, min_lr=0.2)
    probe, _, _, base = composed("cosine", order, plateau)
    scales, reductions = expected_scales(base, METRICS, 0.5, min_lr=0.2)
    assert len(reductions) == 1
    np.testing.assert_allclose(scales[3:], 0.2 / cosine(12), rtol=1e-12)
    applied = probe.rates()
    assert_rates(
        applied, np.array([base(i) for i in range(TOTAL)]) * np.repeat(scales, SPE), atol=F32_ATOL
    )
    assert applied[12] == pytest.approx(0.2, rel=1e-6)
    assert plateau.reductions["epoch"].tolist() == [2]


@ORDERS
@KINDS
def test_composed_logs_learning_rate_is_the_rate_of_each_epoch(kind, order):
    plateau = plateau_min(patience=1, min_delta=0.0)
    probe, history, _, _ = composed(kind, order, plateau)
    logged = history.history["learning_rate"]
    assert len(logged) == EPOCHS
    assert_rates(logged, probe.rates()[SPE - 1 :: SPE], atol=F32_ATOL)


def test_reduction_carries_into_the_next_fit():
    plateau = plateau_min(patience=1, min_delta=0.0)
    probe = RateProbe(TOTAL)
    scheduler = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    probe.fit([Inject(METRICS), scheduler, plateau], epochs=3, steps_per_epoch=SPE)
    # Reduced once after epoch 2; the next fit, without the plateau callback,
    # keeps the scale and continues the cycle.
    probe.fit([keras_lr.CyclicLR(0.1, 0.5, 3)], epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=3)
    scales = np.repeat([1, 1, 1, 0.5, 0.5, 0.5], SPE)
    expected = np.array([smith_triangular(i) for i in range(TOTAL)]) * scales
    assert_rates(probe.rates(), expected, atol=F32_ATOL)


# -- composed with a Keras schedule in the optimizer -----------------------------


def test_wraps_a_keras_learning_rate_schedule_in_scaled():
    builtin = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.5)
    plateau = plateau_min(patience=1, min_delta=0.0)
    probe, _ = run(
        [Inject(METRICS), plateau],
        EPOCHS,
        SPE,
        optimizer=keras.optimizers.SGD(learning_rate=builtin),
    )
    source = probe.model.optimizer._learning_rate
    assert type(source) is S.Scaled
    assert source.schedule is builtin
    assert source.scale == pytest.approx(0.125)  # three reductions
    scales = np.repeat([1, 1, 1, 0.5, 0.5, 0.25], SPE)
    expected = np.array([0.5 * 0.5 ** (i / 4) for i in range(TOTAL)]) * scales
    assert_rates(probe.rates(), expected, rtol=5e-6, atol=F32_ATOL)
    assert plateau.reductions["epoch"].tolist() == [2, 4, 5]


# -- missing monitor -------------------------------------------------------------


def test_missing_monitor_warns_once_and_changes_nothing():
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_missing", factor=0.5, patience=0, mode="min")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe, history = run([plateau], EPOCHS, 2)
    about = [w for w in caught if "val_missing" in str(w.message)]
    assert len(about) == 1
    assert issubclass(about[0].category, UserWarning)
    np.testing.assert_array_equal(probe.rates(), np.float32(LR0))
    assert len(plateau.reductions) == 0
    assert_rates(history.history["learning_rate"], [LR0] * EPOCHS)


def test_missing_monitor_with_a_schedule_changes_nothing():
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_missing", factor=0.5, patience=0, mode="min")
    scheduler = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    with pytest.warns(UserWarning, match="val_missing"):
        probe, _ = run([scheduler, plateau], EPOCHS, SPE)
    assert_rates(probe.rates(), [smith_triangular(i) for i in range(TOTAL)], atol=F32_ATOL)
    assert len(plateau.reductions) == 0
