"""Which way a monitored metric should go, when a value improves on the best,
and when a plateau has lasted long enough to reduce.

The direction of mode "auto" is read as Keras's `MonitorCallback` reads it;
the improvement test is Keras's ("abs") or PyTorch's ("rel"); the counting
of patience and cooldown is Keras's `ReduceLROnPlateau`'s.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_lr import _compat
from keras_lr import _validation as v

MODES = ("auto", "min", "max")
THRESHOLD_MODES = ("rel", "abs")


def check_monitor(monitor: Any) -> str:
    """`monitor`, a non-empty string."""
    if monitor == "":
        raise ValueError("Argument `monitor` must be a non-empty string. Received: monitor=''")
    if not isinstance(monitor, str):
        raise TypeError(
            f"Argument `monitor` must be a non-empty string. Received: monitor={monitor!r}"
        )
    return monitor


def maximise(owner: str, monitor: str, mode: str, model: Any) -> bool:
    """True to maximise `monitor`; mode "auto" asks the model's metrics.

    "min" for `loss`, `val_loss` and per-output `*_loss`, else the direction
    of the compiled metric of that name (without "val_").
    """
    mode = v.one_of("mode", mode, MODES)
    if mode != "auto":
        return mode == "max"
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return False
    found = None
    for metric_name, direction in _compat.metric_directions(model):
        if metric_name == name and direction in ("up", "down"):
            found = direction == "up"
    if found is None:
        raise ValueError(
            f"{owner} cannot tell whether `monitor` should be minimised or "
            f"maximised: no loss or compiled metric named {name!r} gives a direction. "
            f"Pass mode='min' or mode='max'. Received: monitor={monitor!r}, "
            f"mode={mode!r}"
        )
    return found


def warn_missing(owner: str, monitor: str, logs: dict) -> bool:
    """Warns that `monitor` is not in the epoch's `logs`; True (warned)."""
    warnings.warn(
        f"{owner}: metric `{monitor}` is not in the logs "
        f"(available: {sorted(logs)}); no reduction will happen.",
        stacklevel=3,
    )
    return True


def improved(
    current: float, best: float | None, maximize: bool, min_delta: float, threshold_mode: str
) -> bool:
    """Whether `current` improves on `best`: the first value always does, NaN never."""
    if best is None:
        return True
    if threshold_mode == "rel":
        # PyTorch's `ReduceLROnPlateau._is_better`, in float64.
        if maximize:
            return current > best * (1.0 + min_delta)
        return current < best * (1.0 - min_delta)
    # Keras's `MonitorCallback._is_improvement`: `ops.less(current + min_delta,
    # best)` on Python floats compares in float32.
    with np.errstate(over="ignore", invalid="ignore"):
        if maximize:
            return bool(np.float32(current - min_delta) > np.float32(best))
        return bool(np.float32(current + min_delta) < np.float32(best))


def _state_key(monitor: str) -> str:
    return "plateau[" + urllib.parse.quote(monitor, safe="") + "]"


@dataclasses.dataclass
class Counters:
    """Keras's plateau counting: the best value, epochs waited, cooldown left.

    Kept with the optimizer between epochs and fits as four floats (`load`,
    `save`), so a resumed run counts where the uninterrupted one would.
    """

    wait: int = 0
    cooldown_counter: int = 0
    best: float | None = None

    @classmethod
    def load(cls, state: Any, monitor: str) -> Counters:
        """The counters of `monitor` in an optimizer's `TrainingState`; zero at first."""
        saved = state.get(_state_key(monitor))
        if saved is None:
            return cls()
        wait, cooldown, has_best, best = (float(x) for x in saved)
        return cls(int(wait), int(cooldown), best if has_best else None)

    def save(self, state: Any, monitor: str) -> None:
        has_best = self.best is not None
        saved = [self.wait, self.cooldown_counter, float(has_best), self.best if has_best else 0.0]
        state.set(_state_key(monitor), saved)

    def count(
        self,
        current: float,
        improved: bool,
        patience: int,
        cooldown: int,
        reduce: Callable[[], bool],
    ) -> None:
        """Counts one epoch's `current` value; calls `reduce()` when patience runs out."""
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improved:
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            # As in Keras: at min_lr nothing is reduced, so no cooldown
            # starts and the next bad epoch tries again.
            if self.wait >= patience and reduce():
                self.cooldown_counter = cooldown
                self.wait = 0
