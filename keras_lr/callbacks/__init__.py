"""Scheduling callbacks: each installs one schedule from `keras_lr.schedules`
in the optimizer for the whole `fit`; `ReduceLROnPlateau` scales whatever
rate is installed when a monitored metric stops improving.

`_base` holds `ScheduleCallback` (on `_driver`, what a callback does to the
optimizers over a fit, and `_context`, what `fit` tells it); `_spec` declares
a callback once from its schedule; `_cyclic`, `_decays` and `_lambda` are the
callbacks; `_plateau` with `_monitor` is `ReduceLROnPlateau`.
`_warmup_decay` has the warm-up-then-decay callbacks of large-model training.
`_lr_monitor` is `LearningRateMonitor`, which logs every step's rate (to
TensorBoard through `_events`) and sets none.
"""

from keras_lr.callbacks._base import FitContext, ScheduleCallback
from keras_lr.callbacks._cyclic import CyclicLR, OneCycleLR, SGDRScheduler
from keras_lr.callbacks._decays import (
    CosineAnnealing,
    ExponentialDecay,
    PolynomialDecay,
    StepDecay,
)
from keras_lr.callbacks._lambda import LambdaSchedule
from keras_lr.callbacks._lr_monitor import LearningRateMonitor
from keras_lr.callbacks._plateau import ReduceLROnPlateau
from keras_lr.callbacks._warmup_decay import InverseSqrt, WarmupStableDecay

__all__ = [
    "CosineAnnealing",
    "CyclicLR",
    "ExponentialDecay",
    "FitContext",
    "InverseSqrt",
    "LambdaSchedule",
    "LearningRateMonitor",
    "OneCycleLR",
    "PolynomialDecay",
    "ReduceLROnPlateau",
    "SGDRScheduler",
    "ScheduleCallback",
    "StepDecay",
    "WarmupStableDecay",
]
