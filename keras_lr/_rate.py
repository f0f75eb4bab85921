"""What an optimizer reads its rate from, in one place: read, replace, scale, restore.

An optimizer reads its rate from one *source*: a Variable (built with a
float rate), a keras_lr `Schedule` (installed by a callback, possibly a
`Scaled` one after a plateau reduction), another `LearningRateSchedule` (the
user's own), or a plain callable.  Every part of keras_lr that reads or
changes the rate goes through this module: the scheduling callbacks install
a schedule and give a float back at train end, `ReduceLROnPlateau` scales
whatever is there, the range test swaps its ladder in, SWA joins its
constant rate on.  The private attributes involved live in `_compat`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _state


def optimizers_of(model: Any, owner: str) -> list:
    """The optimizers whose rate `owner` drives, unwrapped from wrappers."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            f"{owner} needs a compiled model: call `model.compile(optimizer=...)` before `fit`."
        )
    if _unbuilt_selector(optimizer) and getattr(model, "built", False):
        # A MultiOptimizer with a selector function finds its sub-optimizers
        # when it is built, which TensorFlow's trainer does at the first step;
        # built here (as the JAX and PyTorch trainers do before any callback),
        # so that a callback can drive them from the start.
        optimizer.build(model.trainable_variables)
    found = []
    stack = [optimizer]
    while stack:
        opt = stack.pop()
        if getattr(opt, "inner_optimizer", None) is not None:
            stack.append(opt.inner_optimizer)
        elif isinstance(getattr(opt, "optimizers", None), (list, tuple)):
            stack.extend(reversed(opt.optimizers))
        else:
            found.append(opt)
    return found


def _unbuilt_selector(optimizer: Any) -> bool:
    subs = getattr(optimizer, "optimizers", None)
    return isinstance(subs, (list, tuple)) and not subs and not optimizer.built


def current_step(optimizer: Any) -> int:
    """The optimizer's `iterations` as a Python int (one host read).

    This is the step of every keras_lr schedule: one optimizer update.  With
    `gradient_accumulation_steps=N`, Keras's `iterations` already counts
    updates (its batch counter divided by N).
    """
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))


def fit_step(optimizers: list) -> int:
    """The step of the fit: the most any of `optimizers` has taken.

    A sub-optimizer of a MultiOptimizer whose variables are all frozen never
    updates, so its `iterations` stays behind; the others count the fit's steps.
    """
    return max(current_step(opt) for opt in optimizers)


# -- gradient accumulation -------------------------------------------------------
#
# Keras 3.4-3.15: with `gradient_accumulation_steps=N` the optimizer updates
# the weights every N batches; `iterations` counts updates, but the optimizer
# evaluates a `LearningRateSchedule` at its batch counter `_iterations`
# (`BaseOptimizer._get_current_learning_rate`).  keras_lr's schedules count
# updates, so the installed object is wrapped in `_PerUpdate`, which evaluates
# them at `_iterations // N`: update k (applied at batch kN + N - 1) trains at
# schedule(k), and the rate changes only between updates.
# Pinned by tests/test_trust.py (`test_with_gradient_accumulation_*`).


def accumulation_steps(optimizer: Any) -> int:
    """N of `gradient_accumulation_steps=N`, 1 without accumulation."""
    return int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)


@keras.saving.register_keras_serializable(package="keras_lr")
class _PerUpdate(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` evaluated at the update of a batch: schedule(floor(i / N))."""

    def __init__(self, schedule: Any, accumulation_steps: int):
        self.schedule = schedule
        self.accumulation_steps = int(accumulation_steps)

    def __call__(self, step):
        step = keras.ops.convert_to_tensor(step)
        return self.schedule(keras.ops.floor_divide(step, self.accumulation_steps))

    def get_config(self) -> dict:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "accumulation_steps": self.accumulation_steps,
        }

    @classmethod
    def from_config(cls, config):
        return cls(
            keras.saving.deserialize_keras_object(config["schedule"]),
            config["accumulation_steps"],
        )


def per_update(optimizer: Any, schedule: Any) -> Any:
    """`schedule` (counted in updates) as `optimizer` must hold it: per batch
    under gradient accumulation (see `_PerUpdate`)."""
    n = accumulation_steps(optimizer)
    return _PerUpdate(schedule, n) if n > 1 else schedule


def rate_source(optimizer: Any) -> Any:
    """What the optimizer reads its rate from, counted in updates.

    A Variable (a float rate), a schedule, or a callable.
    """
    source = _compat.rate_slot(optimizer)
    if isinstance(source, _PerUpdate):
        return source.schedule
    return source


# -- end of Keras version compatibility -------------------------------------------


def variable_value(source: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(source)))


def rate_at(optimizer: Any, step: int) -> float:
    """The rate `optimizer` applies at update `step` (a float rate applies at every step)."""
    from keras_lr.schedules import evaluate

    source = rate_source(optimizer)
    if _compat.is_variable(source):
        return variable_value(source)
    return float(evaluate(source, [step])[0])


# Where an optimizer's own rate variable sat before a schedule replaced it:
# (variable, index in the optimizer's variable list).  Keras's setter untracks
# the variable (`BaseOptimizer.learning_rate` setter, Keras 3.0-3.15), so the
# variable list has one entry fewer while a schedule is installed; the same
# variable goes back, at the same index, when training ends.
_RATE_SLOT = "__keras_lr_rate_variable"


def install(optimizer: Any, source: Any) -> None:
    """Makes `optimizer` read its rate from `source` (schedule or float)."""
    current = _compat.rate_slot(optimizer)
    if not isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
        if _compat.is_variable(current):
            current.assign(source)
        else:
            _restore_variable(optimizer, float(source))
        return
    if _compat.is_variable(current):
        saved = (current, _compat.variable_index(optimizer, current))
        _compat.set_untracked(optimizer, _RATE_SLOT, saved)
    optimizer.learning_rate = per_update(optimizer, source)


def _restore_variable(optimizer: Any, value: float) -> None:
    """Puts the optimizer's own float rate variable back (a new one if it had none)."""
    _compat.restore_rate_variable(optimizer, value, optimizer.__dict__.get(_RATE_SLOT))


def release(model: Any, optimizers: list, before: list | None = None) -> bool:
    """Gives every optimizer a plain float rate again: the rate of its last step.

    `before[i]` is (step, rate) of optimizer i when it was taken over: if it
    has trained no step since, it gets that rate back.  Returns True if a
    schedule was replaced (the train function is then rebuilt, so a later
    `fit` reads the float).
    """
    try:
        _compat.sync_state(model)
    except Exception:
        _compat.drop_jax_state(model)
    from keras_lr.schedules import Schedule

    changed = False
    for i, opt in enumerate(optimizers):
        if not isinstance(rate_source(opt), Schedule):
            continue  # a float already, or the user's own schedule
        step = current_step(opt)
        taken = None if before is None else before[i]
        if taken is not None and taken[0] == step:
            value = taken[1]
        else:
            value = rate_at(opt, max(step - 1, 0))
        _restore_variable(opt, value)
        changed = True
    if changed:
        _compat.unguard(model)
        _compat.retrace(model)
    return changed


@contextlib.contextmanager
def float_layout(optimizers: list):
    """Gives each optimizer its float rate variable while the block runs.

    A file written inside (a snapshot) then has the variables of an
    optimizer built with a float rate, in Keras's order, and loads into a
    freshly compiled model; in a `.keras` file the rate is a float, loadable
    without keras_lr.  The installed schedules are put back unchanged (the
    same objects, so the compiled step needs no retrace).
    """
    swapped = []
    for opt in optimizers:
        source = _compat.rate_slot(opt)
        if _compat.is_variable(source):
            continue
        value = last_rate(opt)
        _restore_variable(opt, value)
        swapped.append((opt, source))
    try:
        yield
    finally:
        for opt, source in swapped:
            _compat.untrack_rate_variable(opt)
            _compat.set_rate_slot(opt, source)


# -- which callback drives an optimizer's rate ----------------------------------
_DRIVER_SLOT = "__keras_lr_driver"


def claim(optimizer: Any, owner: Any, fit_token: Any) -> None:
    """Records `owner` as the one callback that sets `optimizer`'s rate in this fit.

    `fit_token` identifies the fit (the params dict Keras hands to every
    callback of one `fit`); a claim left from an earlier fit is replaced.
    """
    held = optimizer.__dict__.get(_DRIVER_SLOT)
    if held is not None and held[1] is fit_token and held[0] is not owner:
        raise ValueError(
            f"{type(held[0]).__name__} and {type(owner).__name__} both set the "
            f"learning rate of optimizer {optimizer.name!r} in this fit: the later "
            "one would override the other without a word. Pass one scheduling "
            "callback; to chain schedules, join them with "
            "`keras_lr.schedules.Join` in one `keras_lr.ScheduleCallback`."
        )
    _compat.set_untracked(optimizer, _DRIVER_SLOT, (owner, fit_token))


def unclaim(optimizer: Any, owner: Any) -> None:
    held = optimizer.__dict__.get(_DRIVER_SLOT)
    if held is not None and held[0] is owner:
        del optimizer.__dict__[_DRIVER_SLOT]


def attach_training_states(model: Any, owner: str) -> None:
    """Gives every optimizer `owner` drives its `TrainingState` at `set_model`.

    `BackupAndRestore` loads the optimizer's saved state before any callback's
    `on_train_begin`: the state must be attached by then to be loaded into.
    A model without an optimizer yet is left alone.
    """
    if getattr(model, "optimizer", None) is not None:
        for opt in optimizers_of(model, owner):
            _state.training_state(opt)


# -- kinds of rate source ----------------------------------------------------------


def is_foreign_schedule(source: Any) -> bool:
    """A `LearningRateSchedule` that is not keras_lr's (the user's own)."""
    from keras_lr.schedules import Schedule

    return isinstance(source, keras.optimizers.schedules.LearningRateSchedule) and not isinstance(
        source, Schedule
    )


def check_drivable(optimizer: Any, owner: str) -> None:
    """Refuses an optimizer whose rate a scheduling callback cannot take over.

    A float rate and keras_lr's own schedules (from an earlier fit) can be
    replaced; the user's own `LearningRateSchedule` or callable would be
    silently overridden.
    """
    source = rate_source(optimizer)
    if is_foreign_schedule(source):
        raise ValueError(
            f"{owner} sets the learning rate, but the optimizer was built "
            f"with its own schedule ({type(source).__name__}). Build the "
            "optimizer with a float rate, e.g. "
            "`keras.optimizers.SGD(learning_rate=0.01)`, and let "
            f"{owner} drive it; or use one of the two, not both."
        )
    if not _compat.is_variable(source) and not isinstance(
        source, keras.optimizers.schedules.LearningRateSchedule
    ):
        raise ValueError(
            f"{owner} cannot drive an optimizer whose `learning_rate` is "
            f"a callable ({source!r}). Build it with a float rate."
        )


def split_scale(source: Any) -> tuple[Any, float]:
    """(schedule, scale) of a source under a plateau scale; (source, 1.0) otherwise."""
    from keras_lr.schedules import Scaled

    if isinstance(source, Scaled):
        return source.schedule, source.scale
    return source, 1.0


def saved_scale(optimizer: Any) -> float | None:
    """The plateau scale saved in the optimizer's training state, if any."""
    saved = _state.training_state(optimizer).get(_state.SCALE)
    return None if saved is None else float(saved)


def save_scale(optimizer: Any, scale: float) -> None:
    _state.training_state(optimizer).set(_state.SCALE, scale)


def rate_factor(optimizer: Any) -> float:
    """The fixed factor on every rate a callback installs in `optimizer` (1.0 if none).

    Set by `keras_lr.layer_decay` on each group's optimizer: a scheduling
    callback then trains that group at factor * schedule(i).  Kept in the
    optimizer's training state, so it is saved and restored with it.
    """
    saved = _state.training_state(optimizer).get(_state.RATE_FACTOR)
    return 1.0 if saved is None else float(saved)


def set_rate_factor(optimizer: Any, factor: float) -> None:
    _state.training_state(optimizer).set(_state.RATE_FACTOR, factor)


def last_rate(optimizer: Any) -> float:
    """The rate the optimizer's last trained step used (step 0's before any)."""
    return rate_at(optimizer, max(current_step(optimizer) - 1, 0))
