"""keras_lr's training state, kept on each optimizer and saved with it.

State that must survive an interruption beyond the step count (the plateau
scale and counters, the SWA average) lives in a `TrainingState` reached as
`optimizer.keras_lr_state`, which Keras saves with the optimizer's variables.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_lr import _compat

STATE_ATTR = "keras_lr_state"

# Key of the `ReduceLROnPlateau` scale in an optimizer's state.
SCALE = "scale"
# Key of a sub-optimizer's fixed rate factor (`keras_lr.layer_decay`).
RATE_FACTOR = "rate_factor"
# Key of the step `WarmupStableDecay.start_decay()` started the cool-down at.
DECAY_START = "decay_start"


class TrainingState(keras.layers.Layer):
    """keras_lr's training state, kept on an optimizer and saved with it.

    Keras writes every saveable attribute of the optimizer into weight files
    (`save_weights`, `BackupAndRestore`, `model.save`) and reads it back on
    `load_weights`, so state stored here survives an interruption exactly as
    the optimizer's step count does: the plateau scale and counters of
    `ReduceLROnPlateau`, the running average of `StochasticWeightAveraging`.
    Values are host-side NumPy arrays keyed by name, never read in the
    compiled step.  A file without them (an older one) loads as no state.
    """

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)
        _compat.set_untracked(self, "_values", {})  # plain arrays, no variables

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._values[key] = np.array(value, dtype=np.float64)

    def save_own_variables(self, store) -> None:
        for key, value in self._values.items():
            store[key] = value

    def load_own_variables(self, store) -> None:
        self._values.clear()
        for key in store.keys():
            self._values[key] = np.array(store[key], dtype=np.float64)


# The instance attribute holding the state.  Its name starts with "__" so that
# Keras's saving walk (which skips such names) reaches the state only through
# the class property, under one path: "keras_lr_state".
_STATE_SLOT = "__keras_lr_state"


def _state_of(optimizer: Any) -> TrainingState:
    state = optimizer.__dict__.get(_STATE_SLOT)
    if not isinstance(state, TrainingState):
        state = TrainingState(name=STATE_ATTR)
        _compat.set_untracked(optimizer, _STATE_SLOT, state)
    return state


# A process that imported keras_lr loads the state with `keras.saving.load_model`;
# one without it skips the entry.  An empty state saves nothing.
_compat.add_optimizer_property(STATE_ATTR, _state_of)


def training_state(optimizer: Any) -> TrainingState:
    """The optimizer's `TrainingState`, attached on first use."""
    _compat.own_property(type(optimizer), STATE_ATTR, _state_of)
    return _state_of(optimizer)
