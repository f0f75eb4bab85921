"""Property-based tests of every public constructor and function, and of the
snapshot directory a resumed run finds.

- Any invalid argument raises `ValueError` (bad value) or `TypeError` (bad
  type) at construction, before any training, with the message naming the
  argument in backticks and showing the value received.  The arguments and
  their kinds come from `tests/test_arguments.py` (`CONSTRUCTORS`, the
  schedules and scheduling callbacks) and from `OTHERS` below (snapshots, SWA,
  the range test, ensembles, plots, helpers); hypothesis draws the bad values.
- Random valid arguments never crash: every schedule evaluates to finite,
  non-negative rates with NumPy (float64) and with `keras.ops` (float32), and
  the two agree.
- A snapshot directory with a random corrupted manifest is either resumed or
  refused with a clear `ValueError` before training, never anything else.
"""

from __future__ import annotations

import functools
import json
import math
import os

import keras
import numpy as np
import pytest
from conftest import RateProbe
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_arguments import (
    A_SCHEDULE,
    ANNEAL,
    BOOL,
    CONSTRUCTORS,
    CYCLIC_MODE,
    DECAY_SHAPE,
    INVERSE_SQRT_WARMUP_SHAPE,
    MILESTONES,
    MULT_FACTOR,
    NONNEGATIVE_FLOAT,
    NONNEGATIVE_INT,
    NOT_CALLABLE,
    OPEN_UNIT_INTERVAL,
    OPTIONAL_POSITIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    RAMP_SHAPE,
    REQUIRED_NONNEGATIVE_INT,
    SCALE_MODE,
    STEPS_OR_FRACTION,
    UNIT_INTERVAL_OPEN_LOW,
    WSD_WARMUP_SHAPE,
    label,
)
from test_ensemble import corrupt_manifests

import keras_lr
from keras_lr import schedules as S
from keras_lr.finder import _suggest

FEW = settings(max_examples=25, deadline=None)
NAN, INF = float("nan"), float("inf")

# -- bad values by kind -----------------------------------------------------------

# Not numbers, not strings of choices, not callables; never valid anywhere below
# (None and booleans are added per kind where they are invalid).
junk = st.one_of(
    st.text(max_size=6),
    st.binary(max_size=4),
    st.complex_numbers(allow_nan=False, max_magnitude=10),
    st.lists(st.text(max_size=2), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(object),
)
none_or_bool = st.one_of(st.none(), st.booleans())
any_float = st.floats(allow_nan=True, allow_infinity=True)


def below(limit, inclusive):
    """Floats under `limit` (or at it), nan and +-inf: bad values of a bounded float."""
    low = st.floats(max_value=limit, exclude_max=not inclusive, allow_nan=False)
    return st.one_of(low, st.sampled_from([NAN, INF, -INF]))


def outside(low, high, low_open, high_open):
    return st.one_of(
        st.floats(max_value=low, exclude_max=not low_open, allow_nan=False),
        st.floats(min_value=high, exclude_min=not high_open, allow_nan=False),
        st.sampled_from([NAN, INF, -INF]),
    )


def choices_of(valid):
    return (
        st.text(max_size=8).filter(lambda s: s not in valid),
        st.one_of(junk.filter(lambda v: not isinstance(v, str)), none_or_bool),
    )


# An integral float counts as the int it equals (`step_size=2000.`), so only
# the other floats (and nan, inf) are bad types of a count.
non_integral_float = any_float.filter(lambda x: not x.is_integer())


def int_kind(minimum, optional=False):
    types = st.one_of(junk, non_integral_float, st.booleans() if optional else none_or_bool)
    too_small = st.integers(max_value=minimum - 1)
    # Past 2**31 - 1 the optimizer's int32 step counter cannot reach it.
    values = st.one_of(too_small, too_small.map(float), st.integers(min_value=2**31))
    return values, types


def steps_or_fraction():
    """A count of steps (an int >= 0) or a fraction of the run (a float in (0, 1))."""
    negative = st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False)
    neither = st.floats(min_value=1.0, allow_nan=False, allow_infinity=False).filter(
        lambda x: not x.is_integer()
    )
    values = st.one_of(st.integers(max_value=-1), negative, neither, st.integers(min_value=2**31))
    types = st.one_of(junk, none_or_bool, st.sampled_from([NAN, INF, -INF]))
    return values, types


def a_schedule():
    """Not a `LearningRateSchedule`: a rate, a string, a callable, a list of schedules."""
    return st.nothing(), st.one_of(
        junk, none_or_bool, any_float, st.just(lambda i: 0.1), st.just([S.Constant(0.1)])
    )


def float_kind(bad_values, optional=False):
    return bad_values, st.one_of(junk, st.booleans() if optional else none_or_bool)


def not_callable():
    # None is valid where NOT_CALLABLE is used (scale_fn=None: the mode's scale).
    return st.nothing(), st.one_of(junk.filter(lambda v: not callable(v)), st.booleans(), any_float)


def increasing_ints():
    bad_values = st.lists(st.integers(-3, 30), min_size=0, max_size=4).filter(
        lambda xs: not xs or xs[0] < 1 or any(b <= a for a, b in zip(xs, xs[1:]))
    )
    bad_types = st.one_of(
        st.text(max_size=4),
        st.booleans(),
        st.integers(),
        st.lists(non_integral_float, min_size=1, max_size=3),
    )
    return bad_values, bad_types


def path_kind():
    return st.nothing(), st.one_of(
        st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2)
    )


# (ValueError values, TypeError values) per kind list of tests/test_arguments.py.
KINDS = {
    id(POSITIVE_FLOAT): float_kind(below(0.0, True)),
    id(NONNEGATIVE_FLOAT): float_kind(below(0.0, False)),
    id(POSITIVE_INT): int_kind(1),
    id(OPTIONAL_POSITIVE_INT): int_kind(1, optional=True),
    id(NONNEGATIVE_INT): int_kind(0, optional=True),
    id(UNIT_INTERVAL_OPEN_LOW): float_kind(outside(0.0, 1.0, True, False)),
    id(OPEN_UNIT_INTERVAL): float_kind(outside(0.0, 1.0, True, True)),
    id(MULT_FACTOR): float_kind(below(1.0, False)),
    id(CYCLIC_MODE): choices_of(["triangular", "triangular2", "exp_range"]),
    id(SCALE_MODE): choices_of(["cycle", "iterations"]),
    id(ANNEAL): choices_of(["cos", "linear"]),
    id(BOOL): (st.nothing(), st.one_of(junk, st.none(), st.integers(), any_float)),
    id(NOT_CALLABLE): not_callable(),
    id(MILESTONES): increasing_ints(),
    id(STEPS_OR_FRACTION): steps_or_fraction(),
    id(REQUIRED_NONNEGATIVE_INT): int_kind(0),
    id(RAMP_SHAPE): choices_of(S.RAMP_SHAPES),
    id(INVERSE_SQRT_WARMUP_SHAPE): choices_of(["linear", "cosine"]),
    id(WSD_WARMUP_SHAPE): choices_of(["linear", "cosine", "1-sqrt", "exponential"]),
    id(DECAY_SHAPE): choices_of(["linear", "cosine", "1-sqrt"]),
    id(A_SCHEDULE): a_schedule(),
}
RAMP = KINDS[id(RAMP_SHAPE)]
WARMUP_STEPS = KINDS[id(STEPS_OR_FRACTION)]


def kind_of(table_list):
    """Strategies for a kind list of test_arguments, or its own examples."""
    if id(table_list) in KINDS:
        return KINDS[id(table_list)]
    by_error = {ValueError: [], TypeError: []}
    for value, error, _ in table_list:
        by_error[error].append(value)
    return tuple(st.sampled_from(v) if v else st.nothing() for v in by_error.values())


# -- the constructors and functions not in test_arguments.CONSTRUCTORS -------------


def _model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


X3 = np.zeros((8, 3), "float32")


@functools.cache
def _range_test():
    """A range test with results (run once), for `LRFinder.apply`'s arguments."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    finder = keras_lr.find_lr(
        _model(), x, x.sum(1, keepdims=True), batch_size=4, min_lr=1e-3, max_lr=1.0, verbose=0
    )
    assert finder.reliable  # no warning from `apply`: its arguments are all it checks
    return finder


OTHERS = {
    "SnapshotEnsemble": (
        keras_lr.SnapshotEnsemble,
        {"n_snapshots": 2},
        {
            "n_snapshots": int_kind(1),
            "max_lr": float_kind(below(0.0, True)),
            "epochs": int_kind(1, optional=True),
            "save_format": choices_of(["weights", "model"]),
            "overwrite": KINDS[id(BOOL)],
            "verbose": int_kind(0, optional=True),
            "directory": path_kind(),
            "warmup_steps": WARMUP_STEPS,
            "warmup_start_lr": float_kind(below(0.0, False)),
            "warmup_shape": RAMP,
        },
    ),
    "FastGeometricEnsemble": (
        keras_lr.FastGeometricEnsemble,
        {"max_lr": 0.1, "min_lr": 0.01, "cycle_steps": 4},
        {
            "max_lr": float_kind(below(0.0, True)),
            "min_lr": float_kind(below(0.0, True)),
            "cycle_steps": int_kind(1),
            "n_models": int_kind(1, optional=True),
            "save_format": choices_of(["weights", "model"]),
            "overwrite": KINDS[id(BOOL)],
            "directory": path_kind(),
            "warmup_steps": WARMUP_STEPS,
            "warmup_start_lr": float_kind(below(0.0, False)),
            "warmup_shape": RAMP,
        },
    ),
    "StochasticWeightAveraging": (
        keras_lr.StochasticWeightAveraging,
        {"start_epoch": 1},
        {
            "start_epoch": int_kind(0),
            "swa_lr": float_kind(below(0.0, True), optional=True),
            "swap_at_end": KINDS[id(BOOL)],
            "verbose": int_kind(0, optional=True),
            "anneal_epochs": int_kind(0),
            "anneal_strategy": KINDS[id(ANNEAL)],  # PyTorch SWALR's "cos" | "linear"
            "every_n_steps": int_kind(1, optional=True),
        },
    ),
    "ScheduleFreeEval": (
        keras_lr.ScheduleFreeEval,
        {},
        {
            # Arrays, and dicts, lists or tuples of them, are inputs; None is none.
            "update_bn_data": (
                st.nothing(),
                st.one_of(
                    st.text(max_size=4),
                    st.binary(max_size=4),
                    st.booleans(),
                    st.integers(),
                    any_float,
                    st.builds(object),
                ),
            ),
            "update_bn_batch_size": int_kind(1),
        },
    ),
    "layer_decay": (
        lambda **kw: keras_lr.layer_decay(_model(), keras.optimizers.SGD(0.1), **kw),
        {},
        {"decay": float_kind(outside(0.0, 1.0, True, False))},
    ),
    "LearningRateMonitor": (
        keras_lr.LearningRateMonitor,
        {},
        {
            # None is valid (history only): only other types are bad.
            "log_dir": (
                st.nothing(),
                st.one_of(st.integers(), st.lists(st.text(max_size=2), max_size=2)),
            ),
            "log_momentum": KINDS[id(BOOL)],
        },
    ),
    "LRFinder": (
        keras_lr.LRFinder,
        {},
        {
            "min_lr": float_kind(below(0.0, True)),
            "max_lr": float_kind(below(0.0, True)),
            "num_steps": int_kind(2),
            "mode": choices_of(["exponential", "linear"]),
            "smoothing": float_kind(outside(0.0, 1.0, False, True)),
            "divergence_threshold": float_kind(below(1.0, True)),
            "stop_on_divergence": KINDS[id(BOOL)],
            "restore": KINDS[id(BOOL)],
            "verbose": int_kind(0, optional=True),
            "validation_every": int_kind(1),
        },
    ),
    "LRFinder.apply": (
        lambda **kw: _range_test().apply(**kw),
        {},
        {
            # None is the model the test ran on; another model is checked in
            # tests/test_finder_slide.py (not compiled, a schedule as its rate).
            "model": (st.nothing(), st.one_of(junk, st.booleans(), st.integers(), any_float)),
            # None is the default method.
            "method": (
                st.text(max_size=8).filter(lambda m: m not in _suggest.METHODS),
                st.one_of(junk.filter(lambda m: not isinstance(m, str)), st.booleans()),
            ),
        },
    ),
    "find_lr": (
        lambda **kw: keras_lr.find_lr(_model(), X3, X3[:, :1], verbose=0, **kw),
        {},
        {
            "batch_size": int_kind(1),
            "num_steps": int_kind(2),
            "min_lr": float_kind(below(0.0, True)),
        },
    ),
    "update_bn": (
        lambda **kw: keras_lr.update_bn(_model(), X3, **kw),
        {},
        {"batch_size": int_kind(1)},
    ),
    "FitContext": (
        keras_lr.FitContext,
        {},
        {
            "steps_per_epoch": int_kind(1, optional=True),
            "epochs": int_kind(1, optional=True),
            "start_step": int_kind(0),
            "horizon": int_kind(1, optional=True),
        },
    ),
    "warmup": (
        S.warmup,
        {"schedule": S.Constant(0.1), "warmup_steps": 3},
        {
            "warmup_steps": int_kind(0),
            "start_lr": float_kind(below(0.0, False)),
            "shape": RAMP,
        },
    ),
    "resolve": (
        lambda **kw: S.Join([S.Constant(0.1), S.Constant(0.2)], [0.5]).resolve(**kw),
        {"total_steps": 10},
        {"total_steps": int_kind(1)},
    ),
    # `schedule * number` is `Scaled(schedule, number)`; other operands are
    # Python's TypeError ("unsupported operand"), as for any object.
    "Schedule*number": (
        lambda scale: S.Cosine(0.1, 0.0, 10) * scale,
        {"scale": 0.5},
        {"scale": (below(0.0, True), st.nothing())},
    ),
    "Table": (
        S.Table,
        {"values": [0.1, 0.2]},
        {"offset": int_kind(0)},
    ),
    "schedule": (
        lambda **kw: keras_lr.CyclicLR(0.1, 0.5, 3).rates(**kw),
        {"steps": 10},
        {"steps_per_epoch": int_kind(1, optional=True), "epochs": int_kind(1, optional=True)},
    ),
    "WeightedMean": (
        keras_lr.WeightedMean,
        {"ensemble_weights": [1.0, 2.0]},
        {
            "ensemble_weights": (
                st.nothing(),
                st.one_of(st.integers(), st.none(), st.text(max_size=3)),
            )
        },
    ),
    "read_manifest": (keras_lr.read_manifest, {"directory": "."}, {"directory": path_kind()}),
    "snapshot_paths": (keras_lr.snapshot_paths, {"directory": "."}, {"directory": path_kind()}),
    "plot_schedule": (
        keras_lr.plot_schedule,
        {"callback_or_schedule": S.Constant(0.1), "steps": 5},
        {
            "callback_or_schedule": (
                st.nothing(),
                st.one_of(st.integers(), st.none(), st.text(max_size=3)),
            )
        },
    ),
}

CASES = [
    pytest.param(ctor, valid, name, kind_of(bad), id=f"{label(ctor)}-{name}")
    for ctor, (valid, kinds) in CONSTRUCTORS.items()
    for name, bad in kinds.items()
] + [
    pytest.param(ctor, valid, name, strategies, id=f"{label}-{name}")
    for label, (ctor, valid, kinds) in OTHERS.items()
    for name, strategies in kinds.items()
]


def test_every_public_name_is_fuzzed():
    fuzzed = {c.__name__ for c in CONSTRUCTORS} | set(OTHERS)
    public = {name for name in keras_lr.__all__ if callable(getattr(keras_lr, name))}
    # Covered elsewhere: the ensemble weight fit and load_ensemble's arguments
    # (tests/test_ensemble.py tables), plot_history (one argument, checked there);
    # SnapshotFileNotFoundError is an exception, raised, never built by users.
    elsewhere = {
        "fit_ensemble_weights",
        "load_ensemble",
        "plot_history",
        "SnapshotFileNotFoundError",
    }
    assert public - elsewhere <= fuzzed
    schedules = {n for n in S.__all__ if isinstance(getattr(S, n), type)} - {"Schedule"}
    assert schedules - {"Join"} <= fuzzed  # Join: test_arguments.relation_cases


def shows(message, value):
    """The message shows the value received (or, for a sequence, the bad element)."""
    if repr(value) in message:
        return True
    if isinstance(value, (list, tuple)):
        return any(repr(item) in message for item in value)
    return False


@pytest.mark.parametrize("ctor, valid, name, strategies", CASES)
@FEW
@given(data=st.data())
def test_any_bad_argument_is_refused_naming_it_and_the_value(ctor, valid, name, strategies, data):
    options = [(e, s) for e, s in zip((ValueError, TypeError), strategies) if not s.is_empty]
    error, strategy = data.draw(st.sampled_from(options), label="error")
    value = data.draw(strategy, label=name)
    with pytest.raises((ValueError, TypeError)) as info:
        ctor(**{**valid, name: value})
    message = str(info.value)
    assert type(info.value) is error, message
    assert f"`{name}`" in message or f"`{name}[" in message, message
    assert shows(message, value), message


# -- valid arguments never crash ---------------------------------------------------

rate = st.floats(0.0, 1.0)
peak = st.floats(1e-6, 1.0)
length = st.integers(1, 40)
unit = st.floats(0.01, 1.0)


@st.composite
def leaf_schedules(draw):
    kind = draw(st.sampled_from(sorted(LEAVES)))
    return LEAVES[kind](draw)


def _bounded(cls, draw, **extra):
    high = draw(peak)
    return cls(draw(rate) * high, high, **extra)


def _ramp(draw):
    shape = draw(st.sampled_from(S.RAMP_SHAPES))
    ends = peak if shape == "exponential" else rate  # a geometric ramp never reaches 0
    return S.Ramp(draw(ends), draw(ends), draw(length), shape)


def _warmup_stable_decay(draw):
    high = draw(peak)
    warmup_shape = draw(st.sampled_from(["linear", "cosine", "1-sqrt", "exponential"]))
    low = high * draw(st.floats(1e-3, 1.0) if warmup_shape == "exponential" else rate)
    total = draw(st.none() | st.integers(10, 200))
    warmup = st.integers(0, 4)
    if total is not None:
        warmup |= st.floats(0.01, 0.4)
    # The last steps of the int32 counter included: a decay started there.
    decay_start = st.none() | st.integers(0, 100) | st.integers(2**31 - 200, 2**31 - 1)
    return S.WarmupStableDecay(
        high,
        draw(warmup),
        draw(st.integers(0, 5) | st.floats(0.01, 0.5)),
        total,
        warmup_shape,
        draw(st.sampled_from(["linear", "cosine", "1-sqrt"])),
        low,
        decay_start=draw(decay_start),
    )


LEAVES = {
    "Constant": lambda d: S.Constant(d(rate)),
    "Linear": lambda d: S.Linear(d(rate), d(rate), d(length)),
    "Cosine": lambda d: (lambda hi: S.Cosine(hi, d(rate) * hi, d(length)))(d(peak)),
    "Polynomial": lambda d: S.Polynomial(
        d(peak), d(length), d(st.floats(0.1, 4.0)), d(rate), d(st.booleans())
    ),
    "Exponential": lambda d: S.Exponential(d(peak), d(unit)),
    "Staircase": lambda d: S.Staircase(
        d(peak),
        d(unit),
        d(length),
        d(
            st.none()
            | st.lists(st.integers(1, 60), min_size=1, max_size=4, unique=True).map(sorted)
        ),
    ),
    "Cyclic": lambda d: _bounded(
        S.Cyclic,
        d,
        step_size=d(length),
        mode=d(st.sampled_from(["triangular", "triangular2", "exp_range"])),
        gamma=d(st.floats(0.5, 1.0)),
        step_size_down=d(st.none() | length),
    ),
    "CosineRestarts": lambda d: (
        lambda hi: S.CosineRestarts(
            d(rate) * hi,
            hi,
            cycle_length=d(length),
            mult_factor=d(st.just(1.0) | st.floats(1.0, 3.0)),
            lr_decay=d(unit),
            steps_per_unit=d(st.integers(1, 8)),
            cycle_limit=d(st.none() | st.integers(1, 6)),
        )
    )(d(peak)),
    "OneCycle": lambda d: (
        lambda three: S.OneCycle(
            d(peak),
            d(st.integers(2, 80)),
            d(st.floats(0.05, 0.45 if three else 0.95)),
            d(st.floats(1.0, 100.0)),
            d(st.floats(1.0, 1e4)),
            d(st.sampled_from(["cos", "linear"])),
            three,
        )
    )(d(st.booleans())),
    "GeometricCycle": lambda d: (
        lambda low: S.GeometricCycle(low + d(rate), low, 2 * d(st.integers(1, 20)))
    )(d(peak)),
    "Table": lambda d: S.Table(d(st.lists(rate, min_size=1, max_size=30)), d(st.integers(0, 20))),
    "Ramp": _ramp,
    "WarmupStableDecay": _warmup_stable_decay,
    "InverseSqrt": lambda d: S.InverseSqrt(
        d(peak), d(st.integers(0, 40)), d(st.none() | st.integers(1, 10_000))
    ),
}
LEAVES["Momentum"] = lambda d: (
    lambda high: S.Momentum(
        d(st.sampled_from([LEAVES["Cyclic"], LEAVES["OneCycle"]]))(d),
        high * d(unit),
        high,
    )
)(d(unit))


@st.composite
def composite_schedules(draw, children):
    kind = draw(
        st.sampled_from(["PerEpoch", "Join", "Join-fractions", "Scaled", "Product", "warmup"])
    )
    if kind == "PerEpoch":
        return S.PerEpoch(draw(children), draw(st.integers(1, 10)))
    if kind == "Scaled":
        scale = draw(st.floats(1e-3, 10.0))
        return draw(st.sampled_from([S.Scaled(draw(children), scale), scale * draw(children)]))
    if kind == "Product":
        return draw(children) * draw(children)
    if kind == "warmup":
        shape = draw(st.sampled_from(S.RAMP_SHAPES))
        child = draw(children)
        start = draw(peak if shape == "exponential" else rate)
        if shape == "exponential":  # from start_lr > 0 to a first rate > 0
            assume(child.numpy([0])[0] > 0)
        return S.warmup(child, draw(st.integers(0, 30)), start, shape)
    parts = draw(st.lists(children, min_size=1, max_size=3))
    if kind == "Join-fractions":
        # Tenths of a run of at least 10 steps: never two boundaries on one step.
        tenths = draw(
            st.lists(
                st.integers(1, 9), min_size=len(parts) - 1, max_size=len(parts) - 1, unique=True
            )
        )
        join = S.Join(parts, [k / 10 for k in sorted(tenths)])
        return join.resolve(draw(st.integers(10, 100)))
    bounds = draw(
        st.lists(st.integers(1, 80), min_size=len(parts) - 1, max_size=len(parts) - 1, unique=True)
    )
    return S.Join(parts, sorted(bounds))


schedules = st.recursive(leaf_schedules(), lambda c: composite_schedules(c), max_leaves=4)
STEPS = np.r_[np.arange(120), [1_000, 99_999, 1_234_567, 2**31 - 2]]


def test_every_schedule_class_is_drawn():
    drawn = set(LEAVES) | {"PerEpoch", "Join", "Scaled", "Product"}
    assert {n for n in S.__all__ if isinstance(getattr(S, n), type)} - {"Schedule"} <= drawn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules)
def test_valid_schedules_give_finite_rates_in_numpy_and_in_keras_ops(schedule):
    rates = schedule.numpy(STEPS)
    assert rates.shape == STEPS.shape and rates.dtype == np.float64
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0)
    compiled = np.asarray(keras.ops.convert_to_numpy(schedule(STEPS.astype("int32"))))
    assert compiled.dtype == np.float32
    scale = max(1.0, float(rates.max()))
    np.testing.assert_allclose(compiled, rates, rtol=1e-4, atol=2e-6 * scale)
    rebuilt = type(schedule).from_config(schedule.get_config())
    np.testing.assert_array_equal(rebuilt.numpy(STEPS), rates)


# The last steps of the int32 step counter, where a sum of two steps in
# `keras.ops` (int32) would wrap around.
LAST_STEPS = np.array([0, 3, 2**31 - 10_001, 2**31 - 10_000, 2**31 - 5, 2**31 - 2])
NEAR_THE_END = {
    "InverseSqrt": lambda: S.InverseSqrt(1.0, 0),
    "InverseSqrt-timescale": lambda: S.InverseSqrt(1.0, 5, timescale=1_000),
    "WarmupStableDecay-decay_start": lambda: S.WarmupStableDecay(1.0, 0, 5, decay_start=2**31 - 4),
    "WarmupStableDecay-fraction": lambda: S.WarmupStableDecay(1.0, 0, 0.5, decay_start=2**30),
}


@pytest.mark.parametrize("name", sorted(NEAR_THE_END))
def test_rates_near_the_end_of_the_step_counter_are_the_numpy_rates_or_refused(name):
    try:
        schedule = NEAR_THE_END[name]()
    except ValueError as error:  # a decay past the counter may be refused by name
        assert "`decay_start`" in str(error) and "2147483647" in str(error)
        return
    rates = schedule.numpy(LAST_STEPS)
    compiled = keras.ops.convert_to_numpy(schedule(LAST_STEPS.astype("int32")))
    np.testing.assert_allclose(compiled, rates, rtol=1e-4, atol=1e-7)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 6),
    max_lr=peak,
    spe=st.integers(1, 6),
    epochs=st.integers(1, 8),
    fge_half=st.integers(1, 6),
    swa_lr=st.none() | peak,
    warmup=st.fixed_dictionaries(
        {
            "warmup_steps": st.integers(0, 40) | st.floats(0.001, 0.8),
            "warmup_start_lr": st.floats(1e-4, 1.0),
            "warmup_shape": st.sampled_from(S.RAMP_SHAPES),
        }
    ),
    anneal=st.fixed_dictionaries(
        {
            "anneal_epochs": st.integers(0, 20),
            "anneal_strategy": st.sampled_from(["cos", "linear"]),
            "every_n_steps": st.none() | st.integers(1, 50),
        }
    ),
)
def test_valid_snapshot_and_swa_callbacks_preview_finite_rates(
    n, max_lr, spe, epochs, fge_half, swa_lr, warmup, anneal
):
    assume(n <= spe * epochs and (n - 1) * math.ceil(spe * epochs / n) < spe * epochs)
    snap = keras_lr.SnapshotEnsemble(n, max_lr=max_lr, directory="unused", epochs=epochs)
    rates = snap.rates(spe * epochs, steps_per_epoch=spe)
    assert np.all(np.isfinite(rates)) and rates.max() <= max_lr * (1 + 1e-12) and rates.min() >= 0
    fge = keras_lr.FastGeometricEnsemble(max_lr * 2, max_lr, 2 * fge_half, directory="unused")
    assert np.all(np.isfinite(fge.rates(50)))
    # With a warm-up of any shape, in steps or a fraction of the 50 steps.
    fge = keras_lr.FastGeometricEnsemble(
        max_lr * 2, max_lr, 2 * fge_half, directory="unused", **warmup
    )
    rates = fge.rates(50, steps_per_epoch=5, epochs=10)
    assert np.all(np.isfinite(rates)) and rates.min() >= 0
    if warmup["warmup_steps"]:
        assert rates[0] == pytest.approx(warmup["warmup_start_lr"])
    swa = keras_lr.StochasticWeightAveraging(epochs - 1, swa_lr=swa_lr, **anneal)
    assert keras_lr.StochasticWeightAveraging.from_config(swa.get_config()).get_config() == (
        swa.get_config()
    )
    keras_lr.LRFinder(max_lr / 10, max_lr, num_steps=n + 1)


# -- a corrupted snapshot directory at the start of a run ----------------------------


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.parametrize("overwrite", [False, True])
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=corrupt_manifests())
def test_corrupt_snapshot_directory_is_refused_or_replaced_never_a_crash(
    tmp_path_factory, overwrite, content
):
    directory = tmp_path_factory.mktemp("snaps")
    (directory / "manifest.json").write_bytes(content)
    for k in range(3):
        (directory / f"snapshot-{k:03d}.weights.h5").write_bytes(b"not hdf5")
    probe = RateProbe(8)
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.2, directory=directory, overwrite=overwrite)
    if not overwrite:
        with pytest.raises(ValueError, match="not empty.*overwrite=True") as info:
            probe.fit([snap], epochs=2, steps_per_epoch=4)
        assert str(directory) in str(info.value)
        assert not np.any(probe.rates())  # refused before the first step
        assert (directory / "manifest.json").read_bytes() == content
        return
    probe.fit([snap], epochs=2, steps_per_epoch=4)
    manifest = keras_lr.read_manifest(directory)
    assert [e["step"] for e in manifest["snapshots"]] == [4, 8]
    assert sorted(os.listdir(directory)) == [
        "manifest.json",
        "snapshot-000.weights.h5",
        "snapshot-001.weights.h5",
    ]
    with open(directory / "manifest.json") as f:
        assert json.load(f)["kind"] == "SnapshotEnsemble"
