"""What a scheduling callback does per sub-optimizer: its group's values, its momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_lr import _momentum
from keras_lr import schedules as S
from keras_lr.callbacks import _context, _groups
from keras_lr.callbacks._context import FitContext


class GroupsAndMomentum:
    """Per-group schedules and momentum cycling of `ScheduleCallback`.

    Uses the callback's `spec`, `build`, `full_schedule`, `warmup_steps` and
    `_context`; a callback whose spec has `momentum` takes `cycle_momentum`,
    `base_momentum` and `max_momentum`.
    """

    @property
    def _group_arguments(self) -> list[str]:
        """The arguments given one value per sub-optimizer (empty: one for all)."""
        names = sorted(n for n in vars(self) if not n.startswith("_"))
        return _groups.names_per_group(self, [n for n in names if _groups.is_group_argument(n)])

    @property
    def groups(self) -> int | None:
        """Sub-optimizers the per-group arguments are for; None when every value is shared."""
        names = self._group_arguments
        return len(getattr(self, names[0])) if names else None

    def group_schedules(self, context: FitContext, optimizers: list) -> list[S.Schedule]:
        """One full schedule per optimizer, after checking the per-group lengths."""
        names = self._group_arguments
        _groups.check_count(type(self).__name__, self, names, optimizers)
        if not names:
            return [self.full_schedule(context)] * len(optimizers)
        return [self.full_schedule(context, group=g) for g in range(len(optimizers))]

    def cycles_momentum(self, optimizer: Any) -> bool:
        """Whether this callback cycles `optimizer`'s momentum (refusing what it cannot)."""
        cycle = getattr(self, "cycle_momentum", False)
        if cycle is False:
            return False
        why = _momentum.cannot_cycle(optimizer)
        if cycle is None:
            return why is None and _momentum.in_use(optimizer)
        if why is not None:
            raise ValueError(
                f"{type(self).__name__}(cycle_momentum=True) cannot cycle the momentum of "
                f"optimizer {optimizer.name!r}: {why}. Or pass cycle_momentum=False."
            )
        return True

    def momentum_schedule(self, context: FitContext, group: int = 0) -> S.Schedule:
        """The momentum schedule, held at its first value during the warm-up."""
        if self.spec is None or self.spec.momentum is None:
            raise ValueError(f"{type(self).__name__} does not cycle the momentum.")
        with _groups.as_group(self, self._group_arguments, group):
            schedule = S.Momentum(self.build(context), self.base_momentum, self.max_momentum)
        warmup = self.warmup_length(context)
        if not warmup:
            return schedule
        first = S.Constant(float(schedule.numpy([0])[0]))
        return S.Join([first, schedule], [warmup])

    def rates(
        self, steps: Any = None, *, steps_per_epoch: int | None = None, epochs: int | None = None
    ) -> np.ndarray:
        """Rates for `steps` without training (previews).

        Args:
            steps: an int N for steps 0..N-1, or an array of steps; None for
                all `epochs * steps_per_epoch` steps.
            steps_per_epoch, epochs: what `fit` would know; default to the
                last `fit` this callback ran in.

        Returns:
            float64 NumPy array of rates, one per step; with per-group
            arguments, of shape (steps, groups).
        """
        context, arr = _context.preview_context(self._context, steps, steps_per_epoch, epochs)
        return self._per_group(lambda g: self.full_schedule(context, group=g).numpy(arr))

    def momentums(
        self, steps: Any = None, *, steps_per_epoch: int | None = None, epochs: int | None = None
    ) -> np.ndarray:
        """Momentums for `steps` without training, as `rates` previews rates.

        What the callback applies to an optimizer whose momentum it cycles.

        Raises:
            ValueError: the callback does not cycle momentum (`cycle_momentum=False`,
                or a callback without momentum cycling).
        """
        if getattr(self, "cycle_momentum", False) is False:
            raise ValueError(
                f"{type(self).__name__} does not cycle the momentum: pass "
                "cycle_momentum=True (or None) to preview it."
            )
        context, arr = _context.preview_context(self._context, steps, steps_per_epoch, epochs)
        return self._per_group(lambda g: self.momentum_schedule(context, group=g).numpy(arr))

    def _per_group(self, values_of) -> np.ndarray:
        """values_of(0), or one column per group with per-group arguments."""
        if self.groups is None:
            return values_of(0)
        return np.stack([values_of(g) for g in range(self.groups)], axis=-1)
