"""History tables, `logs["learning_rate"]` and plots, from real `fit` runs."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import csv  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import BACKEND, RateProbe, assert_rates  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import _history  # noqa: E402
from keras_lr import schedules as S  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

SPE, EPOCHS = 4, 5
TOTAL = SPE * EPOCHS
F32_ATOL = 1.5e-7  # float32 evaluation inside the step: an ulp or two of the peak


def smith_triangular(i, base=0.1, peak=0.5, step_size=3):
    cycle = math.floor(1 + i / (2 * step_size))
    x = abs(i / step_size - 2 * cycle + 1)
    return base + (peak - base) * max(0.0, 1 - x)


EXPECTED = np.array([smith_triangular(i) for i in range(TOTAL)])


def cyclic():
    return keras_lr.CyclicLR(base_lr=0.1, max_lr=0.5, step_size=3)


class Inject(keras.callbacks.Callback):
    """Writes a known metric per epoch into the logs (listed before the scheduler)."""

    def __init__(self, values, key="val_fake"):
        super().__init__()
        self.values = list(values)
        self.key = key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


METRIC = [0.9, 0.7, 0.8, 0.5, 0.6]


@pytest.fixture
def plt(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    def no_show(*args, **kwargs):
        raise AssertionError("plt.show() must never be called")

    monkeypatch.setattr(pyplot, "show", no_show)
    yield pyplot
    pyplot.close("all")


# -- .history ------------------------------------------------------------------


def test_history_has_one_row_per_step_with_the_applied_rates():
    probe = RateProbe(TOTAL)
    cb = cyclic()
    probe.fit([Inject(METRIC), cb], epochs=EPOCHS, steps_per_epoch=SPE)
    hist = cb.history
    assert len(hist) == TOTAL
    assert list(hist.columns[:3]) == ["step", "epoch", "lr"]
    assert {"loss", "val_fake"} <= set(hist.columns)
    assert "learning_rate" not in hist.columns
    np.testing.assert_array_equal(hist["step"], np.arange(TOTAL))
    np.testing.assert_array_equal(hist["epoch"], np.repeat(np.arange(EPOCHS), SPE))
    assert_rates(hist["lr"].to_numpy(), probe.rates(), atol=F32_ATOL)
    assert_rates(hist["lr"].to_numpy(), EXPECTED, atol=F32_ATOL)


def test_history_puts_epoch_logs_on_each_epoch_last_step():
    probe = RateProbe(TOTAL)
    cb = cyclic()
    probe.fit([Inject(METRIC), cb], epochs=EPOCHS, steps_per_epoch=SPE)
    hist = cb.history
    last = np.arange(SPE - 1, TOTAL, SPE)
    others = np.setdiff1d(np.arange(TOTAL), last)
    np.testing.assert_allclose(hist["val_fake"].to_numpy()[last], METRIC)
    assert hist["val_fake"].iloc[others].isna().all()
    # The probe's loss is its prediction before the step: exactly 0 each epoch.
    np.testing.assert_array_equal(hist["loss"].to_numpy()[last], 0.0)
    assert hist["loss"].iloc[others].isna().all()


@pytest.mark.parametrize("instance", ["same", "new"])
def test_history_across_two_fits(instance):
    probe = RateProbe(TOTAL)
    first = cyclic()
    probe.fit([Inject(METRIC), first], epochs=2, steps_per_epoch=SPE)
    second = first if instance == "same" else cyclic()
    probe.fit([Inject(METRIC), second], epochs=EPOCHS, steps_per_epoch=SPE, initial_epoch=2)
    hist = second.history
    start = 0 if instance == "same" else 2 * SPE
    np.testing.assert_array_equal(hist["step"], np.arange(start, TOTAL))
    np.testing.assert_array_equal(hist["epoch"], np.repeat(np.arange(start // SPE, EPOCHS), SPE))
    assert_rates(hist["lr"].to_numpy(), probe.rates()[start:], atol=F32_ATOL)
    assert_rates(hist["lr"].to_numpy(), EXPECTED[start:], atol=F32_ATOL)
    last = np.arange(SPE - 1, TOTAL - start, SPE)
    np.testing.assert_allclose(hist["val_fake"].to_numpy()[last], METRIC[start // SPE :])


def test_history_is_empty_before_fit():
    hist = cyclic().history
    assert len(hist) == 0
    assert list(hist.columns) == ["step", "epoch", "lr"]


# -- logs["learning_rate"] ----------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [cyclic, lambda: keras_lr.StepDecay(initial_lr=0.4, decay_factor=0.5, step_size=2)],
    ids=["cyclic", "step_decay"],
)
def test_learning_rate_in_keras_history_and_csv_logger(make, tmp_path):
    probe = RateProbe(TOTAL)
    path = tmp_path / "log.csv"
    history = probe.fit(
        [make(), keras.callbacks.CSVLogger(str(path))], epochs=EPOCHS, steps_per_epoch=SPE
    )
    last_step_rates = probe.rates()[SPE - 1 :: SPE]
    assert len(set(np.round(last_step_rates, 6))) > 1  # the rate really moves
    assert_rates(history.history["learning_rate"], last_step_rates, atol=F32_ATOL)

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert "learning_rate" in rows[0]
    logged = [float(r["learning_rate"]) for r in rows]
    assert_rates(logged, last_step_rates, rtol=1e-5, atol=F32_ATOL)


# -- plots -----------------------------------------------------------------------------


def test_plot_schedule_draws_the_preview(plt, tmp_path):
    cb = cyclic()
    ax = keras_lr.plot_schedule(cb, TOTAL)
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(TOTAL))
    np.testing.assert_allclose(line.get_ydata(), EXPECTED, rtol=1e-12)
    assert line.get_label() == "CyclicLR"
    out = tmp_path / "schedule.png"
    ax.figure.savefig(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_plot_schedule_on_given_axes_for_schedules_and_keras_schedules(plt):
    _, ax = plt.subplots()
    keras_sched = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.5)
    steps = np.array([0, 4, 8, 12])
    assert keras_lr.plot_schedule(S.Cosine(0.5, 0.0, 12), steps, ax=ax, label="cos") is ax
    assert keras_lr.plot_schedule(keras_sched, steps, ax=ax, log_scale=True) is ax
    cos_line, exp_line = ax.get_lines()
    assert cos_line.get_label() == "cos"
    np.testing.assert_allclose(cos_line.get_ydata(), [0.5, 0.375, 0.125, 0.0], atol=1e-12)
    np.testing.assert_allclose(exp_line.get_ydata(), [0.5, 0.25, 0.125, 0.0625], rtol=1e-6)
    assert ax.get_yscale() == "log"
    assert len(plt.get_fignums()) == 1  # no extra figure when `ax` is given


def test_plot_history_draws_the_recorded_rates_and_loss(plt, tmp_path):
    probe = RateProbe(TOTAL)
    cb = cyclic()
    probe.fit([Inject(METRIC), cb], epochs=EPOCHS, steps_per_epoch=SPE)
    ax = keras_lr.plot_history(cb, loss="val_fake")
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(TOTAL))
    assert_rates(np.asarray(line.get_ydata(), dtype=float), probe.rates(), atol=F32_ATOL)
    twins = [a for a in ax.figure.axes if a is not ax]
    assert len(twins) == 1
    (loss_line,) = twins[0].get_lines()
    np.testing.assert_array_equal(loss_line.get_xdata(), np.arange(SPE - 1, TOTAL, SPE))
    np.testing.assert_allclose(loss_line.get_ydata(), METRIC)
    out = tmp_path / "history.png"
    ax.figure.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 1000
    # The DataFrame itself is accepted too.
    ax2 = keras_lr.plot_history(cb.history, loss=None)
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), line.get_ydata())
    assert len(ax2.figure.axes) == 1


def test_plot_functions_reject_other_inputs(plt):
    with pytest.raises(TypeError, match="history"):
        keras_lr.plot_history({"lr": [0.1]})
    with pytest.raises(TypeError, match="callback_or_schedule"):
        keras_lr.plot_schedule("cosine", 10)


@pytest.mark.parametrize(
    "callback",
    [
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        keras_lr.ReduceLROnPlateau(),
    ],
    ids=["keras-LearningRateScheduler", "ReduceLROnPlateau"],
)
def test_plot_schedule_refuses_callbacks_without_a_rate_per_step(plt, callback):
    # Keras's LearningRateScheduler has a `.schedule` too, fn(epoch, lr): it
    # must not be taken for a keras_lr preview (nor called with an array).
    calls = []
    if isinstance(callback, keras.callbacks.LearningRateScheduler):
        fn = callback.schedule
        callback.schedule = lambda *args, **kwargs: calls.append(args) or fn(*args, **kwargs)
    with pytest.raises(
        TypeError,
        match=r"`callback_or_schedule` must be a keras_lr scheduling callback.*"
        r"LearningRateSchedule.*function of the step\. Received: callback_or_schedule=<",
    ):
        keras_lr.plot_schedule(callback, 10)
    assert calls == []
    assert plt.get_fignums() == []  # refused before a figure is made


def run_python(code):
    env = dict(os.environ, KERAS_BACKEND=BACKEND, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_import_keras_lr_does_not_import_matplotlib():
    # Keras 3 itself imports matplotlib.pyplot when present, so the check is
    # on keras_lr's own imports: every `import` executed by a keras_lr module
    # while `import keras_lr` runs (cached modules included) is recorded.
    out = run_python(
        """
        import builtins, sys
        import keras
        seen = []
        real_import = builtins.__import__
        def spy(name, globals=None, locals=None, fromlist=(), level=0):
            importer = (globals or {}).get("__name__", "")
            if importer.startswith("keras_lr"):
                seen.append(name)
            return real_import(name, globals, locals, fromlist, level)
        builtins.__import__ = spy
        import keras_lr
        builtins.__import__ = real_import
        assert "keras_lr.plots" in sys.modules
        assert "keras" in seen or "numpy" in seen, seen  # the spy works
        print(sorted(n for n in seen if n.split(".")[0] == "matplotlib"))
        """
    )
    assert out == "[]"


@pytest.mark.slow
def test_keras_lr_works_without_matplotlib_installed():
    out = run_python(
        """
        import sys
        sys.modules["matplotlib"] = None  # any `import matplotlib...` now fails
        import keras_lr
        cb = keras_lr.CyclicLR(base_lr=1.0, max_lr=5.0, step_size=4)
        assert cb.rates(9).tolist() == [1, 2, 3, 4, 5, 4, 3, 2, 1]
        try:
            keras_lr.plot_schedule(cb, 9)
        except ImportError:
            print("lazy")
        else:
            print("plotted without matplotlib?")
        """
    )
    assert out == "lazy"


# -- a long history ----------------------------------------------------------------


@pytest.mark.parametrize("steps_per_epoch", [1000, 100])
def test_million_step_history_builds_fast(steps_per_epoch):
    schedule = S.Scaled(S.Cyclic(0.001, 0.006, 2000), 1.0)
    epochs = 1_000_000 // steps_per_epoch
    records = [
        _history.EpochRecord(
            e,
            e * steps_per_epoch,
            (e + 1) * steps_per_epoch,
            schedule,
            {"loss": 1.0 / (e + 1), "learning_rate": 0.0},
        )
        for e in range(epochs)
    ]
    start = time.perf_counter()
    frame = _history.to_dataframe(records)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0
    assert len(frame) == 1_000_000
    assert list(frame.columns) == ["step", "epoch", "lr", "loss"]
    np.testing.assert_array_equal(frame["step"].to_numpy(), np.arange(1_000_000))
    assert frame["epoch"].iloc[-1] == epochs - 1
    probe = np.array([0, 1999, 2000, 4000, 123_457, 999_999])
    np.testing.assert_allclose(frame["lr"].to_numpy()[probe], schedule.numpy(probe), rtol=1e-12)
    loss = frame["loss"].to_numpy()
    assert np.count_nonzero(~np.isnan(loss)) == epochs
    last = np.arange(steps_per_epoch - 1, 1_000_000, steps_per_epoch)
    np.testing.assert_allclose(loss[last], 1.0 / np.arange(1, epochs + 1))


# -- momentum in the plots ----------------------------------------------------------

MOMENTUM_AXES = "keras_lr momentum"


def momentum_axes(ax):
    return [a for a in ax.figure.axes if a.get_label() == MOMENTUM_AXES]


def cycles_momentum():
    import inspect

    return "cycle_momentum" in inspect.signature(keras_lr.OneCycleLR).parameters


needs_momentum_cycling = pytest.mark.skipif(
    not cycles_momentum(), reason="momentum cycling has not landed"
)


@needs_momentum_cycling
def test_plot_history_draws_a_cycled_momentum_on_its_own_axis(plt):
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    one_cycle = keras_lr.OneCycleLR(max_lr=0.5, cycle_momentum=True)
    monitor = keras_lr.LearningRateMonitor()
    probe.fit([one_cycle, monitor], epochs=EPOCHS, steps_per_epoch=SPE)
    for history in (one_cycle, monitor):
        ax = keras_lr.plot_history(history)
        (twin,) = momentum_axes(ax)
        (line,) = twin.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), np.arange(TOTAL))
        np.testing.assert_allclose(line.get_ydata(), history.history["momentum"], rtol=1e-12)
        assert np.ptp(line.get_ydata()) > 0.05
        # loss on one right-hand axis, momentum on another, set off from it
        assert len(ax.figure.axes) == 3
        assert twin.spines["right"].get_position() == ("axes", 1.15)
        assert ax.get_zorder() > twin.get_zorder()
    assert not momentum_axes(keras_lr.plot_history(monitor, momentum=False))


def test_plot_history_leaves_a_constant_momentum_out_unless_asked(plt):
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    monitor = keras_lr.LearningRateMonitor()
    probe.fit([cyclic(), monitor], epochs=EPOCHS, steps_per_epoch=SPE)
    assert not momentum_axes(keras_lr.plot_history(monitor))
    ax = keras_lr.plot_history(monitor, loss=None, momentum=True)
    (twin,) = momentum_axes(ax)
    np.testing.assert_allclose(twin.get_lines()[0].get_ydata(), 0.9)
    assert twin.spines["right"].get_position() != ("axes", 1.15)  # no loss axis to clear
    without = monitor.history.drop(columns=["momentum"])
    with pytest.raises(ValueError, match="Argument `momentum` is True, but the history has no"):
        keras_lr.plot_history(without, momentum=True)
    with pytest.raises(TypeError, match="Received: momentum='yes'"):
        keras_lr.plot_history(monitor, momentum="yes")


def test_plot_history_draws_one_curve_per_sub_optimizer(plt):
    steps = np.arange(6)
    frame = pd_frame(
        step=steps,
        epoch=steps // 3,
        lr=np.full(6, 0.1),
        momentum=np.full(6, 0.9),
        **{
            "lr/body": np.full(6, 0.1),
            "lr/head": np.linspace(0.2, 0.7, 6),
            "momentum/body": np.full(6, 0.9),
            "momentum/head": np.linspace(0.95, 0.85, 6),
        },
    )
    ax = keras_lr.plot_history(frame, loss=None)
    assert [line.get_label() for line in ax.get_lines()] == ["body", "head"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), frame["lr/head"])
    (twin,) = momentum_axes(ax)  # drawn: the head's momentum changes
    assert [line.get_label() for line in twin.get_lines()] == ["momentum body", "momentum head"]


def pd_frame(**columns):
    import pandas as pd

    return pd.DataFrame(columns)


@needs_momentum_cycling
def test_plot_schedule_previews_the_momentum_of_a_cycling_callback(plt):
    cycling = keras_lr.OneCycleLR(max_lr=0.5, total_steps=TOTAL, cycle_momentum=True)
    ax = keras_lr.plot_schedule(cycling, TOTAL, label="one cycle")
    (twin,) = momentum_axes(ax)
    (line,) = twin.get_lines()
    np.testing.assert_allclose(line.get_ydata(), cycling.momentums(TOTAL), rtol=1e-12)
    assert line.get_label() == "one cycle momentum"
    assert line.get_color() == ax.get_lines()[0].get_color() and line.get_linestyle() == ":"
    # A second cycling callback on the same Axes shares its momentum axis.
    other = keras_lr.CyclicLR(0.05, 0.5, step_size=3, cycle_momentum=True)
    keras_lr.plot_schedule(other, TOTAL, ax=ax)
    assert len(momentum_axes(ax)) == 1 and len(twin.get_lines()) == 2
    np.testing.assert_allclose(twin.get_lines()[1].get_ydata(), other.momentums(TOTAL))
    # Not cycling: no momentum, and asking for it says why.
    still = keras_lr.CyclicLR(0.05, 0.5, step_size=3)
    assert not momentum_axes(keras_lr.plot_schedule(still, TOTAL))
    with pytest.raises(ValueError, match="does not cycle the momentum"):
        keras_lr.plot_schedule(still, TOTAL, momentum=True)
    assert not momentum_axes(keras_lr.plot_schedule(cycling, TOTAL, momentum=False))


def test_plot_schedule_momentum_true_needs_a_callback(plt):
    with pytest.raises(ValueError, match="Argument `momentum` is True, but only a keras_lr"):
        keras_lr.plot_schedule(S.Cosine(0.5, 0.0, 12), 12, momentum=True)
    with pytest.raises(TypeError, match="Received: momentum=1"):
        keras_lr.plot_schedule(cyclic(), 12, momentum=1)
    assert plt.get_fignums() == []  # refused before a figure is made
