"""StochasticWeightAveraging: PyTorch's `SWALR` anneal and `every_n_steps`, through `fit`.

The rate probe (conftest) writes -lr_k into weight k with plain SGD, so the
kernel after training holds the rate each step really trained at, and the
kernel after step s is a fingerprint of s.  The reference anneal is
`torch.optim.swa_utils.SWALR` itself, created at the start of epoch
`start_epoch` and stepped at each epoch end, as PyTorch's SWA recipe and
Lightning's `StochasticWeightAveraging` run it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from conftest import BACKEND, MULTI_STEP_EXECUTION, RateProbe, StopAfterEpoch, assert_rates
from keras import ops
from test_per_group import GROUP_LAYERS, applied, two_groups
from test_per_group import fit as fit_groups

import keras_lr

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

F32_ATOL = 1.5e-7
SPE = 2
ANNEALS = [(s, a) for s in ("cos", "linear") for a in (0, 1, 3)]


def swalr(start_lrs, swa_lrs, anneal_epochs, strategy, epochs):
    """(epochs, groups) rates of torch.optim.swa_utils.SWALR, one row per epoch.

    Each param group starts at its rate in `start_lrs`; SWALR is created before
    the first epoch and stepped after each, the rate read while the epoch trains.
    """
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in start_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, start_lrs)])
    scheduler = torch.optim.swa_utils.SWALR(
        opt, swa_lr=list(swa_lrs), anneal_epochs=anneal_epochs, anneal_strategy=strategy
    )
    rows = []
    for _ in range(epochs):
        rows.append([group["lr"] for group in opt.param_groups])
        opt.step()
        scheduler.step()
    return np.array(rows)


def cosine(max_lr, total, steps):
    """keras_lr.CosineAnnealing's rate from its formula: max_lr (1 + cos(pi i / T)) / 2."""
    return max_lr * (1 + np.cos(np.pi * np.asarray(steps) / total)) / 2


def swa(start_epoch, swa_lr, strategy="cos", anneal_epochs=10, **kwargs):
    return keras_lr.StochasticWeightAveraging(
        start_epoch,
        swa_lr=swa_lr,
        swap_at_end=kwargs.pop("swap_at_end", False),
        anneal_epochs=anneal_epochs,
        anneal_strategy=strategy,
        **kwargs,
    )


# -- the rate: SWALR's sequence -------------------------------------------------------


@pytest.mark.parametrize("strategy, anneal_epochs", ANNEALS)
def test_anneal_from_a_float_rate_is_swalrs(strategy, anneal_epochs):
    start, epochs = 2, 6
    probe = RateProbe(epochs * SPE)
    probe.fit([swa(start, 0.05, strategy, anneal_epochs)], epochs=epochs, steps_per_epoch=SPE)
    phase = swalr([0.5], [0.05], anneal_epochs, strategy, epochs - start)[:, 0]
    expected = np.r_[np.full(start * SPE, 0.5), np.repeat(phase, SPE)]
    assert_rates(probe.rates(), expected, atol=F32_ATOL)


@pytest.mark.parametrize("strategy, anneal_epochs", ANNEALS)
def test_anneal_from_a_schedule_starts_at_its_rate_at_the_first_swa_step(strategy, anneal_epochs):
    start, epochs = 2, 6
    total = epochs * SPE
    probe = RateProbe(total)
    callbacks = [swa(start, 0.05, strategy, anneal_epochs), keras_lr.CosineAnnealing(0.4)]
    probe.fit(callbacks, epochs=epochs, steps_per_epoch=SPE)
    before = cosine(0.4, total, np.arange(start * SPE))
    lr0 = cosine(0.4, total, start * SPE)
    phase = swalr([lr0], [0.05], anneal_epochs, strategy, epochs - start)[:, 0]
    assert_rates(probe.rates(), np.r_[before, np.repeat(phase, SPE)], atol=F32_ATOL)


def test_anneal_over_the_users_own_schedule():
    decay = keras.optimizers.schedules.ExponentialDecay(0.4, decay_steps=SPE, decay_rate=0.5)
    probe = RateProbe(12, optimizer=keras.optimizers.SGD(learning_rate=decay))
    probe.fit([swa(2, 0.3, "linear", 3)], epochs=6, steps_per_epoch=SPE)
    own = 0.4 * 0.5 ** (np.arange(12) / SPE)
    phase = swalr([own[2 * SPE]], [0.3], 3, "linear", 4)[:, 0]  # anneals upwards
    assert_rates(probe.rates(), np.r_[own[: 2 * SPE], np.repeat(phase, SPE)], atol=F32_ATOL)


def test_with_gradient_accumulation_the_anneal_counts_optimizer_updates():
    n, updates = 2, 4  # batches per update, updates per epoch
    optimizer = keras.optimizers.SGD(0.5, gradient_accumulation_steps=n)
    probe = RateProbe(3 * updates * n, optimizer=optimizer)
    cyclic = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    probe.fit([cyclic, swa(1, 0.05, "linear", 2)], epochs=3, steps_per_epoch=updates * n)
    # Batch k's weight moved by lr(update) / n: the rate of each update.
    applied = probe.rates().reshape(-1, n)[:, 0] * n
    before = cyclic.rates(updates + 1)
    phase = swalr([before[-1]], [0.05], 2, "linear", 2)[:, 0]
    assert_rates(applied, np.r_[before[:-1], np.repeat(phase, updates)], atol=2 * F32_ATOL)


@pytest.mark.parametrize("source", ["float", "schedule"])
def test_each_group_anneals_from_its_own_rate(source):
    # Group 0 ("second") and group 1 ("first") of the MultiOptimizer.
    model = two_groups(keras.optimizers.SGD(0.2), keras.optimizers.SGD(0.4))
    start, epochs, steps = 1, 4, 2
    callbacks = [swa(start, [0.03, 0.3], "cos", 2)]
    if source == "schedule":
        callbacks.append(keras_lr.CosineAnnealing(max_lr=[0.4, 0.2]))
        before = [cosine(m, epochs * steps, np.arange(start * steps + 1)) for m in (0.4, 0.2)]
    else:
        before = [np.full(start * steps + 1, lr) for lr in (0.4, 0.2)]
    fit_groups(model, callbacks, steps=steps, epochs=epochs)
    lr0 = [b[-1] for b in before]
    phase = swalr(lr0, [0.03, 0.3], 2, "cos", epochs - start)
    for g, layer in enumerate(GROUP_LAYERS):
        expected = np.r_[before[g][:-1], np.repeat(phase[:, g], steps)]
        assert_rates(applied(model, layer), expected, atol=F32_ATOL)


# -- every_n_steps: the average of exactly those steps -----------------------------


class RecordAfterBatch(keras.callbacks.Callback):
    """The probe's kernel after each batch, keyed by the batches trained so far."""

    def __init__(self, first_batch=0):
        super().__init__()
        self.after = {}
        self.done = first_batch

    def on_epoch_begin(self, epoch, logs=None):
        self.first = self.done

    def on_train_batch_end(self, batch, logs=None):
        if BACKEND == "jax":
            self.model.jax_state_sync()  # the JAX trainer's in-flight weights
        self.done = self.first + batch + 1
        kernel = self.model.get_layer("probe").kernel
        self.after[self.done] = np.asarray(ops.convert_to_numpy(kernel), dtype=np.float64)


EVERY = [
    # (gradient_accumulation_steps, steps_per_execution, every_n_steps)
    (1, 1, 3),
    (2, 1, 3),
    pytest.param(1, 2, 2, marks=pytest.mark.skipif(not MULTI_STEP_EXECUTION, reason="torch")),
]


@pytest.mark.parametrize("accumulation, execution, every", EVERY)
def test_every_n_steps_averages_the_weights_after_those_optimizer_steps(
    accumulation, execution, every
):
    updates, start, epochs = 4, 1, 3  # updates per epoch; the SWA phase is epochs 1-2
    batches = updates * accumulation
    optimizer = keras.optimizers.SGD(
        0.5, gradient_accumulation_steps=accumulation if accumulation > 1 else None
    )
    probe = RateProbe(batches * epochs, steps_per_execution=execution, optimizer=optimizer)
    recorder = RecordAfterBatch()
    averaging = keras_lr.StochasticWeightAveraging(start, every_n_steps=every)
    probe.fit([recorder, averaging], epochs=epochs, steps_per_epoch=batches)
    # The optimizer steps u = iterations after the step, from the SWA phase on.
    steps = [u for u in range(start * updates + 1, epochs * updates + 1) if u % every == 0]
    assert averaging.n_averaged == len(steps) and len(steps) >= 3
    expected = np.mean([recorder.after[u * accumulation] for u in steps], axis=0)
    np.testing.assert_allclose(-probe.rates(), expected[:, 0], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(averaging.final_weights[0], recorder.after[max(recorder.after)])


@pytest.mark.skipif(not MULTI_STEP_EXECUTION, reason="PyTorch runs one step per execution")
def test_every_n_steps_inside_an_execution_is_refused_before_the_first_step():
    probe = RateProbe(8, steps_per_execution=2)
    averaging = keras_lr.StochasticWeightAveraging(1, every_n_steps=3)
    with pytest.raises(ValueError, match=r"every 3 optimizer steps.*steps_per_execution=2"):
        probe.fit([averaging], epochs=2, steps_per_epoch=4)
    assert not np.any(probe.rates())


# -- resumed from model.save / load_model inside the SWA phase --------------------------


class SaveAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, path):
        super().__init__()
        self.epoch, self.path = epoch, path

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.save(self.path)


@pytest.mark.parametrize("source, every", [("float", None), ("schedule", 3)])
def test_a_run_resumed_from_load_model_mid_swa_continues_anneal_and_average(
    source, every, tmp_path
):
    epochs, cut = 7, 3  # SWA from epoch 1; saved after epoch 2, resumed at 3

    def callbacks():
        extra = [keras_lr.CosineAnnealing(0.4)] if source == "schedule" else []
        return [swa(1, 0.05, "cos", 3, every_n_steps=every)] + extra

    whole = RateProbe(epochs * SPE)
    reference = callbacks()
    whole.fit(reference, epochs=epochs, steps_per_epoch=SPE)

    path = str(tmp_path / "mid_swa.keras")
    first = RateProbe(epochs * SPE)
    first.fit(
        callbacks() + [SaveAfterEpoch(cut - 1, path), StopAfterEpoch(cut)],
        epochs=epochs,
        steps_per_epoch=SPE,
    )
    resumed = RateProbe(epochs * SPE)
    resumed.model = keras.saving.load_model(path)
    again = callbacks()
    resumed.fit(again, epochs=epochs, steps_per_epoch=SPE, initial_epoch=cut)

    total = epochs * SPE
    before = (
        cosine(0.4, total, np.arange(SPE + 1)) if source == "schedule" else np.full(SPE + 1, 0.5)
    )
    phase = swalr([before[-1]], [0.05], 3, "cos", epochs - 1)[:, 0]
    expected = np.r_[before[:-1], np.repeat(phase, SPE)]
    assert_rates(whole.rates(), expected, atol=F32_ATOL)
    assert_rates(resumed.rates(), expected, atol=F32_ATOL)
    assert again[0].n_averaged == reference[0].n_averaged == (6 if every is None else 4)
    np.testing.assert_allclose(again[0].average[0], reference[0].average[0], rtol=1e-6)
    # Not trivially equal: the anneal moved the rate after the cut.
    assert len(set(np.round(whole.rates()[cut * SPE :], 6))) > 1


# -- arguments ------------------------------------------------------------------------


def test_new_arguments_are_in_the_config():
    cb = keras_lr.StochasticWeightAveraging(
        3, swa_lr=[0.1, 0.2], anneal_epochs=0, anneal_strategy="linear", every_n_steps=5
    )
    config = cb.get_config()
    assert {k: config[k] for k in ("anneal_epochs", "anneal_strategy", "every_n_steps")} == {
        "anneal_epochs": 0,
        "anneal_strategy": "linear",
        "every_n_steps": 5,
    }
    assert keras_lr.StochasticWeightAveraging.from_config(config).get_config() == config
    defaults = keras_lr.StochasticWeightAveraging(3).get_config()
    assert (defaults["anneal_epochs"], defaults["anneal_strategy"]) == (10, "cos")
    assert defaults["every_n_steps"] is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"anneal_strategy": "cosine"}, ValueError, r"`anneal_strategy`.*anneal_strategy='cosine'"),
        ({"anneal_strategy": None}, TypeError, r"`anneal_strategy`.*anneal_strategy=None"),
        ({"anneal_epochs": -1}, ValueError, r"`anneal_epochs`.*anneal_epochs=-1"),
        ({"anneal_epochs": 1.5}, TypeError, r"`anneal_epochs`.*anneal_epochs=1.5"),
        ({"every_n_steps": 0}, ValueError, r"`every_n_steps`.*every_n_steps=0"),
        ({"every_n_steps": True}, TypeError, r"`every_n_steps`.*every_n_steps=True"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_lr.StochasticWeightAveraging(2, swa_lr=0.05, **kwargs)


def test_anneal_over_a_schedule_without_steps_per_epoch_is_refused_before_the_first_step():
    decay = keras.optimizers.schedules.ExponentialDecay(0.4, decay_steps=2, decay_rate=0.5)
    probe = RateProbe(4, optimizer=keras.optimizers.SGD(learning_rate=decay))
    rows = [(np.eye(4, dtype="float32")[[k]], np.zeros((1, 1), "float32")) for k in range(4)]

    def data():  # no length: `fit` cannot know the steps per epoch
        yield from rows

    with pytest.raises(ValueError, match=r"`swa_lr` over a schedule needs the steps per epoch"):
        probe.model.fit(data(), epochs=3, callbacks=[swa(2, 0.05, "cos", 2)], verbose=0)
    assert not np.any(probe.rates())
    assert math.isclose(float(ops.convert_to_numpy(probe.model.optimizer.iterations)), 0.0)
