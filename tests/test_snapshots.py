"""SnapshotEnsemble, FastGeometricEnsemble, StochasticWeightAveraging, update_bn.

The rate probe (conftest) makes every snapshot self-describing: its weight k
is -lr_k for the steps trained before the snapshot and 0 after, so a file
saved one step early or late is caught.
"""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np
import pytest
from conftest import MULTI_STEP_EXECUTION, RateProbe, StopAfterEpoch, assert_rates
from keras import ops

import keras_lr
from keras_lr import schedules as S


def huang_rates(total, m, max_lr):
    """Huang et al.'s alpha(t) for t = 1..T, written from the paper."""
    cycle = math.ceil(total / m)
    t = np.arange(1, total + 1)
    return max_lr / 2 * (np.cos(np.pi * np.mod(t - 1, cycle) / cycle) + 1)


def snapshot_weights(path, n_steps):
    probe = RateProbe(n_steps)
    probe.model.load_weights(path)
    return probe.rates()


def manifest(directory):
    with open(os.path.join(directory, "manifest.json")) as handle:
        return json.load(handle)


@pytest.mark.parametrize(
    "spe, epochs, m",
    [(4, 6, 3), (5, 6, 4), (4, 5, 3), (3, 7, 2)],
    ids=["divisible", "cycles-mid-epoch", "epochs-not-divisible", "odd"],
)
def test_rates_and_exactly_m_snapshots_at_cycle_ends(tmp_path, spe, epochs, m):
    total = spe * epochs
    probe = RateProbe(total)
    snap = keras_lr.SnapshotEnsemble(m, max_lr=0.4, directory=tmp_path / "s")
    probe.fit([snap], epochs=epochs, steps_per_epoch=spe)
    expected = huang_rates(total, m, 0.4)
    assert_rates(probe.rates(), expected, atol=1.5e-7)
    paths = snap.snapshot_paths
    assert len(paths) == m
    assert [os.path.basename(p) for p in paths] == [
        f"snapshot-{k:03d}.weights.h5" for k in range(m)
    ]
    cycle = math.ceil(total / m)
    ends = [cycle * (k + 1) for k in range(m - 1)] + [total]
    entries = manifest(tmp_path / "s")["snapshots"]
    assert [e["step"] for e in entries] == ends
    assert [e["index"] for e in entries] == list(range(m))
    for end, path, entry in zip(ends, paths, entries):
        weights = snapshot_weights(path, total)
        assert_rates(weights[:end], expected[:end], atol=1.5e-7)
        assert not np.any(weights[end:])
        assert entry["lr"] == pytest.approx(expected[end - 1])
        assert entry["epoch"] == (end - 1) // spe
    # Epoch-end snapshots carry the epoch's logs.
    assert "loss" in entries[-1]["logs"]
    files = sorted(os.listdir(tmp_path / "s"))
    assert files == sorted([os.path.basename(p) for p in paths] + ["manifest.json"])


def test_model_format_saves_whole_models(tmp_path):
    probe = RateProbe(12)
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.2, directory=tmp_path, save_format="model")
    probe.fit([snap], epochs=3, steps_per_epoch=4)
    assert [os.path.basename(p) for p in snap.snapshot_paths] == [
        "snapshot-000.keras",
        "snapshot-001.keras",
    ]
    loaded = keras.saving.load_model(snap.snapshot_paths[0])
    assert_rates(probe.rates(loaded)[:6], huang_rates(12, 2, 0.2)[:6], atol=1.5e-7)


def test_resume_after_interruption_continues_rates_and_numbering(tmp_path):
    total, spe = 24, 4
    probe = RateProbe(total)
    directory = tmp_path / "s"
    probe.fit(
        [keras_lr.SnapshotEnsemble(3, max_lr=0.3, directory=directory), StopAfterEpoch(3)],
        epochs=6,
        steps_per_epoch=spe,
    )
    assert len(manifest(directory)["snapshots"]) == 1  # cycle of 8 steps: one end passed
    probe.model.save(tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras")
    resumed = RateProbe(total)
    resumed.model = model
    snap = keras_lr.SnapshotEnsemble(3, max_lr=0.3, directory=directory)
    resumed.fit([snap], epochs=6, steps_per_epoch=spe, initial_epoch=3)
    assert_rates(resumed.rates(), huang_rates(total, 3, 0.3), atol=1.5e-7)
    entries = manifest(directory)["snapshots"]
    assert [e["index"] for e in entries] == [0, 1, 2]
    assert [e["step"] for e in entries] == [8, 16, 24]
    assert len(snap.snapshot_paths) == 3


def test_refuses_a_non_empty_directory_unless_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "snapshot-000.weights.h5").write_text("old")
    probe = RateProbe(8)
    before = [np.array(ops.convert_to_numpy(v)) for v in probe.model.weights]
    with pytest.raises(ValueError, match="not empty.*overwrite=True"):
        probe.fit([keras_lr.SnapshotEnsemble(2, directory=tmp_path)], epochs=2, steps_per_epoch=4)
    # Refused before any training.
    for a, var in zip(before, probe.model.weights):
        np.testing.assert_array_equal(a, ops.convert_to_numpy(var))
    snap = keras_lr.SnapshotEnsemble(2, directory=tmp_path, overwrite=True)
    probe.fit([snap], epochs=2, steps_per_epoch=4)
    assert (tmp_path / "notes.txt").read_text() == "keep me"  # only our files go
    assert len(manifest(tmp_path)["snapshots"]) == 2


def test_crash_during_a_save_keeps_earlier_snapshots_and_manifest(tmp_path, monkeypatch):
    probe = RateProbe(12)
    snap = keras_lr.SnapshotEnsemble(3, max_lr=0.2, directory=tmp_path)
    calls = {"n": 0}
    original = keras.Model.save_weights

    def failing_save(self, filepath, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            # Write part of the file, then fail, as a full disk would.
            with open(filepath, "wb") as handle:
                handle.write(b"partial")
            raise OSError(28, "No space left on device")
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", failing_save)
    with pytest.raises(OSError, match="No space"):
        probe.fit([snap], epochs=3, steps_per_epoch=4)
    assert sorted(os.listdir(tmp_path)) == ["manifest.json", "snapshot-000.weights.h5"]
    entries = manifest(tmp_path)["snapshots"]
    assert [e["index"] for e in entries] == [0]
    monkeypatch.setattr(keras.Model, "save_weights", original)
    weights = snapshot_weights(tmp_path / "snapshot-000.weights.h5", 12)
    assert_rates(weights[:4], huang_rates(12, 3, 0.2)[:4], atol=1.5e-7)


def test_unwritable_directory_is_a_clear_error_before_training(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):  # running as root: simulate with a file
            target.chmod(0o700)
            target.rmdir()
            target.write_text("a file, not a folder")
        probe = RateProbe(8)
        with pytest.raises((PermissionError, OSError, ValueError), match="ro"):
            probe.fit([keras_lr.SnapshotEnsemble(2, directory=target)], epochs=2, steps_per_epoch=4)
        assert not np.any(probe.rates())
    finally:
        if target.is_dir():
            target.chmod(0o700)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"n_snapshots": 0}, ValueError, r"`n_snapshots`.*n_snapshots=0"),
        ({"n_snapshots": 2.5}, TypeError, r"`n_snapshots`"),
        ({"n_snapshots": 2, "max_lr": 0.0}, ValueError, r"`max_lr`.*max_lr=0.0"),
        ({"n_snapshots": 2, "max_lr": -1}, ValueError, r"`max_lr`"),
        ({"n_snapshots": 2, "save_format": "h5"}, ValueError, r"`save_format`.*'h5'"),
        ({"n_snapshots": 2, "epochs": 0}, ValueError, r"`epochs`"),
        ({"n_snapshots": 2, "overwrite": "yes"}, TypeError, r"`overwrite`"),
        ({"n_snapshots": 2, "directory": None}, TypeError, r"`directory`"),
    ],
)
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        keras_lr.SnapshotEnsemble(**kwargs)


@pytest.mark.parametrize("m, spe, epochs", [(9, 4, 2), (4, 5, 1)])
def test_more_snapshots_than_cycles_fit_is_refused_before_training(tmp_path, m, spe, epochs):
    probe = RateProbe(spe * epochs)
    with pytest.raises(ValueError, match="`n_snapshots`"):
        probe.fit(
            [keras_lr.SnapshotEnsemble(m, directory=tmp_path)], epochs=epochs, steps_per_epoch=spe
        )
    assert not np.any(probe.rates())


def test_preview_and_config_round_trip(tmp_path):
    snap = keras_lr.SnapshotEnsemble(3, max_lr=0.5, directory=tmp_path, epochs=4)
    rates = snap.rates(20, steps_per_epoch=5)
    np.testing.assert_allclose(rates, huang_rates(20, 3, 0.5))
    again = keras_lr.SnapshotEnsemble.from_config(snap.get_config())
    assert again.get_config() == snap.get_config()


if MULTI_STEP_EXECUTION:

    def test_steps_per_execution_exact_when_it_divides_the_cycle(tmp_path):
        probe = RateProbe(24, steps_per_execution=4)
        snap = keras_lr.SnapshotEnsemble(3, max_lr=0.3, directory=tmp_path)
        probe.fit([snap], epochs=3, steps_per_epoch=8)
        assert_rates(probe.rates(), huang_rates(24, 3, 0.3), atol=1.5e-7)
        for end, path in zip([8, 16, 24], snap.snapshot_paths):
            assert not np.any(snapshot_weights(path, 24)[end:])
            assert np.all(snapshot_weights(path, 24)[:end] > 0)

    def test_steps_per_execution_that_splits_a_cycle_end_is_refused(tmp_path):
        probe = RateProbe(24, steps_per_execution=4)
        with pytest.raises(ValueError, match="steps_per_execution=4"):
            probe.fit(
                [keras_lr.SnapshotEnsemble(4, directory=tmp_path)], epochs=3, steps_per_epoch=8
            )


def test_history_and_logs_learning_rate(tmp_path):
    probe = RateProbe(12)
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.2, directory=tmp_path)
    history = probe.fit([snap], epochs=3, steps_per_epoch=4)
    np.testing.assert_allclose(snap.history["lr"], huang_rates(12, 2, 0.2))
    np.testing.assert_allclose(
        history.history["learning_rate"], huang_rates(12, 2, 0.2)[[3, 7, 11]]
    )


def test_the_batch_hook_does_not_disable_async_dispatch():
    # Keras switches async dispatch off for callbacks overriding batch-end hooks.
    from keras.src import utils

    snap = keras_lr.SnapshotEnsemble(2)
    assert utils.is_default(snap.on_train_batch_end)
    assert utils.is_default(snap.on_batch_end)


# -- FGE -------------------------------------------------------------------------


def garipov_rates(n, c, high, low):
    out = []
    for i in range(1, n + 1):
        t = (((i - 1) % c) + 1) / c
        out.append(
            (1 - 2 * t) * high + 2 * t * low if t <= 0.5 else (2 - 2 * t) * low + (2 * t - 1) * high
        )
    return np.array(out)


def test_fge_rates_and_models_at_each_cycle_low(tmp_path):
    probe = RateProbe(24)
    fge = keras_lr.FastGeometricEnsemble(0.3, 0.05, cycle_steps=6, directory=tmp_path)
    probe.fit([fge], epochs=6, steps_per_epoch=4)
    expected = garipov_rates(24, 6, 0.3, 0.05)
    assert_rates(probe.rates(), expected, atol=1.5e-7)
    entries = manifest(tmp_path)["snapshots"]
    assert [e["step"] for e in entries] == [3, 9, 15, 21]
    for entry, path in zip(entries, fge.snapshot_paths):
        assert entry["lr"] == pytest.approx(0.05)
        weights = snapshot_weights(path, 24)
        assert not np.any(weights[entry["step"] :])
        assert_rates(weights[: entry["step"]], expected[: entry["step"]], atol=1.5e-7)


def test_fge_bad_cycle():
    with pytest.raises(ValueError, match="`cycle_steps`.*cycle_steps=5"):
        keras_lr.FastGeometricEnsemble(0.1, 0.01, cycle_steps=5)
    with pytest.raises(ValueError, match="`min_lr`.*min_lr=0.1"):
        keras_lr.FastGeometricEnsemble(0.01, 0.1, cycle_steps=4)
    with pytest.raises(ValueError, match="`max_lr`.*max_lr=0"):
        keras_lr.FastGeometricEnsemble(0, 0.1, cycle_steps=4)


def test_fge_old_argument_names_warn_and_mean_the_same(tmp_path):
    new = keras_lr.FastGeometricEnsemble(max_lr=0.3, min_lr=0.05, cycle_steps=6)
    with pytest.warns(DeprecationWarning, match="`lr_high`.*use `max_lr`"):
        old = keras_lr.FastGeometricEnsemble(lr_high=0.3, lr_low=0.05, cycle_steps=6)
    assert old.get_config() == new.get_config()
    np.testing.assert_array_equal(old.rates(24), new.rates(24))
    np.testing.assert_allclose(new.rates(24), garipov_rates(24, 6, 0.3, 0.05), rtol=1e-12)
    # By position, as before the rename: (high, low, cycle_steps).
    positional = keras_lr.FastGeometricEnsemble(0.3, 0.05, 6)
    assert positional.get_config() == new.get_config()
    with pytest.raises(TypeError, match="both `lr_high` and `max_lr`"):
        keras_lr.FastGeometricEnsemble(max_lr=0.3, lr_high=0.3, min_lr=0.05, cycle_steps=6)
    with pytest.warns(DeprecationWarning, match="`lr_low`.*use `min_lr`"):
        assert new.lr_low == 0.05


def test_fge_config_has_the_new_names_and_reads_the_old(recwarn):
    fge = keras_lr.FastGeometricEnsemble(0.3, 0.05, cycle_steps=6, n_models=2, warmup_steps=3)
    config = fge.get_config()
    assert {"max_lr", "min_lr"} <= set(config) and not {"lr_high", "lr_low"} & set(config)
    assert keras_lr.FastGeometricEnsemble.from_config(config).get_config() == config
    saved_before = {
        ("lr_high" if k == "max_lr" else "lr_low" if k == "min_lr" else k): value
        for k, value in config.items()
    }
    recwarn.clear()
    assert keras_lr.FastGeometricEnsemble.from_config(saved_before).get_config() == config
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


# -- warm-up -----------------------------------------------------------------------


def ramp(warmup_steps, start_lr, target):
    return start_lr + (target - start_lr) * np.arange(warmup_steps) / warmup_steps


def check_snapshots(directory, paths, total, expected, steps):
    entries = manifest(directory)["snapshots"]
    assert [e["step"] for e in entries] == steps
    for entry, path in zip(entries, paths):
        weights = snapshot_weights(path, total)
        assert not np.any(weights[entry["step"] :])
        assert_rates(weights[: entry["step"]], expected[: entry["step"]], atol=1.5e-7)
        assert entry["lr"] == pytest.approx(expected[entry["step"] - 1])


def test_snapshot_warmup_shifts_the_cycles_and_the_snapshots(tmp_path):
    # T = 24 steps, W = 4: three cycles of ceil(20 / 3) = 7 steps after the ramp,
    # snapshots after steps 11 (inside epoch 2), 18 and 24.
    total, w = 24, 4
    probe = RateProbe(total)
    snap = keras_lr.SnapshotEnsemble(
        3, max_lr=0.4, directory=tmp_path, warmup_steps=w, warmup_start_lr=0.04
    )
    probe.fit([snap], epochs=6, steps_per_epoch=4)
    expected = np.r_[ramp(w, 0.04, 0.4), huang_rates(total - w, 3, 0.4)]
    assert_rates(probe.rates(), expected, atol=1.5e-7)
    np.testing.assert_allclose(snap.rates(total, steps_per_epoch=4, epochs=6), expected)
    check_snapshots(tmp_path, snap.snapshot_paths, total, expected, [11, 18, 24])
    again = keras_lr.SnapshotEnsemble.from_config(snap.get_config())
    assert again.get_config()["warmup_steps"] == w
    assert again.get_config()["warmup_start_lr"] == 0.04


def test_fge_warmup_shifts_the_cycles_and_the_models(tmp_path):
    total, w = 24, 2
    probe = RateProbe(total)
    fge = keras_lr.FastGeometricEnsemble(0.3, 0.05, 6, directory=tmp_path, warmup_steps=w)
    probe.fit([fge], epochs=6, steps_per_epoch=4)
    cycles = garipov_rates(total - w, 6, 0.3, 0.05)
    expected = np.r_[ramp(w, 0.0, cycles[0]), cycles]
    assert_rates(probe.rates(), expected, atol=1.5e-7)
    check_snapshots(tmp_path, fge.snapshot_paths, total, expected, [5, 11, 17, 23])
    assert all(e["lr"] == pytest.approx(0.05) for e in manifest(tmp_path)["snapshots"])


def test_warmup_that_leaves_no_cycle_is_refused_before_training(tmp_path):
    probe = RateProbe(8)
    snap = keras_lr.SnapshotEnsemble(2, directory=tmp_path / "s", warmup_steps=8)
    with pytest.raises(ValueError, match="`warmup_steps`.*warmup_steps=8"):
        probe.fit([snap], epochs=2, steps_per_epoch=4)
    fge = keras_lr.FastGeometricEnsemble(0.3, 0.05, 6, directory=tmp_path / "f", warmup_steps=6)
    with pytest.raises(ValueError, match="after a warm-up of 6 steps"):
        probe.fit([fge], epochs=2, steps_per_epoch=4)
    assert not np.any(probe.rates())
    with pytest.raises(ValueError, match="`warmup_steps`"):
        keras_lr.SnapshotEnsemble(2, warmup_steps=-1)


# -- SWA -------------------------------------------------------------------------


class RecordEpochWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(
            [np.array(ops.convert_to_numpy(w)) for w in self.model.trainable_variables]
        )


def test_swa_average_of_epoch_end_weights_swapped_in():
    probe = RateProbe(24)
    recorder = RecordEpochWeights()
    swa = keras_lr.StochasticWeightAveraging(start_epoch=2)
    probe.fit([recorder, swa], epochs=6, steps_per_epoch=4)
    expected = np.mean([w[0] for w in recorder.weights[2:]], axis=0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(probe.model.get_layer("probe").kernel), expected, rtol=1e-6
    )
    assert swa.n_averaged == 4
    np.testing.assert_array_equal(swa.final_weights[0], recorder.weights[-1][0])


def test_swa_lr_from_start_epoch_over_a_schedule():
    probe = RateProbe(24)
    cosine = keras_lr.CosineAnnealing(0.4)
    swa = keras_lr.StochasticWeightAveraging(
        start_epoch=3, swa_lr=0.05, swap_at_end=False, anneal_epochs=0
    )
    probe.fit([swa, cosine], epochs=6, steps_per_epoch=4)
    expected = S.Cosine(0.4, 0.0, 24).numpy(24)
    expected[12:] = 0.05
    assert_rates(probe.rates(), expected, atol=1.5e-7)


def test_swa_lr_over_the_users_own_schedule():
    decay = keras.optimizers.schedules.ExponentialDecay(0.4, decay_steps=4, decay_rate=0.5)
    probe = RateProbe(16, optimizer=keras.optimizers.SGD(learning_rate=decay))
    swa = keras_lr.StochasticWeightAveraging(
        start_epoch=2, swa_lr=0.05, swap_at_end=False, anneal_epochs=0
    )
    probe.fit([swa], epochs=4, steps_per_epoch=4)
    expected = 0.4 * 0.5 ** (np.arange(16) / 4)
    expected[8:] = 0.05
    assert_rates(probe.rates(), expected, atol=1.5e-7)


def test_swa_lr_over_a_float_rate():
    probe = RateProbe(16)
    swa = keras_lr.StochasticWeightAveraging(
        start_epoch=2, swa_lr=0.1, swap_at_end=False, anneal_epochs=0
    )
    probe.fit([swa], epochs=4, steps_per_epoch=4)
    expected = np.r_[np.full(8, 0.5), np.full(8, 0.1)]
    assert_rates(probe.rates(), expected, atol=1.5e-7)


def test_update_bn_sets_population_statistics():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4)(inputs)
    normed = keras.layers.BatchNormalization()(hidden)
    second = keras.layers.BatchNormalization()(keras.layers.Dense(2)(normed))
    model = keras.Model(inputs, second)
    x = np.random.default_rng(0).normal(loc=2.0, size=(100, 3)).astype("float32")
    assert keras_lr.update_bn(model, x, batch_size=16) == 2
    first_bn = model.layers[2]
    h = keras.Model(inputs, hidden).predict(x, verbose=0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(first_bn.moving_mean), h.mean(0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(ops.convert_to_numpy(first_bn.moving_variance), h.var(0), rtol=1e-5)
    # The second layer sees the first one normalised with its new statistics.
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.var(0), 1.0, rtol=1e-2)


def test_swa_bad_arguments():
    with pytest.raises(ValueError, match="`start_epoch`"):
        keras_lr.StochasticWeightAveraging(-1)
    with pytest.raises(ValueError, match="`swa_lr`.*swa_lr=0"):
        keras_lr.StochasticWeightAveraging(1, swa_lr=0)
