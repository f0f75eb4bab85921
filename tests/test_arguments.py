"""Every bad argument of every public constructor, and config round trips.

Each bad argument must raise `ValueError` (bad value) or `TypeError` (bad
type) with the one message form of the package: the argument named in
backticks and the value received, "Argument `step_size` must be a positive
integer. Received: step_size=0".
"""

from __future__ import annotations

import inspect
import math
import re

import keras
import numpy as np
import pytest
from conftest import RateProbe, assert_rates
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_lr
from keras_lr import schedules as S

NAN, INF = float("nan"), float("inf")

# Bad values by kind of argument: (value, exception, how the message shows it).
POSITIVE_FLOAT = [
    (0, ValueError, "0"),
    (0.0, ValueError, "0.0"),
    (-0.5, ValueError, "-0.5"),
    (NAN, ValueError, "nan"),
    (INF, ValueError, "inf"),
    ("0.1", TypeError, "'0.1'"),
    (True, TypeError, "True"),
    (None, TypeError, "None"),
    ([0.1], TypeError, "[0.1]"),
]
NONNEGATIVE_FLOAT = [
    (-1e-3, ValueError, "-0.001"),
    (-INF, ValueError, "-inf"),
    (NAN, ValueError, "nan"),
    ("0", TypeError, "'0'"),
    (False, TypeError, "False"),
    (None, TypeError, "None"),
]
# Integral floats (4.0, as the classic Keras CLR code writes step_size=2000.)
# are accepted as the int they equal; any other float is refused.
POSITIVE_INT = [
    (0, ValueError, "0"),
    (-3, ValueError, "-3"),
    (0.0, ValueError, "0.0"),
    (-2.0, ValueError, "-2.0"),
    (2**31, ValueError, "2147483648"),
    (1e12, ValueError, "1000000000000.0"),
    (2.5, TypeError, "2.5"),
    (np.float32(2.5), TypeError, "np.float32(2.5)"),
    (NAN, TypeError, "nan"),
    (INF, TypeError, "inf"),
    (True, TypeError, "True"),
    ("4", TypeError, "'4'"),
    (None, TypeError, "None"),
]
OPTIONAL_POSITIVE_INT = [case for case in POSITIVE_INT if case[0] is not None]
NONNEGATIVE_INT = [
    (-1, ValueError, "-1"),
    (-1.0, ValueError, "-1.0"),
    (2**31, ValueError, "2147483648"),
    (1.5, TypeError, "1.5"),
    (NAN, TypeError, "nan"),
    (True, TypeError, "True"),
    ("2", TypeError, "'2'"),
]
UNIT_INTERVAL_OPEN_LOW = [  # (0, 1]
    (0, ValueError, "0"),
    (-0.5, ValueError, "-0.5"),
    (1.5, ValueError, "1.5"),
    (1.0000001, ValueError, "1.0000001"),
    (NAN, ValueError, "nan"),
    ("0.5", TypeError, "'0.5'"),
    (None, TypeError, "None"),
]
OPEN_UNIT_INTERVAL = [  # (0, 1)
    (0.0, ValueError, "0.0"),
    (1, ValueError, "1"),
    (1.0, ValueError, "1.0"),
    (1.5, ValueError, "1.5"),
    (-0.1, ValueError, "-0.1"),
    (NAN, ValueError, "nan"),
    ("0.5", TypeError, "'0.5'"),
]
# A length in steps or a fraction of the run (`warmup_steps`, `decay_steps`):
# an integer >= 0 or a float in (0, 1); any other float is a bad value, as the
# integral floats are counts (1.5 is neither a count nor a fraction).
STEPS_OR_FRACTION = [
    (-1, ValueError, "-1"),
    (-1.0, ValueError, "-1.0"),
    (-0.5, ValueError, "-0.5"),
    (1.5, ValueError, "1.5"),
    (1.0000001, ValueError, "1.0000001"),
    (np.float64(2.5), ValueError, "np.float64(2.5)"),
    (2**31, ValueError, "2147483648"),
    (NAN, TypeError, "nan"),
    (INF, TypeError, "inf"),
    (True, TypeError, "True"),
    ("0.5", TypeError, "'0.5'"),
    (None, TypeError, "None"),
]
REQUIRED_NONNEGATIVE_INT = NONNEGATIVE_INT + [(None, TypeError, "None")]
MULT_FACTOR = [
    (0.5, ValueError, "0.5"),
    (0.999, ValueError, "0.999"),
    (0, ValueError, "0"),
    (-2.0, ValueError, "-2.0"),
    (NAN, ValueError, "nan"),
    (INF, ValueError, "inf"),
    ("2", TypeError, "'2'"),
    (None, TypeError, "None"),
]
CYCLIC_MODE = [
    ("bogus", ValueError, "'bogus'"),
    ("Triangular", ValueError, "'Triangular'"),
    ("", ValueError, "''"),
    (1, TypeError, "1"),
    (None, TypeError, "None"),
]
SCALE_MODE = [
    ("cycles", ValueError, "'cycles'"),
    ("iteration", ValueError, "'iteration'"),
    (0, TypeError, "0"),
]
ANNEAL = [
    ("cosine", ValueError, "'cosine'"),
    ("exp", ValueError, "'exp'"),
    (None, TypeError, "None"),
]
# The shapes of `schedules.Ramp` (a warm-up's `warmup_shape`, warmup's `shape`).
RAMP_SHAPE = [
    ("cos", ValueError, "'cos'"),
    ("Linear", ValueError, "'Linear'"),
    ("1-sqrt", ValueError, "'1-sqrt'"),
    ("", ValueError, "''"),
    (0, TypeError, "0"),
    (None, TypeError, "None"),
]
# WarmupStableDecay's shapes, Hugging Face's `warmup_type` / `decay_type`.
WSD_WARMUP_SHAPE = [
    ("sqrt", ValueError, "'sqrt'"),
    ("Cosine", ValueError, "'Cosine'"),
    ("step", ValueError, "'step'"),
    (1, TypeError, "1"),
    (None, TypeError, "None"),
]
DECAY_SHAPE = [
    ("exponential", ValueError, "'exponential'"),
    ("cos", ValueError, "'cos'"),
    ("1 - sqrt", ValueError, "'1 - sqrt'"),
    (1, TypeError, "1"),
    (None, TypeError, "None"),
]
# InverseSqrt's warm-up starts at 0: no geometric ("exponential") warm-up.
INVERSE_SQRT_WARMUP_SHAPE = RAMP_SHAPE + [("exponential", ValueError, "'exponential'")]
A_SCHEDULE = [
    (0.1, TypeError, "0.1"),
    (None, TypeError, "None"),
    ("cosine", TypeError, "'cosine'"),
    ([S.Constant(0.1)], TypeError, "[Constant(learning_rate=0.1)]"),
]
BOOL = [
    (1, TypeError, "1"),
    ("True", TypeError, "'True'"),
    (None, TypeError, "None"),
    (0, TypeError, "0"),
]
NOT_CALLABLE = [
    (3, TypeError, "3"),
    ("lambda i: 0.1", TypeError, "'lambda i: 0.1'"),
    (0.1, TypeError, "0.1"),
]
MILESTONES = [
    ([3, 2], ValueError, "[3, 2]"),
    ([2, 2], ValueError, "[2, 2]"),
    ([0, 3], ValueError, "[0, 3]"),
    ([-1], ValueError, "[-1]"),
    ([], ValueError, "[]"),
    ([1, 2**31], ValueError, "2147483648"),
    ([1, 2.5], TypeError, "2.5"),
    ([1, NAN], TypeError, "nan"),
    ([1, True], TypeError, "True"),
    ("12", TypeError, "'12'"),
    (5, TypeError, "5"),
    (np.array(0.1), TypeError, "array(0.1)"),
    (np.array(3), TypeError, "array(3)"),
]


def per_group(cases):
    """A callback's rate argument: one number, or a list with one per sub-optimizer.

    A list is no longer a bad value there; a bad entry in one is refused by
    the same message, and so is an empty list or another container.
    """
    scalar = [case for case in cases if not isinstance(case[0], list)]
    listed = [([0.001, value], error, shown) for value, error, shown in scalar if value is not None]
    return scalar + listed + [([], ValueError, "[]"), ({0.1}, TypeError, "{0.1}")]


GROUP_POSITIVE_FLOAT = per_group(POSITIVE_FLOAT)
GROUP_NONNEGATIVE_FLOAT = per_group(NONNEGATIVE_FLOAT)
WARMUP = {
    "warmup_steps": STEPS_OR_FRACTION,
    "warmup_start_lr": GROUP_NONNEGATIVE_FLOAT,
    "warmup_shape": RAMP_SHAPE,
}
MOMENTUM = {
    "cycle_momentum": [(1, TypeError, "1"), ("True", TypeError, "'True'"), (0, TypeError, "0")],
    "base_momentum": [
        (-0.1, ValueError, "-0.1"),
        (1.5, ValueError, "1.5"),
        (0.99, ValueError, "0.99"),  # above max_momentum
        (NAN, ValueError, "nan"),
        ("0.8", TypeError, "'0.8'"),
        ([0.8, 1.5], ValueError, "1.5"),
    ],
    "max_momentum": [
        (1.01, ValueError, "1.01"),
        (-1.0, ValueError, "-1.0"),
        (None, TypeError, "None"),
        ([0.9, "x"], TypeError, "'x'"),
    ],
}

# Valid arguments of each constructor and the kind of each argument.
CONSTRUCTORS = {
    S.Constant: ({"learning_rate": 0.1}, {"learning_rate": NONNEGATIVE_FLOAT}),
    S.Linear: (
        {"start_lr": 0.0, "end_lr": 0.1, "total_steps": 10},
        {"start_lr": NONNEGATIVE_FLOAT, "end_lr": NONNEGATIVE_FLOAT, "total_steps": POSITIVE_INT},
    ),
    S.Cosine: (
        {"max_lr": 0.1, "min_lr": 0.0, "total_steps": 10},
        {"max_lr": POSITIVE_FLOAT, "min_lr": NONNEGATIVE_FLOAT, "total_steps": POSITIVE_INT},
    ),
    S.Polynomial: (
        {"initial_lr": 0.1, "total_steps": 10, "power": 1.0, "end_lr": 0.0},
        {
            "initial_lr": POSITIVE_FLOAT,
            "total_steps": POSITIVE_INT,
            "power": POSITIVE_FLOAT,
            "end_lr": NONNEGATIVE_FLOAT,
            "cycle": BOOL,
        },
    ),
    S.Exponential: (
        {"initial_lr": 0.1, "gamma": 0.9},
        {"initial_lr": POSITIVE_FLOAT, "gamma": UNIT_INTERVAL_OPEN_LOW},
    ),
    S.Staircase: (
        {"initial_lr": 0.1, "decay_factor": 0.5, "step_size": 10},
        {
            "initial_lr": POSITIVE_FLOAT,
            "decay_factor": UNIT_INTERVAL_OPEN_LOW,
            "step_size": POSITIVE_INT,
            "milestones": MILESTONES,
        },
    ),
    S.Cyclic: (
        {"base_lr": 0.001, "max_lr": 0.006, "step_size": 4},
        {
            "base_lr": NONNEGATIVE_FLOAT,
            "max_lr": POSITIVE_FLOAT,
            "step_size": POSITIVE_INT,
            "mode": CYCLIC_MODE,
            "gamma": UNIT_INTERVAL_OPEN_LOW,
            "scale_fn": NOT_CALLABLE,
            "scale_mode": SCALE_MODE,
            "step_size_down": OPTIONAL_POSITIVE_INT,
        },
    ),
    S.CosineRestarts: (
        {"min_lr": 0.0, "max_lr": 0.1},
        {
            "min_lr": NONNEGATIVE_FLOAT,
            "max_lr": POSITIVE_FLOAT,
            "cycle_length": POSITIVE_INT,
            "mult_factor": MULT_FACTOR,
            "lr_decay": UNIT_INTERVAL_OPEN_LOW,
            "steps_per_unit": POSITIVE_INT,
            "cycle_limit": OPTIONAL_POSITIVE_INT,
        },
    ),
    S.GeometricCycle: (
        {"max_lr": 0.1, "min_lr": 0.01, "cycle_steps": 4},
        {"max_lr": POSITIVE_FLOAT, "min_lr": POSITIVE_FLOAT, "cycle_steps": POSITIVE_INT},
    ),
    S.OneCycle: (
        {"max_lr": 0.1, "total_steps": 100},
        {
            "max_lr": POSITIVE_FLOAT,
            "total_steps": POSITIVE_INT,
            "pct_start": OPEN_UNIT_INTERVAL,
            "div_factor": POSITIVE_FLOAT,
            "final_div_factor": POSITIVE_FLOAT,
            "anneal_strategy": ANNEAL,
            "three_phase": BOOL,
        },
    ),
    S.PerEpoch: (
        {"schedule": S.Constant(0.1), "steps_per_epoch": 5},
        {"steps_per_epoch": POSITIVE_INT},
    ),
    S.Scaled: ({"schedule": S.Constant(0.1), "scale": 0.5}, {"scale": POSITIVE_FLOAT}),
    S.Momentum: (
        {"schedule": S.Cyclic(0.1, 0.5, 2), "base_momentum": 0.8, "max_momentum": 0.9},
        {
            "schedule": [(S.Constant(0.1), TypeError, "Constant"), (None, TypeError, "None")],
            "base_momentum": [c for c in MOMENTUM["base_momentum"] if not isinstance(c[0], list)],
            "max_momentum": [c for c in MOMENTUM["max_momentum"] if not isinstance(c[0], list)],
        },
    ),
    S.Ramp: (
        {"start_lr": 0.0, "end_lr": 0.1, "total_steps": 10},
        {
            "start_lr": NONNEGATIVE_FLOAT,
            "end_lr": NONNEGATIVE_FLOAT,
            "total_steps": POSITIVE_INT,
            "shape": RAMP_SHAPE,
        },
    ),
    S.Product: ({"a": S.Constant(0.1), "b": S.Constant(0.5)}, {"a": A_SCHEDULE, "b": A_SCHEDULE}),
    S.WarmupStableDecay: (
        {"max_lr": 0.1, "warmup_steps": 2, "total_steps": 100},
        {
            "max_lr": POSITIVE_FLOAT,
            "warmup_steps": STEPS_OR_FRACTION,
            "decay_steps": STEPS_OR_FRACTION,
            "total_steps": OPTIONAL_POSITIVE_INT,
            "warmup_shape": WSD_WARMUP_SHAPE,
            "decay_shape": DECAY_SHAPE,
            "min_lr": NONNEGATIVE_FLOAT,
            "decay_start": NONNEGATIVE_INT,
        },
    ),
    S.InverseSqrt: (
        {"max_lr": 0.1, "warmup_steps": 4},
        {
            "max_lr": POSITIVE_FLOAT,
            "warmup_steps": REQUIRED_NONNEGATIVE_INT,
            "timescale": OPTIONAL_POSITIVE_INT,
        },
    ),
    keras_lr.ScheduleCallback: ({"schedule": S.Constant(0.1)}, dict(WARMUP)),
    keras_lr.CyclicLR: (
        {"base_lr": 0.001, "max_lr": 0.006, "step_size": 4},
        {
            "base_lr": GROUP_NONNEGATIVE_FLOAT,
            "max_lr": GROUP_POSITIVE_FLOAT,
            "step_size": POSITIVE_INT,
            "mode": CYCLIC_MODE,
            "gamma": UNIT_INTERVAL_OPEN_LOW,
            "scale_fn": NOT_CALLABLE,
            "scale_mode": SCALE_MODE,
            "step_size_down": OPTIONAL_POSITIVE_INT,
            **MOMENTUM,
            **WARMUP,
        },
    ),
    keras_lr.SGDRScheduler: (
        {"min_lr": 0.0, "max_lr": 0.1},
        {
            "min_lr": GROUP_NONNEGATIVE_FLOAT,
            "max_lr": GROUP_POSITIVE_FLOAT,
            "steps_per_epoch": OPTIONAL_POSITIVE_INT,
            "lr_decay": UNIT_INTERVAL_OPEN_LOW,
            "cycle_length": POSITIVE_INT,
            "mult_factor": MULT_FACTOR,
            "cycle_limit": OPTIONAL_POSITIVE_INT,
            **WARMUP,
        },
    ),
    keras_lr.StepDecay: (
        {"initial_lr": 0.1},
        {
            "initial_lr": GROUP_POSITIVE_FLOAT,
            "decay_factor": UNIT_INTERVAL_OPEN_LOW,
            "step_size": POSITIVE_INT,
            "milestones": MILESTONES,
            "steps_per_epoch": OPTIONAL_POSITIVE_INT,
            **WARMUP,
        },
    ),
    keras_lr.OneCycleLR: (
        {"max_lr": 0.1},
        {
            "max_lr": GROUP_POSITIVE_FLOAT,
            "total_steps": OPTIONAL_POSITIVE_INT,
            "pct_start": OPEN_UNIT_INTERVAL,
            "div_factor": POSITIVE_FLOAT,
            "final_div_factor": POSITIVE_FLOAT,
            "anneal_strategy": ANNEAL,
            "three_phase": BOOL,
            **MOMENTUM,
            **WARMUP,
        },
    ),
    keras_lr.PolynomialDecay: (
        {"initial_lr": 0.1, "total_steps": 10},
        {
            "initial_lr": GROUP_POSITIVE_FLOAT,
            "total_steps": OPTIONAL_POSITIVE_INT,
            "power": POSITIVE_FLOAT,
            "end_lr": GROUP_NONNEGATIVE_FLOAT,
            "cycle": BOOL,
            **WARMUP,
        },
    ),
    keras_lr.ExponentialDecay: (
        {"initial_lr": 0.1, "gamma": 0.9},
        {
            "initial_lr": GROUP_POSITIVE_FLOAT,
            "gamma": UNIT_INTERVAL_OPEN_LOW,
            "steps_per_epoch": OPTIONAL_POSITIVE_INT,
            **WARMUP,
        },
    ),
    keras_lr.CosineAnnealing: (
        {"max_lr": 0.1},
        {
            "max_lr": GROUP_POSITIVE_FLOAT,
            "min_lr": GROUP_NONNEGATIVE_FLOAT,
            "total_steps": OPTIONAL_POSITIVE_INT,
            **WARMUP,
        },
    ),
    keras_lr.LambdaSchedule: (
        {"fn": lambda i: 0.1},
        {
            "fn": NOT_CALLABLE + [(None, TypeError, "None")],
            "unit": [
                ("batch", ValueError, "'batch'"),
                ("epochs", ValueError, "'epochs'"),
                (1, TypeError, "1"),
            ],
            "steps_per_epoch": OPTIONAL_POSITIVE_INT,
            **WARMUP,
        },
    ),
    keras_lr.WarmupStableDecay: (
        {"max_lr": 0.1},
        {
            "max_lr": GROUP_POSITIVE_FLOAT,
            "warmup_steps": STEPS_OR_FRACTION,
            "decay_steps": STEPS_OR_FRACTION,
            "total_steps": OPTIONAL_POSITIVE_INT,
            "warmup_shape": WSD_WARMUP_SHAPE,
            "decay_shape": DECAY_SHAPE,
            "min_lr": GROUP_NONNEGATIVE_FLOAT,
        },
    ),
    keras_lr.InverseSqrt: (
        {"max_lr": 0.1, "warmup_steps": 4},
        {
            "max_lr": GROUP_POSITIVE_FLOAT,
            "warmup_steps": STEPS_OR_FRACTION,
            "timescale": OPTIONAL_POSITIVE_INT,
            "warmup_shape": INVERSE_SQRT_WARMUP_SHAPE,
        },
    ),
    keras_lr.LearningRateMonitor: (
        {},
        {
            "log_dir": [(3, TypeError, "3"), (["logs"], TypeError, "['logs']")],
            "log_momentum": BOOL,
        },
    ),
    keras_lr.ReduceLROnPlateau: (
        {},
        {
            "monitor": [(3, TypeError, "3"), (None, TypeError, "None")],
            "factor": OPEN_UNIT_INTERVAL + [(2, ValueError, "2")],
            "patience": NONNEGATIVE_INT,
            "mode": [
                ("minimum", ValueError, "'minimum'"),
                ("auto ", ValueError, "'auto '"),
                (0, TypeError, "0"),
            ],
            "min_delta": NONNEGATIVE_FLOAT,
            "threshold_mode": [("pct", ValueError, "'pct'"), (None, TypeError, "None")],
            "cooldown": NONNEGATIVE_INT,
            "min_lr": NONNEGATIVE_FLOAT,
            "verbose": [(-1, ValueError, "-1"), ("1", TypeError, "'1'")],
        },
    ),
}

CALLBACKS = [ctor for ctor in CONSTRUCTORS if issubclass(ctor, keras.callbacks.Callback)]


def label(ctor):
    """A constructor's name in test ids; `S.` in front where a callback has the same name."""
    name = ctor.__name__
    if ctor.__module__.startswith("keras_lr.schedules") and hasattr(keras_lr, name):
        return f"S.{name}"
    return name


def warmup_relation_cases():
    """What a value refuses with another: a geometric ramp from 0, lengths past the run."""
    exponential = {"warmup_shape": "exponential"}
    for ctor, (valid, kinds) in CONSTRUCTORS.items():
        if "warmup_start_lr" not in kinds:
            continue
        for steps in (3, 0.25):
            yield expect(
                ctor,
                {**valid, **exponential, "warmup_steps": steps},
                ValueError,
                "warmup_start_lr",
                "warmup_start_lr=0.0",
                case_id=f"{label(ctor)}-exponential-warmup-from-0-over-{steps}",
            )
    for ctor, valid in (
        (keras_lr.SnapshotEnsemble, {"n_snapshots": 2}),
        (keras_lr.FastGeometricEnsemble, {"max_lr": 0.1, "min_lr": 0.01, "cycle_steps": 4}),
    ):
        yield expect(
            ctor,
            {**valid, **exponential, "warmup_steps": 0.1},
            ValueError,
            "warmup_start_lr",
            "warmup_start_lr=0.0",
            case_id=f"{label(ctor)}-exponential-warmup-from-0",
        )
    for name, kwargs in (
        ("start_lr", {"start_lr": 0.0, "end_lr": 0.1}),
        ("end_lr", {"start_lr": 0.1, "end_lr": 0.0}),
    ):
        yield expect(
            S.Ramp,
            {**kwargs, "total_steps": 4, "shape": "exponential"},
            ValueError,
            name,
            f"{name}=0.0",
            case_id=f"Ramp-exponential-{name}=0",
        )
    for ctor, total in (
        (S.WarmupStableDecay, {"total_steps": 10}),
        (keras_lr.WarmupStableDecay, {}),
    ):
        wsd = label(ctor)
        yield expect(
            ctor,
            {"max_lr": 0.1, "warmup_steps": 4, **total, "warmup_shape": "exponential"},
            ValueError,
            "min_lr",
            "min_lr=0.0",
            case_id=f"{wsd}-exponential-warmup-from-0",
        )
        yield expect(
            ctor,
            {"max_lr": 0.1, "min_lr": 0.2, **total},
            ValueError,
            "min_lr",
            "min_lr=0.2, max_lr=0.1",
            case_id=f"{wsd}-min_lr-above-max_lr",
        )
        for warm, decay in ((6, 5), (0.6, 0.5), (0.95, 1)):
            yield expect(
                ctor,
                {"max_lr": 0.1, "warmup_steps": warm, "decay_steps": decay, "total_steps": 10},
                ValueError,
                "warmup_steps",
                f"warmup_steps={warm}, decay_steps={decay}",
                case_id=f"{wsd}-no-stable-phase-{warm}-{decay}",
            )
    yield expect(
        S.WarmupStableDecay,
        {"max_lr": 0.1, "warmup_steps": 0.1},
        ValueError,
        "warmup_steps",
        "warmup_steps=0.1",
        case_id="S.WarmupStableDecay-fractional-warmup-without-total_steps",
    )


def single_argument_cases():
    for ctor, (valid, kinds) in CONSTRUCTORS.items():
        for name, bad_values in kinds.items():
            for value, error, shown in bad_values:
                yield pytest.param(
                    ctor,
                    {**valid, name: value},
                    error,
                    name,
                    f"{name}={shown}",
                    id=f"{label(ctor)}-{name}={shown}",
                )


def expect(ctor, kwargs, error, name, shown, case_id=None):
    return pytest.param(ctor, kwargs, error, name, shown, id=case_id or f"{label(ctor)}-{shown}")


def relation_cases():
    cyclic = {"base_lr": 0.01, "max_lr": 0.006, "step_size": 4}
    for ctor in (S.Cyclic, keras_lr.CyclicLR):
        yield expect(ctor, cyclic, ValueError, "base_lr", "base_lr=0.01, max_lr=0.006")
    for ctor in (S.Cosine, keras_lr.CosineAnnealing):
        yield expect(
            ctor, {"max_lr": 0.1, "min_lr": 0.2}, ValueError, "min_lr", "min_lr=0.2, max_lr=0.1"
        )
    for ctor in (S.CosineRestarts, keras_lr.SGDRScheduler):
        yield expect(
            ctor, {"min_lr": 0.2, "max_lr": 0.1}, ValueError, "min_lr", "min_lr=0.2, max_lr=0.1"
        )
    for ctor, valid in (
        (S.OneCycle, {"max_lr": 0.1, "total_steps": 100}),
        (keras_lr.OneCycleLR, {"max_lr": 0.1}),
    ):
        for pct in (0.5, 0.6):
            yield expect(
                ctor,
                {**valid, "three_phase": True, "pct_start": pct},
                ValueError,
                "pct_start",
                f"pct_start={pct}",
                case_id=f"{ctor.__name__}-3phase-{pct}",
            )
    yield expect(keras_lr.ReduceLROnPlateau, {"monitor": ""}, ValueError, "monitor", "monitor=''")
    geometric = {"max_lr": 0.1, "min_lr": 0.01}
    for cycle in (1, 5):
        yield expect(
            S.GeometricCycle,
            {**geometric, "cycle_steps": cycle},
            ValueError,
            "cycle_steps",
            f"cycle_steps={cycle}",
            case_id=f"GeometricCycle-odd-{cycle}",
        )
    yield expect(
        S.GeometricCycle,
        {"max_lr": 0.01, "min_lr": 0.1, "cycle_steps": 4},
        ValueError,
        "min_lr",
        "min_lr=0.1, max_lr=0.01",
    )
    yield from warmup_relation_cases()
    keras_cosine = keras.optimizers.schedules.CosineDecay(0.1, 10)
    for bad in (None, 0.1, keras_cosine, "cosine"):
        yield expect(
            keras_lr.ScheduleCallback,
            {"schedule": bad},
            TypeError,
            "schedule",
            f"schedule={bad!r}",
            case_id=f"ScheduleCallback-schedule={type(bad).__name__}",
        )
        yield expect(
            S.PerEpoch,
            {"schedule": bad, "steps_per_epoch": 2},
            TypeError,
            "schedule",
            f"schedule={bad!r}",
            case_id=f"PerEpoch-schedule={type(bad).__name__}",
        )
    for bad in (None, 0.1, "cosine", lambda i: 0.1):
        yield expect(
            S.Scaled,
            {"schedule": bad},
            TypeError,
            "schedule",
            f"schedule={bad!r}",
            case_id=f"Scaled-schedule={type(bad).__name__}",
        )
    one = S.Constant(0.1)
    join_cases = [
        (
            {"schedules": [one, 0.1], "boundaries": [5]},
            TypeError,
            "schedules",
            "schedules=[Constant(learning_rate=0.1), 0.1]",
        ),
        (
            {"schedules": [one, keras_cosine], "boundaries": [5]},
            TypeError,
            "schedules",
            "CosineDecay",
        ),
        ({"schedules": [], "boundaries": []}, ValueError, "schedules", "schedules=[]"),
        ({"schedules": [one, one], "boundaries": []}, ValueError, "boundaries", "boundaries=[]"),
        ({"schedules": [one], "boundaries": [3]}, ValueError, "boundaries", "boundaries=[3]"),
        (
            {"schedules": [one] * 3, "boundaries": [5, 3]},
            ValueError,
            "boundaries",
            "boundaries=[5, 3]",
        ),
        ({"schedules": [one] * 2, "boundaries": [0]}, ValueError, "boundaries", "boundaries=[0]"),
        # Neither a step nor a fraction: a bad value, as for `warmup_steps`.
        (
            {"schedules": [one] * 2, "boundaries": [2.5]},
            ValueError,
            "boundaries",
            "boundaries=[2.5]",
        ),
        (
            {"schedules": [one] * 2, "boundaries": [-0.5]},
            ValueError,
            "boundaries",
            "boundaries=[-0.5]",
        ),
        (
            {"schedules": [one] * 2, "boundaries": [2**31]},
            ValueError,
            "boundaries",
            "boundaries=2147483648",
        ),
        ({"schedules": [one] * 2, "boundaries": 5}, TypeError, "boundaries", "boundaries=5"),
        # Fractions of the run: all in (0, 1), strictly increasing, never mixed with steps.
        *(
            (
                {"schedules": [one] * 3, "boundaries": bad},
                ValueError,
                "boundaries",
                f"boundaries={bad}",
            )
            for bad in ([0.5, 3], [3, 0.5], [0.5, 1.0], [0.5, 0.5], [0.6, 0.3], [0.25, 2**31])
        ),
        (
            {"schedules": [one] * 2, "boundaries": np.array(5)},
            TypeError,
            "boundaries",
            "boundaries=array(5)",
        ),
        (
            {"schedules": one, "boundaries": []},
            TypeError,
            "schedules",
            "schedules=Constant(learning_rate=0.1)",
        ),
    ]
    for i, (kwargs, error, name, shown) in enumerate(join_cases):
        yield expect(S.Join, kwargs, error, name, shown, case_id=f"Join-{i}-{shown}")
    for value, error, shown in REQUIRED_NONNEGATIVE_INT:
        yield expect(
            S.Table, {"values": [0.1], "offset": value}, error, "offset", f"offset={shown}"
        )


# The value of a bad entry may show as NumPy 2 writes it: np.float64(-0.5).
@pytest.mark.parametrize(
    "values, error, pattern",
    [
        ([], ValueError, r"`values`.*shape \(0,\)"),
        ([[0.1, 0.2]], ValueError, r"`values`.*shape \(1, 2\)"),
        ([0.1, -0.5], ValueError, r"`values`.*values\[1\]=(np\.float64\()?-0\.5\b"),
        ([0.1, NAN], ValueError, r"`values`.*values\[1\]=(np\.float64\()?nan\b"),
        ([INF], ValueError, r"`values`.*values\[0\]=(np\.float64\()?inf\b"),
        (["a", "b"], TypeError, r"`values`.*\['a', 'b'\]"),
        (None, TypeError, r"`values`.*values=None"),
    ],
)
def test_table_bad_values(values, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        S.Table(values)
    assert type(info.value) is error


@pytest.mark.parametrize(
    "ctor, kwargs, error, name, shown", [*single_argument_cases(), *relation_cases()]
)
def test_bad_argument_is_named_with_the_value_received(ctor, kwargs, error, name, shown):
    pattern = rf"`{name}`.*{re.escape(shown)}(?![\w.])"
    with pytest.raises(error, match=pattern) as info:
        ctor(**kwargs)
    assert type(info.value) is error


def test_every_public_constructor_has_bad_argument_cases():
    schedule_classes = {
        getattr(S, name)
        for name in S.__all__
        if isinstance(getattr(S, name), type) and getattr(S, name) is not S.Schedule
    }
    # The callbacks of `keras_lr.callbacks` (the range test has its own tests).
    callbacks = {
        getattr(keras_lr.callbacks, name)
        for name in keras_lr.callbacks.__all__
        if name not in ("FitContext", "fit_context")
    }
    covered = set(CONSTRUCTORS) | {S.Join, S.Table}
    assert (schedule_classes | callbacks) <= covered


def test_every_checked_argument_is_a_real_parameter():
    for ctor, (valid, kinds) in CONSTRUCTORS.items():
        params = set(inspect.signature(ctor).parameters) - {"kwargs"}
        assert set(valid) | set(kinds) <= params, ctor.__name__


def test_every_parameter_of_a_scheduling_callback_is_checked():
    # A keyword added to a callback (`warmup_shape`, `cycle_limit`) gets its
    # bad values here too; the schedule a ScheduleCallback is given is checked
    # in relation_cases.
    for ctor in CALLBACKS:
        if issubclass(ctor, keras_lr.ScheduleCallback):
            params = set(inspect.signature(ctor).parameters) - {"schedule"}
            assert params <= set(CONSTRUCTORS[ctor][1]), ctor.__name__


@pytest.mark.parametrize(
    "kwargs, error, shown",
    [
        ({"warmup_steps": -1}, ValueError, "warmup_steps=-1"),
        ({"warmup_steps": 2.5}, TypeError, "warmup_steps=2.5"),
        # A fraction is of a run, which only a callback knows.
        ({"warmup_steps": 0.5}, TypeError, "warmup_steps=0.5"),
        ({"warmup_steps": True}, TypeError, "warmup_steps=True"),
        ({"warmup_steps": 3, "shape": "cos"}, ValueError, "shape='cos'"),
        ({"warmup_steps": 3, "shape": None}, TypeError, "shape=None"),
        ({"warmup_steps": 3, "shape": "exponential"}, ValueError, "start_lr=0.0"),
        ({"warmup_steps": 3, "start_lr": -0.1}, ValueError, "start_lr=-0.1"),
        ({"warmup_steps": 3, "start_lr": NAN}, ValueError, "start_lr=nan"),
        ({"warmup_steps": 3, "start_lr": "0"}, TypeError, "start_lr='0'"),
    ],
    ids=lambda p: str(p) if isinstance(p, dict) else None,
)
def test_warmup_bad_arguments(kwargs, error, shown):
    name = shown.split("=")[0]
    with pytest.raises(error, match=rf"`{name}`.*{re.escape(shown)}(?![\w.])"):
        S.warmup(S.Constant(0.1), **kwargs)


@pytest.mark.parametrize(
    "schedule",
    [0.1, None, keras.optimizers.schedules.CosineDecay(0.1, 10)],
    ids=["float", "None", "keras-CosineDecay"],
)
def test_warmup_of_a_non_keras_lr_schedule_is_a_type_error(schedule):
    with pytest.raises(TypeError, match=r"`schedule`.*schedule="):
        S.warmup(schedule, 5)


@pytest.mark.parametrize(
    "schedule, error, shown",
    [
        ("cosine", TypeError, "schedule='cosine'"),
        (NAN, ValueError, "schedule=nan"),
        (None, TypeError, "schedule=None"),
    ],
)
def test_evaluate_bad_schedule(schedule, error, shown):
    with pytest.raises(error, match=rf"`schedule`.*{re.escape(shown)}"):
        S.evaluate(schedule, 3)


@pytest.mark.parametrize(
    "kwargs, shown",
    [
        ({"steps_per_epoch": 0, "epochs": 2}, "steps_per_epoch=0"),
        ({"steps_per_epoch": 2, "epochs": -1}, "epochs=-1"),
        ({"steps_per_epoch": 2.5, "epochs": 2}, "steps_per_epoch=2.5"),
    ],
)
def test_preview_bad_fit_info(kwargs, shown):
    error = TypeError if isinstance(kwargs["steps_per_epoch"], float) else ValueError
    with pytest.raises(error, match=rf"`{shown.split('=')[0]}`.*{re.escape(shown)}"):
        keras_lr.CyclicLR(0.1, 1.0, 4).rates(10, **kwargs)


def test_preview_without_the_fit_info_it_needs_names_what_is_missing():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        keras_lr.StepDecay(0.1).rates(10)
    with pytest.raises(ValueError, match="total_steps"):
        keras_lr.OneCycleLR(0.1).rates(10)
    with pytest.raises(ValueError, match="`steps`"):
        keras_lr.CyclicLR(0.1, 1.0, 4).rates()
    with pytest.raises(ValueError, match="`warmup_steps`.*warmup_steps=50"):
        keras_lr.CosineAnnealing(0.1, warmup_steps=50).rates(10, steps_per_epoch=5, epochs=10)


def test_lambda_schedule_bad_rates_are_reported_at_the_step():
    cb = keras_lr.LambdaSchedule(lambda i: 1.0 - 0.25 * i)
    with pytest.raises(ValueError, match=r"`fn`.*fn\(5\)=(np\.float64\()?-0\.25"):
        cb.rates(20)
    cb = keras_lr.LambdaSchedule(lambda i: math.nan if i == 3 else 0.1)
    with pytest.raises(ValueError, match=r"`fn`.*fn\(3\)=(np\.float64\()?nan"):
        cb.rates(5)


# --------------------------------------------------------------------------
# Counts as users write them, and lengths the step counter cannot reach
# --------------------------------------------------------------------------

INTEGER_KINDS = (
    POSITIVE_INT,
    OPTIONAL_POSITIVE_INT,
    NONNEGATIVE_INT,
    REQUIRED_NONNEGATIVE_INT,
    STEPS_OR_FRACTION,
)
FLOAT_KINDS = (
    POSITIVE_FLOAT,
    NONNEGATIVE_FLOAT,
    UNIT_INTERVAL_OPEN_LOW,
    OPEN_UNIT_INTERVAL,
    MULT_FACTOR,
)


def arguments_of_kind(kinds):
    for ctor, (valid, table) in CONSTRUCTORS.items():
        for name, kind in table.items():
            if any(kind is k for k in kinds):
                yield pytest.param(ctor, valid, name, id=f"{label(ctor)}-{name}")


@pytest.mark.parametrize("as_float", [float, np.float64, np.float32])
@pytest.mark.parametrize("ctor, valid, name", list(arguments_of_kind(INTEGER_KINDS)))
def test_an_integral_float_count_is_the_int_it_equals(ctor, valid, name, as_float):
    # bckenstler/CLR's README writes `CyclicLR(..., step_size=2000.)`.
    count = valid.get(name, 4)
    config = ctor(**{**valid, name: as_float(count)}).get_config()
    assert config[name] == count and type(config[name]) is int
    assert config == ctor(**{**valid, name: count}).get_config()


def test_integral_floats_in_lists_of_steps_are_ints():
    decay = keras_lr.StepDecay(0.1, milestones=[2.0, np.float32(5)])
    assert decay.get_config()["milestones"] == [2, 5]
    assert S.Staircase(0.1, milestones=np.array([3.0, 7.0])).milestones == [3, 7]
    join = S.Join([S.Constant(0.1), S.Constant(0.2)], np.array([4.0]))
    assert join.get_config()["boundaries"] == [4] and type(join.boundaries[0]) is int
    assert S.Table([0.1], offset=2.0).get_config()["offset"] == 2
    cb = keras_lr.CyclicLR(0.1, 1.0, step_size=2000.0, step_size_down=np.float64(1000))
    assert cb.get_config()["step_size"] == 2000 and type(cb.get_config()["step_size"]) is int
    np.testing.assert_array_equal(
        cb.rates([0, 1000, 2000, 3000]),
        keras_lr.CyclicLR(0.1, 1.0, 2000, step_size_down=1000).rates([0, 1000, 2000, 3000]),
    )


@pytest.mark.parametrize("ctor, valid, name", list(arguments_of_kind(INTEGER_KINDS)))
def test_a_count_past_the_step_counter_is_refused_naming_the_limit(ctor, valid, name):
    # The optimizer's step counter is int32 on JAX: 2**40 steps crashed inside
    # `fit` (OverflowError on JAX, RuntimeError on torch).
    for value in (2**31, 2**40, float(2**40)):
        with pytest.raises(ValueError, match=rf"`{name}`.*at most 2147483647\b.*int32") as info:
            ctor(**{**valid, name: value})
        assert f"{name}={value!r}" in str(info.value)


@pytest.mark.parametrize(
    "ctor, kwargs",
    [
        (S.Cyclic, {"base_lr": 0.1, "max_lr": 1.0, "step_size": 2**30}),
        (S.Cyclic, {"base_lr": 0.1, "max_lr": 1.0, "step_size": 2, "step_size_down": 2**31 - 2}),
        (keras_lr.CyclicLR, {"base_lr": 0.1, "max_lr": 1.0, "step_size": 2**30}),
        (
            keras_lr.CyclicLR,
            {"base_lr": 0.1, "max_lr": 1.0, "step_size": 2**30, "step_size_down": 2**30},
        ),
        (
            S.CosineRestarts,
            {"min_lr": 0.0, "max_lr": 0.1, "cycle_length": 2**16, "steps_per_unit": 2**15},
        ),
        (
            S.CosineRestarts,
            {
                "min_lr": 0.0,
                "max_lr": 0.1,
                "cycle_length": 2**31 - 1,
                "mult_factor": 1.0,
                "steps_per_unit": 2,
            },
        ),
    ],
    ids=lambda p: (
        "-".join(f"{k}={v}" for k, v in p.items() if "_lr" not in k)
        if isinstance(p, dict)
        else p.__name__
    ),
)
def test_a_cycle_past_the_step_counter_is_refused_naming_its_parts(ctor, kwargs):
    lengths = [k for k in kwargs if "step" in k or "cycle" in k]
    with pytest.raises(ValueError, match=rf"`{lengths[0]}`.*2147483647") as info:
        ctor(**kwargs)
    for name in lengths:
        assert f"{name}={kwargs[name]!r}" in str(info.value)


def test_sgdr_cycle_past_the_step_counter_is_refused_once_the_epoch_length_is_known():
    cb = keras_lr.SGDRScheduler(0.0, 0.1, steps_per_epoch=2**16, cycle_length=2**15)
    with pytest.raises(ValueError, match=r"`cycle_length`.*2147483647.*cycle_length=32768"):
        cb.rates(4)


@pytest.mark.parametrize("value", [2**31, 10**400])
def test_range_test_num_steps_past_the_step_counter_is_named(value):
    with pytest.raises(ValueError, match=r"`num_steps`.*at most 2147483647") as info:
        keras_lr.LRFinder(num_steps=value)
    assert f"num_steps={value!r}" in str(info.value)


@pytest.mark.parametrize("ctor, valid, name", list(arguments_of_kind(FLOAT_KINDS)))
def test_a_number_too_big_for_a_float_is_a_value_error_naming_it(ctor, valid, name):
    big = 10**400  # float(big) raises OverflowError
    with pytest.raises(
        ValueError, match=rf"`{name}` must be finite\. Received: {name}=1000"
    ) as info:
        ctor(**{**valid, name: big})
    assert type(info.value) is ValueError


def test_range_test_rate_too_big_for_a_float_is_named():
    with pytest.raises(ValueError, match=r"`max_lr` must be finite\. Received: max_lr=1000"):
        keras_lr.LRFinder(max_lr=10**400)


# --------------------------------------------------------------------------
# A scale_fn written with NumPy (bckenstler/CLR's README)
# --------------------------------------------------------------------------


def classic_sin_scale(x):
    """bckenstler/CLR README's custom scale: `lambda x: 0.5*(1+np.sin(x*np.pi/2.))`."""
    return 0.5 * (1 + np.sin(x * np.pi / 2.0))


def bckenstler_clr(base, peak, step_size, scale_fn, scale_mode):
    """bckenstler/CLR's `CyclicLR.clr()` at batch i (its clr_iterations = i)."""

    def rate(i):
        cycle = np.floor(1 + i / (2 * step_size))
        x = np.abs(i / step_size - 2 * cycle + 1)
        arg = cycle if scale_mode == "cycle" else i
        return base + (peak - base) * np.maximum(0.0, 1 - x) * scale_fn(arg)

    return rate


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_a_numpy_scale_fn_trains_at_the_previewed_classic_rates(scale_mode):
    cb = keras_lr.CyclicLR(0.1, 1.0, step_size=3, scale_fn=classic_sin_scale, scale_mode=scale_mode)
    formula = bckenstler_clr(0.1, 1.0, 3, classic_sin_scale, scale_mode)
    expected = np.array([formula(i) for i in range(24)])
    assert len(np.unique(np.round(expected, 9))) >= 3
    preview = cb.rates(24)
    np.testing.assert_allclose(preview, expected, rtol=1e-12, atol=1e-15)
    probe = RateProbe(24)
    # The second fit (no initial_epoch) runs past the epochs the first planned:
    # the scale table must reach its cycles too.
    probe.fit([cb], epochs=3, steps_per_epoch=4)
    probe.fit([cb], epochs=3, steps_per_epoch=4)
    assert_rates(probe.rates(), preview, atol=1.5e-7)
    assert cb.get_config()["scale_fn"] is classic_sin_scale


@pytest.mark.parametrize(
    "scale_fn",
    [lambda c: 1.0 if c < 2 else 0.5, lambda c: math.exp(-c), lambda c: "half"],
    ids=["python-if", "math", "a-string"],
)
@pytest.mark.parametrize("ctor", [S.Cyclic, keras_lr.CyclicLR])
def test_a_scale_fn_that_runs_on_neither_tensors_nor_numpy_is_refused(ctor, scale_fn):
    with pytest.raises(
        TypeError, match=r"`scale_fn`.*operators and `keras\.ops`.*Received: scale_fn="
    ):
        ctor(0.1, 1.0, 4, scale_fn=scale_fn)


def test_a_numpy_scale_fn_is_refused_by_the_schedule_pointing_to_the_callback():
    with pytest.raises(
        TypeError,
        match=r"`scale_fn` runs on NumPy arrays only.*`keras\.ops`.*keras_lr\.CyclicLR.*"
        r"tabulates NumPy functions",
    ):
        S.Cyclic(0.1, 1.0, 4, scale_fn=classic_sin_scale)


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
def test_a_numpy_scale_fn_with_a_bad_value_is_refused_before_training():
    cb = keras_lr.CyclicLR(0.1, 1.0, 2, scale_fn=lambda x: np.log(x - 2.0))
    with pytest.raises(ValueError, match=r"`scale_fn`.*finite.*scale_fn\(1\.0\)=nan"):
        cb.rates(8)
    probe = RateProbe(8)
    with pytest.raises(ValueError, match=r"`scale_fn`.*scale_fn\(1\.0\)=nan"):
        probe.fit([cb], epochs=2, steps_per_epoch=4)
    assert not np.any(probe.rates())


# --------------------------------------------------------------------------
# get_config round trips
# --------------------------------------------------------------------------


def inverse_cycle(cycle):
    return 1.0 / cycle


def tenth_per_step(i):
    return 0.1 / (1 + i)


CALLBACK_INSTANCES = {
    "CyclicLR": lambda: keras_lr.CyclicLR(
        base_lr=0.1,
        max_lr=1.0,
        step_size=3,
        mode="exp_range",
        gamma=0.99,
        step_size_down=5,
        warmup_steps=4,
        warmup_start_lr=0.01,
    ),
    "CyclicLR-scale_fn": lambda: keras_lr.CyclicLR(
        0.1, 1.0, 4, scale_fn=inverse_cycle, scale_mode="cycle"
    ),
    "CyclicLR-numpy-scale_fn": lambda: keras_lr.CyclicLR(
        0.1, 1.0, 2, scale_fn=classic_sin_scale, scale_mode="iterations"
    ),
    "SGDRScheduler": lambda: keras_lr.SGDRScheduler(
        0.001, 0.1, steps_per_epoch=3, lr_decay=0.9, cycle_length=2, mult_factor=1.5
    ),
    "SGDRScheduler-from-fit": lambda: keras_lr.SGDRScheduler(0.0, 0.1, cycle_length=1),
    "SGDRScheduler-cycle_limit": lambda: keras_lr.SGDRScheduler(
        0.001, 0.1, steps_per_epoch=3, cycle_length=2, mult_factor=2.0, cycle_limit=2
    ),
    "StepDecay": lambda: keras_lr.StepDecay(0.1, 0.5, step_size=2),
    "StepDecay-milestones": lambda: keras_lr.StepDecay(
        0.1, 0.1, milestones=[2, 5], steps_per_epoch=4, warmup_steps=2
    ),
    "OneCycleLR": lambda: keras_lr.OneCycleLR(
        0.1, total_steps=40, three_phase=True, anneal_strategy="linear", pct_start=0.2
    ),
    "OneCycleLR-from-fit": lambda: keras_lr.OneCycleLR(0.1, warmup_steps=5),
    "PolynomialDecay": lambda: keras_lr.PolynomialDecay(
        0.1, 30, power=2.0, end_lr=0.001, warmup_steps=5
    ),
    "PolynomialDecay-cycle": lambda: keras_lr.PolynomialDecay(
        0.1, 7, power=0.5, end_lr=0.001, cycle=True
    ),
    "ExponentialDecay": lambda: keras_lr.ExponentialDecay(0.1, 0.8),
    "ExponentialDecay-spe": lambda: keras_lr.ExponentialDecay(0.1, 0.8, steps_per_epoch=2),
    "CosineAnnealing": lambda: keras_lr.CosineAnnealing(0.1, 0.001, total_steps=30),
    "CosineAnnealing-from-fit": lambda: keras_lr.CosineAnnealing(0.1, warmup_steps=3),
    "LambdaSchedule": lambda: keras_lr.LambdaSchedule(tenth_per_step),
    "LambdaSchedule-epoch": lambda: keras_lr.LambdaSchedule(
        tenth_per_step, unit="epoch", steps_per_epoch=3
    ),
    "ScheduleCallback": lambda: keras_lr.ScheduleCallback(
        S.Join([S.Constant(0.1), S.Cyclic(0.01, 0.1, 3)], [4]), warmup_steps=3
    ),
    "ScheduleCallback-fractions": lambda: keras_lr.ScheduleCallback(
        S.Join([S.Constant(0.1), S.Cosine(0.1, 0.01, 5), S.Constant(0.01)], [0.5, 0.75]),
        warmup_steps=0.1,
        warmup_start_lr=0.001,
        warmup_shape="exponential",
    ),
    "ScheduleCallback-product": lambda: keras_lr.ScheduleCallback(
        S.Cosine(0.1, 0.0, 40) * S.Ramp(0.5, 1.0, 10, shape="cosine")
    ),
    "CosineAnnealing-cosine-warmup": lambda: keras_lr.CosineAnnealing(
        0.1, warmup_steps=0.2, warmup_start_lr=0.01, warmup_shape="cosine"
    ),
    "CyclicLR-exponential-warmup": lambda: keras_lr.CyclicLR(
        0.01, 0.1, 4, warmup_steps=5, warmup_start_lr=0.001, warmup_shape="exponential"
    ),
    "LambdaSchedule-cosine-warmup": lambda: keras_lr.LambdaSchedule(
        tenth_per_step, warmup_steps=0.5, warmup_shape="cosine"
    ),
    "WarmupStableDecay": lambda: keras_lr.WarmupStableDecay(0.1, 0.1, 0.2, decay_shape="cosine"),
    "WarmupStableDecay-total_steps": lambda: keras_lr.WarmupStableDecay(
        0.1, 4, 10, total_steps=40, warmup_shape="exponential", min_lr=0.001
    ),
    "InverseSqrt": lambda: keras_lr.InverseSqrt(0.1, 0.2, timescale=3, warmup_shape="cosine"),
    "InverseSqrt-steps": lambda: keras_lr.InverseSqrt(0.1, 5),
}


@pytest.mark.parametrize("name", sorted(CALLBACK_INSTANCES))
def test_callback_config_round_trip_previews_the_same_rates(name):
    cb = CALLBACK_INSTANCES[name]()
    config = cb.get_config()
    rebuilt = type(cb).from_config(config)
    assert type(rebuilt) is type(cb)
    assert rebuilt.get_config() == config
    # get_config returns exactly the constructor arguments.
    assert set(config) == set(inspect.signature(type(cb)).parameters)
    expected = cb.rates(50, steps_per_epoch=5, epochs=10)
    assert len(np.unique(expected)) > 1
    np.testing.assert_array_equal(rebuilt.rates(50, steps_per_epoch=5, epochs=10), expected)
    # A different fit changes what the callbacks that read it preview, alike.
    np.testing.assert_array_equal(
        rebuilt.rates(60, steps_per_epoch=6, epochs=10),
        cb.rates(60, steps_per_epoch=6, epochs=10),
    )


def test_callback_config_keeps_the_values_passed():
    config = CALLBACK_INSTANCES["CyclicLR"]().get_config()
    assert config["step_size"] == 3 and config["step_size_down"] == 5
    assert config["mode"] == "exp_range" and config["warmup_steps"] == 4
    assert config["warmup_shape"] == "linear"
    config = CALLBACK_INSTANCES["ScheduleCallback-fractions"]().get_config()
    assert (config["warmup_steps"], config["warmup_shape"]) == (0.1, "exponential")
    assert config["schedule"].boundaries == [0.5, 0.75]
    config = CALLBACK_INSTANCES["WarmupStableDecay"]().get_config()
    assert (config["warmup_steps"], config["decay_steps"], config["total_steps"]) == (
        0.1,
        0.2,
        None,
    )
    assert CALLBACK_INSTANCES["CyclicLR-scale_fn"]().get_config()["scale_fn"] is inverse_cycle
    assert CALLBACK_INSTANCES["StepDecay-milestones"]().get_config()["milestones"] == [2, 5]


def test_reduce_lr_on_plateau_config_round_trip():
    cb = keras_lr.ReduceLROnPlateau(
        monitor="loss",
        factor=0.5,
        patience=2,
        mode="min",
        min_delta=0.01,
        threshold_mode="abs",
        cooldown=1,
        min_lr=1e-4,
        verbose=1,
    )
    config = cb.get_config()
    assert set(config) == set(inspect.signature(keras_lr.ReduceLROnPlateau).parameters)
    rebuilt = keras_lr.ReduceLROnPlateau.from_config(config)
    assert rebuilt.get_config() == config
    assert (rebuilt.factor, rebuilt.patience, rebuilt.threshold_mode) == (0.5, 2, "abs")
    assert config != keras_lr.ReduceLROnPlateau().get_config()


# --------------------------------------------------------------------------
# Random valid arguments never crash
# --------------------------------------------------------------------------

lr = st.floats(1e-5, 1.0)
fraction = st.floats(0.0, 1.0)
# Fractions of the 50 steps of the previews below (5 steps x 10 epochs).
run_fraction = st.floats(0.001, 0.9)


@st.composite
def warmup_arguments(draw, most=49):
    """A warm-up: steps or a fraction of the run, any shape (a geometric one from > 0)."""
    shape = draw(st.sampled_from(["linear", "cosine", "exponential"]))
    return {
        "warmup_steps": draw(st.integers(0, most) | run_fraction.filter(lambda f: f * 50 <= most)),
        "warmup_start_lr": draw(st.floats(1e-4 if shape == "exponential" else 0.0, 1.0)),
        "warmup_shape": shape,
    }


warmup_kwargs = warmup_arguments()


@st.composite
def cyclic_lr(draw):
    base = draw(lr)
    return keras_lr.CyclicLR(
        base,
        base + draw(lr),
        draw(st.integers(1, 60)),
        mode=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
        gamma=draw(st.floats(0.5, 1.0, exclude_min=True)),
        step_size_down=draw(st.one_of(st.none(), st.integers(1, 60))),
        **draw(warmup_kwargs),
    )


@st.composite
def sgdr(draw):
    peak = draw(lr)
    return keras_lr.SGDRScheduler(
        peak * draw(fraction),
        peak,
        steps_per_epoch=draw(st.one_of(st.none(), st.integers(1, 20))),
        lr_decay=draw(st.floats(0.01, 1.0)),
        cycle_length=draw(st.integers(1, 20)),
        mult_factor=draw(st.one_of(st.just(1.0), st.floats(1.01, 4.0))),
        cycle_limit=draw(st.one_of(st.none(), st.integers(1, 5))),
        **draw(warmup_kwargs),
    )


@st.composite
def step_decay(draw):
    milestones = draw(
        st.one_of(
            st.none(), st.lists(st.integers(1, 30), min_size=1, max_size=5, unique=True).map(sorted)
        )
    )
    return keras_lr.StepDecay(
        draw(lr),
        draw(st.floats(0.01, 1.0)),
        draw(st.integers(1, 20)),
        milestones,
        steps_per_epoch=draw(st.one_of(st.none(), st.integers(1, 20))),
        **draw(warmup_kwargs),
    )


@st.composite
def one_cycle(draw):
    three_phase = draw(st.booleans())
    return keras_lr.OneCycleLR(
        draw(lr),
        total_steps=draw(st.one_of(st.none(), st.integers(1, 200))),
        pct_start=draw(st.floats(0.01, 0.49 if three_phase else 0.99)),
        div_factor=draw(st.floats(1.0, 1e3)),
        final_div_factor=draw(st.floats(1.0, 1e5)),
        anneal_strategy=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three_phase,
        **draw(warmup_kwargs),
    )


@st.composite
def polynomial(draw):
    return keras_lr.PolynomialDecay(
        draw(lr),
        draw(st.integers(1, 200)),
        draw(st.floats(0.1, 5.0)),
        draw(st.floats(0.0, 1.0)),
        cycle=draw(st.booleans()),
        **draw(warmup_kwargs),
    )


@st.composite
def exponential(draw):
    return keras_lr.ExponentialDecay(
        draw(lr),
        draw(st.floats(0.01, 1.0)),
        steps_per_epoch=draw(st.one_of(st.none(), st.integers(1, 20))),
        **draw(warmup_kwargs),
    )


@st.composite
def cosine(draw):
    peak = draw(lr)
    return keras_lr.CosineAnnealing(
        peak,
        peak * draw(fraction),
        total_steps=draw(st.one_of(st.none(), st.integers(1, 200))),
        **draw(warmup_kwargs),
    )


@st.composite
def lambda_schedule(draw):
    a, b = draw(lr), draw(st.floats(0.0, 2.0))
    unit = draw(st.sampled_from(["step", "epoch"]))
    return keras_lr.LambdaSchedule(
        lambda i: a / (1.0 + b * i),
        unit=unit,
        steps_per_epoch=draw(st.one_of(st.none(), st.integers(1, 20))),
        **draw(warmup_kwargs),
    )


@st.composite
def schedule_callback(draw):
    pieces = [
        S.Constant(draw(lr)),
        S.Cyclic(0.0, draw(lr), draw(st.integers(1, 9))),
        S.Exponential(draw(lr), draw(st.floats(0.5, 1.0)))
        * S.Ramp(0.1, 1.0, draw(st.integers(1, 9))),
    ]
    if draw(st.booleans()):
        boundaries = sorted(draw(st.lists(st.integers(1, 60), min_size=2, max_size=2, unique=True)))
        warmup = draw(warmup_kwargs)
    else:
        # Tenths of the run after a warm-up that leaves at least 10 steps: two
        # boundaries never fall on the same step.
        tenths = draw(st.lists(st.integers(1, 9), min_size=2, max_size=2, unique=True))
        boundaries = [k / 10 for k in sorted(tenths)]
        warmup = draw(warmup_arguments(most=40))
    return keras_lr.ScheduleCallback(S.Join(pieces, boundaries), **warmup)


@st.composite
def warmup_stable_decay(draw):
    peak = draw(lr)
    shape = draw(st.sampled_from(["linear", "cosine", "1-sqrt", "exponential"]))
    low = draw(st.floats(1e-3, 1.0) if shape == "exponential" else fraction)
    total = draw(st.none() | st.integers(10, 200))
    return keras_lr.WarmupStableDecay(
        peak,
        draw(st.integers(0, 4) | st.floats(0.01, 0.4)),
        draw(st.integers(0, 5) | st.floats(0.01, 0.5)),
        total,
        shape,
        draw(st.sampled_from(["linear", "cosine", "1-sqrt"])),
        low * peak,
    )


@st.composite
def inverse_sqrt(draw):
    return keras_lr.InverseSqrt(
        draw(lr),
        draw(st.integers(0, 49) | run_fraction),
        draw(st.none() | st.integers(1, 10_000)),
        warmup_shape=draw(st.sampled_from(["linear", "cosine"])),
    )


RANDOM_CALLBACKS = {
    "CyclicLR": cyclic_lr(),
    "SGDRScheduler": sgdr(),
    "StepDecay": step_decay(),
    "OneCycleLR": one_cycle(),
    "PolynomialDecay": polynomial(),
    "ExponentialDecay": exponential(),
    "CosineAnnealing": cosine(),
    "LambdaSchedule": lambda_schedule(),
    "ScheduleCallback": schedule_callback(),
    "WarmupStableDecay": warmup_stable_decay(),
    "InverseSqrt": inverse_sqrt(),
}


@pytest.mark.parametrize("name", sorted(RANDOM_CALLBACKS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_random_valid_arguments_preview_finite_rates(name, data):
    cb = data.draw(RANDOM_CALLBACKS[name])
    rates = cb.rates(50, steps_per_epoch=5, epochs=10)
    assert rates.shape == (50,) and rates.dtype == np.float64
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0)
    if cb.warmup_steps:
        # WarmupStableDecay warms up from its min_lr (Hugging Face's min_lr_ratio).
        start = cb.min_lr if isinstance(cb, keras_lr.WarmupStableDecay) else cb.warmup_start_lr
        assert rates[0] == pytest.approx(start)
    rebuilt = type(cb).from_config(cb.get_config())
    np.testing.assert_array_equal(rebuilt.rates(50, steps_per_epoch=5, epochs=10), rates)


def test_random_callbacks_cover_every_scheduling_callback():
    scheduling = {c.__name__ for c in CALLBACKS if issubclass(c, keras_lr.ScheduleCallback)}
    assert scheduling == set(RANDOM_CALLBACKS)
