"""Decays: step (PyTorch's StepLR / MultiStepLR), polynomial, exponential and
cosine annealing without restarts."""

from __future__ import annotations

from keras_lr import schedules as S
from keras_lr.callbacks._base import ScheduleCallback
from keras_lr.callbacks._spec import ScheduleSpec

__all__ = ["CosineAnnealing", "ExponentialDecay", "PolynomialDecay", "StepDecay"]


class StepDecay(ScheduleCallback):
    """Step decay per epoch: lr = initial_lr * decay_factor^floor(e / step_size).

    With `milestones=[m1, m2, ...]` the rate is multiplied by `decay_factor` at
    each listed epoch instead.  The epoch e of step i is floor(i / steps per
    epoch), so the rate changes exactly at epoch boundaries.  `step_size` and
    `milestones` count epochs, as in PyTorch's `StepLR` and `MultiStepLR`
    (`schedules.Staircase` counts the same arguments in steps).

    Example:
        >>> import keras_lr
        >>> keras_lr.StepDecay(1.0, 0.5, step_size=2).rates(6, steps_per_epoch=1).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    spec = ScheduleSpec(
        S.Staircase,
        per_epoch=True,
        in_epochs=("step_size", "milestones"),
        docs={
            "step_size": "epochs between decays, a positive integer (ignored with `milestones`).",
            "milestones": "strictly increasing epochs at which to decay, or None.",
        },
    )


class PolynomialDecay(ScheduleCallback):
    """Polynomial decay per step to `end_lr` over `total_steps`.

    lr = (initial_lr - end_lr) * (1 - min(i, T) / T)^power + end_lr, T = total_steps

    PyTorch's `PolynomialLR` rates when end_lr = 0.  With `cycle=True` the
    decay restarts after every `total_steps` steps from a lower peak, as
    Keras's `PolynomialDecay(cycle=True)` (see `schedules.Polynomial`).
    `max_steps` is the old name of `total_steps` (deprecated).

    Example:
        >>> import keras_lr
        >>> keras_lr.PolynomialDecay(1.0, total_steps=4, power=2.0).rates(5).tolist()
        [1.0, 0.5625, 0.25, 0.0625, 0.0]
    """

    spec = ScheduleSpec(
        S.Polynomial, from_fit=("total_steps",), renamed={"max_steps": "total_steps"}
    )

    def _fixed_length(self) -> int | None:
        # A cycled decay restarts instead of holding `end_lr`: it never ends.
        return None if self.cycle else super()._fixed_length()


class ExponentialDecay(ScheduleCallback):
    """Exponential decay per epoch: lr = initial_lr * gamma^e.

    The epoch e of step i is floor(i / steps per epoch): the rate is constant
    within an epoch and drops at its boundary (Keras's `LearningRateScheduler`
    convention; `gamma` per epoch as in PyTorch's `ExponentialLR`).  For a
    per-step decay use `keras_lr.schedules.Exponential`.

    Example:
        >>> import keras_lr
        >>> keras_lr.ExponentialDecay(1.0, 0.5).rates(6, steps_per_epoch=2).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    spec = ScheduleSpec(
        S.Exponential,
        per_epoch=True,
        in_epochs=("gamma",),
        docs={
            "initial_lr": "rate of epoch 0, > 0.",
            "gamma": "factor per epoch, in (0, 1].",
        },
    )


class CosineAnnealing(ScheduleCallback):
    """Cosine annealing per step from `max_lr` to `min_lr`, no restarts.

    lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * min(i, T) / T)) / 2, T = total_steps

    Example:
        >>> import keras_lr
        >>> keras_lr.CosineAnnealing(1.0, 0.0, total_steps=4).rates(5).round(3).tolist()
        [1.0, 0.854, 0.5, 0.146, 0.0]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    spec = ScheduleSpec(S.Cosine, from_fit=("total_steps",))
