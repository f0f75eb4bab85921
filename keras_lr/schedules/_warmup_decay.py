"""The warm-up-then-decay schedules of large-model training: warmup-stable-decay
and the inverse square root."""

from __future__ import annotations

import math

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, _register

WARMUP_SHAPES = ("linear", "cosine", "1-sqrt", "exponential")
DECAY_SHAPES = ("linear", "cosine", "1-sqrt")


def _warmup_fraction(shape: str, p, ops):
    """How far a warm-up has risen at progress p (Hugging Face's `warmup_type`)."""
    if shape == "cosine":
        return 0.5 * (1.0 - ops.cos(math.pi * p))
    if shape == "1-sqrt":
        return 1.0 - ops.sqrt(1.0 - p)
    return p


def _decay_factor(shape: str, p, ops):
    """What is left of the rate at decay progress p (Hugging Face's `decay_type`)."""
    if shape == "cosine":
        return 0.5 * (1.0 + ops.cos(math.pi * p))
    if shape == "1-sqrt":
        return 1.0 - ops.sqrt(p)
    return 1.0 - p


def _optional_step(name: str, value):
    return None if value is None else v.nonnegative_int(name, value)


def _check_wsd(args: dict) -> dict:
    """WarmupStableDecay's arguments checked and normalised."""
    out = {
        "max_lr": v.positive_float("max_lr", args["max_lr"]),
        "warmup_steps": v.steps_or_fraction("warmup_steps", args["warmup_steps"]),
        "decay_steps": v.steps_or_fraction("decay_steps", args["decay_steps"]),
        "total_steps": v.optional_positive_int("total_steps", args["total_steps"]),
        "warmup_shape": v.one_of("warmup_shape", args["warmup_shape"], WARMUP_SHAPES),
        "decay_shape": v.one_of("decay_shape", args["decay_shape"], DECAY_SHAPES),
        "min_lr": v.nonnegative_float("min_lr", args["min_lr"]),
        "decay_start": _optional_step("decay_start", args["decay_start"]),
    }
    v.at_most("min_lr", args["min_lr"], "max_lr", args["max_lr"])
    if out["warmup_shape"] == "exponential" and out["min_lr"] == 0.0:
        raise ValueError(
            "Argument `min_lr` must be positive for an exponential warm-up, which "
            "rises geometrically from min_lr. Received: min_lr=0.0"
        )
    total = out["total_steps"]
    if total is None and isinstance(out["warmup_steps"], float):
        raise ValueError(
            "Argument `warmup_steps` is a fraction of `total_steps`, which is None: "
            f"give `total_steps` or a number of steps. Received: "
            f"warmup_steps={args['warmup_steps']!r}"
        )
    if total is not None:
        warm = v.of_run(out["warmup_steps"], total)
        decay = v.of_run(out["decay_steps"], total)
        if warm + decay > total:
            raise ValueError(
                "Arguments `warmup_steps` and `decay_steps` leave no stable phase: "
                f"{warm} + {decay} steps exceed total_steps={total}. Received: "
                f"warmup_steps={args['warmup_steps']!r}, "
                f"decay_steps={args['decay_steps']!r}"
            )
    return out


def _phases(warmup, decay, total, start) -> tuple[int, int | None, int | None]:
    """(W, D, the decay's first step) in steps; D and the start None while unplanned."""
    if total is not None:
        warm, decay = v.of_run(warmup, total), v.of_run(decay, total)
        begin = total - decay
        if start is not None:
            begin = min(begin, max(start, warm))
        return warm, decay, begin
    if start is None:
        return warmup, None, None
    begin = max(start, warmup)
    if isinstance(decay, float):  # the fraction of the run that ends with the decay
        decay = v.ceil_product(begin, decay / (1.0 - decay))
    return warmup, decay, begin


@_register
class WarmupStableDecay(Schedule):
    """Warmup-stable-decay (WSD): a warm-up, a long constant phase, a short cool-down.

    Exactly Hugging Face's `get_wsd_schedule` times `max_lr`, with
    r = min_lr / max_lr (its `min_lr_ratio`), W warm-up, D decay and
    S = T - W - D stable steps of T = `total_steps`:

        i < W:            lr = max_lr * (r + (1 - r) * warm(i / W))
        W <= i < W + S:   lr = max_lr
        W + S <= i < T:   lr = max_lr * (r + (1 - r) * decay((i - W - S) / D))
        i >= T:           lr = min_lr

    warm(p) is p ("linear"), (1 - cos(pi p)) / 2 ("cosine") or 1 - sqrt(1 - p)
    ("1-sqrt"); "exponential" rises geometrically from min_lr (> 0) instead.
    decay(p) is 1 - p, (1 + cos(pi p)) / 2 or 1 - sqrt(p) ("1-sqrt", the
    cool-down of Hägele et al.).  With `total_steps` None the rate stays at
    `max_lr` after the warm-up until `decay_start`, then decays over D steps:
    for runs whose length is not known in advance.

    Args:
        max_lr: the rate of the stable phase, > 0.
        warmup_steps: W, warm-up steps (an integer >= 0) or a fraction of
            `total_steps` (a float in (0, 1), ceil(f * T) steps).
        decay_steps: D, cool-down steps, or a fraction of `total_steps` (the
            default, 0.1, is the last tenth).  With `total_steps` None and a
            fraction f, the decay started at step s is that fraction of the
            run it ends: D = ceil(f * s / (1 - f)).
        total_steps: T, the length of the run, a positive integer, or None
            (no planned end: the decay starts at `decay_start`).
        warmup_shape: "linear", "cosine", "1-sqrt" or "exponential".
        decay_shape: "linear", "cosine" or "1-sqrt".
        min_lr: the rate the warm-up starts from and the decay ends at, in
            [0, max_lr].
        decay_start: the step at which the decay starts when it comes earlier
            than planned (`keras_lr.WarmupStableDecay.start_decay()` sets it),
            or None; never before the warm-up's end.

    Example:
        >>> from keras_lr import schedules as S
        >>> sched = S.WarmupStableDecay(1.0, warmup_steps=2, decay_steps=2, total_steps=8,
        ...                             decay_shape="linear")
        >>> sched.numpy(9).tolist()
        [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]

    References:
        Hägele et al., "Scaling Laws and Compute-Optimal Training Beyond Fixed
        Training Durations", NeurIPS 2024, arXiv:2405.18392; Hu et al.,
        "MiniCPM", arXiv:2404.06395.
    """

    def __init__(
        self,
        max_lr: float,
        warmup_steps: int | float = 0,
        decay_steps: int | float = 0.1,
        total_steps: int | None = None,
        warmup_shape: str = "linear",
        decay_shape: str = "1-sqrt",
        min_lr: float = 0.0,
        *,
        decay_start: int | None = None,
    ):
        self._store(
            max_lr=max_lr,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            total_steps=total_steps,
            warmup_shape=warmup_shape,
            decay_shape=decay_shape,
            min_lr=min_lr,
            decay_start=decay_start,
        )
        self._warmup, self._decay, self._decay_begin = self.phases()

    @classmethod
    def _check(cls, args):
        return _check_wsd(args)

    def phases(self) -> tuple[int, int | None, int | None]:
        """(W, D, the decay's first step) in steps; D and the start None while unplanned."""
        return _phases(self.warmup_steps, self.decay_steps, self.total_steps, self.decay_start)

    def resolve(self, total_steps: int) -> Schedule:
        total = v.positive_int("total_steps", total_steps)
        if self.total_steps is not None:
            return self
        return WarmupStableDecay(**dict(self.get_config(), total_steps=total))

    def _rate(self, step, ops):
        warm, decay, begin = self._warmup, self._decay, self._decay_begin
        ratio = self.min_lr / self.max_lr
        out = ops.to_float(step) * 0.0 + self.max_lr
        if begin is not None:
            if decay:
                # No int32 sum past the step counter: a decay may start near its end.
                p = ops.minimum(ops.to_float(ops.maximum(step - begin, 0)) / decay, 1.0)
                value = self.max_lr * (
                    ratio + (1.0 - ratio) * _decay_factor(self.decay_shape, p, ops)
                )
                out = ops.where(step >= begin, value, out)
            if begin + decay <= v.MAX_STEP:
                after = ops.to_float(step) * 0.0 + self.min_lr
                out = ops.where(step >= begin + decay, after, out)
        if warm:
            p = ops.to_float(ops.minimum(step, warm)) / warm
            if self.warmup_shape == "exponential":
                rise = self.min_lr * ops.exp(math.log(self.max_lr / self.min_lr) * p)
            else:
                rise = self.max_lr * (
                    ratio + (1.0 - ratio) * _warmup_fraction(self.warmup_shape, p, ops)
                )
            out = ops.where(step < warm, rise, out)
        return out

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "total_steps": self.total_steps,
            "warmup_shape": self.warmup_shape,
            "decay_shape": self.decay_shape,
            "min_lr": self.min_lr,
            "decay_start": self.decay_start,
        }


@_register
class InverseSqrt(Schedule):
    """Linear warm-up, then decay with the inverse square root of the step.

    Exactly Hugging Face's `get_inverse_sqrt_schedule` times `max_lr`, with
    W = `warmup_steps` and t = `timescale`:

        i < W:    lr = max_lr * i / W
        i >= W:   lr = max_lr / sqrt((i + t - W) / t)

    so the rate is max_lr at step W and halves every time i + t - W
    quadruples (the "Noam" schedule of the Transformer, Vaswani et al. 2017).

    Args:
        max_lr: the rate at the end of the warm-up, > 0.
        warmup_steps: W, a non-negative integer.
        timescale: t, a positive integer; None takes W, or 10,000 when W = 0
            (as Hugging Face).

    Example:
        >>> from keras_lr import schedules as S
        >>> S.InverseSqrt(1.0, warmup_steps=2).numpy([0, 1, 2, 8]).tolist()
        [0.0, 0.5, 1.0, 0.5]
    """

    def __init__(self, max_lr: float, warmup_steps: int, timescale: int | None = None):
        self._store(max_lr=max_lr, warmup_steps=warmup_steps, timescale=timescale)

    @classmethod
    def _check(cls, args):
        return {
            "max_lr": v.positive_float("max_lr", args["max_lr"]),
            "warmup_steps": v.nonnegative_int("warmup_steps", args["warmup_steps"]),
            "timescale": v.optional_positive_int("timescale", args["timescale"]),
        }

    @property
    def effective_timescale(self) -> int:
        """t: `timescale`, or its default (W, or 10,000 when W = 0)."""
        return self.timescale if self.timescale is not None else (self.warmup_steps or 10_000)

    def _rate(self, step, ops):
        warm, t = self.warmup_steps, self.effective_timescale
        # In float: the int32 sum step + t - W would wrap near the end of the step counter.
        decay = self.max_lr / ops.sqrt((ops.to_float(ops.maximum(step, warm) - warm) + t) / t)
        if not warm:
            return decay
        rise = self.max_lr * ops.to_float(ops.minimum(step, warm)) / warm
        return ops.where(step < warm, rise, decay)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "warmup_steps": self.warmup_steps,
            "timescale": self.timescale,
        }
