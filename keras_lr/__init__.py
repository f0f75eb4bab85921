"""keras_lr: Keras 3 callbacks for everything about the learning rate.

Scheduling callbacks install a schedule that the compiled train step
evaluates at the optimizer's step count: exact at every step, resumable, and
free of per-batch Python work.  Works on the TensorFlow, JAX and PyTorch
backends.
"""

from keras_lr import schedules
from keras_lr._callbacks import (
    CosineAnnealing,
    CyclicLR,
    ExponentialDecay,
    FitContext,
    LambdaSchedule,
    OneCycleLR,
    PolynomialDecay,
    ReduceLROnPlateau,
    ScheduleCallback,
    SGDRScheduler,
    StepDecay,
)
from keras_lr._ensemble import (
    WeightedMean,
    fit_ensemble_weights,
    load_ensemble,
    read_manifest,
    snapshot_paths,
)
from keras_lr._finder import LRFinder, find_lr
from keras_lr._plots import plot_history, plot_schedule
from keras_lr._snapshots import (
    FastGeometricEnsemble,
    SnapshotEnsemble,
    StochasticWeightAveraging,
    update_bn,
)
from keras_lr._version import __version__

__all__ = [
    "CosineAnnealing",
    "CyclicLR",
    "ExponentialDecay",
    "FastGeometricEnsemble",
    "FitContext",
    "LambdaSchedule",
    "LRFinder",
    "OneCycleLR",
    "PolynomialDecay",
    "ReduceLROnPlateau",
    "SGDRScheduler",
    "SnapshotEnsemble",
    "StochasticWeightAveraging",
    "WeightedMean",
    "ScheduleCallback",
    "StepDecay",
    "find_lr",
    "fit_ensemble_weights",
    "load_ensemble",
    "plot_history",
    "plot_schedule",
    "read_manifest",
    "update_bn",
    "schedules",
    "snapshot_paths",
    "__version__",
]
