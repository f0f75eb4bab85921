"""Schedule-free AdamW's sequences, and the layers nested in a model.

`keras.optimizers.ScheduleFreeAdamW` (Keras 3.15) trains the model's
variables at the interpolation point y and keeps the sequence z where the
gradient steps are taken in its private `_momentums`, one per variable of
its private `_trainable_variables` (None for a variable it does not average:
`overwrite_with_gradient`).  The average x, which the paper evaluates, is not
stored: every step recovers it as x = (y - (1 - beta_1) z) / beta_1.
`ScheduleFreeEval` reads the pairs (y, z) here.  Pinned by
tests/test_compat_schedule_free.py.
"""

from __future__ import annotations

from typing import Any

import keras


def schedule_free_pairs(optimizer: Any) -> list[tuple[Any, Any]]:
    """(model variable y, its z variable or None) for each variable the
    optimizer trains, in its build order; [] before the optimizer is built."""
    if not getattr(optimizer, "built", False):
        return []
    return list(zip(optimizer._trainable_variables, optimizer._momentums))


def z_starts_at_zero(optimizer: Any) -> bool:
    """Whether the first step of `fit` will start z at 0 instead of at the weights.

    Keras 3.15's TensorFlow trainer builds the optimizer inside the first
    compiled step, where `ScheduleFreeAdamW.build`'s copy of the weights into
    z does not take: z starts at 0, and the first step replaces the weights
    by z's first step.  Built before `fit` (or on JAX, whose trainer builds
    it first), z starts at the weights.
    """
    return keras.backend.backend() == "tensorflow" and not getattr(optimizer, "built", False)


def nested_layers(model: Any) -> list:
    """Every layer inside `model`, at any depth (Keras 3.0-3.15 `_flatten_layers`).

    `model.layers` lists only the top level, and a layer built inside a custom
    layer is in no public list.
    """
    return list(model._flatten_layers(include_self=False, recursive=True))
