"""The range test's recording callback: one rung of the ladder per optimizer update.

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
schedule gets the ladder as an in-graph `schedules.Table` for the test
(`_restore.Snapshot.install_ladder`).
"""

from __future__ import annotations

import math
import sys
import time
import warnings

import keras
import numpy as np

from keras_lr import _compat, _rate
from keras_lr.finder import _restore, _suggest
from keras_lr.finder._result import too_short, unreliable_message


def accumulation_steps(optimizers: list) -> int:
    """The one `gradient_accumulation_steps` of the driven optimizers."""
    steps = [_rate.accumulation_steps(opt) for opt in optimizers]
    if len(set(steps)) > 1:
        raise ValueError(
            "LRFinder runs one ladder step per optimizer update, which needs one "
            "`gradient_accumulation_steps` for every optimizer of the model. Received: "
            f"gradient_accumulation_steps={steps}"
        )
    return steps[0]


def _check_one_step_per_execution(model) -> None:
    if getattr(model, "steps_per_execution", 1) != 1:
        raise ValueError(
            "LRFinder records the loss of every step, which Keras reports only "
            "once per execution: compile with `steps_per_execution=1` (or use "
            "`keras_lr.find_lr`, which does it for the test). Received: "
            f"steps_per_execution={model.steps_per_execution}"
        )


def _claim(model, optimizers: list, owner) -> None:
    """Claims every optimizer's rate for the test, or none of them."""
    try:
        for opt in optimizers:
            _rate.claim(opt, owner, owner.params)
    except BaseException:
        for opt in optimizers:
            _rate.unclaim(opt, owner)
        # A scheduling callback listed before the finder has installed its
        # schedule: give the float back now, not at the next fit.
        _compat.release_stale(model)
        raise


def _validation_loss(model, data) -> float:
    _compat.sync_state(model)
    result = model.evaluate(
        *data[:2], sample_weight=data[2] if len(data) > 2 else None, verbose=0, return_dict=True
    )
    model.reset_metrics()
    return float(result["loss"])


def summary_line(finder, seconds: float) -> str:
    """The line a verbose test prints at its end: its extent, stop and suggestion."""
    method = finder.default_method
    best = finder._suggestion(method)
    if not math.isfinite(best):
        text = too_short(method, finder._curve()[1]).rstrip(".")
    elif not finder.reliable:
        text = (
            f"no reliable suggestion ({finder.unreliable_reason}; {method} would give {best:.3g})"
        )
    else:
        text = f"suggested learning rate {best:.3g} ({method})"
    why = (
        f"; stopped at step {finder.diverged_at}: {finder.stop_reason}"
        if finder.stop_reason
        else ""
    )
    unit = f" of {finder._accumulation} batches" if finder._accumulation > 1 else ""
    n = len(finder._losses)
    return (
        f"LRFinder: {n} steps{unit}, lr {finder.rates[0]:.3g} to "
        f"{finder.rates[n - 1]:.3g} in {seconds:.1f} s{why}; {text}."
    )


class _LadderWriter:
    """Writes each step's rate (assignment mode) and the cleared loss mean before its batches.

    Every tensor is made once, before the test; `check` confirms, once per fit,
    that a step written into the trainer's in-flight state trained at its rate.
    """

    def __init__(self, model, snapshot: _restore.Snapshot, rates: np.ndarray):
        model.reset_metrics()
        metric_vars = list(model.metrics_variables)
        rate_vars = list(snapshot.sources) if snapshot.assign_mode else []
        self.rates = rates
        self.writer = _compat.StepWriter(model, rate_vars + metric_vars)
        self.rate_tensors = [self.writer.tensors(rates, i) for i in range(len(rate_vars))]
        # The same cleared values serve every step.
        self.reset_tensors = [
            self.writer.tensors([keras.ops.convert_to_numpy(var)], len(rate_vars) + j)[0]
            for j, var in enumerate(metric_vars)
        ]
        self.writer.attach()
        self.in_flight = False
        self.checked = False

    def write(self, k: int) -> None:
        tensors = [values[k] for values in self.rate_tensors] + self.reset_tensors
        self.in_flight = self.writer.write(tensors)

    def check(self, k: int) -> float | None:
        """The rate step k really applied when the trainer did not take the written one, else None."""
        if not (self.in_flight and self.rate_tensors) or self.checked:
            return None
        # The way the step takes its state does not change within a fit: one
        # check, at the first update written in flight, covers the run.
        self.checked = True
        applied = float(np.asarray(keras.ops.convert_to_numpy(self.writer.applied(0))))
        if applied == float(np.float32(self.rates[k])):
            return None
        # The trainer did not take the written state: write through the
        # variables from now on.
        self.writer.detach()
        warnings.warn(
            f"LRFinder: step {k} trained at rate {applied:.6g}, not the ladder's "
            f"{self.rates[k]:.6g} (the trainer did not take the rate with the step's "
            "state). The history records the rate applied; the rest of the test "
            "sets the rate through the variables, which is slower.",
            stacklevel=3,
        )
        return applied

    def release(self) -> None:
        self.writer.detach()


class RangeTestCallback(keras.callbacks.Callback):
    """Records a range test in `fit`: the recording half of `LRFinder`.

    Drives the ladder `rates` one rung per optimizer update, records each
    step's loss and moving average (`_suggest.MovingAverage`) and the
    validation loss, stops at divergence, prints progress, and puts the model
    back (`_restore.Snapshot`).  The class it is mixed with holds the recorded
    fields (`_result.RangeTestResult._clear_results`) and the configuration.
    """

    def _reset(self):
        self._clear_results()
        self._average = _suggest.MovingAverage(self.smoothing)
        self._best = math.inf
        self._snapshot: _restore.Snapshot | None = None
        self._writer: _LadderWriter | None = None
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

    def on_train_begin(self, logs=None):
        model = self.model
        optimizers = _rate.optimizers_of(model, "LRFinder")
        _check_one_step_per_execution(model)
        self._reset()
        accumulation = accumulation_steps(optimizers)
        _claim(model, optimizers, self)
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
        self._snapshot.install_ladder(self.rates)
        self._writer = _LadderWriter(model, self._snapshot, self.rates)
        self._start_time = time.monotonic()
        if self.verbose:
            self._progbar = keras.utils.Progbar(
                self.num_steps, stateful_metrics=["lr", "loss"], unit_name="step"
            )

    def on_train_batch_begin(self, batch, logs=None):
        # Before each batch: the rate of its step (assignment mode; the update
        # at the step's last batch reads it) and a cleared loss mean, so that
        # the batch-end log is this batch's loss.
        if not self._done and self._writer is not None:
            self._writer.write(len(self._losses))

    def on_train_batch_end(self, batch, logs=None):
        if self._done:
            return
        self._pending.append(float(np.asarray(keras.ops.convert_to_numpy((logs or {})["loss"]))))
        self._batches += 1
        if (self._phase + self._batches) % self._accumulation:
            return  # the step's update comes at a later batch
        k = len(self._losses)
        applied = self._writer.check(k) if self._writer is not None else None
        if applied is not None:
            self._applied[k] = applied  # the rate the step really used
        pending, self._pending = self._pending, []
        self._record(k, pending[0] if len(pending) == 1 else float(np.mean(pending)))

    def _record(self, k: int, loss: float) -> None:
        """Step k's loss: its moving average, validation loss, progress and stop."""
        self._losses.append(loss)
        smoothed = self._average.update(loss)
        self._smoothed.append(smoothed)
        if self.validation_data is not None and (
            k % self.validation_every == 0 or k == self.num_steps - 1
        ):
            self._val[k] = _validation_loss(self.model, self.validation_data)
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
                warnings.warn(unreliable_message(reason), stacklevel=2)
        if self.verbose and self._losses:
            print(summary_line(self, time.monotonic() - self._start_time), file=sys.stdout)

    def _release_writer(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None

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
        snap.restore(variables=self.restore)
        for opt in snap.optimizers:
            _rate.unclaim(opt, self)
        self._snapshot = None
