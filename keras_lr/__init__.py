"""keras_lr: Keras 3 callbacks for everything about the learning rate.

Scheduling callbacks install a schedule that the compiled train step
evaluates at the optimizer's step count: exact at every step, resumable, and
free of per-batch Python work.  Works on the TensorFlow, JAX and PyTorch
backends.
"""

from keras_lr import plots, schedules
from keras_lr._layer_decay import layer_decay
from keras_lr._version import __version__
from keras_lr.callbacks import (
    CosineAnnealing,
    CyclicLR,
    ExponentialDecay,
    FitContext,
    InverseSqrt,
    LambdaSchedule,
    LearningRateMonitor,
    OneCycleLR,
    PolynomialDecay,
    ReduceLROnPlateau,
    ScheduleCallback,
    SGDRScheduler,
    StepDecay,
    WarmupStableDecay,
)
from keras_lr.ensembles import (
    FastGeometricEnsemble,
    ScheduleFreeEval,
    SnapshotEnsemble,
    SnapshotFileNotFoundError,
    StochasticWeightAveraging,
    WeightedMean,
    fit_ensemble_weights,
    load_ensemble,
    read_manifest,
    snapshot_paths,
    update_bn,
)
from keras_lr.finder import LRFinder, find_lr
from keras_lr.plots import plot_history, plot_schedule

__all__ = [
    "CosineAnnealing",
    "CyclicLR",
    "ExponentialDecay",
    "FastGeometricEnsemble",
    "FitContext",
    "InverseSqrt",
    "LambdaSchedule",
    "LearningRateMonitor",
    "LRFinder",
    "OneCycleLR",
    "PolynomialDecay",
    "ReduceLROnPlateau",
    "ScheduleFreeEval",
    "SGDRScheduler",
    "SnapshotEnsemble",
    "SnapshotFileNotFoundError",
    "StochasticWeightAveraging",
    "WeightedMean",
    "ScheduleCallback",
    "StepDecay",
    "WarmupStableDecay",
    "find_lr",
    "fit_ensemble_weights",
    "layer_decay",
    "load_ensemble",
    "plot_history",
    "plot_schedule",
    "read_manifest",
    "update_bn",
    "plots",
    "schedules",
    "snapshot_paths",
    "__version__",
]
