"""keras_lr under distribution engines it does not own, measured in fresh processes.

- TensorFlow `MirroredStrategy` on 2 logical CPU devices, and JAX
  `keras.distribution.DataParallel` on 2 host devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`): the rate probe
  (conftest) trains with every replica fed the row of the step, so each
  weight still records the rate applied at its step.  Rates must be exact for
  step, epoch, fit-length and table schedules and for a plateau reduction;
  snapshots must hold the weights of their step; the range test must restore
  the model bit for bit.
- TensorFlow `MultiWorkerMirroredStrategy` with 2 worker processes on
  127.0.0.1: both workers apply the same exact rates, and the files keras_lr
  writes (snapshots, manifest, the range test's CSV) are written once, by the
  chief, complete and without temporary leftovers; the other worker writes
  nothing in the shared folder.  keras_lr writes no plot files (the plot
  functions return matplotlib Axes), so there are none to check.

Device counts and strategies are fixed when a process starts, hence one
subprocess per engine, each running all its checks.  Each test runs on the
backend of its engine and is skipped on the others.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND, RateProbe, assert_rates
from test_fit import CASES, SPE, TOTAL, assert_applied, table
from test_reliability import SCALE_PER_EPOCH, base_rates
from test_snapshots import huang_rates

pytestmark = [
    pytest.mark.slow,
    # Snapshot files loaded into a fresh probe for their weights: its optimizer
    # (a float rate) does not take the saved one (a schedule), as intended.
    pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEDULES = ["cyclic_triangular2", "sgdr_fractional_mult", "step_decay_milestones"]
SCHEDULES += ["one_cycle_2phase", "lambda_step", "warmup_cosine"]
N_SNAPSHOTS, SNAPSHOT_LR = 3, 0.3

# Runs in the child after the setup has made `scope` (the context models are
# built in), `REPLICAS`, `dataset(x, y)` (batches x[k], y[k] in order) and
# `copies(variable)` (on how many devices it lives); writes the measured rates
# to `result`.
CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import numpy as np, keras
import keras_lr
from conftest import RateProbe
from test_fit import CASES, EPOCHS, SPE, TOTAL
from test_reliability import plateau_callbacks

def probe():
    with scope():
        return RateProbe(TOTAL)

def rows():
    # Each replica's share of the batch is the row of the step.
    steps = np.arange(2 * TOTAL) % TOTAL
    x = np.eye(TOTAL, dtype="float32")[np.repeat(steps, REPLICAS)]
    return dataset(x.reshape(len(steps), REPLICAS, TOTAL), np.zeros((len(steps), REPLICAS, 1), "float32"))

def fit(probe, callbacks):
    probe.model.fit(rows(), steps_per_epoch=SPE, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    return probe.rates().tolist()

out = {{"replicas": REPLICAS, "copies": copies(probe().model.get_layer("probe").kernel)}}
for name in {schedules!r}:
    out[name] = fit(probe(), [CASES[name][0]()])
out["plateau"] = fit(probe(), plateau_callbacks("cyclic"))
snapshots = probe()
snap = keras_lr.SnapshotEnsemble({n}, max_lr={lr}, directory={directory!r})
out["snapshots"] = fit(snapshots, [snap])
model = snapshots.model
before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables + model.optimizer.variables]
x = np.tile(np.eye(TOTAL, dtype="float32"), (2, 1))
finder = keras_lr.find_lr(model, x, np.zeros((len(x), 1), "float32"), batch_size=2 * REPLICAS,
                          num_steps=12, min_lr=1e-3, max_lr=1.0, verbose=0)
after = [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables + model.optimizer.variables]
out["finder_steps"] = len(finder.history)
ladder_probe = probe()
ladder_finder = keras_lr.LRFinder(1e-3, 0.5, num_steps=TOTAL, restore=False,
                                  stop_on_divergence=False, verbose=0)
fit(ladder_probe, [ladder_finder])
kernel = ladder_probe.model.get_layer("probe").kernel
out["finder_rates"] = [(-np.asarray(keras.ops.convert_to_numpy(c))[:, 0]).tolist()
                       for c in getattr(kernel.value, "values", [kernel.value])]
out["finder_restored"] = len(before) == len(after) and all(
    a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(before, after))
json.dump(out, open({result!r}, "w"))
print("DISTRIBUTED_OK")
"""

MIRRORED_SETUP = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
scope, REPLICAS = strategy.scope, strategy.num_replicas_in_sync
# A tf.data pipeline: Keras reads a first batch to build the model, then
# starts it again (a Python generator would lose that batch).
def dataset(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).unbatch().batch(REPLICAS)
def copies(variable):
    return len(variable.value.values)
"""

DATA_PARALLEL_SETUP = """
import contextlib, jax, keras
devices = jax.devices("cpu")
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
scope, REPLICAS = contextlib.nullcontext, len(devices)
def dataset(x, y):
    return (batch for batch in zip(x, y))
def copies(variable):
    return len(variable.value.sharding.device_set)
"""


def run_child(setup, tmp_path, env):
    directory = str(tmp_path / "snapshots")
    result = tmp_path / "result.json"
    code = setup + CHILD.format(
        here=HERE,
        schedules=SCHEDULES,
        n=N_SNAPSHOTS,
        lr=SNAPSHOT_LR,
        directory=directory,
        result=str(result),
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "DISTRIBUTED_OK" in proc.stdout, proc.stderr[-4000:]
    with open(result) as f:
        return json.load(f), directory


def check_snapshot_files(directory, rates):
    """Exactly the M files and the manifest; each file holds its step's weights."""
    names = [f"snapshot-{k:03d}.weights.h5" for k in range(N_SNAPSHOTS)]
    assert sorted(os.listdir(directory)) == sorted(names + ["manifest.json"])
    with open(os.path.join(directory, "manifest.json")) as f:
        entries = json.load(f)["snapshots"]
    ends = [8, 16, 24]
    assert [e["step"] for e in entries] == ends
    for name, end in zip(names, ends):
        probe = RateProbe(TOTAL)
        probe.model.load_weights(os.path.join(directory, name))
        saved = probe.rates()
        assert_applied(saved[:end], np.asarray(rates)[:end])
        assert not np.any(saved[end:])


def check_single_process_results(out, directory):
    assert out["replicas"] == out["copies"] == 2  # the probe's weight lives on both devices
    for name in SCHEDULES:
        assert_applied(np.array(out[name]), table(CASES[name][1]))
    scales = np.repeat(SCALE_PER_EPOCH, SPE)
    assert_rates(np.array(out["plateau"]), base_rates("cyclic", TOTAL) * scales, atol=1.5e-7)
    expected = huang_rates(TOTAL, N_SNAPSHOTS, SNAPSHOT_LR)
    assert_applied(np.array(out["snapshots"]), expected)
    check_snapshot_files(directory, expected)
    assert out["finder_steps"] >= 3
    # The range test's rates reach every replica's copy of the weights.
    from keras_lr.finder._finder import ladder

    for copy in out["finder_rates"]:
        assert_applied(np.array(copy), ladder(1e-3, 0.5, TOTAL, "exponential"))
    assert out["finder_restored"] is True


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend")
def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    out, directory = run_child(MIRRORED_SETUP, tmp_path, {"KERAS_BACKEND": "tensorflow"})
    check_single_process_results(out, directory)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.DataParallel runs on JAX")
def test_jax_data_parallel_on_two_host_devices(tmp_path):
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out, directory = run_child(DATA_PARALLEL_SETUP, tmp_path, env)
    check_single_process_results(out, directory)


# -- MultiWorkerMirroredStrategy ------------------------------------------------------

WORKER = """
import json, os, sys, tempfile
sys.path.insert(0, {here!r})
import numpy as np, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()

# Keras 3 (3.15) cannot `fit` under MultiWorkerMirroredStrategy as shipped
# (tensorflow/tensorflow#72388): it reduces scalar logs with
# `strategy.reduce("MEAN", v, axis=0)`, and the first batch of an (x, y) dataset
# with `strategy.reduce` to build the model.  Both spots are bypassed here
# (logs taken per worker; the model built from a local batch as Keras would);
# the training step, gradients and all-reduce are Keras's and TensorFlow's own.
from keras.src.backend.tensorflow import trainer as tf_trainer
tf_trainer._collective_all_reduce_multi_worker = lambda strategy: False

import keras, keras_lr
from conftest import RateProbe
from test_fit import EPOCHS, SPE, TOTAL

shared = {shared!r}
written = []  # keras_lr's own file operations in the shared folder
def record(name, fn):
    def wrapper(*args, **kwargs):
        paths = [os.fspath(a) for a in list(args) + list(kwargs.values())
                 if isinstance(a, (str, os.PathLike))]
        written.extend(f"{{name}} {{p}}" for p in paths if os.path.abspath(p).startswith(shared))
        return fn(*args, **kwargs)
    return wrapper
for name in ("replace", "remove", "makedirs", "mkdir"):
    setattr(os, name, record(name, getattr(os, name)))
tempfile.mkstemp = record("mkstemp", tempfile.mkstemp)

with strategy.scope():
    probe = RateProbe(TOTAL)
eye = np.eye(TOTAL, dtype="float32")
probe.model._symbolic_build(data_batch=(eye[:1], np.zeros((1, 1), "float32")))
probe.model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

def per_worker(context):
    # Each worker's replica gets e_k at step k.
    x = np.tile(eye, (10, 1))
    return tf.data.Dataset.from_tensor_slices((x, np.zeros((len(x), 1), "float32"))).batch(1)

snap = keras_lr.SnapshotEnsemble({n}, max_lr={lr}, directory=os.path.join(shared, "snapshots"))
probe.model.fit(strategy.distribute_datasets_from_function(per_worker),
                steps_per_epoch=SPE, epochs=EPOCHS, callbacks=[snap], verbose=0)
x = np.tile(eye, (2, 1))
finder = keras_lr.find_lr(probe.model, x, np.zeros((len(x), 1), "float32"), batch_size=2,
                          num_steps=12, min_lr=1e-3, max_lr=1.0, verbose=0)
finder.to_csv(os.path.join(shared, "finder.csv"))
out = {{"chief": keras_lr._io.is_chief(), "rates": probe.rates().tolist(),
       "paths": [os.path.basename(p) for p in snap.snapshot_paths],
       "finder_steps": len(finder.history), "written": written}}
json.dump(out, open(sys.argv[1], "w"))
print("WORKER_OK")
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend")
def test_multi_worker_mirrored_two_workers_same_rates_files_by_the_chief_only(tmp_path):
    shared = str(tmp_path / "shared")
    os.makedirs(shared)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    code = WORKER.format(here=HERE, shared=shared, n=N_SNAPSHOTS, lr=SNAPSHOT_LR)
    procs = []
    try:
        for index in range(2):
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CONFIG=json.dumps(tf_config))
            result = str(tmp_path / f"worker{index}.json")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", code, result],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [proc.communicate(timeout=240) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0 and "WORKER_OK" in stdout, stderr[-4000:]
    chief, other = (json.load(open(tmp_path / f"worker{i}.json")) for i in range(2))

    assert (chief["chief"], other["chief"]) == (True, False)
    expected = huang_rates(TOTAL, N_SNAPSHOTS, SNAPSHOT_LR)
    assert_applied(np.array(chief["rates"]), expected)
    assert chief["rates"] == other["rates"]
    names = [f"snapshot-{k:03d}.weights.h5" for k in range(N_SNAPSHOTS)]
    assert chief["paths"] == other["paths"] == names
    # The non-chief wrote nothing there; the chief did (the spy works).
    assert other["written"] == []
    assert any(w.startswith("replace") for w in chief["written"])
    assert sorted(os.listdir(shared)) == ["finder.csv", "snapshots"]
    check_snapshot_files(os.path.join(shared, "snapshots"), expected)
    with open(os.path.join(shared, "finder.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == chief["finder_steps"] >= 3
