"""The momentum an optimizer applies: which attribute it is, reading it, cycling it.

The momentum of SGD, RMSprop and Muon is their `momentum`; of Adam, AdamW,
Nadam, Adamax, Lion, Lamb (every optimizer with one) their `beta_1`, as in
PyTorch, whose `CyclicLR` and `OneCycleLR` cycle `betas[0]` for Adam.  A
scheduling callback that cycles it installs a schedule of the optimizer step
(`install`), evaluated inside the compiled step like the rate, and leaves the
plain float of the last trained step at the end (`release`).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_lr import _compat

# In order of preference: an optimizer with both would cycle Adam's beta_1.
_NAMES = ("beta_1", "momentum")


def momentum_name(optimizer: Any) -> str | None:
    """ "beta_1" or "momentum": the attribute holding `optimizer`'s momentum, or None."""
    held = _compat.cycled_hyperparameter(optimizer)
    if held is not None:
        return held[0]
    for name in _NAMES:
        if hasattr(optimizer, name):
            return name
    return None


def _float_value(optimizer: Any, name: str) -> float | None:
    value = getattr(optimizer, name)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def in_use(optimizer: Any) -> bool:
    """Whether `optimizer` applies a momentum: `beta_1`, or a `momentum` above 0."""
    name = momentum_name(optimizer)
    if name is None:
        return False
    if is_cycled(optimizer):
        return True
    value = _float_value(optimizer, name)
    return value is None or name == "beta_1" or value > 0


def is_cycled(optimizer: Any) -> bool:
    return _compat.cycled_hyperparameter(optimizer) is not None


def cannot_cycle(optimizer: Any) -> str | None:
    """Why a callback cannot cycle `optimizer`'s momentum, or None if it can."""
    name = momentum_name(optimizer)
    kind = type(optimizer).__name__
    if name is None:
        return f"{kind} has no momentum (neither `momentum` nor `beta_1`)"
    if is_cycled(optimizer):
        return None
    value = _float_value(optimizer, name)
    if value is None:
        return (
            f"its `{name}` is {getattr(optimizer, name)!r}, not a float; build the "
            f"optimizer with a float `{name}`"
        )
    if name == "momentum" and value <= 0:
        return (
            f"{kind} was built with momentum={value!r}, so it keeps no velocity to "
            f"cycle; build it with a momentum, e.g. `keras.optimizers.{kind}(momentum=0.9)`"
        )
    return None


def install(optimizer: Any, schedule: Any) -> None:
    """Makes `optimizer` apply momentum `schedule(i)` at update i."""
    _compat.cycle_hyperparameter(optimizer, momentum_name(optimizer), schedule)


def source(optimizer: Any) -> Any:
    """The installed momentum schedule, the momentum as a float, or None."""
    held = _compat.cycled_hyperparameter(optimizer)
    if held is not None:
        return held[1]
    name = momentum_name(optimizer)
    return None if name is None else _float_value(optimizer, name)


def momentum_at(optimizer: Any, steps: Any) -> np.ndarray | None:
    """The momentum `optimizer` applies at update `steps`, float64 (None if it has none)."""
    from keras_lr.schedules import evaluate

    found = source(optimizer)
    if found is None:
        return None
    return evaluate(found, steps)


def release(optimizer: Any, step: int, before: float | None = None) -> None:
    """Puts back a plain float momentum: that of update `step - 1`, the last trained.

    `before` is the float it had when taken over, given back when it has
    trained no update since (`step` is then where it was).
    """
    held = _compat.cycled_hyperparameter(optimizer)
    if held is None:
        return
    value = before if before is not None else float(momentum_at(optimizer, [max(step - 1, 0)])[0])
    _compat.release_hyperparameter(optimizer, value)
