"""Scheduling callbacks: thin glue between `keras_lr.schedules` and `fit`.

Each callback builds a schedule (a pure function of the optimizer step) from
its arguments and what `fit` knows (steps per epoch, epochs), installs it in
the optimizer at the start of training, and lets the compiled train step
evaluate it: nothing runs in Python per batch.  The position always comes from
`optimizer.iterations`, so several `fit()` calls, `fit(initial_epoch=k)` after
`keras.saving.load_model`, and `steps_per_execution > 1` continue exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _history, _rate, _state
from keras_lr import _validation as v
from keras_lr import schedules as S

__all__ = [
    "ScheduleCallback",
    "CyclicLR",
    "SGDRScheduler",
    "StepDecay",
    "OneCycleLR",
    "PolynomialDecay",
    "ExponentialDecay",
    "CosineAnnealing",
    "LambdaSchedule",
    "ReduceLROnPlateau",
]


@dataclasses.dataclass(frozen=True)
class FitContext:
    """What a schedule may take from `fit`: all optional outside of `fit`."""

    steps_per_epoch: int | None = None
    epochs: int | None = None
    start_step: int = 0
    horizon: int | None = None  # steps a table-based schedule must cover
    # Why `steps_per_epoch` is None although `fit` knows its batches: the
    # epochs do not hold a whole number of steps as the schedules count them.
    unknown_reason: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        v.optional_positive_int("steps_per_epoch", self.steps_per_epoch)
        v.optional_positive_int("epochs", self.epochs)
        v.nonnegative_int("start_step", self.start_step)
        v.optional_positive_int("horizon", self.horizon)

    @property
    def total_steps(self) -> int | None:
        if self.steps_per_epoch is None or self.epochs is None:
            return None
        return self.steps_per_epoch * self.epochs


def _apply_saved_scale(model, owner: str) -> None:
    """Puts a plateau scale loaded after `on_train_begin` into the installed schedule.

    `BackupAndRestore` listed after the scheduling callback loads the saved
    state once the schedule is already installed; the first epoch begin (and
    any later one) brings the installed `Scaled` in line with it.  Pure Python
    unless a scale really changed.
    """
    changed = False
    for opt in _rate.optimizers_of(model, owner):
        source = _rate.rate_source(opt)
        saved = _rate.saved_scale(opt)
        if isinstance(source, S.Scaled) and saved is not None and saved != source.scale:
            _rate.install(opt, S.Scaled(source.schedule, saved))
            changed = True
    if changed:
        _compat.retrace(model)


class ScheduleCallback(keras.callbacks.Callback):
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
    `ReduceLROnPlateau` scale is restored with the optimizer too).

    Args:
        schedule: a `keras_lr.schedules.Schedule`.
        warmup_steps: linear warm-up steps in front of the schedule (the
            schedule starts after them, from its own step 0).
        warmup_start_lr: rate at step 0 of the warm-up.

    Attributes:
        history: a pandas DataFrame, one row per optimizer step trained with
            this callback: `step`, `epoch`, `lr`, and the epoch's logs
            (loss, metrics) on each epoch's last step.

    Example:
        >>> import keras_lr
        >>> sched = keras_lr.schedules.Join(
        ...     [keras_lr.schedules.Constant(0.1), keras_lr.schedules.Constant(0.01)],
        ...     boundaries=[100])
        >>> cb = keras_lr.ScheduleCallback(sched)
        >>> cb.schedule([0, 99, 100]).tolist()
        [0.1, 0.1, 0.01]
    """

    def __init__(
        self,
        schedule: S.Schedule | None = None,
        *,
        warmup_steps: int = 0,
        warmup_start_lr: float = 0.0,
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
        self.warmup_steps = v.nonnegative_int("warmup_steps", warmup_steps)
        self.warmup_start_lr = v.nonnegative_float("warmup_start_lr", warmup_start_lr)
        self._records: list[_history.EpochRecord] = []
        self._context: FitContext | None = None
        self._sources_before: list = []
        self._taken: list = []
        self._epoch_start: tuple[int, Any] | None = None

    # -- what subclasses provide ------------------------------------------
    def build(self, context: FitContext) -> S.Schedule:
        """The schedule (without warm-up) for the given fit context."""
        if self._fixed_schedule is None:
            raise NotImplementedError("Subclasses implement build(context).")
        return self._fixed_schedule

    def _config(self) -> dict:
        return {"schedule": self._fixed_schedule}

    # -- helpers for subclasses --------------------------------------------
    def _steps_per_epoch(self, context: FitContext, given: int | None) -> int:
        if given is not None:
            return given
        if context.steps_per_epoch is None and context.unknown_reason:
            raise ValueError(f"{type(self).__name__} counts epochs, but {context.unknown_reason}")
        if context.steps_per_epoch is None:
            raise ValueError(
                f"{type(self).__name__} counts epochs but the number of steps per "
                "epoch is unknown: in `fit`, the data has no length; in a preview, "
                "no fit has run yet. Pass `steps_per_epoch=` to the callback, to "
                "`.schedule()` / `plot_schedule()`, or to `fit`."
            )
        return context.steps_per_epoch

    def _total_steps(self, context: FitContext, given: int | None, name: str) -> int:
        """`given`, or all steps of `fit` after the warm-up."""
        if given is not None:
            return given
        if context.total_steps is None and context.unknown_reason:
            raise ValueError(
                f"{type(self).__name__} takes `{name}` from `fit`, but {context.unknown_reason}"
            )
        if context.total_steps is None:
            raise ValueError(
                f"{type(self).__name__} needs `{name}`: pass it; or, for a preview, "
                "pass `steps_per_epoch=` and `epochs=` to `.schedule()` / "
                "`plot_schedule()`; in `fit`, train with data of known length so "
                "that `fit` knows epochs x steps per epoch."
            )
        total = context.total_steps - self.warmup_steps
        if total < 1:
            raise ValueError(
                f"Argument `warmup_steps` leaves no step for the schedule: "
                f"warmup_steps={self.warmup_steps} but fit runs "
                f"{context.total_steps} steps in all."
            )
        return total

    # A schedule tabulated over the steps of the fit (a table of Python
    # values) must reach further when a fit runs past the planned epochs.
    _tabulates = False

    def _horizon(self, context: FitContext, what: str) -> int:
        """The steps a table must cover, or a ValueError saying why they are unknown."""
        horizon = context.horizon or context.total_steps
        if horizon is None:
            why = context.unknown_reason or (
                "the length of the fit is unknown: train with data of known length "
                "or pass `steps_per_epoch` to `fit`."
            )
            raise ValueError(f"{type(self).__name__} {what}, but {why}")
        return horizon

    def _extend_table(self, epoch: int) -> None:
        """Extends the table to the end of this fit when it runs past the plan.

        `fit()` called again without `initial_epoch` continues past the epochs
        the table was made for: it is made again to cover them, once.
        """
        context = self._context
        if context is None or context.horizon is None:
            return
        spe, epochs = context.steps_per_epoch, context.epochs
        if not (spe and epochs):
            return
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        needed = _rate.current_step(optimizers[0]) + (epochs - epoch) * spe
        if needed > context.horizon:
            sources = [_rate.rate_source(o) for o in optimizers]
            self._install(dataclasses.replace(context, horizon=needed), sources)

    # -- public API ----------------------------------------------------------
    def full_schedule(self, context: FitContext) -> S.Schedule:
        """The schedule with its warm-up, as installed in the optimizer."""
        return S.warmup(self.build(context), self.warmup_steps, self.warmup_start_lr)

    def schedule(
        self,
        steps: Any = None,
        *,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
    ) -> np.ndarray:
        """Rates for `steps` without training (previews).

        Args:
            steps: an int N for steps 0..N-1, or an array of steps; None for
                all `epochs * steps_per_epoch` steps.
            steps_per_epoch, epochs: what `fit` would know; default to the
                last `fit` this callback ran in.

        Returns:
            float64 NumPy array of rates, one per step.
        """
        last = self._context or FitContext()
        spe = v.optional_positive_int("steps_per_epoch", steps_per_epoch)
        ep = v.optional_positive_int("epochs", epochs)
        context = FitContext(
            steps_per_epoch=spe if spe is not None else last.steps_per_epoch,
            epochs=ep if ep is not None else last.epochs,
        )
        if steps is None:
            if context.total_steps is None:
                raise ValueError(
                    "Argument `steps` is needed: pass a count or an array of steps, "
                    "or `steps_per_epoch` and `epochs`."
                )
            steps = context.total_steps
        arr = S._as_steps(steps)
        horizon = int(arr.max()) + 1 if arr.size else 1
        context = dataclasses.replace(context, horizon=horizon)
        return self.full_schedule(context).numpy(arr)

    @property
    def history(self):
        """pandas DataFrame: step, epoch, lr and the epoch logs, per step."""
        return _history.to_dataframe(self._records)

    def get_config(self) -> dict:
        config = self._config()
        config.update(warmup_steps=self.warmup_steps, warmup_start_lr=self.warmup_start_lr)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # -- Keras hooks -------------------------------------------------------
    def set_model(self, model):
        super().set_model(model)
        self._taken = []
        if getattr(model, "optimizer", None) is None:
            self._sources_before = []
            return
        # A fit that raised outside a training step left its schedule in.
        _compat.release_stale(model)
        optimizers = _rate.optimizers_of(model, type(self).__name__)
        self._sources_before = [_rate.rate_source(o) for o in optimizers]
        # Each optimizer's step and float rate as found, given back if the fit
        # ends before a step is trained.
        self._taken = [
            (
                _rate.current_step(o),
                _rate.variable_value(src) if _compat.is_variable(src) else None,
            )
            for o, src in zip(optimizers, self._sources_before)
        ]
        _rate.attach_training_states(model, type(self).__name__)
        # Swap a float rate for an equal constant schedule now, before other
        # callbacks (BackupAndRestore) load optimizer variables: the variable
        # list must already have the shape it has while the schedule is in.
        for opt in optimizers:
            source = _rate.rate_source(opt)
            if _compat.is_variable(source):
                _rate.install(opt, S.Constant(_rate.variable_value(source)))

    def on_train_begin(self, logs=None):
        try:
            optimizers = _rate.optimizers_of(self.model, type(self).__name__)
            for opt in optimizers:
                _rate.claim(opt, self, self.params)
            self._warn_about_groups()
            context = fit_context(self.model, self.params, _rate.current_step(optimizers[0]))
            self._install(context, self._sources_before)
            self._warn_if_shorter_than_the_fit(context)
            _compat.guard(self.model, self, self._release)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters
                self._release()
            raise

    def on_train_end(self, logs=None):
        self._release()

    def _release(self) -> None:
        """Gives every driven optimizer a plain float rate: the last step's."""
        model = self.model
        if model is None or getattr(model, "optimizer", None) is None:
            return
        optimizers = _rate.optimizers_of(model, type(self).__name__)
        taken = self._taken if len(self._taken) == len(optimizers) else None
        _rate.release(model, optimizers, taken)
        for opt in optimizers:
            _rate.unclaim(opt, self)
        _compat.unguard(model, self)

    def _warn_about_groups(self) -> None:
        """One schedule over sub-optimizers built with different rates."""
        rates = [rate for _, rate in self._taken if rate is not None]
        if len(rates) > 1 and len(set(rates)) > 1:
            warnings.warn(
                f"{type(self).__name__} drives the {len(self._taken)} optimizers of "
                f"this MultiOptimizer with one schedule: their own rates "
                f"({', '.join(f'{r:.3g}' for r in rates)}) and the ratios between them "
                "are overridden, every group trains at the schedule's rate.",
                stacklevel=3,
            )

    def _fixed_length(self) -> int | None:
        """Steps after which the schedule holds its end rate, if set by an argument."""
        return None

    def _warn_if_shorter_than_the_fit(self, context: FitContext) -> None:
        length = self._fixed_length()
        if length is None or context.total_steps is None:
            return
        length += self.warmup_steps
        end = max(context.total_steps, context.start_step)
        if end > length:
            last = float(self.full_schedule(context).numpy([length])[0])
            warnings.warn(
                f"{type(self).__name__}'s schedule ends after step {length}, but this "
                f"fit runs to step {end}: its last {end - max(length, context.start_step)} "
                f"steps train at the end rate {last:.3g}. Leave the length to `fit` "
                "(None) or train fewer epochs.",
                stacklevel=3,
            )

    def _install(self, context: FitContext, sources_before: list) -> None:
        """Builds the schedule for `context` and installs it in every optimizer."""
        name = type(self).__name__
        optimizers = _rate.optimizers_of(self.model, name)
        self._context = context
        schedule = self.full_schedule(context)
        changed = False
        for opt, before in zip(optimizers, sources_before or [None] * len(optimizers)):
            _rate.check_drivable(opt, name)
            source = _rate.rate_source(opt)
            scale = 1.0
            if isinstance(source, S.Scaled) and isinstance(source.schedule, S.Schedule):
                scale = source.scale  # a plateau reduction from an earlier fit
            saved = _rate.saved_scale(opt)
            if saved is not None:
                scale = saved  # restored with the optimizer (BackupAndRestore)
            new = S.Scaled(schedule, scale)
            _rate.save_scale(opt, scale)
            if new == source:
                new = source
            else:
                _rate.install(opt, new)
            changed = changed or new is not before
        if changed:
            _compat.retrace(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        if self._tabulates:
            self._extend_table(epoch)
        _apply_saved_scale(self.model, type(self).__name__)
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        self._epoch_start = (_rate.current_step(opt), _rate.rate_source(opt))

    def on_epoch_end(self, epoch, logs=None):
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        end = _rate.current_step(opt)
        if self._epoch_start is None:
            start, source = end, _rate.rate_source(opt)
        else:
            start, source = self._epoch_start
        last = max(end - 1, start)
        rate = float(S.evaluate(source, [last])[0])
        if logs is not None:
            logs["learning_rate"] = rate
        self._records.append(
            _history.EpochRecord(epoch, start, end, source, _history.clean_logs(logs))
        )
        self._epoch_start = None


def fit_context(model: Any, params: dict | None, start: int) -> FitContext:
    """What `fit` tells a schedule, counted in optimizer updates.

    Keras's `params["steps"]` counts batches.  With
    `gradient_accumulation_steps=N` an epoch holds steps / N updates, and is
    unknown when N does not divide it (an update would straddle two epochs).
    With `steps_per_execution=K`, Keras runs whole executions: an epoch of
    `steps_per_epoch` batches that K does not divide runs more steps than it
    says on data that does not end there, so it is unknown too.  A callback
    that needs the length of an epoch then refuses before the first step.
    """
    params = params or {}
    batches = params.get("steps")
    epochs = params.get("epochs")
    optimizers = _rate.optimizers_of(model, "fit")
    accumulation = _rate.accumulation_steps(optimizers[0])
    execution = _compat.steps_per_execution(model)
    spe, reason = None, None
    if batches is not None:
        if accumulation > 1 and batches % accumulation:
            reason = (
                f"an epoch of {batches} batches with gradient_accumulation_steps="
                f"{accumulation} ends inside an optimizer update, and keras_lr counts "
                "steps in updates. Train epochs of a multiple of "
                f"{accumulation} batches (`steps_per_epoch=` in `fit`, or the batch "
                "size), or give the callback its lengths in steps."
            )
        elif execution > 1 and batches % execution:
            reason = (
                f"steps_per_epoch={batches} is not a multiple of steps_per_execution="
                f"{execution}: Keras runs whole executions, so an epoch runs "
                f"{-(-batches // execution) * execution} steps whenever the data goes on "
                "past it. Use a steps_per_epoch (or a number of batches) that is a "
                "multiple of steps_per_execution, or compile with a steps_per_execution "
                f"that divides {batches}."
            )
        else:
            spe = batches // accumulation
    horizon = None
    if spe is not None and epochs is not None:
        # The steps of this run: up to the last epoch `fit` plans.
        horizon = spe * epochs if start < spe * epochs else start + spe
    return FitContext(spe, epochs, start, horizon, unknown_reason=reason)


class CyclicLR(ScheduleCallback):
    """Cyclical learning rate (Smith 2017), per optimizer step.

    cycle = floor(1 + i / (2 step_size)), x = |i / step_size - 2 cycle + 1|,
    lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale, with scale 1
    ("triangular"), 1/2^(cycle-1) ("triangular2"), gamma^i ("exp_range") or
    `scale_fn`.  `step_size_down` makes the cycle asymmetric as in PyTorch's
    `CyclicLR` (whose rates this reproduces exactly).

    Args:
        base_lr: lower bound of the cycle.
        max_lr: upper bound of the cycle.
        step_size: steps in the rising half; Smith suggests 2-10 epochs' worth.
        mode: "triangular", "triangular2" or "exp_range".
        gamma: per-step factor for "exp_range", in (0, 1].
        scale_fn: custom scale of one argument (cycle, 1-based, or step with
            `scale_mode="iterations"`).  Written with operators or `keras.ops`
            it runs in the compiled step; written with NumPy (the classic
            `lambda x: 0.5 * (1 + np.sin(x * np.pi / 2.))`) it is evaluated
            ahead of training for every cycle (or step) the fit reaches and
            looked up per step.  A `keras_lr` schedule is evaluated at the
            integer cycle or step.
        scale_mode: "cycle" or "iterations".
        step_size_down: steps in the falling half (default: step_size).
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    Example:
        >>> import keras_lr
        >>> keras_lr.CyclicLR(base_lr=1.0, max_lr=5.0, step_size=4).schedule(9).tolist()
        [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0]

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale_fn = scale_fn
        # A NumPy scale_fn cannot run in the compiled step: build() tabulates it.
        tabulate = scale_fn is not None and S._scale_fn_kind(scale_fn) == "numpy"
        self._numpy_scale_fn = scale_fn if tabulate else None
        self._schedule = S.Cyclic(
            base_lr,
            max_lr,
            step_size,
            mode,
            gamma,
            None if tabulate else scale_fn,
            scale_mode,
            step_size_down,
        )

    def build(self, context):
        if self._numpy_scale_fn is None:
            return self._schedule
        horizon = self._horizon(
            context,
            "tabulates the NumPy `scale_fn` over the steps of the fit (or write "
            "`scale_fn` with operators or `keras.ops`, which needs no table)",
        )
        return self._schedule._tabulated(self._numpy_scale_fn, horizon)

    @property
    def _tabulates(self) -> bool:
        return self._numpy_scale_fn is not None

    def _config(self):
        return dict(self._schedule.get_config(), scale_fn=self.scale_fn)


class SGDRScheduler(ScheduleCallback):
    """Cosine annealing with warm restarts (Loshchilov & Hutter), per step.

    A cycle anneals from its peak to `min_lr` over `cycle_length` epochs with a
    cosine; at each restart the peak is multiplied by `lr_decay` and the next
    cycle lasts ceil(previous * mult_factor) epochs (fractional factors work).

    Args:
        min_lr: rate approached at the end of every cycle.
        max_lr: peak of the first cycle.
        steps_per_epoch: steps per epoch; None takes what `fit` knows.
        lr_decay: factor on the peak at each restart, in (0, 1].
        cycle_length: epochs in the first cycle.
        mult_factor: growth of the cycle length at each restart, >= 1.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    def __init__(
        self,
        min_lr: float,
        max_lr: float,
        steps_per_epoch: int | None = None,
        lr_decay: float = 1.0,
        cycle_length: int = 10,
        mult_factor: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.steps_per_epoch = v.optional_positive_int("steps_per_epoch", steps_per_epoch)
        # Checked now (with one step per epoch) so bad arguments fail early.
        self._check = S.CosineRestarts(min_lr, max_lr, cycle_length, mult_factor, lr_decay)
        self.min_lr, self.max_lr = self._check.min_lr, self._check.max_lr
        self.lr_decay, self.cycle_length = self._check.lr_decay, self._check.cycle_length
        self.mult_factor = self._check.mult_factor

    def build(self, context):
        return S.CosineRestarts(
            self.min_lr,
            self.max_lr,
            self.cycle_length,
            self.mult_factor,
            self.lr_decay,
            steps_per_unit=self._steps_per_epoch(context, self.steps_per_epoch),
        )

    def _config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "lr_decay": self.lr_decay,
            "cycle_length": self.cycle_length,
            "mult_factor": self.mult_factor,
        }


class StepDecay(ScheduleCallback):
    """Step decay per epoch: lr = initial_lr * decay_factor^floor(e / step_size).

    With `milestones=[m1, m2, ...]` the rate is multiplied by `decay_factor` at
    each listed epoch instead.  The epoch e of step i is floor(i / steps per
    epoch), so the rate changes exactly at epoch boundaries.

    Args:
        initial_lr: rate of the first epochs.
        decay_factor: factor at each decay, in (0, 1].
        step_size: epochs between decays (ignored with `milestones`).
        milestones: strictly increasing epochs at which to decay, or None.
        steps_per_epoch: None takes what `fit` knows.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.
    """

    def __init__(
        self,
        initial_lr: float,
        decay_factor: float = 0.5,
        step_size: int = 10,
        milestones: Sequence[int] | None = None,
        steps_per_epoch: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._epochwise = S.Staircase(initial_lr, decay_factor, step_size, milestones)
        self.steps_per_epoch = v.optional_positive_int("steps_per_epoch", steps_per_epoch)

    def build(self, context):
        spe = self._steps_per_epoch(context, self.steps_per_epoch)
        return S.PerEpoch(self._epochwise, spe)

    def _config(self):
        config = self._epochwise.get_config()
        config["steps_per_epoch"] = self.steps_per_epoch
        return config


class OneCycleLR(ScheduleCallback):
    """The 1cycle policy, with exactly PyTorch's `OneCycleLR` rates.

    Rises from max_lr / div_factor to max_lr over pct_start of the steps, then
    anneals to max_lr / (div_factor * final_div_factor) (cosine or linear);
    `three_phase` comes back down to the initial rate before the final anneal.

    Args:
        max_lr: peak rate.
        total_steps: steps of the cycle; None takes epochs x steps from `fit`
            (less `warmup_steps`).
        pct_start, div_factor, final_div_factor, anneal_strategy, three_phase:
            as in PyTorch's `OneCycleLR`.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    References:
        Smith & Topin, "Super-Convergence", arXiv:1708.07120.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.total_steps = v.optional_positive_int("total_steps", total_steps)
        self._args = dict(
            max_lr=max_lr,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal_strategy=anneal_strategy,
            three_phase=three_phase,
        )
        S.OneCycle(total_steps=self.total_steps or 100, **self._args)  # check now

    def build(self, context):
        total = self._total_steps(context, self.total_steps, "total_steps")
        return S.OneCycle(total_steps=total, **self._args)

    def _fixed_length(self):
        return self.total_steps

    def _config(self):
        return dict(self._args, total_steps=self.total_steps)


class PolynomialDecay(ScheduleCallback):
    """Polynomial decay per step to `end_lr` over `max_steps`.

    lr = (initial_lr - end_lr) * (1 - min(i, max_steps) / max_steps)^power + end_lr

    PyTorch's `PolynomialLR` rates when end_lr = 0.

    Args:
        initial_lr: rate at step 0, > 0.
        max_steps: steps to reach `end_lr`; the rate stays there after.
        power: exponent, > 0 (1.0 is linear decay).
        end_lr: final rate, >= 0.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    Example:
        >>> import keras_lr
        >>> keras_lr.PolynomialDecay(1.0, max_steps=4, power=2.0).schedule(5).tolist()
        [1.0, 0.5625, 0.25, 0.0625, 0.0]
    """

    def __init__(
        self,
        initial_lr: float,
        max_steps: int,
        power: float = 1.0,
        end_lr: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._schedule = S.Polynomial(initial_lr, max_steps, power, end_lr)

    def build(self, context):
        return self._schedule

    def _fixed_length(self):
        return self._schedule.max_steps

    def _config(self):
        return self._schedule.get_config()


class ExponentialDecay(ScheduleCallback):
    """Exponential decay per epoch: lr = initial_lr * gamma^e.

    The epoch e of step i is floor(i / steps per epoch): the rate is constant
    within an epoch and drops at its boundary (Keras's `LearningRateScheduler`
    convention).  For a per-step decay use `keras_lr.schedules.Exponential`.

    Args:
        initial_lr: rate of epoch 0, > 0.
        gamma: factor per epoch, in (0, 1].
        steps_per_epoch: None takes what `fit` knows.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    Example:
        >>> import keras_lr
        >>> keras_lr.ExponentialDecay(1.0, 0.5).schedule(6, steps_per_epoch=2).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(
        self,
        initial_lr: float,
        gamma: float,
        steps_per_epoch: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._epochwise = S.Exponential(initial_lr, gamma)
        self.steps_per_epoch = v.optional_positive_int("steps_per_epoch", steps_per_epoch)

    def build(self, context):
        spe = self._steps_per_epoch(context, self.steps_per_epoch)
        return S.PerEpoch(self._epochwise, spe)

    def _config(self):
        return dict(self._epochwise.get_config(), steps_per_epoch=self.steps_per_epoch)


class CosineAnnealing(ScheduleCallback):
    """Cosine annealing per step from `max_lr` to `min_lr`, no restarts.

    lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * min(i, T) / T)) / 2

    Args:
        max_lr: rate at step 0.
        min_lr: final rate.
        total_steps: T; None takes epochs x steps from `fit` (less warm-up).
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.
    """

    def __init__(
        self,
        max_lr: float,
        min_lr: float = 0.0,
        total_steps: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.total_steps = v.optional_positive_int("total_steps", total_steps)
        self._check = S.Cosine(max_lr, min_lr, self.total_steps or 1)
        self.max_lr, self.min_lr = self._check.max_lr, self._check.min_lr

    def build(self, context):
        total = self._total_steps(context, self.total_steps, "total_steps")
        return S.Cosine(self.max_lr, self.min_lr, total)

    def _fixed_length(self):
        return self.total_steps

    def _config(self):
        return {"max_lr": self.max_lr, "min_lr": self.min_lr, "total_steps": self.total_steps}


def _tabulate(fn: Callable, count: int) -> np.ndarray:
    """fn(0), ..., fn(count - 1) as float64; fn only ever receives Python ints."""
    values = np.array([float(fn(k)) for k in range(count)], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise ValueError(
            "Argument `fn` must return finite rates >= 0. "
            f"Received: fn({int(bad[0])})={values[bad[0]]!r}"
        )
    return values


class LambdaSchedule(ScheduleCallback):
    """A custom rule: the rate of step (or epoch) n is `fn(n)`.

    `fn` is any Python function of an int (math, if/else, NumPy).  It is
    evaluated once per step or epoch of the fit before training starts and
    looked up inside the compiled step, so it costs nothing per batch and
    stays exact.  The table covers every step of `fit`; later steps keep the
    last value until the next `fit` extends it.

    Args:
        fn: function of the step (or epoch) returning a rate >= 0.
        unit: "step" or "epoch".
        steps_per_epoch: for `unit="epoch"`; None takes what `fit` knows.
        warmup_steps, warmup_start_lr: see `ScheduleCallback`.

    Example:
        >>> import math, keras_lr
        >>> log_anneal = keras_lr.LambdaSchedule(lambda i: 0.1 / math.log(i + math.e))
        >>> round(float(log_anneal.schedule([0])[0]), 6)
        0.1
    """

    def __init__(
        self,
        fn: Callable[[int], float],
        unit: str = "step",
        steps_per_epoch: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fn = v.callable_("fn", fn)
        self.unit = v.one_of("unit", unit, ("step", "epoch"))
        self.steps_per_epoch = v.optional_positive_int("steps_per_epoch", steps_per_epoch)

    def build(self, context):
        horizon = self._horizon(context, "tabulates every step of the fit")
        if self.unit == "step":
            return S.Table(_tabulate(self.fn, max(horizon, 1)))
        spe = self._steps_per_epoch(context, self.steps_per_epoch)
        return S.PerEpoch(S.Table(_tabulate(self.fn, max(math.ceil(horizon / spe), 1))), spe)

    _tabulates = True

    def _config(self):
        return {"fn": self.fn, "unit": self.unit, "steps_per_epoch": self.steps_per_epoch}


_PLATEAU_MODES = ("auto", "min", "max")


class ReduceLROnPlateau(keras.callbacks.Callback):
    """Reduce the rate when a metric stops improving; composes with schedules.

    Alone, it behaves like Keras's `ReduceLROnPlateau`: with the same
    arguments it reduces a float rate after the same epochs to the same
    rates, and logs the same `learning_rate`.  After `patience` epochs without
    improvement the rate becomes max(rate * factor, min_lr), unless it is
    already at most min_lr (compared in float32); only a reduction starts the
    `cooldown`.  With a `keras_lr` scheduling callback (or any Keras schedule)
    installed, it scales the whole schedule by `factor` instead of overwriting
    it, so the cycle or decay keeps its shape at a lower level; the scale is
    never lowered so far that the current rate falls under `min_lr`.

    Improvement, mode "min" (mirrored for "max"); the first value is always
    one, a NaN never is:

        threshold_mode "abs" (Keras):   float32(current + min_delta) < float32(best)
        threshold_mode "rel" (PyTorch): current < best * (1 - min_delta)

    As in PyTorch, "rel" multiplies a negative best too, which puts the
    threshold above it: there an equal or slightly worse value counts as an
    improvement.

    Mode "auto" reads the direction as Keras's `MonitorCallback` does, at the
    start of training once the model's metrics are known: "min" for `loss`,
    `val_loss` and per-output `*_loss`, else the direction of the compiled
    metric of that name (without "val_"): "max" for `AUC`, `Precision`,
    `Recall`, accuracies, "min" for errors and losses used as metrics.

    Its state (best value, epochs waited, cooldown left, and the scale put on
    a schedule) is kept with the optimizer, not in the callback: later `fit()`
    calls continue it (Keras's callback starts counting afresh at each
    `fit()`), and `model.save_weights` / `BackupAndRestore` save and
    restore it, so a resumed run reduces where the uninterrupted one would.
    `keras.saving.load_model` keeps it too, in a process that imported
    keras_lr.

    Args:
        monitor: the log key to watch.
        factor: multiplier on each reduction, in (0, 1).
        patience: epochs without improvement before a reduction.
        mode: "auto", "min" or "max".
        min_delta: the improvement threshold, >= 0.
        threshold_mode: "abs" (Keras's rule, the default) or "rel"
            (PyTorch's default rule).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the rate, >= 0.
        verbose: 1 prints a line at each reduction.

    Raises:
        ValueError: at the start of training, with mode "auto", when no loss
            or compiled metric named like `monitor` says its direction: pass
            mode="min" or mode="max".

    Example:

        >>> import keras_lr
        >>> cb = keras_lr.ReduceLROnPlateau(monitor="val_auc", factor=0.5, patience=3)
        >>> cb.threshold_mode, cb.min_delta
        ('abs', 0.0001)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        threshold_mode: str = "abs",
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: int = 0,
    ):
        super().__init__()
        if monitor == "":
            raise ValueError("Argument `monitor` must be a non-empty string. Received: monitor=''")
        if not isinstance(monitor, str):
            raise TypeError(
                f"Argument `monitor` must be a non-empty string. Received: monitor={monitor!r}"
            )
        self.monitor = monitor
        self.factor = v.float_in("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = v.nonnegative_int("patience", patience)
        self.mode = v.one_of("mode", mode, _PLATEAU_MODES)
        self.min_delta = v.nonnegative_float("min_delta", min_delta)
        self.threshold_mode = v.one_of("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = v.nonnegative_int("cooldown", cooldown)
        self.min_lr = v.nonnegative_float("min_lr", min_lr)
        self.verbose = v.nonnegative_int("verbose", verbose)
        self._reductions: list[dict] = []
        self._reset()

    def _reset(self):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None
        self._warned = False
        self._maximize: bool | None = None

    def _direction(self) -> bool:
        """True to maximise `monitor`; mode "auto" asks the model's metrics."""
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            return False
        found = None
        for metric_name, direction in _compat.metric_directions(self.model):
            if metric_name == name and direction in ("up", "down"):
                found = direction == "up"
        if found is None:
            raise ValueError(
                f"ReduceLROnPlateau cannot tell whether `monitor` should be minimised or "
                f"maximised: no loss or compiled metric named {name!r} gives a direction. "
                f"Pass mode='min' or mode='max'. Received: monitor={self.monitor!r}, "
                f"mode={self.mode!r}"
            )
        return found

    def _improved(self, current: float) -> bool:
        if self.best is None:
            return True
        if self.threshold_mode == "rel":
            # PyTorch's `ReduceLROnPlateau._is_better`, in float64.
            if self._maximize:
                return current > self.best * (1.0 + self.min_delta)
            return current < self.best * (1.0 - self.min_delta)
        # Keras's `MonitorCallback._is_improvement`: `ops.less(current + min_delta,
        # best)` on Python floats compares in float32.
        with np.errstate(over="ignore", invalid="ignore"):
            if self._maximize:
                return bool(np.float32(current - self.min_delta) > np.float32(self.best))
            return bool(np.float32(current + self.min_delta) < np.float32(self.best))

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @property
    def history(self):
        """pandas DataFrame of reductions: epoch, step, old_lr, new_lr."""
        import pandas as pd

        return pd.DataFrame(self._reductions, columns=["epoch", "step", "old_lr", "new_lr"])

    @property
    def _state_key(self) -> str:
        return "plateau[" + urllib.parse.quote(self.monitor, safe="") + "]"

    def _load_counters(self, state) -> None:
        saved = state.get(self._state_key)
        if saved is None:
            self.wait, self.cooldown_counter, self.best = 0, 0, None
            return
        wait, cooldown, has_best, best = (float(x) for x in saved)
        self.wait, self.cooldown_counter = int(wait), int(cooldown)
        self.best = best if has_best else None

    def _save_counters(self, state) -> None:
        has_best = self.best is not None
        state.set(
            self._state_key,
            [self.wait, self.cooldown_counter, float(has_best), self.best if has_best else 0.0],
        )

    def set_model(self, model):
        super().set_model(model)
        _rate.attach_training_states(model, "ReduceLROnPlateau")

    def on_train_begin(self, logs=None):
        opt = _rate.optimizers_of(self.model, "ReduceLROnPlateau")[0]
        self._warned = False
        # Before the first step, so an unknown direction fails fast; `fit` has
        # built the compiled metrics by now (or left their specs to read).
        self._maximize = self._direction()
        self._load_counters(_state.training_state(opt))

    def on_epoch_begin(self, epoch, logs=None):
        _apply_saved_scale(self.model, "ReduceLROnPlateau")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = _rate.optimizers_of(self.model, "ReduceLROnPlateau")[0]
        state = _state.training_state(opt)
        # Read each epoch: BackupAndRestore may have loaded them after on_train_begin.
        self._load_counters(state)
        # The rate the epoch's last step trained with.
        logs["learning_rate"] = _rate.last_rate(opt)
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                warnings.warn(
                    f"ReduceLROnPlateau: metric `{self.monitor}` is not in the logs "
                    f"(available: {sorted(logs)}); no reduction will happen.",
                    stacklevel=2,
                )
                self._warned = True
        else:
            current = float(np.asarray(current))
            if self._maximize is None:  # hooks called without `on_train_begin`
                self._maximize = self._direction()
            if self.cooldown_counter > 0:
                self.cooldown_counter -= 1
                self.wait = 0
            if self._improved(current):
                self.best = current
                self.wait = 0
            elif self.cooldown_counter <= 0:
                self.wait += 1
                # As in Keras: at min_lr nothing is reduced, so no cooldown
                # starts and the next bad epoch tries again.
                if self.wait >= self.patience and self._reduce(epoch):
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
            self._save_counters(state)

    def _reduce(self, epoch: int) -> bool:
        """Reduces every optimizer's rate above min_lr; True when one was."""
        floor = float(np.float32(self.min_lr))
        retrace, before = False, len(self._reductions)
        for opt in _rate.optimizers_of(self.model, "ReduceLROnPlateau"):
            source = _rate.rate_source(opt)
            step = _rate.current_step(opt)
            old = _rate.rate_at(opt, step)
            if old <= floor:
                continue
            if _compat.is_variable(source):
                new = max(old * self.factor, self.min_lr)
                _rate.install(opt, new)
            elif isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
                base, scale = _rate.split_scale(source)
                base_rate = float(S.evaluate(base, [step])[0])
                new_scale = scale * self.factor
                if base_rate > 0:
                    new_scale = max(new_scale, self.min_lr / base_rate)
                _rate.install(opt, S.Scaled(base, new_scale))
                _rate.save_scale(opt, new_scale)
                new = new_scale * base_rate
                retrace = True
            else:
                raise ValueError(
                    "ReduceLROnPlateau cannot scale an optimizer whose "
                    f"`learning_rate` is a plain callable ({source!r})."
                )
            self._reductions.append({"epoch": epoch, "step": step, "old_lr": old, "new_lr": new})
            if self.verbose:
                print(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                    f"rate from {old:.4g} to {new:.4g}."
                )
        if retrace:
            _compat.retrace(self.model)
        return len(self._reductions) > before
