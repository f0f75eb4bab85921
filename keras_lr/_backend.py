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


def training_state(optimizer: Any) -> TrainingState:
    """The optimizer's `TrainingState`, attached on first use."""
    state = getattr(optimizer, STATE_ATTR, None)
    if not isinstance(state, TrainingState):
        state = TrainingState(name=STATE_ATTR)
        # Past the optimizer's own attribute tracking: Keras's saving walks
        # the attribute all the same (it is a Keras saveable).
        object.__setattr__(optimizer, STATE_ATTR, state)
    return state


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
    """The optimizer's `iterations` as a Python int (one host read)."""
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))


def rate_source(optimizer: Any) -> Any:
    """What the optimizer reads its rate from: a Variable, a schedule, a callable."""
    return optimizer._learning_rate


def is_variable(source: Any) -> bool:
    return isinstance(source, keras.Variable)


def variable_value(source: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(source)))


def rate_at(optimizer: Any, step: int) -> float:
    """The rate `optimizer` applies at `step` (a float rate applies at every step)."""
    from keras_lr.schedules import evaluate

    source = rate_source(optimizer)
    if is_variable(source):
        return variable_value(source)
    return float(evaluate(source, [step])[0])


def install(optimizer: Any, source: Any) -> None:
    """Makes `optimizer` read its rate from `source` (schedule or float)."""
    if is_variable(rate_source(optimizer)) and not isinstance(
        source, keras.optimizers.schedules.LearningRateSchedule
    ):
        rate_source(optimizer).assign(source)
    else:
        optimizer.learning_rate = source


def retrace(model: Any) -> None:
    """Rebuilds the train function so the next step sees the new schedule."""
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)


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
