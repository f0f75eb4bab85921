"""Optimizer internals: the rate slot, the variable list, the step counters.

Every touch of a private optimizer attribute in keras_lr is in this file,
each with the Keras releases it was written for; tests/test_compat.py pins
each one, so a Keras upgrade that moves it fails there first.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

# -- Keras version compatibility -------------------------------------------------
#
# Keras 3.0-3.6 export `keras.Variable` as a class of its own
# (`keras.src.backend.exports.Variable`, a subclass of the backend's Variable),
# while optimizers build their rate and step variables from the backend's
# class (`keras.src.backend.Variable`), so `isinstance(v, keras.Variable)` is
# False for them.  From Keras 3.7 the two names are one class.  setup.cfg
# asks for Keras 3.12 (older `keras.ops.searchsorted` fails in TensorFlow's
# compiled step), so this matters only where that pin is bypassed.  Pinned by
# tests/test_keras_versions.py.
_VARIABLE_TYPES = (keras.Variable, keras.src.backend.Variable)


def is_variable(source: Any) -> bool:
    """Whether `source` is a Keras variable (an optimizer's float rate)."""
    return isinstance(source, _VARIABLE_TYPES)


def keras_version() -> tuple:
    """The installed Keras version as a tuple of ints, e.g. (3, 7, 0)."""
    return version_tuple(keras.__version__)


def version_tuple(text: str) -> tuple:
    """(major, minor, patch) of a version string: "3.7.0" and "3.8.0.dev2024" -> (3, 7, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def batch_step(optimizer: Any) -> int:
    """Batches the optimizer has taken: its `_iterations` (Keras 3.4-3.15).

    With `gradient_accumulation_steps=N`, `iterations` counts updates and the
    private `_iterations` counts batches; without accumulation they are equal.
    """
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer._iterations)))


def set_untracked(obj: Any, name: str, value: Any) -> None:
    """Sets an attribute past Keras's attribute tracking.

    Optimizers and layers track what is set on them (Keras 3.0-3.15): a
    variable or layer would join their variables, a dict would become a
    tracked dict.  keras_lr's bookkeeping (the training state, which callback
    drives an optimizer, the rate variable a schedule replaced) must not.
    """
    object.__setattr__(obj, name, value)


def add_optimizer_property(name: str, getter: Callable[[Any], Any]) -> None:
    """Gives every Keras optimizer class a read-only property `name`.

    keras_lr's training state is reached this way, because Keras's saving
    (`saving_lib._walk_saveable`, Keras 3.0-3.15) visits the attributes
    listed by `dir(optimizer)`, when saving and when loading, less those of a
    plain `keras.optimizers.Optimizer` (which is left alone, so the name is
    not skipped).  As a class property, the state is there in an optimizer
    that `keras.saving.load_model` has just rebuilt from its config.
    Optimizer classes defined later get it through `own_property`.
    """
    stack = list(keras.optimizers.Optimizer.__subclasses__())
    while stack:
        cls = stack.pop()
        own_property(cls, name, getter)
        stack.extend(cls.__subclasses__())


def own_property(cls: type, name: str, getter: Callable[[Any], Any]) -> None:
    """Adds property `name` to optimizer class `cls` (not the base class)."""
    if cls is not keras.optimizers.Optimizer and not isinstance(cls.__dict__.get(name), property):
        setattr(cls, name, property(getter))


# -- the rate slot (Keras 3.0-3.15) ----------------------------------------------
#
# An optimizer reads its rate from `_learning_rate`: a Variable (a float
# rate), a `LearningRateSchedule`, or a callable.  The public setter
# `optimizer.learning_rate = x` untracks a rate variable when a schedule
# replaces it, so the variable list has one entry fewer while a schedule is
# installed.  keras_lr reads the slot here, and writes it directly where the
# variable list must keep its shape (the range test's swap and restore).


def rate_slot(optimizer: Any) -> Any:
    """The object in the optimizer's rate slot, as is."""
    return optimizer._learning_rate


def set_rate_slot(optimizer: Any, source: Any) -> None:
    """Puts `source` in the optimizer's rate slot, leaving its variable list alone."""
    optimizer._learning_rate = source


def variable_index(optimizer: Any, variable: Any) -> int:
    """Where `variable` sits in the optimizer's variable list (1, after the
    step counter, where Keras puts the rate, if it is not there)."""
    tracked = [i for i, var in enumerate(optimizer._variables) if var is variable]
    return tracked[0] if tracked else 1


def untrack_rate_variable(optimizer: Any) -> None:
    """Takes the rate variable out of the variable list (as the setter does)."""
    optimizer._untrack_variable(optimizer._learning_rate)


def restore_rate_variable(optimizer: Any, value: float, saved: tuple | None) -> None:
    """Puts a float rate variable back in place of a schedule.

    `saved` is (variable, index) of the optimizer's own rate variable, as it
    sat before a schedule replaced it, or None for a new variable.
    """
    if saved is not None:
        variable, index = saved
    else:
        # A schedule that came with the optimizer (a model saved during fit):
        # a new variable where Keras puts it, after the step counter.
        strategy = getattr(optimizer, "_distribution_strategy", None)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            variable = keras.Variable(
                value,
                name="learning_rate",
                dtype=keras.backend.floatx(),
                trainable=False,
                aggregation="only_first_replica",
            )
        first = optimizer._variables[:1]
        index = 1 if first and first[0] is optimizer._iterations else 0
    if not any(var is variable for var in optimizer._variables):
        # Tracked as `_track_variable` does (its tracker's ids too, which
        # the setter's untracking reads), but at the variable's own index.
        # Marked as tracked first, so that neither the list's own `insert`
        # (a Keras tracked list) nor the attribute set below appends it to
        # the tracker's store a second time (Keras 3.0-3.15).
        optimizer._tracker.stored_ids["variables"].add(id(variable))
        variables = optimizer._variables
        variables.insert(min(index, len(variables)), variable)
    # Set after the variable is in place: the optimizer's `__setattr__`
    # tracks a variable it has not seen by appending it to the list.
    optimizer._learning_rate = variable
    variable.assign(value)
