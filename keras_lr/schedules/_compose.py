"""Schedules built from schedules: one after another, scaled, warmed up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, _deserialize, _register, _serialize
from keras_lr.schedules._decays import Linear


@_register
class Join(Schedule):
    """Schedules run one after another, each counting from its own start.

    With boundaries b1 < b2 < ..., step i < b1 runs schedules[0](i),
    b1 <= i < b2 runs schedules[1](i - b1), and so on (as optax's
    `join_schedules`).

    Args:
        schedules: list of n >= 1 `keras_lr` schedules.
        boundaries: n - 1 strictly increasing positive steps.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Join([S.Constant(1.0), S.Linear(0.0, 1.0, total_steps=2)], [2]).numpy(5).tolist()
        [1.0, 1.0, 0.0, 0.5, 1.0]
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

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Scaled(S.Exponential(1.0, 0.5), scale=0.1).numpy(3).tolist()
        [0.1, 0.05, 0.025]
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
        return self.scale * ops.foreign(self.schedule, step)

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

    Example:
        >>> from keras_lr import schedules as S
        >>> S.warmup(S.Constant(1.0), warmup_steps=4).numpy(6).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
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
