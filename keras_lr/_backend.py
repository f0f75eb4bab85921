"""Everything that touches optimizer or trainer internals lives here.

The callbacks find the optimizer(s) of a model (also inside
`LossScaleOptimizer`), read the step from `optimizer.iterations`, install a
schedule through Keras's public `optimizer.learning_rate` setter, and rebuild
the compiled train function when the installed schedule object changes (a
traced step holds on to the schedule it was traced with).  State that must
survive an interruption beyond the step count lives in a `TrainingState`
attached to the optimizer, which Keras saves with the optimizer's variables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

STATE_ATTR = "keras_lr_state"


class TrainingState(keras.layers.Layer):
    """keras_lr's training state, kept on an optimizer and saved with it.

    Keras writes every saveable attribute of the optimizer into weight files
    (`save_weights`, `BackupAndRestore`, `model.save`) and reads it back on
    `load_weights`, so state stored here survives an interruption exactly as
    the optimizer's step count does: the plateau scale and counters of
    `ReduceLROnPlateau`, the running average of `StochasticWeightAveraging`.
    Values are host-side NumPy arrays keyed by name, never read in the
    compiled step.  A file without them (an older one) loads as no state.
    """

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)
        # Set past the layer's tracker: a plain dict of arrays, no variables.
        object.__setattr__(self, "_values", {})

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._values[key] = np.array(value, dtype=np.float64)

    def pop(self, key: str) -> None:
        self._values.pop(key, None)

    def save_own_variables(self, store) -> None:
        for key, value in self._values.items():
            store[key] = value

    def load_own_variables(self, store) -> None:
        self._values.clear()
        for key in store.keys():
            self._values[key] = np.array(store[key], dtype=np.float64)


# The instance attribute holding the state.  Its name starts with "__" so that
# Keras's saving walk (which skips such names) reaches the state only through
# the class property below, under one path: "keras_lr_state".
_STATE_SLOT = "__keras_lr_state"


def _state_property(optimizer: Any) -> TrainingState:
    state = optimizer.__dict__.get(_STATE_SLOT)
    if not isinstance(state, TrainingState):
        state = TrainingState(name=STATE_ATTR)
        # Past the optimizer's own attribute tracking (Keras 3.0-3.15 track
        # layers set as attributes, which would add it to its variables).
        object.__setattr__(optimizer, _STATE_SLOT, state)
    return state


def _add_state_property(cls: type) -> None:
    if not isinstance(cls.__dict__.get(STATE_ATTR), property):
        setattr(cls, STATE_ATTR, property(_state_property))


def _install_state_property() -> None:
    """Gives the Keras optimizer classes a `keras_lr_state` property.

    Keras's saving (`saving_lib._walk_saveable`, Keras 3.0-3.15) visits the
    attributes listed by `dir(optimizer)`, when saving and when loading, less
    those of a plain `keras.optimizers.Optimizer` (which is left alone, so
    the name is not skipped).  As a class property, the state is there in an
    optimizer that `keras.saving.load_model` has just rebuilt from its config,
    so the saved plateau state and SWA average load with the model in a
    process that imported keras_lr; a process without keras_lr skips the
    entry.  The property makes an empty state on first access, which saves
    nothing.  Optimizer classes defined later get it when keras_lr first
    drives one of them (`training_state`).
    """
    stack = list(keras.optimizers.Optimizer.__subclasses__())
    while stack:
        cls = stack.pop()
        _add_state_property(cls)
        stack.extend(cls.__subclasses__())


_install_state_property()


def training_state(optimizer: Any) -> TrainingState:
    """The optimizer's `TrainingState`, attached on first use."""
    if type(optimizer) is not keras.optimizers.Optimizer:
        _add_state_property(type(optimizer))
    return _state_property(optimizer)


def attach_training_states(model: Any, owner: str) -> None:
    """Gives every optimizer `owner` drives its `TrainingState` at `set_model`.

    `BackupAndRestore` loads the optimizer's saved state before any callback's
    `on_train_begin`: the state must be attached by then to be loaded into.
    A model without an optimizer yet is left alone.
    """
    if getattr(model, "optimizer", None) is not None:
        for opt in optimizers_of(model, owner):
            training_state(opt)


def optimizers_of(model: Any, owner: str) -> list:
    """The optimizers whose rate `owner` drives, unwrapped from wrappers."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            f"{owner} needs a compiled model: call `model.compile(optimizer=...)` before `fit`."
        )
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


def current_step(optimizer: Any) -> int:
    """The optimizer's `iterations` as a Python int (one host read).

    This is the step of every keras_lr schedule: one optimizer update.  With
    `gradient_accumulation_steps=N`, Keras's `iterations` already counts
    updates (its batch counter divided by N).
    """
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))


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


def batch_step(optimizer: Any) -> int:
    """Batches the optimizer has taken (its `_iterations`, Keras 3.4-3.15).

    Equals `current_step` without gradient accumulation.
    """
    if accumulation_steps(optimizer) == 1:
        return current_step(optimizer)
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer._iterations)))


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
    source = optimizer._learning_rate
    if isinstance(source, _PerUpdate):
        return source.schedule
    return source


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
    return _version_tuple(keras.__version__)


def _version_tuple(text: str) -> tuple:
    """(major, minor, patch) of a version string: "3.7.0" and "3.8.0.dev2024" -> (3, 7, 0)."""
    import re

    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


# -- end of Keras version compatibility -------------------------------------------


def variable_value(source: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(source)))


def rate_at(optimizer: Any, step: int) -> float:
    """The rate `optimizer` applies at update `step` (a float rate applies at every step)."""
    from keras_lr.schedules import evaluate

    source = rate_source(optimizer)
    if is_variable(source):
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
    current = optimizer._learning_rate
    if not isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
        if is_variable(current):
            current.assign(source)
        else:
            _restore_variable(optimizer, float(source))
        return
    if is_variable(current):
        tracked = [i for i, var in enumerate(optimizer._variables) if var is current]
        object.__setattr__(optimizer, _RATE_SLOT, (current, tracked[0] if tracked else 1))
    optimizer.learning_rate = per_update(optimizer, source)


def _restore_variable(optimizer: Any, value: float) -> None:
    """Puts a float rate variable back in place of a schedule."""
    saved = optimizer.__dict__.get(_RATE_SLOT)
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


def release(model: Any, optimizers: list, before: list | None = None) -> bool:
    """Gives every optimizer a plain float rate again: the rate of its last step.

    `before[i]` is (step, rate) of optimizer i when it was taken over: if it
    has trained no step since, it gets that rate back.  Returns True if a
    schedule was replaced (the train function is then rebuilt, so a later
    `fit` reads the float).
    """
    try:
        sync_state(model)
    except Exception:
        # The step that raised took the in-flight state with it (JAX donates
        # its inputs); the variables keep the last synced values, and the
        # trainer must not write the stale state into a changed variable list.
        model._jax_state = None
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
        unguard(model)
        retrace(model)
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
        source = opt._learning_rate
        if is_variable(source):
            continue
        value = rate_at(opt, max(current_step(opt) - 1, 0))
        _restore_variable(opt, value)
        swapped.append((opt, source))
    try:
        yield
    finally:
        for opt, source in swapped:
            opt._untrack_variable(opt._learning_rate)
            opt._learning_rate = source


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
    object.__setattr__(optimizer, _DRIVER_SLOT, (owner, fit_token))


def unclaim(optimizer: Any, owner: Any) -> None:
    held = optimizer.__dict__.get(_DRIVER_SLOT)
    if held is not None and held[0] is owner:
        del optimizer.__dict__[_DRIVER_SLOT]


# -- releasing the rate when fit raises ------------------------------------------
#
# Keras's fit calls `on_train_end` only after a normal end (Keras 3.0-3.15).
# While a callback drives the rate, two hooks give the float back otherwise:
# - the train function runs inside a wrapper that releases the rate when a
#   step raises (Ctrl-C or an error in a step; on TensorFlow also a data
#   error, as its iterator runs inside the step);
# - an exception elsewhere (another callback, the data pipeline on JAX or
#   PyTorch) leaves the wrapper in place: the next `fit` calls
#   `make_train_function` first thing, and a hook on the model's instance
#   releases there, before that fit's first step.
_GUARD_SLOT = "__keras_lr_guards"


def guard(model: Any, key: Any, on_error: Callable[[], None]) -> None:
    """Runs `on_error()` if fit ends without `unguard(model, key)`."""
    guards = model.__dict__.get(_GUARD_SLOT)
    if guards is None:
        guards = {}
        object.__setattr__(model, _GUARD_SLOT, guards)
    guards[key] = on_error
    _wrap_train_function(model)
    own = getattr(type(model), "make_train_function", None)
    if own is not None and "make_train_function" not in model.__dict__:

        def make_train_function(force=False):
            # Reached from a new fit (ours call the class's method): the fit
            # that installed the guards is over.
            release_stale(model)
            return own(model, force=force)

        object.__setattr__(model, "make_train_function", make_train_function)


def _run_guards(guards: dict) -> None:
    for on_error in list(guards.values()):
        with contextlib.suppress(Exception):  # the original error matters
            on_error()


def release_stale(model: Any) -> None:
    """Releases what a fit that ended without `on_train_end` left installed."""
    guards = model.__dict__.get(_GUARD_SLOT)
    if guards:
        _run_guards(guards)
    unguard(model)


def _wrap_train_function(model: Any) -> None:
    step = getattr(model, "train_function", None)
    if step is None or getattr(step, "_keras_lr_inner", None) is not None:
        return
    guards = model.__dict__[_GUARD_SLOT]

    def guarded(*args, **kwargs):
        try:
            return step(*args, **kwargs)
        except BaseException:
            _run_guards(guards)
            raise

    guarded._keras_lr_inner = step
    model.train_function = guarded


def unguard(model: Any, key: Any = None) -> None:
    """Stops guarding for `key` (every key with None); unhooks when none is left."""
    guards = model.__dict__.get(_GUARD_SLOT)
    if guards is None:
        return
    if key is None:
        guards.clear()
    else:
        guards.pop(key, None)
    if guards:
        return
    step = getattr(model, "train_function", None)
    if getattr(step, "_keras_lr_inner", None) is not None:
        model.train_function = step._keras_lr_inner
    model.__dict__.pop("make_train_function", None)


def retrace(model: Any) -> None:
    """Rebuilds the train function so the next step sees the new schedule."""
    if getattr(model, "train_function", None) is not None:
        # The class's method: a hook on the instance (`guard`) is for new fits.
        type(model).make_train_function(model, force=True)
        if model.__dict__.get(_GUARD_SLOT):
            _wrap_train_function(model)


def steps_per_execution(model: Any) -> int:
    """Steps the model runs per call of its train function.

    The PyTorch trainer runs one step per call whatever `steps_per_execution`
    says (Keras 3.0-3.15).
    """
    if keras.backend.backend() == "torch":
        return 1
    return int(getattr(model, "steps_per_execution", 1) or 1)


def sync_state(model: Any) -> None:
    """Writes the JAX trainer's in-flight state back into the variables.

    The JAX trainer keeps model, optimizer and metric state outside the
    variables during an epoch; a callback that reads or writes variables
    mid-epoch must sync first (the trainer then reads them back before the
    next step).  No-op on the other backends.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None and keras.backend.backend() == "jax":
        sync()


def metric_directions(model: Any):
    """(name, direction) of the model's metrics, for `ReduceLROnPlateau(mode="auto")`.

    As Keras 3.15's `MonitorCallback` reads them: a metric's private
    `_direction`, "up" or "down"; before the first step, the specs of the
    unbuilt `CompileMetrics` (`_user_metrics`, `_user_weighted_metrics`).
    """
    for metric in getattr(model, "metrics", None) or ():
        if getattr(metric, "built", True) is False and hasattr(metric, "_user_metrics"):
            # `CompileMetrics` before the first step (TensorFlow without a
            # distribution strategy builds it in the traced step): name the
            # metrics as its `build` will.
            specs = (metric._user_metrics, metric._user_weighted_metrics)
            for spec in keras.tree.flatten(specs):
                if spec is not None:
                    yield _spec_direction(spec)
        else:
            for m in getattr(metric, "metrics", None) or (metric,):
                yield m.name, getattr(m, "_direction", None)


def _spec_direction(spec) -> tuple:
    """(name, direction) of one `compile(metrics=...)` entry before it is built."""
    if isinstance(spec, str) and spec.lower() in ("accuracy", "acc"):
        return spec, "up"  # whichever accuracy `compile` picks
    try:
        metric = keras.metrics.get(spec)
    except (ValueError, TypeError):
        return None, None
    if isinstance(spec, str):
        name = spec
    else:
        name = getattr(metric, "name", None) or getattr(metric, "__name__", None)
    if not isinstance(metric, keras.metrics.Metric):
        # A function: "down" when it is a Keras loss, as `compile` wraps it.
        metric = keras.metrics.MeanMetricWrapper(metric)
    return name, getattr(metric, "_direction", None)


def global_rng_states() -> dict:
    """Global random streams that training draws from outside model variables:
    NumPy's (array shuffling) and, on PyTorch, torch's (unseeded dropout)."""
    states = {"numpy": np.random.get_state()}
    if keras.backend.backend() == "torch":
        import torch

        states["torch"] = torch.random.get_rng_state()
    return states


def set_global_rng_states(states: dict) -> None:
    np.random.set_state(states["numpy"])
    if "torch" in states:
        import torch

        torch.random.set_rng_state(states["torch"])


# The JAX trainer's state: a tuple of these groups, in this order (`_jax_state`
# holds the same groups by name).
_JAX_STATE = (
    "trainable_variables",
    "non_trainable_variables",
    "optimizer_variables",
    "metrics_variables",
)


class StepWriter:
    """Sets a few variables before every train step with the least host work.

    The range test changes the rate and clears the loss mean before every
    step.  Keras's `Variable.assign` costs about as much as a tiny model's
    whole step, so values go where the next step reads them:

    - TensorFlow: the underlying `tf.Variable`, by the raw assign op.
    - JAX: the trainer carries model, optimizer and metric state as arrays
      during an epoch and reads the variables only after a sync; syncing the
      whole state out and back in would cost several times the step.  Between
      `attach` and `detach`, the model's compiled train function is wrapped
      (not rebuilt) so that the pending values replace their entries in the
      state passed to the step.  `applied` reads back what a step really used,
      so a trainer that calls its step another way is detected.
    - PyTorch: `Variable.assign`.

    Args:
        model: the model being trained.
        variables: the variables to write (optimizer or metric variables).
    """

    def __init__(self, model: Any, variables: list):
        self.model = model
        self.variables = list(variables)
        backend = keras.backend.backend()
        self._raw = None
        if backend == "tensorflow":
            from tensorflow.python.ops.resource_variable_ops import ResourceVariable

            raw = [var.value for var in self.variables]
            # Plain variables only: a distributed one (MirroredStrategy) keeps
            # a copy per device, which only its own `assign` writes.
            if all(type(r) is ResourceVariable for r in raw):
                self._raw = raw
        self._slots = None
        self._pending = None
        self._wrapped = None
        if backend == "jax":
            groups = {
                _JAX_STATE.index("optimizer_variables"): list(model.optimizer.variables),
                _JAX_STATE.index("metrics_variables"): list(model.metrics_variables),
            }
            slots = []
            for var in self.variables:
                found = [
                    (g, i)
                    for g, members in groups.items()
                    for i, member in enumerate(members)
                    if member is var
                ]
                slots.append(found[0] if found else None)
            if all(slot is not None for slot in slots):
                self._slots = slots

    def tensors(self, values, index: int) -> list:
        """`values` ready to write into variable `index`, one per step, made up front.

        On JAX these stay host (NumPy) arrays: the train step takes them as
        input and copies them in, whereas a device array would be donated to
        the step and could not serve the next one.
        """
        dtype = self.variables[index].dtype
        arrays = [np.asarray(v, dtype=dtype) for v in values]
        if keras.backend.backend() == "jax":
            return arrays
        if self._raw is not None:
            import tensorflow as tf

            # One op makes all of them.
            return tf.unstack(tf.constant(np.stack(arrays))) if arrays else []
        return [keras.ops.convert_to_tensor(a) for a in arrays]

    def attach(self) -> None:
        """Wraps the model's train function (JAX); a no-op elsewhere."""
        if self._slots is None or getattr(self.model, "train_function", None) is None:
            return
        step = self.model.train_function
        writer = self

        def step_with_values(state, *args, **kwargs):
            pending, writer._pending = writer._pending, None
            if pending is not None:
                state = [list(group) for group in state]
                for (group, index), value in zip(writer._slots, pending):
                    state[group][index] = value
                state = tuple(state)
            return step(state, *args, **kwargs)

        self._wrapped = (step, step_with_values)
        self.model.train_function = step_with_values

    def detach(self) -> None:
        """Puts the model's own train function back."""
        if self._wrapped is not None:
            step, wrapper = self._wrapped
            if self.model.train_function is wrapper:
                self.model.train_function = step
            self._wrapped = None

    def write(self, tensors: list) -> bool:
        """Writes one value per variable before the next step.

        Returns True if the values travel with the JAX step's state (check them
        with `applied`), False if they were written into the variables.
        """
        if self._raw is not None:
            from tensorflow.python.ops import gen_resource_variable_ops

            # The raw op: `tf.Variable.assign` adds checks that cost twice
            # the write itself.
            for raw, tensor in zip(self._raw, tensors):
                gen_resource_variable_ops.assign_variable_op(raw.handle, tensor)
            return False
        if self._wrapped is not None and self.model.train_function is self._wrapped[1]:
            self._pending = tensors
            return True
        sync_state(self.model)
        for var, tensor in zip(self.variables, tensors):
            var.assign(tensor)
        return False

    def applied(self, position: int) -> Any:
        """What variable `position` held in the state the last step returned (JAX)."""
        group, index = self._slots[position]
        return self.model._jax_state[_JAX_STATE[group]][index]


# -- the range test's rate slot (Keras 3.0-3.15) ------------------------------------
#
# The range test swaps the object in the optimizer's rate slot for its ladder
# and puts the very same object back.  It writes `_learning_rate` directly:
# the public setter untracks a rate variable, which would change the shape of
# the optimizer's variable list that the test's snapshot restores.  Pinned by
# tests/test_finder.py.


def held_rate_source(optimizer: Any) -> Any:
    """The object in the optimizer's rate slot, as is (a `_PerUpdate` too)."""
    return optimizer._learning_rate


def swap_rate_source(optimizer: Any, source: Any) -> None:
    """Puts `source` in the optimizer's rate slot, leaving its variable list alone."""
    optimizer._learning_rate = source
