"""Per-group rates: one value per sub-optimizer of a MultiOptimizer, applied in `fit`.

Two probe layers, each with one zero weight per step, each trained by its
own plain-SGD sub-optimizer: step k feeds e_k to both, so layer g's weight k
holds -lr_g(k), the rate group g really trained step k at.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import assert_rates, one_hot_rows, prediction_loss
from keras import ops

import keras_lr

N = 8


def two_groups(first=None, second=None):
    inputs = keras.Input((N,))
    a = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="first")(inputs)
    b = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="second")(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    first = first or keras.optimizers.SGD(learning_rate=0.5)
    second = second or keras.optimizers.SGD(learning_rate=0.5)
    optimizer = keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(first, {"second/.*": second})
    )
    model.compile(optimizer=optimizer, loss=prediction_loss)
    # `optimizers` lists the mapped ones, then the default: group 0 is "second".
    assert optimizer.optimizers == [second, first]
    return model


# The layer each group (each entry of `optimizer.optimizers`) trains.
GROUP_LAYERS = ["second", "first"]


def fit(model, callbacks, steps=N, epochs=1):
    """`epochs` epochs of `steps` steps; step k (counted over the fit) feeds e_k."""
    model.fit(
        one_hot_rows(N),
        steps_per_epoch=steps,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )


def applied(model, name):
    kernel = model.get_layer(name).kernel
    return -np.asarray(ops.convert_to_numpy(kernel), dtype=np.float64)[:, 0]


@pytest.mark.parametrize(
    "make, lists",
    [
        (lambda: keras_lr.CosineAnnealing(max_lr=[0.1, 0.4], min_lr=[0.0, 0.01], total_steps=N), 2),
        (lambda: keras_lr.CyclicLR(base_lr=[0.01, 0.1], max_lr=[0.1, 0.5], step_size=2), 2),
        (lambda: keras_lr.OneCycleLR(max_lr=[0.2, 0.05], total_steps=N), 2),
        (lambda: keras_lr.StepDecay(initial_lr=[0.3, 0.03], step_size=1, steps_per_epoch=3), 2),
        (lambda: keras_lr.PolynomialDecay(initial_lr=[0.3, 0.1], total_steps=N, end_lr=0.01), 2),
    ],
    ids=["cosine", "cyclic", "onecycle", "step", "polynomial"],
)
def test_each_group_trains_at_its_own_entry(make, lists):
    model = two_groups()
    cb = make()
    assert cb.groups == lists
    fit(model, [cb])
    expected = cb.rates(N, steps_per_epoch=N, epochs=1)
    assert expected.shape == (N, 2)
    for g, layer in enumerate(GROUP_LAYERS):
        assert_rates(applied(model, layer), expected[:, g])
    assert not np.allclose(expected[:, 0], expected[:, 1])
    history = cb.history
    assert list(history.columns[:3]) == ["step", "epoch", "lr"]
    names = [o.name for o in model.optimizer.optimizers]
    np.testing.assert_allclose(history[f"lr/{names[1]}"], expected[:, 1], rtol=1e-12)
    # A plain float rate per group after fit: the last applied.
    for opt, last in zip(model.optimizer.optimizers, expected[-1]):
        assert float(ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(last, rel=1e-6)


def test_one_number_still_drives_every_group_alike():
    model = two_groups()
    cb = keras_lr.CosineAnnealing(max_lr=0.2, total_steps=N)
    assert cb.groups is None
    fit(model, [cb])
    assert_rates(applied(model, "first"), cb.rates(N))
    assert_rates(applied(model, "second"), cb.rates(N))


def test_warmup_start_lr_per_group():
    model = two_groups()
    cb = keras_lr.CosineAnnealing(
        max_lr=[0.2, 0.4], total_steps=N - 2, warmup_steps=2, warmup_start_lr=[0.0, 0.1]
    )
    fit(model, [cb])
    expected = cb.rates(N, steps_per_epoch=N, epochs=1)
    assert_rates(applied(model, GROUP_LAYERS[1])[:2], [0.1, 0.25])
    for g, layer in enumerate(GROUP_LAYERS):
        assert_rates(applied(model, layer), expected[:, g])


def test_a_list_of_the_wrong_length_is_refused_before_training():
    model = two_groups()
    fit(model, [], steps=1)
    before = [np.array(w) for w in model.get_weights()]
    cb = keras_lr.CosineAnnealing(max_lr=[0.1, 0.2, 0.3], total_steps=N)
    with pytest.raises(ValueError, match=r"max_lr=\[0.1, 0.2, 0.3\] gives 3 values.*has 2"):
        fit(model, [cb])
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    # The optimizers still hold their float rates.
    for opt in model.optimizer.optimizers:
        assert keras_lr._compat.is_variable(keras_lr._compat.rate_slot(opt))


def test_lists_of_different_lengths_are_refused_at_construction():
    with pytest.raises(ValueError, match="`max_lr`, `min_lr`.*same length"):
        keras_lr.CosineAnnealing(max_lr=[0.1, 0.2], min_lr=[0.0, 0.0, 0.0])


def test_a_bad_entry_is_named():
    with pytest.raises(ValueError, match=r"`base_lr` must not exceed `max_lr`.*base_lr=0.5"):
        keras_lr.CyclicLR(base_lr=[0.01, 0.5], max_lr=[0.1, 0.2])


def test_config_round_trips_with_lists():
    cb = keras_lr.CyclicLR(base_lr=[0.01, 0.1], max_lr=[0.1, 0.5], step_size=2)
    again = keras_lr.CyclicLR(**cb.get_config())
    np.testing.assert_array_equal(again.rates(6), cb.rates(6))


def test_momentum_bounds_per_group():
    model = two_groups(
        keras.optimizers.SGD(learning_rate=0.5, momentum=0.9),
        keras.optimizers.SGD(learning_rate=0.5, momentum=0.9),
    )
    cb = keras_lr.OneCycleLR(max_lr=0.2, total_steps=N, base_momentum=[0.8, 0.6])
    fit(model, [cb])
    m = cb.momentums(N, steps_per_epoch=N, epochs=1)
    assert m.shape == (N, 2)
    names = [o.name for o in model.optimizer.optimizers]
    np.testing.assert_allclose(cb.history[f"momentum/{names[0]}"], m[:, 0], rtol=1e-12)
    np.testing.assert_allclose(cb.history[f"momentum/{names[1]}"], m[:, 1], rtol=1e-12)
    assert m[:, 0].min() == pytest.approx(0.8, abs=0.01) and m[:, 1].min() < 0.65
    for opt, last in zip(model.optimizer.optimizers, m[-1]):
        assert opt.momentum == pytest.approx(last)


def test_snapshot_ensemble_and_fge_take_one_rate_per_group(tmp_path):
    model = two_groups()
    snap = keras_lr.SnapshotEnsemble(
        n_snapshots=2, max_lr=[0.2, 0.05], directory=str(tmp_path / "snap"), epochs=2
    )
    fit(model, [snap], steps=4, epochs=2)
    expected = snap.rates(8, steps_per_epoch=4, epochs=2)
    assert expected.shape == (8, 2)
    for g, layer in enumerate(GROUP_LAYERS):
        assert_rates(applied(model, layer), expected[:, g])
    fge = keras_lr.FastGeometricEnsemble(
        max_lr=[0.2, 0.1], min_lr=[0.02, 0.01], cycle_steps=2, directory=str(tmp_path / "fge")
    )
    assert fge.groups == 2
    np.testing.assert_allclose(fge.rates(4)[:, 1], fge.rates(4)[:, 0] / 2)
    with pytest.raises(ValueError, match="`min_lr` must not exceed `max_lr`.*min_lr=0.3"):
        keras_lr.FastGeometricEnsemble(max_lr=[0.2, 0.2], min_lr=[0.1, 0.3], cycle_steps=2)


def test_swa_lr_per_group():
    model = two_groups()
    swa = keras_lr.StochasticWeightAveraging(
        start_epoch=0, swa_lr=[0.03, 0.3], swap_at_end=False, anneal_epochs=0
    )
    fit(model, [swa], steps=4)
    for g, layer in enumerate(GROUP_LAYERS):
        assert_rates(applied(model, layer)[:4], [[0.03, 0.3][g]] * 4)
    wrong = keras_lr.StochasticWeightAveraging(start_epoch=0, swa_lr=[0.03])
    with pytest.raises(ValueError, match=r"swa_lr=\[0.03\] gives 1 value.*has 2"):
        fit(model, [wrong], steps=1)
