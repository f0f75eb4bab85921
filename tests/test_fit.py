"""The rate the optimizer really applies during `model.fit`, step by step.

Every scheduling callback is driven through a real `fit` on the `RateProbe`
(4 steps per epoch x 6 epochs = 24 steps, with cycles, restarts and decays
falling inside the run).  The measured rates must equal the callback's own
preview (`callback.schedule`) and, for every case, an expected table computed
here from the published formula (Smith's CLR, SGDR, PyTorch's OneCycleLR, ...)
without calling the library.  Then the same schedules are checked across
`steps_per_execution`, several `fit()` calls, save/load resumption,
`BackupAndRestore`, optimizer wrappers and the error paths.
"""

from __future__ import annotations

import json
import math
import warnings

import keras
import numpy as np
import pytest
from conftest import (
    MULTI_STEP_EXECUTION,
    RateProbe,
    StopAfterEpoch,
    assert_rates,
    fit_on_rows,
)

import keras_lr
from keras_lr import schedules as S

SPE = 4  # steps per epoch
EPOCHS = 6
TOTAL = SPE * EPOCHS

# PyTorch's trainer refuses steps_per_execution > 1.
EXECUTION_SIZES = [2, 4] if MULTI_STEP_EXECUTION else [1]

# The compiled step evaluates the schedule in float32: terms of the size of the
# peak rate (<= 0.5 here, ulp 6e-8) leave an absolute error of an ulp or two
# on small rates.  Any error in the schedule's position is orders larger.
F32_ATOL = 1.5e-7

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")


def assert_applied(applied, expected):
    assert_rates(applied, expected, atol=F32_ATOL)


# -- expected tables, from the published formulas (no keras_lr code) ---------


def smith_clr(base, peak, step_size, mode="triangular", gamma=1.0):
    """Smith (2017), Eq. in Sec. 3.1: cycle, x, then base + (max-base)*max(0,1-x)*scale."""

    def rate(i):
        cycle = math.floor(1 + i / (2 * step_size))
        x = abs(i / step_size - 2 * cycle + 1)
        scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**i}[
            mode
        ]
        return base + (peak - base) * max(0.0, 1 - x) * scale

    return rate


def sgdr(min_lr, max_lr, spe, cycle_length, mult_factor, lr_decay):
    """Loshchilov & Hutter: cosine inside each cycle, cycle k lasts ceil(L(k-1)*mult) epochs."""
    starts, lengths = [0], [cycle_length]
    while starts[-1] < 1000:
        starts.append(starts[-1] + lengths[-1])
        lengths.append(math.ceil(round(lengths[-1] * mult_factor, 9)))

    def rate(i):
        epoch_pos = i / spe
        k = max(j for j, s in enumerate(starts) if s <= epoch_pos)
        t_cur = i - starts[k] * spe
        t_i = lengths[k] * spe
        peak = max_lr * lr_decay**k
        return min_lr + 0.5 * (peak - min_lr) * (1 + math.cos(math.pi * t_cur / t_i))

    return rate


def step_decay(initial, factor, spe, step_size=None, milestones=None):
    def rate(i):
        epoch = i // spe
        n = epoch // step_size if milestones is None else sum(epoch >= m for m in milestones)
        return initial * factor**n

    return rate


def torch_one_cycle(
    max_lr, total, pct_start=0.3, div=25.0, final_div=1e4, anneal="cos", three=False
):
    """PyTorch's `OneCycleLR.get_lr` (torch/optim/lr_scheduler.py), transcribed."""
    initial = max_lr / div
    minimum = initial / final_div
    if three:
        phases = [
            (float(pct_start * total) - 1, initial, max_lr),
            (float(2 * pct_start * total) - 2, max_lr, initial),
            (total - 1, initial, minimum),
        ]
    else:
        phases = [(float(pct_start * total) - 1, initial, max_lr), (total - 1, max_lr, minimum)]

    def anneal_fn(start, end, pct):
        if anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def rate(i):
        start_step = 0.0
        for j, (end_step, lo, hi) in enumerate(phases):
            if i <= end_step or j == len(phases) - 1:
                return anneal_fn(lo, hi, (i - start_step) / (end_step - start_step))
            start_step = end_step
        raise AssertionError

    return rate


def polynomial(initial, total_steps, power, end):
    return lambda i: (initial - end) * (1 - min(i, total_steps) / total_steps) ** power + end


def cosine(max_lr, min_lr, total):
    return lambda i: (
        min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * min(i, total) / total)) / 2
    )


def with_warmup(rate, warmup_steps, start_lr):
    """Linear ramp to rate(0) over `warmup_steps`, then rate shifted by them."""

    def warmed(i):
        if i < warmup_steps:
            return start_lr + (rate(0) - start_lr) * i / warmup_steps
        return rate(i - warmup_steps)

    return warmed


def lambda_step_rule(i):
    # Plain Python with branches: not vectorisable.
    if i % 5 == 0:
        return 0.3
    return 0.05 + 0.01 * i


EPOCH_RATES = [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def join_expected(i):
    if i < 5:
        return 0.4 * i / 5
    if i < 15:
        return 0.04 + 0.36 * (1 + math.cos(math.pi * (i - 5) / 10)) / 2
    return 0.04


def table(rate, n=TOTAL):
    return np.array([rate(i) for i in range(n)], dtype=np.float64)


# -- cases: a factory (a new callback per call) and the expected rate of step i --

CASES = {
    "cyclic_triangular": (
        lambda: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3),
        smith_clr(0.1, 0.5, 3),
    ),
    "cyclic_triangular2": (
        lambda: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=2, mode="triangular2"),
        smith_clr(0.1, 0.5, 2, "triangular2"),
    ),
    "cyclic_exp_range": (
        lambda: keras_lr.CyclicLR(
            base_lr=0.05, max_lr=0.5, step_size=3, mode="exp_range", gamma=0.95
        ),
        smith_clr(0.05, 0.5, 3, "exp_range", 0.95),
    ),
    "sgdr_mult2": (
        lambda: keras_lr.SGDRScheduler(
            min_lr=0.01, max_lr=0.4, cycle_length=1, mult_factor=2, lr_decay=0.8
        ),
        sgdr(0.01, 0.4, SPE, 1, 2, 0.8),
    ),
    "sgdr_fractional_mult": (
        # Cycles of 2, 3, ceil(4.5)=5 epochs: restarts at epochs 2 and 5.
        lambda: keras_lr.SGDRScheduler(
            min_lr=0.02, max_lr=0.5, cycle_length=2, mult_factor=1.5, lr_decay=0.5
        ),
        sgdr(0.02, 0.5, SPE, 2, 1.5, 0.5),
    ),
    "step_decay_step_size": (
        lambda: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=2),
        step_decay(0.4, 0.5, SPE, step_size=2),
    ),
    "step_decay_milestones": (
        lambda: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.1, milestones=[1, 4]),
        step_decay(0.4, 0.1, SPE, milestones=[1, 4]),
    ),
    "one_cycle_2phase": (
        lambda: keras_lr.OneCycleLR(max_lr=0.5),
        torch_one_cycle(0.5, TOTAL),
    ),
    "one_cycle_3phase_linear": (
        lambda: keras_lr.OneCycleLR(
            max_lr=0.5,
            pct_start=0.25,
            anneal_strategy="linear",
            three_phase=True,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        torch_one_cycle(0.5, TOTAL, 0.25, 10.0, 100.0, "linear", True),
    ),
    "polynomial": (
        lambda: keras_lr.PolynomialDecay(initial_lr=0.5, total_steps=20, power=2.0, end_lr=0.01),
        polynomial(0.5, 20, 2.0, 0.01),
    ),
    "exponential": (
        lambda: keras_lr.ExponentialDecay(initial_lr=0.5, gamma=0.7),
        lambda i: 0.5 * 0.7 ** (i // SPE),
    ),
    "cosine_fit_length": (
        lambda: keras_lr.CosineAnnealing(max_lr=0.5, min_lr=0.05),
        cosine(0.5, 0.05, TOTAL),
    ),
    "cosine_total_steps": (
        lambda: keras_lr.CosineAnnealing(max_lr=0.5, min_lr=0.1, total_steps=16),
        cosine(0.5, 0.1, 16),
    ),
    "lambda_step": (
        lambda: keras_lr.LambdaSchedule(lambda_step_rule),
        lambda_step_rule,
    ),
    "lambda_epoch": (
        lambda: keras_lr.LambdaSchedule(lambda e: EPOCH_RATES[min(e, 5)], unit="epoch"),
        lambda i: EPOCH_RATES[i // SPE],
    ),
    "schedule_join": (
        lambda: keras_lr.ScheduleCallback(
            S.Join(
                [S.Linear(0.0, 0.4, 5), S.Cosine(0.4, 0.04, 10), S.Constant(0.04)],
                boundaries=[5, 15],
            )
        ),
        join_expected,
    ),
    "warmup_cosine": (
        # The cosine covers the 20 steps left after the warm-up.
        lambda: keras_lr.CosineAnnealing(
            max_lr=0.5, min_lr=0.05, warmup_steps=4, warmup_start_lr=0.05
        ),
        with_warmup(cosine(0.5, 0.05, TOTAL - 4), 4, 0.05),
    ),
    "warmup_step_decay": (
        lambda: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=2, warmup_steps=3),
        with_warmup(step_decay(0.4, 0.5, SPE, step_size=2), 3, 0.0),
    ),
    "warmup_cyclic": (
        lambda: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3, warmup_steps=2),
        with_warmup(smith_clr(0.1, 0.5, 3), 2, 0.0),
    ),
}

# Schedules whose length is taken from `fit` (epochs x steps per epoch).
FIT_LENGTH = {"one_cycle_2phase", "one_cycle_3phase_linear", "cosine_fit_length", "warmup_cosine"}

ALL = pytest.mark.parametrize("case", sorted(CASES))
# A handful covering per-step, per-epoch, table and fit-length schedules.
SOME = pytest.mark.parametrize(
    "case",
    [
        "cyclic_triangular2",
        "sgdr_fractional_mult",
        "step_decay_milestones",
        "one_cycle_2phase",
        "lambda_step",
        "warmup_cosine",
    ],
)


def preview(callback, steps=TOTAL, epochs=EPOCHS):
    return callback.rates(steps, steps_per_epoch=SPE, epochs=epochs)


def fresh_probe(n=TOTAL, **kwargs):
    return RateProbe(n, **kwargs)


def fit_from(model, callbacks, epochs, start_step, initial_epoch=0, **kwargs):
    """`fit` on the probe rows from `start_step` on, for a model not held by a probe."""
    return fit_on_rows(model, callbacks, epochs, start_step, SPE, initial_epoch, **kwargs)


def kernel(model):
    return np.asarray(keras.ops.convert_to_numpy(model.get_layer("probe").kernel))


def rates_of(model):
    """What `RateProbe.rates` reads, for any model with the probe layer."""
    return -kernel(model).astype(np.float64)[:, 0]


def iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


# -- the applied rate equals the schedule --------------------------------------


@ALL
def test_applied_rates_equal_preview_and_published_formula(case):
    make, expected = CASES[case]
    cb = make()
    probe = fresh_probe()
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    applied = probe.rates()
    assert_applied(applied, preview(cb))
    assert_applied(applied, table(expected))
    # The preview needs no fit at all: a new instance gives the same table.
    np.testing.assert_allclose(preview(make()), table(expected), rtol=1e-12, atol=1e-15)


def test_cycles_and_restarts_really_happen_inside_the_run():
    """Guards the case table: the probe run must see rises after falls."""
    for case in ["cyclic_triangular", "sgdr_mult2", "sgdr_fractional_mult", "warmup_cyclic"]:
        rates = table(CASES[case][1])
        assert np.any(np.diff(rates) > 1e-6), case
        assert np.any(np.diff(rates) < -1e-6), case
    restarts = np.flatnonzero(np.diff(table(CASES["sgdr_fractional_mult"][1])) > 0) + 1
    assert restarts.tolist() == [2 * SPE, 5 * SPE]


@pytest.mark.parametrize("execution", EXECUTION_SIZES)
@ALL
def test_steps_per_execution_gives_the_same_per_step_rates(case, execution):
    make, expected = CASES[case]
    cb = make()
    probe = fresh_probe(steps_per_execution=execution)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    assert_applied(probe.rates(), table(expected))
    assert cb.history["lr"].shape == (TOTAL,)
    assert_applied(cb.history["lr"].to_numpy(), table(expected))


# -- several fit() calls --------------------------------------------------------


def expected_two_fits(make, first_epochs):
    """Steps of the first fit follow its own length; later ones the second fit's."""
    first = preview(make(), steps=first_epochs * SPE, epochs=first_epochs)
    second = preview(make())[first_epochs * SPE :]
    return np.concatenate([first, second])


@ALL
@pytest.mark.parametrize("instance", ["same", "new"])
def test_consecutive_fits_continue_the_schedule(case, instance):
    make, expected = CASES[case]
    probe = fresh_probe()
    cb = make()
    probe.fit([cb], epochs=2, steps_per_epoch=SPE)
    second = cb if instance == "same" else make()
    probe.fit([second], epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=2)
    applied = probe.rates()
    assert iterations(probe.model) == TOTAL
    assert_applied(applied, expected_two_fits(make, 2))
    if case not in FIT_LENGTH:
        assert_applied(applied, table(expected))


def test_fit_length_schedule_restarts_from_the_current_step_not_from_zero():
    # OneCycle over a 2-epoch fit, then over a 6-epoch fit: the second fit does
    # not replay the warm-up rise at steps 8.. (position comes from the optimizer).
    probe = fresh_probe()
    cb = keras_lr.OneCycleLR(max_lr=0.5)
    probe.fit([cb], epochs=2, steps_per_epoch=SPE)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=2)
    applied = probe.rates()
    assert_applied(applied[:8], table(torch_one_cycle(0.5, 8), 8))
    assert_applied(applied[8:], table(torch_one_cycle(0.5, TOTAL))[8:])


# -- resumption ---------------------------------------------------------------


@ALL
def test_resume_after_save_and_load_model(case, tmp_path):
    make, expected = CASES[case]
    probe = fresh_probe()
    probe.fit([make(), StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE)
    assert iterations(probe.model) == 3 * SPE
    path = tmp_path / "m.keras"
    probe.model.save(path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert skipped == []
    assert iterations(loaded) == 3 * SPE

    fit_from(loaded, [make()], epochs=EPOCHS, start_step=3 * SPE, initial_epoch=3)
    applied = rates_of(loaded)
    assert_applied(applied, table(expected))
    assert_applied(applied, preview(make()))


@pytest.mark.parametrize("unit", ["epoch", "step"])
@pytest.mark.parametrize("path", ["second_fit", "save_and_load"])
def test_lambda_schedule_resume_calls_fn_only_on_the_run(unit, path, tmp_path):
    """A rule defined for the run's epochs (or steps) only, as one would write
    for Keras's `LearningRateScheduler`, must be enough to resume: `fit(epochs=6,
    initial_epoch=k)` trains epochs k..5 and has no use for fn(6), fn(7), ..."""
    rates = EPOCH_RATES if unit == "epoch" else [0.5 - 0.02 * i for i in range(TOTAL)]
    calls = []

    def fn(n):
        calls.append(n)
        return rates[n]  # IndexError past the run, like a list of rates

    def make():
        return keras_lr.LambdaSchedule(fn, unit=unit)

    probe = fresh_probe()
    if path == "second_fit":
        probe.fit([make()], epochs=2, steps_per_epoch=SPE)
        probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=2)
        model = probe.model
    else:
        probe.fit([make(), StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE)
        probe.model.save(tmp_path / "m.keras")
        model = keras.saving.load_model(tmp_path / "m.keras")
        fit_from(model, [make()], epochs=EPOCHS, start_step=3 * SPE, initial_epoch=3)
    expected = np.repeat(EPOCH_RATES, SPE) if unit == "epoch" else np.array(rates)
    assert_applied(rates_of(model), expected)
    assert max(calls) < len(rates)


class RaiseAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("order", ["backup_first", "backup_last"])
@pytest.mark.parametrize("case", ["cyclic_triangular", "step_decay_step_size", "one_cycle_2phase"])
def test_resume_with_backup_and_restore(case, order, tmp_path):
    make, expected = CASES[case]
    backup_dir = str(tmp_path / "backup")

    def callbacks(scheduler):
        backup = keras.callbacks.BackupAndRestore(backup_dir)
        return [backup, scheduler] if order == "backup_first" else [scheduler, backup]

    crashed = fresh_probe()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(callbacks(make()) + [RaiseAtEpochEnd(3)], epochs=EPOCHS, steps_per_epoch=SPE)
    with open(tmp_path / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 3

    # A new process: new model, new callbacks with the same arguments.
    resumed = fresh_probe()
    history = fit_from(resumed.model, callbacks(make()), epochs=EPOCHS, start_step=3 * SPE)
    assert len(history.history["loss"]) == EPOCHS - 3
    assert iterations(resumed.model) == TOTAL
    assert_applied(resumed.rates(), table(expected))


# -- optimizer variants -------------------------------------------------------


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
@pytest.mark.parametrize("case", ["cyclic_exp_range", "sgdr_mult2", "lambda_epoch"])
def test_loss_scale_optimizer_applies_exact_rates(case, policy):
    make, expected = CASES[case]
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        probe = fresh_probe(
            optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5))
        )
    finally:
        keras.config.set_dtype_policy(previous)
    cb = make()
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    assert_applied(probe.rates(), table(expected))
    assert_applied(cb.history["lr"].to_numpy(), table(expected))


def test_optimizer_built_with_a_keras_schedule_is_refused_before_training():
    builtin = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.5)
    probe = fresh_probe(optimizer=keras.optimizers.SGD(learning_rate=builtin))
    before = kernel(probe.model).copy()
    with pytest.raises(ValueError, match="(?i)build the optimizer with a float rate"):
        probe.fit([keras_lr.CyclicLR(0.1, 0.5, 3)], epochs=2, steps_per_epoch=SPE)
    np.testing.assert_array_equal(kernel(probe.model), before)
    assert iterations(probe.model) == 0


@pytest.mark.parametrize("case", ["cyclic_triangular", "sgdr_fractional_mult", "one_cycle_2phase"])
def test_momentum_optimizer_records_the_schedule(case):
    make, expected = CASES[case]
    probe = fresh_probe(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    cb = make()
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    hist = cb.history
    np.testing.assert_array_equal(hist["step"].to_numpy(), np.arange(TOTAL))
    assert_applied(hist["lr"].to_numpy(), preview(cb))
    assert_applied(hist["lr"].to_numpy(), table(expected))
    # Momentum is really in use: weights are no longer the bare rates.
    assert not np.allclose(probe.rates(), table(expected))
    # After fit the optimizer holds a float: the rate of the last step.
    opt = probe.model.optimizer
    assert_applied(
        float(keras.ops.convert_to_numpy(opt.learning_rate)), preview(cb, steps=[TOTAL - 1])[0]
    )


@pytest.mark.parametrize("case", ["cyclic_triangular2", "step_decay_milestones", "schedule_join"])
def test_saved_model_reloads_with_its_step_and_last_rate(case, tmp_path):
    make, expected = CASES[case]
    probe = fresh_probe()
    cb = make()
    probe.fit([cb], epochs=5, steps_per_epoch=SPE)
    path = tmp_path / "m.keras"
    probe.model.save(path)
    loaded = keras.saving.load_model(path)
    step = iterations(loaded)
    assert step == 5 * SPE
    rate = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert_applied(rate, preview(cb, steps=[step - 1], epochs=5)[0])
    assert_applied(rate, expected(step - 1))
    loaded.optimizer.learning_rate = 0.01  # a float rate: settable


# -- errors -------------------------------------------------------------------


def test_uncompiled_model_gives_a_clear_error():
    inputs = keras.Input((TOTAL,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="probe")(inputs))
    cb = keras_lr.CyclicLR(0.1, 0.5, 3)
    x = np.eye(TOTAL, dtype="float32")[:SPE]
    y = np.zeros((SPE, 1), dtype="float32")
    with pytest.raises((ValueError, RuntimeError), match="compile"):
        model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    # The callback itself says so when its hooks run on such a model.
    cb.set_model(model)
    with pytest.raises(ValueError, match=r"compile"):
        cb.on_train_begin()


def finite_generator(n):
    eye = np.eye(TOTAL, dtype="float32")
    zero = np.zeros((1, 1), dtype="float32")
    for k in range(n):
        yield eye[[k]], zero


def test_data_without_length_needs_steps_per_epoch_for_epoch_schedules():
    probe = fresh_probe()
    before = kernel(probe.model).copy()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        probe.model.fit(
            finite_generator(2 * SPE),
            epochs=1,
            callbacks=[keras_lr.StepDecay(0.4, 0.5, step_size=1)],
            verbose=0,
        )
    np.testing.assert_array_equal(kernel(probe.model), before)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_steps_per_epoch_given_to_the_callback_works_without_data_length():
    probe = fresh_probe()
    cb = keras_lr.StepDecay(0.4, 0.5, step_size=1, steps_per_epoch=2)
    probe.model.fit(finite_generator(6), epochs=1, callbacks=[cb], verbose=0)
    assert_applied(probe.rates()[:6], [0.4, 0.4, 0.2, 0.2, 0.1, 0.1])
    np.testing.assert_array_equal(probe.rates()[6:], 0.0)


# -- performance property -------------------------------------------------------

CALLBACK_CLASSES = [
    keras_lr.ScheduleCallback,
    keras_lr.CyclicLR,
    keras_lr.SGDRScheduler,
    keras_lr.StepDecay,
    keras_lr.OneCycleLR,
    keras_lr.PolynomialDecay,
    keras_lr.ExponentialDecay,
    keras_lr.CosineAnnealing,
    keras_lr.LambdaSchedule,
    keras_lr.ReduceLROnPlateau,
]
BATCH_HOOKS = [
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


@pytest.mark.parametrize("cls", CALLBACK_CLASSES, ids=lambda c: c.__name__)
def test_no_per_batch_hooks(cls):
    from keras.src.utils import is_default

    for hook in BATCH_HOOKS:
        assert getattr(cls, hook) is getattr(keras.callbacks.Callback, hook), hook
        assert is_default(getattr(cls, hook)), hook


def test_keras_keeps_async_dispatch_with_the_callbacks():
    from keras.src.backend import IS_THREAD_SAFE
    from keras.src.callbacks.callback_list import CallbackList

    probe = fresh_probe()
    callbacks = [keras_lr.CyclicLR(0.1, 0.5, 3), keras_lr.ReduceLROnPlateau(monitor="loss")]
    callback_list = CallbackList(callbacks, model=probe.model)
    assert callback_list._async_train is IS_THREAD_SAFE

    # Control: a callback with a batch hook switches it off.
    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    assert CallbackList(callbacks + [PerBatch()], model=probe.model)._async_train is False
