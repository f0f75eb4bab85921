"""Learning-rate schedules as pure functions of the optimizer step.

Every schedule here is a `keras.optimizers.schedules.LearningRateSchedule`:
arguments are checked once in the constructor, then the object maps a
0-based optimizer step `i` to a rate with no hidden state.  The formula of each
schedule is written once, in `_rate(step, ops)`, and evaluated two ways:

* `schedule(step)` with `keras.ops` in float32, inside the compiled training
  step (this is what the optimizer calls with its `iterations`);
* `schedule.numpy(steps)` with NumPy in float64, for previews, history tables
  and plots.

Cycle positions are computed with integer arithmetic so that float32 stays
exact over long runs (no `i / step_size` on a million-step float).

The scheduling callbacks in `keras_lr` build these objects and install them in
the optimizer; they can also be passed to any Keras optimizer directly:

>>> import keras, keras_lr
>>> sched = keras_lr.schedules.Cyclic(base_lr=1.0, max_lr=5.0, step_size=4)
>>> sched.numpy(range(9)).tolist()
[1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0]
>>> opt = keras.optimizers.SGD(learning_rate=sched)

All classes are registered with Keras serialization, so a model saved with one
installed reloads with `keras.saving.load_model` once `keras_lr` is imported.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops as kops

from keras_lr import _validation as v

__all__ = [
    "Schedule",
    "Constant",
    "Linear",
    "Cosine",
    "Polynomial",
    "Exponential",
    "Staircase",
    "Cyclic",
    "CosineRestarts",
    "OneCycle",
    "GeometricCycle",
    "Table",
    "PerEpoch",
    "Join",
    "Scaled",
    "warmup",
    "evaluate",
]

_register = keras.saving.register_keras_serializable(package="keras_lr")

# Largest step a schedule has to index (int32 range: JAX runs without x64).
# Every count and length argument is refused above it (`_validation.integer`).
_MAX_STEP = v.MAX_STEP


class _NumpyOps:
    """The `ops` namespace for float64 evaluation on NumPy arrays."""

    int_dtype = np.int64
    cos = staticmethod(np.cos)
    floor = staticmethod(np.floor)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    power = staticmethod(np.power)
    floor_divide = staticmethod(np.floor_divide)
    exp = staticmethod(np.exp)

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
    def take(table, indices):
        return np.take(table, indices)

    @staticmethod
    def clip(x, low, high):
        return np.clip(x, low, high)


class _KerasOps:
    """The `ops` namespace for float32 evaluation in the compiled step."""

    cos = staticmethod(kops.cos)
    floor = staticmethod(kops.floor)
    abs = staticmethod(kops.abs)
    where = staticmethod(kops.where)
    minimum = staticmethod(kops.minimum)
    maximum = staticmethod(kops.maximum)
    power = staticmethod(kops.power)
    floor_divide = staticmethod(kops.floor_divide)
    exp = staticmethod(kops.exp)

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
    def take(table, indices):
        return kops.take(table, indices)

    @staticmethod
    def clip(x, low, high):
        return kops.clip(x, low, high)


_NUMPY = _NumpyOps()
_KERAS = _KerasOps()


def _as_steps(steps: Any) -> np.ndarray:
    """Steps for `numpy()`: an int N means steps 0..N-1."""
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        count = v.nonnegative_int("steps", steps)
        return np.arange(count, dtype=np.int64)
    arr = np.asarray(steps)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise ValueError(
                f"Argument `steps` must hold whole step numbers. Received: steps={steps!r}"
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(
            "Argument `steps` must be an integer count or an array of integer "
            f"steps. Received: steps={steps!r}"
        )
    if arr.size and arr.min() < 0:
        raise ValueError(f"Argument `steps` must be non-negative. Received: steps={steps!r}")
    return arr.astype(np.int64)


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(config):
    return keras.saving.deserialize_keras_object(config)


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base class: a rate as a pure function of the 0-based optimizer step.

    Subclasses implement `_rate(step, ops)` once, with `ops` either the NumPy
    or the `keras.ops` namespace, and `get_config()` returning exactly the
    constructor arguments.
    """

    def _rate(self, step, ops):
        raise NotImplementedError

    def __call__(self, step):
        step = kops.convert_to_tensor(step)
        if "int" not in keras.backend.standardize_dtype(step.dtype):
            step = kops.floor(step)
        step = kops.cast(step, _KERAS.int_dtype)
        return kops.cast(self._rate(step, _KERAS), "float32")

    def numpy(self, steps: Any) -> np.ndarray:
        """Rates in float64 for the given steps (an int N means 0..N-1)."""
        arr = _as_steps(steps)
        out = np.asarray(self._rate(arr, _NUMPY), dtype=np.float64)
        return np.broadcast_to(out, arr.shape).copy()

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return id(self)


def evaluate(schedule: Any, steps: Any) -> np.ndarray:
    """Rates of any schedule for `steps`, as a float64 NumPy array.

    Works for `keras_lr` schedules (float64 math) and for any other Keras
    `LearningRateSchedule` or callable of the step (evaluated with `keras.ops`).
    """
    if isinstance(schedule, Schedule):
        return schedule.numpy(steps)
    arr = _as_steps(steps)
    if not callable(schedule):
        return np.full(arr.shape, v.real("schedule", schedule), dtype=np.float64)
    out = keras.ops.convert_to_numpy(schedule(kops.convert_to_tensor(arr)))
    return np.broadcast_to(np.asarray(out, dtype=np.float64), arr.shape).copy()


@_register
class Constant(Schedule):
    """A constant rate: lr(i) = learning_rate.

    Args:
        learning_rate: the rate, >= 0.
    """

    def __init__(self, learning_rate: float):
        self.learning_rate = v.nonnegative_float("learning_rate", learning_rate)

    def _rate(self, step, ops):
        return ops.to_float(step) * 0.0 + self.learning_rate

    def get_config(self):
        return {"learning_rate": self.learning_rate}


@_register
class Linear(Schedule):
    """Linear ramp from `start_lr` to `end_lr` over `steps`, then `end_lr`.

    lr(i) = start_lr + (end_lr - start_lr) * min(i, steps) / steps

    This is the warm-up piece used by `warmup()`.

    Args:
        start_lr: rate at step 0, >= 0.
        end_lr: rate from step `steps` on, >= 0.
        steps: length of the ramp, a positive integer.
    """

    def __init__(self, start_lr: float, end_lr: float, steps: int):
        self.start_lr = v.nonnegative_float("start_lr", start_lr)
        self.end_lr = v.nonnegative_float("end_lr", end_lr)
        self.steps = v.positive_int("steps", steps)

    def _rate(self, step, ops):
        frac = ops.to_float(ops.minimum(step, self.steps)) / self.steps
        return self.start_lr + (self.end_lr - self.start_lr) * frac

    def get_config(self):
        return {"start_lr": self.start_lr, "end_lr": self.end_lr, "steps": self.steps}


@_register
class Cosine(Schedule):
    """Cosine annealing without restarts.

    lr(i) = min_lr + (max_lr - min_lr) * (1 + cos(pi * min(i, T) / T)) / 2

    with T = `total_steps`; the rate stays at `min_lr` from step T on.

    Args:
        max_lr: rate at step 0, > 0.
        min_lr: final rate, in [0, max_lr].
        total_steps: T, a positive integer.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    def __init__(self, max_lr: float, min_lr: float = 0.0, total_steps: int = 1):
        self.max_lr = v.positive_float("max_lr", max_lr)
        self.min_lr = v.nonnegative_float("min_lr", min_lr)
        v.at_most("min_lr", min_lr, "max_lr", max_lr)
        self.total_steps = v.positive_int("total_steps", total_steps)

    def _rate(self, step, ops):
        frac = ops.to_float(ops.minimum(step, self.total_steps)) / self.total_steps
        return self.min_lr + 0.5 * (self.max_lr - self.min_lr) * (1.0 + ops.cos(math.pi * frac))

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "min_lr": self.min_lr,
            "total_steps": self.total_steps,
        }


@_register
class Polynomial(Schedule):
    """Polynomial decay to `end_lr` over `max_steps`.

    lr(i) = (initial_lr - end_lr) * (1 - min(i, max_steps) / max_steps)^power + end_lr

    Args:
        initial_lr: rate at step 0, > 0.
        max_steps: steps to reach `end_lr`, a positive integer.
        power: exponent, > 0 (1.0 is linear decay).
        end_lr: final rate, >= 0.
    """

    def __init__(self, initial_lr: float, max_steps: int, power: float = 1.0, end_lr: float = 0.0):
        self.initial_lr = v.positive_float("initial_lr", initial_lr)
        self.max_steps = v.positive_int("max_steps", max_steps)
        self.power = v.positive_float("power", power)
        self.end_lr = v.nonnegative_float("end_lr", end_lr)

    def _rate(self, step, ops):
        frac = ops.to_float(ops.minimum(step, self.max_steps)) / self.max_steps
        return (self.initial_lr - self.end_lr) * ops.power(1.0 - frac, self.power) + self.end_lr

    def get_config(self):
        return {
            "initial_lr": self.initial_lr,
            "max_steps": self.max_steps,
            "power": self.power,
            "end_lr": self.end_lr,
        }


@_register
class Exponential(Schedule):
    """Exponential decay: lr(i) = initial_lr * gamma^i.

    Wrap in `PerEpoch` for a per-epoch decay.

    Args:
        initial_lr: rate at step 0, > 0.
        gamma: decay per step, in (0, 1].
    """

    def __init__(self, initial_lr: float, gamma: float):
        self.initial_lr = v.positive_float("initial_lr", initial_lr)
        self.gamma = v.float_in("gamma", gamma, 0.0, 1.0, low_open=True)

    def _rate(self, step, ops):
        return self.initial_lr * ops.exp(math.log(self.gamma) * ops.to_float(step))

    def get_config(self):
        return {"initial_lr": self.initial_lr, "gamma": self.gamma}


@_register
class Staircase(Schedule):
    """Step decay: lr(i) = initial_lr * decay_factor^n(i).

    n(i) = floor(i / step_size), or, with `milestones`, the number of
    milestones <= i.  Wrap in `PerEpoch` to count in epochs.

    Args:
        initial_lr: rate before the first decay, > 0.
        decay_factor: factor applied at each decay, in (0, 1].
        step_size: decay every `step_size` steps (ignored with `milestones`).
        milestones: strictly increasing steps at which to decay, or None.
    """

    def __init__(
        self,
        initial_lr: float,
        decay_factor: float = 0.5,
        step_size: int = 10,
        milestones: Sequence[int] | None = None,
    ):
        self.initial_lr = v.positive_float("initial_lr", initial_lr)
        self.decay_factor = v.float_in("decay_factor", decay_factor, 0.0, 1.0, low_open=True)
        self.step_size = v.positive_int("step_size", step_size)
        self.milestones = (
            None if milestones is None else v.increasing_ints("milestones", milestones, minimum=1)
        )

    def _rate(self, step, ops):
        if self.milestones is None:
            n = ops.floor_divide(step, self.step_size)
        else:
            n = ops.searchsorted(ops.int_const(self.milestones), step)
        # exp(n log f) with log f taken in float64: float32 `power` of the
        # rounded factor drifts by 1e-3 after 1e5 decays of 0.99999.
        return self.initial_lr * ops.exp(math.log(self.decay_factor) * ops.to_float(n))

    def get_config(self):
        return {
            "initial_lr": self.initial_lr,
            "decay_factor": self.decay_factor,
            "step_size": self.step_size,
            "milestones": self.milestones,
        }


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")

_SCALE_FN_HOW = (
    "write it with operators and `keras.ops` on its argument, e.g. "
    "`lambda x: 1 / 2.0 ** (x - 1)` or "
    "`lambda x: 0.5 * (1 + keras.ops.sin(x * math.pi / 2))`"
)


def _is_number_like(out: Any) -> bool:
    """A real scalar: what a scale may be besides a scalar tensor."""
    if isinstance(out, bool):
        return False
    if isinstance(out, (numbers.Real, np.generic, np.ndarray)):
        return np.ndim(out) == 0 and np.asarray(out).dtype.kind in "iuf"
    return False


def _runs_on_tensors(fn: Callable) -> bool:
    """Whether `fn` runs on a symbolic float32 scalar, as in the compiled step.

    A `keras.KerasTensor` has no value: NumPy calls, Python `if` and `math`
    functions on it raise, as they do on a traced tensor (TensorFlow graph,
    JAX jit), while operators and `keras.ops` work.
    """
    try:
        out = fn(keras.KerasTensor(shape=(), dtype="float32"))
    except Exception:  # whatever the user's function raises on a tensor
        return False
    if isinstance(out, keras.KerasTensor):
        dtype = keras.backend.standardize_dtype(out.dtype)
        return tuple(out.shape) == () and ("float" in dtype or "int" in dtype)
    return _is_number_like(out)


def _numpy_error(fn: Callable) -> str | None:
    """None when `fn` maps a float64 array to numbers elementwise, else why not."""
    probe = np.array([1.0, 2.0, 3.0])
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn(probe))
    except Exception as err:  # whatever the user's function raises
        return f"{type(err).__name__}: {err}"
    if out.dtype.kind not in "iuf" or out.shape not in ((), probe.shape):
        return f"it returned {out.dtype} values of shape {out.shape} for an array of shape (3,)"
    return None


def _scale_fn_kind(scale_fn: Any) -> str:
    """How a `Cyclic` scale function can be evaluated.

    Returns:
        "schedule" for a `keras_lr` schedule (evaluated at the integer cycle
        or step), "tensor" for a function that runs in the compiled training
        step, "numpy" for one that only runs on NumPy arrays (and has to be
        tabulated ahead of training, as `keras_lr.CyclicLR` does).

    Raises:
        TypeError: `scale_fn` is not callable, or runs on neither.
    """
    if isinstance(scale_fn, Schedule):
        return "schedule"
    v.callable_("scale_fn", scale_fn)
    if _runs_on_tensors(scale_fn):
        return "tensor"
    why = _numpy_error(scale_fn)
    if why is None:
        return "numpy"
    raise TypeError(
        "Argument `scale_fn` must be a function of one number (the cycle, or the "
        "step with scale_mode='iterations') that runs in the compiled training "
        f"step: {_SCALE_FN_HOW}. Python `if`, `math` functions and `float()` on the "
        f"argument cannot run there; on a NumPy array it failed too ({why}). "
        f"Received: scale_fn={scale_fn!r}"
    )


def _scale_table(scale_fn: Callable, xs: np.ndarray) -> np.ndarray:
    """scale_fn on the float64 array `xs` (as `numpy()` calls it), checked."""
    xs = xs.astype(np.float64)
    with np.errstate(all="ignore"):
        out = np.asarray(scale_fn(xs), dtype=np.float64)
    values = np.broadcast_to(out, xs.shape).copy()
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise ValueError(
            "Argument `scale_fn` must return finite scales >= 0. "
            f"Received: scale_fn({float(xs[bad[0]])!r})={float(values[bad[0]])!r}"
        )
    return values


@_register
class Cyclic(Schedule):
    """Cyclical learning rate (Smith 2017), PyTorch's `CyclicLR` rates.

    With up = `step_size`, down = `step_size_down` (default: up), and
    period = up + down, at step i:

        cycle = 1 + floor(i / period)
        pos = i - (cycle - 1) * period
        frac = pos / up                 if pos <= up
             = (period - pos) / down    otherwise
        lr = base_lr + (max_lr - base_lr) * frac * scale

    For a symmetric cycle this is Smith's x = |i/step_size - 2 cycle + 1|,
    lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale.  The scale is
    1 ("triangular"), 1/2^(cycle-1) ("triangular2"), gamma^i ("exp_range"),
    or `scale_fn(cycle)` / `scale_fn(i)` per `scale_mode`.

    Args:
        base_lr: lower bound, >= 0.
        max_lr: upper bound, >= base_lr.
        step_size: steps in the rising half-cycle, a positive integer.
        mode: "triangular", "triangular2" or "exp_range" (ignored with scale_fn).
        gamma: per-step factor for "exp_range", in (0, 1].
        scale_fn: custom scale, written with operators or `keras.ops` so that it
            runs on tensors and NumPy arrays alike, or a `keras_lr` schedule
            evaluated at the integer cycle (1-based) or step; None for `mode`.
            A function written with NumPy cannot run in the compiled step and
            is refused here: `keras_lr.CyclicLR` accepts it and tabulates it.
        scale_mode: "cycle" or "iterations": what `scale_fn` receives.
        step_size_down: steps in the falling half-cycle, or None for step_size.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017, arXiv:1506.01186.
    """

    def __init__(
        self,
        base_lr: float = 0.001,
        max_lr: float = 0.006,
        step_size: int = 2000,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable | None = None,
        scale_mode: str = "cycle",
        step_size_down: int | None = None,
    ):
        self.base_lr = v.nonnegative_float("base_lr", base_lr)
        self.max_lr = v.positive_float("max_lr", max_lr)
        v.at_most("base_lr", base_lr, "max_lr", max_lr)
        self.step_size = v.positive_int("step_size", step_size)
        self.mode = v.one_of("mode", mode, _CYCLIC_MODES)
        self.gamma = v.float_in("gamma", gamma, 0.0, 1.0, low_open=True)
        if scale_fn is not None and _scale_fn_kind(scale_fn) == "numpy":
            raise TypeError(
                "Argument `scale_fn` runs on NumPy arrays only, so it cannot run in "
                f"the compiled training step: {_SCALE_FN_HOW}; or use "
                "`keras_lr.CyclicLR`, which tabulates NumPy functions over the run. "
                f"Received: scale_fn={scale_fn!r}"
            )
        self.scale_fn = scale_fn
        self.scale_mode = v.one_of("scale_mode", scale_mode, ("cycle", "iterations"))
        self.step_size_down = v.optional_positive_int("step_size_down", step_size_down)
        period = self.step_size + (self.step_size_down or self.step_size)
        if period > _MAX_STEP:
            raise ValueError(
                "Argument `step_size` plus `step_size_down` (the cycle) must be at most "
                f"{v.STEP_LIMIT}. Received: step_size={step_size!r}, "
                f"step_size_down={step_size_down!r}"
            )

    def _tabulated(self, scale_fn: Callable, steps: int) -> Cyclic:
        """This schedule with `scale_fn` looked up in a `Table` over steps 0..steps-1.

        For a scale function written with NumPy, which cannot run in the
        compiled step: the table holds scale_fn(c) for the cycles c = 1..C that
        those steps reach (scale_fn(i) for the steps with
        scale_mode="iterations"), evaluated on float64 arrays as `numpy()`
        evaluates a scale function; later steps keep the last value.
        """
        steps = v.positive_int("steps", steps)
        if self.scale_mode == "cycle":
            period = self.step_size + (self.step_size_down or self.step_size)
            xs, offset = np.arange(1, (steps - 1) // period + 2), 1
        else:
            xs, offset = np.arange(steps), 0
        table = Table(_scale_table(scale_fn, xs), offset)
        return Cyclic(**dict(self.get_config(), scale_fn=table))

    def _scale(self, step, cycle, ops):
        if isinstance(self.scale_fn, Schedule):
            return self.scale_fn._rate(cycle if self.scale_mode == "cycle" else step, ops)
        if self.scale_fn is not None:
            arg = cycle if self.scale_mode == "cycle" else step
            return self.scale_fn(ops.to_float(arg))
        if self.mode == "triangular2":
            return ops.power(0.5, ops.to_float(cycle - 1))
        if self.mode == "exp_range":
            return ops.exp(math.log(self.gamma) * ops.to_float(step))
        return 1.0

    def _rate(self, step, ops):
        up = self.step_size
        down = self.step_size_down or up
        period = up + down
        cycle0 = ops.floor_divide(step, period)
        pos = step - cycle0 * period
        rising = ops.to_float(pos) / up
        falling = ops.to_float(period - pos) / down
        frac = ops.where(pos <= up, rising, falling)
        scale = self._scale(step, cycle0 + 1, ops)
        return self.base_lr + (self.max_lr - self.base_lr) * frac * scale

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
            "scale_fn": None if self.scale_fn is None else _serialize(self.scale_fn),
            "scale_mode": self.scale_mode,
            "step_size_down": self.step_size_down,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("scale_fn") is not None:
            config["scale_fn"] = _deserialize(config["scale_fn"])
        return cls(**config)


def _ceil_product(length: int, factor: float) -> int:
    """ceil(length * factor), immune to 10 * 1.1 == 11.000000000000002."""
    product = length * factor
    nearest = round(product)
    if abs(product - nearest) <= 1e-9 * max(1.0, abs(product)):
        return int(nearest)
    return math.ceil(product)


def restart_boundaries(cycle_length: int, mult_factor: float, limit: int = _MAX_STEP) -> np.ndarray:
    """Cycle boundaries of SGDR in units: 0, L0, L0 + L1, ...

    L0 = cycle_length and L(k+1) = ceil(L(k) * mult_factor).  Cycle k spans
    [b[k], b[k+1]); the list stops with the first boundary past `limit`.
    """
    bounds = [0]
    length = cycle_length
    while bounds[-1] <= limit:
        bounds.append(bounds[-1] + length)
        length = max(_ceil_product(length, mult_factor), length + 1)
    return np.asarray(bounds, dtype=np.int64)


@_register
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR), per step.

    Cycle k lasts L(k) units of `steps_per_unit` steps each, with
    L(0) = `cycle_length` and L(k+1) = ceil(L(k) * mult_factor) (fractional
    factors work).  Inside cycle k, at position p (0 <= p < L(k) steps):

        peak = max_lr * lr_decay^k
        lr = min_lr + (peak - min_lr) * (1 + cos(pi * p / L(k))) / 2

    Args:
        min_lr: rate approached at the end of every cycle, >= 0.
        max_lr: peak of the first cycle, >= min_lr.
        cycle_length: length of the first cycle in units, a positive integer.
        mult_factor: growth of cycle length at each restart, >= 1.
        lr_decay: factor on the peak at each restart, in (0, 1].
        steps_per_unit: steps per unit (steps per epoch when cycles count
            epochs), a positive integer.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    def __init__(
        self,
        min_lr: float,
        max_lr: float,
        cycle_length: int = 10,
        mult_factor: float = 2.0,
        lr_decay: float = 1.0,
        steps_per_unit: int = 1,
    ):
        self.min_lr = v.nonnegative_float("min_lr", min_lr)
        self.max_lr = v.positive_float("max_lr", max_lr)
        v.at_most("min_lr", min_lr, "max_lr", max_lr)
        self.cycle_length = v.positive_int("cycle_length", cycle_length)
        self.mult_factor = v.real("mult_factor", mult_factor)
        if self.mult_factor < 1.0:
            raise ValueError(
                f"Argument `mult_factor` must be >= 1. Received: mult_factor={mult_factor!r}"
            )
        self.lr_decay = v.float_in("lr_decay", lr_decay, 0.0, 1.0, low_open=True)
        self.steps_per_unit = v.positive_int("steps_per_unit", steps_per_unit)
        if self.cycle_length * self.steps_per_unit > _MAX_STEP:
            raise ValueError(
                "Argument `cycle_length` times `steps_per_unit` (the first cycle in "
                f"steps) must be at most {v.STEP_LIMIT}. Received: "
                f"cycle_length={cycle_length!r}, steps_per_unit={steps_per_unit!r}"
            )
        if self.mult_factor != 1.0:
            units = restart_boundaries(
                self.cycle_length, self.mult_factor, _MAX_STEP // self.steps_per_unit
            )
            self._bounds = np.minimum(units * self.steps_per_unit, _MAX_STEP)

    def _rate(self, step, ops):
        if self.mult_factor == 1.0:
            length = self.cycle_length * self.steps_per_unit
            k = ops.floor_divide(step, length)
            frac = ops.to_float(step - k * length) / length
        else:
            bounds = ops.int_const(self._bounds)
            k = ops.searchsorted(bounds, step) - 1
            start = ops.take(bounds, k)
            end = ops.take(bounds, k + 1)
            frac = ops.to_float(step - start) / ops.to_float(end - start)
        peak = self.max_lr * ops.power(self.lr_decay, ops.to_float(k))
        return self.min_lr + 0.5 * (peak - self.min_lr) * (1.0 + ops.cos(math.pi * frac))

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "cycle_length": self.cycle_length,
            "mult_factor": self.mult_factor,
            "lr_decay": self.lr_decay,
            "steps_per_unit": self.steps_per_unit,
        }


_ANNEAL = ("cos", "linear")


@_register
class OneCycle(Schedule):
    """The 1cycle policy with exactly PyTorch's `OneCycleLR` rates.

    initial = max_lr / div_factor, final = initial / final_div_factor, and
    with T = total_steps, p = pct_start the phases end at step

        two phases:   p*T - 1 (initial -> max_lr), T - 1 (max_lr -> final)
        three phases: p*T - 1 (initial -> max_lr), 2p*T - 2 (max_lr -> initial),
                      T - 1 (initial -> final)

    Inside a phase from step s to e the rate anneals with pct = (i - s)/(e - s)
    by cosine, end + (start - end)(1 + cos(pi pct))/2, or linearly.  Steps past
    T - 1 keep the final rate (PyTorch raises there).

    Args:
        max_lr: peak rate, > 0.
        total_steps: T, a positive integer.
        pct_start: fraction of T spent rising, in (0, 1) (three-phase: (0, 0.5)).
        div_factor: initial = max_lr / div_factor, > 0.
        final_div_factor: final = initial / final_div_factor, > 0.
        anneal_strategy: "cos" or "linear".
        three_phase: use the three-phase variant.

    References:
        Smith & Topin, "Super-Convergence", arXiv:1708.07120; Smith,
        "A disciplined approach to neural network hyper-parameters",
        arXiv:1803.09820.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
    ):
        self.max_lr = v.positive_float("max_lr", max_lr)
        self.total_steps = v.positive_int("total_steps", total_steps)
        if not isinstance(three_phase, bool):
            raise TypeError(
                f"Argument `three_phase` must be a bool. Received: three_phase={three_phase!r}"
            )
        self.three_phase = three_phase
        self.pct_start = v.float_in(
            "pct_start",
            pct_start,
            0.0,
            0.5 if three_phase else 1.0,
            low_open=True,
            high_open=True,
        )
        self.div_factor = v.positive_float("div_factor", div_factor)
        self.final_div_factor = v.positive_float("final_div_factor", final_div_factor)
        self.anneal_strategy = v.one_of("anneal_strategy", anneal_strategy, _ANNEAL)

    def phases(self) -> list[tuple[float, float, float]]:
        """(end_step, start_lr, end_lr) of each phase, as PyTorch builds them."""
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        t, p = self.total_steps, self.pct_start
        if self.three_phase:
            return [
                (p * t - 1.0, initial, self.max_lr),
                (2.0 * p * t - 2.0, self.max_lr, initial),
                (t - 1.0, initial, final),
            ]
        return [(p * t - 1.0, initial, self.max_lr), (t - 1.0, self.max_lr, final)]

    def _anneal(self, start, end, pct, ops):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)
        return (end - start) * pct + start

    def _rate(self, step, ops):
        i = ops.to_float(ops.minimum(step, self.total_steps - 1))
        start_step = 0.0
        values = []
        for end_step, lo, hi in self.phases():
            span = end_step - start_step
            pct = (i - start_step) / span if span > 0 else i * 0.0 + 1.0
            values.append((end_step, self._anneal(lo, hi, ops.clip(pct, 0.0, 1.0), ops)))
            start_step = end_step
        # PyTorch picks the first phase whose end is >= i, else the last one.
        out = values[-1][1]
        for end_step, value in reversed(values[:-1]):
            out = ops.where(i <= end_step, value, out)
        return out

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal_strategy": self.anneal_strategy,
            "three_phase": self.three_phase,
        }


@_register
class GeometricCycle(Schedule):
    """Fast Geometric Ensembling's triangular cycle (Garipov et al. 2018).

    With c = `cycle_steps` and t = (mod(i, c) + 1) / c (the paper's 1-based
    iteration i + 1):

        lr = (1 - 2t) * lr_high + 2t * lr_low          for t <= 1/2
        lr = (2 - 2t) * lr_low + (2t - 1) * lr_high    for t > 1/2

    The rate falls from lr_high to lr_low at the cycle's middle step (where a
    model is collected) and climbs back.

    Args:
        lr_high: the rate at the cycle's ends, >= lr_low.
        lr_low: the rate at the cycle's middle, > 0.
        cycle_steps: c, an even integer >= 2.

    References:
        Garipov et al., "Loss Surfaces, Mode Connectivity, and Fast Ensembling
        of DNNs", NeurIPS 2018, arXiv:1802.10026.
    """

    def __init__(self, lr_high: float, lr_low: float, cycle_steps: int):
        self.lr_high = v.positive_float("lr_high", lr_high)
        self.lr_low = v.positive_float("lr_low", lr_low)
        v.at_most("lr_low", lr_low, "lr_high", lr_high)
        self.cycle_steps = v.positive_int("cycle_steps", cycle_steps)
        if self.cycle_steps < 2 or self.cycle_steps % 2:
            raise ValueError(
                "Argument `cycle_steps` must be an even integer >= 2. "
                f"Received: cycle_steps={cycle_steps!r}"
            )

    def _rate(self, step, ops):
        c = self.cycle_steps
        pos = step - ops.floor_divide(step, c) * c
        t = ops.to_float(pos + 1) / c
        falling = (1.0 - 2.0 * t) * self.lr_high + 2.0 * t * self.lr_low
        rising = (2.0 - 2.0 * t) * self.lr_low + (2.0 * t - 1.0) * self.lr_high
        return ops.where(t <= 0.5, falling, rising)

    def get_config(self):
        return {
            "lr_high": self.lr_high,
            "lr_low": self.lr_low,
            "cycle_steps": self.cycle_steps,
        }


@_register
class Table(Schedule):
    """A rate looked up per step: lr(i) = values[clip(i - offset, 0, n - 1)].

    Used for custom rules written in plain Python (`LambdaSchedule`), which
    are evaluated once per step ahead of training, and for the range test's
    ladder (which starts at the optimizer's current step, `offset`).

    Args:
        values: non-empty sequence of n finite rates >= 0.
        offset: the step that reads values[0], a non-negative integer.
    """

    def __init__(self, values: Iterable[float], offset: int = 0):
        try:
            arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
        except TypeError:
            raise TypeError(
                f"Argument `values` must be numbers. Received: values={values!r}"
            ) from None
        if arr.size and arr.dtype.kind not in "iuf":
            raise TypeError(f"Argument `values` must be numbers. Received: values={values!r}")
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
            raise ValueError(
                "Argument `values` must be a non-empty 1-D sequence of numbers. "
                f"Received: values of shape {arr.shape} and dtype {arr.dtype}"
            )
        arr = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
        if bad.size:
            raise ValueError(
                "Argument `values` must hold finite rates >= 0. "
                f"Received: values[{bad[0]}]={arr[bad[0]]!r}"
            )
        self.values = arr
        self.offset = v.nonnegative_int("offset", offset)

    def _rate(self, step, ops):
        idx = ops.clip(step - self.offset, 0, len(self.values) - 1)
        return ops.take(ops.float_const(self.values), idx)

    def get_config(self):
        return {"values": self.values.tolist(), "offset": self.offset}


@_register
class PerEpoch(Schedule):
    """Evaluates `schedule` at the epoch of the step: lr(i) = s(floor(i / spe)).

    Args:
        schedule: a `keras_lr` schedule counting epochs.
        steps_per_epoch: spe, a positive integer.
    """

    def __init__(self, schedule: Schedule, steps_per_epoch: int):
        if not isinstance(schedule, Schedule):
            raise TypeError(
                f"Argument `schedule` must be a keras_lr schedule. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.steps_per_epoch = v.positive_int("steps_per_epoch", steps_per_epoch)

    def _rate(self, step, ops):
        return self.schedule._rate(ops.floor_divide(step, self.steps_per_epoch), ops)

    def get_config(self):
        return {
            "schedule": _serialize(self.schedule),
            "steps_per_epoch": self.steps_per_epoch,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = _deserialize(config["schedule"])
        return cls(**config)


@_register
class Join(Schedule):
    """Schedules run one after another, each counting from its own start.

    With boundaries b1 < b2 < ..., step i < b1 runs schedules[0](i),
    b1 <= i < b2 runs schedules[1](i - b1), and so on (as optax's
    `join_schedules`).

    Args:
        schedules: list of n >= 1 `keras_lr` schedules.
        boundaries: n - 1 strictly increasing positive steps.
    """

    def __init__(self, schedules: Sequence[Schedule], boundaries: Sequence[int]):
        schedules = v.as_list("schedules", schedules, "a non-empty list of keras_lr schedules")
        if not schedules:
            raise ValueError("Argument `schedules` must not be empty. Received: schedules=[]")
        if not all(isinstance(s, Schedule) for s in schedules):
            raise TypeError(
                "Argument `schedules` must be a non-empty list of keras_lr "
                f"schedules. Received: schedules={schedules!r}"
            )
        boundaries = v.as_list("boundaries", boundaries, "a list of integers")
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "Argument `boundaries` must have one entry fewer than `schedules`. "
                f"Received: boundaries={boundaries!r} for {len(schedules)} schedules"
            )
        self.schedules = schedules
        self.boundaries = (
            v.increasing_ints("boundaries", boundaries, minimum=1) if boundaries else []
        )

    def _rate(self, step, ops):
        out = self.schedules[0]._rate(step, ops)
        for boundary, sched in zip(self.boundaries, self.schedules[1:]):
            later = sched._rate(ops.maximum(step - boundary, 0), ops)
            out = ops.where(step >= boundary, later, out)
        return out

    def get_config(self):
        return {
            "schedules": [_serialize(s) for s in self.schedules],
            "boundaries": list(self.boundaries),
        }

    @classmethod
    def from_config(cls, config):
        return cls([_deserialize(s) for s in config["schedules"]], config["boundaries"])


@_register
class Scaled(Schedule):
    """A schedule times a constant: lr(i) = scale * schedule(i).

    `keras_lr.ReduceLROnPlateau` scales the active schedule this way instead
    of overwriting it.

    Args:
        schedule: any `keras_lr` schedule, or another serializable Keras
            `LearningRateSchedule`.
        scale: the factor, > 0.
    """

    def __init__(self, schedule: Any, scale: float = 1.0):
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                "Argument `schedule` must be a LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.scale = v.positive_float("scale", scale)

    def _rate(self, step, ops):
        if isinstance(self.schedule, Schedule):
            return self.scale * self.schedule._rate(step, ops)
        if ops is _NUMPY:
            return self.scale * evaluate(self.schedule, np.asarray(step))
        return self.scale * kops.cast(self.schedule(step), "float32")

    def get_config(self):
        return {"schedule": _serialize(self.schedule), "scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(_deserialize(config["schedule"]), config["scale"])


def warmup(schedule: Schedule, warmup_steps: int, start_lr: float = 0.0) -> Schedule:
    """Linear warm-up in front of `schedule`.

    Steps 0..warmup_steps-1 ramp linearly from `start_lr` towards the
    schedule's first rate, lr(i) = start_lr + (schedule(0) - start_lr) * i / W;
    from step W on, the schedule runs from its own step 0 (it is shifted by W).

    Args:
        schedule: the `keras_lr` schedule to warm up into.
        warmup_steps: W, a non-negative integer (0 returns `schedule`).
        start_lr: rate at step 0, >= 0.

    Returns:
        A `Join` of a `Linear` ramp and `schedule`, or `schedule` when W = 0.
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"Argument `schedule` must be a keras_lr schedule. Received: schedule={schedule!r}"
        )
    warmup_steps = v.nonnegative_int("warmup_steps", warmup_steps)
    start_lr = v.nonnegative_float("start_lr", start_lr)
    if warmup_steps == 0:
        return schedule
    target = float(schedule.numpy([0])[0])
    return Join([Linear(start_lr, target, warmup_steps), schedule], [warmup_steps])
