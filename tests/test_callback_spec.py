"""Each callback is declared once: signature, config, docstring and checks.

The seven callbacks that build one schedule class take their parameters,
checks and `Args:` from it (`keras_lr.callbacks._spec.ScheduleSpec`); the
old spellings of renamed arguments and methods still work with a
`DeprecationWarning`.
"""

from __future__ import annotations

import inspect
import re
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr import schedules as S

WARMUP = ["warmup_steps", "warmup_start_lr", "warmup_shape"]
MOMENTUM = ["cycle_momentum", "base_momentum", "max_momentum"]

# Every callback of keras_lr.callbacks and its parameters, in order.
PARAMETERS = {
    keras_lr.CyclicLR: [
        "base_lr",
        "max_lr",
        "step_size",
        "mode",
        "gamma",
        "scale_fn",
        "scale_mode",
        "step_size_down",
        *MOMENTUM,
        *WARMUP,
    ],
    keras_lr.SGDRScheduler: [
        "min_lr",
        "max_lr",
        "steps_per_epoch",
        "lr_decay",
        "cycle_length",
        "mult_factor",
        "cycle_limit",
        *WARMUP,
    ],
    keras_lr.StepDecay: [
        "initial_lr",
        "decay_factor",
        "step_size",
        "milestones",
        "steps_per_epoch",
        *WARMUP,
    ],
    keras_lr.OneCycleLR: [
        "max_lr",
        "total_steps",
        "pct_start",
        "div_factor",
        "final_div_factor",
        "anneal_strategy",
        "three_phase",
        *MOMENTUM,
        *WARMUP,
    ],
    keras_lr.PolynomialDecay: ["initial_lr", "total_steps", "power", "end_lr", "cycle", *WARMUP],
    keras_lr.ExponentialDecay: ["initial_lr", "gamma", "steps_per_epoch", *WARMUP],
    keras_lr.CosineAnnealing: ["max_lr", "min_lr", "total_steps", *WARMUP],
    keras_lr.LambdaSchedule: ["fn", "unit", "steps_per_epoch", *WARMUP],
    keras_lr.ScheduleCallback: ["schedule", *WARMUP],
    keras_lr.ReduceLROnPlateau: [
        "monitor",
        "factor",
        "patience",
        "mode",
        "min_delta",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "verbose",
    ],
    keras_lr.LearningRateMonitor: ["log_dir", "log_momentum"],
    keras_lr.WarmupStableDecay: [
        "max_lr",
        "warmup_steps",
        "decay_steps",
        "total_steps",
        "warmup_shape",
        "decay_shape",
        "min_lr",
    ],
    keras_lr.InverseSqrt: ["max_lr", "warmup_steps", "timescale", "warmup_shape"],
}
# The first keyword-only parameter of each.
KEYWORD_ONLY_FROM = {
    keras_lr.SGDRScheduler: "steps_per_epoch",
    keras_lr.ReduceLROnPlateau: None,
    keras_lr.LearningRateMonitor: None,
    keras_lr.WarmupStableDecay: None,
    keras_lr.InverseSqrt: "warmup_shape",
}
SPECCED = [cls for cls in PARAMETERS if cls.__dict__.get("spec") is not None]


def tenth(i):
    return 0.1 / (1 + i)


# Arguments that differ from every default, for each callback.
NON_DEFAULT = {
    keras_lr.CyclicLR: dict(
        base_lr=0.01,
        max_lr=0.2,
        step_size=3,
        mode="exp_range",
        gamma=0.9,
        scale_mode="iterations",
        step_size_down=2,
        cycle_momentum=True,
        base_momentum=0.7,
        max_momentum=0.95,
        warmup_steps=2,
        warmup_start_lr=0.001,
    ),
    keras_lr.SGDRScheduler: dict(
        min_lr=0.001,
        max_lr=0.1,
        steps_per_epoch=2,
        lr_decay=0.5,
        cycle_length=2,
        mult_factor=1.5,
        cycle_limit=3,
    ),
    keras_lr.StepDecay: dict(
        initial_lr=0.1, decay_factor=0.2, step_size=2, milestones=[1, 3], steps_per_epoch=3
    ),
    keras_lr.OneCycleLR: dict(
        max_lr=0.1,
        total_steps=30,
        pct_start=0.2,
        div_factor=10.0,
        final_div_factor=100.0,
        anneal_strategy="linear",
        three_phase=True,
        cycle_momentum=False,
        base_momentum=0.8,
        max_momentum=0.9,
        warmup_steps=3,
    ),
    keras_lr.PolynomialDecay: dict(
        initial_lr=0.1, total_steps=20, power=2.0, end_lr=0.001, cycle=True
    ),
    keras_lr.ExponentialDecay: dict(initial_lr=0.1, gamma=0.8, steps_per_epoch=2),
    keras_lr.CosineAnnealing: dict(max_lr=0.1, min_lr=0.01, total_steps=25),
    keras_lr.LambdaSchedule: dict(fn=tenth, unit="epoch", steps_per_epoch=2),
    keras_lr.ScheduleCallback: dict(
        schedule=S.Cyclic(0.01, 0.1, 3), warmup_steps=2, warmup_shape="cosine"
    ),
    keras_lr.ReduceLROnPlateau: dict(
        monitor="loss",
        factor=0.5,
        patience=2,
        mode="min",
        min_delta=0.01,
        threshold_mode="rel",
        cooldown=1,
        min_lr=1e-4,
        verbose=1,
    ),
    keras_lr.LearningRateMonitor: dict(log_dir="logs", log_momentum=False),
    keras_lr.WarmupStableDecay: dict(
        max_lr=0.1,
        warmup_steps=0.05,
        decay_steps=6,
        total_steps=36,
        warmup_shape="cosine",
        decay_shape="linear",
        min_lr=0.001,
    ),
    keras_lr.InverseSqrt: dict(max_lr=0.1, warmup_steps=4, timescale=8, warmup_shape="cosine"),
}


def test_every_callback_is_listed():
    exported = {
        getattr(keras_lr.callbacks, name)
        for name in keras_lr.callbacks.__all__
        if isinstance(getattr(keras_lr.callbacks, name), type)
        and issubclass(getattr(keras_lr.callbacks, name), keras.callbacks.Callback)
    }
    assert exported == set(PARAMETERS) == set(NON_DEFAULT)
    assert len(SPECCED) == 7


@pytest.mark.parametrize("cls", list(PARAMETERS), ids=lambda c: c.__name__)
def test_signature_lists_the_real_parameters(cls):
    params = inspect.signature(cls).parameters
    assert list(params) == PARAMETERS[cls]
    kinds = {p.kind for p in params.values()}
    assert not kinds & {inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL}
    first_keyword = KEYWORD_ONLY_FROM.get(cls, "warmup_steps")
    keyword = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    expected = (
        [] if first_keyword is None else PARAMETERS[cls][PARAMETERS[cls].index(first_keyword) :]
    )
    if cls is keras_lr.ScheduleCallback:
        expected = WARMUP
    assert keyword == expected
    # help() and IDEs read the same signature from __init__.
    assert list(inspect.signature(cls.__init__).parameters)[1:] == PARAMETERS[cls]


@pytest.mark.parametrize("cls", list(PARAMETERS), ids=lambda c: c.__name__)
def test_get_config_round_trips_through_the_constructor(cls):
    cb = cls(**NON_DEFAULT[cls])
    config = cb.get_config()
    assert list(config) == PARAMETERS[cls]
    rebuilt = cls(**config)
    assert rebuilt.get_config() == config
    for name, value in NON_DEFAULT[cls].items():
        assert config[name] == value, name
        assert getattr(rebuilt, name) == value or name == "schedule"
    defaults = cls(**{k: v for k, v in NON_DEFAULT[cls].items() if k in _required(cls)})
    assert defaults.get_config() != config
    if isinstance(cb, keras_lr.ScheduleCallback):
        fit = dict(steps_per_epoch=5, epochs=8)
        np.testing.assert_array_equal(rebuilt.rates(40, **fit), cb.rates(40, **fit))


def _required(cls):
    if cls is keras_lr.ScheduleCallback:
        return ["schedule"]  # None only for subclasses that build their own
    return [
        n
        for n, p in inspect.signature(cls).parameters.items()
        if p.default is inspect.Parameter.empty
    ]


@pytest.mark.parametrize("cls", list(PARAMETERS), ids=lambda c: c.__name__)
def test_docstring_args_name_every_parameter(cls):
    doc = inspect.getdoc(cls)
    args = doc[doc.index("\nArgs:\n") :]
    for name in PARAMETERS[cls]:
        assert re.search(rf"^    (\w+, )*{name}(, \w+)*: \S", args, re.M), name
    assert "see `keras_lr.schedules." not in args  # no parameter left without its own line


@pytest.mark.parametrize("cls", SPECCED, ids=lambda c: c.__name__)
def test_args_of_a_schedule_parameter_are_the_schedules(cls):
    spec = cls.spec
    schedule_doc = " ".join(inspect.getdoc(spec.schedule).split())
    doc = " ".join(inspect.getdoc(cls).split())
    for name in spec.parameters:
        if name in spec.docs or name == "steps_per_epoch" or name in spec.momentum_parameters:
            continue
        # The schedule's own text, word for word.
        match = re.search(
            rf" {spec.schedule_name(name)}: (.+?)(?= \w+: | Returns:| References:|$)", schedule_doc
        )
        assert match and f"{name}: {match.group(1)}" in doc, name


@pytest.mark.parametrize(
    "cls, name",
    [
        (keras_lr.StepDecay, "step_size"),
        (keras_lr.StepDecay, "milestones"),
        (keras_lr.ExponentialDecay, "gamma"),
        (keras_lr.SGDRScheduler, "cycle_length"),
    ],
)
def test_a_parameter_in_epochs_where_the_schedule_counts_steps_says_so(cls, name):
    assert name in cls.spec.in_epochs
    doc = " ".join(inspect.getdoc(cls).split())
    line = re.search(rf" {name}: (.+?)(?= \w+: )", doc).group(1)
    assert "epoch" in line


@pytest.mark.parametrize(
    "cls, kwargs, schedule_kwargs",
    [
        (keras_lr.CyclicLR, {"base_lr": 0.5, "max_lr": 0.1}, {"base_lr": 0.5, "max_lr": 0.1}),
        (keras_lr.CosineAnnealing, {"max_lr": 0.1, "min_lr": 0.2}, {"max_lr": 0.1, "min_lr": 0.2}),
        (keras_lr.OneCycleLR, {"max_lr": 0.1, "pct_start": 1.5}, {"max_lr": 0.1, "pct_start": 1.5}),
        (
            keras_lr.PolynomialDecay,
            {"initial_lr": 0.1, "power": 0},
            {"initial_lr": 0.1, "power": 0},
        ),
        (
            keras_lr.StepDecay,
            {"initial_lr": 0.1, "milestones": [3, 2]},
            {"initial_lr": 0.1, "milestones": [3, 2]},
        ),
        (
            keras_lr.ExponentialDecay,
            {"initial_lr": 0.1, "gamma": 2.0},
            {"initial_lr": 0.1, "gamma": 2.0},
        ),
        (
            keras_lr.SGDRScheduler,
            {"min_lr": 0.0, "max_lr": 0.1, "mult_factor": 0.5},
            {"min_lr": 0.0, "max_lr": 0.1, "mult_factor": 0.5},
        ),
    ],
    ids=lambda p: p.__name__ if isinstance(p, type) else None,
)
def test_a_bad_argument_is_refused_as_the_schedule_refuses_it(cls, kwargs, schedule_kwargs):
    with pytest.raises(ValueError) as ours:
        cls(**kwargs)
    with pytest.raises(ValueError) as theirs:
        cls.spec.schedule.check_arguments(**schedule_kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "cls", [keras_lr.OneCycleLR, keras_lr.PolynomialDecay, keras_lr.CosineAnnealing]
)
def test_total_steps_none_is_the_fits_length_after_the_warmup(cls):
    required = {n: NON_DEFAULT[cls][n] for n in _required(cls)}
    from_fit = cls(**required, warmup_steps=4)
    given = cls(**required, total_steps=36, warmup_steps=4)
    assert from_fit.total_steps is None
    np.testing.assert_array_equal(
        from_fit.rates(40, steps_per_epoch=5, epochs=8),
        given.rates(40, steps_per_epoch=5, epochs=8),
    )


# -- renames: the old spelling warns and does the same ------------------------------


def test_polynomial_decay_max_steps_is_the_old_name_of_total_steps():
    with pytest.warns(DeprecationWarning, match=r"PolynomialDecay.*`max_steps`.*use `total_steps`"):
        old = keras_lr.PolynomialDecay(0.1, max_steps=12, power=2.0)
    new = keras_lr.PolynomialDecay(0.1, total_steps=12, power=2.0)
    assert old.get_config() == new.get_config()
    assert old.total_steps == 12
    np.testing.assert_array_equal(old.rates(15), new.rates(15))
    # The positional call means the same as before.
    np.testing.assert_array_equal(keras_lr.PolynomialDecay(0.1, 12, 2.0).rates(15), new.rates(15))
    with pytest.raises(TypeError, match="`max_steps`.*`total_steps`"):
        keras_lr.PolynomialDecay(0.1, max_steps=12, total_steps=12)


def test_polynomial_decay_from_an_old_config():
    old_config = {"initial_lr": 0.1, "max_steps": 12, "power": 1.0, "end_lr": 0.0}
    with pytest.warns(DeprecationWarning, match="max_steps"):
        cb = keras_lr.PolynomialDecay.from_config(old_config)
    assert cb.get_config()["total_steps"] == 12


def test_sgdr_arguments_after_the_bounds_by_position_warn_and_keep_their_meaning():
    new = keras_lr.SGDRScheduler(
        0.001, 0.1, steps_per_epoch=3, lr_decay=0.5, cycle_length=2, mult_factor=1.5
    )
    with pytest.warns(DeprecationWarning, match=r"SGDRScheduler.*`steps_per_epoch`.*by keyword"):
        old = keras_lr.SGDRScheduler(0.001, 0.1, 3, 0.5, 2, 1.5)
    assert old.get_config() == new.get_config()
    np.testing.assert_array_equal(old.rates(30), new.rates(30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_lr.SGDRScheduler(0.001, 0.1, cycle_length=2)  # no warning by keyword
    with pytest.raises(TypeError):
        keras_lr.SGDRScheduler(0.001, 0.1, 3, 0.5, 2, 1.5, 7)


@pytest.mark.parametrize(
    "cls",
    [c for c in PARAMETERS if issubclass(c, keras_lr.ScheduleCallback)],
    ids=lambda c: c.__name__,
)
def test_schedule_is_the_old_name_of_rates(cls):
    cb = cls(**NON_DEFAULT[cls])
    fit = dict(steps_per_epoch=5, epochs=8)
    with pytest.warns(
        DeprecationWarning, match=rf"{cls.__name__}: attribute `schedule` is deprecated.*`rates`"
    ):
        old = cb.schedule(40, **fit)
    np.testing.assert_array_equal(old, cb.rates(40, **fit))
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(cb.schedule([0, 3], **fit), cb.rates([0, 3], **fit))


def test_plateau_history_is_the_old_name_of_reductions():
    plateau = keras_lr.ReduceLROnPlateau()
    with pytest.warns(
        DeprecationWarning,
        match=r"ReduceLROnPlateau: attribute `history` is deprecated.*`reductions`",
    ):
        old = plateau.history
    assert old.equals(plateau.reductions)
    assert list(old.columns) == ["epoch", "step", "old_lr", "new_lr"]
