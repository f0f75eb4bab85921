"""keras_lr.ReduceLROnPlateau measured through a real `model.fit`.

A callback listed first writes a chosen value into the epoch logs
(`logs["val_fake"] = metrics[epoch]`), so each test decides exactly which
epochs are "bad"; the `RateProbe` then shows the rate applied at every step.
Alone, the callback must reduce a float rate exactly as Keras's
`ReduceLROnPlateau` does (both are run on the same tables); composed with a
schedule it must scale the schedule, keeping its shape.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest
from conftest import RateProbe, assert_rates

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


@pytest.mark.parametrize(
    "monitor, mode, metrics, expected",
    [
        # "acc" in the name: maximise.
        ("val_fake_acc", "auto", [0.1, 0.2, 0.3, 0.25, 0.4, 0.5], [0.5, 0.5, 0.5, 0.5, 0.25, 0.25]),
        # Anything else: minimise.
        (
            "val_fake",
            "auto",
            [0.1, 0.2, 0.3, 0.25, 0.4, 0.5],
            [0.5, 0.5, 0.25, 0.125, 0.0625, 0.03125],
        ),
        ("val_loss", "auto", [1.0, 0.9, 0.8, 0.85, 0.7, 0.6], [0.5, 0.5, 0.5, 0.5, 0.25, 0.25]),
    ],
)
def test_mode_auto_picks_the_direction_from_the_name(monitor, mode, metrics, expected):
    plateau = keras_lr.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1, min_delta=0.0)
    probe, _ = run([Inject(metrics, key=monitor), plateau], len(metrics), 2)
    assert_rates(per_epoch(probe.rates(), 2), expected)


def test_alone_history_records_each_reduction():
    metrics, spe = [1.0] * 6, 2
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, patience=1, min_lr=0.1)
    run([Inject(metrics), plateau], len(metrics), spe)
    hist = plateau.history
    assert list(hist.columns) == ["epoch", "step", "old_lr", "new_lr"]
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert hist["step"].tolist() == [4, 6, 8]
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
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, patience=1, min_delta=0.0)
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

    hist = plateau.history
    assert hist["epoch"].tolist() == [r[0] for r in reductions] == [2, 4, 5]
    assert hist["step"].tolist() == [r[1] for r in reductions]
    np.testing.assert_allclose(hist["old_lr"], [r[2] for r in reductions], rtol=1e-6)
    np.testing.assert_allclose(hist["new_lr"], [r[3] for r in reductions], rtol=1e-6)


@ORDERS
def test_composed_min_lr_bounds_the_reduction(order):
    # Cosine at step 12 is 0.275: halving would give 0.1375 < min_lr = 0.2, so
    # the scale stops at 0.2 / 0.275; at step 20 the rate is under min_lr: no
    # further reduction.
    plateau = keras_lr.ReduceLROnPlateau(
        monitor="val_fake", factor=0.5, patience=1, min_delta=0.0, min_lr=0.2
    )
    probe, _, _, base = composed("cosine", order, plateau)
    scales, reductions = expected_scales(base, METRICS, 0.5, min_lr=0.2)
    assert len(reductions) == 1
    np.testing.assert_allclose(scales[3:], 0.2 / cosine(12), rtol=1e-12)
    applied = probe.rates()
    assert_rates(
        applied, np.array([base(i) for i in range(TOTAL)]) * np.repeat(scales, SPE), atol=F32_ATOL
    )
    assert applied[12] == pytest.approx(0.2, rel=1e-6)
    assert plateau.history["epoch"].tolist() == [2]


@ORDERS
@KINDS
def test_composed_logs_learning_rate_is_the_rate_of_each_epoch(kind, order):
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, patience=1, min_delta=0.0)
    probe, history, _, _ = composed(kind, order, plateau)
    logged = history.history["learning_rate"]
    assert len(logged) == EPOCHS
    assert_rates(logged, probe.rates()[SPE - 1 :: SPE], atol=F32_ATOL)


def test_reduction_carries_into_the_next_fit():
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, patience=1, min_delta=0.0)
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
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_fake", factor=0.5, patience=1, min_delta=0.0)
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
    assert plateau.history["epoch"].tolist() == [2, 4, 5]


# -- missing monitor -------------------------------------------------------------


def test_missing_monitor_warns_once_and_changes_nothing():
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_missing", factor=0.5, patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe, history = run([plateau], EPOCHS, 2)
    about = [w for w in caught if "val_missing" in str(w.message)]
    assert len(about) == 1
    assert issubclass(about[0].category, UserWarning)
    np.testing.assert_array_equal(probe.rates(), np.float32(LR0))
    assert len(plateau.history) == 0
    assert_rates(history.history["learning_rate"], [LR0] * EPOCHS)


def test_missing_monitor_with_a_schedule_changes_nothing():
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_missing", factor=0.5, patience=0)
    scheduler = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    with pytest.warns(UserWarning, match="val_missing"):
        probe, _ = run([scheduler, plateau], EPOCHS, SPE)
    assert_rates(probe.rates(), [smith_triangular(i) for i in range(TOTAL)], atol=F32_ATOL)
    assert len(plateau.history) == 0
