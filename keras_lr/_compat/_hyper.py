"""An optimizer hyperparameter read from a schedule inside the compiled step.

Keras 3.0-3.15 optimizers keep their momentum as a plain Python attribute
(`momentum` for SGD and RMSprop, `beta_1` for Adam, AdamW, Nadam, Adamax,
Lion, Lamb) and read it inside `apply` at every step: in `update_step`, in
the PyTorch backend's `_parallel_update_step`, in Nadam's
`_backend_update_step`.  A float set there from Python is baked into the
traced step (TensorFlow, JAX), so changing it between batches changes
nothing.  To cycle it exactly, the optimizer's class is swapped for a
subclass whose attribute is a property: inside `apply` it is the schedule
evaluated at the optimizer's `iterations` (a tensor of the traced step),
outside it the float.  SGD and RMSprop also compare it with 0 in Python
(`if self.momentum != 0`, `if self.momentum > 0`), so on TensorFlow and JAX
the value is wrapped in `_Traced`, which compares by its float and converts
to the tensor.  PyTorch runs eagerly and takes the tensor itself.

The subclass keeps the class's name and module, so an optimizer saved during
`fit` serializes as the class it is; `release` gives the object its own class
back with a plain float.  Pinned by tests/test_compat.py and the applied-momentum
tests in tests/test_momentum.py.
"""

from __future__ import annotations

import threading
from typing import Any

import keras

_SCHEDULE = "__keras_lr_hyper_schedule"  # (name, schedule)
_STEP_VALUE = "__keras_lr_hyper_value"  # the value of the step being applied
_DEPTH = "__keras_lr_hyper_depth"  # `apply` calls running (one per replica)
_LOCK = threading.Lock()


class _Traced:
    """The step's value of a cycled hyperparameter, for TensorFlow and JAX code.

    Compares as its float (`momentum != 0` picks the same code path as the
    float did), computes and converts as the step's tensor.
    """

    __slots__ = ("value", "nominal")

    def __init__(self, value: Any, nominal: float):
        self.value = value
        self.nominal = nominal

    def __float__(self):
        return float(self.nominal)

    def __eq__(self, other):
        return self.nominal == other

    def __ne__(self, other):
        return self.nominal != other

    def __lt__(self, other):
        return self.nominal < other

    def __le__(self, other):
        return self.nominal <= other

    def __gt__(self, other):
        return self.nominal > other

    def __ge__(self, other):
        return self.nominal >= other

    def __hash__(self):
        return hash(self.nominal)

    def __neg__(self):
        return -self.value

    def __add__(self, other):
        return self.value + other

    def __radd__(self, other):
        return other + self.value

    def __sub__(self, other):
        return self.value - other

    def __rsub__(self, other):
        return other - self.value

    def __mul__(self, other):
        return self.value * other

    def __rmul__(self, other):
        return other * self.value

    def __truediv__(self, other):
        return self.value / other

    def __rtruediv__(self, other):
        return other / self.value

    def __pow__(self, other):
        return self.value**other

    def __rpow__(self, other):
        return other**self.value

    def __jax_array__(self):
        return self.value

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf

        return self.value if dtype is None else tf.cast(self.value, dtype)


_CLASSES: dict[tuple[type, str], type] = {}


def _cycled_class(base: type, name: str) -> type:
    """`base` with attribute `name` read from the installed schedule in `apply`."""
    key = (base, name)
    if key in _CLASSES:
        return _CLASSES[key]

    def get(self):
        state = self.__dict__
        if _STEP_VALUE in state:
            return state[_STEP_VALUE]
        return state[name]

    def set_(self, value):
        self.__dict__[name] = value

    def apply(self, grads, trainable_variables=None):
        state = self.__dict__
        schedule = state[_SCHEDULE][1]
        value = keras.ops.cast(schedule(self.iterations), "float32")
        if keras.backend.backend() != "torch":
            value = _Traced(value, state[name])
        # TensorFlow's MirroredStrategy runs `apply` in one thread per replica
        # and the update in a merge call while they wait: the value (the same
        # in every replica) stays until the last replica's `apply` returns.
        with _LOCK:
            state[_STEP_VALUE] = value
            state[_DEPTH] = state.get(_DEPTH, 0) + 1
        try:
            return base.apply(self, grads, trainable_variables)
        finally:
            with _LOCK:
                state[_DEPTH] -= 1
                if not state[_DEPTH]:
                    del state[_STEP_VALUE]

    cls = type(
        base.__name__,
        (base,),
        {
            name: property(get, set_),
            "apply": apply,
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "__doc__": base.__doc__,
        },
    )
    _CLASSES[key] = cls
    return cls


def cycle_hyperparameter(optimizer: Any, name: str, schedule: Any) -> None:
    """Makes `optimizer` read `name` from `schedule(iterations)` at every step."""
    held = optimizer.__dict__.get(_SCHEDULE)
    if held is not None:
        if held[0] != name:
            raise ValueError(f"{name}: the optimizer already cycles `{held[0]}`.")
        optimizer.__dict__[_SCHEDULE] = (name, schedule)
        return
    value = getattr(optimizer, name)
    optimizer.__dict__[name] = float(value)
    optimizer.__dict__[_SCHEDULE] = (name, schedule)
    optimizer.__class__ = _cycled_class(type(optimizer), name)


def cycled_hyperparameter(optimizer: Any) -> tuple[str, Any] | None:
    """(name, schedule) of the hyperparameter `optimizer` cycles, or None."""
    return optimizer.__dict__.get(_SCHEDULE)


def release_hyperparameter(optimizer: Any, value: float) -> None:
    """Gives `optimizer` its own class back, with the plain float `value`."""
    held = optimizer.__dict__.pop(_SCHEDULE, None)
    if held is None:
        return
    optimizer.__class__ = type(optimizer).__mro__[1]
    optimizer.__dict__[held[0]] = float(value)
