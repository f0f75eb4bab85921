"""Warm-up then decay, as large-model training does: warmup-stable-decay (with a
cool-down started on demand) and the inverse square root."""

from __future__ import annotations

from keras_lr import _rate, _state
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr.callbacks import _context, _groups
from keras_lr.callbacks._base import ScheduleCallback
from keras_lr.callbacks._context import FitContext

__all__ = ["InverseSqrt", "WarmupStableDecay"]


def _check_wsd(values: dict) -> dict:
    """One group's WarmupStableDecay arguments, checked by the schedule (lengths left open)."""
    checked = S.WarmupStableDecay.check_arguments(**dict(values, total_steps=None, warmup_steps=0))
    checked["warmup_steps"] = v.steps_or_fraction("warmup_steps", values["warmup_steps"])
    checked["total_steps"] = v.optional_positive_int("total_steps", values["total_steps"])
    if checked["total_steps"] is not None:  # the stable phase is checked with the lengths
        S.WarmupStableDecay.check_arguments(**values)
    checked.pop("decay_start")
    return checked


def _decay_start(optimizers: list) -> int | None:
    """The step `start_decay()` started the cool-down at, kept in the optimizers' state."""
    starts = [_state.training_state(o).get(_state.DECAY_START) for o in optimizers]
    starts = [int(s) for s in starts if s is not None]
    return min(starts) if starts else None


class WarmupStableDecay(ScheduleCallback):
    """Warmup-stable-decay (WSD): warm up, hold `max_lr`, cool down at the end.

    The schedule of MiniCPM and of Hägele et al. (2024): the rate warms up to
    `max_lr`, stays there for most of the run and decays over the last
    `decay_steps` (by default the last tenth, with the 1-sqrt shape), with
    exactly Hugging Face's `get_wsd_schedule` rates
    (`schedules.WarmupStableDecay`, where the formula is).  The stable phase
    needs no planned end: with data of unknown length, or to decide later,
    call `start_decay()` and the cool-down starts at the next optimizer step.
    That start is kept in the optimizer's state, so it is saved with the
    model and a resumed run (a new callback with the same arguments after
    `keras.saving.load_model` or `BackupAndRestore`) continues the cool-down.

    Args:
        max_lr: the rate of the stable phase, > 0 (one per sub-optimizer as a list).
        warmup_steps: warm-up steps, or a fraction of `total_steps`.
        decay_steps: cool-down steps, or a fraction of `total_steps` (0.1).
        total_steps: the length of the run; None (the default) takes the
            fit's epochs x steps per epoch, or, when the fit's length is
            unknown, holds `max_lr` until `start_decay()`.
        warmup_shape: "linear", "cosine", "1-sqrt" or "exponential".
        decay_shape: "linear", "cosine" or "1-sqrt".
        min_lr: where the warm-up starts and the decay ends, in [0, max_lr].

    Example:
        >>> import keras_lr
        >>> wsd = keras_lr.WarmupStableDecay(1.0, warmup_steps=2, decay_steps=0.25,
        ...                                  decay_shape="linear")
        >>> wsd.rates(8, steps_per_epoch=4, epochs=2).tolist()
        [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]

    References:
        Hägele et al., "Scaling Laws and Compute-Optimal Training Beyond Fixed
        Training Durations", NeurIPS 2024, arXiv:2405.18392; Hu et al.,
        "MiniCPM", arXiv:2404.06395.
    """

    def __init__(
        self,
        max_lr: float,
        warmup_steps: int | float = 0,
        decay_steps: int | float = 0.1,
        total_steps: int | None = None,
        warmup_shape: str = "linear",
        decay_shape: str = "1-sqrt",
        min_lr: float = 0.0,
    ):
        super().__init__()
        values = dict(
            max_lr=max_lr,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            total_steps=total_steps,
            warmup_shape=warmup_shape,
            decay_shape=decay_shape,
            min_lr=min_lr,
        )
        for name, value in _groups.check_each(values, _check_wsd).items():
            setattr(self, name, value)
        _groups.group_count({name: getattr(self, name) for name in self._group_arguments})
        self._decay_requested = False
        self._training = False
        self._installed_start: int | None = None

    def start_decay(self) -> int | None:
        """Starts the cool-down at the next optimizer step; returns that step.

        Call it between fits or from another callback during one (at an epoch
        or batch end).  A decay already under way, or planned earlier, is
        kept.  With `total_steps` None and data of known length, the planned
        cool-down is the end of each fit: to keep the stable phase open, give
        a budget (`total_steps`, or more epochs than you will train).  Before
        the callback has seen a model, the decay starts at the first step of
        its next fit (and None is returned).
        """
        model = self._model
        if model is None or getattr(model, "optimizer", None) is None:
            self._decay_requested = True
            return None
        optimizers = _rate.optimizers_of(model, type(self).__name__)
        step = _rate.fit_step(optimizers)
        started = _decay_start(optimizers)
        if started is None or started > step:
            for opt in optimizers:
                _state.training_state(opt).set(_state.DECAY_START, step)
        if self._training:
            self._install(self._context, [_rate.rate_source(o) for o in optimizers])
            if self._epoch_start is not None:  # the new schedule agrees before `step`
                self._epoch_start = (self._epoch_start[0], *self._sources())
        return step

    def on_train_begin(self, logs=None):
        if self._decay_requested:  # asked before a model: starts at this fit's first step
            self._decay_requested = False
            self.start_decay()
        super().on_train_begin(logs)
        self._training = True

    def _release(self) -> None:
        self._training = False
        super()._release()

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        # A start loaded after train begin (BackupAndRestore listed after this callback).
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        if _decay_start(optimizers) != self._installed_start:
            self._install(self._context, [_rate.rate_source(o) for o in optimizers])

    def _install(self, context, sources_before):
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        self._installed_start = _decay_start(optimizers)
        super()._install(context, sources_before)

    def full_schedule(self, context: FitContext, group: int = 0) -> S.Schedule:
        """The schedule with its warm-up (its own), as installed in the optimizer (of `group`)."""
        with _groups.as_group(self, self._group_arguments, group):
            return self.build(context)

    def build(self, context: FitContext) -> S.Schedule:
        total = self.total_steps if self.total_steps is not None else context.total_steps
        if total is None and isinstance(self.warmup_steps, float):
            _context.warmup_steps(type(self).__name__, self.warmup_steps, context)  # says why
        model = self._model
        start = None
        if model is not None and getattr(model, "optimizer", None) is not None:
            start = _decay_start(_rate.optimizers_of(model, type(self).__name__))
        return S.WarmupStableDecay(
            self.max_lr,
            self.warmup_steps,
            self.decay_steps,
            total,
            self.warmup_shape,
            self.decay_shape,
            self.min_lr,
            decay_start=start,
        )

    def schedule_end(self, context: FitContext) -> int | None:
        return self.total_steps

    def get_config(self) -> dict:
        names = ("max_lr", "warmup_steps", "decay_steps", "total_steps")
        names += ("warmup_shape", "decay_shape", "min_lr")
        return {name: getattr(self, name) for name in names}


class InverseSqrt(ScheduleCallback):
    """Linear warm-up, then the inverse-square-root decay of the Transformer.

    Exactly Hugging Face's `get_inverse_sqrt_schedule` rates
    (`schedules.InverseSqrt`): max_lr * i / W over the warm-up, then
    max_lr / sqrt((i + t - W) / t) with t = `timescale`.  It never ends, so
    it needs no length: the schedule of runs that stop when they stop.

    Args:
        max_lr: the rate at the end of the warm-up, > 0 (one per
            sub-optimizer as a list).
        warmup_steps: W, warm-up steps (an integer >= 0) or a fraction of the
            fit's steps (a float in (0, 1)).
        timescale: t, a positive integer; None takes W, or 10,000 when W = 0.
        warmup_shape: "linear" (Hugging Face's) or "cosine".

    Example:
        >>> import keras_lr
        >>> keras_lr.InverseSqrt(1.0, warmup_steps=2).rates([0, 1, 2, 8]).tolist()
        [0.0, 0.5, 1.0, 0.5]
    """

    def __init__(
        self,
        max_lr: float,
        warmup_steps: int | float,
        timescale: int | None = None,
        *,
        warmup_shape: str = "linear",
    ):
        if warmup_shape == "exponential":
            raise ValueError(
                'Argument `warmup_shape` cannot be "exponential": the inverse-sqrt '
                'warm-up starts at 0. Use "linear" or "cosine". '
                f"Received: warmup_shape={warmup_shape!r}"
            )
        super().__init__(warmup_steps=warmup_steps, warmup_shape=warmup_shape)
        self.max_lr = _groups.per_group("max_lr", max_lr, v.positive_float)
        self.timescale = v.optional_positive_int("timescale", timescale)

    def build(self, context: FitContext) -> S.Schedule:
        warmup = self.warmup_length(context)
        timescale = self.timescale if self.timescale is not None else (warmup or 10_000)
        return S.InverseSqrt(self.max_lr, 0, timescale)

    def get_config(self) -> dict:
        return {
            "max_lr": self.max_lr,
            "warmup_steps": self.warmup_steps,
            "timescale": self.timescale,
            "warmup_shape": self.warmup_shape,
        }
