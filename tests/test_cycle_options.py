"""`cycle` of the polynomial decay and `cycle_limit` of SGDR's warm restarts.

References, written here from their definitions:

* `schedules.Polynomial(cycle=True)` / `PolynomialDecay(cycle=True)`: Keras's
  own `keras.optimizers.schedules.PolynomialDecay(cycle=True)`, evaluated with
  `keras.ops` in float64 (float32 `1 - i / D` loses the small rates near each
  multiple of `decay_steps` once the step is large);
* `schedules.CosineRestarts(cycle_limit=...)` / `SGDRScheduler(cycle_limit=...)`:
  timm's `timm/scheduler/cosine_lr.py` `CosineLRScheduler._get_lr` (no
  warm-up, k_decay = 1): cycle i, of length t_initial * cycle_mul^i, anneals
  from base * cycle_decay^i to lr_min while i < cycle_limit; lr_min after.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from fractions import Fraction

import keras
import numpy as np
import pytest
from conftest import BACKEND, RateProbe, StopAfterEpoch, assert_rates, fit_on_rows
from keras import ops

import keras_lr
from keras_lr import schedules as S

SPE, EPOCHS = 4, 6
TOTAL = SPE * EPOCHS
# Float32 rates of size <= 1 carry an absolute error of an ulp or two.
F32_ATOL = 1.5e-7


def _float64():
    """A context in which `keras.ops` computes in float64 (JAX: x64 mode)."""
    if BACKEND != "jax":
        return contextlib.nullcontext()
    import jax

    enable = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
    return enable(True)


def keras_polynomial(initial, decay_steps, end, power, steps, cycle=True):
    """`keras.optimizers.schedules.PolynomialDecay` itself: float64 with `cycle`, else float32.

    (Keras's cycle=False path drops to float32 on PyTorch whatever it is given.)
    """
    f64 = np.float64
    if not cycle:
        ref = keras.optimizers.schedules.PolynomialDecay(initial, decay_steps, end, power)
        return np.asarray(ops.convert_to_numpy(ref(ops.convert_to_tensor(steps))), dtype=f64)
    with _float64():
        ref = keras.optimizers.schedules.PolynomialDecay(
            np.asarray(initial, f64),
            decay_steps,
            np.asarray(end, f64),
            np.asarray(power, f64),
            True,
        )
        out = ref(ops.convert_to_tensor(np.asarray(steps, f64)))
        assert keras.backend.standardize_dtype(out.dtype) == "float64"
        return np.asarray(ops.convert_to_numpy(out), dtype=f64)


def timm_cosine(steps, t_initial, lr_min, base, cycle_mul=1.0, cycle_decay=1.0, cycle_limit=1):
    """timm `CosineLRScheduler._get_lr(t)` for each t (no warm-up, no noise, k_decay=1)."""
    out = []
    for t in np.asarray(steps).tolist():
        if cycle_mul != 1:
            i = math.floor(math.log(1 - t / t_initial * (1 - cycle_mul), cycle_mul))
            t_i = cycle_mul**i * t_initial
            t_curr = t - (1 - cycle_mul**i) / (1 - cycle_mul) * t_initial
        else:
            i = t // t_initial
            t_i = t_initial
            t_curr = t - t_initial * i
        lr_max = base * cycle_decay**i
        if i < cycle_limit:
            out.append(lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr / t_i)))
        else:
            out.append(lr_min)
    return np.asarray(out, dtype=np.float64)


def in_float32(sched, steps):
    """The schedule as the compiled step evaluates it: `keras.ops`, float32, integer steps."""
    dtype = "int32" if BACKEND == "jax" else "int64"
    return np.asarray(
        ops.convert_to_numpy(sched(ops.convert_to_tensor(np.asarray(steps), dtype=dtype))),
        dtype=np.float64,
    )


def assert_float32(actual, expected, atol=F32_ATOL):
    np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=atol)


# -- Polynomial(cycle=True) is Keras's PolynomialDecay(cycle=True) --------------

POLYNOMIALS = [  # (initial_lr, total_steps, power, end_lr)
    (1.0, 5, 1.0, 0.0),
    (0.3, 7, 2.0, 0.01),
    (2.0, 10, 0.5, 0.1),
    (1.0, 3, 3.0, 0.0),
    (0.5, 1, 1.0, 0.05),
]


@pytest.mark.parametrize("initial, total, power, end", POLYNOMIALS)
def test_polynomial_cycle_is_keras_polynomial_decay_cycle(initial, total, power, end):
    steps = np.r_[np.arange(6 * total + 3), [50 * total, 50 * total + 1, 97 * total + 3, 12345]]
    sched = S.Polynomial(initial, total, power=power, end_lr=end, cycle=True)
    expected = keras_polynomial(initial, total, end, power, steps)
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-12, atol=1e-15)
    assert_float32(in_float32(sched, steps), expected)
    # It restarts: the rate rises right after every multiple of T (but T = 1,
    # where every step is a multiple).
    if total > 1:
        assert np.all(sched.numpy([2 * total + 1]) > sched.numpy([2 * total]))
    # cycle=False is Keras's cycle=False (float32 there).
    plain = S.Polynomial(initial, total, power=power, end_lr=end)
    assert_float32(plain.numpy(steps), keras_polynomial(initial, total, end, power, steps, False))


@pytest.mark.parametrize("total, center", [(7, 1_000_003), (10, 1_000_000)])
def test_polynomial_cycle_float32_exact_at_a_million_steps(total, center):
    sched = S.Polynomial(1.0, total, power=2.0, end_lr=0.0, cycle=True)
    steps = np.arange(center - 8, center + 9)
    expected = keras_polynomial(1.0, total, 0.0, 2.0, steps)
    assert len(np.unique(expected)) > total // 2
    # Relative float32 accuracy on rates of 1e-12: integer positions, no `1 - i / D`.
    np.testing.assert_allclose(in_float32(sched, steps), expected, rtol=2e-6, atol=0.0)
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-9, atol=0.0)


def exact_polynomial_cycle(initial, total, end, power, steps):
    """Keras's cycle=True formula in exact rationals (an integer `power`)."""
    out = []
    for i in np.asarray(steps).tolist():
        decay = total * max(1, -(-i // total))  # T * ceil(i / T), T at step 0
        out.append(float((initial - end) * (1 - Fraction(i, decay)) ** power + end))
    return np.asarray(out)


def test_polynomial_cycle_exact_near_the_last_step():
    # Near 2**31 even Keras's float64 (and its float32 multiplier on PyTorch)
    # keeps few digits of the rate; the definition in rationals keeps them all.
    sched = S.Polynomial(1.0, 3, power=2.0, end_lr=0.0, cycle=True)
    steps = np.arange(2**31 - 18, 2**31 - 1)
    expected = exact_polynomial_cycle(1, 3, 0, 2, steps)
    assert np.count_nonzero(expected) > 8
    np.testing.assert_allclose(in_float32(sched, steps), expected, rtol=2e-6, atol=0.0)
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-12, atol=0.0)


# -- CosineRestarts(cycle_limit=...) is timm's cycle_limit ----------------------

RESTARTS = [  # (cycle_length, mult_factor, lr_decay, cycle_limit, min_lr, steps_per_unit)
    (5, 1.0, 1.0, 3, 0.0, 1),
    (4, 1.0, 0.5, 2, 0.1, 1),
    (3, 2.0, 1.0, 2, 0.0, 1),
    (2, 2.0, 0.7, 3, 0.05, 1),
    (1, 2.0, 0.5, 4, 0.01, 3),
    (2, 1.0, 0.8, 1, 0.0, 2),
    (3, 2.0, 0.9, None, 0.02, 1),
]


@pytest.mark.parametrize("length, mult, decay, limit, low, spu", RESTARTS)
def test_cosine_restarts_cycle_limit_is_timms(length, mult, decay, limit, low, spu):
    sched = S.CosineRestarts(
        low,
        1.0,
        cycle_length=length,
        mult_factor=mult,
        lr_decay=decay,
        steps_per_unit=spu,
        cycle_limit=limit,
    )
    steps = np.arange(80)
    # timm counts steps (t_in_epochs=False): its t_initial is the first cycle in steps.
    expected = timm_cosine(steps, length * spu, low, 1.0, mult, decay, limit or 10**9)
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-12, atol=1e-15)
    assert_float32(in_float32(sched, steps), expected)
    if limit is not None:
        # The step of the first cycle past the limit (restart_boundaries is for mult > 1).
        units = limit * length if mult == 1.0 else S.restart_boundaries(length, mult, 10**4)[limit]
        end = int(units) * spu
        assert np.all(sched.numpy(np.arange(end, end + 40)) == low)
        assert sched.numpy([end - 1])[0] > low
    else:
        unlimited = S.CosineRestarts(
            low, 1.0, cycle_length=length, mult_factor=mult, lr_decay=decay, steps_per_unit=spu
        )
        np.testing.assert_array_equal(sched.numpy(steps), unlimited.numpy(steps))


@pytest.mark.parametrize(
    "length, mult, limit, end",
    [(13, 1.0, 1_000_000 // 13, 999_999), (7, 2.0, 17, 7 * (2**17 - 1))],
    ids=["mult1", "mult2"],
)
def test_cosine_restarts_cycle_limit_float32_exact_at_a_million_steps(length, mult, limit, end):
    sched = S.CosineRestarts(0.1, 1.0, cycle_length=length, mult_factor=mult, cycle_limit=limit)
    steps = np.arange(end - 8, end + 9)
    expected = timm_cosine(steps, length, 0.1, 1.0, mult, 1.0, limit)
    assert expected[7] > 0.1 and np.all(expected[8:] == 0.1)
    assert_float32(in_float32(sched, steps), expected)
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-9, atol=1e-12)


# -- the rate applied during fit -----------------------------------------------


def applied_during_fit(cb, **fit):
    probe = RateProbe(TOTAL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe.fit([cb], epochs=fit.get("epochs", EPOCHS), steps_per_epoch=SPE)
    return probe.rates(), [str(w.message) for w in caught]


def test_polynomial_decay_cycle_applies_keras_rates_and_warns_of_no_end():
    cb = keras_lr.PolynomialDecay(0.5, total_steps=5, power=2.0, end_lr=0.01, cycle=True)
    applied, messages = applied_during_fit(cb)
    expected = keras_polynomial(0.5, 5, 0.01, 2.0, np.arange(TOTAL))
    assert_rates(applied, expected, atol=F32_ATOL)
    assert_rates(cb.history["lr"].to_numpy(), expected, atol=F32_ATOL)
    assert not [m for m in messages if "ends after step" in m]
    # Without `cycle` the same 5 steps end before an 8-step fit, and the driver says so.
    _, messages = applied_during_fit(keras_lr.PolynomialDecay(0.5, 5, 2.0, 0.01), epochs=2)
    assert [m for m in messages if "ends after step 5" in m]


@pytest.mark.parametrize("mult, limit", [(1.0, 3), (2.0, 2)])
def test_sgdr_cycle_limit_applies_timms_rates(mult, limit):
    cb = keras_lr.SGDRScheduler(
        0.01, 0.5, cycle_length=1, mult_factor=mult, lr_decay=0.5, cycle_limit=limit
    )
    applied, messages = applied_during_fit(cb)
    # Cycles of 1 epoch (x mult) from the fit's 4 steps per epoch.
    expected = timm_cosine(np.arange(TOTAL), SPE, 0.01, 0.5, mult, 0.5, limit)
    assert np.sum(expected == 0.01) >= 8  # the run really reaches the hold
    assert_rates(applied, expected, atol=F32_ATOL)
    assert_rates(cb.history["lr"].to_numpy(), expected, atol=F32_ATOL)
    assert not [m for m in messages if "ends after step" in m]


# -- serialization ---------------------------------------------------------------

SCHEDULES = {
    "Polynomial-cycle": lambda: S.Polynomial(0.4, 5, power=2.0, end_lr=0.01, cycle=True),
    "CosineRestarts-cycle_limit": lambda: S.CosineRestarts(
        0.01, 0.4, cycle_length=3, mult_factor=2.0, lr_decay=0.5, cycle_limit=2
    ),
}
# name: (factory, the option and the value it is given, its default)
WITH_OPTION = {
    "Polynomial-cycle": (SCHEDULES["Polynomial-cycle"], "cycle", True, False),
    "CosineRestarts-cycle_limit": (
        SCHEDULES["CosineRestarts-cycle_limit"],
        "cycle_limit",
        2,
        None,
    ),
    "PolynomialDecay-cycle": (
        lambda: keras_lr.PolynomialDecay(0.4, 5, 2.0, 0.01, cycle=True),
        "cycle",
        True,
        False,
    ),
    "SGDRScheduler-cycle_limit": (
        lambda: keras_lr.SGDRScheduler(0.01, 0.4, cycle_length=1, mult_factor=2.0, cycle_limit=2),
        "cycle_limit",
        2,
        None,
    ),
}


def preview(obj):
    if isinstance(obj, S.Schedule):
        return obj.numpy(40)
    return obj.rates(40, steps_per_epoch=SPE, epochs=EPOCHS)


@pytest.mark.parametrize("name", sorted(WITH_OPTION))
def test_config_round_trip_keeps_the_option(name):
    make, option, value, default = WITH_OPTION[name]
    obj = make()
    config = obj.get_config()
    assert config[option] == value and type(config[option]) is type(value)
    rebuilt = type(obj).from_config(config)
    assert rebuilt.get_config() == config
    np.testing.assert_array_equal(preview(rebuilt), preview(obj))
    # A config saved before the option existed loads with its default.
    old = type(obj).from_config({k: x for k, x in config.items() if k != option})
    assert getattr(old, option) is default
    assert not np.array_equal(preview(old), preview(obj))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_save_and_load_model_with_the_schedule_installed(name, tmp_path):
    sched = SCHEDULES[name]()
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.SGD(learning_rate=sched))
    probe.fit([StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE)
    path = tmp_path / "m.keras"
    probe.model.save(path)
    loaded = keras.saving.load_model(path)
    restored = keras.saving.deserialize_keras_object(loaded.optimizer.get_config()["learning_rate"])
    assert type(restored) is type(sched) and restored == sched
    fit_on_rows(loaded, [], EPOCHS, 3 * SPE, SPE, initial_epoch=3)
    assert_rates(probe.rates(loaded), sched.numpy(TOTAL), atol=F32_ATOL)


# -- bad values ------------------------------------------------------------------


@pytest.mark.parametrize("ctor", [S.Polynomial, keras_lr.PolynomialDecay])
@pytest.mark.parametrize("value", [1, 0, "True", None, np.bool_(True)], ids=repr)
def test_cycle_must_be_a_bool(ctor, value):
    with pytest.raises(TypeError, match=r"Argument `cycle` must be a bool\. Received: cycle=") as e:
        ctor(0.1, 10, cycle=value)
    assert str(e.value).endswith(f"cycle={value!r}")


CYCLE_LIMIT_BAD = [
    (0, ValueError, "0"),
    (-2, ValueError, "-2"),
    (2**31, ValueError, "2147483648"),
    (2.5, TypeError, "2.5"),
    ("3", TypeError, "'3'"),
    (True, TypeError, "True"),
]


@pytest.mark.parametrize(
    "ctor, kwargs",
    [
        (S.CosineRestarts, {"cycle_length": 2}),
        (keras_lr.SGDRScheduler, {"cycle_length": 2}),
    ],
    ids=["CosineRestarts", "SGDRScheduler"],
)
@pytest.mark.parametrize("value, error, shown", CYCLE_LIMIT_BAD)
def test_cycle_limit_must_be_a_positive_integer_or_none(ctor, kwargs, value, error, shown):
    with pytest.raises(error, match=rf"Argument `cycle_limit` must be .*cycle_limit={shown}"):
        ctor(0.0, 0.1, **kwargs, cycle_limit=value)


def test_cycle_limit_is_keyword_only_and_the_old_positional_order_still_works():
    with pytest.warns(DeprecationWarning, match="by position"):
        old = S.CosineRestarts(0.0, 1.0, 3, 2.0, 0.5, 2)
    assert old == S.CosineRestarts(
        0.0, 1.0, cycle_length=3, mult_factor=2.0, lr_decay=0.5, steps_per_unit=2
    )
    assert old.cycle_limit is None
    with pytest.raises(TypeError, match="by keyword"):
        S.CosineRestarts(0.0, 1.0, 3, 2.0, 0.5, 2, 4)
