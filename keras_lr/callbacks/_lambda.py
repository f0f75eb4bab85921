"""A custom rule of the step or epoch, tabulated over the fit before training."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr.callbacks import _context
from keras_lr.callbacks._base import ScheduleCallback

__all__ = ["LambdaSchedule"]


def _tabulate(fn: Callable, count: int) -> np.ndarray:
    """fn(0), ..., fn(count - 1) as float64; fn only ever receives Python ints."""
    values = np.array([float(fn(k)) for k in range(count)], dtype=np.float64)
    return v.finite_nonnegative(
        "fn", values, "return finite rates >= 0", lambda k: f"fn({k})={values[k]!r}"
    )


class LambdaSchedule(ScheduleCallback):
    """A custom rule: the rate of step (or epoch) n is `fn(n)`.

    `fn` is any Python function of an int (math, if/else, NumPy).  It is
    evaluated once per step or epoch of the fit before training starts and
    looked up inside the compiled step, so it costs nothing per batch and
    stays exact.  The table covers every step of `fit`; later steps keep the
    last value until the next `fit` extends it.

    Args:
        fn: function of the step (or epoch) returning a rate >= 0.
        unit: "step" or "epoch".
        steps_per_epoch: for `unit="epoch"`; None takes what `fit` knows.
        warmup_steps, warmup_start_lr, warmup_shape: see `ScheduleCallback`.

    Example:
        >>> import math, keras_lr
        >>> log_anneal = keras_lr.LambdaSchedule(lambda i: 0.1 / math.log(i + math.e))
        >>> round(float(log_anneal.rates([0])[0]), 6)
        0.1
    """

    _tabulates = True

    def __init__(
        self,
        fn: Callable[[int], float],
        unit: str = "step",
        steps_per_epoch: int | None = None,
        *,
        warmup_steps: int | float = 0,
        warmup_start_lr: float = 0.0,
        warmup_shape: str = "linear",
    ):
        super().__init__(
            warmup_steps=warmup_steps, warmup_start_lr=warmup_start_lr, warmup_shape=warmup_shape
        )
        self.fn = v.callable_("fn", fn)
        self.unit = v.one_of("unit", unit, ("step", "epoch"))
        self.steps_per_epoch = v.optional_positive_int("steps_per_epoch", steps_per_epoch)

    def build(self, context):
        owner = type(self).__name__
        horizon = _context.horizon(owner, context, "tabulates every step of the fit")
        if self.unit == "step":
            return S.Table(_tabulate(self.fn, max(horizon, 1)))
        spe = _context.steps_per_epoch(owner, context, self.steps_per_epoch)
        return S.PerEpoch(S.Table(_tabulate(self.fn, max(math.ceil(horizon / spe), 1))), spe)

    def _config(self):
        return {"fn": self.fn, "unit": self.unit, "steps_per_epoch": self.steps_per_epoch}
