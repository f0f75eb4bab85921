"""What a scheduling callback does to the optimizers' rates over a fit.

`ScheduleDriver` is the Keras side of every scheduling callback: it installs
the callback's schedule (keeping a plateau scale) at train begin, records one
entry per epoch, and gives back a plain float rate at the end, also when a
step raises.  The functions below are its steps, and what
`ReduceLROnPlateau` shares with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Any

import keras

from keras_lr import _compat, _history, _rate
from keras_lr import schedules as S
from keras_lr.callbacks._context import FitContext, fit_context


def apply_saved_scale(model: Any, owner: str) -> None:
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


def taken_rates(model: Any, owner: str) -> tuple[list, list]:
    """Each optimizer's rate source, and its (step, float rate) as found.

    The float rate (None for a schedule) and step are given back if the fit
    ends before a step is trained.
    """
    optimizers = _rate.optimizers_of(model, owner)
    sources = [_rate.rate_source(o) for o in optimizers]
    taken = [
        (_rate.current_step(o), _rate.variable_value(src) if _compat.is_variable(src) else None)
        for o, src in zip(optimizers, sources)
    ]
    return sources, taken


def float_to_constant(model: Any, owner: str) -> None:
    """Swaps a float rate for an equal constant schedule.

    Done before other callbacks (BackupAndRestore) load optimizer variables:
    the variable list must already have the shape it has while the schedule is in.
    """
    for opt in _rate.optimizers_of(model, owner):
        source = _rate.rate_source(opt)
        if _compat.is_variable(source):
            _rate.install(opt, S.Constant(_rate.variable_value(source)))


def install_schedule(model: Any, owner: str, schedule: S.Schedule, sources_before: list) -> None:
    """Installs `schedule` in every optimizer of `model`, under its plateau scale."""
    optimizers = _rate.optimizers_of(model, owner)
    changed = False
    for opt, before in zip(optimizers, sources_before or [None] * len(optimizers)):
        _rate.check_drivable(opt, owner)
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
        _compat.retrace(model)


def release(model: Any, owner: str, driver: Any, taken: list) -> None:
    """Gives every optimizer `driver` drove a plain float rate: the last step's."""
    if model is None or getattr(model, "optimizer", None) is None:
        return
    optimizers = _rate.optimizers_of(model, owner)
    _rate.release(model, optimizers, taken if len(taken) == len(optimizers) else None)
    for opt in optimizers:
        _rate.unclaim(opt, driver)
    _compat.unguard(model, driver)


def warn_about_groups(owner: str, taken: list) -> None:
    """One schedule over sub-optimizers built with different rates."""
    rates = [rate for _, rate in taken if rate is not None]
    if len(rates) > 1 and len(set(rates)) > 1:
        warnings.warn(
            f"{owner} drives the {len(taken)} optimizers of "
            f"this MultiOptimizer with one schedule: their own rates "
            f"({', '.join(f'{r:.3g}' for r in rates)}) and the ratios between them "
            "are overridden, every group trains at the schedule's rate.",
            stacklevel=3,
        )


def warn_if_shorter_than_the_fit(owner: str, schedule: S.Schedule, length: int, context) -> None:
    """The schedule (with warm-up) holds its end rate after `length` steps."""
    if context.total_steps is None:
        return
    end = max(context.total_steps, context.start_step)
    if end > length:
        last = float(schedule.numpy([length])[0])
        warnings.warn(
            f"{owner}'s schedule ends after step {length}, but this "
            f"fit runs to step {end}: its last {end - max(length, context.start_step)} "
            f"steps train at the end rate {last:.3g}. Leave the length to `fit` "
            "(None) or train fewer epochs.",
            stacklevel=3,
        )


class ScheduleDriver(keras.callbacks.Callback):
    """Drives every optimizer of the model with `full_schedule(context)` for a fit.

    A subclass provides `full_schedule(context)` (the schedule with its
    warm-up), `_fixed_length()` (steps after which it holds its end rate, or
    None), `warmup_steps` and `_tabulates`.  The epoch records make
    `history`; `_context` is the fit context of the installed schedule.
    """

    _tabulates = False

    def __init__(self):
        super().__init__()
        self._records: list[_history.EpochRecord] = []
        self._context: FitContext | None = None
        self._sources_before: list = []
        self._taken: list = []
        self._epoch_start: tuple[int, Any] | None = None

    def set_model(self, model):
        super().set_model(model)
        self._sources_before, self._taken = [], []
        if getattr(model, "optimizer", None) is None:
            return
        # A fit that raised outside a training step left its schedule in.
        _compat.release_stale(model)
        name = type(self).__name__
        self._sources_before, self._taken = taken_rates(model, name)
        _rate.attach_training_states(model, name)
        float_to_constant(model, name)

    def on_train_begin(self, logs=None):
        name = type(self).__name__
        try:
            optimizers = _rate.optimizers_of(self.model, name)
            for opt in optimizers:
                _rate.claim(opt, self, self.params)
            warn_about_groups(name, self._taken)
            context = fit_context(self.model, self.params, _rate.current_step(optimizers[0]))
            self._install(context, self._sources_before)
            length = self._fixed_length()
            if length is not None:
                schedule = self.full_schedule(context)
                length += self.warmup_steps
                warn_if_shorter_than_the_fit(name, schedule, length, context)
            _compat.guard(self.model, self, self._release)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters
                self._release()
            raise

    def on_train_end(self, logs=None):
        self._release()

    def _release(self) -> None:
        release(self.model, type(self).__name__, self, self._taken)

    def _install(self, context: FitContext, sources_before: list) -> None:
        self._context = context
        schedule = self.full_schedule(context)
        install_schedule(self.model, type(self).__name__, schedule, sources_before)

    def on_epoch_begin(self, epoch, logs=None):
        if self._tabulates:
            self._extend_table(epoch)
        apply_saved_scale(self.model, type(self).__name__)
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        self._epoch_start = (_rate.current_step(opt), _rate.rate_source(opt))

    def on_epoch_end(self, epoch, logs=None):
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        end = _rate.current_step(opt)
        start, source = self._epoch_start or (end, _rate.rate_source(opt))
        if logs is not None:  # the rate of the epoch's last step
            logs["learning_rate"] = float(S.evaluate(source, [max(end - 1, start)])[0])
        record = _history.EpochRecord(epoch, start, end, source, _history.clean_logs(logs))
        self._records.append(record)
        self._epoch_start = None

    def _extend_table(self, epoch: int) -> None:
        """Extends the table to the end of this fit when it runs past the plan.

        `fit()` called again without `initial_epoch` continues past the epochs
        the table was made for: it is made again to cover them, once.
        """
        context = self._context
        if context is None or context.horizon is None or not context.total_steps:
            return
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        needed = (
            _rate.current_step(optimizers[0]) + (context.epochs - epoch) * context.steps_per_epoch
        )
        if needed > context.horizon:
            sources = [_rate.rate_source(o) for o in optimizers]
            self._install(dataclasses.replace(context, horizon=needed), sources)
