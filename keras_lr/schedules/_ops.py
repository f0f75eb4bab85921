"""The two namespaces a schedule's formula `_rate(step, ops)` is evaluated with.

`_NUMPY` evaluates in float64 on NumPy arrays (previews, history, plots),
`_KERAS` in float32 with `keras.ops` inside the compiled step.  Both offer
the same operations, so a formula never asks which one it runs on: where the
two differ, the difference is an operation here.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops as kops

# The operations both namespaces take as they are from their library, so the
# two lists cannot drift apart.
_SHARED = (
    "cos",
    "where",
    "minimum",
    "maximum",
    "power",
    "floor_divide",
    "exp",
    "take",
    "clip",
    "sqrt",
)


def _shared_ops(library) -> type:
    """A base class whose static methods are `library`'s functions named in `_SHARED`."""
    return type("_SharedOps", (), {name: staticmethod(getattr(library, name)) for name in _SHARED})


class _NumpyOps(_shared_ops(np)):
    """The `ops` namespace for float64 evaluation on NumPy arrays."""

    @staticmethod
    def to_float(x):
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def int_const(values):
        return np.asarray(values, dtype=np.int64)

    @staticmethod
    def float_const(values):
        return np.asarray(values, dtype=np.float64)

    @staticmethod
    def searchsorted(sorted_sequence, values):
        return np.searchsorted(sorted_sequence, values, side="right")

    @staticmethod
    def foreign(schedule, step):
        """Rates of a non-keras_lr schedule: its float32 `keras.ops` values, as float64."""
        arr = np.asarray(step)
        out = kops.convert_to_numpy(schedule(kops.convert_to_tensor(arr)))
        return np.broadcast_to(np.asarray(out, dtype=np.float64), arr.shape)


class _KerasOps(_shared_ops(kops)):
    """The `ops` namespace for float32 evaluation in the compiled step."""

    @property
    def int_dtype(self):
        # JAX runs in 32-bit mode unless x64 is enabled.
        return "int32" if keras.backend.backend() == "jax" else "int64"

    @staticmethod
    def to_float(x):
        return kops.cast(x, "float32")

    def int_const(self, values):
        return kops.convert_to_tensor(np.asarray(values), dtype=self.int_dtype)

    @staticmethod
    def float_const(values):
        return kops.convert_to_tensor(np.asarray(values), dtype="float32")

    @staticmethod
    def searchsorted(sorted_sequence, values):
        # tf.searchsorted needs rank >= 1, and the optimizer passes a scalar step.
        flat = kops.reshape(values, (-1,))
        found = kops.searchsorted(sorted_sequence, flat, side="right")
        return kops.reshape(found, kops.shape(values))

    @staticmethod
    def foreign(schedule, step):
        """Rates of a non-keras_lr schedule (a Keras `LearningRateSchedule`)."""
        return kops.cast(schedule(step), "float32")


_NUMPY = _NumpyOps()
_KERAS = _KerasOps()
