"""Schedules that go one way: linear, cosine, polynomial, exponential, step decay."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_lr import _validation as v
from keras_lr._deprecation import renamed
from keras_lr._deprecation import renamed_attribute as _renamed_attribute
from keras_lr.schedules._base import Schedule, _length, _register


@_register
class Linear(Schedule):
    """Linear ramp from `start_lr` to `end_lr` over `total_steps`, then `end_lr`.

    lr(i) = start_lr + (end_lr - start_lr) * min(i, T) / T, with T = `total_steps`.

    This is the warm-up piece used by `warmup()`.

    Args:
        start_lr: rate at step 0, >= 0.
        end_lr: rate from step T on, >= 0.
        total_steps: T, the length of the ramp, a positive integer (the old
            name `steps` still works, with a `DeprecationWarning`).

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Linear(0.0, 1.0, total_steps=4).numpy(6).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    length_arguments = ("total_steps",)
    steps = _renamed_attribute("steps", "total_steps")

    @renamed(steps="total_steps")
    def __init__(self, start_lr: float, end_lr: float, total_steps: int):
        self._store(start_lr=start_lr, end_lr=end_lr, total_steps=total_steps)

    @classmethod
    def _check(cls, args):
        return {
            "start_lr": v.nonnegative_float("start_lr", args["start_lr"]),
            "end_lr": v.nonnegative_float("end_lr", args["end_lr"]),
            "total_steps": _length("total_steps", args["total_steps"]),
        }

    def _rate(self, step, ops):
        frac = ops.to_float(ops.minimum(step, self.total_steps)) / self.total_steps
        return self.start_lr + (self.end_lr - self.start_lr) * frac

    def get_config(self):
        return {"start_lr": self.start_lr, "end_lr": self.end_lr, "total_steps": self.total_steps}


@_register
class Cosine(Schedule):
    """Cosine annealing without restarts.

    lr(i) = min_lr + (max_lr - min_lr) * (1 + cos(pi * min(i, T) / T)) / 2

    with T = `total_steps`; the rate stays at `min_lr` from step T on.

    Args:
        max_lr: rate at step 0, > 0.
        min_lr: final rate, in [0, max_lr].
        total_steps: T, a positive integer.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Cosine(1.0, 0.0, total_steps=4).numpy(6).round(4).tolist()
        [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    length_arguments = ("total_steps",)

    def __init__(self, max_lr: float, min_lr: float = 0.0, total_steps: int = 1):
        self._store(max_lr=max_lr, min_lr=min_lr, total_steps=total_steps)

    @classmethod
    def _check(cls, args):
        out = {
            "max_lr": v.positive_float("max_lr", args["max_lr"]),
            "min_lr": v.nonnegative_float("min_lr", args["min_lr"]),
        }
        v.at_most("min_lr", args["min_lr"], "max_lr", args["max_lr"])
        out["total_steps"] = _length("total_steps", args["total_steps"])
        return out

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
    """Polynomial decay to `end_lr` over `total_steps`, optionally cycled.

    lr(i) = (initial_lr - end_lr) * (1 - min(i, T) / T)^power + end_lr, with T = `total_steps`.

    With `cycle=True` the decay instead runs over the first multiple of T at
    or past i, D(i) = T * max(1, ceil(i / T)), as Keras's
    `PolynomialDecay(cycle=True)`:

        lr(i) = (initial_lr - end_lr) * (1 - i / D(i))^power + end_lr

    so the rate reaches `end_lr` at every multiple of T and restarts, each
    time from a lower peak.

    Args:
        initial_lr: rate at step 0, > 0.
        total_steps: T, the steps to reach `end_lr`, a positive integer (the
            old name `max_steps` still works, with a `DeprecationWarning`).
        power: exponent, > 0 (1.0 is linear decay).
        end_lr: final rate, >= 0.
        cycle: restart after every T steps as Keras's `PolynomialDecay(cycle=True)`
            (True) or hold `end_lr` from step T on (False, the default); a bool.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Polynomial(1.0, total_steps=4, power=2.0).numpy(6).tolist()
        [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
        >>> S.Polynomial(1.0, total_steps=2, cycle=True).numpy(7).tolist()
        [1.0, 0.5, 0.0, 0.25, 0.0, 0.16666666666666666, 0.0]
    """

    length_arguments = ("total_steps",)
    max_steps = _renamed_attribute("max_steps", "total_steps")

    @renamed(max_steps="total_steps")
    def __init__(
        self,
        initial_lr: float,
        total_steps: int,
        power: float = 1.0,
        end_lr: float = 0.0,
        cycle: bool = False,
    ):
        self._store(
            initial_lr=initial_lr, total_steps=total_steps, power=power, end_lr=end_lr, cycle=cycle
        )

    @classmethod
    def _check(cls, args):
        cycle = args["cycle"]
        if not isinstance(cycle, bool):
            raise TypeError(f"Argument `cycle` must be a bool. Received: cycle={cycle!r}")
        return {
            "initial_lr": v.positive_float("initial_lr", args["initial_lr"]),
            "total_steps": _length("total_steps", args["total_steps"]),
            "power": v.positive_float("power", args["power"]),
            "end_lr": v.nonnegative_float("end_lr", args["end_lr"]),
            "cycle": cycle,
        }

    def _rate(self, step, ops):
        t = self.total_steps
        if self.cycle:
            # 1 - i / D(i) as (D(i) - i) / D(i) from integers, D(i) = m T: with
            # i - 1 = (m - 1) T + r (i >= 1), D(i) - i = T - 1 - r; at i = 0, m = 1
            # and D - i = T.  Float32 `1 - i / D` loses all digits when i ~ D ~ 1e6.
            before = ops.maximum(step, 1) - 1
            q = ops.floor_divide(before, t)
            left = t - (before - q * t) - ops.minimum(step, 1)
            remaining = ops.to_float(left) / (ops.to_float(q + 1) * t)
        else:
            remaining = 1.0 - ops.to_float(ops.minimum(step, t)) / t
        return (self.initial_lr - self.end_lr) * ops.power(remaining, self.power) + self.end_lr

    def get_config(self):
        return {
            "initial_lr": self.initial_lr,
            "total_steps": self.total_steps,
            "power": self.power,
            "end_lr": self.end_lr,
            "cycle": self.cycle,
        }


@_register
class Exponential(Schedule):
    """Exponential decay: lr(i) = initial_lr * gamma^i.

    Wrap in `PerEpoch` for a per-epoch decay.

    Args:
        initial_lr: rate at step 0, > 0.
        gamma: decay per step, in (0, 1].

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Exponential(1.0, gamma=0.5).numpy(4).round(6).tolist()
        [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, initial_lr: float, gamma: float):
        self._store(initial_lr=initial_lr, gamma=gamma)

    @classmethod
    def _check(cls, args):
        return {
            "initial_lr": v.positive_float("initial_lr", args["initial_lr"]),
            "gamma": v.float_in("gamma", args["gamma"], 0.0, 1.0, low_open=True),
        }

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

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Staircase(1.0, 0.5, step_size=2).numpy(5).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25]
        >>> S.Staircase(1.0, 0.1, milestones=[1, 3]).numpy(4).round(6).tolist()
        [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(
        self,
        initial_lr: float,
        decay_factor: float = 0.5,
        step_size: int = 10,
        milestones: Sequence[int] | None = None,
    ):
        self._store(
            initial_lr=initial_lr,
            decay_factor=decay_factor,
            step_size=step_size,
            milestones=milestones,
        )

    @classmethod
    def _check(cls, args):
        milestones = args["milestones"]
        return {
            "initial_lr": v.positive_float("initial_lr", args["initial_lr"]),
            "decay_factor": v.float_in(
                "decay_factor", args["decay_factor"], 0.0, 1.0, low_open=True
            ),
            "step_size": v.positive_int("step_size", args["step_size"]),
            "milestones": (
                None
                if milestones is None
                else v.increasing_ints("milestones", milestones, minimum=1)
            ),
        }

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
