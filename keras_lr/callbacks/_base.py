"""Scheduling callbacks: thin glue between `keras_lr.schedules` and `fit`.

Each callback builds a schedule (a pure function of the optimizer step) from
its arguments and what `fit` knows (steps per epoch, epochs), installs it in
the optimizer at the start of training, and lets the compiled train step
evaluate it: nothing runs in Python per batch.  The position always comes from
`optimizer.iterations`, so several `fit()` calls, `fit(initial_epoch=k)` after
`keras.saving.load_model`, and `steps_per_execution > 1` continue exactly.
"""

from __future__ import annotations

from typing import ClassVar

from keras_lr import _history
from keras_lr import schedules as S
from keras_lr._deprecation import renamed_attribute
from keras_lr.callbacks import _groups, _spec
from keras_lr.callbacks._context import FitContext, fit_context
from keras_lr.callbacks._driver import ScheduleDriver
from keras_lr.callbacks._per_group import GroupsAndMomentum
from keras_lr.callbacks._spec import ScheduleSpec
from keras_lr.callbacks._warmup import WarmUp

__all__ = ["FitContext", "ScheduleCallback", "fit_context"]


class ScheduleCallback(GroupsAndMomentum, WarmUp, ScheduleDriver):
    """Installs a `keras_lr` schedule in the optimizer for the whole `fit`.

    The base of every scheduling callback, and usable on its own with any
    schedule from `keras_lr.schedules` (a `Join` of pieces, say).  The
    schedule is evaluated inside the compiled train step at the optimizer's
    `iterations`: step i is trained with rate schedule(i), i counted across
    epochs and `fit()` calls.

    At train end (also when a step raises) the optimizer reads a plain float
    rate again, the rate of the last trained step, so it is an ordinary Keras
    optimizer after `fit`.  With `gradient_accumulation_steps=N`, a step is one
    optimizer update and lengths from `fit` are counted in updates.  A new
    callback on a model that already trained starts where the optimizer is:
    its step count decides the position, not the callback.  So several `fit()`
    calls continue the schedule, and so does a resumed run: after
    `keras.saving.load_model` or `keras.callbacks.BackupAndRestore`, a new
    callback with the same arguments and `fit(..., initial_epoch=k)` trains
    step i at schedule(i), as the uninterrupted run would (a
    `ReduceLROnPlateau` scale is restored with the optimizer too).  Each rate
    argument (`base_lr`, `max_lr`, `warmup_start_lr`, ...) and momentum bound
    takes a number, or a list of one per sub-optimizer of a
    `keras.optimizers.MultiOptimizer` (in the order of its `optimizers`); a
    group made by `keras_lr.layer_decay` trains at factor_g * schedule_g(i).

    Args:
        schedule: a `keras_lr.schedules.Schedule`.
        warmup_steps: warm-up steps in front of the schedule (the schedule
            starts after them, from its own step 0), an integer >= 0, or a
            fraction of the fit's steps (a float in (0, 1): ceil(f * epochs x
            steps per epoch)); a cycled momentum holds its first value meanwhile.
        warmup_start_lr: rate at step 0 of the warm-up (> 0 for "exponential").
        warmup_shape: the warm-up's `schedules.Ramp` shape: "linear" (the
            default), "cosine" (fastai's and timm's cosine warm-up) or
            "exponential" (geometric, from `warmup_start_lr`).

    Attributes:
        history: a pandas DataFrame, one row per optimizer step trained with
            this callback: `step`, `epoch`, `lr`, `momentum` (where the
            optimizer has one), `lr/<name>` and `momentum/<name>` per
            sub-optimizer of a MultiOptimizer, and the epoch's logs (loss,
            metrics) on each epoch's last step.

    Example:
        >>> import keras_lr
        >>> sched = keras_lr.schedules.Join(
        ...     [keras_lr.schedules.Constant(0.1), keras_lr.schedules.Constant(0.01)],
        ...     boundaries=[100])
        >>> cb = keras_lr.ScheduleCallback(sched)
        >>> cb.rates([0, 99, 100]).tolist()
        [0.1, 0.1, 0.01]
    """

    # Set by a subclass that builds one schedule class: it then gets its
    # constructor, config and `Args:` from the spec (see `_spec.py`).
    spec: ClassVar[ScheduleSpec | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("spec") is not None:
            _spec.attach(cls.spec, cls)

    def __init__(
        self,
        schedule: S.Schedule | None = None,
        *,
        warmup_steps: int | float = 0,
        warmup_start_lr: float = 0.0,
        warmup_shape: str = "linear",
    ):
        super().__init__()
        if schedule is None and type(self) is ScheduleCallback:
            raise TypeError(
                "Argument `schedule` is required: a keras_lr.schedules.Schedule. "
                "Received: schedule=None"
            )
        if schedule is not None and not isinstance(schedule, S.Schedule):
            raise TypeError(
                "Argument `schedule` must be a keras_lr.schedules.Schedule. "
                f"Received: schedule={schedule!r}"
            )
        self._fixed_schedule = schedule
        self._set_warmup(warmup_steps, warmup_start_lr, warmup_shape)
        if self.spec is None:
            _groups.group_count({"warmup_start_lr": self.warmup_start_lr})

    # -- what subclasses provide ------------------------------------------
    def build(self, context: FitContext) -> S.Schedule:
        """The schedule (without warm-up) for the given fit context."""
        if self.spec is not None:
            return self.spec.build(self, context)
        if self._fixed_schedule is None:
            raise NotImplementedError("Subclasses implement build(context).")
        return self._resolved(self._fixed_schedule, context)

    @classmethod
    def _check_arguments(cls, values: dict) -> dict:
        """A spec'd callback's arguments, checked and normalised."""
        return cls.spec.check(values)

    def _config(self) -> dict:
        if self.spec is not None:
            return {name: getattr(self, name) for name in self.spec.parameters}
        return {"schedule": self._fixed_schedule}

    def _fixed_length(self) -> int | None:
        """Steps after which the schedule holds its end rate, if set by an argument."""
        return None if self.spec is None else self.spec.fixed_length(self)

    def schedule_end(self, context: FitContext) -> int | None:
        """The step from which the full schedule holds its end rate, when an argument sets it."""
        length = self._fixed_length()
        return None if length is None else length + self.warmup_length(context)

    # -- public API ----------------------------------------------------------
    def full_schedule(self, context: FitContext, group: int = 0) -> S.Schedule:
        """The schedule with its warm-up, as installed in the optimizer (of `group`)."""
        with _groups.as_group(self, self._group_arguments, group):
            return self._warmed(self.build(context), context)

    # The word `schedule` is the constructor's argument; the preview is `rates`.
    schedule = renamed_attribute("schedule", "rates")

    @property
    def history(self):
        """pandas DataFrame: step, epoch, lr and the epoch logs, per step."""
        return _history.to_dataframe(self._records)

    def get_config(self) -> dict:
        return dict(
            self._config(),
            warmup_steps=self.warmup_steps,
            warmup_start_lr=self.warmup_start_lr,
            warmup_shape=self.warmup_shape,
        )

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
