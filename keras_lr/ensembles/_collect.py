"""Ensembles from one training run: snapshots, FGE and SWA.

`SnapshotEnsemble` and `FastGeometricEnsemble` are scheduling callbacks (the
rate is evaluated in the compiled step, exact and resumable) that also save
the model at chosen steps.  A snapshot falls at a step boundary that may lie
inside an epoch; it is taken at the start of the next batch (or at the epoch
end), where the weights are those after the boundary step.  The check costs an
integer comparison per batch and reads nothing from the device except at the
M snapshot steps, and it lives in `on_train_batch_begin`, which does not
switch off Keras's asynchronous dispatch as batch-end hooks do.

Files are written atomically (a temporary file in the same directory, then a
rename) and listed in `manifest.json`, rewritten atomically after each file is
in place, so a crash during a save leaves earlier snapshots and the manifest
intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import tempfile
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _history, _rate, _state
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr._io import TEMP_PREFIX, atomic_write, is_chief
from keras_lr.callbacks._base import FitContext, ScheduleCallback, fit_context
from keras_lr.ensembles._load import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SAVE_FORMATS,
    read_manifest,
    snapshot_paths,
)

__all__ = [
    "SnapshotEnsemble",
    "FastGeometricEnsemble",
    "StochasticWeightAveraging",
    "update_bn",
]

MANIFEST = MANIFEST_NAME
# Key of SWA's running average in an optimizer's `TrainingState`.
_SWA_COUNT = "swa_count"
_FORMATS = {name: SAVE_FORMATS[name] for name in ("weights", "model")}


@dataclasses.dataclass(frozen=True)
class _Boundary:
    index: int
    step: int  # optimizer steps completed when the snapshot is taken


class _SnapshotWriter:
    """Writes numbered snapshot files and the manifest, atomically."""

    def __init__(self, directory: str, save_format: str, overwrite: bool, kind: str):
        self.directory = os.fspath(directory)
        self.save_format = save_format
        self.overwrite = overwrite
        self.kind = kind
        self.entries: list[dict] = []

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.directory, MANIFEST)

    def file_name(self, index: int) -> str:
        return f"snapshot-{index:03d}{_FORMATS[self.save_format]}"

    def _ours(self) -> list[str]:
        patterns = ["snapshot-*.weights.h5", "snapshot-*.keras", MANIFEST, TEMP_PREFIX + "*"]
        found = []
        for pattern in patterns:
            found += glob.glob(os.path.join(glob.escape(self.directory), pattern))
        return found

    def prepare(self, start_step: int, owner: str) -> None:
        """Checks and readies the directory before training starts.

        A directory holding a manifest whose snapshots all precede the current
        step is a resumed run: numbering continues.  Any other non-empty
        directory is refused unless `overwrite=True`, which removes the
        snapshot files and manifest found there (and nothing else).  Temporary
        files of an interrupted write do not count.  A worker that is not the
        chief (multi-worker training) takes the same decision from what it
        reads, and changes nothing on disk.
        """
        chief = is_chief()
        if chief:
            os.makedirs(self.directory, exist_ok=True)
            # Temporary files of a write that was killed midway: never a
            # snapshot, only ever left by a process that is gone.
            leftovers = glob.glob(os.path.join(glob.escape(self.directory), TEMP_PREFIX + "*"))
            for path in leftovers:
                with contextlib.suppress(OSError):
                    os.remove(path)
        existing = [
            name
            for name in (os.listdir(self.directory) if os.path.isdir(self.directory) else [])
            if not name.startswith(TEMP_PREFIX)
        ]
        self.entries = []
        if existing:
            entries = self._read_entries()
            resumable = (
                entries is not None
                and start_step > 0
                and all(e["step"] <= start_step for e in entries)
            )
            if resumable:
                self.entries = entries
            elif self.overwrite:
                for path in self._ours() if chief else []:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
            else:
                raise ValueError(
                    f"{owner}: directory {self.directory!r} is not empty and does not "
                    "hold snapshots of this run to resume. Pass `overwrite=True` to "
                    "replace its snapshots, or choose another `directory`."
                )
        if chief:
            self._check_writable(owner)

    def _read_entries(self) -> list[dict] | None:
        """The manifest's snapshots if it is valid and every file is there."""
        try:
            entries = read_manifest(self.directory)["snapshots"]
            snapshot_paths(self.directory)
        except (OSError, ValueError, TypeError):
            return None
        return entries

    def _check_writable(self, owner: str) -> None:
        try:
            fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe-", dir=self.directory)
            os.close(fd)
            os.remove(probe)
        except OSError as err:
            raise PermissionError(
                f"{owner}: cannot write snapshots to {self.directory!r}: {err.strerror}. "
                "Choose a writable `directory`."
            ) from err

    def save(self, model: Any, entry: dict, owner: str) -> str:
        """Saves `model` as snapshot `entry["index"]`, then updates the manifest.

        An `OSError` (full disk, lost permission) leaves the earlier files and
        manifest as they were and is raised again naming the file.
        """
        name = self.file_name(entry["index"])
        final = os.path.join(self.directory, name)
        if self.save_format == "weights":
            write = lambda tmp: model.save_weights(tmp, overwrite=True)  # noqa: E731
        else:
            write = lambda tmp: model.save(tmp, overwrite=True)  # noqa: E731
        with _naming_the_file(owner, f"snapshot {entry['index']}", final):
            atomic_write(final, write, suffix=_FORMATS[self.save_format])
        entry = dict(entry, file=name)
        entries = [e for e in self.entries if e["index"] != entry["index"]] + [entry]
        entries.sort(key=lambda e: e["index"])
        with _naming_the_file(owner, "the manifest", self.manifest_path):
            self._write_manifest(entries)
        self.entries = entries
        return final

    def _write_manifest(self, entries: list[dict]) -> None:
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "kind": self.kind,
            "save_format": self.save_format,
            "snapshots": entries,
        }

        def write(tmp: str) -> None:
            with open(tmp, "w") as handle:
                json.dump(manifest, handle, indent=2)

        atomic_write(self.manifest_path, write, suffix=".json")

    @property
    def paths(self) -> list[str]:
        return [os.path.join(self.directory, e["file"]) for e in self.entries]


@contextlib.contextmanager
def _naming_the_file(owner: str, what: str, path: str):
    """Re-raises an OSError of writing `path` with a message naming it."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        message = (
            f"{owner}: could not write {what} to {path!r}: {reason}. The snapshots "
            "and manifest written before are intact."
        )
        try:
            named = type(err)(err.errno, message)
        except Exception:  # an OSError subclass with another signature
            named = OSError(err.errno, message)
        raise named from err


class _CollectingCallback(ScheduleCallback):
    """A scheduling callback that saves the model at given step boundaries."""

    _kind = "snapshots"

    def __init__(self, directory, save_format, overwrite, verbose):
        super().__init__()
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise TypeError(
                f"Argument `directory` must be a path. Received: directory={directory!r}"
            )
        self.directory = os.fspath(directory)
        self.save_format = v.one_of("save_format", save_format, tuple(_FORMATS))
        if not isinstance(overwrite, bool):
            raise TypeError(
                f"Argument `overwrite` must be a bool. Received: overwrite={overwrite!r}"
            )
        self.overwrite = overwrite
        self.verbose = v.nonnegative_int("verbose", verbose)
        self._writer = _SnapshotWriter(self.directory, self.save_format, overwrite, self._kind)
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
        import pandas as pd

        rows = [
            {
                "index": e["index"],
                "step": e["step"],
                "epoch": e["epoch"],
                "lr": e["lr"],
                "path": path,
            }
            for e, path in zip(self._writer.entries, self._writer.paths)
        ]
        return pd.DataFrame(rows, columns=["index", "step", "epoch", "lr", "path"])

    def ensemble(self, last: int | None = None) -> keras.Model:
        """One model averaging the snapshots' outputs (see `keras_lr.load_ensemble`).

        Args:
            last: use only the last `last` snapshots (None: all).
        """
        from keras_lr.ensembles._load import load_ensemble

        paths = self.snapshot_paths
        if not paths:
            raise ValueError(f"{type(self).__name__} has no snapshots yet: train first.")
        if last is not None:
            last = v.positive_int("last", last)
            paths = paths[-last:]
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
        spe = context.steps_per_epoch
        if spx > 1 and spe:
            # Batch hooks run once per execution: a boundary must end one.
            n = self._accumulation
            unreachable = [
                b.step for b in pending if ((b.step - context.start_step) * n % (spe * n)) % spx
            ]
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
        opt = _rate.optimizers_of(self.model, type(self).__name__)[0]
        rate = _rate.rate_at(opt, boundary.step - 1)
        entry = {
            "index": boundary.index,
            "step": boundary.step,
            "epoch": epoch,
            "lr": rate,
            "logs": logs,
        }
        optimizers = _rate.optimizers_of(self.model, type(self).__name__)
        with _rate.float_layout(optimizers):
            path = self._writer.save(self.model, entry, type(self).__name__)
        if self.verbose:
            print(f"\n{type(self).__name__}: saved {path} (step {boundary.step}, lr {rate:.3g})")

    def _config(self):
        return {
            "directory": self.directory,
            "save_format": self.save_format,
            "overwrite": self.overwrite,
            "verbose": self.verbose,
        }


class SnapshotEnsemble(_CollectingCallback):
    """Snapshot ensembles: "Train 1, get M for free" (Huang et al. 2017).

    A cyclic cosine schedule restarts M times over the T steps of training;
    at the end of each cycle the model sits in a minimum and is saved, giving
    M models whose averaged outputs beat a single one.  Per optimizer step,
    with t = i + 1 the 1-based step and C = ceil(T / M):

        lr(t) = max_lr / 2 * (cos(pi * mod(t - 1, C) / C) + 1)

    Exactly M snapshots are saved, after steps C, 2C, ..., (M - 1)C and T.
    T is epochs x steps per epoch from `fit` (or `epochs` x steps when given).

    Args:
        n_snapshots: M, the number of cycles and snapshots, >= 1.
        max_lr: the rate at the start of every cycle, > 0.
        directory: where to write the snapshots and `manifest.json`.
        epochs: total epochs of the training the cycles span (default: the
            `epochs` of `fit`); set it when training runs over several fits.
        save_format: "weights" (`.weights.h5`) or "model" (whole `.keras` models).
        overwrite: replace the snapshots of an existing non-empty directory.
        verbose: 1 prints a line per snapshot.

    Attributes:
        snapshot_paths: the files written, in order.
        history: per-step rates and epoch logs (as every scheduling callback).

    Example:
        >>> import keras_lr
        >>> snap = keras_lr.SnapshotEnsemble(n_snapshots=2, max_lr=0.2, directory="snaps")
        >>> snap.schedule(6, steps_per_epoch=3, epochs=2).round(3).tolist()
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
    ):
        self.n_snapshots = v.positive_int("n_snapshots", n_snapshots)
        self.max_lr = v.positive_float("max_lr", max_lr)
        self.epochs = v.optional_positive_int("epochs", epochs)
        super().__init__(directory, save_format, overwrite, verbose)

    def _total(self, context: FitContext) -> int:
        spe = self._steps_per_epoch(context, None)
        epochs = self.epochs if self.epochs is not None else context.epochs
        if epochs is None:
            raise ValueError(
                "SnapshotEnsemble needs the number of epochs: pass `epochs=` to the "
                "callback, or to `.schedule()` for a preview."
            )
        total = epochs * spe
        if self.n_snapshots > total:
            raise ValueError(
                "Argument `n_snapshots` must not exceed the training steps. "
                f"Received: n_snapshots={self.n_snapshots} for {total} steps"
            )
        cycle = math.ceil(total / self.n_snapshots)
        if (self.n_snapshots - 1) * cycle >= total:
            raise ValueError(
                f"Argument `n_snapshots` is too large for {total} steps: cycles of "
                f"ceil(T / M) = {cycle} steps give only {math.ceil(total / cycle)} "
                f"cycles. Received: n_snapshots={self.n_snapshots}"
            )
        return total

    def build(self, context):
        total = self._total(context)
        cycle = math.ceil(total / self.n_snapshots)
        return S.CosineRestarts(0.0, self.max_lr, cycle, mult_factor=1.0, lr_decay=1.0)

    def boundaries(self, context):
        total = self._total(context)
        cycle = math.ceil(total / self.n_snapshots)
        steps = [cycle * (k + 1) for k in range(self.n_snapshots - 1)] + [total]
        return [_Boundary(k, step) for k, step in enumerate(steps)]

    def _config(self):
        return dict(
            super()._config(),
            n_snapshots=self.n_snapshots,
            max_lr=self.max_lr,
            epochs=self.epochs,
        )

    def get_config(self):
        return self._config()


class FastGeometricEnsemble(_CollectingCallback):
    """Fast Geometric Ensembling (Garipov et al. 2018).

    Short triangular cycles of `cycle_steps` steps between `lr_high` and
    `lr_low` (`schedules.GeometricCycle`); a model is saved at the middle of
    every cycle, where the rate is lowest.  Cycles count from the optimizer's
    step 0, so the schedule is resumable; FGE is meant to follow a normal
    training run (a first `fit`), then run for a few epochs.

    Args:
        lr_high: rate at the ends of each cycle.
        lr_low: rate at the middle of each cycle, where models are saved.
        cycle_steps: steps per cycle, even; the paper uses 2-4 epochs' worth.
        n_models: stop saving after this many models in one fit (None: all).
        directory, save_format, overwrite, verbose: as `SnapshotEnsemble`.

    References:
        Garipov et al., "Loss Surfaces, Mode Connectivity, and Fast Ensembling
        of DNNs", NeurIPS 2018, arXiv:1802.10026.
    """

    _kind = "FastGeometricEnsemble"

    def __init__(
        self,
        lr_high: float,
        lr_low: float,
        cycle_steps: int,
        n_models: int | None = None,
        directory: str = "fge",
        save_format: str = "weights",
        overwrite: bool = False,
        verbose: int = 0,
    ):
        self._schedule = S.GeometricCycle(lr_high, lr_low, cycle_steps)
        self.lr_high, self.lr_low = self._schedule.lr_high, self._schedule.lr_low
        self.cycle_steps = self._schedule.cycle_steps
        self.n_models = v.optional_positive_int("n_models", n_models)
        super().__init__(directory, save_format, overwrite, verbose)

    def build(self, context):
        return self._schedule

    def boundaries(self, context):
        if context.total_steps is None:
            raise ValueError(
                "FastGeometricEnsemble needs the length of the fit: train with data "
                "of known length or pass `steps_per_epoch` to `fit`."
            )
        half = self.cycle_steps // 2
        start, end = context.start_step, max(context.total_steps, context.start_step)
        if context.horizon is not None:
            end = context.horizon
        first = start // self.cycle_steps
        out = []
        k = first
        while k * self.cycle_steps + half <= end:
            step = k * self.cycle_steps + half
            if step > start:
                out.append(_Boundary(k, step))
            k += 1
        if self.n_models is not None:
            out = out[: self.n_models]
        if not out:
            raise ValueError(
                f"FastGeometricEnsemble saves at the middle of each {self.cycle_steps}-"
                "step cycle, and this fit ends before the first one. Train longer "
                "or lower `cycle_steps`."
            )
        return out

    def _config(self):
        return dict(
            super()._config(),
            lr_high=self.lr_high,
            lr_low=self.lr_low,
            cycle_steps=self.cycle_steps,
            n_models=self.n_models,
        )

    def get_config(self):
        return self._config()


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Stochastic Weight Averaging (Izmailov et al. 2018).

    From epoch `start_epoch` on, keeps the running average of the trainable
    weights at each epoch end, w_swa <- (n w_swa + w) / (n + 1), and swaps it
    into the model at train end.  With `swa_lr`, the rate is held at `swa_lr`
    from the first step of `start_epoch` on (on top of whatever schedule ran
    before).  Batch-normalisation statistics of averaged weights need
    recomputing: call `keras_lr.update_bn(model, x)` after training.

    The average (float64) and its count are kept with the optimizer, so they
    are saved by `model.save_weights` and `BackupAndRestore` (list it after
    this callback when it backs up at epoch ends) and a resumed run, or a
    later `fit()` with a new callback on the same model, continues the same
    average.  Weight files written while SWA runs grow by the average's size.

    Args:
        start_epoch: first epoch (0-based) whose end weights enter the average.
        swa_lr: constant rate from `start_epoch` on, or None to leave it.
        swap_at_end: put the average into the model at train end; the final
            weights stay available as `final_weights`.
        verbose: 1 prints a line when the average is swapped in.

    Attributes:
        n_averaged: how many epoch-end weights are in the average.
        average: the averaged trainable weights (NumPy arrays).

    References:
        Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", UAI 2018, arXiv:1803.05407.
    """

    def __init__(
        self,
        start_epoch: int,
        swa_lr: float | None = None,
        swap_at_end: bool = True,
        verbose: int = 0,
    ):
        super().__init__()
        self.start_epoch = v.nonnegative_int("start_epoch", start_epoch)
        self.swa_lr = None if swa_lr is None else v.positive_float("swa_lr", swa_lr)
        if not isinstance(swap_at_end, bool):
            raise TypeError(
                f"Argument `swap_at_end` must be a bool. Received: swap_at_end={swap_at_end!r}"
            )
        self.swap_at_end = swap_at_end
        self.verbose = v.nonnegative_int("verbose", verbose)
        self.n_averaged = 0
        self.average: list[np.ndarray] | None = None
        self.final_weights: list[np.ndarray] | None = None
        self._rate_set = False

    def get_config(self) -> dict:
        return {
            "start_epoch": self.start_epoch,
            "swa_lr": self.swa_lr,
            "swap_at_end": self.swap_at_end,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def set_model(self, model):
        super().set_model(model)
        if getattr(model, "optimizer", None) is not None:
            self._state()  # attached now, for BackupAndRestore to load into

    def _state(self):
        return _state.training_state(
            _rate.optimizers_of(self.model, "StochasticWeightAveraging")[0]
        )

    def _load_average(self) -> None:
        """The average and count kept with the optimizer (a resumed run's)."""
        state = self._state()
        count = state.get(_SWA_COUNT)
        if count is None:
            self.n_averaged, self.average = 0, None
            return
        self.n_averaged = int(count)
        self.average = [state.get(f"{_SWA_COUNT}_{k}") for k in range(self._n_weights())]

    def _save_average(self) -> None:
        state = self._state()
        state.set(_SWA_COUNT, self.n_averaged)
        for k, value in enumerate(self.average):
            state.set(f"{_SWA_COUNT}_{k}", value)

    def _n_weights(self) -> int:
        return len(self.model.trainable_variables)

    def on_train_begin(self, logs=None):
        _rate.optimizers_of(self.model, "StochasticWeightAveraging")
        self._rate_set = False
        self._load_average()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swa_lr is None or self._rate_set or epoch < self.start_epoch:
            return
        # Done at the first epoch of the SWA phase, after every other
        # callback's on_train_begin, so it layers over whatever they installed.
        optimizers = _rate.optimizers_of(self.model, "StochasticWeightAveraging")
        context = fit_context(self.model, self.params, _rate.current_step(optimizers[0]))
        spe = context.steps_per_epoch
        changed = False
        for opt in optimizers:
            source = _rate.rate_source(opt)
            if _compat.is_variable(source):
                _rate.install(opt, self.swa_lr)
                continue
            if spe is None:
                raise ValueError(
                    "StochasticWeightAveraging with `swa_lr` over a schedule needs "
                    "the steps per epoch: "
                    + (context.unknown_reason or "pass `steps_per_epoch` to `fit`.")
                )
            start = self.start_epoch * spe
            before = source if isinstance(source, S.Schedule) else S.Scaled(source, 1.0)
            swa = S.Constant(self.swa_lr)
            joined = S.Join([before, swa], [start]) if start > 0 else swa
            _rate.install(opt, joined)
            changed = True
        if changed:
            _compat.retrace(self.model)
        self._rate_set = True

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        # Read back each epoch: BackupAndRestore may load after on_train_begin.
        self._load_average()
        weights = [
            np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64)
            for w in self.model.trainable_variables
        ]
        if self.average is None:
            self.average = weights
        else:
            n = self.n_averaged
            self.average = [(a * n + w) / (n + 1) for a, w in zip(self.average, weights)]
        self.n_averaged += 1
        self._save_average()

    def on_train_end(self, logs=None):
        if not self.swap_at_end or self.average is None:
            return
        variables = self.model.trainable_variables
        self.final_weights = [np.array(keras.ops.convert_to_numpy(w)) for w in variables]
        for var, avg in zip(variables, self.average):
            var.assign(avg.astype(keras.backend.standardize_dtype(var.dtype)))
        if self.verbose:
            print(
                f"\nStochasticWeightAveraging: swapped in the average of {self.n_averaged} epochs."
            )


def _batch_norm_layers(model) -> list:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            raise TypeError(
                "update_bn needs BatchNormalization layers at the top level of a "
                f"functional or Sequential model; {layer.name!r} is a nested model."
            )
    return found


def update_bn(model, x, batch_size: int = 32) -> int:
    """Recomputes BatchNormalization statistics for the current weights.

    Averaged weights (SWA, FGE) need statistics of their own.  Layer by layer in
    graph order, the inputs of each BatchNormalization layer are computed over
    all of `x` in inference mode (upstream layers already updated) and its
    moving mean and variance set to their exact population values.

    Args:
        model: a functional or Sequential Keras model.
        x: the training inputs (NumPy arrays, or a dict for several inputs).
        batch_size: batch size for the passes.

    Returns:
        The number of BatchNormalization layers updated.
    """
    batch_size = v.positive_int("batch_size", batch_size)
    layers = _batch_norm_layers(model)
    inputs = getattr(model, "inputs", None)
    if layers and not inputs:
        raise TypeError(
            "update_bn needs a model with defined inputs (functional, or "
            "Sequential built with keras.Input)."
        )
    for layer in layers:
        probe = keras.Model(inputs, layer.input)
        features = np.asarray(probe.predict(x, batch_size=batch_size, verbose=0), np.float64)
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        axis = [a % features.ndim for a in axis]
        reduce = tuple(a for a in range(features.ndim) if a not in axis)
        layer.moving_mean.assign(features.mean(axis=reduce).astype("float32"))
        layer.moving_variance.assign(features.var(axis=reduce).astype("float32"))
    return len(layers)
