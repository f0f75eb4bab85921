"""Schedules built from schedules: one after another, multiplied, scaled, warmed up,
and the ramp that warms them up."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, _deserialize, _length, _register, _serialize
from keras_lr.schedules._decays import Linear

# The shapes of a ramp (a warm-up, SWA's anneal), as the anchors name them.
RAMP_SHAPES = ("linear", "cosine", "exponential")


def _rate_of(schedule: Any, step, ops):
    """The rate of a keras_lr schedule, or of another Keras `LearningRateSchedule`."""
    if isinstance(schedule, Schedule):
        return schedule._rate(step, ops)
    return ops.foreign(schedule, step)


def _learning_rate_schedule(name: str, value: Any) -> Any:
    if not isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        raise TypeError(
            f"Argument `{name}` must be a LearningRateSchedule. Received: {name}={value!r}"
        )
    return value


@_register
class Ramp(Schedule):
    """A ramp from `start_lr` to `end_lr` over `total_steps`, then `end_lr`.

    With p = min(i, T) / T and T = `total_steps`:

        "linear":       lr = start_lr + (end_lr - start_lr) * p
        "cosine":       lr = start_lr + (end_lr - start_lr) * (1 - cos(pi p)) / 2
        "exponential":  lr = start_lr * (end_lr / start_lr)^p   (both > 0)

    It goes either way (up for a warm-up, down or up for SWA's anneal);
    "linear" is `Linear`, "cosine" is fastai's `SchedCos` and PyTorch
    `SWALR`'s "cos", "exponential" fastai's `SchedExp`.

    Args:
        start_lr: rate at step 0, >= 0 (> 0 for "exponential").
        end_lr: rate from step T on, >= 0 (> 0 for "exponential").
        total_steps: T, a positive integer.
        shape: "linear", "cosine" or "exponential".

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Ramp(0.0, 1.0, total_steps=4, shape="cosine").numpy(5).round(4).tolist()
        [0.0, 0.1464, 0.5, 0.8536, 1.0]
        >>> S.Ramp(0.01, 1.0, total_steps=2, shape="exponential").numpy(3).round(4).tolist()
        [0.01, 0.1, 1.0]
    """

    length_arguments = ("total_steps",)

    def __init__(self, start_lr: float, end_lr: float, total_steps: int, shape: str = "linear"):
        self._store(start_lr=start_lr, end_lr=end_lr, total_steps=total_steps, shape=shape)

    @classmethod
    def _check(cls, args):
        out = {
            "start_lr": v.nonnegative_float("start_lr", args["start_lr"]),
            "end_lr": v.nonnegative_float("end_lr", args["end_lr"]),
            "total_steps": _length("total_steps", args["total_steps"]),
            "shape": v.one_of("shape", args["shape"], RAMP_SHAPES),
        }
        if out["shape"] == "exponential":
            for name in ("start_lr", "end_lr"):
                if out[name] == 0.0:
                    raise ValueError(
                        f"Argument `{name}` must be positive for an exponential ramp "
                        f"(a geometric ramp cannot start or end at 0). Received: "
                        f"{name}={args[name]!r}"
                    )
        return out

    def _rate(self, step, ops):
        p = ops.to_float(ops.minimum(step, self.total_steps)) / self.total_steps
        if self.shape == "exponential":
            return self.start_lr * ops.exp(math.log(self.end_lr / self.start_lr) * p)
        if self.shape == "cosine":
            p = 0.5 * (1.0 - ops.cos(math.pi * p))
        return self.start_lr + (self.end_lr - self.start_lr) * p

    def get_config(self):
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "total_steps": self.total_steps,
            "shape": self.shape,
        }


def _boundaries(values: list) -> list:
    """Join's boundaries: all steps (increasing ints >= 1) or all fractions in (0, 1)."""
    if not values or not any(v.is_fraction(b) for b in values):
        whole = all(
            isinstance(b, bool) or not isinstance(b, float) or b.is_integer() for b in values
        )
        if not whole:
            raise ValueError(
                "Argument `boundaries` must be steps (integers >= 1) or fractions of the "
                f"run in (0, 1). Received: boundaries={values!r}"
            )
        return v.increasing_ints("boundaries", values, minimum=1) if values else []
    fractions = [float(b) for b in values if v.is_fraction(b)]
    if len(fractions) != len(values) or any(b <= a for a, b in zip(fractions, fractions[1:])):
        raise ValueError(
            "Argument `boundaries` must be strictly increasing steps (integers >= 1) or "
            "strictly increasing fractions of the run in (0, 1), not a mix. "
            f"Received: boundaries={values!r}"
        )
    return fractions


@_register
class Join(Schedule):
    """Schedules run one after another, each counting from its own start.

    With boundaries b1 < b2 < ..., step i < b1 runs schedules[0](i),
    b1 <= i < b2 runs schedules[1](i - b1), and so on (as optax's
    `join_schedules`).  Boundaries may instead be fractions of the run
    (fastai's `combine_scheds(pcts, ...)`): `resolve(T)` puts boundary f at
    step ceil(f * T), and a scheduling callback resolves them from the fit.
    Each piece keeps its own lengths; one that leaves its length to the run
    (`resolve`) gets its segment's.

    Args:
        schedules: list of n >= 1 `keras_lr` schedules.
        boundaries: n - 1 strictly increasing positive steps, or n - 1
            strictly increasing fractions of the run in (0, 1).

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Join([S.Constant(1.0), S.Linear(0.0, 1.0, total_steps=2)], [2]).numpy(5).tolist()
        [1.0, 1.0, 0.0, 0.5, 1.0]
        >>> S.Join([S.Constant(1.0), S.Constant(0.5)], [0.25]).resolve(8).boundaries
        [2]
    """

    def __init__(self, schedules: Sequence[Schedule], boundaries: Sequence[int | float]):
        schedules = v.as_list("schedules", schedules, "a non-empty list of keras_lr schedules")
        if not schedules:
            raise ValueError("Argument `schedules` must not be empty. Received: schedules=[]")
        if not all(isinstance(s, Schedule) for s in schedules):
            raise TypeError(
                "Argument `schedules` must be a non-empty list of keras_lr "
                f"schedules. Received: schedules={schedules!r}"
            )
        boundaries = v.as_list("boundaries", boundaries, "a list of integers or fractions")
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "Argument `boundaries` must have one entry fewer than `schedules`. "
                f"Received: boundaries={boundaries!r} for {len(schedules)} schedules"
            )
        self.schedules = schedules
        self.boundaries = _boundaries(boundaries)

    @property
    def fractional(self) -> bool:
        """Whether the boundaries are fractions of the run."""
        return any(isinstance(b, float) for b in self.boundaries)

    @property
    def unresolved(self) -> bool:
        return self.fractional or any(s.unresolved for s in self.schedules)

    def resolve(self, total_steps: int) -> Join:
        total = v.positive_int("total_steps", total_steps)
        steps = [v.of_run(b, total) for b in self.boundaries]
        if self.fractional and (steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:]))):
            raise ValueError(
                f"Argument `boundaries` puts two pieces at the same step of a run of {total} "
                f"steps (at steps {steps}): give fewer pieces or a longer run. Received: "
                f"boundaries={self.boundaries!r}, total_steps={total}"
            )
        ends = steps + [max(total, steps[-1] + 1) if steps else total]
        starts = [0] + steps
        pieces = [s.resolve(max(e - b, 1)) for s, b, e in zip(self.schedules, starts, ends)]
        if steps == self.boundaries and all(p is s for p, s in zip(pieces, self.schedules)):
            return self
        return Join(pieces, steps)

    def _rate(self, step, ops):
        if self.fractional:
            raise ValueError(
                f"This Join's boundaries {self.boundaries} are fractions of the run: "
                "call `.resolve(total_steps)` first, or give it to "
                "`keras_lr.ScheduleCallback`, which resolves them from the fit."
            )
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
class Product(Schedule):
    """Two schedules multiplied: lr(i) = a(i) * b(i).

    PyTorch's `ChainedScheduler` of multiplicative schedulers; `a * b` of two
    schedules builds it.  Typically one is a rate and the other a factor
    (a `Ramp` from 0 to 1 as a warm-up, a `Staircase` of factors).

    Args:
        a, b: `keras_lr` schedules, or other serializable Keras
            `LearningRateSchedule`s.

    Example:
        >>> from keras_lr import schedules as S
        >>> (S.Cosine(1.0, 0.0, total_steps=4) * S.Ramp(0.0, 1.0, total_steps=2)).numpy(5).round(4).tolist()
        [0.0, 0.4268, 0.5, 0.1464, 0.0]
    """

    def __init__(self, a: Any, b: Any):
        self.a = _learning_rate_schedule("a", a)
        self.b = _learning_rate_schedule("b", b)

    @property
    def unresolved(self) -> bool:
        return any(isinstance(s, Schedule) and s.unresolved for s in (self.a, self.b))

    def resolve(self, total_steps: int) -> Product:
        a, b = (s.resolve(total_steps) if isinstance(s, Schedule) else s for s in (self.a, self.b))
        return self if (a is self.a and b is self.b) else Product(a, b)

    def _rate(self, step, ops):
        return _rate_of(self.a, step, ops) * _rate_of(self.b, step, ops)

    def get_config(self):
        return {"a": _serialize(self.a), "b": _serialize(self.b)}

    @classmethod
    def from_config(cls, config):
        return cls(_deserialize(config["a"]), _deserialize(config["b"]))


@_register
class Scaled(Schedule):
    """A schedule times a constant: lr(i) = scale * schedule(i).

    `keras_lr.ReduceLROnPlateau` scales the active schedule this way instead
    of overwriting it; `schedule * 0.5` builds it too.

    Args:
        schedule: any `keras_lr` schedule, or another serializable Keras
            `LearningRateSchedule`.
        scale: the factor, > 0.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Scaled(S.Exponential(1.0, 0.5), scale=0.1).numpy(3).tolist()
        [0.1, 0.05, 0.025]
    """

    def __init__(self, schedule: Any, scale: float = 1.0):
        self.schedule = _learning_rate_schedule("schedule", schedule)
        self.scale = v.positive_float("scale", scale)

    @property
    def unresolved(self) -> bool:
        return isinstance(self.schedule, Schedule) and self.schedule.unresolved

    def resolve(self, total_steps: int) -> Scaled:
        if not isinstance(self.schedule, Schedule):
            return self
        inner = self.schedule.resolve(total_steps)
        return self if inner is self.schedule else Scaled(inner, self.scale)

    def _rate(self, step, ops):
        return self.scale * _rate_of(self.schedule, step, ops)

    def get_config(self):
        return {"schedule": _serialize(self.schedule), "scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(_deserialize(config["schedule"]), config["scale"])


def warmup(
    schedule: Schedule, warmup_steps: int, start_lr: float = 0.0, shape: str = "linear"
) -> Schedule:
    """A warm-up in front of `schedule`.

    Steps 0..warmup_steps-1 ramp from `start_lr` towards the schedule's first
    rate (`Ramp` of the given shape: linear, lr(i) = start_lr + (schedule(0) -
    start_lr) * i / W, cosine or exponential); from step W on, the schedule
    runs from its own step 0 (it is shifted by W).

    Args:
        schedule: the `keras_lr` schedule to warm up into.
        warmup_steps: W, a non-negative integer (0 returns `schedule`).
        start_lr: rate at step 0, >= 0 (> 0 for an exponential warm-up).
        shape: "linear", "cosine" or "exponential".

    Returns:
        A `Join` of a `Ramp` and `schedule`, or `schedule` when W = 0.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.warmup(S.Constant(1.0), warmup_steps=4).numpy(6).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
        >>> S.warmup(S.Constant(1.0), warmup_steps=4, shape="cosine").numpy(5).round(4).tolist()
        [0.0, 0.1464, 0.5, 0.8536, 1.0]
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"Argument `schedule` must be a keras_lr schedule. Received: schedule={schedule!r}"
        )
    warmup_steps = v.nonnegative_int("warmup_steps", warmup_steps)
    start_lr = v.nonnegative_float("start_lr", start_lr)
    shape = v.one_of("shape", shape, RAMP_SHAPES)
    if shape == "exponential" and start_lr == 0.0 and warmup_steps:
        raise ValueError(
            "Argument `start_lr` must be positive for an exponential warm-up (a "
            "geometric ramp cannot start at 0; e.g. a hundredth of the peak). "
            f"Received: start_lr={start_lr!r}"
        )
    if warmup_steps == 0:
        return schedule
    target = float(schedule.numpy([0])[0])
    if shape == "exponential" and target == 0.0:
        raise ValueError(
            'Argument `shape` cannot be "exponential" here: the schedule starts at 0, '
            'which a geometric warm-up cannot reach. Use "linear" or "cosine". '
            f"Received: shape={shape!r}"
        )
    if shape == "linear":  # as before: the warm-up piece is a `Linear`
        return Join([Linear(start_lr, target, warmup_steps), schedule], [warmup_steps])
    return Join([Ramp(start_lr, target, warmup_steps, shape), schedule], [warmup_steps])
