"""What `fit` tells a schedule (lengths in optimizer updates), and the lengths
a callback reads from it: steps per epoch, the steps after the warm-up, the
steps a table must cover.  Each says why when `fit` cannot know it."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_lr import _compat, _rate
from keras_lr import _validation as v
from keras_lr import schedules as S


@dataclasses.dataclass(frozen=True)
class FitContext:
    """What a schedule may take from `fit`: all optional outside of `fit`."""

    steps_per_epoch: int | None = None
    epochs: int | None = None
    start_step: int = 0
    horizon: int | None = None  # steps a table-based schedule must cover
    # Why `steps_per_epoch` is None although `fit` knows its batches: the
    # epochs do not hold a whole number of steps as the schedules count them.
    unknown_reason: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        v.optional_positive_int("steps_per_epoch", self.steps_per_epoch)
        v.optional_positive_int("epochs", self.epochs)
        v.nonnegative_int("start_step", self.start_step)
        v.optional_positive_int("horizon", self.horizon)

    @property
    def total_steps(self) -> int | None:
        if self.steps_per_epoch is None or self.epochs is None:
            return None
        return self.steps_per_epoch * self.epochs


def fit_context(model: Any, params: dict | None, start: int) -> FitContext:
    """What `fit` tells a schedule, counted in optimizer updates.

    Keras's `params["steps"]` counts batches.  With
    `gradient_accumulation_steps=N` an epoch holds steps / N updates, and is
    unknown when N does not divide it (an update would straddle two epochs).
    With `steps_per_execution=K`, Keras runs whole executions: an epoch of
    `steps_per_epoch` batches that K does not divide runs more steps than it
    says on data that does not end there, so it is unknown too.  A callback
    that needs the length of an epoch then refuses before the first step.
    """
    params = params or {}
    batches = params.get("steps")
    epochs = params.get("epochs")
    optimizers = _rate.optimizers_of(model, "fit")
    accumulation = _rate.accumulation_steps(optimizers[0])
    execution = _compat.steps_per_execution(model)
    spe, reason = None, None
    if batches is not None:
        if accumulation > 1 and batches % accumulation:
            reason = (
                f"an epoch of {batches} batches with gradient_accumulation_steps="
                f"{accumulation} ends inside an optimizer update, and keras_lr counts "
                "steps in updates. Train epochs of a multiple of "
                f"{accumulation} batches (`steps_per_epoch=` in `fit`, or the batch "
                "size), or give the callback its lengths in steps."
            )
        elif execution > 1 and batches % execution:
            reason = (
                f"steps_per_epoch={batches} is not a multiple of steps_per_execution="
                f"{execution}: Keras runs whole executions, so an epoch runs "
                f"{-(-batches // execution) * execution} steps whenever the data goes on "
                "past it. Use a steps_per_epoch (or a number of batches) that is a "
                "multiple of steps_per_execution, or compile with a steps_per_execution "
                f"that divides {batches}."
            )
        else:
            spe = batches // accumulation
    horizon = None
    if spe is not None and epochs is not None:
        # The steps of this run: up to the last epoch `fit` plans.
        horizon = spe * epochs if start < spe * epochs else start + spe
    return FitContext(spe, epochs, start, horizon, unknown_reason=reason)


def preview_context(
    last: FitContext | None, steps: Any, steps_per_epoch: Any, epochs: Any
) -> tuple[FitContext, np.ndarray]:
    """The context and steps of a preview: the arguments, else the last fit's."""
    last = last or FitContext()
    spe = v.optional_positive_int("steps_per_epoch", steps_per_epoch)
    ep = v.optional_positive_int("epochs", epochs)
    context = FitContext(
        steps_per_epoch=spe if spe is not None else last.steps_per_epoch,
        epochs=ep if ep is not None else last.epochs,
    )
    if steps is None:
        if context.total_steps is None:
            raise ValueError(
                "Argument `steps` is needed: pass a count or an array of steps, "
                "or `steps_per_epoch` and `epochs`."
            )
        steps = context.total_steps
    arr = S._as_steps(steps)
    horizon = int(arr.max()) + 1 if arr.size else 1
    return dataclasses.replace(context, horizon=horizon), arr


def _known(count: int | None, context: FitContext, needs: str, unknown: str) -> int:
    """`count` if the fit knows it (not None), else a ValueError.

    The message is "{needs}, but {the reason the fit gave}", or `unknown` when
    the fit gave no reason.
    """
    if count is None and context.unknown_reason:
        raise ValueError(f"{needs}, but {context.unknown_reason}")
    if count is None:
        raise ValueError(unknown)
    return count


def steps_per_epoch(owner: str, context: FitContext, given: int | None) -> int:
    """`given`, or the steps per epoch of `fit`."""
    if given is not None:
        return given
    return _known(
        context.steps_per_epoch,
        context,
        f"{owner} counts epochs",
        f"{owner} counts epochs but the number of steps per "
        "epoch is unknown: in `fit`, the data has no length; in a preview, "
        "no fit has run yet. Pass `steps_per_epoch=` to the callback, to "
        "`.rates()` / `plot_schedule()`, or to `fit`.",
    )


def total_steps(owner: str, context: FitContext, given: int | None, name: str, warmup: int) -> int:
    """`given`, or all steps of `fit` after the `warmup` steps."""
    if given is not None:
        return given
    all_steps = _known(
        context.total_steps,
        context,
        f"{owner} takes `{name}` from `fit`",
        f"{owner} needs `{name}`: pass it; or, for a preview, "
        "pass `steps_per_epoch=` and `epochs=` to `.rates()` / "
        "`plot_schedule()`; in `fit`, train with data of known length so "
        "that `fit` knows epochs x steps per epoch.",
    )
    total = all_steps - warmup
    if total < 1:
        raise ValueError(
            f"Argument `warmup_steps` leaves no step for the schedule: "
            f"warmup_steps={warmup} but fit runs "
            f"{context.total_steps} steps in all."
        )
    return total


def warmup_steps(
    owner: str, value: int | float, context: FitContext, total: int | None = None
) -> int:
    """`value` in steps: a fraction f of the fit's steps (or of `total`) is ceil(f * steps)."""
    if not isinstance(value, float):
        return value
    steps = total if total is not None else context.total_steps
    count = _known(
        steps,
        context,
        f"{owner} takes `warmup_steps={value!r}` as a fraction of the fit's steps",
        f"{owner} takes `warmup_steps={value!r}` as a fraction of the fit's steps, but "
        "their number is unknown: in `fit`, train with data of known length; in a "
        "preview, pass `steps_per_epoch=` and `epochs=` to `.rates()` / "
        "`plot_schedule()`; or give `warmup_steps` in steps.",
    )
    return v.of_run(value, count)


def horizon(owner: str, context: FitContext, what: str) -> int:
    """The steps a table must cover, or a ValueError saying why they are unknown."""
    return _known(
        context.horizon or context.total_steps,
        context,
        f"{owner} {what}",
        f"{owner} {what}, but the length of the fit is unknown: train with data of known "
        "length or pass `steps_per_epoch` to `fit`.",
    )
