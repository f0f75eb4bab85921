"""Scheduling callbacks: each installs one schedule from `keras_lr.schedules`
in the optimizer for the whole `fit`; `ReduceLROnPlateau` scales whatever
rate is installed when a monitored metric stops improving."""

from keras_lr.callbacks._base import (
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
    fit_context,
)

__all__ = [
    "CosineAnnealing",
    "CyclicLR",
    "ExponentialDecay",
    "FitContext",
    "LambdaSchedule",
    "OneCycleLR",
    "PolynomialDecay",
    "ReduceLROnPlateau",
    "SGDRScheduler",
    "ScheduleCallback",
    "StepDecay",
    "fit_context",
]
