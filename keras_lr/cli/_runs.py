"""The training runs of `keras-lr demo`: one network, the range test, each schedule, the ensemble.

The same small network, from the same initial weights and with the same
shuffling, trains for the same number of epochs under each schedule.  The
test set is only reported on (per epoch, as `validation_data`): nothing is
tuned on it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_lr
from keras_lr import schedules as S

TARGET = 0.95  # the test accuracy whose first epoch the report gives
FINDER = dict(min_lr=1e-6, max_lr=10.0, num_steps=100)


@dataclasses.dataclass
class Run:
    """One training run of the demo and what it measured."""

    key: str  # file names: history_<key>.csv, lr_<key>.png
    label: str
    settings: str
    callback: Any
    epochs: Any = None  # DataFrame, one row per epoch
    seconds: float = 0.0
    accuracy: float = math.nan
    loss: float = math.nan
    reached: int | None = None


@dataclasses.dataclass
class SeedRuns:
    """One seed's demo: its range test and the rates taken from it, the runs, the ensemble."""

    seed: int
    finder: Any
    rate: float  # the suggestion: the constant run's rate
    base: float  # cyclic_bounds(): CyclicLR's lower bound
    peak: float  # and the top rate of every schedule
    runs: list[Run]  # the six schedule runs
    ensemble: Run

    @property
    def results(self) -> list[Run]:
        """The six runs, then the ensemble: the rows of the results table."""
        return [*self.runs, self.ensemble]


def network() -> keras.Model:
    """The 64-64-10 network every run trains (uncompiled)."""
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _compiled(initial_weights, rate: float) -> keras.Model:
    model = network()
    model.set_weights(initial_weights)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _interactive() -> bool:
    return sys.stdout.isatty()


class _EpochBar(keras.callbacks.Callback):
    """A progress bar over epochs: one line per run (redrawn on a terminal)."""

    def __init__(self, epochs: int):
        super().__init__()
        names = ["loss", "accuracy", "test_accuracy", "lr"]
        self.bar = keras.utils.Progbar(
            epochs,
            verbose=1 if _interactive() else 2,
            stateful_metrics=names,
            unit_name="epoch",
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        values = [
            (name, float(logs[key]))
            for name, key in (
                ("loss", "loss"),
                ("accuracy", "accuracy"),
                ("test_accuracy", "val_accuracy"),
                ("lr", "learning_rate"),
            )
            if key in logs
        ]
        self.bar.update(epoch + 1, values)


def _first_reached(accuracies, epochs=None) -> int | None:
    """The first epoch (1-based, or from `epochs`) whose accuracy is >= TARGET."""
    for i, acc in enumerate(accuracies):
        if acc >= TARGET:
            return int(epochs[i]) if epochs is not None else i + 1
    return None


def train(run: Run, initial, data, test, epochs: int, batch_size: int, seed: int):
    """Fits a fresh network with `run.callback`, fills in `run`'s results, returns the model."""
    model = _compiled(initial, 0.01)  # the callback sets the rate from step 0
    keras.utils.set_random_seed(seed)  # the same shuffling in every run
    start = time.perf_counter()
    fit = model.fit(
        *data,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=test,
        # One batch: one compiled shape (JAX compiles each) and fewer steps.
        validation_batch_size=len(test[0]),
        callbacks=[run.callback, _EpochBar(epochs)],
        verbose=0,
    )
    run.seconds = time.perf_counter() - start
    import pandas as pd

    logs = fit.history
    run.epochs = pd.DataFrame(
        {
            "epoch": np.arange(1, len(logs["loss"]) + 1),
            "lr": logs["learning_rate"],
            "loss": logs["loss"],
            "accuracy": logs["accuracy"],
            "test_loss": logs["val_loss"],
            "test_accuracy": logs["val_accuracy"],
        }
    )
    run.loss, run.accuracy = (float(logs[k][-1]) for k in ("val_loss", "val_accuracy"))
    run.reached = _first_reached(logs["val_accuracy"])
    return model


def ensemble_run(snap_run: Run, model, test, steps_per_epoch: int, n: int) -> Run:
    """The snapshot ensemble evaluated on the test set, with the epoch it first hit TARGET."""
    start = time.perf_counter()
    paths = snap_run.callback.snapshot_paths
    ensemble = keras_lr.load_ensemble(model, paths)
    scores = ensemble.evaluate(*test, batch_size=len(test[0]), verbose=0, return_dict=True)
    # The ensemble of the first k snapshots exists from snapshot k's step on.
    probe = keras.models.clone_model(model)
    mean = 0.0
    accuracies = []
    for k, path in enumerate(paths):
        probe.load_weights(path)
        mean = mean + (probe.predict(test[0], batch_size=len(test[0]), verbose=0) - mean) / (k + 1)
        accuracies.append(float(np.mean(np.argmax(mean, axis=-1) == test[1])))
    steps = snap_run.callback.manifest["step"].to_numpy()
    snap_epochs = np.ceil(steps / steps_per_epoch).astype(int)
    run = Run(
        key="snapshot_ensemble",
        label=f"snapshot ensemble (M={len(paths)})",
        settings="mean of the snapshots' outputs, `load_ensemble`",
        callback=None,
        accuracy=float(scores["accuracy"]),
        loss=float(scores["loss"]),
        reached=_first_reached(accuracies, snap_epochs),
        seconds=snap_run.seconds + time.perf_counter() - start,
    )
    run.epochs = {"epoch": snap_epochs, "test_accuracy": np.array(accuracies)}
    print(
        f"      ensemble of {len(paths)} snapshots: test accuracy {run.accuracy:.4f}, "
        f"log loss {run.loss:.4f}"
    )
    return run


def range_test(initial, data, batch_size: int):
    """(finder, suggested rate, CyclicLR base, peak) of `find_lr` on the network."""
    model = _compiled(initial, 0.01)
    finder = keras_lr.find_lr(
        model, *data, batch_size=batch_size, verbose=1 if _interactive() else 0, **FINDER
    )
    try:
        rate = finder.suggestion()
    except ValueError:
        rate = 0.01  # a curve too short to read: Keras's default SGD rate
    try:
        base, peak = finder.cyclic_bounds()
    except ValueError:
        base, peak = rate, 10 * rate
    return finder, rate, base, peak


def schedule_runs(rate, base, peak, epochs, spe, n_snapshots, out: Path) -> list[Run]:
    """The six runs, each with its callback set from the range test's rates."""
    total = epochs * spe
    milestones = sorted({m for m in (epochs // 2, 3 * epochs // 4) if m > 0})
    step_size = max(1, total // 4)  # two whole cycles: training ends at base_lr
    cycle = max(1, epochs // 7)  # cycles of c, 2c and 4c epochs fill 7c
    return [
        Run(
            "constant",
            "constant rate",
            f"{rate:.3g} (the range test's suggestion)",
            keras_lr.ScheduleCallback(S.Constant(rate)),
        ),
        Run(
            "step_decay",
            "StepDecay",
            f"{peak:.3g}, x0.1 at epochs {', '.join(map(str, milestones)) or 'none'}",
            keras_lr.StepDecay(peak, 0.1, step_size=epochs + 1, milestones=milestones or None),
        ),
        Run(
            "cyclic",
            "CyclicLR",
            f"triangular {base:.3g} .. {peak:.3g}, step_size={step_size}",
            keras_lr.CyclicLR(base, peak, step_size=step_size),
        ),
        Run(
            "sgdr",
            "SGDRScheduler",
            f"{peak:.3g} to 0, cycles of {cycle}, {2 * cycle}, {4 * cycle}... epochs",
            keras_lr.SGDRScheduler(0.0, peak, cycle_length=cycle, mult_factor=2.0),
        ),
        Run(
            "one_cycle",
            "OneCycleLR",
            f"max_lr={peak:.3g}, up for 30% of the steps",
            keras_lr.OneCycleLR(peak),
        ),
        Run(
            "snapshot",
            "SnapshotEnsemble (last snapshot)",
            f"{n_snapshots} cosine cycles from {peak:.3g}",
            keras_lr.SnapshotEnsemble(
                n_snapshots, max_lr=peak, directory=out / "snapshots", overwrite=True
            ),
        ),
    ]
