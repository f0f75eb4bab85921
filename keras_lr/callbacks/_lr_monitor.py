"""Every optimizer step's rate and momentum, as TensorBoard scalars and a table.

No per-batch Python: `LearningRateMonitor` notes each optimizer's step and
rate source when an epoch begins and when it ends, and then evaluates the
source over the epoch's steps, as the compiled step evaluated it.  Which of
the two notes holds the rate that trained is `_trained_reads`'s choice.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _io, _momentum, _rate
from keras_lr import schedules as S
from keras_lr._history import clean_logs
from keras_lr.callbacks import _events

__all__ = ["LearningRateMonitor"]

_OWNER = "LearningRateMonitor"


@dataclasses.dataclass(frozen=True)
class _Read:
    """An optimizer's rate as noted once: its step, source and (float rate) value."""

    step: int
    source: Any
    value: float | None  # the float of a Variable or a callable; None for a schedule
    batches: int = 1  # batches per update at which a schedule is evaluated


def _read(optimizer: Any) -> _Read:
    source = _rate.rate_source(optimizer)
    value, batches = None, 1
    if _compat.is_variable(source):
        value = _rate.variable_value(source)
    elif not isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
        value = _rate.variable_value(source())  # Keras calls a callable rate with no argument
    elif not isinstance(source, S.Schedule):
        # Keras evaluates the user's own schedule at its batch counter: under
        # `gradient_accumulation_steps=N`, update k (made at batch kN + N - 1)
        # trains at schedule(kN + N - 1)
        # (keras_lr's own are counted in updates, see `_rate.per_update`).
        # Pinned by tests/test_lr_monitor.py (`test_gradient_accumulation`).
        batches = _rate.accumulation_steps(optimizer)
    return _Read(_rate.current_step(optimizer), source, value, batches)


def _rates(read: _Read, steps: np.ndarray) -> np.ndarray:
    if read.value is not None:
        return np.full(steps.shape, read.value)
    steps = steps * read.batches + (read.batches - 1)
    try:
        return S.evaluate(read.source, steps)
    except Exception:
        if isinstance(read.source, S.Schedule):
            raise
    # A schedule of the user's written for the one scalar step the optimizer
    # passes (Keras's `PiecewiseConstantDecay` on PyTorch): one step at a time.
    one = keras.ops.convert_to_tensor
    return np.array(
        [float(keras.ops.convert_to_numpy(read.source(one(int(s))))) for s in steps],
        dtype=np.float64,
    )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _trained_reads(begins: list, ends: list, logs: dict | None) -> tuple[list, bool]:
    """The reads whose sources trained this epoch, and whether that is uncertain.

    A callback listed after the monitor may set the rate at epoch begin (Keras's
    `LearningRateScheduler`): the epoch-end read has it.  One listed before may
    change it at epoch end (either `ReduceLROnPlateau`): the epoch-begin read
    has the rate that trained, and such a callback first writes that rate (of
    the epoch's last step) to `logs["learning_rate"]`, which tells the two apart.
    """
    if all(b.source is e.source and b.value == e.value for b, e in zip(begins, ends)):
        return ends, False
    logged = (logs or {}).get("learning_rate")
    if isinstance(logged, (int, float, np.floating)) and math.isfinite(logged) and ends:
        last = np.array([max(ends[0].step - 1, begins[0].step)])
        at_begin = float(_rates(begins[0], last)[0])
        at_end = float(_rates(ends[0], last)[0])
        if _close(logged, at_begin) and not _close(logged, at_end):
            return begins, False
        return ends, not _close(logged, at_end)
    return ends, False


def tag_names(optimizers: list) -> list[str]:
    """One name per optimizer: "" for a single one, else its name (made unique)."""
    if len(optimizers) == 1:
        return [""]
    names, seen = [], {}
    for opt in optimizers:
        name = str(opt.name)
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_{count}")
    return names


def _suffixed(base: str, name: str, sep: str = "/") -> str:
    return base if not name else f"{base}{sep}{name}"


def _epoch_columns(optimizers, names, begins, reads, log_momentum) -> tuple[dict, dict]:
    """(history columns, TensorBoard tags) of one epoch, at the first optimizer's steps.

    As in a scheduling callback's history, `lr` and `momentum` are the first
    optimizer's, and `lr/<name>`, `momentum/<name>` each sub-optimizer's.
    """
    steps = np.arange(begins[0].step, reads[0].step, dtype=np.int64)
    found: dict = {"lr": {}, "momentum": {}}
    for opt, name, begin, read in zip(optimizers, names, begins, reads):
        own = np.arange(begin.step, read.step, dtype=np.int64)
        values = {"lr": _rates(read, own)}
        if log_momentum:
            values["momentum"] = _momentum.momentum_at(opt, own)
        for key, column in values.items():
            if column is None:
                continue
            column = np.asarray(column, dtype=np.float64)
            if len(column) != len(steps):  # a sub-optimizer that did not update every step
                column = np.concatenate([column, np.full(len(steps), np.nan)])[: len(steps)]
            found[key][name] = column
    columns: dict = {"step": steps}
    columns.update({key: found[key][names[0]] for key in found if names[0] in found[key]})
    tags: dict = {}
    for key, tag in (("lr", "learning_rate"), ("momentum", "momentum")):
        for name, column in found[key].items():
            columns[_suffixed(key, name)] = column
            tags[_suffixed(tag, name)] = column
    return columns, tags


def history_frame(epochs: list) -> Any:
    """One row per step of every recorded epoch; logs on each epoch's last step."""
    import pandas as pd

    names: list[str] = []
    for columns, logs in epochs:
        names += [k for k in [*columns, *logs] if k not in names and k != "learning_rate"]
    parts = []
    for columns, logs in epochs:
        n = len(columns["step"])
        part = {}
        for key in names:
            if key in columns:
                part[key] = columns[key]
            else:
                part[key] = np.full(n, np.nan)
                if key in logs and n:
                    part[key][-1] = logs[key]
        parts.append(part)
    if not parts:
        return pd.DataFrame({"step": np.zeros(0, np.int64), "epoch": np.zeros(0, np.int64)})
    return pd.DataFrame({key: np.concatenate([p[key] for p in parts]) for key in names})


def _check_arguments(log_dir: Any, log_momentum: Any) -> None:
    if log_dir is not None:
        path = os.fspath(log_dir) if isinstance(log_dir, (str, os.PathLike)) else None
        if not isinstance(path, str):
            raise TypeError(
                "Argument `log_dir` must be a path (a str or os.PathLike) or None. "
                f"Received: log_dir={log_dir!r} (of type {type(log_dir).__name__})"
            )
        if path == "":
            raise ValueError(
                "Argument `log_dir` must not be empty: a folder, or None. Received: log_dir=''"
            )
    if not isinstance(log_momentum, (bool, np.bool_)):
        raise TypeError(
            f"Argument `log_momentum` must be a bool. Received: "
            f"log_momentum={log_momentum!r} (of type {type(log_momentum).__name__})"
        )
    if log_dir is not None:
        _events.require_tensorboard()


class LearningRateMonitor(keras.callbacks.Callback):
    """Logs the learning rate (and momentum) of every optimizer step.

    Lightning's `LearningRateMonitor(logging_interval="step", log_momentum=True)`
    for Keras.  With a `log_dir`, the rate of each step goes to TensorBoard as
    the scalar `learning_rate`, the momentum (SGD's `momentum`, Adam's
    `beta_1`) as `momentum`; a `MultiOptimizer` gets one tag per sub-optimizer,
    `learning_rate/<name>` (a repeated name gets `_1`, `_2`, ...).  They go to
    `log_dir/train`, where `keras.callbacks.TensorBoard(log_dir)` writes its
    training scalars, so both show as one run.  TensorBoard step s holds the
    rate of update s - 1: s is `optimizer.iterations` once that update is done,
    the numbering of Keras's batch-level scalars in a first `fit` (steps
    continue over later fits; with `steps_per_execution` > 1 or gradient
    accumulation Keras counts calls of the train function, the monitor updates).

    Nothing runs per batch: at each epoch end the epoch's steps are evaluated
    from the rate source the optimizer trained with, and written (then flushed,
    so the completed epochs are on disk also when `fit` raises; the epoch cut
    short is not written).  The rate is the one applied, in any callback order,
    when the rate is set at train or epoch begin (keras_lr's scheduling
    callbacks, Keras's `LearningRateScheduler`) or changed at epoch end by a
    callback that first logs `learning_rate` (keras_lr's and Keras's
    `ReduceLROnPlateau`).  List it before a callback of your own that changes
    the rate at epoch end; a rate changed between batches is not seen.

    Args:
        log_dir: the folder of the TensorBoard run (`train/` is made in it),
            or None to keep only `history`.  Needs the `tensorboard` package
            (`pip install tensorboard`), not TensorFlow.  Written by the chief
            process alone in multi-worker training.
        log_momentum: also log the momentum, where the optimizer has one.

    Attributes:
        history: pandas DataFrame, one row per optimizer step of every fit:
            `step` (the update index, as in every keras_lr history), `epoch`,
            `lr` and `momentum` (of the first optimizer; `lr/<name>` and
            `momentum/<name>` of each sub-optimizer of a `MultiOptimizer`),
            then the epoch's logs on its last step.

    Raises:
        TypeError: `log_dir` not a path or None, `log_momentum` not a bool.
        ValueError: an empty `log_dir`.
        ImportError: a `log_dir` given without the `tensorboard` package.

    Example:
        >>> import keras_lr
        >>> monitor = keras_lr.LearningRateMonitor()
        >>> monitor.get_config()
        {'log_dir': None, 'log_momentum': True}
        >>> len(monitor.history)
        0
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, log_momentum: bool = True):
        super().__init__()
        _check_arguments(log_dir, log_momentum)
        self.log_dir = log_dir
        self.log_momentum = bool(log_momentum)
        self._epochs: list[tuple[dict, dict]] = []
        self._writer: _events.ScalarEventWriter | None = None
        self._begin: tuple[float, list] | None = None
        self._warned = False

    def get_config(self) -> dict:
        """Each constructor argument under its own name."""
        return {"log_dir": self.log_dir, "log_momentum": self.log_momentum}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @property
    def history(self):
        """pandas DataFrame, one row per step: step, epoch, lr, momentum, epoch logs."""
        return history_frame(self._epochs)

    @property
    def event_file(self) -> str | None:
        """The event file of the current (or last) fit, None without `log_dir`."""
        return None if self._writer is None else self._writer.path

    def on_train_begin(self, logs=None):
        self._close()
        _rate.optimizers_of(self.model, _OWNER)  # a compiled model, before the first step
        self._begin = None
        if self.log_dir is not None and _io.is_chief():
            self._writer = _events.ScalarEventWriter(os.path.join(os.fspath(self.log_dir), "train"))
            _compat.guard(self.model, self, self._close)

    def on_epoch_begin(self, epoch, logs=None):
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        noted = {id(opt): _read(opt) for opt in optimizers}
        self._begin = (time.time(), _rate.current_step(self.model.optimizer), noted)

    def on_epoch_end(self, epoch, logs=None):
        if self._begin is None:
            return
        (started, top_step, noted), self._begin = self._begin, None
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        if not optimizers:
            return
        ends = [_read(opt) for opt in optimizers]
        # A MultiOptimizer with a selector function finds its sub-optimizers
        # at its first step: one unseen at epoch begin trained from train begin.
        trained_steps = _rate.current_step(self.model.optimizer) - top_step
        begins = [
            noted.get(id(opt)) or dataclasses.replace(end, step=max(end.step - trained_steps, 0))
            for opt, end in zip(optimizers, ends)
        ]
        trained, uncertain = _trained_reads(begins, ends, logs)
        if uncertain and not self._warned:
            self._warned = True
            warnings.warn(
                f"{_OWNER}: the rate changed between this epoch's begin and end, and "
                "`logs['learning_rate']` matches neither; the rate found at epoch end "
                "is logged. List the monitor before callbacks that change the rate at "
                "epoch end.",
                stacklevel=2,
            )
        reads = [dataclasses.replace(t, step=e.step) for t, e in zip(trained, ends)]
        names = tag_names(optimizers)
        columns, tags = _epoch_columns(optimizers, names, begins, reads, self.log_momentum)
        n = len(columns["step"])
        columns = {"step": columns["step"], "epoch": np.full(n, epoch, np.int64), **columns}
        self._epochs.append((columns, clean_logs(logs)))
        if self._writer is not None and n:
            wall = started + (time.time() - started) * np.arange(1, n + 1) / n
            self._writer.scalars(columns["step"] + 1, tags, wall)
            self._writer.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            if self.model is not None:
                _compat.unguard(self.model, self)
