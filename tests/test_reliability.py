"""Interruption, resumption, bad losses and odd optimizers, through real `fit` runs.

The rate probe (conftest) records the rate applied at every optimizer step, so
"resumed exactly" means: the probe of the interrupted-then-resumed run holds
the same per-step rates as the schedule of the uninterrupted run (whose rates
`tests/test_fit.py` checks against the published formulas).  Interruptions
are real: a callback raises inside `fit`, mid-epoch, after Keras's
`BackupAndRestore` has written its backup; resumption starts from a new model
and new callbacks built with the same arguments, as a new process would (and,
for `model.save` / `keras.saving.load_model`, really is a new process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
from conftest import BACKEND, RateProbe, StopAfterEpoch, assert_rates
from test_fit import CASES, EPOCHS, SPE, TOTAL, assert_applied, fit_from, iterations, preview, table
from test_plateau import Inject
from test_snapshots import huang_rates

import keras_lr
from keras_lr import _io

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

F32_ATOL = 1.5e-7
HERE = os.path.dirname(os.path.abspath(__file__))


class RaiseAt(keras.callbacks.Callback):
    """Raises at the end of batch `batch` of epoch `epoch` (0-based): a crash mid-epoch.

    Listed last, so that every other callback (BackupAndRestore) has already
    handled that batch.
    """

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("simulated crash")


def crash_then_resume(make_callbacks, crash, backup_dir, save_freq, n_steps=TOTAL + SPE):
    """Runs until `crash` = (epoch, batch) raises, then resumes in a new model.

    `make_callbacks(backup)` returns the run's callbacks, a
    `BackupAndRestore(backup_dir, save_freq)` among them; the resumed run
    gets new ones.  Returns (resumed probe, the optimizer step it resumed at):
    the crash batch's step + 1 for per-batch backups, the crash epoch's first
    step for epoch-end backups (Keras then redoes that epoch from the backup).
    """
    crashed = RateProbe(n_steps)
    backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(make_callbacks(backup) + [RaiseAt(*crash)], epochs=EPOCHS, steps_per_epoch=SPE)
    epoch, batch = crash
    start = epoch * SPE + (batch + 1 if save_freq == 1 else 0)
    with open(os.path.join(backup_dir, "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == epoch
    resumed = RateProbe(n_steps)
    backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq)
    # The data continues at the backed-up step; the new model is still at 0.
    resumed.model.fit(
        resumed.data(start),
        steps_per_epoch=SPE,
        epochs=EPOCHS,
        callbacks=make_callbacks(backup),
        verbose=0,
    )
    return resumed, start


# -- BackupAndRestore, interrupted mid-epoch ------------------------------------

SOME_CASES = {"cyclic_triangular", "step_decay_milestones", "one_cycle_2phase", "lambda_epoch"}
ORDER_CASES = [(case, "backup_last") for case in sorted(CASES)] + [
    (case, "backup_first") for case in sorted(SOME_CASES)
]


@pytest.mark.parametrize("case, order", ORDER_CASES)
def test_backup_every_batch_crash_mid_epoch_resumes_every_schedule_exactly(case, order, tmp_path):
    """Backed up after every batch, crashed at batch 1 of epoch 2: Keras
    restarts epoch 2 from its first batch, the optimizer from step 10; step i
    still trains at schedule(i), through to the end of the (longer) resumed run."""
    make, expected = CASES[case]

    def callbacks(backup):
        return [backup, make()] if order == "backup_first" else [make(), backup]

    resumed, start = crash_then_resume(callbacks, (2, 1), str(tmp_path / "backup"), 1)
    end = start + (EPOCHS - 2) * SPE
    assert (start, iterations(resumed.model)) == (2 * SPE + 2, end)
    applied = resumed.rates()
    assert_applied(applied[:TOTAL], table(expected))
    assert_applied(applied[:end], preview(make(), steps=end))


# Plateau scenario (patience 2, cooldown 1, factor 0.5): epoch 0 sets best;
# 1, 2 are bad -> reduction after epoch 2; 3 is bad (cooldown, then wait 1);
# 4 is bad -> wait 2 -> reduction after epoch 4, only if `best` and `wait`
# survived the crash inside epoch 4.  A restarted callback would take epoch 4
# as its new best and never reduce again; a lost scale would train epoch 4 at
# the full rate.
PLATEAU_METRICS = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
SCALE_PER_EPOCH = [1, 1, 1, 0.5, 0.5, 0.25]


def cyclic():
    return keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)


def plateau_callbacks(kind, order=None, backup=None):
    plateau = keras_lr.ReduceLROnPlateau(
        monitor="val_fake", factor=0.5, patience=2, cooldown=1, min_delta=0.0, mode="min"
    )
    middle = [cyclic(), plateau] if kind == "cyclic" else [plateau]
    if backup is not None:
        middle = [backup] + middle if order == "backup_first" else middle + [backup]
    return [Inject(PLATEAU_METRICS)] + middle


def base_rates(kind, n):
    return preview(cyclic(), steps=n) if kind == "cyclic" else np.full(n, 0.5)


@pytest.mark.parametrize("kind", ["cyclic", "float_rate"])
def test_plateau_state_survives_an_epoch_end_backup(kind, tmp_path):
    """Backed up at each epoch end, crashed mid-epoch 4: the resumed run redoes
    epoch 4 from the backup and reduces after it, as the uninterrupted run."""
    reference = RateProbe(TOTAL)
    reference.fit(plateau_callbacks(kind), epochs=EPOCHS, steps_per_epoch=SPE)
    expected = reference.rates()
    scales = np.repeat(SCALE_PER_EPOCH, SPE)
    assert_rates(expected, base_rates(kind, TOTAL) * scales, atol=F32_ATOL)

    resumed, start = crash_then_resume(
        lambda backup: plateau_callbacks(kind, "backup_last", backup),
        (4, 1),
        str(tmp_path / "backup"),
        "epoch",
        n_steps=TOTAL,
    )
    assert (start, iterations(resumed.model)) == (4 * SPE, TOTAL)
    assert_rates(resumed.rates(), expected, atol=F32_ATOL)


@pytest.mark.parametrize(
    "kind, order",
    [("cyclic", "backup_first"), ("cyclic", "backup_last"), ("float_rate", "backup_first")],
)
def test_plateau_state_survives_a_mid_epoch_backup_in_either_order(kind, order, tmp_path):
    """Backed up after every batch, crashed at batch 1 of epoch 4 (step 17):
    Keras redoes epoch 4 from its first batch on from step 18, so epochs 4 and
    5 cover steps 18-21 and 22-25.  Each keeps its scale of the uninterrupted
    run (0.5, then 0.25 after the reduction that needs the restored counters)."""
    resumed, start = crash_then_resume(
        lambda backup: plateau_callbacks(kind, order, backup), (4, 1), str(tmp_path / "b"), 1
    )
    assert (start, iterations(resumed.model)) == (18, 26)
    scales = np.r_[np.repeat(SCALE_PER_EPOCH[:4], SPE), [0.5] * 2, [0.5] * SPE, [0.25] * SPE]
    applied = resumed.rates()
    assert_rates(applied[:26], base_rates(kind, 26) * scales, atol=F32_ATOL)
    assert not np.any(applied[26:])


@pytest.mark.parametrize("instance", ["same", "new"])
def test_plateau_counters_continue_over_several_fits(instance):
    reference = RateProbe(TOTAL)
    reference.fit(plateau_callbacks("cyclic"), epochs=EPOCHS, steps_per_epoch=SPE)
    probe = RateProbe(TOTAL)
    first = plateau_callbacks("cyclic")
    probe.fit(first, epochs=4, steps_per_epoch=SPE)
    second = first if instance == "same" else plateau_callbacks("cyclic")
    probe.fit(second, epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=4)
    assert_rates(probe.rates(), reference.rates(), atol=F32_ATOL)
    assert second[-1].history["epoch"].tolist() == ([2, 4] if instance == "same" else [4])


def test_plateau_state_is_in_the_weights_file(tmp_path):
    probe = RateProbe(TOTAL)
    probe.fit(plateau_callbacks("cyclic"), epochs=4, steps_per_epoch=SPE)
    path = str(tmp_path / "w.weights.h5")
    probe.model.save_weights(path)
    other = RateProbe(TOTAL)
    for cb in plateau_callbacks("cyclic"):  # as `fit` does before any callback runs
        cb.set_model(other.model)
    other.model.load_weights(path)
    state = other.model.optimizer.keras_lr_state
    assert float(state.get("scale")) == 0.5
    # wait 1, cooldown 0, a best of 1.0 (epoch 0).
    assert state.get("plateau[val_fake]").tolist() == [1, 0, 1, 1.0]


class RecordEpochKernels(keras.callbacks.Callback):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        kernel = keras.ops.convert_to_numpy(self.model.get_layer("probe").kernel)
        self.log[epoch] = np.array(kernel, dtype=np.float64)


@pytest.mark.parametrize("save_freq", ["epoch", 1])
def test_swa_average_survives_backup_and_restore(save_freq, tmp_path):
    """SWA from epoch 2, crash inside epoch 4: the swapped-in result is the
    mean of the epoch-end weights of epochs 2-5 (those before the crash
    restored from the backup), the uninterrupted run's for epoch-end backups."""
    kernels = {}

    def callbacks(backup):
        swa = keras_lr.StochasticWeightAveraging(start_epoch=2)
        # The recorder first: it sees the epoch-end weights before SWA swaps.
        main = [RecordEpochKernels(kernels), swa]
        return main + [backup] if save_freq == "epoch" else [backup] + main

    resumed, start = crash_then_resume(callbacks, (4, 2), str(tmp_path / "b"), save_freq)
    assert start == (19 if save_freq == 1 else 16)
    kernel = np.asarray(keras.ops.convert_to_numpy(resumed.model.get_layer("probe").kernel))
    expected = np.mean([kernels[e] for e in (2, 3, 4, 5)], axis=0)
    np.testing.assert_allclose(kernel, expected, rtol=1e-6, atol=1e-9)
    if save_freq == "epoch":
        reference = RateProbe(TOTAL + SPE)
        swa = keras_lr.StochasticWeightAveraging(start_epoch=2)
        reference.fit([swa], epochs=EPOCHS, steps_per_epoch=SPE)
        ref_kernel = keras.ops.convert_to_numpy(reference.model.get_layer("probe").kernel)
        np.testing.assert_array_equal(kernel, ref_kernel)


# -- model.save -> load_model in a fresh process ----------------------------------

RESUME_SCRIPT = """
import json, sys, warnings
sys.path.insert(0, {here!r})
import numpy as np, keras
import keras_lr  # the schedules are registered: no custom_objects below
from test_fit import CASES, EPOCHS, SPE, fit_from, rates_of
out = {{}}
for case, path in json.load(open({paths!r})).items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.saving.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
    assert not skipped, (case, skipped)
    scale = keras_lr._state.training_state(model.optimizer).get("scale", 1.0)
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    make = CASES[case][0] if case in CASES else (
        lambda: keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3))
    fit_from(model, [make()], epochs=EPOCHS, start_step=step, initial_epoch=step // SPE)
    out[case] = [step, float(scale), rates_of(model).tolist()]
json.dump(out, open({result!r}, "w"))
print("RESUMED", len(out))
"""


@pytest.mark.slow
def test_resume_after_load_model_in_a_fresh_process_for_every_schedule(tmp_path):
    """Trained 3 of 6 epochs here, saved; a new Python process loads each model
    (no custom_objects) and trains on with a new callback of the same
    arguments: every step at the uninterrupted schedule's rate.  One extra
    case carries a plateau reduction (scale 0.5) across the save."""
    paths = {}
    for case, (make, _) in CASES.items():
        probe = RateProbe(TOTAL)
        probe.fit([make(), StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE)
        paths[case] = str(tmp_path / f"{case}.keras")
        probe.model.save(paths[case])
    probe = RateProbe(TOTAL)
    probe.fit(plateau_callbacks("cyclic") + [StopAfterEpoch(4)], epochs=EPOCHS, steps_per_epoch=SPE)
    paths["cyclic_with_plateau"] = str(tmp_path / "cyclic_with_plateau.keras")
    probe.model.save(paths["cyclic_with_plateau"])
    with open(tmp_path / "paths.json", "w") as f:
        json.dump(paths, f)

    result = tmp_path / "result.json"
    script = RESUME_SCRIPT.format(here=HERE, paths=str(tmp_path / "paths.json"), result=str(result))
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert "RESUMED" in proc.stdout, proc.stderr[-3000:]
    with open(result) as f:
        out = json.load(f)
    assert sorted(out) == sorted(paths)
    for case, (_, expected) in CASES.items():
        step, scale, rates = out[case]
        assert (step, scale) == (3 * SPE, 1.0), case
        assert_applied(np.array(rates), table(expected))
    step, scale, rates = out["cyclic_with_plateau"]
    assert (step, scale) == (4 * SPE, 0.5)
    base = preview(keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3))
    assert_rates(np.array(rates), base * np.repeat([1, 1, 1, 0.5, 0.5, 0.5], SPE), atol=F32_ATOL)


# -- NaN and inf losses -----------------------------------------------------------


def poisoned_rows(n, bad, value):
    """The probe's rows e_k, the 1 of row `bad` replaced by `value` (nan or inf):
    that step's loss and the gradient of weight `bad` are not finite, every
    other weight's gradient is 0 as usual."""
    eye = np.eye(n, dtype="float32")
    zero = np.zeros((1, 1), dtype="float32")
    k = 0
    while True:
        row = eye[[k % n]].copy()
        if k == bad:
            row[0, k] = value
        yield row, zero
        k += 1


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_schedule_keeps_exact_rates_after_a_non_finite_batch(value):
    cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    probe = RateProbe(TOTAL)
    history = probe.model.fit(
        poisoned_rows(TOTAL, 5, value),
        steps_per_epoch=SPE,
        epochs=EPOCHS,
        callbacks=[cb],
        verbose=0,
    )
    applied = probe.rates()
    expected = preview(cb)
    assert not np.isfinite(applied[5])
    keep = np.arange(TOTAL) != 5
    assert_applied(applied[keep], expected[keep])
    assert iterations(probe.model) == TOTAL
    assert np.isnan(history.history["loss"][1])  # epoch 1 holds the bad batch
    assert_applied(history.history["learning_rate"], expected[SPE - 1 :: SPE])
    assert_applied(cb.history["lr"].to_numpy(), expected)


def test_terminate_on_nan_stops_cleanly_and_a_later_fit_continues():
    make = lambda: keras_lr.CosineAnnealing(max_lr=0.5, min_lr=0.05)  # noqa: E731
    probe = RateProbe(TOTAL)
    cb = make()
    probe.model.fit(
        poisoned_rows(TOTAL, 6, np.nan),
        steps_per_epoch=SPE,
        epochs=EPOCHS,
        callbacks=[cb, keras.callbacks.TerminateOnNaN()],
        verbose=0,
    )
    expected = preview(make())
    assert iterations(probe.model) == 7  # stopped after the NaN batch
    applied = probe.rates()
    assert_applied(applied[:6], expected[:6])
    assert np.isnan(applied[6]) and not np.any(applied[7:])
    # The optimizer holds the rate of the last step (the NaN batch, step 6);
    # a new fit picks up at step 7.
    rate = float(keras.ops.convert_to_numpy(probe.model.optimizer.learning_rate))
    assert_applied(rate, expected[6])
    fit_from(probe.model, [make()], epochs=EPOCHS, start_step=7, initial_epoch=1)
    applied = probe.rates()
    assert_applied(applied[7 : 7 + (EPOCHS - 1) * SPE], expected[7 : 7 + (EPOCHS - 1) * SPE])


def test_plateau_with_a_nan_metric_counts_it_as_no_improvement():
    metrics = [1.0, np.nan, np.nan, 0.5, np.nan, np.nan]
    cb = keras_lr.ReduceLROnPlateau(
        monitor="val_fake", factor=0.5, patience=2, min_delta=0.0, mode="min"
    )
    probe = RateProbe(TOTAL)
    probe.fit([Inject(metrics), cb], epochs=EPOCHS, steps_per_epoch=SPE)
    per_epoch = probe.rates().reshape(EPOCHS, SPE)[:, 0]
    # Keras's rule: NaN never improves on the best; two NaN epochs reduce.
    assert per_epoch.tolist() == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert cb.history["epoch"].tolist() == [2, 5]


# -- optimizers: schedules, wrappers, several --------------------------------------


def test_callable_learning_rate_is_refused_before_training():
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.SGD(learning_rate=lambda: 0.1))
    with pytest.raises(ValueError, match="callable.*float rate"):
        probe.fit([keras_lr.CyclicLR(0.1, 0.5, 3)], epochs=1, steps_per_epoch=SPE)
    assert iterations(probe.model) == 0
    assert not np.any(probe.rates())


class Several:
    """A wrapper exposing several optimizers, as `optimizers_of` unwraps them."""

    def __init__(self, optimizers):
        self.optimizers = optimizers


def test_several_optimizers_each_get_the_schedule_at_their_own_step():
    first, second = keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)
    for opt, step in ((first, 3), (second, 7)):
        opt.build([keras.Variable(np.zeros(2, "float32"))])
        opt.iterations.assign(step)
    model = type("Model", (), {"optimizer": Several([first, second])})()
    cb = keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)
    cb.set_model(model)
    cb.set_params({"steps": SPE, "epochs": EPOCHS})
    cb.on_train_begin()
    rates = [float(keras.ops.convert_to_numpy(opt.learning_rate)) for opt in (first, second)]
    assert_applied(rates, preview(cb, steps=[3, 7]))
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    plateau.set_model(model)
    plateau.on_train_begin()
    plateau.on_epoch_end(0, {"loss": 1.0})
    plateau.on_epoch_end(1, {"loss": 2.0})
    halved = [float(keras.ops.convert_to_numpy(opt.learning_rate)) for opt in (first, second)]
    assert_applied(halved, 0.5 * np.array(rates))
    assert len(plateau.history) == 2


# -- files: interrupted and failed writes, chief-only writes ------------------------


def listing(directory):
    return sorted(os.listdir(directory))


def manifest_entries(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        return json.load(f)["snapshots"]


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_crash_while_rewriting_the_manifest_keeps_the_previous_one(tmp_path, monkeypatch):
    """The second snapshot file is in place when the manifest rewrite dies half
    way: the old manifest (one entry) stays, valid; no temporary file is left;
    a resumed run takes the second snapshot again."""
    probe = RateProbe(12)
    real_dump = json.dump
    calls = {"n": 0}

    def dying_dump(obj, handle, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            handle.write('{"format": "keras_lr.snap')
            raise KeyboardInterrupt
        return real_dump(obj, handle, **kwargs)

    monkeypatch.setattr(json, "dump", dying_dump)
    with pytest.raises(KeyboardInterrupt):
        probe.fit([keras_lr.SnapshotEnsemble(3, max_lr=0.2, directory=tmp_path)], 3, 4)
    monkeypatch.setattr(json, "dump", real_dump)
    assert listing(tmp_path) == [
        "manifest.json",
        "snapshot-000.weights.h5",
        "snapshot-001.weights.h5",
    ]
    assert [e["index"] for e in keras_lr.read_manifest(tmp_path)["snapshots"]] == [0]
    assert len(keras_lr.snapshot_paths(tmp_path)) == 1

    probe.model.save(tmp_path.parent / "m.keras")
    model = keras.saving.load_model(tmp_path.parent / "m.keras")
    resumed = RateProbe(12)
    resumed.model = model
    resumed.fit([keras_lr.SnapshotEnsemble(3, max_lr=0.2, directory=tmp_path)], 3, 4, 2)
    assert [e["step"] for e in manifest_entries(tmp_path)] == [4, 8, 12]
    # Snapshot 1 was taken again at the resumed run's start: the weights of step 8.
    again = RateProbe(12)
    again.model.load_weights(tmp_path / "snapshot-001.weights.h5")
    assert_applied(again.rates()[:8], huang_rates(12, 3, 0.2)[:8])
    assert not np.any(again.rates()[8:])


@pytest.mark.parametrize("order", ["backup_first", "backup_last"])
def test_snapshots_resume_with_backup_and_restore_in_either_order(order, tmp_path):
    directory = tmp_path / "snaps"

    def callbacks(backup):
        snap = keras_lr.SnapshotEnsemble(3, max_lr=0.3, directory=directory)
        return [backup, snap] if order == "backup_first" else [snap, backup]

    resumed, start = crash_then_resume(callbacks, (4, 1), str(tmp_path / "b"), "epoch", TOTAL)
    assert start == 16
    expected = huang_rates(TOTAL, 3, 0.3)
    assert_applied(resumed.rates(), expected)
    assert [e["step"] for e in manifest_entries(directory)] == [8, 16, 24]
    assert listing(directory) == ["manifest.json"] + [
        f"snapshot-{k:03d}.weights.h5" for k in range(3)
    ]


@pytest.mark.parametrize("where", ["snapshot", "manifest"])
def test_full_disk_is_a_clear_error_naming_the_file_and_leaves_no_partial_file(
    where, tmp_path, monkeypatch
):
    probe = RateProbe(12)
    real_replace = os.replace
    target = "snapshot-001.weights.h5" if where == "snapshot" else "manifest.json"
    seen = []

    def full_disk(src, dst):
        seen.append(os.path.basename(dst))
        if os.path.basename(dst) == target and seen.count(target) == (
            2 if where == "manifest" else 1
        ):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    snap = keras_lr.SnapshotEnsemble(3, max_lr=0.2, directory=tmp_path)
    with pytest.raises(OSError) as info:
        probe.fit([snap], 3, 4)
    message = str(info.value)
    assert info.value.errno == 28
    assert "SnapshotEnsemble" in message and "No space left on device" in message
    written = os.path.join(str(tmp_path), "snapshot-001.weights.h5")
    assert (
        repr(written) if where == "snapshot" else repr(str(tmp_path / "manifest.json"))
    ) in message
    expected = ["manifest.json", "snapshot-000.weights.h5"]
    if where == "manifest":
        expected.append("snapshot-001.weights.h5")  # in place, not yet listed
    assert listing(tmp_path) == expected  # no temporary file left
    assert [e["index"] for e in manifest_entries(tmp_path)] == [0]
    assert [e["index"] for e in snap.manifest.to_dict("records")] == [0]


def test_unwritable_directory_is_refused_before_training_without_a_file(tmp_path, monkeypatch):
    """Lost write permission, simulated so that it also holds for root."""
    real_mkstemp = tempfile.mkstemp

    def denied(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    probe = RateProbe(8)
    with pytest.raises(PermissionError, match=r"cannot write snapshots to .*Permission denied"):
        probe.fit([keras_lr.SnapshotEnsemble(2, directory=tmp_path / "s")], 2, 4)
    assert iterations(probe.model) == 0
    assert listing(tmp_path / "s") == []


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            },
            False,
        ),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "chief", "index": 0},
            },
            True,
        ),
        ({"cluster": {"evaluator": ["e:0"]}, "task": {"type": "evaluator", "index": 0}}, False),
        ({"cluster": {"worker": ["a:1"]}}, True),  # no task: a single process
        ("not json", True),
    ],
)
def test_is_chief_reads_tf_config(tf_config, chief, monkeypatch):
    raw = tf_config if isinstance(tf_config, str) else json.dumps(tf_config)
    monkeypatch.setenv("TF_CONFIG", raw)
    assert _io.is_chief() is chief


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path, monkeypatch):
    tf_config = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    calls = []
    _io.atomic_write(tmp_path / "out.csv", lambda tmp: calls.append(tmp) or open(tmp, "w").close())
    assert len(calls) == 1 and not calls[0].startswith(str(tmp_path))
    assert not os.path.exists(calls[0])  # its private folder is gone
    probe = RateProbe(8)
    snap = keras_lr.SnapshotEnsemble(2, max_lr=0.2, directory=tmp_path / "s")
    probe.fit([snap], 2, 4)
    assert listing(tmp_path) == []
    assert [os.path.basename(p) for p in snap.snapshot_paths] == [
        "snapshot-000.weights.h5",
        "snapshot-001.weights.h5",
    ]


def test_written_files_get_the_usual_permissions_not_private_ones(tmp_path):
    # Files are written to a private temporary file first; once renamed into
    # place they must carry the permissions `open` would give (0666 - umask).
    import stat

    from keras_lr._io import atomic_write

    previous = os.umask(0o022)
    try:
        target = tmp_path / "out.csv"
        atomic_write(target, lambda tmp: open(tmp, "w").write("x\n"), suffix=".csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() == "x\n"
