"""The warm-up in front of a scheduling callback's schedule, and the lengths it takes from the fit."""

from __future__ import annotations

from typing import Any

from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr.callbacks import _context, _groups
from keras_lr.callbacks._context import FitContext


class WarmUp:
    """`warmup_steps`, `warmup_start_lr` and `warmup_shape` of `ScheduleCallback`."""

    def _set_warmup(self, steps: Any, start_lr: Any, shape: Any) -> None:
        """Checks and stores the warm-up's arguments."""
        self.warmup_steps = v.steps_or_fraction("warmup_steps", steps)
        self.warmup_start_lr = _groups.per_group("warmup_start_lr", start_lr, v.nonnegative_float)
        self.warmup_shape = v.one_of("warmup_shape", shape, S.RAMP_SHAPES)
        starts = self.warmup_start_lr
        every = starts if _groups.is_per_group(starts) else [starts]
        if self.warmup_shape == "exponential" and self.warmup_steps and 0.0 in every:
            raise ValueError(
                'Argument `warmup_start_lr` must be positive with warmup_shape="exponential" '
                "(a geometric warm-up cannot start at 0; e.g. a hundredth of the peak). "
                f"Received: warmup_start_lr={starts!r}"
            )

    def _warmed(self, schedule: S.Schedule, context: FitContext) -> S.Schedule:
        """`schedule` with the warm-up in front (of the group `as_group` selects)."""
        steps, shape = self.warmup_length(context), self.warmup_shape
        if shape == "exponential" and steps and float(schedule.numpy([0])[0]) == 0.0:
            raise ValueError(
                f'{type(self).__name__}: argument `warmup_shape` cannot be "exponential" '
                "here: the schedule starts at 0, which a geometric warm-up cannot reach. "
                'Use "linear" or "cosine". Received: warmup_shape="exponential"'
            )
        return S.warmup(schedule, steps, self.warmup_start_lr, shape)

    def warmup_length(self, context: FitContext, total: int | None = None) -> int:
        """`warmup_steps` in steps: a fraction is of the fit's steps (or of `total`)."""
        return _context.warmup_steps(type(self).__name__, self.warmup_steps, context, total)

    def _resolved(self, schedule: S.Schedule, context: FitContext) -> S.Schedule:
        """`schedule` with what it leaves to the run taken from the fit's steps after the warm-up."""
        if context.total_steps is None and not schedule.unresolved:
            return schedule
        warmup = self.warmup_length(context)
        name = type(self).__name__
        total = _context.total_steps(name, context, None, "the length of the run", warmup)
        return schedule.resolve(total)

    def _steps_per_epoch(self, context: FitContext, given: int | None) -> int:
        return _context.steps_per_epoch(type(self).__name__, context, given)
