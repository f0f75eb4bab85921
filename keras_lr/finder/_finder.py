"""The learning-rate range test (Smith 2017; fastai's lr_find).

`LRFinder` is a callback: for `num_steps` optimizer steps (updates) it trains
at a ladder of rates from `min_lr` to `max_lr`, records the true loss of every
step, stops when the loss diverges or the ladder ends, and puts the model
back exactly as it found it.  `find_lr` runs it on data in one call.

Under `gradient_accumulation_steps=N` one step of the ladder (a rung) is one
update, N batches: the rung's rate is set for all N batches and applied by
the update at the last of them, and the rung's loss is the mean of its N
batch losses (the loss of the accumulated batch).

The test reads the loss of every batch, so it works per batch by nature; the
per-step host work is kept to a read of the loss and one write of the rate and
the cleared loss mean (`_compat.StepWriter`: the backend's own variable write
on TensorFlow, the step's in-flight state on JAX), with every per-step value
made before the test starts.  An optimizer with a float rate keeps its
compiled train step (no recompilation per test); an optimizer driven by a
schedule gets the ladder as an in-graph `schedules.Table` for the test.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _rate
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr._io import atomic_write
from keras_lr.finder import _restore, _suggest

__all__ = ["LRFinder", "find_lr"]


def ladder(min_lr: float, max_lr: float, num_steps: int, mode: str) -> np.ndarray:
    """The rates of the range test, both ends included.

    exponential: min_lr * (max_lr / min_lr)^(i / (n - 1));  linear: evenly spaced.
    """
    i = np.arange(num_steps, dtype=np.float64)
    if mode == "exponential":
        out = min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))
    else:
        out = min_lr + (max_lr - min_lr) * i / (num_steps - 1)
    out[0], out[-1] = min_lr, max_lr
    return out


class LRFinder(keras.callbacks.Callback):
    """Learning-rate range test as a callback for `model.fit`.

    For steps k = 0..num_steps-1 of the fit, the optimizer trains at exactly

        exponential: lr_k = min_lr * (max_lr / min_lr)^(k / (num_steps - 1))
        linear:      lr_k = min_lr + (max_lr - min_lr) * k / (num_steps - 1)

    and the true loss of each step is recorded (not the running mean Keras
    logs), with an exponential moving average (bias-corrected) as
    `smoothed_loss`.  A step is one optimizer update: under
    `gradient_accumulation_steps=N` it is N batches, all at lr_k, and its loss
    is the mean of their N batch losses, so the test runs num_steps * N
    batches.  The test stops when the ladder ends, when the smoothed loss
    exceeds `divergence_threshold` times its best value (best + (threshold - 1)
    * |best| for objectives that go negative), or when the loss is not finite;
    training stops with it.  With `restore=True`, at train end every
    model weight (non-trainable ones too, e.g. BatchNorm statistics), every
    optimizer variable (moments, `iterations`, gradient accumulators) and the
    learning rate are put back bit for bit, in memory.

    `on_train_end` does not run when `fit` raises; use `find_lr`, or the finder
    as a context manager, to restore in every case:

        with keras_lr.LRFinder() as finder:
            model.fit(x, y, epochs=5, callbacks=[finder])

    A restore that is itself interrupted (a second Ctrl-C) keeps the saved
    copy: call `restore_model()` again to finish it.

    The finder drives the optimizer's rate for the fit: another keras_lr
    scheduling callback in the same `fit` raises a `ValueError` before training.

    **When the test has no answer.** Writing w = max(3, num_steps // 10) (the
    first tenth of the ladder), the test is *unreliable* (`reliable` is False)
    when

    - it stopped (diverged, or the loss was not finite) or ended before step w;
    - or the loss never falls: with W = max(3, num_steps // 5), L0 the mean
      log loss of steps 0..W-1 and s the noise of one step's log loss
      (median |log loss_(k+1) - log loss_k| / 0.954, before the stop), no mean
      of the log losses of W consecutive steps before the stop is below
      L0 - max(-log(0.9), 2 * s * sqrt(2 / W)): the loss never drops clearly
      below its starting level, that is by a tenth and by more than twice the
      noise of the difference of two such means.  Losses that are not all positive are compared as they
      are, the drop being 0.1 * |L0| (`keras_lr.finder._suggest.falls`).  With
      `validation_data`, some validation loss must also be a tenth below the
      first one.

    That is what an already-trained model gives, or a ladder that starts where
    the loss already diverges.  The test then warns at its end with what to
    change, the summary line says there is no reliable suggestion, and
    `suggestion()` still answers but warns.  A short or very noisy test (a
    few dozen steps of small batches) can hide a real descent the same way:
    raise `num_steps` or the batch size.

    Args:
        min_lr: first rate of the ladder, > 0.
        max_lr: last rate of the ladder, > min_lr.
        num_steps: steps (optimizer updates) of the test, >= 2.
        mode: "exponential" or "linear" spacing.
        smoothing: beta of the moving average, in [0, 1).
        divergence_threshold: stop when smoothed loss > threshold * best, > 1.
        stop_on_divergence: stop at divergence (else run the whole ladder).
        restore: put the model back at train end.
        verbose: 1 shows a progress bar and a summary line, 0 is silent.
        validation_data: optional (x, y) of a small fixed validation subset;
            its loss is recorded every `validation_every` steps as `val_loss`
            and the suggestions then read that curve (Smith's variant).  Data
            has no place in a config: `get_config()` leaves it out.
        validation_every: steps between validation losses.

    Attributes:
        history: DataFrame with `step`, `lr`, `loss`, `smoothed_loss`
            (and `val_loss`), one row per step (update) of the test, `lr`
            being the rate that update applied.
        diverged_at: the step at which the test stopped on divergence, or None.
        reliable: False when the test has no answer (see above).
        unreliable_reason: why, or None.

    Example:
        >>> finder = keras_lr.LRFinder(num_steps=200, verbose=0)     # doctest: +SKIP
        >>> with finder:                                              # doctest: +SKIP
        ...     model.fit(x, y, epochs=10, callbacks=[finder])
        >>> finder.suggestion(), finder.reliable                      # doctest: +SKIP

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017, arXiv:1506.01186, section 3.3.
    """

    # The drop below the starting level that counts as the loss falling.
    min_drop = 0.1

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        mode: str = "exponential",
        smoothing: float = 0.98,
        divergence_threshold: float = 4.0,
        stop_on_divergence: bool = True,
        restore: bool = True,
        verbose: int = 1,
        *,
        validation_data: Any = None,
        validation_every: int = 1,
    ):
        super().__init__()
        self.min_lr = v.positive_float("min_lr", min_lr)
        self.max_lr = v.positive_float("max_lr", max_lr)
        if self.min_lr >= self.max_lr:
            raise ValueError(
                "Argument `min_lr` must be smaller than `max_lr`. "
                f"Received: min_lr={min_lr!r}, max_lr={max_lr!r}"
            )
        self.num_steps = v.integer("num_steps", num_steps)
        if self.num_steps < 2:
            raise ValueError(
                f"Argument `num_steps` must be at least 2. Received: num_steps={num_steps!r}"
            )
        self.mode = v.one_of("mode", mode, ("exponential", "linear"))
        self.smoothing = v.float_in("smoothing", smoothing, 0.0, 1.0, high_open=True)
        self.divergence_threshold = v.real("divergence_threshold", divergence_threshold)
        if self.divergence_threshold <= 1.0:
            raise ValueError(
                "Argument `divergence_threshold` must be greater than 1. "
                f"Received: divergence_threshold={divergence_threshold!r}"
            )
        for name, flag in (("stop_on_divergence", stop_on_divergence), ("restore", restore)):
            if not isinstance(flag, bool):
                raise TypeError(f"Argument `{name}` must be a bool. Received: {name}={flag!r}")
        self.stop_on_divergence = stop_on_divergence
        self.restore = restore
        self.verbose = v.nonnegative_int("verbose", verbose)
        if validation_data is not None and (
            not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3)
        ):
            raise TypeError(
                "Argument `validation_data` must be a tuple (x, y) or (x, y, sample_weight). "
                f"Received: validation_data of type {type(validation_data).__name__}"
            )
        self.validation_data = validation_data
        self.validation_every = v.positive_int("validation_every", validation_every)
        self.rates = ladder(self.min_lr, self.max_lr, self.num_steps, self.mode)
        self._reset()

    def get_config(self) -> dict:
        """The constructor's arguments, except `validation_data` (data, not configuration)."""
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "smoothing": self.smoothing,
            "divergence_threshold": self.divergence_threshold,
            "stop_on_divergence": self.stop_on_divergence,
            "restore": self.restore,
            "verbose": self.verbose,
            "validation_every": self.validation_every,
        }

    @classmethod
    def from_config(cls, config: dict) -> LRFinder:
        """A new finder from `get_config()`; pass `validation_data` in `config` to add it."""
        return cls(**config)

    def _reset(self):
        self._losses: list[float] = []
        self._val: dict[int, float] = {}
        self._avg = 0.0
        self._best = math.inf
        self._smoothed: list[float] = []
        self.diverged_at: int | None = None
        self.stop_reason: str | None = None
        self._snapshot: _restore.Snapshot | None = None
        self._writer: _compat.StepWriter | None = None
        self._rate_tensors: list = []
        self._reset_tensors: list = []
        self._wrote_in_flight = False
        self._in_flight_checked = False
        self._applied = self.rates.copy()
        self._progbar = None
        self._start_time = 0.0
        self._done = False
        # Gradient accumulation: N batches per step, the batches the optimizer
        # had already accumulated when the test began, the test's batches so
        # far and the losses of the step under way.
        self._accumulation = 1
        self._phase = 0
        self._batches = 0
        self._pending: list[float] = []

    # -- context manager: restore even when fit raises ---------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.restore_model()
        return False

    # -- Keras hooks -------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        optimizers = _rate.optimizers_of(model, "LRFinder")
        if getattr(model, "steps_per_execution", 1) != 1:
            raise ValueError(
                "LRFinder records the loss of every step, which Keras reports only "
                "once per execution: compile with `steps_per_execution=1` (or use "
                "`keras_lr.find_lr`, which does it for the test). Received: "
                f"steps_per_execution={model.steps_per_execution}"
            )
        self._reset()
        accumulation = _accumulation_steps(optimizers)
        try:
            for opt in optimizers:
                _rate.claim(opt, self, self.params)
        except BaseException:
            for opt in optimizers:
                _rate.unclaim(opt, self)
            # A scheduling callback listed before the finder has installed its
            # schedule: give the float back now, not at the next fit.
            _compat.release_stale(model)
            raise
        self._accumulation = accumulation
        self._phase = _compat.batch_step(optimizers[0]) % accumulation
        if self._phase:
            warnings.warn(
                f"LRFinder: the optimizer is {self._phase} of {accumulation} batches into "
                "an accumulated update; the test's first step completes that update, "
                "whose gradient includes batches from before the test.",
                stacklevel=2,
            )
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self._snapshot = _restore.Snapshot(model)
        if not self._snapshot.assign_mode:
            start = _rate.current_step(self._snapshot.optimizers[0])
            ladder_schedule = S.Table(self.rates, offset=start)
            # The slot itself (not the setter), so that the optimizer's
            # variable list keeps its shape and order.
            for opt in self._snapshot.optimizers:
                _compat.set_rate_slot(opt, _rate.per_update(opt, ladder_schedule))
            _compat.retrace(model)
        self._prepare_writer()
        self._start_time = time.monotonic()
        if self.verbose:
            self._progbar = keras.utils.Progbar(
                self.num_steps, stateful_metrics=["lr", "loss"], unit_name="step"
            )

    def _prepare_writer(self):
        """Tensors for every step's rate and for cleared metrics, made once."""
        model, snap = self.model, self._snapshot
        model.reset_metrics()
        metric_vars = list(model.metrics_variables)
        rate_vars = list(snap.sources) if snap.assign_mode else []
        self._writer = _compat.StepWriter(model, rate_vars + metric_vars)
        self._rate_tensors = [self._writer.tensors(self.rates, i) for i in range(len(rate_vars))]
        # The same cleared values serve every step.
        self._reset_tensors = [
            self._writer.tensors([keras.ops.convert_to_numpy(var)], len(rate_vars) + j)[0]
            for j, var in enumerate(metric_vars)
        ]
        self._writer.attach()

    def on_train_batch_begin(self, batch, logs=None):
        # Before each batch: the rate of its step (assignment mode; the update
        # at the step's last batch reads it) and a cleared loss mean, so that
        # the batch-end log is this batch's loss.
        if self._done or self._writer is None:
            return
        k = len(self._losses)
        tensors = [values[k] for values in self._rate_tensors] + self._reset_tensors
        self._wrote_in_flight = self._writer.write(tensors)

    def on_train_batch_end(self, batch, logs=None):
        if self._done:
            return
        self._pending.append(float(np.asarray(keras.ops.convert_to_numpy((logs or {})["loss"]))))
        self._batches += 1
        if (self._phase + self._batches) % self._accumulation:
            return  # the step's update comes at a later batch
        k = len(self._losses)
        if self._wrote_in_flight and self._rate_tensors and not self._in_flight_checked:
            # The way the step takes its state does not change within a fit:
            # one check, at the first update written in flight, covers the run.
            self._in_flight_checked = True
            self._check_applied(k)
        pending, self._pending = self._pending, []
        loss = pending[0] if len(pending) == 1 else float(np.mean(pending))
        self._losses.append(loss)
        self._avg = self.smoothing * self._avg + (1.0 - self.smoothing) * loss
        smoothed = self._avg / (1.0 - self.smoothing ** (k + 1))
        self._smoothed.append(smoothed)
        if self.validation_data is not None and (
            k % self.validation_every == 0 or k == self.num_steps - 1
        ):
            self._val[k] = self._validation_loss()
        if math.isfinite(smoothed):
            self._best = min(self._best, smoothed)
        if self._progbar is not None:
            self._progbar.update(k + 1, [("lr", self.rates[k]), ("loss", loss)])
        if not math.isfinite(loss):
            self._finish(k, "the loss is not finite")
        elif (
            self.stop_on_divergence
            and k > 0
            # threshold * best for positive losses, and still meaningful for
            # objectives that go negative.
            and smoothed > self._best + (self.divergence_threshold - 1.0) * abs(self._best)
        ):
            self._finish(k, f"the smoothed loss exceeded {self.divergence_threshold:g}x its best")
        elif k + 1 >= self.num_steps:
            self._finish(None, None)

    def _release_writer(self):
        if self._writer is not None:
            self._writer.detach()
            self._writer = None

    def _check_applied(self, k: int) -> None:
        """Confirms that step k trained at its rate when it was written in flight."""
        applied = float(np.asarray(keras.ops.convert_to_numpy(self._writer.applied(0))))
        if applied != float(np.float32(self.rates[k])):
            # The trainer did not take the written state: record the rate the
            # step really used and write through the variables from now on.
            self._applied[k] = applied
            self._writer.detach()
            warnings.warn(
                f"LRFinder: step {k} trained at rate {applied:.6g}, not the ladder's "
                f"{self.rates[k]:.6g} (the trainer did not take the rate with the step's "
                "state). The history records the rate applied; the rest of the test "
                "sets the rate through the variables, which is slower.",
                stacklevel=2,
            )

    def _validation_loss(self) -> float:
        _compat.sync_state(self.model)
        data = self.validation_data
        result = self.model.evaluate(
            *data[:2], sample_weight=data[2] if len(data) > 2 else None, verbose=0, return_dict=True
        )
        self.model.reset_metrics()
        return float(result["loss"])

    def _finish(self, diverged_at, reason):
        if self._progbar is not None and len(self._losses) < self.num_steps:
            # Cut short: close the bar's line (a full bar closes by itself).
            self._progbar.update(len(self._losses), finalize=True)
        self._done = True
        self.diverged_at = diverged_at
        self.stop_reason = reason
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._release_writer()
        if self._snapshot is None:
            return
        self.restore_model()
        if self._losses:
            reason = self.unreliable_reason
            if reason is not None:
                warnings.warn(_unreliable_message(reason), stacklevel=2)
        self._summary()

    def restore_model(self) -> None:
        """Puts back the rate, and with `restore=True` every variable.

        Idempotent, and safe to repeat after an interruption: the saved copy is
        dropped only once the variables, the rate and the random streams are
        all back.
        """
        self._release_writer()
        snap = self._snapshot
        if snap is None:
            return
        snap.restore_rate()
        if self.restore:
            snap.restore_variables()
        if not snap.assign_mode:
            _compat.retrace(self.model)
        for opt in snap.optimizers:
            _rate.unclaim(opt, self)
        self._snapshot = None

    def _summary(self):
        if not self.verbose or not self._losses:
            return
        best = self._suggestion(self.default_method)
        if not math.isfinite(best):
            text = _too_short(self.default_method, self._curve()[1]).rstrip(".")
        elif not self.reliable:
            text = (
                f"no reliable suggestion ({self.unreliable_reason}; "
                f"{self.default_method} would give {best:.3g})"
            )
        else:
            text = f"suggested learning rate {best:.3g} ({self.default_method})"
        why = (
            f"; stopped at step {self.diverged_at}: {self.stop_reason}" if self.stop_reason else ""
        )
        unit = f" of {self._accumulation} batches" if self._accumulation > 1 else ""
        print(
            f"LRFinder: {len(self._losses)} steps{unit}, lr {self.rates[0]:.3g} to "
            f"{self.rates[len(self._losses) - 1]:.3g} in {time.monotonic() - self._start_time:.1f} s"
            f"{why}; {text}.",
            file=sys.stdout,
        )

    # -- results -------------------------------------------------------------
    default_method = "valley"

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
            val = np.full(n, np.nan)
            for k, value in self._val.items():
                if k < n:
                    val[k] = value
            frame["val_loss"] = val
        return pd.DataFrame(frame)

    def _require_results(self) -> int:
        n = len(self._losses)
        if n == 0:
            raise ValueError("LRFinder has no results yet: run it in `fit` or use `find_lr`.")
        return n

    def _usable(self) -> int:
        """Steps before the stop: all of them, or those before the divergent one."""
        n = self._require_results()
        return n if self.diverged_at is None else self.diverged_at

    @property
    def unreliable_reason(self) -> str | None:
        """Why the test has no reliable answer (see the class docstring), or None.

        Raises:
            ValueError: before the test has results.
        """
        n, end = self._require_results(), self._usable()
        window = max(3, self.num_steps // 10)
        if end < window:
            if self.diverged_at is not None:
                return (
                    f"the test stopped at step {end} of {self.num_steps} (rate "
                    f"{self._applied[end]:.3g}), within the first tenth of the ladder, where "
                    f"{self.stop_reason}: lower `min_lr`, or the model is already trained"
                )
            return (
                f"the test ran only {n} of {self.num_steps} steps: give `fit` more "
                "batches (`find_lr` cycles over the data)"
            )
        # Means over a fifth of the ladder, and two standard deviations: batch
        # losses vary by their batch, and a short test of a fresh model must
        # not read as flat.
        if not _suggest.falls(
            self._losses[:end], max(3, self.num_steps // 5), self.min_drop, z=2.0
        ):
            span = (
                f"the loss never fell clearly (a tenth, beyond its noise) below its "
                f"starting level {float(np.mean(self._losses[:window])):.3g} between rates "
                f"{self._applied[0]:.3g} and {self._applied[end - 1]:.3g}"
            )
            if self.diverged_at is None:
                return (
                    f"{span}, nor diverged: raise `max_lr` so that the ladder reaches "
                    "rates at which the loss moves, or the model is already trained"
                )
            return (
                f"{span} before it diverged: the model is already trained (a range test "
                "has nothing to find: keep the rate it trained at, or lower it to "
                "fine-tune), or the ladder starts too high: lower `min_lr`; a short or "
                "noisy test can also hide a descent: raise `num_steps` or `batch_size`"
            )
        if self.validation_data is not None and self._val:
            val = [self._val[k] for k in sorted(self._val) if k < end]
            if len(val) > 1 and not _suggest.falls(val, 1, self.min_drop, z=0.0):
                return (
                    f"the validation loss never fell {self.min_drop:.0%} below its first "
                    f"value {val[0]:.3g}: check that `validation_data` is drawn from the "
                    "training distribution, or lower `min_lr`"
                )
        return None

    @property
    def reliable(self) -> bool:
        """False when the loss never fell (see the class docstring).

        Raises:
            ValueError: before the test has results.
        """
        return self.unreliable_reason is None

    def _curve(self, trim: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(rates, curve) the suggestions read.

        The curve is the smoothed loss (or, in validation mode, the validation
        loss), cut before a divergent step; with `trim`, the first tenth of the
        ladder (where the moving average is still settling) and the last 5
        points are left out when enough points remain, as fastai does.
        """
        end = self._usable()
        if self.validation_data is not None and self._val:
            steps = np.array([k for k in sorted(self._val) if k < max(end, 1)])
            return self._applied[steps], np.array([self._val[k] for k in steps])
        start = 0
        if trim:
            start = self.num_steps // 10
            stop = end - 5
            if stop - start >= 5:
                end = stop
            elif end - start < 5:
                start = 0
        lrs = self._applied[start:end]
        curve = np.asarray(self._smoothed[start:end], dtype=np.float64)
        return lrs, curve

    def _suggestion(self, method: str) -> float:
        """The method's rate, clipped to [min_lr, max_lr]; NaN on too short a curve."""
        lrs, curve = self._curve()
        value = getattr(_suggest, method)(lrs, curve)
        if not math.isfinite(value):
            return value
        return float(np.clip(value, self.min_lr, self.max_lr))

    def suggestion(self, method: str | None = None) -> float:
        """The suggested rate, within [min_lr, max_lr].

        `method` is "valley" (default: fastai's, inside the longest descent of
        the smoothed loss), "steepest" (the most negative slope against
        log10(rate)) or "minimum" ("minimum/10": the rate at the minimum of the
        smoothed loss divided by 10).  A rate outside the ladder is clipped to
        it: "minimum/10" of a curve lowest in its first decade would fall below
        `min_lr`.  When the test is unreliable (`reliable` is False) the rate is
        still returned, with a warning.

        Raises:
            ValueError: unknown method, no results, or a curve too short to read.
        """
        method = self.default_method if method is None else method
        v.one_of("method", method, _suggest.METHODS)
        value = self._suggestion(method)
        if not math.isfinite(value):
            raise ValueError(_too_short(method, self._curve()[1]))
        reason = self.unreliable_reason
        if reason is not None:
            warnings.warn(
                f"LRFinder: the {_suggest.LABELS[method]} suggestion {value:.3g} is "
                f"unreliable: {reason}.",
                stacklevel=2,
            )
        return value

    def suggestions(self) -> dict[str, float]:
        """Every method's suggestion (NaN where the curve is too short).

        Warns once when the test is unreliable.
        """
        out = {method: self._suggestion(method) for method in _suggest.METHODS}
        reason = self.unreliable_reason
        if reason is not None:
            warnings.warn(f"LRFinder: the suggestions are unreliable: {reason}.", stacklevel=2)
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
        if self.validation_data is not None and self._val:
            lrs, losses = self._curve(trim=False)
        else:
            lrs, losses = self._applied[:end], np.asarray(self._losses[:end])
        base, high = _suggest.cyclic_bounds(lrs, losses)
        if not (math.isfinite(base) and math.isfinite(high)):
            raise ValueError(
                f"LRFinder could not read cyclic bounds: only {len(losses)} usable steps."
            )
        reason = self.unreliable_reason
        if reason is not None:
            warnings.warn(f"LRFinder: the cyclic bounds are unreliable: {reason}.", stacklevel=2)
        low, top = self.min_lr, self.max_lr
        return float(np.clip(base, low, top)), float(np.clip(high, low, top))

    def plot(self, ax=None, skip_start: int = 10, skip_end: int = 5, suggestion: bool = True):
        """Loss against rate (log axis) with the suggestions marked; returns the Axes."""
        from keras_lr.plots import plot_lr_finder

        return plot_lr_finder(
            self, ax=ax, skip_start=skip_start, skip_end=skip_end, suggestion=suggestion
        )

    def plot_loss_change(self, ax=None, skip_start: int = 10, skip_end: int = 5):
        """Slope of the smoothed loss against log10(rate); returns the Axes."""
        from keras_lr.plots import plot_loss_change

        return plot_loss_change(self, ax=ax, skip_start=skip_start, skip_end=skip_end)

    def to_csv(self, path) -> None:
        """Writes `history` to a CSV file (written whole, then renamed into place)."""
        history = self.history
        atomic_write(path, lambda tmp: history.to_csv(tmp, index=False), suffix=".csv")


def _too_short(method: str, curve: np.ndarray) -> str:
    return (
        f"LRFinder could not suggest a rate with method={method!r}: only "
        f"{len(curve)} usable steps before the loss diverged. Lower `min_lr` "
        "or raise `num_steps`."
    )


def _unreliable_message(reason: str) -> str:
    return (
        f"LRFinder: no reliable suggestion: {reason}. `suggestion()` still answers, "
        "from a curve that shows no descent to read."
    )


def _accumulation_steps(optimizers: list) -> int:
    """The one `gradient_accumulation_steps` of the driven optimizers."""
    steps = [_rate.accumulation_steps(opt) for opt in optimizers]
    if len(set(steps)) > 1:
        raise ValueError(
            "LRFinder runs one ladder step per optimizer update, which needs one "
            "`gradient_accumulation_steps` for every optimizer of the model. Received: "
            f"gradient_accumulation_steps={steps}"
        )
    return steps[0]


_FINDER_ARGS = (
    "smoothing",
    "divergence_threshold",
    "stop_on_divergence",
    "restore",
    "verbose",
    "validation_every",
)


def _array_length(x) -> int | None:
    if isinstance(x, dict):
        lengths = [_array_length(value) for value in x.values()]
        return lengths[0] if lengths else None
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]):
        return _array_length(x[0])
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    return None


def find_lr(
    model,
    x,
    y=None,
    *,
    batch_size: int = 32,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exponential",
    validation_data: Any = None,
    **kwargs,
) -> LRFinder:
    """Runs the range test on `model` and data, and returns the finder.

    The model is restored exactly afterwards (unless `restore=False`), also when
    the test diverges, the loss turns NaN, or training raises or is interrupted.
    Under `gradient_accumulation_steps=N` the test runs `num_steps` updates,
    num_steps * N batches.

    Args:
        model: a compiled Keras model.
        x, y: NumPy arrays, a dict of arrays (multi-input), a `tf.data.Dataset`,
            a `keras.utils.PyDataset` or a generator, as for `fit`.  Data shorter
            than the test's batches is cycled over.
        batch_size: for array data.
        min_lr, max_lr, num_steps, mode: the ladder (see `LRFinder`).
        validation_data: (x, y) of a small fixed subset for Smith's variant.
        **kwargs: other `LRFinder` arguments (smoothing, divergence_threshold,
            stop_on_divergence, restore, verbose, validation_every).

    Returns:
        The `LRFinder`, with `history`, `suggestion()`, `reliable`, `plot()` ...

    Example:
        >>> finder = keras_lr.find_lr(model, x_train, y_train, batch_size=64)  # doctest: +SKIP
        >>> lr = finder.suggestion()                                            # doctest: +SKIP
    """
    unknown = sorted(set(kwargs) - set(_FINDER_ARGS))
    if unknown:
        raise TypeError(
            f"find_lr() got unexpected keyword argument(s) {unknown}; "
            f"it takes the LRFinder arguments {list(_FINDER_ARGS)}."
        )
    finder = LRFinder(min_lr, max_lr, num_steps, mode, validation_data=validation_data, **kwargs)
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "find_lr needs a compiled model: call `model.compile(optimizer=..., loss=...)` first."
        )
    batch_size = v.positive_int("batch_size", batch_size)
    optimizers = _rate.optimizers_of(model, "find_lr")
    accumulation = _accumulation_steps(optimizers)
    # One ladder step per update: N batches each, less those the optimizer
    # has already accumulated towards its next update.
    total = num_steps * accumulation - _compat.batch_step(optimizers[0]) % accumulation
    length = _array_length(x)
    if length is not None and length < batch_size:
        raise ValueError(
            f"The data holds {length} samples, fewer than one batch of "
            f"batch_size={batch_size}: lower `batch_size` or pass more data."
        )
    fit_kwargs: dict[str, Any] = {}
    if length is not None:
        fit_kwargs["batch_size"] = batch_size
        batches = math.ceil(length / batch_size)
    else:
        batches = 1
    epochs = max(1, math.ceil(total / max(batches, 1)))
    if length is None:
        # Unknown length (datasets, generators, PyDataset): allow one batch per
        # epoch at least, and let the finder stop the run.
        epochs = total
    with _compat.one_step_per_execution(model), finder:
        model.fit(x, y, epochs=epochs, callbacks=[finder], verbose=0, **fit_kwargs)
    if not finder._losses:
        raise ValueError("find_lr drew no batch from the data: it is empty.")
    return finder
