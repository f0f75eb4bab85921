"""Learning-rate schedules as pure functions of the optimizer step.

Every schedule here is a `keras.optimizers.schedules.LearningRateSchedule`:
arguments are checked once in the constructor, then the object maps a
0-based optimizer step `i` to a rate with no hidden state.  The formula of each
schedule is written once, in `_rate(step, ops)`, and evaluated two ways:

* `schedule(step)` with `keras.ops` in float32, inside the compiled training
  step (this is what the optimizer calls with its `iterations`);
* `schedule.numpy(steps)` with NumPy in float64, for previews, history tables
  and plots.

Cycle positions are computed with integer arithmetic so that float32 stays
exact over long runs (no `i / step_size` on a million-step float).

The scheduling callbacks in `keras_lr` build these objects and install them in
the optimizer; they can also be passed to any Keras optimizer directly:

>>> import keras, keras_lr
>>> sched = keras_lr.schedules.Cyclic(base_lr=1.0, max_lr=5.0, step_size=4)
>>> sched.numpy(range(9)).tolist()
[1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0]
>>> opt = keras.optimizers.SGD(learning_rate=sched)

All classes are registered with Keras serialization, so a model saved with one
installed reloads with `keras.saving.load_model` once `keras_lr` is imported.
"""

from __future__ import annotations

from keras_lr.schedules._base import (
    Constant,
    PerEpoch,
    Schedule,
    Table,
    evaluate,
)
from keras_lr.schedules._base import _as_steps as _as_steps  # used by plots, callbacks
from keras_lr.schedules._compose import RAMP_SHAPES as RAMP_SHAPES  # used by callbacks
from keras_lr.schedules._compose import Join, Product, Ramp, Scaled, warmup
from keras_lr.schedules._cycles import CosineRestarts, GeometricCycle, OneCycle
from keras_lr.schedules._cycles import restart_boundaries as restart_boundaries
from keras_lr.schedules._cyclic import Cyclic
from keras_lr.schedules._cyclic import _scale_fn_kind as _scale_fn_kind  # used by callbacks
from keras_lr.schedules._decays import Cosine, Exponential, Linear, Polynomial, Staircase
from keras_lr.schedules._momentum import Momentum
from keras_lr.schedules._momentum import check_momentum_bounds as check_momentum_bounds
from keras_lr.schedules._warmup_decay import InverseSqrt, WarmupStableDecay

__all__ = [
    "Schedule",
    "Constant",
    "Linear",
    "Cosine",
    "Polynomial",
    "Exponential",
    "Staircase",
    "Cyclic",
    "CosineRestarts",
    "OneCycle",
    "GeometricCycle",
    "WarmupStableDecay",
    "InverseSqrt",
    "Momentum",
    "Table",
    "PerEpoch",
    "Ramp",
    "Join",
    "Product",
    "Scaled",
    "warmup",
    "evaluate",
]
