"""The collecting callbacks: `SnapshotEnsemble` and `FastGeometricEnsemble`.

Both are scheduling callbacks (the rate is evaluated in the compiled step,
exact and resumable) that also save the model at chosen steps.  A snapshot
falls at a step boundary that may lie inside an epoch; it is taken at the
start of the next batch (or at the epoch end), where the weights are those
after the boundary step.  The check costs an integer comparison per batch and
reads nothing from the device except at the M snapshot steps, and it lives in
`on_train_batch_begin`, which does not switch off Keras's asynchronous
dispatch as batch-end hooks do.  A warm-up shifts the schedule, and with it
every snapshot step, by `warmup_steps`.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from keras_lr import _compat, _history, _rate
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr._deprecation import renamed, renamed_attribute
from keras_lr.callbacks import FitContext, ScheduleCallback, _groups
from keras_lr.ensembles._load import load_ensemble
from keras_lr.ensembles._writer import SnapshotWriter

__all__ = ["SnapshotEnsemble", "FastGeometricEnsemble"]

# FastGeometricEnsemble's bounds before the naming table (old name: new name).
_FGE_RENAMES = {"lr_high": "max_lr", "lr_low": "min_lr"}


@dataclasses.dataclass(frozen=True)
class _Boundary:
    index: int
    step: int  # optimizer steps completed when the snapshot is taken


class _CollectingCallback(ScheduleCallback):
    """A scheduling callback that saves the model at given step boundaries."""

    _kind = "snapshots"

    def __init__(self, directory, save_format, overwrite, verbose, warmup):
        warmup_steps, warmup_start_lr, warmup_shape = warmup
        super().__init__(
            warmup_steps=warmup_steps, warmup_start_lr=warmup_start_lr, warmup_shape=warmup_shape
        )
        # The writer checks `directory`, `save_format` and `overwrite`.
        self._writer = writer = SnapshotWriter(directory, save_format, overwrite, self._kind)
        self.directory, self.save_format = writer.directory, writer.save_format
        self.overwrite = writer.overwrite
        self.verbose = v.nonnegative_int("verbose", verbose)
        self._pending: list[_Boundary] = []
        self._epoch_first_batch = 0
        self._accumulation = 1

    def boundaries(self, context: FitContext) -> list[_Boundary]:
        raise NotImplementedError

    @property
    def snapshot_paths(self) -> list[str]:
        """Snapshot files written so far (this run and any resumed one), in order."""
        return self._writer.paths

    @property
    def manifest(self):
        """pandas DataFrame of the snapshots: index, step, epoch, lr, path."""
        return self._writer.dataframe()

    def ensemble(self, last: int | None = None) -> keras.Model:
        """One model averaging the snapshots' outputs (see `keras_lr.load_ensemble`).

        Args:
            last: use only the last `last` snapshots (None: all).
        """
        paths = self.snapshot_paths
        if not paths:
            raise ValueError(f"{type(self).__name__} has no snapshots yet: train first.")
        if last is not None:
            paths = paths[-v.positive_int("last", last) :]
        return load_ensemble(self.model, paths)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._pending = []
        self._prepared = False

    def _prepare(self, epoch: int) -> None:
        """Readies the directory and the snapshots still to take, before the first step.

        Done at the first epoch begin rather than at train begin, so that the
        step is the one a `BackupAndRestore` listed after this callback has
        restored by then.  A snapshot due exactly at that step and missing from
        the manifest (a crash while it was being written) is taken now: the
        weights are those after its step.
        """
        context = dataclasses.replace(self._context, start_step=self._epoch_start[0])
        owner = type(self).__name__
        spx = _compat.steps_per_execution(self.model)
        boundaries = self.boundaries(context)
        self._writer.prepare(context.start_step, owner)
        done = {e["index"] for e in self._writer.entries}
        pending = [b for b in boundaries if b.step >= context.start_step and b.index not in done]
        spe, n = context.steps_per_epoch, self._accumulation
        if spx > 1 and spe:
            # Batch hooks run once per execution: a boundary must end one.
            start = context.start_step
            unreachable = [b.step for b in pending if ((b.step - start) * n % (spe * n)) % spx]
            if unreachable:
                raise ValueError(
                    f"{owner} saves after step {unreachable[0]}, which falls inside an "
                    f"execution of steps_per_execution={spx} steps. Use a "
                    "steps_per_execution that divides the snapshot spacing, or 1."
                )
        self._prepared = True
        if pending and pending[0].step == context.start_step and context.start_step > 0:
            self._take(pending.pop(0), max(epoch - 1, 0), {})
        self._pending = [b for b in pending if b.step > context.start_step]

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        self._accumulation = _rate.accumulation_steps(opt)
        # Counted in batches (Keras's batch index), so that with gradient
        # accumulation a boundary after update b is the batch b * N.
        self._epoch_first_batch = (
            self._epoch_start[0] if self._accumulation == 1 else _compat.batch_step(opt)
        )
        self._epoch = epoch
        if not self._prepared:
            self._prepare(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if (
            self._pending
            and self._epoch_first_batch + batch == self._pending[0].step * self._accumulation
        ):
            # The previous batch finished the boundary step; sync the JAX
            # trainer's in-flight state before reading weights.
            _compat.sync_state(self.model)
            self._take(self._pending.pop(0), self._epoch, {})

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        completed = self._records[-1].end_step
        while self._pending and self._pending[0].step <= completed:
            boundary = self._pending.pop(0)
            if boundary.step == completed:
                self._take(boundary, epoch, _history.clean_logs(logs))

    def _take(self, boundary: _Boundary, epoch: int, logs: dict) -> None:
        owner = type(self).__name__
        optimizers = _rate.optimizers_of(self.model, owner)
        rate = _rate.rate_at(optimizers[0], boundary.step - 1)
        entry = {"index": boundary.index, "step": boundary.step, "epoch": epoch, "lr": rate}
        with _rate.float_layout(optimizers):
            path = self._writer.save(self.model, dict(entry, logs=logs), owner)
        if self.verbose:
            print(f"\n{owner}: saved {path} (step {boundary.step}, lr {rate:.3g})")

    def _config(self):
        names = ("directory", "save_format", "overwrite", "verbose")
        return {name: getattr(self, name) for name in names}


class SnapshotEnsemble(_CollectingCallback):
    """Snapshot ensembles: "Train 1, get M for free" (Huang et al. 2017).

    A cyclic cosine schedule restarts M times over the T steps of training;
    at the end of each cycle the model sits in a minimum and is saved, giving
    M models whose averaged outputs beat a single one.  Per optimizer step,
    with t = i + 1 the 1-based step and C = ceil(T / M):

        lr(t) = max_lr / 2 * (cos(pi * mod(t - 1, C) / C) + 1)

    Exactly M snapshots are saved, after steps C, 2C, ..., (M - 1)C and T.
    T is epochs x steps per epoch from `fit` (or `epochs` x steps when given).
    With `warmup_steps=W`, steps 0..W-1 ramp linearly from `warmup_start_lr`
    to `max_lr` and the M cycles share the T - W steps after them: C =
    ceil((T - W) / M), snapshots after steps W + C, ..., W + (M - 1)C and T.

    Args:
        n_snapshots: M, the number of cycles and snapshots, >= 1.
        max_lr: the rate at the start of every cycle, > 0.
        directory: where to write the snapshots and `manifest.json`.
        epochs: total epochs of the training the cycles span (default: the
            `epochs` of `fit`); set it when training runs over several fits.
        save_format: "weights" (`.weights.h5`) or "model" (whole `.keras` models).
        overwrite: replace the snapshots of an existing non-empty directory.
        verbose: 1 prints a line per snapshot.
        warmup_steps, warmup_start_lr, warmup_shape: a warm-up of W steps before
            the first cycle, as `ScheduleCallback`'s (default: none).

    Attributes:
        snapshot_paths: the files written, in order.
        history: per-step rates and epoch logs (as every scheduling callback).

    Example:
        >>> import keras_lr
        >>> snap = keras_lr.SnapshotEnsemble(n_snapshots=2, max_lr=0.2, directory="snaps")
        >>> snap.rates(6, steps_per_epoch=3, epochs=2).round(3).tolist()
        [0.2, 0.15, 0.05, 0.2, 0.15, 0.05]

    References:
        Huang et al., "Snapshot Ensembles: Train 1, get M for free",
        ICLR 2017, arXiv:1704.00109.
    """

    _kind = "SnapshotEnsemble"

    def __init__(
        self,
        n_snapshots: int,
        max_lr: float = 0.1,
        directory: str = "snapshots",
        epochs: int | None = None,
        save_format: str = "weights",
        overwrite: bool = False,
        verbose: int = 0,
        *,
        warmup_steps: int | float = 0,
        warmup_start_lr: float = 0.0,
        warmup_shape: str = "linear",
    ):
        self.n_snapshots = v.positive_int("n_snapshots", n_snapshots)
        self.max_lr = _groups.per_group("max_lr", max_lr, v.positive_float)
        self.epochs = v.optional_positive_int("epochs", epochs)
        warmup = (warmup_steps, warmup_start_lr, warmup_shape)
        super().__init__(directory, save_format, overwrite, verbose, warmup)

    def _cycles(self, context: FitContext) -> tuple[int, int]:
        """(T - W, C): the steps the cycles share, and the cycle length."""
        spe = self._steps_per_epoch(context, None)
        epochs = self.epochs if self.epochs is not None else context.epochs
        if epochs is None:
            raise ValueError(
                "SnapshotEnsemble needs the number of epochs: pass `epochs=` to the "
                "callback, or to `.rates()` for a preview."
            )
        warmup = self.warmup_length(context)
        total = epochs * spe - warmup
        if total < 1:
            raise ValueError(
                "Argument `warmup_steps` leaves no step for the cycles: "
                f"warmup_steps={self.warmup_steps} but the training runs {epochs * spe} "
                "steps in all."
            )
        after = f" after the warm-up of {warmup}" if warmup else ""
        if self.n_snapshots > total:
            raise ValueError(
                "Argument `n_snapshots` must not exceed the training steps. "
                f"Received: n_snapshots={self.n_snapshots} for {total} steps{after}"
            )
        cycle = math.ceil(total / self.n_snapshots)
        if (self.n_snapshots - 1) * cycle >= total:
            raise ValueError(
                f"Argument `n_snapshots` is too large for {total} steps{after}: cycles of "
                f"ceil(T / M) = {cycle} steps give only {math.ceil(total / cycle)} "
                f"cycles. Received: n_snapshots={self.n_snapshots}"
            )
        return total, cycle

    def warmup_length(self, context, total=None):
        """`warmup_steps` in steps; a fraction is of the `epochs` the cycles span."""
        if total is None and self.epochs is not None and isinstance(self.warmup_steps, float):
            total = self.epochs * self._steps_per_epoch(context, None)
        return super().warmup_length(context, total)

    def build(self, context):
        _, cycle = self._cycles(context)
        return S.CosineRestarts(0.0, self.max_lr, cycle_length=cycle, mult_factor=1.0, lr_decay=1.0)

    def boundaries(self, context):
        total, cycle = self._cycles(context)
        w = self.warmup_length(context)
        steps = [w + cycle * (k + 1) for k in range(self.n_snapshots - 1)] + [w + total]
        return [_Boundary(k, step) for k, step in enumerate(steps)]

    def _config(self):
        return dict(
            super()._config(),
            n_snapshots=self.n_snapshots,
            max_lr=self.max_lr,
            epochs=self.epochs,
        )


class FastGeometricEnsemble(_CollectingCallback):
    """Fast Geometric Ensembling (Garipov et al. 2018).

    Short triangular cycles of `cycle_steps` steps between `max_lr` and
    `min_lr` (`schedules.GeometricCycle`); a model is saved at the middle of
    every cycle, where the rate is lowest.  Cycles count from the optimizer's
    step 0 (step W with `warmup_steps=W`, after a linear ramp from
    `warmup_start_lr`), so the schedule is resumable; FGE is meant to follow a
    normal training run (a first `fit`), then run for a few epochs.  With c =
    `cycle_steps`, models are saved after steps W + c/2, W + 3c/2, ...

    Args:
        max_lr: rate at the ends of each cycle (was `lr_high`, deprecated).
        min_lr: rate at the middle of each cycle, where models are saved
            (was `lr_low`, deprecated).
        cycle_steps: steps per cycle, even; the paper uses 2-4 epochs' worth.
        n_models: stop saving after this many models in one fit (None: all).
        directory, save_format, overwrite, verbose: as `SnapshotEnsemble`.
        warmup_steps, warmup_start_lr, warmup_shape: a warm-up of W steps before
            the first cycle, as `ScheduleCallback`'s (default: none).

    Example:
        >>> import keras_lr
        >>> fge = keras_lr.FastGeometricEnsemble(0.3, 0.1, cycle_steps=4, directory="fge")
        >>> fge.rates(4).round(3).tolist()
        [0.2, 0.1, 0.2, 0.3]

    References:
        Garipov et al., "Loss Surfaces, Mode Connectivity, and Fast Ensembling
        of DNNs", NeurIPS 2018, arXiv:1802.10026.
    """

    _kind = "FastGeometricEnsemble"

    @renamed(**_FGE_RENAMES)
    def __init__(
        self,
        max_lr: float,
        min_lr: float,
        cycle_steps: int,
        n_models: int | None = None,
        directory: str = "fge",
        save_format: str = "weights",
        overwrite: bool = False,
        verbose: int = 0,
        *,
        warmup_steps: int | float = 0,
        warmup_start_lr: float = 0.0,
        warmup_shape: str = "linear",
    ):
        self.max_lr = _groups.per_group("max_lr", max_lr, v.positive_float)
        self.min_lr = _groups.per_group("min_lr", min_lr, v.positive_float)
        n = _groups.group_count({"max_lr": self.max_lr, "min_lr": self.min_lr}) or 1
        for g in range(n):
            high, low = _groups.at(self.max_lr, g), _groups.at(self.min_lr, g)
            v.at_most("min_lr", low, "max_lr", high)
            # By position: independent of the schedule's own argument names.
            self.cycle_steps = S.GeometricCycle(high, low, cycle_steps).cycle_steps
        self.n_models = v.optional_positive_int("n_models", n_models)
        warmup = (warmup_steps, warmup_start_lr, warmup_shape)
        super().__init__(directory, save_format, overwrite, verbose, warmup)

    lr_high = renamed_attribute("lr_high", "max_lr")
    lr_low = renamed_attribute("lr_low", "min_lr")

    def build(self, context):
        return S.GeometricCycle(self.max_lr, self.min_lr, self.cycle_steps)

    def boundaries(self, context):
        if context.total_steps is None:
            raise ValueError(
                "FastGeometricEnsemble needs the length of the fit: train with data "
                "of known length or pass `steps_per_epoch` to `fit`."
            )
        c, w = self.cycle_steps, self.warmup_length(context)
        start, end = context.start_step, max(context.total_steps, context.start_step)
        if context.horizon is not None:
            end = context.horizon
        out = []
        k = max(start - w, 0) // c
        while w + k * c + c // 2 <= end:
            step = w + k * c + c // 2
            if step > start:
                out.append(_Boundary(k, step))
            k += 1
        if self.n_models is not None:
            out = out[: self.n_models]
        if not out:
            raise ValueError(
                f"FastGeometricEnsemble saves at the middle of each {c}-step cycle"
                + (f" after a warm-up of {w} steps" if w else "")
                + ", and this fit ends before the first one. Train longer or lower "
                "`cycle_steps`."
            )
        return out

    def _config(self):
        return dict(
            super()._config(),
            max_lr=self.max_lr,
            min_lr=self.min_lr,
            cycle_steps=self.cycle_steps,
            n_models=self.n_models,
        )

    @classmethod
    def from_config(cls, config):
        # A config saved before the rename is data, not a call to fix: no warning.
        config = {_FGE_RENAMES.get(key, key): value for key, value in config.items()}
        return cls(**config)
