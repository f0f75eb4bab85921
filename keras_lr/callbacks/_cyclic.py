"""Cycles per optimizer step: CLR, SGDR's warm restarts and the 1cycle policy."""

from __future__ import annotations

import functools

from keras_lr import schedules as S
from keras_lr.callbacks import _context
from keras_lr.callbacks._base import ScheduleCallback
from keras_lr.callbacks._spec import ScheduleSpec

__all__ = ["CyclicLR", "OneCycleLR", "SGDRScheduler"]


class CyclicLR(ScheduleCallback):
    """Cyclical learning rate (Smith 2017), per optimizer step.

    cycle = floor(1 + i / (2 step_size)), x = |i / step_size - 2 cycle + 1|,
    lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale, with scale 1
    ("triangular"), 1/2^(cycle-1) ("triangular2"), gamma^i ("exp_range") or
    `scale_fn`.  `step_size_down` makes the cycle asymmetric as in PyTorch's
    `CyclicLR` (whose rates this reproduces exactly).  Smith suggests a
    `step_size` of 2-10 epochs' worth of steps.

    With `cycle_momentum=True` the momentum cycles opposite to the rate, as
    PyTorch's: m = max_momentum - (max_momentum - base_momentum) * frac * scale
    (`schedules.Momentum`).  Unlike PyTorch, the default is False: the CLR
    paper and the classic Keras callback cycle no momentum.

    Example:
        >>> import keras_lr
        >>> keras_lr.CyclicLR(base_lr=1.0, max_lr=5.0, step_size=4).rates(9).tolist()
        [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0]

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017, arXiv:1506.01186.
    """

    spec = ScheduleSpec(
        S.Cyclic,
        momentum=(False, 0.8, 0.9),
        docs={
            "scale_fn": "custom scale of one argument (cycle, 1-based, or step with "
            '`scale_mode="iterations"`), or None for `mode`.  Written with operators or '
            "`keras.ops` it runs in the compiled step; written with NumPy (the classic "
            "`lambda x: 0.5 * (1 + np.sin(x * np.pi / 2.))`) it is evaluated ahead of "
            "training for every cycle (or step) the fit reaches and looked up per "
            "step.  A `keras_lr` schedule is evaluated at the integer cycle or step.",
        },
    )

    @classmethod
    def _check_arguments(cls, values):
        # A NumPy scale_fn cannot run in the compiled step: build() tabulates it.
        fn = values["scale_fn"]
        if fn is not None and S._scale_fn_kind(fn) == "numpy":
            return dict(super()._check_arguments({**values, "scale_fn": None}), scale_fn=fn)
        return super()._check_arguments(values)

    @functools.cached_property
    def _tabulates(self) -> bool:
        return self.scale_fn is not None and S._scale_fn_kind(self.scale_fn) == "numpy"

    def build(self, context):
        if not self._tabulates:
            return super().build(context)
        horizon = _context.horizon(
            type(self).__name__,
            context,
            "tabulates the NumPy `scale_fn` over the steps of the fit (or write "
            "`scale_fn` with operators or `keras.ops`, which needs no table)",
        )
        return self.spec.build(self, context, scale_fn=None)._tabulated(self.scale_fn, horizon)


class SGDRScheduler(ScheduleCallback):
    """Cosine annealing with warm restarts (Loshchilov & Hutter), per step.

    A cycle anneals from its peak to `min_lr` over `cycle_length` epochs with a
    cosine; at each restart the peak is multiplied by `lr_decay` and the next
    cycle lasts ceil(previous * mult_factor) epochs (fractional factors work).
    After `cycle_limit` cycles (None: no limit) the rate holds `min_lr`, as
    timm's `CosineLRScheduler(cycle_limit=...)`.  The arguments after the two
    bounds are keyword-only.

    Example:
        >>> import keras_lr
        >>> sgdr = keras_lr.SGDRScheduler(0.0, 1.0, cycle_length=1, mult_factor=1.0)
        >>> sgdr.rates(4, steps_per_epoch=2).tolist()
        [1.0, 0.5, 1.0, 0.5]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, arXiv:1608.03983.
    """

    spec = ScheduleSpec(
        S.CosineRestarts,
        names={"steps_per_epoch": "steps_per_unit"},
        from_fit=("steps_per_epoch",),
        order=(
            "min_lr",
            "max_lr",
            "steps_per_epoch",
            "lr_decay",
            "cycle_length",
            "mult_factor",
            "cycle_limit",
        ),
        keyword_only="steps_per_epoch",
        added_keywords=("cycle_limit",),
        in_epochs=("cycle_length",),
        docs={
            "steps_per_epoch": "steps per epoch, the unit of `cycle_length`, a positive integer.",
            "cycle_length": "epochs in the first cycle, a positive integer (the classic "
            "SGDR callback's unit; `schedules.CosineRestarts` counts it in units of "
            "`steps_per_unit` steps).",
            "mult_factor": "growth of the cycle length (in epochs) at each restart, >= 1.",
        },
    )


class OneCycleLR(ScheduleCallback):
    """The 1cycle policy, with exactly PyTorch's `OneCycleLR` rates.

    Rises from max_lr / div_factor to max_lr over pct_start of the steps, then
    anneals to max_lr / (div_factor * final_div_factor) (cosine or linear);
    `three_phase` comes back down to the initial rate before the final anneal.
    Its arguments are PyTorch's.

    The momentum cycles opposite to the rate, with PyTorch's phases: from
    `max_momentum` down to `base_momentum` while the rate rises, back while
    it falls (`schedules.Momentum`).  By default (`cycle_momentum=None`) it
    cycles when the optimizer has a momentum in use (SGD with momentum > 0,
    or a `beta_1`), and leaves a plain SGD with momentum=0 alone, where
    PyTorch would refuse it.

    Example:
        >>> import keras_lr
        >>> cb = keras_lr.OneCycleLR(1.0, total_steps=10, anneal_strategy="linear")
        >>> cb.rates(10).round(3).tolist()
        [0.04, 0.52, 1.0, 0.857, 0.714, 0.571, 0.429, 0.286, 0.143, 0.0]

    References:
        Smith & Topin, "Super-Convergence", arXiv:1708.07120.
    """

    spec = ScheduleSpec(S.OneCycle, from_fit=("total_steps",), momentum=(None, 0.85, 0.95))
