"""The result of a range test: the recorded curve and what is read off it.

`RangeTestResult` is the half of `LRFinder` that reads: the history table
and the curve (`RecordedCurve`), the reliability check, the suggestions and
cyclic bounds, the plots (`keras_lr.plots`, which read the curve through
`_window`, `_curve` and `_loss_change`) and the CSV.  It touches no model; it
reads what the recording callback (`_callback.RangeTestCallback`) writes into
the fields `_clear_results` sets:

- `_applied`: the rate each step applied (the ladder `rates`, unless the
  trainer took another);
- `_losses`, `_smoothed`: each step's loss and its moving average;
- `_val`: {step: validation loss};
- `diverged_at`, `stop_reason`: the step and the reason of an early stop, or None;

and the test's set-up: `rates`, `min_lr`, `max_lr`, `num_steps`, `validation_data`.

The suggestions read the smoothed loss before the stop (or, in validation
mode, every validation loss before it), trimmed by the one rule
`_suggest.window` with its defaults (the first tenth of the ladder and the
last 5 points left out); the default, "zero_lag", reads every recorded loss
before the stop and smooths it without lag itself (`_recorded_curve`).  The
plots trim the recorded curve by the same rule and defaults; since they also
draw the step at which the test stopped, and may be asked for other trims,
they shade the span the suggestions read.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from keras_lr import _io
from keras_lr import _validation as v
from keras_lr.finder import _reliability, _suggest


def too_short(method: str, curve: np.ndarray) -> str:
    return (
        f"LRFinder could not suggest a rate with method={method!r}: only "
        f"{len(curve)} usable steps before the loss diverged. Lower `min_lr` "
        "or raise `num_steps`."
    )


def unreliable_message(reason: str) -> str:
    return (
        f"LRFinder: no reliable suggestion: {reason}. `suggestion()` still answers, "
        "from a curve that shows no descent to read."
    )


class RecordedCurve:
    """The recorded arrays of a range test (see the module docstring), its
    `history` table, and the curve the suggestions and the plots read."""

    # What each suggestion's rate is, for the plot's legend.
    _labels = _suggest.LABELS

    def _clear_results(self) -> None:
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._val: dict[int, float] = {}
        self._applied = np.array(self.rates, dtype=np.float64, copy=True)
        self.diverged_at: int | None = None
        self.stop_reason: str | None = None

    @property
    def history(self):
        """DataFrame: step, lr, loss, smoothed_loss (and val_loss), per step (update)."""
        import pandas as pd

        n = len(self._losses)
        frame = {
            "step": np.arange(n, dtype=np.int64),
            "lr": self._applied[:n].copy(),
            "loss": np.asarray(self._losses, dtype=np.float64),
            "smoothed_loss": np.asarray(self._smoothed, dtype=np.float64),
        }
        if self.validation_data is not None:
            frame["val_loss"] = np.full(n, np.nan)
            steps = [k for k in self._val if k < n]
            frame["val_loss"][steps] = [self._val[k] for k in steps]
        return pd.DataFrame(frame)

    def _usable(self) -> int:
        """Steps before the stop: all of them, or those before the divergent one."""
        n = len(self._losses)
        if n == 0:
            raise ValueError("LRFinder has no results yet: run it in `fit` or use `find_lr`.")
        return n if self.diverged_at is None else self.diverged_at

    def _validation_mode(self) -> bool:
        return self.validation_data is not None and bool(self._val)

    def _window(self, end: int, skip_start: int | None = None, skip_end: int | None = None):
        """`_suggest.window` over `end` points; None takes the rule's default."""
        if skip_start is None:
            skip_start = _suggest.skip_start_default(self.num_steps)
        return _suggest.window(end, skip_start, _suggest.SKIP_END if skip_end is None else skip_end)

    def _curve(self, skip_start: int | None = None, skip_end: int | None = None):
        """(rates, curve) the suggestions read (see the module docstring)."""
        end = self._usable()
        if self._validation_mode():
            steps = np.array([k for k in sorted(self._val) if k < max(end, 1)], dtype=np.int64)
            return self._applied[steps], np.array([self._val[k] for k in steps])
        part = self._window(end, skip_start, skip_end)
        return self._applied[part], np.asarray(self._smoothed[part], dtype=np.float64)

    def _recorded_curve(self):
        """(rates, losses) the raw-loss methods read: every recorded loss before
        the stop (in validation mode, the validation losses, as `_curve`)."""
        if self._validation_mode():
            return self._curve()
        end = self._usable()
        return self._applied[:end], np.asarray(self._losses[:end], dtype=np.float64)

    def _unlagged(self):
        """(rates, losses) of `_recorded_curve` at its finite points, smoothed
        without lag as "zero_lag" reads them; empty for fewer than 3 points."""
        lrs, losses = self._recorded_curve()
        keep = np.isfinite(losses)
        if keep.sum() < 3:
            return lrs[:0], losses[:0]
        return lrs[keep], _suggest.unlagged(losses[keep])

    def _loss_change(self, skip_start: int | None = None, skip_end: int | None = None):
        """(rates, slope against log10(rate)) of the curve the suggestions read."""
        return _suggest.log_slope(*self._curve(skip_start, skip_end))


class RangeTestResult(RecordedCurve):
    """Reliability, suggestions, cyclic bounds, plots and CSV of a recorded range test."""

    default_method = "zero_lag"
    # The drop below the starting level that counts as the loss falling.
    min_drop = 0.1

    @property
    def unreliable_reason(self) -> str | None:
        """Why the test has no reliable answer, and what to change; None when it has one.

        Unreliable: the test stopped or ended within the first tenth of the
        ladder, or the loss (and, with `validation_data`, the validation loss)
        never fell clearly (a tenth, beyond its noise) below its starting
        level before the stop.  The exact rule is in
        `keras_lr.finder._reliability.unreliable_reason`.

        Raises:
            ValueError: before the test has results.
        """
        end = self._usable()
        val = [self._val[k] for k in sorted(self._val) if k < end]
        return _reliability.unreliable_reason(
            self._losses,
            self._applied,
            self.num_steps,
            end,
            diverged_at=self.diverged_at,
            stop_reason=self.stop_reason,
            val=val if self._validation_mode() else None,
            min_drop=self.min_drop,
        )

    @property
    def reliable(self) -> bool:
        """False when the test has no answer (see `unreliable_reason`).

        Raises:
            ValueError: before the test has results.
        """
        return self.unreliable_reason is None

    def _warn_unreliable(self, what: str) -> None:
        """Warns, at the caller of the public method, that `what` is unreliable."""
        reason = self.unreliable_reason
        if reason is not None:
            warnings.warn(f"LRFinder: {what} unreliable: {reason}.", stacklevel=3)

    def _suggestion(self, method: str) -> float:
        """The method's rate, clipped to [min_lr, max_lr]; NaN on too short a curve."""
        read = self._recorded_curve if method in _suggest.RAW_METHODS else self._curve
        value = getattr(_suggest, method)(*read())
        if not math.isfinite(value):
            return value
        return float(np.clip(value, self.min_lr, self.max_lr))

    def _read(self, method: str | None) -> tuple[str, float]:
        """(method, rate) of `suggestion(method)`, without its warning."""
        method = self.default_method if method is None else method
        v.one_of("method", method, _suggest.METHODS)
        value = self._suggestion(method)
        if not math.isfinite(value):
            raise ValueError(too_short(method, self._curve()[1]))
        return method, value

    def suggestion(self, method: str | None = None) -> float:
        """The suggested rate, within [min_lr, max_lr].

        `method` is "zero_lag" (default: a third of the rate at the lowest
        point of the batch loss smoothed without lag, `_suggest.zero_lag`;
        the lowest regret against a grid search in benchmark 6), "valley"
        (fastai's default, and keras_lr's before), "steepest" (the most
        negative slope against log10(rate)), "minimum" ("minimum/10": the
        rate at the minimum of the smoothed loss divided by 10) or "slide"
        (fastai's: where the slope of the smoothed loss settles, sliding in
        from the end; `_suggest.slide`).
        A rate outside the ladder is clipped to it: "minimum/10" of a curve
        lowest in its first decade would fall below `min_lr`.  When the test is
        unreliable (`reliable` is False) the rate is still returned, with a
        warning.

        Raises:
            ValueError: unknown method, no results, or a curve too short to read.
        """
        method, value = self._read(method)
        self._warn_unreliable(f"the {_suggest.LABELS[method]} suggestion {value:.3g} is")
        return value

    def suggestions(self) -> dict[str, float]:
        """Every method's suggestion (NaN where the curve is too short).

        Warns once when the test is unreliable.
        """
        out = {method: self._suggestion(method) for method in _suggest.METHODS}
        self._warn_unreliable("the suggestions are")
        return out

    def cyclic_bounds(self) -> tuple[float, float]:
        """(base_lr, max_lr) for `CyclicLR`, read off the curve as Smith describes.

        max_lr is where the loss stops falling and base_lr where it starts to
        fall, both on a zero-lag smoothing of the batch losses (or of the
        validation losses) before any divergence; base_lr is kept within
        [max_lr / 10, max_lr / 3], and both within [min_lr, max_lr] of the
        test.  Warns when the test is unreliable.
        """
        end = self._usable()
        if self._validation_mode():
            lrs, losses = self._curve()
        else:
            lrs, losses = self._applied[:end], np.asarray(self._losses[:end])
        base, high = _suggest.cyclic_bounds(lrs, losses)
        if not (math.isfinite(base) and math.isfinite(high)):
            raise ValueError(
                f"LRFinder could not read cyclic bounds: only {len(losses)} usable steps."
            )
        self._warn_unreliable("the cyclic bounds are")
        low, top = self.min_lr, self.max_lr
        return float(np.clip(base, low, top)), float(np.clip(high, low, top))

    def plot(
        self,
        ax=None,
        skip_start: int | None = None,
        skip_end: int = _suggest.SKIP_END,
        suggestion: bool = True,
    ):
        """Loss against rate (log axis) with the suggestions marked; returns the Axes.

        `skip_start` (default: the first tenth of the ladder) and `skip_end`
        trim the drawn curve by the suggestions' rule (`_suggest.window`).
        """
        from keras_lr.plots import plot_lr_finder

        return plot_lr_finder(
            self, ax=ax, skip_start=skip_start, skip_end=skip_end, suggestion=suggestion
        )

    def plot_loss_change(
        self, ax=None, skip_start: int | None = None, skip_end: int = _suggest.SKIP_END
    ):
        """Slope against log10(rate) of the curve the suggestions read; returns the Axes."""
        from keras_lr.plots import plot_loss_change

        return plot_loss_change(self, ax=ax, skip_start=skip_start, skip_end=skip_end)

    def to_csv(self, path) -> None:
        """Writes `history` to a CSV file with `keras_lr._io.write_csv`: atomically
        (a failed write leaves an existing file as it was); to stdout when `path` is None."""
        _io.write_csv(path, self.history)
