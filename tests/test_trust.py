"""No silent wrong result, and the optimizer left as Keras users expect.

Through real `model.fit` runs on each backend: after `fit` (a normal end or an
exception) every optimizer a callback drove reads a plain float rate again;
gradient accumulation counts a schedule's steps in optimizer updates; epochs
that `steps_per_execution` cannot split exactly are refused; misuse (two
drivers, a schedule shorter than the fit, one schedule over a MultiOptimizer
of different rates) is refused or warned about before the first step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from conftest import BACKEND, MULTI_STEP_EXECUTION, RateProbe, assert_rates

import keras_lr
from keras_lr import schedules as S

HERE = os.path.dirname(os.path.abspath(__file__))
SPE = 4
EPOCHS = 3
TOTAL = SPE * EPOCHS
F32_ATOL = 1.5e-7

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

DRIVERS = {
    "cyclic": lambda d: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3),
    "one_cycle": lambda d: keras_lr.OneCycleLR(max_lr=0.5),
    "step_decay": lambda d: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=1),
    "sgdr": lambda d: keras_lr.SGDRScheduler(min_lr=0.01, max_lr=0.4, cycle_length=1),
    "lambda": lambda d: keras_lr.LambdaSchedule(lambda i: 0.3 / (1 + i)),
    "join": lambda d: keras_lr.ScheduleCallback(
        S.Join([S.Linear(0.0, 0.4, 4), S.Cosine(0.4, 0.04, 8)], boundaries=[4])
    ),
    "snapshot": lambda d: keras_lr.SnapshotEnsemble(2, max_lr=0.3, directory=d),
    "fge": lambda d: keras_lr.FastGeometricEnsemble(0.3, 0.05, cycle_steps=4, directory=d),
}


def value(x) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(x)))


def steps(model) -> int:
    return int(value(model.optimizer.iterations))


def layout(optimizer):
    """The optimizer's variables in order: the step, the rate, then slots by shape."""
    own = ("iteration", "learning_rate")
    return [(v.name if v.name in own else "slot", tuple(v.shape)) for v in optimizer.variables]


def fresh_layout(n):
    probe = RateProbe(n)
    probe.model.optimizer.build(probe.model.trainable_variables)
    return layout(probe.model.optimizer)


# -- 1. after fit, a plain Keras optimizer again ---------------------------------


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_after_fit_the_optimizer_reads_a_plain_float_of_the_last_rate(driver, tmp_path):
    probe = RateProbe(TOTAL + 2 * SPE)
    cb = DRIVERS[driver](str(tmp_path / "snaps"))
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    opt = probe.model.optimizer
    last = cb.history["lr"].to_numpy()[-1]
    assert_rates(value(opt.learning_rate), last, atol=F32_ATOL)
    # Keras's own layout: the same variables, in the same order.
    assert layout(opt) == fresh_layout(TOTAL + 2 * SPE)
    # The setter works, and a plain fit trains at what it set.
    opt.learning_rate = 0.0125
    probe.fit([], epochs=EPOCHS + 1, steps_per_epoch=SPE, initial_epoch=EPOCHS)
    assert_rates(probe.rates()[TOTAL : TOTAL + SPE], np.full(SPE, 0.0125))
    # Driven again: the same layout once more at its end.
    again = DRIVERS[driver](str(tmp_path / "snaps-again"))
    probe.fit([again], epochs=EPOCHS + 2, steps_per_epoch=SPE, initial_epoch=EPOCHS + 1)
    assert layout(opt) == fresh_layout(TOTAL + 2 * SPE)
    assert_rates(value(opt.learning_rate), again.history["lr"].to_numpy()[-1], atol=F32_ATOL)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        lambda: keras.optimizers.Adam(0.01),
    ],
    ids=["sgd_momentum", "adam"],
)
def test_optimizer_variables_keep_kerass_order_for_files_written_during_and_after_fit(
    make_optimizer, tmp_path
):
    def compiled():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.compile(make_optimizer(), "mse")
        return model

    x, y = np.ones((16, 4), "float32"), np.ones((16, 2), "float32")
    model = compiled()
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.1, directory=str(tmp_path / "snaps"))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[snap])
    reference = compiled()
    reference.optimizer.build(reference.trainable_variables)
    assert layout(model.optimizer) == layout(reference.optimizer)
    model.save_weights(str(tmp_path / "after.weights.h5"))
    for path in [*snap.snapshot_paths, str(tmp_path / "after.weights.h5")]:
        fresh = compiled()
        fresh.optimizer.build(fresh.trainable_variables)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "Skipping variable loading"
            fresh.load_weights(path)
        assert steps(fresh) in (4, 8)


def test_keras_schedulers_work_in_a_later_fit():
    probe = RateProbe(TOTAL + 4 * SPE)
    probe.fit([keras_lr.CosineAnnealing(max_lr=0.5)], epochs=EPOCHS, steps_per_epoch=SPE)
    probe.fit(
        [keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 * (epoch + 1))],
        epochs=EPOCHS + 1,
        steps_per_epoch=SPE,
        initial_epoch=EPOCHS,
    )
    assert_rates(probe.rates()[TOTAL : TOTAL + SPE], np.full(SPE, 0.05 * (EPOCHS + 1)))
    # The probe's loss stays 0: after its first epoch (an improvement on
    # inf), Keras's plateau callback halves the rate after every epoch.
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    probe.fit([plateau], epochs=EPOCHS + 4, steps_per_epoch=SPE, initial_epoch=EPOCHS + 1)
    rates = probe.rates()[TOTAL + SPE :].reshape(3, SPE)
    assert_rates(rates, np.array([[0.2], [0.2], [0.1]]).repeat(SPE, axis=1))


LOAD_WITHOUT_KERAS_LR = """
import json, sys
sys.path.insert(0, {here!r})
import conftest  # the probe's loss, registered with Keras
import keras
model = keras.saving.load_model({path!r})
assert "keras_lr" not in sys.modules
print(json.dumps([float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                  int(keras.ops.convert_to_numpy(model.optimizer.iterations))]))
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_model_saved_after_fit_loads_in_a_process_without_keras_lr(tmp_path):
    probe = RateProbe(TOTAL)
    cb = keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=1)
    probe.fit([cb, keras_lr.ReduceLROnPlateau(monitor="loss")], epochs=EPOCHS, steps_per_epoch=SPE)
    path = str(tmp_path / "model.keras")
    probe.model.save(path)
    proc = run_python(LOAD_WITHOUT_KERAS_LR.format(here=HERE, path=path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rate, step = json.loads(proc.stdout.strip().splitlines()[-1])
    assert step == TOTAL
    assert_rates(rate, cb.history["lr"].to_numpy()[-1])


def test_a_checkpoint_written_during_fit_needs_keras_lr_and_says_so(tmp_path):
    path = str(tmp_path / "during.keras")
    probe = RateProbe(TOTAL)
    probe.fit(
        [
            keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3),
            keras.callbacks.ModelCheckpoint(path),
        ],
        epochs=EPOCHS,
        steps_per_epoch=SPE,
    )
    proc = run_python(LOAD_WITHOUT_KERAS_LR.format(here=HERE, path=path))
    assert proc.returncode != 0
    assert "keras_lr" in proc.stderr
    # With keras_lr imported it loads, and a new callback resumes from it.
    model = keras.saving.load_model(path)
    assert steps(model) == TOTAL


def fail_in_step(monkeypatch, model, at, error):
    """Makes the train functions the model builds raise `error` once, at call `at`.

    The place where Ctrl-C or an error of a step lands: inside the compiled
    step, which is what keras_lr's guard wraps.
    """
    cls = type(model)
    build = cls.make_train_function
    calls = []

    def make_train_function(self, force=False):
        built = build(self, force=force)
        step = self.train_function
        if getattr(step, "_fails", False):
            return built

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == at + 1:  # once: later steps run as usual
                raise error
            return step(*args, **kwargs)

        failing._fails = True
        self.train_function = failing
        return built

    monkeypatch.setattr(cls, "make_train_function", make_train_function)


class RaiseInCallback(keras.callbacks.Callback):
    def __init__(self, at, error):
        super().__init__()
        self.at, self.error = at, error

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=repr)
def test_an_exception_in_a_step_gives_the_float_back_at_once(error, monkeypatch):
    probe = RateProbe(TOTAL + SPE)
    cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    with monkeypatch.context() as patch:
        fail_in_step(patch, probe.model, 6, error)
        with pytest.raises(type(error)):
            probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    opt = probe.model.optimizer
    assert steps(probe.model) == 6
    assert_rates(value(opt.learning_rate), cb.rates([5])[0])
    assert layout(opt) == fresh_layout(TOTAL + SPE)
    opt.learning_rate = 0.02
    probe.fit([], epochs=1, steps_per_epoch=SPE)
    assert_rates(probe.rates()[6 : 6 + SPE], np.full(SPE, 0.02))


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=repr)
def test_an_exception_outside_a_step_is_cleaned_up_before_the_next_fit(error):
    probe = RateProbe(TOTAL + SPE)
    cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    with pytest.raises(type(error)):
        probe.fit([cb, RaiseInCallback(2, error)], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps(probe.model) == 2
    last = cb.rates([1])[0]
    probe.fit([], epochs=1, steps_per_epoch=SPE)
    assert_rates(probe.rates()[2 : 2 + SPE], np.full(SPE, last))
    probe.model.optimizer.learning_rate = 0.03  # a plain optimizer again
    assert layout(probe.model.optimizer) == fresh_layout(TOTAL + SPE)


# -- 4. misuse --------------------------------------------------------------------


def test_two_scheduling_callbacks_on_one_optimizer_are_refused_before_training(tmp_path):
    probe = RateProbe(TOTAL)
    first = keras_lr.OneCycleLR(max_lr=0.5)
    second = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    with pytest.raises(ValueError, match="OneCycleLR and CyclicLR both set"):
        probe.fit([first, second], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps(probe.model) == 0
    assert_rates(value(probe.model.optimizer.learning_rate), 0.5)
    probe.model.optimizer.learning_rate = 0.1
    # Each alone still works afterwards.
    probe.fit([second], epochs=EPOCHS, steps_per_epoch=SPE)
    assert_rates(probe.rates(), second.rates(TOTAL), atol=F32_ATOL)


def test_a_schedule_shorter_than_the_fit_warns_how_many_steps_run_at_its_end_rate():
    probe = RateProbe(TOTAL)
    cb = keras_lr.OneCycleLR(max_lr=0.5, total_steps=5)
    with pytest.warns(UserWarning, match=r"last 7 steps train at the end rate 2e-06"):
        probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    with pytest.warns(UserWarning, match="last 4 steps"):
        RateProbe(TOTAL).fit(
            [keras_lr.PolynomialDecay(0.5, total_steps=6, warmup_steps=2)],
            epochs=EPOCHS,
            steps_per_epoch=SPE,
        )


def multi_optimizer_model(rates):
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, name="body")(inputs)
    outputs = keras.layers.Dense(1, name="head")(hidden)
    model = keras.Model(inputs, outputs)
    body, head = (keras.optimizers.SGD(r) for r in rates)
    optimizer = keras.optimizers.MultiOptimizer(
        lambda variable: body if variable.path.startswith("body") else head
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.skipif(
    not hasattr(keras.optimizers, "MultiOptimizer"), reason="MultiOptimizer: Keras 3.15+"
)
def test_one_schedule_over_a_multi_optimizer_of_different_rates_warns():
    model = multi_optimizer_model([0.1, 0.01])
    model.optimizer.build(model.trainable_variables)
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    with pytest.warns(UserWarning, match="ratios between them are overridden"):
        model.fit(
            x, y, epochs=1, batch_size=4, verbose=0, callbacks=[keras_lr.CosineAnnealing(0.1)]
        )


# -- 2. gradient accumulation: a step is one optimizer update ---------------------


def accumulating_probe(n_batches, n):
    optimizer = keras.optimizers.SGD(0.5, gradient_accumulation_steps=n if n > 1 else None)
    return RateProbe(n_batches, optimizer=optimizer)


def applied_per_update(probe, n):
    """Batch k's weight moved by lr(update) / N: the update's rate, batch by batch."""
    return probe.rates().reshape(-1, n)[:, 0] * n


ACCUMULATED = {
    "cyclic": lambda d: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3),
    "step_decay": lambda d: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=1),
    "one_cycle": lambda d: keras_lr.OneCycleLR(max_lr=0.5),
    "sgdr": lambda d: keras_lr.SGDRScheduler(min_lr=0.01, max_lr=0.4, cycle_length=1),
    "lambda_epoch": lambda d: keras_lr.LambdaSchedule(lambda e: 0.4 / (1 + e), unit="epoch"),
    "snapshot": lambda d: keras_lr.SnapshotEnsemble(2, max_lr=0.3, directory=d),
}


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("driver", sorted(ACCUMULATED))
def test_with_gradient_accumulation_every_update_trains_at_the_preview(driver, n, tmp_path):
    updates_per_epoch, epochs = 4, 3
    batches = updates_per_epoch * n
    probe = accumulating_probe(batches * epochs, n)
    cb = ACCUMULATED[driver](str(tmp_path / "snaps"))
    history = probe.fit([cb], epochs=epochs, steps_per_epoch=batches)
    expected = cb.rates(
        updates_per_epoch * epochs, steps_per_epoch=updates_per_epoch, epochs=epochs
    )
    # The rate changes only between updates: every batch of an update moved
    # its weight by the same amount.
    per_batch = probe.rates().reshape(-1, n)
    np.testing.assert_allclose(per_batch, per_batch[:, :1].repeat(n, axis=1), rtol=1e-6)
    assert_rates(applied_per_update(probe, n), expected, atol=F32_ATOL * n)
    assert steps(probe.model) == updates_per_epoch * epochs
    frame = cb.history
    assert frame["step"].tolist() == list(range(updates_per_epoch * epochs))
    assert_rates(frame["lr"].to_numpy(), expected)
    assert_rates(
        history.history["learning_rate"], expected[updates_per_epoch - 1 :: updates_per_epoch]
    )


@pytest.mark.parametrize("n", [2, 4])
def test_with_gradient_accumulation_snapshots_are_exactly_m_at_update_boundaries(n, tmp_path):
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.3, directory=str(tmp_path))
    batches = 16 * n  # 16 updates per epoch, 64 updates in all
    probe = accumulating_probe(batches * 4, n)
    probe.fit([snap], epochs=4, steps_per_epoch=batches)
    assert len(snap.snapshot_paths) == 2
    assert snap.manifest["step"].tolist() == [32, 64]
    for path, updates in zip(snap.snapshot_paths, [32, 64]):
        restored = accumulating_probe(batches * 4, n)
        restored.model.load_weights(path)
        weights = restored.rates()
        assert np.all(weights[: updates * n] > 0)
        assert not np.any(weights[updates * n :])


def test_with_gradient_accumulation_fge_saves_at_the_middle_update_of_each_cycle(tmp_path):
    fge = keras_lr.FastGeometricEnsemble(0.3, 0.05, cycle_steps=4, directory=str(tmp_path))
    probe = accumulating_probe(24, 2)
    probe.fit([fge], epochs=3, steps_per_epoch=8)  # 12 updates: saves after 2, 6, 10
    assert fge.manifest["step"].tolist() == [2, 6, 10]
    assert_rates(fge.manifest["lr"].to_numpy(), np.full(3, 0.05))


def test_with_gradient_accumulation_swa_holds_its_rate_from_the_first_update_of_its_epoch():
    probe = accumulating_probe(24, 2)
    cyclic = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    swa = keras_lr.StochasticWeightAveraging(
        start_epoch=2, swa_lr=0.05, swap_at_end=False, anneal_epochs=0
    )
    probe.fit([cyclic, swa], epochs=3, steps_per_epoch=8)
    applied = applied_per_update(probe, 2)
    assert_rates(applied[:8], cyclic.rates(8), atol=F32_ATOL)
    assert_rates(applied[8:], np.full(4, 0.05))
    assert swa.n_averaged == 1


def test_with_gradient_accumulation_plateau_floor_is_the_rate_of_the_update():
    probe = accumulating_probe(24, 2)
    cosine = keras_lr.CosineAnnealing(max_lr=0.5, min_lr=0.0)
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.01, patience=0, min_lr=0.05)
    probe.fit([cosine, plateau], epochs=3, steps_per_epoch=8)
    applied = applied_per_update(probe, 2)
    base = cosine.rates(12)
    # The first reduction (after epoch 1, update 8) may not lower the rate of
    # update 8 under min_lr: scale = min_lr / base(8).
    assert_rates(applied[8], 0.05, atol=F32_ATOL * 2)
    assert_rates(applied[8:], base[8:] * 0.05 / base[8], atol=F32_ATOL * 2)


def test_epochs_that_end_inside_an_update_are_refused_when_a_callback_counts_epochs():
    probe = accumulating_probe(40, 4)
    with pytest.raises(ValueError, match="gradient_accumulation_steps=4 ends inside an"):
        probe.fit([keras_lr.StepDecay(0.4, 0.5, step_size=1)], epochs=2, steps_per_epoch=10)
    assert steps(probe.model) == 0
    # A schedule counted in steps needs no epoch length.
    cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    probe.fit([cb], epochs=2, steps_per_epoch=10)
    assert_rates(applied_per_update(probe, 4)[:5], cb.rates(5), atol=F32_ATOL * 4)


# -- 3. steps_per_execution and epochs of endless data -----------------------------

if MULTI_STEP_EXECUTION:

    @pytest.mark.parametrize(
        "make",
        [
            lambda d: keras_lr.StepDecay(0.4, 0.5, step_size=1),
            lambda d: keras_lr.OneCycleLR(max_lr=0.5),
            lambda d: keras_lr.SnapshotEnsemble(2, directory=d),
            lambda d: keras_lr.LambdaSchedule(lambda i: 0.1),
        ],
        ids=["step_decay", "one_cycle", "snapshot", "lambda"],
    )
    def test_epochs_that_steps_per_execution_cannot_split_are_refused(make, tmp_path):
        probe = RateProbe(40, steps_per_execution=3)
        with pytest.raises(
            ValueError, match="steps_per_epoch=5 is not a multiple of steps_per_execution=3"
        ):
            probe.fit([make(str(tmp_path))], epochs=2, steps_per_epoch=5)
        assert steps(probe.model) == 0
        assert not os.listdir(tmp_path) if os.path.isdir(tmp_path) else True

    def test_a_step_schedule_follows_the_steps_keras_really_runs():
        probe = RateProbe(40, steps_per_execution=3)
        cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
        probe.fit([cb], epochs=2, steps_per_epoch=5)
        ran = steps(probe.model)  # Keras runs whole executions: 6 per epoch
        assert ran == 12
        assert_rates(probe.rates()[:ran], cb.rates(ran), atol=F32_ATOL)
        assert_rates(cb.history["lr"].to_numpy(), cb.rates(ran), atol=F32_ATOL)


# -- 7. files ---------------------------------------------------------------------


def test_a_temporary_file_left_by_a_killed_write_is_removed_by_the_next_run(tmp_path):
    leftover = tmp_path / ".keras_lr-abc123.weights.h5"
    leftover.write_bytes(b"half a file")
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.3, directory=str(tmp_path))
    RateProbe(TOTAL).fit([snap], epochs=EPOCHS, steps_per_epoch=SPE)
    assert not leftover.exists()
    assert sorted(os.listdir(tmp_path)) == [
        "manifest.json",
        "snapshot-000.weights.h5",
        "snapshot-001.weights.h5",
    ]
