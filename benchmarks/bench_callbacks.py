"""Benchmark 1: per-step overhead of every scheduling callback against bare `fit`.

Tiny model (Dense 32 -> 64 -> 1), batch 16, 2 epochs x 1024 steps.  Each case
trains its own copy of the model, so one case's compiled step never serves
another; every timed run starts at optimizer step 0.  Anchors: the classic
per-batch Python CLR callback, and Keras's in-graph `CosineDecayRestarts`.

Momentum cycling is timed on the same model built with a momentum (SGD with
momentum=0.9, or Adam's beta_1): the optimizer alone, the schedule with the
momentum left alone (`cycle_momentum=False`), and the schedule cycling it, so
that the cost of cycling is the difference between the last two.
"""

from __future__ import annotations

import tempfile

from _common import fit_from_step_zero, interleaved, mlp, per_batch_clr, regression_data

STEPS_PER_EPOCH = 1024
EPOCHS = 2
BATCH = 16


def callbacks(spe: int, epochs: int, snapshot_dir: str) -> dict:
    """A fresh instance of every scheduling callback, for a run of epochs x spe steps."""
    import keras_lr

    return {
        "CyclicLR": keras_lr.CyclicLR(1e-3, 6e-3, step_size=spe // 4),
        "CyclicLR exp_range": keras_lr.CyclicLR(
            1e-3, 6e-3, step_size=spe // 4, mode="exp_range", gamma=0.9999
        ),
        "SGDRScheduler": keras_lr.SGDRScheduler(1e-4, 1e-2, cycle_length=1, mult_factor=2.0),
        "StepDecay": keras_lr.StepDecay(1e-2, decay_factor=0.5, step_size=1),
        "OneCycleLR": keras_lr.OneCycleLR(1e-2),
        "PolynomialDecay": keras_lr.PolynomialDecay(1e-2, total_steps=spe * epochs, power=2.0),
        "ExponentialDecay": keras_lr.ExponentialDecay(1e-2, gamma=0.9),
        "CosineAnnealing": keras_lr.CosineAnnealing(1e-2, 1e-4),
        "CosineAnnealing + warmup": keras_lr.CosineAnnealing(1e-2, 1e-4, warmup_steps=spe // 2),
        "LambdaSchedule": keras_lr.LambdaSchedule(lambda step: 1e-2 / (1.0 + 1e-3 * step)),
        "ReduceLROnPlateau": keras_lr.ReduceLROnPlateau(monitor="loss", patience=1),
        "SnapshotEnsemble (2 files written)": keras_lr.SnapshotEnsemble(
            2, max_lr=1e-2, directory=snapshot_dir, overwrite=True
        ),
    }


def momentum_callbacks(spe: int) -> dict:
    """(optimizer, callback or None) per momentum case: cycled against left alone."""
    import keras

    import keras_lr

    def sgd():
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

    def adam():
        return keras.optimizers.Adam(learning_rate=1e-3)

    return {
        "SGD momentum=0.9, no callback": (sgd(), None),
        "OneCycleLR, SGD momentum=0.9 not cycled": (
            sgd(),
            keras_lr.OneCycleLR(1e-2, cycle_momentum=False),
        ),
        "OneCycleLR + cycle_momentum (SGD momentum)": (
            sgd(),
            keras_lr.OneCycleLR(1e-2, cycle_momentum=True),
        ),
        "CyclicLR + cycle_momentum (SGD momentum)": (
            sgd(),
            keras_lr.CyclicLR(1e-3, 6e-3, step_size=spe // 4, cycle_momentum=True),
        ),
        "Adam, no callback": (adam(), None),
        "OneCycleLR, Adam beta_1 not cycled": (
            adam(),
            keras_lr.OneCycleLR(1e-3, cycle_momentum=False),
        ),
        "OneCycleLR + cycle_momentum (Adam beta_1)": (
            adam(),
            keras_lr.OneCycleLR(1e-3, cycle_momentum=True),
        ),
    }


def run(repeats: int = 5, quick: bool = False) -> list[dict]:
    import keras

    spe, epochs = (64, 2) if quick else (STEPS_PER_EPOCH, EPOCHS)
    x, y = regression_data(spe * BATCH)
    cases = {}

    def case(callback_list, model):
        return lambda: fit_from_step_zero(model, x, y, callback_list, epochs, BATCH)

    with tempfile.TemporaryDirectory() as snapshot_dir:
        cases["bare fit"] = case([], mlp(64))
        for name, callback in callbacks(spe, epochs, snapshot_dir).items():
            cases[name] = case([callback], mlp(64))
        for name, (optimizer, callback) in momentum_callbacks(spe).items():
            model = mlp(64)
            model.compile(optimizer=optimizer, loss="mse")
            cases[name] = case([] if callback is None else [callback], model)
        cases["anchor: per-batch Python CLR"] = case([per_batch_clr()], mlp(64))
        restarts = mlp(64)
        restarts.compile(
            optimizer=keras.optimizers.SGD(
                keras.optimizers.schedules.CosineDecayRestarts(1e-2, spe // 2)
            ),
            loss="mse",
        )
        cases["anchor: Keras CosineDecayRestarts"] = case([], restarts)
        result = interleaved(cases, "bare fit", repeats=repeats)
    return [{"benchmark": "callbacks", "case": name, **figures} for name, figures in result.items()]
