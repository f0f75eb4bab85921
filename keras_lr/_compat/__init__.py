"""The one home of everything that reaches past Keras's public API.

Private optimizer attributes (the rate slot, the variable list and its
tracker, the batch counter), the compiled train function and the JAX
trainer's state, TensorFlow's raw variable ops, the functional-model class,
the `.weights.h5` layout, schedule-free AdamW's z and the nested layers:
each shim names the Keras releases it was written for, and
tests/test_compat*.py pin each one, so a Keras upgrade that moves one
fails there, by name.  Nothing else in keras_lr touches a
name that starts with an underscore on a Keras, TensorFlow, JAX or torch
object.
"""

from keras_lr._compat._hyper import (
    cycle_hyperparameter,
    cycled_hyperparameter,
    release_hyperparameter,
)
from keras_lr._compat._optimizer import (
    add_optimizer_property,
    batch_step,
    is_variable,
    keras_version,
    own_property,
    rate_slot,
    restore_rate_variable,
    set_rate_slot,
    set_untracked,
    untrack_rate_variable,
    variable_index,
    version_tuple,
)
from keras_lr._compat._saving import (
    MODEL_WEIGHT_GROUPS,
    is_functional,
    weights_file_layout,
)
from keras_lr._compat._schedule_free import nested_layers, schedule_free_pairs, z_starts_at_zero
from keras_lr._compat._trainer import (
    StepWriter,
    drop_jax_state,
    guard,
    metric_directions,
    one_step_per_execution,
    release_stale,
    retrace,
    steps_per_execution,
    sync_state,
    unguard,
)

__all__ = [
    "MODEL_WEIGHT_GROUPS",
    "StepWriter",
    "add_optimizer_property",
    "batch_step",
    "cycle_hyperparameter",
    "cycled_hyperparameter",
    "drop_jax_state",
    "guard",
    "is_functional",
    "is_variable",
    "keras_version",
    "version_tuple",
    "metric_directions",
    "nested_layers",
    "one_step_per_execution",
    "own_property",
    "rate_slot",
    "release_hyperparameter",
    "release_stale",
    "restore_rate_variable",
    "retrace",
    "schedule_free_pairs",
    "set_rate_slot",
    "set_untracked",
    "steps_per_execution",
    "sync_state",
    "unguard",
    "untrack_rate_variable",
    "variable_index",
    "weights_file_layout",
    "z_starts_at_zero",
]
