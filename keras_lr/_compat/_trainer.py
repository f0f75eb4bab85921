"""Trainer internals: the compiled train function, the JAX trainer's state,
`steps_per_execution`, the compiled metrics' directions.

Every touch of a private trainer attribute in keras_lr is in this file, each
with the Keras releases it was written for; tests/test_compat.py pins each one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_lr._compat._optimizer import set_untracked

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
        set_untracked(model, _GUARD_SLOT, guards)
    guards[key] = on_error
    _wrap_train_function(model)
    own = getattr(type(model), "make_train_function", None)
    if own is not None and "make_train_function" not in model.__dict__:

        def make_train_function(force=False):
            # Reached from a new fit (ours call the class's method): the fit
            # that installed the guards is over.
            release_stale(model)
            return own(model, force=force)

        set_untracked(model, "make_train_function", make_train_function)


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


@contextlib.contextmanager
def one_step_per_execution(model: Any):
    """Runs the block with `model.steps_per_execution = 1`.

    Set after `compile`, then the train function rebuilt, and put back after
    the block (Keras 3.0-3.15 read the attribute when they build the train
    function and when they size an epoch).
    """
    previous = getattr(model, "steps_per_execution", 1)
    if previous == 1:
        yield
        return
    model.steps_per_execution = 1
    retrace(model)
    try:
        yield
    finally:
        model.steps_per_execution = previous
        retrace(model)


def drop_jax_state(model: Any) -> None:
    """Forgets the JAX trainer's in-flight state after a step that raised.

    The step took the state with it (JAX donates its inputs); the variables
    keep the last synced values, and the trainer must not write the stale
    state into a changed variable list (Keras 3.0-3.15 `_jax_state`).
    """
    if getattr(model, "_jax_state", None) is not None:
        model._jax_state = None


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
