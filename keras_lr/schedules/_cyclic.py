"""`Cyclic`, Smith's cyclical learning rate, and the checks of its scale functions."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_lr import _validation as v
from keras_lr.schedules._base import (
    _MAX_STEP,
    Schedule,
    Table,
    _deserialize,
    _register,
    _serialize,
)

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


def _compiled_scale_fn(scale_fn: Any) -> Any:
    """`scale_fn` if None or it runs in the compiled step, else the TypeError why not."""
    if scale_fn is not None and _scale_fn_kind(scale_fn) == "numpy":
        raise TypeError(
            "Argument `scale_fn` runs on NumPy arrays only, so it cannot run in "
            f"the compiled training step: {_SCALE_FN_HOW}; or use "
            "`keras_lr.CyclicLR`, which tabulates NumPy functions over the run. "
            f"Received: scale_fn={scale_fn!r}"
        )
    return scale_fn


def _scale_table(scale_fn: Callable, xs: np.ndarray) -> np.ndarray:
    """scale_fn on the float64 array `xs` (as `numpy()` calls it), checked."""
    xs = xs.astype(np.float64)
    with np.errstate(all="ignore"):
        out = np.asarray(scale_fn(xs), dtype=np.float64)
    values = np.broadcast_to(out, xs.shape).copy()
    return v.finite_nonnegative(
        "scale_fn",
        values,
        "return finite scales >= 0",
        lambda k: f"scale_fn({float(xs[k])!r})={float(values[k])!r}",
    )


def _check_period(up: int, down: int | None, args: dict) -> None:
    if up + (down or up) > _MAX_STEP:
        raise ValueError(
            "Argument `step_size` plus `step_size_down` (the cycle) must be at most "
            f"{v.STEP_LIMIT}. Received: step_size={args['step_size']!r}, "
            f"step_size_down={args['step_size_down']!r}"
        )


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

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Cyclic(0.0, 4.0, step_size=2, mode="triangular2").numpy(9).tolist()
        [0.0, 2.0, 4.0, 2.0, 0.0, 1.0, 2.0, 1.0, 0.0]

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
        self._store(
            base_lr=base_lr,
            max_lr=max_lr,
            step_size=step_size,
            mode=mode,
            gamma=gamma,
            scale_fn=scale_fn,
            scale_mode=scale_mode,
            step_size_down=step_size_down,
        )

    @classmethod
    def _check(cls, args):
        base_lr, max_lr = args["base_lr"], args["max_lr"]
        scale_fn, step_size_down = args["scale_fn"], args["step_size_down"]
        out = {
            "base_lr": v.nonnegative_float("base_lr", base_lr),
            "max_lr": v.positive_float("max_lr", max_lr),
        }
        v.at_most("base_lr", base_lr, "max_lr", max_lr)
        out["step_size"] = v.positive_int("step_size", args["step_size"])
        out["mode"] = v.one_of("mode", args["mode"], _CYCLIC_MODES)
        out["gamma"] = v.float_in("gamma", args["gamma"], 0.0, 1.0, low_open=True)
        out["scale_fn"] = _compiled_scale_fn(scale_fn)
        out["scale_mode"] = v.one_of("scale_mode", args["scale_mode"], ("cycle", "iterations"))
        out["step_size_down"] = v.optional_positive_int("step_size_down", step_size_down)
        _check_period(out["step_size"], out["step_size_down"], args)
        return out

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

    def _between(self, low, high, step, ops):
        up = self.step_size
        down = self.step_size_down or up
        period = up + down
        cycle0 = ops.floor_divide(step, period)
        pos = step - cycle0 * period
        rising = ops.to_float(pos) / up
        falling = ops.to_float(period - pos) / down
        frac = ops.where(pos <= up, rising, falling)
        scale = self._scale(step, cycle0 + 1, ops)
        return low + (high - low) * frac * scale

    def _rate(self, step, ops):
        return self._between(self.base_lr, self.max_lr, step, ops)

    def _momentum(self, base_momentum, max_momentum, step, ops):
        return self._between(max_momentum, base_momentum, step, ops)

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
