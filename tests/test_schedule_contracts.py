"""What a schedule promises besides its rates.

* equal schedules (same class, equal config) hash alike, so they work as
  dict keys and in sets;
* renamed arguments: the old spelling warns with a `DeprecationWarning` and
  builds the same schedule, and a config saved with the old names loads;
* `check_arguments`: the constructor's checks without building a schedule,
  with None for the lengths the fit provides.
"""

from __future__ import annotations

import inspect
import json
import warnings
import zipfile

import keras
import numpy as np
import pytest
from test_schedules import SCHEDULE_IDS, SCHEDULES

from keras_lr import schedules as S


def no_warning(make):
    """`make()`, failing on any warning (the new spellings never warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return make()


def through_json(schedule):
    text = json.dumps(keras.saving.serialize_keras_object(schedule))
    return keras.saving.deserialize_keras_object(json.loads(text))


# --------------------------------------------------------------------------
# Equality and hashing
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_equal_schedules_hash_equal_and_work_as_keys(name):
    first, second = SCHEDULES[name](), SCHEDULES[name]()
    assert first is not second and first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1
    assert {first: "x"}[second] == "x"
    rebuilt = through_json(first)
    assert rebuilt == first and hash(rebuilt) == hash(first)


def test_normalised_arguments_make_equal_schedules_with_equal_hashes():
    pairs = [
        (S.Cosine(1, 0, 4), S.Cosine(1.0, 0.0, 4.0)),
        (S.Staircase(1.0, milestones=(2, 5)), S.Staircase(1.0, milestones=np.array([2, 5]))),
        (S.Table(np.array([0.5, 0.25])), S.Table([0.5, 0.25])),
        (
            S.Join([S.Constant(1), S.Linear(0, 1, 3)], (2,)),
            S.Join([S.Constant(1.0), S.Linear(0.0, 1.0, 3)], [2]),
        ),
    ]
    for a, b in pairs:
        assert a == b and hash(a) == hash(b), a


def test_different_schedules_stay_apart_in_a_set():
    scheds = [
        S.Cosine(1.0, 0.1, 17),
        S.Cosine(1.0, 0.1, 18),
        S.Cosine(1.0, 0.2, 17),
        S.Scaled(S.Cosine(1.0, 0.1, 17), 0.5),
        S.Join([S.Cosine(1.0, 0.1, 17), S.Constant(0.1)], [17]),
        S.Join([S.Cosine(1.0, 0.1, 17), S.Constant(0.1)], [18]),
    ]
    assert len(set(scheds)) == len(scheds)
    assert len({s: i for i, s in enumerate(scheds + [S.Cosine(1.0, 0.1, 17)])}) == len(scheds)


def test_a_schedule_holding_a_lambda_hashes_without_a_warning():
    sched = S.Cyclic(0.1, 1.0, 3, scale_fn=lambda cycle: 1.0 / cycle)
    value = no_warning(lambda: hash(sched))
    assert value == hash(sched) and len({sched, sched}) == 1


# --------------------------------------------------------------------------
# Renamed arguments
# --------------------------------------------------------------------------

RENAMES = [
    pytest.param(
        S.Linear, {"start_lr": 0.0, "end_lr": 1.0}, "steps", "total_steps", 5, id="Linear"
    ),
    pytest.param(
        S.Polynomial,
        {"initial_lr": 1.0, "power": 2.0},
        "max_steps",
        "total_steps",
        5,
        id="Polynomial",
    ),
    pytest.param(
        S.GeometricCycle,
        {"min_lr": 0.1, "cycle_steps": 4},
        "lr_high",
        "max_lr",
        1.0,
        id="GeometricCycle-lr_high",
    ),
    pytest.param(
        S.GeometricCycle,
        {"max_lr": 1.0, "cycle_steps": 4},
        "lr_low",
        "min_lr",
        0.1,
        id="GeometricCycle-lr_low",
    ),
]


@pytest.mark.parametrize("cls, others, old, new, value", RENAMES)
def test_old_keyword_warns_and_builds_the_same_schedule(cls, others, old, new, value):
    with pytest.warns(DeprecationWarning, match=rf"`{old}` is deprecated.*use `{new}`"):
        old_style = cls(**others, **{old: value})
    new_style = no_warning(lambda: cls(**others, **{new: value}))
    assert old_style == new_style
    np.testing.assert_array_equal(old_style.numpy(13), new_style.numpy(13))
    config = new_style.get_config()
    assert config[new] == value and old not in config
    assert new in inspect.signature(cls).parameters
    assert old not in inspect.signature(cls).parameters
    # The old attribute name reads the new one, with a warning.
    with pytest.warns(DeprecationWarning, match=rf"{old}.*`{new}`"):
        assert getattr(new_style, old) == value
    with pytest.raises(TypeError, match=rf"`{old}`.*`{new}`"):
        cls(**others, **{old: value, new: value})


def test_renamed_bounds_keep_their_positional_order():
    sched = no_warning(lambda: S.GeometricCycle(1.0, 0.2, 8))
    assert (sched.max_lr, sched.min_lr) == (1.0, 0.2)
    assert sched.numpy([3, 7]).tolist() == [0.2, 1.0]
    assert no_warning(lambda: S.Linear(0.0, 1.0, 4)).total_steps == 4
    assert no_warning(lambda: S.Polynomial(1.0, 4)).total_steps == 4


def test_cosine_restarts_positional_lengths_keep_their_old_meaning_with_a_warning():
    new = no_warning(
        lambda: S.CosineRestarts(
            0.0, 1.0, cycle_length=3, mult_factor=1.5, lr_decay=0.5, steps_per_unit=2
        )
    )
    with pytest.warns(DeprecationWarning, match=r"`cycle_length`.*`steps_per_unit`.*by keyword"):
        old = S.CosineRestarts(0.0, 1.0, 3, 1.5, 0.5, 2)
    assert old == new
    np.testing.assert_array_equal(old.numpy(40), new.numpy(40))
    with pytest.warns(DeprecationWarning, match=r"passing `cycle_length`, `mult_factor` by"):
        partly = S.CosineRestarts(0.0, 1.0, 3, 1.5, lr_decay=0.5, steps_per_unit=2)
    assert partly == new
    params = inspect.signature(S.CosineRestarts).parameters
    assert [p.name for p in params.values() if p.kind is p.KEYWORD_ONLY] == [
        "cycle_length",
        "mult_factor",
        "lr_decay",
        "steps_per_unit",
        "cycle_limit",  # added keyword-only, never positional
    ]
    with pytest.raises(TypeError, match="cycle_length=..."):
        S.CosineRestarts(0.0, 1.0, 3, 1.5, 0.5, 2, 9)
    with pytest.raises(TypeError, match="`cycle_length` by position and by keyword"):
        S.CosineRestarts(0.0, 1.0, 3, cycle_length=3)


OLD_CONFIGS = [
    pytest.param(
        "Linear",
        {"start_lr": 0.0, "end_lr": 1.0, "steps": 4},
        lambda: S.Linear(0.0, 1.0, total_steps=4),
        id="Linear",
    ),
    pytest.param(
        "Polynomial",
        {"initial_lr": 1.0, "max_steps": 4, "power": 2.0, "end_lr": 0.1},
        lambda: S.Polynomial(1.0, total_steps=4, power=2.0, end_lr=0.1),
        id="Polynomial",
    ),
    pytest.param(
        "GeometricCycle",
        {"lr_high": 1.0, "lr_low": 0.1, "cycle_steps": 4},
        lambda: S.GeometricCycle(max_lr=1.0, min_lr=0.1, cycle_steps=4),
        id="GeometricCycle",
    ),
]


def old_release_config(class_name, config):
    """How the previous release serialized a schedule (module `keras_lr.schedules`)."""
    return {
        "module": "keras_lr.schedules",
        "class_name": class_name,
        "config": config,
        "registered_name": f"keras_lr>{class_name}",
    }


@pytest.mark.parametrize("class_name, config, expected", OLD_CONFIGS)
def test_a_config_with_the_old_names_loads_with_a_deprecation_warning(class_name, config, expected):
    with pytest.warns(DeprecationWarning):
        assert getattr(S, class_name).from_config(dict(config)) == expected()
    saved = json.loads(json.dumps(old_release_config(class_name, config)))
    with pytest.warns(DeprecationWarning):
        loaded = keras.saving.deserialize_keras_object(saved)
    assert loaded == expected()
    assert loaded.get_config() == expected().get_config()


OLD_NAMES = {
    "Linear": {"total_steps": "steps"},
    "Polynomial": {"total_steps": "max_steps"},
    "GeometricCycle": {"max_lr": "lr_high", "min_lr": "lr_low"},
}


def as_previous_release(node):
    """A saved config as the previous release wrote it: old names, one module."""
    if isinstance(node, list):
        return [as_previous_release(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_previous_release(item) for key, item in node.items()}
    if str(node.get("registered_name")).startswith("keras_lr>"):
        renames = OLD_NAMES.get(node["class_name"], {})
        node["module"] = "keras_lr.schedules"
        node["config"] = {renames.get(k, k): item for k, item in node["config"].items()}
    return node


def test_a_model_saved_by_the_previous_release_loads(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    sched = S.Join(
        [
            S.Linear(0.0, 0.5, total_steps=4),
            S.Polynomial(0.5, total_steps=6),
            S.GeometricCycle(0.5, 0.1, cycle_steps=4),
        ],
        [4, 10],
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=sched), loss="mse")
    new_file, old_file = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new_file)
    # The same file as the previous release wrote it: old names and module.
    with zipfile.ZipFile(new_file) as src, zipfile.ZipFile(old_file, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(as_previous_release(json.loads(data))).encode()
            dst.writestr(item, data)
    with zipfile.ZipFile(old_file) as f:
        text = f.read("config.json").decode()
    assert '"steps": 4' in text and '"max_steps": 6' in text and '"lr_high": 0.5' in text
    with pytest.warns(DeprecationWarning):
        loaded = keras.saving.load_model(old_file)
    assert loaded.optimizer._learning_rate == sched
    np.testing.assert_array_equal(loaded.optimizer._learning_rate.numpy(20), sched.numpy(20))


# --------------------------------------------------------------------------
# check_arguments
# --------------------------------------------------------------------------

# Valid arguments other than the lengths the fit gives, and those lengths.
CHECKED = {
    S.Linear: ({"start_lr": 0, "end_lr": 1}, ("total_steps",)),
    S.Cosine: ({"max_lr": 1, "min_lr": 0.1}, ("total_steps",)),
    S.Polynomial: ({"initial_lr": 1, "power": 2}, ("total_steps",)),
    S.OneCycle: ({"max_lr": 1, "pct_start": 0.25, "three_phase": True}, ("total_steps",)),
    S.CosineRestarts: (
        {"min_lr": 0, "max_lr": 1, "lr_decay": 0.5},
        ("cycle_length", "steps_per_unit"),
    ),
    S.Cyclic: ({"base_lr": 0.1, "max_lr": 1, "step_size": 4, "step_size_down": 2}, ()),
    S.Staircase: ({"initial_lr": 1, "milestones": (2, 5)}, ()),
    S.Exponential: ({"initial_lr": 1, "gamma": 0.9}, ()),
    S.GeometricCycle: ({"max_lr": 1, "min_lr": 0.1, "cycle_steps": 4}, ()),
}


@pytest.mark.parametrize("cls", list(CHECKED), ids=lambda c: c.__name__)
def test_check_arguments_normalises_and_takes_none_for_the_fit_lengths(cls):
    given, lengths = CHECKED[cls]
    assert cls.length_arguments == lengths
    args = no_warning(lambda: cls.check_arguments(**given, **dict.fromkeys(lengths)))
    assert list(args) == list(inspect.signature(cls).parameters)
    assert all(args[name] is None for name in lengths)
    assert all(type(args[name]) is float for name in args if name.endswith("_lr"))
    filled = dict(args, **dict.fromkeys(lengths, 5))
    sched = cls(**filled)
    assert cls.check_arguments(**filled) == sched.get_config()
    assert cls(**cls.check_arguments(**given, **dict.fromkeys(lengths, 5))) == sched
    # A schedule itself needs every length.
    for name in lengths:
        with pytest.raises(TypeError, match=rf"`{name}`.*{name}=None"):
            cls(**dict(filled, **{name: None}))


def test_check_arguments_fills_in_the_constructor_defaults():
    assert S.Cosine.check_arguments(max_lr=1) == {"max_lr": 1.0, "min_lr": 0.0, "total_steps": 1}
    assert S.OneCycle.check_arguments(max_lr=1)["total_steps"] is None  # required, a length
    assert (
        S.CosineRestarts.check_arguments(min_lr=0, max_lr=1) == S.CosineRestarts(0, 1).get_config()
    )


BAD = [
    (S.Linear, {"start_lr": -1, "end_lr": 1, "total_steps": None}, ValueError, "start_lr"),
    (S.Linear, {"start_lr": 0, "end_lr": 1, "total_steps": 0}, ValueError, "total_steps"),
    (S.Cosine, {"max_lr": 0.1, "min_lr": 0.2, "total_steps": None}, ValueError, "min_lr"),
    (S.Cosine, {"max_lr": 1.0, "total_steps": 2.5}, TypeError, "total_steps"),
    (S.Polynomial, {"initial_lr": 1, "total_steps": None, "power": 0}, ValueError, "power"),
    (S.Polynomial, {"initial_lr": 1, "total_steps": -3}, ValueError, "total_steps"),
    (
        S.OneCycle,
        {"max_lr": 1, "total_steps": None, "pct_start": 0.6, "three_phase": True},
        ValueError,
        "pct_start",
    ),
    (S.OneCycle, {"max_lr": 1, "total_steps": None, "three_phase": 1}, TypeError, "three_phase"),
    (S.OneCycle, {"max_lr": 1, "total_steps": 2**31}, ValueError, "total_steps"),
    (
        S.CosineRestarts,
        {
            "min_lr": 0,
            "max_lr": 1,
            "cycle_length": None,
            "steps_per_unit": None,
            "mult_factor": 0.5,
        },
        ValueError,
        "mult_factor",
    ),
    (S.CosineRestarts, {"min_lr": 0, "max_lr": 1, "cycle_length": 0}, ValueError, "cycle_length"),
    (
        S.CosineRestarts,
        {"min_lr": 0, "max_lr": 1, "cycle_length": None, "steps_per_unit": "2"},
        TypeError,
        "steps_per_unit",
    ),
    (
        S.CosineRestarts,
        {"min_lr": 0, "max_lr": 1, "cycle_length": 2**16, "steps_per_unit": 2**15},
        ValueError,
        "cycle_length",
    ),
    (S.Cyclic, {"base_lr": 0.1, "max_lr": 1, "step_size": 4, "mode": "bogus"}, ValueError, "mode"),
    (S.Cyclic, {"base_lr": 0.1, "max_lr": 1, "step_size": None}, TypeError, "step_size"),
    (S.Cyclic, {"base_lr": 0.1, "max_lr": 1, "step_size": 2**30}, ValueError, "step_size"),
    (S.Staircase, {"initial_lr": 1, "decay_factor": 1.5}, ValueError, "decay_factor"),
    (S.Staircase, {"initial_lr": 1, "milestones": [3, 2]}, ValueError, "milestones"),
    (S.Exponential, {"initial_lr": 1, "gamma": 0}, ValueError, "gamma"),
    (S.GeometricCycle, {"max_lr": 1, "min_lr": 0.1, "cycle_steps": 3}, ValueError, "cycle_steps"),
    (S.GeometricCycle, {"max_lr": 0.1, "min_lr": 1, "cycle_steps": 4}, ValueError, "min_lr"),
]


@pytest.mark.parametrize(
    "cls, kwargs, error, name",
    BAD,
    ids=[f"{c.__name__}-{n}-{e.__name__}" for c, _, e, n in BAD],
)
def test_check_arguments_refuses_bad_values_as_the_constructor_does(cls, kwargs, error, name):
    with pytest.raises(error, match=rf"Argument `{name}`.*Received: {name}=") as checked:
        cls.check_arguments(**kwargs)
    assert type(checked.value) is error
    lengths = {k: 5 for k in cls.length_arguments if kwargs.get(k, 0) is None}
    with pytest.raises(error) as built:
        cls(**dict(kwargs, **lengths))
    assert str(built.value) == str(checked.value)


def test_check_arguments_names_unknown_and_missing_arguments():
    with pytest.raises(TypeError, match=r"Cosine takes no argument `bogus`.*`max_lr`"):
        S.Cosine.check_arguments(max_lr=1.0, bogus=2)
    with pytest.raises(TypeError, match=r"Cosine is missing the argument `max_lr`"):
        S.Cosine.check_arguments(min_lr=0.1)
    # The old spelling is the constructor's business, not check_arguments'.
    with pytest.raises(TypeError, match="`max_steps`"):
        S.Polynomial.check_arguments(initial_lr=1.0, max_steps=4)
    with pytest.raises(NotImplementedError, match="Table"):
        S.Table.check_arguments(values=[0.1])


def test_a_subclass_with_its_own_constructor_checks_what_it_passes_on():
    class HalfCosine(S.Cosine):
        def __init__(self, peak, total_steps):
            super().__init__(max_lr=peak, min_lr=peak / 2, total_steps=total_steps)

    assert HalfCosine(1.0, 4).numpy([0, 4]).tolist() == [1.0, 0.5]
    with pytest.raises(ValueError, match=r"`total_steps`.*total_steps=0"):
        HalfCosine(1.0, 0)
    assert HalfCosine.check_arguments(max_lr=1.0, total_steps=None)["total_steps"] is None
