"""Cycles of a fixed shape: SGDR's warm restarts, the 1cycle policy, FGE's triangle.

(`Cyclic`, whose cycles take a custom scale function, is in `_cyclic.py`.)
"""

from __future__ import annotations

import math

import numpy as np

from keras_lr import _validation as v
from keras_lr._deprecation import keyword_only, renamed
from keras_lr._deprecation import renamed_attribute as _renamed_attribute
from keras_lr.schedules._base import (
    _MAX_STEP,
    Schedule,
    _length,
    _register,
)


def restart_boundaries(cycle_length: int, mult_factor: float, limit: int = _MAX_STEP) -> np.ndarray:
    """Cycle boundaries of SGDR in units: 0, L0, L0 + L1, ...

    L0 = cycle_length and L(k+1) = ceil(L(k) * mult_factor).  Cycle k spans
    [b[k], b[k+1]); the list stops with the first boundary past `limit`.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.restart_boundaries(2, 1.5, limit=20).tolist()
        [0, 2, 5, 10, 18, 30]
    """
    bounds = [0]
    length = cycle_length
    while bounds[-1] <= limit:
        bounds.append(bounds[-1] + length)
        length = max(v.ceil_product(length, mult_factor), length + 1)
    return np.asarray(bounds, dtype=np.int64)


@_register
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR), per step.

    Cycle k lasts L(k) units of `steps_per_unit` steps each, with
    L(0) = `cycle_length` and L(k+1) = ceil(L(k) * mult_factor) (fractional
    factors work).  Inside cycle k, at position p (0 <= p < L(k) steps):

        peak = max_lr * lr_decay^k
        lr = min_lr + (peak - min_lr) * (1 + cos(pi * p / L(k))) / 2

    With `cycle_limit=n` the rate holds `min_lr` from cycle n on (timm's
    `CosineLRScheduler(cycle_limit=n)`).

    The arguments after the two bounds are keyword-only; passing them by
    position (the old order `cycle_length, mult_factor, lr_decay,
    steps_per_unit`) still works, with a `DeprecationWarning`.

    Args:
        min_lr: rate approached at the end of every cycle, >= 0.
        max_lr: peak of the first cycle, >= min_lr.
        cycle_length: length of the first cycle in units, a positive integer.
        mult_factor: growth of cycle length at each restart, >= 1.
        lr_decay: factor on the peak at each restart, in (0, 1].
        steps_per_unit: steps per unit (steps per epoch when cycles count
            epochs), a positive integer.
        cycle_limit: the number of cycles, after which the rate holds `min_lr`
            (timm's `cycle_limit`), a positive integer; None (the default) for
            no limit.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.CosineRestarts(0.0, 1.0, cycle_length=2, mult_factor=2.0).numpy(6).round(3).tolist()
        [1.0, 0.5, 1.0, 0.854, 0.5, 0.146]
        >>> sched = S.CosineRestarts(0.0, 1.0, cycle_length=2, mult_factor=1.0, cycle_limit=2)
        >>> sched.numpy(6).round(3).tolist()
        [1.0, 0.5, 1.0, 0.5, 0.0, 0.0]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    length_arguments = ("cycle_length", "steps_per_unit")

    @keyword_only("cycle_length", ("cycle_length", "mult_factor", "lr_decay", "steps_per_unit"))
    def __init__(
        self,
        min_lr: float,
        max_lr: float,
        *,
        cycle_length: int = 10,
        mult_factor: float = 2.0,
        lr_decay: float = 1.0,
        steps_per_unit: int = 1,
        cycle_limit: int | None = None,
    ):
        self._store(
            min_lr=min_lr,
            max_lr=max_lr,
            cycle_length=cycle_length,
            mult_factor=mult_factor,
            lr_decay=lr_decay,
            steps_per_unit=steps_per_unit,
            cycle_limit=cycle_limit,
        )
        if self.mult_factor != 1.0:
            units = restart_boundaries(
                self.cycle_length, self.mult_factor, _MAX_STEP // self.steps_per_unit
            )
            self._bounds = np.minimum(units * self.steps_per_unit, _MAX_STEP)

    @classmethod
    def _check(cls, args):
        min_lr, max_lr = args["min_lr"], args["max_lr"]
        mult_factor = args["mult_factor"]
        out = {
            "min_lr": v.nonnegative_float("min_lr", min_lr),
            "max_lr": v.positive_float("max_lr", max_lr),
        }
        v.at_most("min_lr", min_lr, "max_lr", max_lr)
        out["cycle_length"] = _length("cycle_length", args["cycle_length"])
        out["mult_factor"] = v.real("mult_factor", mult_factor)
        if out["mult_factor"] < 1.0:
            raise ValueError(
                f"Argument `mult_factor` must be >= 1. Received: mult_factor={mult_factor!r}"
            )
        out["lr_decay"] = v.float_in("lr_decay", args["lr_decay"], 0.0, 1.0, low_open=True)
        out["steps_per_unit"] = _length("steps_per_unit", args["steps_per_unit"])
        out["cycle_limit"] = v.optional_positive_int("cycle_limit", args["cycle_limit"])
        cycle_length, steps_per_unit = out["cycle_length"], out["steps_per_unit"]
        if None not in (cycle_length, steps_per_unit) and cycle_length * steps_per_unit > _MAX_STEP:
            raise ValueError(
                "Argument `cycle_length` times `steps_per_unit` (the first cycle in "
                f"steps) must be at most {v.STEP_LIMIT}. Received: "
                f"cycle_length={args['cycle_length']!r}, "
                f"steps_per_unit={args['steps_per_unit']!r}"
            )
        return out

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
        lr = self.min_lr + 0.5 * (peak - self.min_lr) * (1.0 + ops.cos(math.pi * frac))
        if self.cycle_limit is None:
            return lr
        return ops.where(k < self.cycle_limit, lr, self.min_lr)

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "cycle_length": self.cycle_length,
            "mult_factor": self.mult_factor,
            "lr_decay": self.lr_decay,
            "steps_per_unit": self.steps_per_unit,
            "cycle_limit": self.cycle_limit,
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

    Example:
        >>> from keras_lr import schedules as S
        >>> sched = S.OneCycle(1.0, total_steps=5, pct_start=0.4, div_factor=4,
        ...                    final_div_factor=10, anneal_strategy="linear")
        >>> sched.numpy(5).round(4).tolist()
        [0.25, 1.0, 0.675, 0.35, 0.025]

    References:
        Smith & Topin, "Super-Convergence", arXiv:1708.07120; Smith,
        "A disciplined approach to neural network hyper-parameters",
        arXiv:1803.09820.
    """

    length_arguments = ("total_steps",)

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
        self._store(
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal_strategy=anneal_strategy,
            three_phase=three_phase,
        )

    @classmethod
    def _check(cls, args):
        three_phase = args["three_phase"]
        out = {
            "max_lr": v.positive_float("max_lr", args["max_lr"]),
            "total_steps": _length("total_steps", args["total_steps"]),
        }
        if not isinstance(three_phase, bool):
            raise TypeError(
                f"Argument `three_phase` must be a bool. Received: three_phase={three_phase!r}"
            )
        out["pct_start"] = v.float_in(
            "pct_start",
            args["pct_start"],
            0.0,
            0.5 if three_phase else 1.0,
            low_open=True,
            high_open=True,
        )
        out["div_factor"] = v.positive_float("div_factor", args["div_factor"])
        out["final_div_factor"] = v.positive_float("final_div_factor", args["final_div_factor"])
        out["anneal_strategy"] = v.one_of("anneal_strategy", args["anneal_strategy"], _ANNEAL)
        out["three_phase"] = three_phase
        return out

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
        return self._phased(self.phases(), step, ops)

    def _momentum(self, base_momentum, max_momentum, step, ops):
        return self._phased(momentum_phases(self, base_momentum, max_momentum), step, ops)

    def _phased(self, phases, step, ops):
        i = ops.to_float(ops.minimum(step, self.total_steps - 1))
        start_step = 0.0
        values = []
        for end_step, lo, hi in phases:
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


def momentum_phases(schedule: OneCycle, base_momentum: float, max_momentum: float) -> list:
    """(end_step, start, end) of the momentum in each phase, as PyTorch builds them.

    The momentum falls from `max_momentum` to `base_momentum` while the rate
    rises and comes back while it falls; the three-phase variant holds
    `max_momentum` in its last phase.
    """
    ends = [end for end, _, _ in schedule.phases()]
    values = [(max_momentum, base_momentum), (base_momentum, max_momentum)]
    if schedule.three_phase:
        values.append((max_momentum, max_momentum))
    return [(end, lo, hi) for end, (lo, hi) in zip(ends, values)]


@_register
class GeometricCycle(Schedule):
    """Fast Geometric Ensembling's triangular cycle (Garipov et al. 2018).

    With c = `cycle_steps` and t = (mod(i, c) + 1) / c (the paper's 1-based
    iteration i + 1):

        lr = (1 - 2t) * max_lr + 2t * min_lr          for t <= 1/2
        lr = (2 - 2t) * min_lr + (2t - 1) * max_lr    for t > 1/2

    The rate falls from max_lr to min_lr at the cycle's middle step (where a
    model is collected) and climbs back.

    Args:
        max_lr: the rate at the cycle's ends, >= min_lr (the old name
            `lr_high` still works, with a `DeprecationWarning`).
        min_lr: the rate at the cycle's middle, > 0 (old name: `lr_low`).
        cycle_steps: c, an even integer >= 2.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.GeometricCycle(1.0, 0.2, cycle_steps=4).numpy(5).round(4).tolist()
        [0.6, 0.2, 0.6, 1.0, 0.6]

    References:
        Garipov et al., "Loss Surfaces, Mode Connectivity, and Fast Ensembling
        of DNNs", NeurIPS 2018, arXiv:1802.10026.
    """

    lr_high = _renamed_attribute("lr_high", "max_lr")
    lr_low = _renamed_attribute("lr_low", "min_lr")

    @renamed(lr_high="max_lr", lr_low="min_lr")
    def __init__(self, max_lr: float, min_lr: float, cycle_steps: int):
        self._store(max_lr=max_lr, min_lr=min_lr, cycle_steps=cycle_steps)

    @classmethod
    def _check(cls, args):
        max_lr, min_lr, cycle_steps = args["max_lr"], args["min_lr"], args["cycle_steps"]
        out = {
            "max_lr": v.positive_float("max_lr", max_lr),
            "min_lr": v.positive_float("min_lr", min_lr),
        }
        v.at_most("min_lr", min_lr, "max_lr", max_lr)
        out["cycle_steps"] = v.positive_int("cycle_steps", cycle_steps)
        if out["cycle_steps"] < 2 or out["cycle_steps"] % 2:
            raise ValueError(
                "Argument `cycle_steps` must be an even integer >= 2. "
                f"Received: cycle_steps={cycle_steps!r}"
            )
        return out

    def _rate(self, step, ops):
        c = self.cycle_steps
        pos = step - ops.floor_divide(step, c) * c
        t = ops.to_float(pos + 1) / c
        falling = (1.0 - 2.0 * t) * self.max_lr + 2.0 * t * self.min_lr
        rising = (2.0 - 2.0 * t) * self.min_lr + (2.0 * t - 1.0) * self.max_lr
        return ops.where(t <= 0.5, falling, rising)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "min_lr": self.min_lr,
            "cycle_steps": self.cycle_steps,
        }
