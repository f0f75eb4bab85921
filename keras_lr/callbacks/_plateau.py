"""Reduce the rate on a plateau of a monitored metric, on top of any schedule.

When to reduce (the metric's direction, the improvement test, patience and
cooldown) is `_monitor`'s; how (a float set, a schedule scaled) is
`_reduce_rates` below.
"""

from __future__ import annotations

import functools
import inspect

import keras
import numpy as np

from keras_lr import _compat, _rate, _state
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr._deprecation import renamed_attribute
from keras_lr.callbacks import _monitor
from keras_lr.callbacks._driver import apply_saved_scale

__all__ = ["ReduceLROnPlateau"]

_OWNER = "ReduceLROnPlateau"


class ReduceLROnPlateau(keras.callbacks.Callback):
    """Reduce the rate when a metric stops improving; composes with schedules.

    Alone, it is Keras's `ReduceLROnPlateau`: the same arguments reduce a
    float rate after the same epochs to the same rates and log the same
    `learning_rate`.  After `patience` epochs without improvement the rate
    becomes max(rate * factor, min_lr), unless it is already at most min_lr
    (compared in float32); only a reduction starts the `cooldown`.  Over a
    `keras_lr` scheduling callback (or any Keras schedule) it scales the whole
    schedule by `factor` instead of overwriting it, so the cycle or decay
    keeps its shape at a lower level, never so far that the current rate
    falls under `min_lr`.

    Improvement, mode "min" (mirrored for "max"); the first value always is
    one, a NaN never is:

        threshold_mode "abs" (Keras):   float32(current + min_delta) < float32(best)
        threshold_mode "rel" (PyTorch): current < best * (1 - min_delta)

    As in PyTorch, "rel" multiplies a negative best too, which puts the
    threshold above it: there an equal or slightly worse value improves.
    Mode "auto" reads the direction as Keras's `MonitorCallback` does, once
    the model's metrics are known: "min" for `loss`, `val_loss` and `*_loss`,
    else that of the compiled metric of that name (without "val_"): "max"
    for `AUC`, `Precision`, `Recall`, accuracies, "min" for errors.

    Its state (best value, epochs waited, cooldown left, the scale on a
    schedule) is kept with the optimizer: later `fit()` calls continue it
    (Keras's restarts) and `save_weights`, `BackupAndRestore` and (keras_lr
    imported) `load_model` restore it: resumed, it reduces where it would have.

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

    Attributes:
        reductions: a pandas DataFrame, one row per reduction: `epoch`,
            `step`, `old_lr`, `new_lr` (`history` is its deprecated name).
        wait, cooldown_counter, best: the counters, as Keras's callback has them.

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
        self.monitor = _monitor.check_monitor(monitor)
        self.factor = v.float_in("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = v.nonnegative_int("patience", patience)
        self.mode = v.one_of("mode", mode, _monitor.MODES)
        self.min_delta = v.nonnegative_float("min_delta", min_delta)
        self.threshold_mode = v.one_of("threshold_mode", threshold_mode, _monitor.THRESHOLD_MODES)
        self.cooldown = v.nonnegative_int("cooldown", cooldown)
        self.min_lr = v.nonnegative_float("min_lr", min_lr)
        self.verbose = v.nonnegative_int("verbose", verbose)
        self._reductions: list[dict] = []
        self._counters = _monitor.Counters()
        self._warned = False
        self._maximize: bool | None = None

    wait = property(lambda self: self._counters.wait)
    cooldown_counter = property(lambda self: self._counters.cooldown_counter)
    best = property(lambda self: self._counters.best)

    def get_config(self) -> dict:
        """Each constructor argument under its own name."""
        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @property
    def reductions(self):
        """pandas DataFrame, one row per reduction: epoch, step, old_lr, new_lr."""
        import pandas as pd

        return pd.DataFrame(self._reductions, columns=["epoch", "step", "old_lr", "new_lr"])

    history = renamed_attribute("history", "reductions")

    def set_model(self, model):
        super().set_model(model)
        _rate.attach_training_states(model, _OWNER)

    def _state(self):
        return _state.training_state(_rate.optimizers_of(self.model, _OWNER)[0])

    def on_train_begin(self, logs=None):
        self._warned = False
        # Before the first step, so an unknown direction fails fast; `fit` has
        # built the compiled metrics by now (or left their specs to read).
        self._maximize = _monitor.maximise(_OWNER, self.monitor, self.mode, self.model)
        self._counters = _monitor.Counters.load(self._state(), self.monitor)

    def on_epoch_begin(self, epoch, logs=None):
        apply_saved_scale(self.model, _OWNER)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        state = self._state()
        # Read each epoch: BackupAndRestore may have loaded them after on_train_begin.
        self._counters = _monitor.Counters.load(state, self.monitor)
        # The rate the epoch's last step trained with.
        logs["learning_rate"] = _rate.last_rate(_rate.optimizers_of(self.model, _OWNER)[0])
        current = logs.get(self.monitor)
        if current is None:
            self._warned = self._warned or _monitor.warn_missing(_OWNER, self.monitor, logs)
            return
        current = float(np.asarray(current))
        if self._maximize is None:  # hooks called without `on_train_begin`
            self._maximize = _monitor.maximise(_OWNER, self.monitor, self.mode, self.model)
        args = (self._maximize, self.min_delta, self.threshold_mode)
        improved = _monitor.improved(current, self.best, *args)
        reduce = functools.partial(self._reduce, epoch)
        self._counters.count(current, improved, self.patience, self.cooldown, reduce)
        self._counters.save(state, self.monitor)

    def _reduce(self, epoch: int) -> bool:
        """Reduces the rates at `epoch` and records it: True when one was reduced."""
        reduced = _reduce_rates(self.model, self.factor, self.min_lr, epoch, self.verbose)
        self._reductions += reduced
        return bool(reduced)


def _reduce_rates(model, factor: float, min_lr: float, epoch: int, verbose: int) -> list[dict]:
    """Multiplies each optimizer's rate above min_lr by `factor`, not below min_lr.

    A float rate is set; a schedule is scaled as a whole (`Scaled`), the
    scale kept with the optimizer.  Returns a row of `reductions` for each
    optimizer reduced.
    """
    floor = float(np.float32(min_lr))
    retrace, reduced = False, []
    for opt in _rate.optimizers_of(model, "ReduceLROnPlateau"):
        source = _rate.rate_source(opt)
        step = _rate.current_step(opt)
        old = _rate.rate_at(opt, step)
        if old <= floor:
            continue
        if _compat.is_variable(source):
            new = max(old * factor, min_lr)
            _rate.install(opt, new)
        elif isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
            base, scale = _rate.split_scale(source)
            base_rate = float(S.evaluate(base, [step])[0])
            new_scale = scale * factor
            if base_rate > 0:
                new_scale = max(new_scale, min_lr / base_rate)
            _rate.install(opt, S.Scaled(base, new_scale))
            _rate.save_scale(opt, new_scale)
            new = new_scale * base_rate
            retrace = True
        else:
            raise ValueError(
                "ReduceLROnPlateau cannot scale an optimizer whose "
                f"`learning_rate` is a plain callable ({source!r})."
            )
        reduced.append({"epoch": epoch, "step": step, "old_lr": old, "new_lr": new})
        if verbose:
            print(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                f"rate from {old:.4g} to {new:.4g}."
            )
    if retrace:
        _compat.retrace(model)
    return reduced
