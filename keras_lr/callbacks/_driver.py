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

from keras_lr import _compat, _history, _momentum, _rate
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


def install_schedule(model: Any, owner: str, schedules: list, sources_before: list) -> bool:
    """Installs `schedules[g]` in optimizer g of `model`, under its factor and plateau scale.

    The factor is the optimizer's fixed `rate_factor` (`keras_lr.layer_decay`).
    Returns whether a source changed (the train function must then be rebuilt).
    """
    optimizers = _rate.optimizers_of(model, owner)
    changed = False
    for opt, schedule, before in zip(
        optimizers, schedules, sources_before or [None] * len(optimizers)
    ):
        _rate.check_drivable(opt, owner)
        factor = _rate.rate_factor(opt)
        if factor != 1.0:
            schedule = S.Scaled(schedule, factor)
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
    return changed


def install_momentum(model: Any, owner: str, schedules: list) -> bool:
    """Cycles optimizer g's momentum with `schedules[g]` (None: leaves it alone).

    Returns whether one changed (the train function must then be rebuilt).
    """
    changed = False
    for opt, schedule in zip(_rate.optimizers_of(model, owner), schedules):
        if schedule is None or _momentum.source(opt) == schedule:
            continue
        _momentum.install(opt, schedule)
        changed = True
    return changed


def release(model: Any, owner: str, driver: Any, taken: list, momentums: list = ()) -> None:
    """Gives every optimizer `driver` drove a plain float rate and momentum: the last step's.

    `momentums[i]` is (step, float momentum) of optimizer i as taken over.
    """
    if model is None or getattr(model, "optimizer", None) is None:
        return
    optimizers = _rate.optimizers_of(model, owner)
    rebuilt = _rate.release(model, optimizers, taken if len(taken) == len(optimizers) else None)
    released = False
    for i, opt in enumerate(optimizers):
        if not _momentum.is_cycled(opt):
            continue
        step = _rate.current_step(opt)
        before = momentums[i] if len(momentums) == len(optimizers) else None
        untrained = before is not None and before[0] == step and isinstance(before[1], float)
        value = before[1] if untrained else None
        _momentum.release(opt, step, value)
        released = True
    if released and not rebuilt:  # a rebuilt train function traces at its first call
        _compat.retrace(model)
    for opt in optimizers:
        _rate.unclaim(opt, driver)
    _compat.unguard(model, driver)


def warn_about_groups(owner: str, taken: list, optimizers: list, per_group: bool) -> None:
    """One schedule over sub-optimizers built with different rates."""
    if per_group or any(_rate.rate_factor(opt) != 1.0 for opt in optimizers):
        return  # one value per group given, or the factors of `layer_decay`
    rates = [rate for _, rate in taken if rate is not None]
    if len(rates) > 1 and len(set(rates)) > 1:
        warnings.warn(
            f"{owner} drives the {len(taken)} optimizers of "
            f"this MultiOptimizer with one schedule: their own rates "
            f"({', '.join(f'{r:.3g}' for r in rates)}) and the ratios between them "
            "are overridden, every group trains at the schedule's rate. Give the "
            "rate arguments one value per sub-optimizer (a list) to keep them apart.",
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
    warm-up), `schedule_end(context)` (the step from which it holds its end
    rate, or None) and `_tabulates`; for per-group rates and momentum
    cycling `group_schedules`, `cycles_momentum` and `momentum_schedule`.
    The epoch records make `history`; `_context` is the fit context of the
    installed schedule.
    """

    _tabulates = False

    def __init__(self):
        super().__init__()
        self._records: list[_history.EpochRecord] = []
        self._context: FitContext | None = None
        self._sources_before: list = []
        self._taken: list = []
        self._momentums_taken: list = []
        self._epoch_start: tuple[int, Any, Any] | None = None

    def set_model(self, model):
        super().set_model(model)
        self._sources_before, self._taken, self._momentums_taken = [], [], []
        if getattr(model, "optimizer", None) is None:
            return
        # A fit that raised outside a training step left its schedule in.
        _compat.release_stale(model)
        name = type(self).__name__
        self._sources_before, self._taken = taken_rates(model, name)
        self._momentums_taken = [
            (step, _momentum.source(opt))
            for (step, _), opt in zip(self._taken, _rate.optimizers_of(model, name))
        ]
        _rate.attach_training_states(model, name)
        float_to_constant(model, name)

    def on_train_begin(self, logs=None):
        name = type(self).__name__
        try:
            optimizers = _rate.optimizers_of(self.model, name)
            for opt in optimizers:
                _rate.claim(opt, self, self.params)
            warn_about_groups(name, self._taken, optimizers, self.groups is not None)
            context = fit_context(self.model, self.params, _rate.fit_step(optimizers))
            self._install(context, self._sources_before)
            length = self.schedule_end(context)
            if length is not None:
                warn_if_shorter_than_the_fit(name, self.full_schedule(context), length, context)
            _compat.guard(self.model, self, self._release)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters
                self._release()
            raise

    def on_train_end(self, logs=None):
        self._release()

    def _release(self) -> None:
        release(self.model, type(self).__name__, self, self._taken, self._momentums_taken)

    def _install(self, context: FitContext, sources_before: list) -> None:
        name = type(self).__name__
        optimizers = _rate.optimizers_of(self.model, name)
        cycled = [self.cycles_momentum(opt) for opt in optimizers]  # refuses before any change
        schedules = self.group_schedules(context, optimizers)
        self._context = context
        changed = install_schedule(self.model, name, schedules, sources_before)
        momentum = [
            self.momentum_schedule(context, g if self.groups is not None else 0) if c else None
            for g, c in enumerate(cycled)
        ]
        if install_momentum(self.model, name, momentum) or changed:
            _compat.retrace(self.model)  # once: it traces at its first call

    def on_epoch_begin(self, epoch, logs=None):
        if self._tabulates:
            self._extend_table(epoch)
        apply_saved_scale(self.model, type(self).__name__)
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        self._epoch_start = (_rate.fit_step(optimizers), *self._sources())

    def _sources(self) -> tuple:
        """(rate source, momentum source) of each optimizer, as tuples."""
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        return (
            tuple(_rate.rate_source(o) for o in optimizers),
            tuple(_momentum.source(o) for o in optimizers),
        )

    def on_epoch_end(self, epoch, logs=None):
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        end = _rate.fit_step(optimizers)
        start, rates, momentums = self._epoch_start or (end, *self._sources())
        if logs is not None:  # the rate of the epoch's last step
            logs["learning_rate"] = float(S.evaluate(rates[0], [max(end - 1, start)])[0])
        record = _history.EpochRecord(
            epoch,
            start,
            end,
            rates[0],
            _history.clean_logs(logs),
            momentum=momentums[0],
            groups=_history.group_sources(optimizers, rates, momentums),
        )
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
        needed = _rate.fit_step(optimizers) + (context.epochs - epoch) * context.steps_per_epoch
        if needed > context.horizon:
            sources = [_rate.rate_source(o) for o in optimizers]
            self._install(dataclasses.replace(context, horizon=needed), sources)
