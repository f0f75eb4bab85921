"""`LearningRateMonitor`: the event files hold the rate each step really applied.

Every rate is measured through a real `fit` with `RateProbe` (step k moves
weight k by exactly -lr_k), the momentum from the same weights under SGD with
momentum, and compared with what TensorBoard's own reader gets back from the
files.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import BACKEND, MULTI_STEP_EXECUTION, RateProbe, assert_rates, prediction_loss

import keras_lr
from keras_lr import _io

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

SPE, EPOCHS = 5, 3
TOTAL = SPE * EPOCHS
HAS_MULTI_OPTIMIZER = hasattr(keras.optimizers, "MultiOptimizer")
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
CYCLES_MOMENTUM = "cycle_momentum" in inspect.signature(keras_lr.OneCycleLR).parameters


def event_files(folder):
    return sorted(str(p) for p in folder.iterdir() if "tfevents" in p.name)


def read_scalars(path):
    """tag -> (steps, values) of every scalar in one event file, in file order."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    found: dict = {}
    for event in event_file_loader.EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            if value.HasField("tensor"):
                number = float(tensor_util.make_ndarray(value.tensor))
            else:
                number = float(value.simple_value)
            steps, values = found.setdefault(value.tag, ([], []))
            steps.append(event.step)
            values.append(number)
    return {tag: (np.array(s), np.array(v)) for tag, (s, v) in found.items()}


def monitored_fit(tmp_path, callbacks, optimizer=None, n=TOTAL, **fit_kwargs):
    """A probe trained with `callbacks` and a monitor: (probe, monitor, scalars)."""
    probe = RateProbe(n, optimizer=optimizer, steps_per_execution=fit_kwargs.pop("spe", 1))
    monitor = keras_lr.LearningRateMonitor(tmp_path / "logs")
    fit_kwargs = {"epochs": EPOCHS, "steps_per_epoch": SPE, **fit_kwargs}
    probe.fit([*callbacks[:1], monitor, *callbacks[1:]], **fit_kwargs)
    (path,) = event_files(tmp_path / "logs" / "train")
    return probe, monitor, read_scalars(path)


def assert_logged(scalars, tag, applied):
    steps, values = scalars[tag]
    np.testing.assert_array_equal(steps, np.arange(1, len(applied) + 1))
    assert_rates(values, applied)


# -- the rate of every step, in the event file -----------------------------------------


@pytest.mark.parametrize("order", ["before", "after"])
def test_a_cyclic_schedule_is_logged_step_by_step(tmp_path, order):
    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    probe = RateProbe(TOTAL)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    probe.fit([clr, monitor] if order == "after" else [monitor, clr], EPOCHS, SPE)
    applied = probe.rates()
    assert np.ptp(applied) > 0.3  # the rate really cycles
    (path,) = event_files(tmp_path / "train")
    scalars = read_scalars(path)
    assert set(scalars) == {"learning_rate", "momentum"}
    assert_logged(scalars, "learning_rate", applied)
    assert_logged(scalars, "momentum", np.zeros(TOTAL))  # plain SGD: momentum 0
    assert_rates(monitor.history["lr"].to_numpy(), applied)
    assert monitor.event_file == path


def test_a_float_rate_is_logged_at_every_step(tmp_path):
    probe, _, scalars = monitored_fit(tmp_path, [], optimizer=keras.optimizers.SGD(0.125))
    assert_logged(scalars, "learning_rate", probe.rates())
    np.testing.assert_array_equal(scalars["learning_rate"][1], 0.125)


@pytest.mark.skipif(not MULTI_STEP_EXECUTION, reason="PyTorch runs one step per execution")
def test_steps_per_execution_still_logs_every_step(tmp_path):
    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    probe, _, scalars = monitored_fit(tmp_path, [clr], spe=4, epochs=2, steps_per_epoch=8, n=16)
    assert len(scalars["learning_rate"][0]) == 16
    assert_logged(scalars, "learning_rate", probe.rates())


def test_a_second_fit_continues_the_steps_in_a_new_file(tmp_path):
    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    probe = RateProbe(2 * TOTAL)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    probe.fit([clr, monitor], EPOCHS, SPE)
    probe.fit([clr, monitor], 2 * EPOCHS, SPE, initial_epoch=EPOCHS)
    first, second = (read_scalars(p)["learning_rate"] for p in event_files(tmp_path / "train"))
    np.testing.assert_array_equal(
        np.concatenate([first[0], second[0]]), np.arange(1, 2 * TOTAL + 1)
    )
    assert_rates(np.concatenate([first[1], second[1]]), probe.rates())
    assert list(monitor.history["epoch"]) == [e for e in range(2 * EPOCHS) for _ in range(SPE)]


def test_the_users_own_schedule_is_logged(tmp_path):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([4, 9], [0.4, 0.2, 0.1])
    probe, _, scalars = monitored_fit(tmp_path, [], optimizer=keras.optimizers.SGD(schedule))
    assert len(set(probe.rates().round(6))) == 3
    assert_logged(scalars, "learning_rate", probe.rates())


@pytest.mark.parametrize("own", [True, False], ids=["keras_schedule", "keras_lr_callback"])
def test_gradient_accumulation(tmp_path, own):
    """Keras evaluates the user's schedule at its batch counter, keras_lr's at the update."""
    n = 2
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3, 6, 9], [0.4, 0.3, 0.2, 0.1])
    optimizer = keras.optimizers.SGD(schedule if own else 0.5, gradient_accumulation_steps=n)
    callbacks = [] if own else [keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=2)]
    probe, monitor, scalars = monitored_fit(
        tmp_path, callbacks, optimizer=optimizer, n=2 * TOTAL, steps_per_epoch=2 * SPE
    )
    applied = probe.rates().reshape(-1, n).sum(axis=1)  # each batch of an update moved lr / N
    assert len(set(applied.round(6))) > 2
    assert_logged(scalars, "learning_rate", applied)
    assert_rates(monitor.history["lr"].to_numpy(), applied)


# -- callback order: the rate that trained, whoever changed it when -----------------------


@pytest.mark.parametrize("order", ["before", "after"])
def test_keras_learning_rate_scheduler_in_either_order(tmp_path, order):
    keras_scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.4 / (epoch + 1))
    callbacks = [keras_scheduler, None] if order == "before" else [None, keras_scheduler]
    probe = RateProbe(TOTAL)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    probe.fit([monitor if c is None else c for c in callbacks], EPOCHS, SPE)
    applied = probe.rates()
    assert_rates(applied, np.repeat([0.4, 0.2, 0.4 / 3], SPE))
    (path,) = event_files(tmp_path / "train")
    assert_logged(read_scalars(path), "learning_rate", applied)


@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("kind", ["keras_lr", "keras"])
def test_reduce_on_plateau_in_either_order(tmp_path, order, kind):
    # The probe's loss is 0 at every step: no improvement, a reduction every epoch.
    if kind == "keras_lr":
        reducer = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, mode="min")
        callbacks = [keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3), reducer]
    else:
        reducer = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
        callbacks = [reducer]
    probe = RateProbe(TOTAL)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    callbacks = [*callbacks, monitor] if order == "after" else [monitor, *callbacks]
    probe.fit(callbacks, EPOCHS, SPE)
    applied = probe.rates()
    if kind == "keras":
        assert_rates(applied, np.repeat([0.5, 0.5, 0.25], SPE))  # the first epoch improves
    else:
        assert len(reducer.reductions) == EPOCHS - 1
    (path,) = event_files(tmp_path / "train")
    assert_logged(read_scalars(path), "learning_rate", applied)
    assert_rates(monitor.history["lr"].to_numpy(), applied)


# -- momentum ------------------------------------------------------------------------------


def sgd_momentums(weights, rates):
    """m_1..m_{n-1} from the probe's weights under SGD with momentum.

    Weight k moves by -lr_k at step k and by the decaying velocity after:
    w_k / lr_k = s_k = 1 + m_{k+1} s_{k+1}, s_{n-1} = 1.
    """
    s = np.asarray(weights, np.float64) / np.asarray(rates, np.float64)
    return (s[:-1] - 1.0) / s[1:]


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_constant_momentum_is_logged(tmp_path, name):
    optimizer = (
        keras.optimizers.SGD(0.5, momentum=0.9) if name == "SGD" else keras.optimizers.Adam(0.5)
    )
    _, monitor, scalars = monitored_fit(tmp_path, [], optimizer=optimizer)
    assert_logged(scalars, "momentum", np.full(TOTAL, 0.9))
    np.testing.assert_allclose(monitor.history["momentum"], 0.9)


def test_log_momentum_false_logs_the_rate_alone(tmp_path):
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    monitor = keras_lr.LearningRateMonitor(tmp_path, log_momentum=False)
    probe.fit([monitor], EPOCHS, SPE)
    (path,) = event_files(tmp_path / "train")
    assert set(read_scalars(path)) == {"learning_rate"}
    assert "momentum" not in monitor.history.columns


@pytest.mark.skipif(not CYCLES_MOMENTUM, reason="momentum cycling has not landed")
def test_a_cycled_momentum_is_logged_step_by_step(tmp_path):
    one_cycle = keras_lr.OneCycleLR(max_lr=0.5, total_steps=TOTAL, cycle_momentum=True)
    optimizer = keras.optimizers.SGD(0.5, momentum=0.9)
    probe, _, scalars = monitored_fit(tmp_path, [one_cycle], optimizer=optimizer)
    rates = scalars["learning_rate"][1]
    applied = sgd_momentums(probe.rates(), rates)  # the momentum of steps 1..n-1
    assert np.ptp(applied) > 0.05  # it really cycles
    _, momentums = scalars["momentum"]
    np.testing.assert_allclose(momentums[1:], applied, rtol=1e-5)
    np.testing.assert_allclose(
        momentums, one_cycle.momentums(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS), rtol=1e-6
    )


# -- MultiOptimizer: one tag per sub-optimizer ------------------------------------------------


def two_probe_model(first, second):
    inputs = keras.Input((TOTAL,))
    heads = [
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name=name)(inputs)
        for name in ("a", "b")
    ]
    model = keras.Model(inputs, keras.layers.Add()(heads))
    optimizer = keras.optimizers.MultiOptimizer(
        lambda variable: first if variable.path.startswith("a/") else second
    )
    model.compile(optimizer=optimizer, loss=prediction_loss)
    return model


def applied_by(model, layer):
    kernel = model.get_layer(layer).kernel
    return -np.asarray(keras.ops.convert_to_numpy(kernel), np.float64)[:, 0]


@pytest.mark.skipif(not HAS_MULTI_OPTIMIZER, reason="MultiOptimizer: Keras 3.15+")
@pytest.mark.parametrize("with_schedule", [False, True])
def test_a_multi_optimizer_gets_one_tag_per_sub_optimizer(tmp_path, with_schedule):
    first = keras.optimizers.SGD(0.5 if with_schedule else 0.25, name="body")
    second = keras.optimizers.SGD(0.5, momentum=0.8, name="head")
    model = two_probe_model(first, second)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    callbacks = [monitor]
    if with_schedule:
        # Built: the selector's sub-optimizers are known before the first step.
        model.optimizer.build(model.trainable_variables)
        callbacks.insert(0, keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3))
    model.fit(
        RateProbe(TOTAL).data(), steps_per_epoch=SPE, epochs=EPOCHS, callbacks=callbacks, verbose=0
    )
    (path,) = event_files(tmp_path / "train")
    scalars = read_scalars(path)
    tags = {"learning_rate/body", "learning_rate/head", "momentum/body", "momentum/head"}
    assert set(scalars) == tags
    assert_logged(scalars, "learning_rate/body", applied_by(model, "a"))
    if not with_schedule:  # SGD with momentum moves a weight after its own step too
        assert_logged(scalars, "learning_rate/head", np.full(TOTAL, 0.5))
    assert_logged(scalars, "momentum/head", np.full(TOTAL, 0.8))
    frame = monitor.history
    columns = ["step", "epoch", "lr", "momentum", "lr/body", "lr/head"]
    assert list(frame.columns[:8]) == [*columns, "momentum/body", "momentum/head"]
    assert_rates(frame["lr/body"].to_numpy(), applied_by(model, "a"))
    np.testing.assert_array_equal(frame["lr"], frame["lr/body"])  # the first one's
    np.testing.assert_array_equal(frame["momentum"], 0.0)
    np.testing.assert_allclose(frame["momentum/head"], 0.8)


@pytest.mark.skipif(not HAS_MULTI_OPTIMIZER, reason="MultiOptimizer: Keras 3.15+")
def test_sub_optimizers_of_one_name_get_numbered_tags(tmp_path):
    first, second = keras.optimizers.SGD(0.25, name="sgd"), keras.optimizers.SGD(0.5, name="sgd")
    model = two_probe_model(first, second)
    monitor = keras_lr.LearningRateMonitor(tmp_path, log_momentum=False)
    model.fit(
        RateProbe(TOTAL).data(), steps_per_epoch=SPE, epochs=1, callbacks=[monitor], verbose=0
    )
    (path,) = event_files(tmp_path / "train")
    scalars = read_scalars(path)
    assert set(scalars) == {"learning_rate/sgd", "learning_rate/sgd_1"}
    np.testing.assert_array_equal(scalars["learning_rate/sgd"][1], 0.25)
    np.testing.assert_array_equal(scalars["learning_rate/sgd_1"][1], 0.5)
    assert list(monitor.history.columns[:5]) == ["step", "epoch", "lr", "lr/sgd", "lr/sgd_1"]


# -- history alone, TensorBoard beside it, what is written where -----------------------------


def test_without_log_dir_only_the_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    monitor = keras_lr.LearningRateMonitor()
    probe = RateProbe(TOTAL)
    probe.fit([clr, monitor], EPOCHS, SPE)
    frame = monitor.history
    assert list(frame.columns[:4]) == ["step", "epoch", "lr", "momentum"]
    np.testing.assert_array_equal(frame["step"], np.arange(TOTAL))
    np.testing.assert_array_equal(frame["epoch"], np.repeat(np.arange(EPOCHS), SPE))
    assert_rates(frame["lr"].to_numpy(), probe.rates())
    np.testing.assert_allclose(frame["lr"], clr.history["lr"], rtol=1e-12)
    assert frame["loss"].notna().sum() == EPOCHS  # the epoch's loss on its last step
    assert list(tmp_path.iterdir()) == [] and monitor.event_file is None


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="keras.callbacks.TensorBoard needs TensorFlow")
def test_beside_keras_tensorboard_in_one_run(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    board = keras.callbacks.TensorBoard(tmp_path, update_freq="batch", write_graph=False)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    probe = RateProbe(TOTAL)
    probe.fit([clr, board, monitor], EPOCHS, SPE)
    files = event_files(tmp_path / "train")
    assert len(files) == 2 and monitor.event_file in files
    # TensorBoard's reader of a run folder, as the web page reads it.
    run = event_accumulator.EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    run.Reload()
    tags = run.Tags()["tensors"]
    assert {"learning_rate", "momentum", "batch_loss", "epoch_learning_rate"} <= set(tags)
    ours = [e.step for e in run.Tensors("learning_rate")]
    assert ours == [e.step for e in run.Tensors("batch_loss")] == list(range(1, TOTAL + 1))


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "is_chief", lambda: False)
    monitor = keras_lr.LearningRateMonitor(tmp_path / "logs")
    probe = RateProbe(TOTAL)
    probe.fit([monitor], EPOCHS, SPE)
    assert not (tmp_path / "logs").exists()
    assert len(monitor.history) == TOTAL


class RaiseAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("simulated crash")


def test_the_epochs_before_a_crash_are_on_disk(tmp_path):
    probe = RateProbe(TOTAL)
    monitor = keras_lr.LearningRateMonitor(tmp_path)
    clr = keras_lr.CyclicLR(base_lr=0.05, max_lr=0.5, step_size=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        probe.fit([clr, monitor, RaiseAt(1, 2)], EPOCHS, SPE)
    (path,) = event_files(tmp_path / "train")
    assert_logged(read_scalars(path), "learning_rate", probe.rates()[:SPE])
    probe.fit([clr, monitor], EPOCHS, SPE)  # the next fit starts a file of its own
    assert len(event_files(tmp_path / "train")) == 2


def test_records_are_framed_as_tensorboards_record_writer():
    import io

    from tensorboard.summary.writer.record_writer import RecordWriter

    from keras_lr.callbacks import _events

    rng = np.random.default_rng(0)
    payloads = [rng.bytes(int(n)) for n in rng.integers(0, 300, 64)] + [b"", b"x" * 70]
    expected = io.BytesIO()
    writer = RecordWriter(expected)
    for payload in payloads:
        writer.write(payload)
    assert _events.frame(payloads) == expected.getvalue()


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"log_dir": 3}, TypeError, "Argument `log_dir` must be a path"),
        ({"log_dir": ""}, ValueError, "Argument `log_dir` must not be empty"),
        ({"log_dir": b"logs"}, TypeError, "Argument `log_dir` must be a path"),
        ({"log_momentum": "yes"}, TypeError, "Argument `log_momentum` must be a bool"),
        ({"log_momentum": 1}, TypeError, "Received: log_momentum=1"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        keras_lr.LearningRateMonitor(**kwargs)


def test_a_log_dir_without_tensorboard_says_how_to_install_it(monkeypatch, tmp_path):
    # As if it were not installed: every `import tensorboard...` fails.
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        keras_lr.LearningRateMonitor(tmp_path)
    assert keras_lr.LearningRateMonitor().log_dir is None  # the history needs no tensorboard


def test_config_round_trips(tmp_path):
    monitor = keras_lr.LearningRateMonitor(str(tmp_path), log_momentum=False)
    again = keras_lr.LearningRateMonitor.from_config(monitor.get_config())
    assert again.get_config() == {"log_dir": str(tmp_path), "log_momentum": False}


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "tensorflow", reason="the other backends run without TensorFlow")
def test_writes_without_tensorflow(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # as if TensorFlow were not installed
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from conftest import RateProbe
        import keras_lr
        probe = RateProbe(6)
        monitor = keras_lr.LearningRateMonitor({str(tmp_path)!r})
        probe.fit([keras_lr.CyclicLR(0.1, 0.5, step_size=2), monitor], 2, 3)
        from test_lr_monitor import read_scalars
        steps, values = read_scalars(monitor.event_file)["learning_rate"]
        assert list(steps) == [1, 2, 3, 4, 5, 6], steps
        assert abs(values - probe.rates()).max() < 1e-7, (values, probe.rates())
        print("ok", [m for m in sys.modules if m.startswith("tensorflow.")])
        """
    )
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ok []"
