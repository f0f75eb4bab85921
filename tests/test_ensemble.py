"""Snapshot ensembles: manifest checks, `load_ensemble`, `fit_ensemble_weights`.

Snapshot files are made here (a tiny classifier trained briefly, saved after
each of three short fits) with the manifest written by hand in the shared
format, so these tests do not depend on the snapshot callbacks.
"""

from __future__ import annotations

import doctest
import itertools
import json
import math
import os
import shutil
import tempfile

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_lr.ensembles import (
    SnapshotFileNotFoundError,
    WeightedMean,
    _collect,
    _load,
    _manifest,
    _weights,
    fit_ensemble_weights,
    load_ensemble,
    read_manifest,
    snapshot_paths,
)

M = 3
N_FEATURES, N_CLASSES = 4, 3
ACCEPTED = (ValueError, FileNotFoundError, TypeError)


def _classifier():
    inputs = keras.Input((N_FEATURES,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="probs")(hidden)
    return keras.Model(inputs, outputs, name="classifier")


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5).astype("int64")
    return x, y


def _entry(index, file, step=None):
    return {
        "index": index,
        "file": file,
        "step": 10 * (index + 1) if step is None else step,
        "epoch": index,
        "lr": 0.01 / (index + 1),
        "logs": {"loss": 1.0 / (index + 1)},
    }


def _write_manifest(directory, files, save_format="weights", order=None):
    order = list(range(len(files))) if order is None else order
    manifest = {
        "format": "keras_lr.snapshots",
        "version": 1,
        "kind": "SnapshotEnsemble",
        "save_format": save_format,
        "snapshots": [_entry(i, os.path.basename(files[i])) for i in order],
    }
    path = os.path.join(directory, "manifest.json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    return path


class Snapshots:
    """Three snapshots of one briefly trained classifier, in both file formats."""

    def __init__(self, root):
        keras.utils.set_random_seed(0)
        self.x, self.y = _data()
        self.model = _classifier()
        self.model.compile(
            optimizer=keras.optimizers.Adam(0.05),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        self.weights_dir = os.path.join(root, "weights")
        self.keras_dir = os.path.join(root, "keras")
        os.makedirs(self.weights_dir)
        os.makedirs(self.keras_dir)
        self.weight_files, self.keras_files, self.preds = [], [], []
        for k in range(M):
            self.model.fit(self.x, self.y, epochs=1, batch_size=32, verbose=0)
            self.weight_files.append(os.path.join(self.weights_dir, f"snapshot-{k:03d}.weights.h5"))
            self.keras_files.append(os.path.join(self.keras_dir, f"snapshot-{k:03d}.keras"))
            self.model.save_weights(self.weight_files[-1])
            self.model.save(self.keras_files[-1])
            self.preds.append(self.model.predict(self.x, verbose=0))
        # Entries out of index order: readers must sort.
        self.manifest = _write_manifest(self.weights_dir, self.weight_files, order=[2, 0, 1])
        _write_manifest(self.keras_dir, self.keras_files, save_format="model")


@pytest.fixture(scope="module")
def snaps(tmp_path_factory):
    return Snapshots(str(tmp_path_factory.mktemp("snapshots")))


def _mean(preds, weights=None):
    w = np.ones(len(preds)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return sum(wk * p.astype(np.float64) for wk, p in zip(w, preds))


def _mixing_layers(ensemble):
    return [layer for layer in ensemble.layers if isinstance(layer, WeightedMean)]


# ---------------------------------------------------------------------------
# Manifest.


def test_read_manifest_sorts_and_snapshot_paths_are_absolute_in_index_order(snaps):
    manifest = read_manifest(snaps.weights_dir)
    assert manifest["kind"] == "SnapshotEnsemble"
    assert [s["index"] for s in manifest["snapshots"]] == [0, 1, 2]
    assert manifest["snapshots"][1]["step"] == 20
    assert read_manifest(snaps.manifest) == manifest  # the manifest path works too
    paths = snapshot_paths(snaps.weights_dir)
    assert paths == snaps.weight_files
    assert all(os.path.isabs(p) for p in paths)


def _valid_manifest():
    return {
        "format": "keras_lr.snapshots",
        "version": 1,
        "kind": "SnapshotEnsemble",
        "save_format": "weights",
        "snapshots": [_entry(0, "snapshot-000.weights.h5"), _entry(1, "snapshot-001.weights.h5")],
    }


def _set(path, value):
    def mutate(m):
        target = m
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return m

    return mutate


def _drop(path):
    def mutate(m):
        target = m
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return m

    return mutate


BAD_MANIFESTS = {
    "top-level list": (lambda m: [m], "JSON object"),
    "wrong format": (_set(["format"], "other"), "'format'"),
    "no format": (_drop(["format"]), "'format'"),
    "newer version": (_set(["version"], 2), "version 2 is not supported"),
    "version as text": (_set(["version"], "1"), "'version'"),
    "version bool": (_set(["version"], True), "'version'"),
    "kind not text": (_set(["kind"], 3), "'kind'"),
    "unknown save_format": (_set(["save_format"], "pickle"), "'save_format'"),
    "no snapshots": (_drop(["snapshots"]), "'snapshots'"),
    "snapshots a dict": (_set(["snapshots"], {"0": "a"}), "'snapshots' must be a list"),
    "entry not object": (_set(["snapshots", 1], "snapshot-001.weights.h5"), "snapshots[1]"),
    "entry lacks file": (_drop(["snapshots", 0, "file"]), "'file'"),
    "entry lacks lr": (_drop(["snapshots", 1, "lr"]), "'lr'"),
    "index text": (_set(["snapshots", 0, "index"], "0"), "snapshots[0]['index']"),
    "index bool": (_set(["snapshots", 0, "index"], False), "snapshots[0]['index']"),
    "negative step": (_set(["snapshots", 1, "step"], -1), "snapshots[1]['step']"),
    "epoch float": (_set(["snapshots", 1, "epoch"], 1.5), "snapshots[1]['epoch']"),
    "lr NaN": (_set(["snapshots", 0, "lr"], float("nan")), "snapshots[0]['lr']"),
    "lr text": (_set(["snapshots", 0, "lr"], "0.1"), "snapshots[0]['lr']"),
    "logs list": (_set(["snapshots", 0, "logs"], [1]), "snapshots[0]['logs']"),
    "file number": (_set(["snapshots", 0, "file"], 7), "snapshots[0]['file']"),
    "file absolute": (_set(["snapshots", 0, "file"], "/etc/x.weights.h5"), "relative"),
    "file escapes": (_set(["snapshots", 0, "file"], "../x.weights.h5"), "relative"),
    "file extension": (_set(["snapshots", 0, "file"], "snapshot-000.h5"), ".weights.h5"),
    "format mismatch": (_set(["snapshots", 0, "file"], "snapshot-000.keras"), "save_format"),
    "duplicate index": (_set(["snapshots", 1, "index"], 0), "same index 0"),
    "duplicate file": (_set(["snapshots", 1, "file"], "./snapshot-000.weights.h5"), "same file"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_read_manifest_rejects_bad_content_naming_the_manifest(tmp_path, case):
    mutate, expected = BAD_MANIFESTS[case]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(mutate(_valid_manifest())))
    with pytest.raises(ValueError) as info:
        read_manifest(tmp_path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_read_manifest_accepts_the_valid_reference(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(_valid_manifest()))
    assert len(read_manifest(tmp_path)["snapshots"]) == 2
    for save_format in ("model", "keras"):  # whole-model snapshots
        manifest = _valid_manifest()
        manifest["save_format"] = save_format
        for k, entry in enumerate(manifest["snapshots"]):
            entry["file"] = f"snapshot-{k:03d}.keras"
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        assert read_manifest(tmp_path)["save_format"] == save_format


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"format": "keras_lr.snapshots", "version": 1, "snap', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b"", "not valid JSON"),
    ],
    ids=["truncated", "binary", "deep", "empty"],
)
def test_read_manifest_rejects_unreadable_json(tmp_path, content, expected):
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(ValueError, match=expected) as info:
        read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(info.value)


def test_missing_manifest_directory_or_snapshot_file_is_named(tmp_path):
    with pytest.raises(SnapshotFileNotFoundError, match="manifest") as info:
        read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError, match="directory") as info:
        snapshot_paths(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    (tmp_path / "manifest.json").write_text(json.dumps(_valid_manifest()))
    (tmp_path / "snapshot-000.weights.h5").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        snapshot_paths(tmp_path)
    assert str(tmp_path / "snapshot-001.weights.h5") in str(info.value)
    with pytest.raises(TypeError, match="directory"):
        read_manifest(3)


# ---------------------------------------------------------------------------
# The ensemble's outputs.


def test_mean_from_directory_and_from_list_equals_mean_of_separate_models(snaps):
    expected = _mean(snaps.preds)
    for source in (snaps.weights_dir, snaps.manifest, snaps.weight_files):
        ensemble = load_ensemble(snaps.model, source)
        np.testing.assert_allclose(ensemble.predict(snaps.x, verbose=0), expected, rtol=1e-5)
    # Each branch holds its own snapshot, in index order.
    for k in range(M):
        branch = ensemble.get_layer(f"snapshot_{k}")
        np.testing.assert_allclose(branch.predict(snaps.x, verbose=0), snaps.preds[k], rtol=1e-5)
    # The snapshots really differ, so the mean is not any one of them.
    assert np.abs(snaps.preds[0] - snaps.preds[2]).max() > 1e-2


def test_weighted_mean(snaps):
    weights = [1.0, 2.0, 5.0]
    ensemble = load_ensemble(snaps.model, snaps.weights_dir, weights=weights)
    np.testing.assert_allclose(
        ensemble.predict(snaps.x, verbose=0), _mean(snaps.preds, weights), rtol=1e-5
    )
    (layer,) = _mixing_layers(ensemble)
    np.testing.assert_allclose(layer.ensemble_weights, [1 / 8, 2 / 8, 5 / 8])
    # NumPy weights, and a zero weight that drops a snapshot.
    ensemble = load_ensemble(snaps.model, snaps.weight_files, weights=np.array([0, 1, 1]))
    np.testing.assert_allclose(
        ensemble.predict(snaps.x, verbose=0), _mean(snaps.preds[1:]), rtol=1e-5
    )


def test_ensemble_is_one_graph_evaluated_in_one_pass(snaps):
    ensemble = load_ensemble(snaps.model, snaps.weights_dir)
    branches = [layer for layer in ensemble.layers if isinstance(layer, keras.Model)]
    assert [b.name for b in branches] == [f"snapshot_{k}" for k in range(M)]
    assert all(not b.compiled for b in branches)
    assert len(_mixing_layers(ensemble)) == 1
    # Every branch reads the ensemble's own input tensor.
    (inp,) = ensemble.inputs
    assert all(b._inbound_nodes[0].input_tensors[0] is inp for b in branches)
    assert ensemble.output_names == snaps.model.output_names == ["probs"]

    class CountBatches(keras.callbacks.Callback):
        batches = 0

        def on_predict_batch_end(self, batch, logs=None):
            CountBatches.batches += 1

    ensemble.predict(snaps.x, batch_size=32, verbose=0, callbacks=[CountBatches()])
    assert CountBatches.batches == math.ceil(len(snaps.x) / 32)


def test_keras_snapshots_with_and_without_a_template(snaps):
    expected = _mean(snaps.preds)
    for model in (snaps.model, None):
        for source in (snaps.keras_dir, snaps.keras_files):
            ensemble = load_ensemble(model, source)
            np.testing.assert_allclose(ensemble.predict(snaps.x, verbose=0), expected, rtol=1e-5)
        assert ensemble.compiled is (model is not None)
    mixed = [snaps.keras_files[0], snaps.weight_files[1], snaps.keras_files[2]]
    ensemble = load_ensemble(snaps.model, mixed, weights=[3, 1, 0])
    np.testing.assert_allclose(
        ensemble.predict(snaps.x, verbose=0), _mean(snaps.preds[:2], [3, 1]), rtol=1e-5
    )


def test_sequential_model(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            keras.layers.Dense(5, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    x, _ = _data(20)
    files, preds = [], []
    for k in range(M):
        model.set_weights([w + 0.5 * k for w in model.get_weights()])
        files.append(str(tmp_path / f"snapshot-{k:03d}.weights.h5"))
        model.save_weights(files[-1])
        preds.append(model.predict(x, verbose=0))
    ensemble = load_ensemble(model, files)
    assert not ensemble.compiled
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), _mean(preds), rtol=1e-5)


def _perturbed_snapshots(model, directory, x, seed=0):
    rng = np.random.default_rng(seed)
    base = model.get_weights()
    files, preds = [], []
    for k in range(M):
        model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in base])
        files.append(os.path.join(directory, f"snapshot-{k:03d}.weights.h5"))
        model.save_weights(files[-1])
        preds.append(model.predict(x, verbose=0))
    _write_manifest(directory, files)
    return files, preds


def test_multi_output_model_averages_each_output(tmp_path):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((N_FEATURES,), name="features")
    hidden = keras.layers.Dense(6, activation="relu")(inputs)
    probs = keras.layers.Dense(N_CLASSES, activation="softmax", name="label")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    model = keras.Model(inputs, [probs, value])
    model.compile(loss=["sparse_categorical_crossentropy", "mse"])
    x, y = _data(40)
    _, preds = _perturbed_snapshots(model, str(tmp_path), x)
    ensemble = load_ensemble(model, tmp_path, weights=[1, 1, 2])
    assert ensemble.output_names == ["label", "value"]
    out = ensemble.predict(x, verbose=0)
    assert len(out) == 2
    for j in range(2):
        expected = _mean([p[j] for p in preds], [1, 1, 2])
        np.testing.assert_allclose(out[j], expected, rtol=1e-5, atol=1e-6)
    assert len(_mixing_layers(ensemble)) == 2
    # The compiled losses follow the outputs: evaluate equals the sum by hand.
    value_target = x[:, :1]
    result = ensemble.evaluate(x, [y, value_target], verbose=0, return_dict=True)
    p0 = np.clip(out[0][np.arange(len(y)), y], 1e-7, 1 - 1e-7)
    by_hand = -np.mean(np.log(p0)) + np.mean((out[1] - value_target) ** 2)
    np.testing.assert_allclose(result["loss"], by_hand, rtol=1e-4)


def test_dict_inputs_and_dict_outputs(tmp_path):
    keras.utils.set_random_seed(3)
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    hidden = keras.layers.Dense(4)(keras.layers.Concatenate()([a, b]))
    model = keras.Model(
        {"a": a, "b": b},
        {
            "first": keras.layers.Dense(2, name="first")(hidden),
            "second": keras.layers.Dense(1)(hidden),
        },
    )
    rng = np.random.default_rng(0)
    x = {
        "a": rng.normal(size=(10, 3)).astype("float32"),
        "b": rng.normal(size=(10, 2)).astype("float32"),
    }
    _, preds = _perturbed_snapshots(model, str(tmp_path), x)
    ensemble = load_ensemble(model, tmp_path)
    assert set(ensemble.input) == {"a", "b"}
    out = ensemble.predict(x, verbose=0)
    assert set(out) == {"first", "second"}
    for key in out:
        np.testing.assert_allclose(out[key], _mean([p[key] for p in preds]), rtol=1e-5, atol=1e-6)


def test_evaluate_matches_the_loss_of_the_mean_by_hand(snaps):
    ensemble = load_ensemble(snaps.model, snaps.weights_dir, weights=[2, 1, 1])
    assert ensemble.compiled and ensemble.optimizer is not snaps.model.optimizer
    assert not ensemble.trainable and ensemble.trainable_variables == []
    result = ensemble.evaluate(snaps.x, snaps.y, verbose=0, return_dict=True)
    mean = _mean(snaps.preds, [2, 1, 1])
    p_true = np.clip(mean[np.arange(len(snaps.y)), snaps.y], 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(result["loss"], -np.mean(np.log(p_true)), rtol=1e-5)
    np.testing.assert_allclose(
        result["accuracy"], np.mean(mean.argmax(axis=1) == snaps.y), rtol=1e-6
    )


def test_save_and_reload_as_keras_gives_identical_predictions(snaps, tmp_path):
    ensemble = load_ensemble(snaps.model, snaps.weights_dir, weights=[1, 2, 3])
    before = ensemble.predict(snaps.x, verbose=0)
    path = str(tmp_path / "ensemble.keras")
    ensemble.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(snaps.x, verbose=0), before, rtol=1e-6, atol=0)
    (layer,) = _mixing_layers(reloaded)
    np.testing.assert_allclose(layer.ensemble_weights, [1 / 6, 2 / 6, 3 / 6])
    assert reloaded.compiled
    result = reloaded.evaluate(snaps.x, snaps.y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "accuracy"}


# ---------------------------------------------------------------------------
# Weights fitted on validation data.


def _log_loss(w, preds, y):
    mix = sum(wk * p for wk, p in zip(w, preds))
    return -np.mean(np.log(np.maximum(mix[np.arange(len(y)), y], 1e-15)))


def _synthetic(m, n=300, c=4, seed=0, sharpness=None):
    """Snapshots of differing quality whose errors partly disagree."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    sharpness = sharpness or [1.0 + 0.5 * k for k in range(m)]
    preds = []
    for s in sharpness:
        logits = rng.normal(size=(n, c)) * 1.5 + s * np.eye(c)[y]
        p = np.exp(logits)
        preds.append(p / p.sum(axis=1, keepdims=True))
    return preds, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fitted_weights_beat_a_fine_grid_for_two_snapshots(seed):
    preds, y = _synthetic(2, seed=seed)
    w = fit_ensemble_weights(preds, y)
    assert w.shape == (2,) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
    grid = np.linspace(0, 1, 1001)
    losses = [_log_loss([a, 1 - a], preds, y) for a in grid]
    best = int(np.argmin(losses))
    assert _log_loss(w, preds, y) <= losses[best] + 1e-9
    assert abs(w[0] - grid[best]) <= 2e-3
    assert 0.01 < w[0] < 0.99  # an interior optimum: both snapshots help


@pytest.mark.parametrize("seed", [0, 3])
def test_fitted_weights_beat_a_grid_over_the_simplex_for_three_snapshots(seed):
    preds, y = _synthetic(3, seed=seed)
    w = fit_ensemble_weights(preds, y)
    step = 0.02
    grid = [
        (a, b, 1 - a - b)
        for a, b in itertools.product(np.arange(0, 1 + 1e-9, step), repeat=2)
        if a + b <= 1 + 1e-9
    ]
    losses = [_log_loss(g, preds, y) for g in grid]
    best = grid[int(np.argmin(losses))]
    assert _log_loss(w, preds, y) <= min(losses) + 1e-9
    np.testing.assert_allclose(w, np.clip(best, 0, 1), atol=0.05)


def test_a_clearly_better_snapshot_gets_most_weight():
    preds, y = _synthetic(3, sharpness=[0.5, 4.0, 0.5], seed=4)
    w = fit_ensemble_weights(preds, y)
    assert w.argmax() == 1 and w[1] > 0.8


def test_label_forms_give_the_same_weights():
    preds, y = _synthetic(3, seed=5)
    w = fit_ensemble_weights(preds, y)
    np.testing.assert_allclose(fit_ensemble_weights(preds, np.eye(4)[y]), w, atol=1e-9)
    np.testing.assert_allclose(fit_ensemble_weights(preds, y[:, None]), w, atol=1e-9)
    np.testing.assert_allclose(fit_ensemble_weights(np.stack(preds), y), w, atol=1e-9)
    assert fit_ensemble_weights(preds[:1], y).tolist() == [1.0]
    # Binary: sigmoid probabilities equal the two-column softmax form.
    p1 = [p[:, 1] / (p[:, 0] + p[:, 1]) for p in preds]
    yb = (y % 2).astype(float)
    two_column = [np.stack([1 - p, p], axis=1) for p in p1]
    wb = fit_ensemble_weights(p1, yb)
    np.testing.assert_allclose(wb, fit_ensemble_weights(two_column, yb.astype(int)), atol=1e-9)
    np.testing.assert_allclose(fit_ensemble_weights([p[:, None] for p in p1], yb), wb, atol=1e-9)


def test_iteration_limit_warns_and_still_returns_simplex_weights():
    preds, y = _synthetic(3, seed=6)
    with pytest.warns(UserWarning, match="max_iter=2"):
        w = fit_ensemble_weights(preds, y, max_iter=2, tol=1e-12)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
    # Each multiplicative step lowers the loss, and the converged answer is lower still.
    losses = [_log_loss(np.full(3, 1 / 3), preds, y), _log_loss(w, preds, y)]
    losses.append(_log_loss(fit_ensemble_weights(preds, y), preds, y))
    assert losses[0] > losses[1] > losses[2]
    with pytest.raises(ValueError, match="`max_iter`"):
        fit_ensemble_weights(preds, y, max_iter=0)
    with pytest.raises(ValueError, match="`tol`"):
        fit_ensemble_weights(preds, y, tol=0.0)


@pytest.mark.parametrize(
    "predictions, y, error, expected",
    [
        ([], [0], ValueError, "`predictions` must not be empty"),
        ([np.full((2, 2), 3.0)], [0, 1], ValueError, "logits"),
        ([np.full((2, 3), 0.1)], [0, 1], ValueError, "sum to 1"),
        ([np.full((2, 2), 0.5), np.full((3, 2), 0.5)], [0, 1], ValueError, "one shape"),
        ([np.full((2, 2), 0.5)], [0, 2], ValueError, "`y`"),
        ([np.full((2, 2), 0.5)], [0.5, 1], ValueError, "`y`"),
        ([np.full((2, 2), 0.5)], [0, 1, 1], ValueError, "`y`"),
        ([np.full((2, 2), np.nan)], [0, 1], ValueError, "`predictions`"),
        ("abc", [0], TypeError, "`predictions`"),
        ([["a", "b"]], [0], TypeError, "`predictions`"),
    ],
)
def test_fit_ensemble_weights_errors_name_the_argument(predictions, y, error, expected):
    with pytest.raises(error, match=expected):
        fit_ensemble_weights(predictions, y)


def test_load_ensemble_fit_uses_the_weights_fitted_on_branch_predictions(snaps):
    x_val, y_val = _data(200, seed=7)
    ensemble = load_ensemble(
        snaps.model, snaps.weights_dir, weights="fit", validation_data=(x_val, y_val)
    )
    separate = []
    for f in snaps.weight_files:
        snaps.model.load_weights(f)
        separate.append(snaps.model.predict(x_val, verbose=0))
    expected = fit_ensemble_weights(separate, y_val)
    (layer,) = _mixing_layers(ensemble)
    np.testing.assert_allclose(layer.ensemble_weights, expected, atol=1e-5)
    assert np.abs(expected - 1 / M).max() > 1e-3  # not the plain mean
    np.testing.assert_allclose(
        ensemble.predict(x_val, verbose=0), _mean(separate, expected), rtol=1e-5, atol=1e-7
    )


# ---------------------------------------------------------------------------
# Errors.


def _other_architecture_file(directory, hidden_units=(5,)):
    inputs = keras.Input((N_FEATURES,), name="features")
    h = inputs
    for units in hidden_units:
        h = keras.layers.Dense(units, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(N_CLASSES, activation="softmax")(h))
    path = os.path.join(directory, f"other-{len(hidden_units)}-{hidden_units[0]}.weights.h5")
    model.save_weights(path)
    return path


def test_bad_paths_are_named(snaps, tmp_path):
    model = snaps.model
    with pytest.raises(ValueError, match="`paths` must not be empty"):
        load_ensemble(model, [])
    missing = str(tmp_path / "missing.weights.h5")
    with pytest.raises(FileNotFoundError) as info:
        load_ensemble(model, [snaps.weight_files[0], missing])
    assert missing in str(info.value)
    for name in ("snapshot.h5", "snapshot.txt"):
        path = tmp_path / name
        path.write_bytes(b"x")
        with pytest.raises(ValueError, match="unknown extension") as info:
            load_ensemble(model, [str(path)])
        assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="single snapshot file"):
        load_ensemble(model, snaps.weight_files[0])
    with pytest.raises(TypeError, match="`paths`"):
        load_ensemble(model, 3)
    with pytest.raises(TypeError, match=r"`paths\[1\]`"):
        load_ensemble(model, [snaps.weight_files[0], 3])
    with pytest.raises(FileNotFoundError, match="directory"):
        load_ensemble(model, str(tmp_path / "nowhere"))
    empty = _valid_manifest()
    empty["snapshots"] = []
    (tmp_path / "manifest.json").write_text(json.dumps(empty))
    assert read_manifest(tmp_path)["snapshots"] == []
    with pytest.raises(ValueError, match="lists no snapshots") as info:
        load_ensemble(model, tmp_path)
    assert str(tmp_path / "manifest.json") in str(info.value)
    not_zip = tmp_path / "broken.keras"
    not_zip.write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="not a '.keras' archive") as info:
        load_ensemble(model, [str(not_zip)])
    assert str(not_zip) in str(info.value)


@pytest.mark.parametrize("hidden_units", [(5,), (8, 8), (8, 4)], ids=["width", "deeper", "prefix"])
def test_snapshot_of_another_architecture_is_named(snaps, tmp_path, hidden_units):
    # "prefix": the file holds every layer of `model` plus one more, which
    # Keras's own load_weights accepts silently.
    path = _other_architecture_file(str(tmp_path), hidden_units)
    with pytest.raises(ValueError, match="does not match the architecture") as info:
        load_ensemble(snaps.model, [snaps.weight_files[0], path])
    assert path in str(info.value)


def test_keras_snapshot_of_another_architecture_is_named(snaps, tmp_path):
    inputs = keras.Input((N_FEATURES + 1,))
    other = keras.Model(inputs, keras.layers.Dense(N_CLASSES)(inputs))
    path = str(tmp_path / "other.keras")
    other.save(path)
    with pytest.raises(ValueError, match="does not match `model`") as info:
        load_ensemble(snaps.model, [snaps.keras_files[0], path])
    assert path in str(info.value)


@pytest.mark.parametrize(
    "weights, error, expected",
    [
        ([1, 1], ValueError, "one entry per snapshot"),
        ([1, -1, 1], ValueError, "non-negative"),
        ([1, float("nan"), 1], ValueError, "finite"),
        ([0, 0, 0], ValueError, "positive sum"),
        ("mean", ValueError, "'fit'"),
        ({"a": 1}, TypeError, "sequence"),
        ([1, "2", 3], TypeError, "real numbers"),
        ([[1, 2, 3]], TypeError, "real numbers"),
        (np.ones((1, 3)), TypeError, "real numbers"),
        (np.float64(1.0), TypeError, "sequence"),
    ],
)
def test_bad_weights_are_named(snaps, weights, error, expected):
    with pytest.raises(error, match=expected) as info:
        load_ensemble(snaps.model, snaps.weights_dir, weights=weights)
    assert "`weights`" in str(info.value)


def test_bad_validation_data_and_fit_requirements(snaps, tmp_path):
    with pytest.raises(ValueError, match="`validation_data`"):
        load_ensemble(snaps.model, snaps.weights_dir, weights="fit")
    with pytest.raises(ValueError, match="`validation_data`"):
        load_ensemble(snaps.model, snaps.weights_dir, validation_data=(snaps.x, snaps.y))
    with pytest.raises(ValueError, match="`validation_data`"):
        load_ensemble(snaps.model, snaps.weights_dir, weights="fit", validation_data=(snaps.x,))
    with pytest.raises(ValueError, match="labels"):
        load_ensemble(
            snaps.model, snaps.weights_dir, weights="fit", validation_data=(snaps.x, snaps.y + 5)
        )
    # A regression head is not a probability output.
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="ones")(inputs) * 10.0)
    files = []
    for k in range(2):
        files.append(str(tmp_path / f"r{k}.weights.h5"))
        model.save_weights(files[-1])
    with pytest.raises(ValueError, match="probabilities"):
        load_ensemble(
            model, files, weights="fit", validation_data=(np.ones((4, 2)), np.zeros(4, int))
        )


def test_models_without_defined_inputs_are_refused(snaps):
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(N_CLASSES)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(snaps.x[:2])
    unbuilt = keras.Sequential([keras.layers.Dense(N_CLASSES)])
    for model in (subclassed, unbuilt):
        with pytest.raises(ValueError, match="defined inputs"):
            load_ensemble(model, snaps.weights_dir)
    with pytest.raises(TypeError, match="keras.Model"):
        load_ensemble("model", snaps.weights_dir)
    with pytest.raises(ValueError, match="model=None"):
        load_ensemble(None, snaps.weights_dir)


# ---------------------------------------------------------------------------
# Fuzzing: corrupt manifests and snapshot files.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
MANIFEST_KEYS = ["format", "version", "kind", "save_format", "snapshots"]
ENTRY_KEYS = ["index", "file", "step", "epoch", "lr", "logs"]


@st.composite
def corrupt_manifests(draw):
    """Bytes of a manifest.json broken in one of several ways."""
    good = json.dumps(_valid_manifest_for(M)).encode()
    how = draw(st.sampled_from(["bytes", "truncate", "top_value", "entry_value", "dict", "drop"]))
    if how == "bytes":
        return draw(st.binary(max_size=200))
    if how == "truncate":
        return good[: draw(st.integers(0, len(good) - 1))]
    if how == "dict":
        data = draw(
            st.dictionaries(st.sampled_from(MANIFEST_KEYS) | st.text(max_size=5), json_values)
        )
        return json.dumps(data).encode()
    m = _valid_manifest_for(M)
    if how == "top_value":
        m[draw(st.sampled_from(MANIFEST_KEYS))] = draw(json_values)
    elif how == "entry_value":
        entry = m["snapshots"][draw(st.integers(0, M - 1))]
        entry[draw(st.sampled_from(ENTRY_KEYS))] = draw(json_values)
    else:
        entry = m["snapshots"][draw(st.integers(0, M - 1))]
        del entry[draw(st.sampled_from(ENTRY_KEYS))]
    return json.dumps(m).encode()


def _valid_manifest_for(m):
    manifest = _valid_manifest()
    manifest["snapshots"] = [_entry(k, f"snapshot-{k:03d}.weights.h5") for k in range(m)]
    return manifest


def _check_failure_or_success(call, names):
    """`call()` either works or raises an accepted error that names one of `names`."""
    try:
        return call()
    except ACCEPTED as e:
        message = str(e)
        assert message and any(name in message for name in names), message
        return None


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=corrupt_manifests())
def test_fuzz_corrupt_manifest_raises_only_clear_errors(snaps, content):
    with tempfile.TemporaryDirectory() as tmp:
        for f in snaps.weight_files:
            shutil.copy(f, tmp)
        manifest = os.path.join(tmp, "manifest.json")
        with open(manifest, "wb") as f:
            f.write(content)
        names = [manifest] + [os.path.join(tmp, f"snapshot-{k:03d}.weights.h5") for k in range(M)]
        manifest_ok = _check_failure_or_success(lambda: read_manifest(tmp), [manifest]) is not None
        ensemble = _check_failure_or_success(lambda: load_ensemble(snaps.model, tmp), names)
        if ensemble is not None:
            assert manifest_ok
            np.testing.assert_allclose(
                ensemble.predict(snaps.x[:8], verbose=0), _mean(snaps.preds)[:8], rtol=1e-5
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    fmt=st.sampled_from(["weights", "keras"]),
    which=st.integers(0, M - 1),
    how=st.sampled_from(["truncate", "garble", "empty"]),
    where=st.floats(0, 1),
    noise=st.binary(min_size=1, max_size=64),
)
def test_fuzz_corrupt_snapshot_files_raise_only_clear_errors(snaps, fmt, which, how, where, noise):
    source = snaps.weights_dir if fmt == "weights" else snaps.keras_dir
    with tempfile.TemporaryDirectory() as tmp:
        for name in os.listdir(source):
            shutil.copy(os.path.join(source, name), tmp)
        files = snapshot_paths(tmp)
        target = files[which]
        with open(target, "rb") as f:
            data = f.read()
        at = int(where * (len(data) - 1))
        if how == "truncate":
            data = data[:at]
        elif how == "garble":
            data = data[:at] + noise + data[at + len(noise) :]
        else:
            data = b""
        with open(target, "wb") as f:
            f.write(data)
        ensemble = _check_failure_or_success(lambda: load_ensemble(snaps.model, tmp), [target])
        if ensemble is not None:  # a change the file format tolerates
            out = ensemble.predict(snaps.x[:8], verbose=0)
            assert out.shape == (8, N_CLASSES)


# ---------------------------------------------------------------------------
# Layer and docs.


def test_weighted_mean_layer_checks_and_config():
    layer = WeightedMean([2, 2], name="mix")
    assert layer.ensemble_weights == [0.5, 0.5]
    clone = WeightedMean.from_config(layer.get_config())
    assert clone.ensemble_weights == [0.5, 0.5] and clone.name == "mix"
    with pytest.raises(ValueError, match="`ensemble_weights`"):
        WeightedMean([0, 0])
    with pytest.raises(ValueError, match="2 inputs"):
        layer([np.ones((1, 2), "float32")] * 3)


@pytest.mark.parametrize(
    "module, examples",
    [(_manifest, 4), (_weights, 10), (_load, 8), (_collect, 6)],
    ids=lambda m: getattr(m, "__name__", m),
)
def test_docstring_examples(module, examples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the callbacks' examples name a directory
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= examples
    assert result.failed == 0
