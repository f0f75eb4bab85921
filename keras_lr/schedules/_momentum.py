"""`Momentum`: the momentum that cycles opposite to a cyclical rate."""

from __future__ import annotations

from typing import Any

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, _deserialize, _register, _serialize
from keras_lr.schedules._cycles import OneCycle
from keras_lr.schedules._cyclic import Cyclic


def check_momentum_bounds(base_momentum: Any, max_momentum: Any) -> tuple[float, float]:
    """`base_momentum` <= `max_momentum`, both in [0, 1], as floats."""
    base = v.float_in("base_momentum", base_momentum, 0.0, 1.0)
    high = v.float_in("max_momentum", max_momentum, 0.0, 1.0)
    v.at_most("base_momentum", base_momentum, "max_momentum", max_momentum)
    return base, high


@_register
class Momentum(Schedule):
    """The momentum of a cyclical rate schedule, high where the rate is low.

    PyTorch's momentum cycling, for the two schedules that have one:

    * `Cyclic`: m(i) = max_momentum - (max_momentum - base_momentum) * frac(i) * scale(i),
      with the rate's own cycle position `frac` and `scale` (PyTorch's
      `CyclicLR(cycle_momentum=True)`);
    * `OneCycle`: each phase anneals the momentum (with the rate's
      `anneal_strategy`) from `max_momentum` to `base_momentum` while the rate
      rises, and back while it falls; the three-phase variant holds
      `max_momentum` in its last phase (PyTorch's `OneCycleLR`).

    Values are momentums (SGD's `momentum`, Adam's `beta_1`), not rates.

    Args:
        schedule: the rate schedule, a `Cyclic` or `OneCycle`.
        base_momentum: the momentum where the rate peaks, in [0, 1].
        max_momentum: the momentum where the rate is lowest, in [base_momentum, 1].

    Example:
        >>> from keras_lr import schedules as S
        >>> rate = S.Cyclic(base_lr=0.1, max_lr=0.5, step_size=2)
        >>> S.Momentum(rate, base_momentum=0.8, max_momentum=0.9).numpy(5).round(3).tolist()
        [0.9, 0.85, 0.8, 0.85, 0.9]

    References:
        Smith, "A disciplined approach to neural network hyper-parameters:
        Part 1", arXiv:1803.09820.
    """

    def __init__(self, schedule: Schedule, base_momentum: float, max_momentum: float):
        if not isinstance(schedule, (Cyclic, OneCycle)):
            raise TypeError(
                "Argument `schedule` must be a keras_lr.schedules.Cyclic or OneCycle, "
                f"the schedules with a momentum cycle. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.base_momentum, self.max_momentum = check_momentum_bounds(base_momentum, max_momentum)

    def _rate(self, step, ops):
        return self.schedule._momentum(self.base_momentum, self.max_momentum, step, ops)

    def get_config(self):
        return {
            "schedule": _serialize(self.schedule),
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(_deserialize(config.pop("schedule")), **config)
