"""Plots of schedules and histories.

Each function takes data and an optional matplotlib `Axes`, draws, and returns
the `Axes`; matplotlib is imported only when a plot is asked for, and
`plt.show()` is never called.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_lr import schedules as S
from keras_lr.callbacks import ScheduleCallback


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = _new_figure(pyplot=True)
    return ax


def _rates(callback_or_schedule: Any, steps: Any, fit_info: dict) -> tuple[np.ndarray, np.ndarray]:
    arr = S._as_steps(steps)
    if isinstance(callback_or_schedule, ScheduleCallback):
        return arr, callback_or_schedule.rates(arr, **fit_info)
    # Any other callback (Keras's `LearningRateScheduler` sets a rate per epoch
    # from `schedule(epoch, lr)`, `ReduceLROnPlateau` reacts to metrics) has
    # no rate per step to preview.
    if not isinstance(callback_or_schedule, keras.callbacks.Callback) and (
        callable(callback_or_schedule) or isinstance(callback_or_schedule, S.Schedule)
    ):
        return arr, S.evaluate(callback_or_schedule, arr)
    raise TypeError(
        "Argument `callback_or_schedule` must be a keras_lr scheduling callback "
        "(a `keras_lr.ScheduleCallback`), a keras_lr schedule, a Keras "
        "`LearningRateSchedule` or a function of the step. Received: "
        f"callback_or_schedule={callback_or_schedule!r}"
    )


# The right-hand Axes that holds the momentum curves drawn over an Axes.
_MOMENTUM_AXES = "keras_lr momentum"


def _momentum_axes(ax, offset: bool = False, color: str = "C2"):
    """The momentum axis of `ax` (a twin on the right, made once per Axes).

    With `offset` its spine sits outside the right edge, clear of a second
    right-hand axis (the loss of `plot_history`).
    """
    for other in ax.figure.axes:
        if other.get_label() == _MOMENTUM_AXES and other.get_shared_x_axes().joined(ax, other):
            return other
    twin = ax.twinx()
    twin.set_label(_MOMENTUM_AXES)
    twin.set_ylabel("momentum", color=color)
    if offset:
        twin.spines["right"].set_position(("axes", 1.15))
    # Draw the returned Axes (and any legend put on it) above its twins.
    ax.set_zorder(max(a.get_zorder() for a in ax.figure.axes) + 1)
    ax.patch.set_visible(False)
    return twin


def _check_flag(momentum: Any) -> None:
    if momentum is not None and not isinstance(momentum, bool):
        raise TypeError(
            f"Argument `momentum` must be a bool or None. Received: momentum={momentum!r}"
        )


def _momentum_preview(callback: Any, arr: np.ndarray, fit_info: dict, momentum: bool | None):
    """The callback's momentum for `arr`, or None when none is to be drawn."""
    _check_flag(momentum)
    if momentum is False:
        return None
    preview = getattr(callback, "momentums", None)
    if not isinstance(callback, ScheduleCallback) or preview is None:
        if momentum:
            raise ValueError(
                "Argument `momentum` is True, but only a keras_lr scheduling callback that "
                "cycles the momentum has one to preview. Received: "
                f"callback_or_schedule={callback!r}"
            )
        return None
    try:
        return preview(arr, **fit_info)
    except ValueError:
        if momentum:
            raise
        return None  # the callback does not cycle the momentum


def plot_schedule(
    callback_or_schedule: Any,
    steps: Any,
    ax: Any = None,
    *,
    log_scale: bool = False,
    label: str | None = None,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
    momentum: bool | None = None,
    **plot_kwargs: Any,
):
    """Plots the rate against the optimizer step, without training.

    A callback that cycles the momentum (`cycle_momentum`) also gets its
    momentum preview (`callback.momentums(steps)`), dotted in the rate's
    colour, on a right-hand "momentum" axis (one per Axes, shared by later
    calls on the same Axes).

    Args:
        callback_or_schedule: a keras_lr scheduling callback, a keras_lr
            schedule, any Keras `LearningRateSchedule`, or a function of the
            step.  Other callbacks (Keras's `LearningRateScheduler`,
            `ReduceLROnPlateau`) are a `TypeError`: they have no rate per step.
        steps: an int N for steps 0..N-1, or an array of steps.
        ax: matplotlib Axes to draw on; a new figure when None.
        log_scale: logarithmic rate axis.
        label: legend label (default: the class name).
        steps_per_epoch, epochs: what `fit` would know, for callbacks that take
            their length or epoch size from `fit` (see `ScheduleCallback.rates`).
        momentum: None draws the momentum preview when the callback cycles the
            momentum; True requires it (ValueError if there is none); False
            never draws it.
        **plot_kwargs: passed to `Axes.plot` for the rate.

    Returns:
        The matplotlib `Axes` holding the rate curve (the momentum's axis is
        its twin in `ax.figure.axes`, labelled "keras_lr momentum").
    """
    fit_info = {
        k: val
        for k, val in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs))
        if val is not None
    }
    arr, rates = _rates(callback_or_schedule, steps, fit_info)
    momentums = _momentum_preview(callback_or_schedule, arr, fit_info, momentum)
    ax = _axes(ax)
    label = label or type(callback_or_schedule).__name__
    lines = ax.plot(arr, rates, label=label, **plot_kwargs)
    if momentums is not None:
        twin = _momentum_axes(ax, color="black")
        columns = np.asarray(momentums).reshape(len(arr), -1).T
        colors = [line.get_color() for line in lines]
        for i, column in enumerate(columns):
            color = colors[i % len(colors)]
            twin.plot(arr, column, ls=":", color=color, label=f"{label} momentum")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    return ax


def _columns(frame: Any, name: str) -> list[str]:
    """`name/<group>` columns of a history, or `name` alone when it has none."""
    groups = [c for c in frame.columns if str(c).startswith(name + "/")]
    return groups or ([name] if name in frame.columns else [])


def _varies(frame: Any, columns: list[str]) -> bool:
    values = frame[columns].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return values.size > 0 and float(values.max() - values.min()) > 0


def plot_history(
    history: Any, ax: Any = None, *, loss: str | None = "loss", momentum: bool | None = None
):
    """Plots a recorded history: rate per step, the loss and the momentum on right axes.

    A history with `lr/<name>` columns (a `MultiOptimizer`'s sub-optimizers)
    draws one rate curve per sub-optimizer, labelled with its name; the same
    holds for `momentum/<name>`.

    Args:
        history: a keras_lr callback (a scheduling callback,
            `LearningRateMonitor`), or its `.history` DataFrame.
        ax: matplotlib Axes to draw on; a new figure when None.
        loss: log column to draw against the right axis at each epoch's last
            step (None to leave it out; skipped when the column is absent).
        momentum: None draws the `momentum` column (dashed, on a second
            right-hand axis outside the loss's) when its values change over
            the run; True draws it whenever it is there (ValueError if it is
            not); False never.

    Returns:
        The matplotlib `Axes` holding the rate curve (the loss and momentum
        axes are its twins in `ax.figure.axes`).
    """
    import pandas as pd

    frame = history if isinstance(history, pd.DataFrame) else getattr(history, "history", None)
    if not isinstance(frame, pd.DataFrame) or not {"step", "lr"} <= set(frame.columns):
        raise TypeError(
            "Argument `history` must be a keras_lr callback or its `.history` "
            f"DataFrame with `step` and `lr` columns. Received: history={history!r}"
        )
    _check_flag(momentum)
    moms = _columns(frame, "momentum")
    if momentum and not moms:
        raise ValueError(
            "Argument `momentum` is True, but the history has no `momentum` column "
            "(its optimizer has no momentum, or it was not logged)."
        )
    ax = _axes(ax)
    rates = _columns(frame, "lr")
    for i, column in enumerate(rates):
        name = "learning rate" if column == "lr" else column.split("/", 1)[1]
        ax.plot(frame["step"], frame[column], color=f"C{(0, 4, 5, 6, 7, 8, 9)[i % 7]}", label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate", color="C0")
    ax.grid(True, alpha=0.3)
    drawn_loss = False
    if loss and loss in frame.columns:
        known = frame[["step", loss]].dropna()
        if len(known):
            twin = ax.twinx()
            twin.plot(known["step"], known[loss], "o-", color="C1", label=loss)
            twin.set_ylabel(loss, color="C1")
            # Draw the returned Axes (and any legend put on it) above the twin.
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
            drawn_loss = True
    if moms and (momentum or (momentum is None and _varies(frame, moms))):
        twin = _momentum_axes(ax, offset=drawn_loss)
        for i, column in enumerate(moms):
            name = "momentum" if column == "momentum" else f"momentum {column.split('/', 1)[1]}"
            twin.plot(frame["step"], frame[column], "--", color=f"C{(2, 3)[i % 2]}", label=name)
    return ax


def _finder_window(finder: Any, skip_start: int | None, skip_end: int | None):
    """The recorded steps a range-test plot draws: the suggestions' trimming
    rule (`keras_lr.finder._suggest.window`) over every recorded step."""
    frame = finder.history
    if len(frame) == 0:
        raise ValueError("LRFinder has no results to plot: run it first.")
    return frame.iloc[finder._window(len(frame), skip_start, skip_end)]


def plot_lr_finder(
    finder: Any,
    ax: Any = None,
    *,
    skip_start: int | None = None,
    skip_end: int = 5,
    suggestion: bool = True,
):
    """Loss against learning rate (log axis) for a finished range test.

    Draws the raw batch losses faintly, the smoothed loss (or, in validation
    mode, the validation loss) boldly, and marks each suggestion, labelled by
    what it is: "zero-lag minimum/3" (the default), "valley", "steepest",
    "minimum/10" (the rate at the minimum of the smoothed loss divided by 10)
    and "slide"; "(unreliable)" is added when the loss never fell
    (`finder.reliable` is False).  With `suggestion`, the batch losses
    smoothed without lag, which "zero-lag minimum/3" reads, are drawn too
    (thin, dashed; not in validation mode).

    The curve is trimmed by the rule the smoothed-loss suggestions use
    (`keras_lr.finder._suggest.window`): the first `skip_start` steps (default:
    the first tenth of the ladder) and the last `skip_end` are left out when
    enough steps remain.  The plot draws every recorded step, the one at which
    the test stopped too, which the suggestions leave out; with `suggestion`
    the span of rates those suggestions read is shaded.

    Returns:
        The matplotlib `Axes`.
    """
    window = _finder_window(finder, skip_start, skip_end)
    ax = _axes(ax)
    ax.plot(window["lr"], window["loss"], color="C0", alpha=0.25, lw=1, label="batch loss")
    ax.plot(window["lr"], window["smoothed_loss"], color="C0", lw=2, label="smoothed loss")
    if "val_loss" in window.columns:
        val = window[["lr", "val_loss"]].dropna()
        ax.plot(val["lr"], val["val_loss"], "o-", color="C2", ms=3, label="validation loss")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    smoothed = window["smoothed_loss"].to_numpy()
    raw = window["loss"].to_numpy()
    if np.isfinite(smoothed).any():
        # Show every raw low, but clip the raw blow-up above the smoothed curve.
        low = float(np.nanmin(np.where(np.isfinite(raw), raw, np.nan).tolist() + list(smoothed)))
        high = float(np.nanmax(np.where(np.isfinite(smoothed), smoothed, np.nan)))
        pad = 0.05 * (high - low or abs(high) or 1.0)
        ax.set_ylim(low - pad, high + pad)
    if suggestion:
        import warnings

        unlagged = finder._unlagged()
        if not finder._validation_mode() and len(unlagged[0]):
            ax.plot(*unlagged, color="C1", ls="--", lw=1, label="loss smoothed without lag")
        read = finder._curve()[0]
        if len(read):
            ax.axvspan(
                read[0], read[-1], color="0.5", alpha=0.12, lw=0, label="read by suggestions"
            )
        with warnings.catch_warnings():
            # An unreliable test is said so in the legend, not by a warning.
            warnings.simplefilter("ignore")
            found = finder.suggestions()
        note = "" if getattr(finder, "reliable", True) else " (unreliable)"
        for i, (method, rate) in enumerate(found.items()):
            if np.isfinite(rate):
                label = f"{finder._labels.get(method, method)}: {rate:.2g}{note}"
                ax.axvline(rate, color=f"C{i + 3}", ls="--", lw=1, label=label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_loss_change(
    finder: Any, ax: Any = None, *, skip_start: int | None = None, skip_end: int = 5
):
    """Slope against log10(learning rate) of the curve the suggestions read.

    That curve is the smoothed loss before the stop (in validation mode, the
    validation loss), trimmed as in `plot_lr_finder`
    (`keras_lr.finder._suggest.window`; the slope is `_suggest.log_slope`).
    With the default trim its most negative point is the "steepest" suggestion.

    Returns:
        The matplotlib `Axes`.
    """
    lrs, slope = finder._loss_change(skip_start, skip_end)
    ax = _axes(ax)
    if len(slope):
        ax.plot(lrs, slope, color="C1")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("d loss / d log10(lr)")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def _new_figure(figsize=(6, 3.5), nrows: int = 1, ncols: int = 1, *, pyplot: bool = False):
    """A figure with constrained layout and its Axes: the one figure factory of keras_lr.

    With `pyplot=False` (files written by the command line) the figure is built
    from `matplotlib.figure.Figure`: no GUI backend, no global state, nothing to
    close.  The plot functions pass `pyplot=True` when they make a figure of
    their own, so that a notebook or `plt.show()` displays it.

    Returns:
        (figure, axes): `axes` as `Figure.subplots` gives it, one `Axes` for
        1 x 1 and an array otherwise.
    """
    if pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained")
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols)
