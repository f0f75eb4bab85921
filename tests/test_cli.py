"""The `keras-lr` command line: every subcommand, the files it writes, its errors.

Most tests call `keras_lr._cli.main` in-process (it returns the exit status);
a few run the installed `keras-lr` console script and `python -m keras_lr`
as a user does.  The demo runs once per module, with 2 epochs, and several
tests read what it wrote.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import keras_lr
from keras_lr import _cli
from keras_lr._cli import SCHEDULES, main
from keras_lr._finder import ladder

PNG = b"\x89PNG\r\n\x1a\n"
BACKEND = keras.backend.backend()


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `keras-lr argv...` run in-process."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, out, err, expected):
    """Exit 2, nothing on stdout, one `keras-lr: error:` line, no traceback."""
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-lr: error: "), err
    assert expected in lines[0], err
    assert "Traceback" not in err


def parse_csv(text: str) -> np.ndarray:
    lines = text.strip().splitlines()
    assert lines[0] == "step,lr"
    rows = np.array([[float(c) for c in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(rows[:, 0], np.arange(len(rows)))
    return rows[:, 1]


def assert_png(path: Path):
    data = path.read_bytes()
    assert data.startswith(PNG), path
    assert len(data) > 2000, path


def test_docstring_example():
    result = doctest.testmod(_cli)
    assert result.attempted > 0
    assert result.failed == 0


# -- help and version ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], ["demo", "find", "schedule", "--backend"]),
        (["demo"], ["--out", "--epochs", "--backend", "keras-lr[examples]"]),
        (["find"], ["MODEL.keras", "DATA.npz", "--batch-size", "--min-lr", "--num-steps"]),
        (["schedule"], ["NAME", "--steps", "--param", "--out", "KEY=VALUE"]),
    ],
)
def test_help(capsys, argv, words):
    code, out, err = run_cli(capsys, *argv, "--help")
    assert code == 0
    assert out.startswith("usage: keras-lr")
    for word in words:
        assert word in out


def test_schedule_help_lists_every_schedule_with_its_constructor_defaults(capsys):
    code, out, _ = run_cli(capsys, "schedule", "--help")
    assert code == 0
    text = " ".join(out.split())  # help lines are wrapped
    for name, cls in SCHEDULES.items():
        assert f" {name} " in text
        params = _cli.schedule_parameters(cls)
        assert params, name
        for pname, param in params.items():
            if param.default is param.empty:
                assert f"{pname} (required)" in text, (name, pname)
            else:
                assert f"{pname}={param.default!r}" in text, (name, pname)
    # Warm-up arguments come from ScheduleCallback through **kwargs.
    assert {"warmup_steps", "warmup_start_lr"} <= set(_cli.schedule_parameters(keras_lr.CyclicLR))
    assert "directory" not in _cli.schedule_parameters(keras_lr.SnapshotEnsemble)


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == (
        f"keras-lr {keras_lr.__version__} (Keras {keras.__version__}, backend {BACKEND})"
    )
    # Asking for the backend already loaded stays in this process.
    assert run_cli(capsys, "--backend", BACKEND, "--version")[1] == out


def test_backend_switch_that_does_not_take_effect_fails(capsys, monkeypatch):
    other = next(b for b in _cli.BACKENDS if b != BACKEND)
    monkeypatch.setenv(_cli._SWITCHED, "1")
    code, out, err = run_cli(capsys, "--backend", other, "--version")
    assert code == 1
    assert f"could not switch to the {other} backend" in err
    assert out == ""


# -- schedule -------------------------------------------------------------------------

# Arguments for every schedule name, and what they become in Python.
SAMPLES = {
    "constant": ["learning_rate=0.1"],
    "linear": ["start_lr=0", "end_lr=1", "steps=8"],
    "step": ["initial_lr=1", "milestones=2,3", "decay_factor=0.1"],
    "exponential": ["initial_lr=1", "gamma=0.5", "warmup_steps=2"],
    "polynomial": ["initial_lr=1", "max_steps=15", "power=2"],
    "cosine": ["max_lr=1", "min_lr=0.1"],
    "cyclic": ["base_lr=0.1", "max_lr=1", "step_size=3", "mode=triangular2"],
    "sgdr": ["min_lr=0", "max_lr=1", "cycle_length=1", "mult_factor=2", "lr_decay=0.5"],
    "onecycle": ["max_lr=1", "three_phase=true", "pct_start=0.25"],
    "snapshot": ["n_snapshots=3", "max_lr=0.5"],
    "fge": ["lr_high=1", "lr_low=0.1", "cycle_steps=4"],
}
PYTHON_ARGS = {
    "constant": dict(learning_rate=0.1),
    "linear": dict(start_lr=0.0, end_lr=1.0, steps=8),
    "step": dict(initial_lr=1.0, milestones=[2, 3], decay_factor=0.1),
    "exponential": dict(initial_lr=1.0, gamma=0.5, warmup_steps=2),
    "polynomial": dict(initial_lr=1.0, max_steps=15, power=2.0),
    "cosine": dict(max_lr=1.0, min_lr=0.1),
    "cyclic": dict(base_lr=0.1, max_lr=1.0, step_size=3, mode="triangular2"),
    "sgdr": dict(min_lr=0.0, max_lr=1.0, cycle_length=1, mult_factor=2.0, lr_decay=0.5),
    "onecycle": dict(max_lr=1.0, three_phase=True, pct_start=0.25),
    "snapshot": dict(n_snapshots=3, max_lr=0.5),
    "fge": dict(lr_high=1.0, lr_low=0.1, cycle_steps=4),
}
STEPS, SPE = 20, 4


def test_every_schedule_name_has_a_sample():
    assert set(SAMPLES) == set(SCHEDULES) == set(PYTHON_ARGS)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_prints_the_rates_of_the_python_object(capsys, name):
    argv = ["schedule", name, "--steps", STEPS, "--steps-per-epoch", SPE]
    for pair in SAMPLES[name]:
        argv += ["--param", pair]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    rates = parse_csv(out)

    obj = SCHEDULES[name](**PYTHON_ARGS[name])
    if isinstance(obj, keras_lr.schedules.Schedule):
        expected = obj.numpy(np.arange(STEPS))
    else:
        expected = obj.schedule(STEPS, steps_per_epoch=SPE, epochs=math.ceil(STEPS / SPE))
    np.testing.assert_array_equal(rates, expected)  # repr round-trips floats exactly
    assert len(np.unique(rates)) > 1 or name == "constant"


def test_schedule_writes_csv_and_plot(capsys, tmp_path):
    argv = ["schedule", "onecycle", "--steps", 30, "-p", "max_lr=0.1"]
    code, printed, _ = run_cli(capsys, *argv)
    assert code == 0
    code, out, _ = run_cli(capsys, *argv, "--out", tmp_path / "rates.csv")
    assert code == 0
    assert out.strip() == f"wrote {tmp_path / 'rates.csv'}"
    assert (tmp_path / "rates.csv").read_text() == printed

    code, out, _ = run_cli(capsys, *argv, "--log-scale", "--out", tmp_path / "rates.png")
    assert code == 0
    assert_png(tmp_path / "rates.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rates.csv", "rates.png"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], "a command is required"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["--backend", "theano", "--version"], "invalid choice: 'theano'"),
        (["schedule", "nope", "--steps", 5], "unknown schedule 'nope'"),
        (["schedule", "cyclic"], "the following arguments are required: --steps"),
        (["schedule", "cyclic", "--steps", 0], "argument --steps: must be a positive integer"),
        (["schedule", "cyclic", "--steps", 5, "-p", "stepsize=3"], "no parameter 'stepsize'"),
        (["schedule", "cyclic", "--steps", 5, "-p", "step_size"], "KEY=VALUE"),
        (
            ["schedule", "cyclic", "--steps", 5, "-p", "step_size=0"],
            "Argument `step_size` must be a positive integer. Received: step_size=0",
        ),
        (
            ["schedule", "cyclic", "--steps", 5, "-p", "step_size=2.5"],
            "Argument `step_size` must be an integer. Received: step_size='2.5'",
        ),
        (
            ["schedule", "cyclic", "--steps", 5, "-p", "max_lr=fast"],
            "Argument `max_lr` must be a number. Received: max_lr='fast'",
        ),
        (["schedule", "cyclic", "--steps", 5, "-p", "mode=zigzag"], "Argument `mode` must be"),
        (["schedule", "onecycle", "--steps", 5, "-p", "three_phase=maybe"], "true or false"),
        (["schedule", "sgdr", "--steps", 5], "sgdr needs min_lr, max_lr"),
        (
            ["schedule", "snapshot", "--steps", 3, "-p", "n_snapshots=5"],
            "Argument `n_snapshots` must not exceed the training steps",
        ),
        (["demo", "--epochs", 0], "argument --epochs: must be a positive integer, got '0'"),
        (["demo", "--seed", -1], "argument --seed: must be an integer >= 0, got '-1'"),
        (["demo", "--batch-size", 5000], "--batch-size 5000 exceeds the 1347 training images"),
        (["demo", "--epochs", 1, "--snapshots", 50], "--snapshots 50 exceeds the 43 training"),
        (["schedule", "cyclic", "--steps", 5, "--out", "rates.txt"], "--out must end in .csv or"),
        (["find", "m.keras"], "the following arguments are required: DATA.npz"),
        (["find", "m.keras", "d.npz", "--min-lr", "-1"], "argument --min-lr"),
        (["find", "m.keras", "d.npz", "--min-lr", 1, "--max-lr", 0.5], "--min-lr must be smaller"),
    ],
)
def test_usage_errors(capsys, argv, expected):
    assert_user_error(*run_cli(capsys, *argv), expected)


def test_plot_into_a_missing_folder_is_a_usage_error(capsys, tmp_path):
    out = tmp_path / "missing" / "plot.png"
    result = run_cli(capsys, "schedule", "cyclic", "--steps", 5, "--out", out)
    assert_user_error(*result, "does not exist")
    assert not out.parent.exists()


# -- find -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny saved classifier (compiled and not), and .npz files good and bad."""
    root = tmp_path_factory.mktemp("find")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.save(root / "uncompiled.keras")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    model.save(root / "model.keras")
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.save(root / "no_loss.keras")
    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    y = ((x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)).astype("int32")
    np.savez(root / "data.npz", x=x, y=y)
    np.savez(root / "no_x.npz", features=x, y=y)
    np.savez(root / "short_y.npz", x=x, y=y[:100])
    np.savez(root / "wrong_width.npz", x=x[:, :3], y=y)
    np.savez(root / "objects.npz", x=np.array([{}] * 4, dtype=object), y=y[:4])
    np.savez(root / "empty.npz", x=x[:0], y=y[:0])
    np.save(root / "single.npy", x)
    (root / "text.npz").write_text("not an archive")
    return root


@pytest.mark.slow
def test_find_prints_suggestions_and_writes_the_plot_and_csv(capsys, files, tmp_path):
    before = (files / "model.keras").read_bytes()
    out_dir = tmp_path / "found"
    code, out, err = run_cli(
        capsys,
        "find",
        files / "model.keras",
        files / "data.npz",
        *("--batch-size", 16, "--num-steps", 40, "--min-lr", 1e-4, "--max-lr", 10),
        *("--out", out_dir),
    )
    assert code == 0, err
    suggestions = dict(re.findall(r"^  (valley|steepest|minimum) +(\S+)", out, re.M))
    assert set(suggestions) == {"valley", "steepest", "minimum"}
    valley = float(suggestions["valley"])
    assert 1e-4 <= valley <= 10
    assert re.search(r"^  valley +\S+  \(default\)$", out, re.M)
    assert re.search(r"^cyclic bounds: (base_lr=\S+ max_lr=\S+|n/a)", out, re.M)

    history = pd.read_csv(out_dir / "lr_finder.csv")
    assert list(history.columns) == ["step", "lr", "loss", "smoothed_loss"]
    assert 2 <= len(history) <= 40
    np.testing.assert_allclose(history["lr"], ladder(1e-4, 10.0, 40, "exponential")[: len(history)])
    assert np.isfinite(history["loss"].iloc[0])
    assert_png(out_dir / "lr_finder.png")
    assert out.strip().splitlines()[-2:] == [
        f"wrote {out_dir / 'lr_finder.csv'}",
        f"wrote {out_dir / 'lr_finder.png'}",
    ]
    assert (files / "model.keras").read_bytes() == before


@pytest.mark.parametrize(
    "model, data, expected",
    [
        ("missing.keras", "data.npz", "model file not found"),
        ("model.keras", "missing.npz", "data file not found"),
        ("uncompiled.keras", "data.npz", "is not compiled (it has no optimizer)"),
        ("no_loss.keras", "data.npz", "is compiled without a loss"),
        ("data.npz", "data.npz", "cannot load model"),
        ("model.keras", "no_x.npz", "has no array 'x' (it holds ['features', 'y'])"),
        ("model.keras", "short_y.npz", "differ in length: 128 samples against 100"),
        ("model.keras", "objects.npz", "cannot read the arrays"),
        ("model.keras", "empty.npz", "holds no samples"),
        ("model.keras", "single.npy", "holds a single array"),
        ("model.keras", "text.npz", "cannot read"),
        ("model.keras", "wrong_width.npz", "expected axis -1 of input shape to have value 4"),
    ],
)
def test_find_reports_bad_input_in_one_line(capsys, files, tmp_path, model, data, expected):
    argv = ["find", files / model, files / data, "--num-steps", 5, "--out", tmp_path / "out"]
    assert_user_error(*run_cli(capsys, *argv), expected)


def test_find_writes_nothing_on_bad_input_and_refuses_a_file_as_folder(capsys, files, tmp_path):
    argv = ["find", files / "model.keras", files / "short_y.npz", "--out", tmp_path / "new"]
    assert_user_error(*run_cli(capsys, *argv), "differ in length")
    assert not (tmp_path / "new").exists()

    (tmp_path / "taken").write_text("")
    argv = ["find", files / "model.keras", files / "data.npz", "--num-steps", 5]
    result = run_cli(capsys, *argv, "--out", tmp_path / "taken")
    assert result[0] == 2
    assert result[2].strip().splitlines()[-1].endswith("taken exists and is not a folder")


def test_find_refuses_a_batch_larger_than_the_data(capsys, files, tmp_path):
    argv = ["find", files / "model.keras", files / "data.npz", "--batch-size", 500]
    result = run_cli(capsys, *argv, "--out", tmp_path)
    assert_user_error(*result, "fewer than one batch of batch_size=500")


# -- demo ---------------------------------------------------------------------------------

DEMO_EPOCHS = 2
RUN_KEYS = ["constant", "step_decay", "cyclic", "sgdr", "one_cycle", "snapshot"]
PNGS = ["lr_finder.png", "schedules.png", "training.png"] + [f"lr_{k}.png" for k in RUN_KEYS]
LABELS = [
    "constant rate",
    "StepDecay",
    "CyclicLR",
    "SGDRScheduler",
    "OneCycleLR",
    "SnapshotEnsemble (last snapshot)",
    "snapshot ensemble (M=2)",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(exit status, stdout, folder) of one small demo run."""
    out_dir = tmp_path_factory.mktemp("demo") / "report"  # not created: the demo must
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            ["demo", "--epochs", str(DEMO_EPOCHS), "--snapshots", "2", "--out", str(out_dir)]
        )
    assert code == 0, stderr.getvalue()
    return code, stdout.getvalue(), out_dir


def results_table(markdown: str) -> pd.DataFrame:
    """The results table of report.md, parsed back."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "")) == {"-"}
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return pd.DataFrame(rows, columns=header)


@pytest.mark.slow
def test_demo_writes_every_file(demo):
    _, _, out_dir = demo
    for name in PNGS:
        assert_png(out_dir / name)
    names = {p.name for p in out_dir.iterdir()}
    expected = set(PNGS) | {f"history_{k}.csv" for k in RUN_KEYS}
    expected |= {"lr_finder.csv", "results.csv", "report.md", "report.html", "snapshots"}
    assert names == expected
    snapshots = sorted(p.name for p in (out_dir / "snapshots").iterdir())
    assert snapshots == ["manifest.json", "snapshot-000.weights.h5", "snapshot-001.weights.h5"]


@pytest.mark.slow
def test_demo_prints_progress_and_ends_with_the_report_path(demo):
    _, stdout, out_dir = demo
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines[-1] == f"report: {out_dir / 'report.md'}"
    starts = re.findall(r"^\[(\d)/8\] ", stdout, re.M)
    assert starts == [str(i) for i in range(1, 9)]
    # One epoch bar per training run, ending at the last epoch.
    assert len(re.findall(rf"{DEMO_EPOCHS}/{DEMO_EPOCHS} .*test_accuracy", stdout)) == 6


@pytest.mark.slow
def test_demo_report_table_matches_the_training_histories(demo):
    _, _, out_dir = demo
    table = results_table((out_dir / "report.md").read_text())
    assert list(table["run"]) == LABELS
    accuracy = table["final test accuracy"].astype(float)
    assert ((accuracy >= 0) & (accuracy <= 1)).all()
    assert (accuracy > 0.3).all()  # far above chance (0.1) after two epochs
    assert (table["final test loss"].astype(float) > 0).all()
    assert (table["wall time (s)"].astype(float) > 0).all()
    for text in table["epochs to 95%"]:
        assert text == "not reached" or 1 <= int(text) <= DEMO_EPOCHS

    spe = math.ceil(1347 / 32)  # 75% of the 1797 digits, batch size 32
    for key, (_, row) in zip(RUN_KEYS, table.iterrows()):
        history = pd.read_csv(out_dir / f"history_{key}.csv")
        assert len(history) == DEMO_EPOCHS * spe
        per_epoch = history.dropna(subset=["val_accuracy"])
        assert list(per_epoch["epoch"]) == list(range(DEMO_EPOCHS))
        assert f"{per_epoch['val_accuracy'].iloc[-1]:.4f}" == row["final test accuracy"]
        reached = per_epoch["epoch"][per_epoch["val_accuracy"] >= 0.95]
        expected = str(int(reached.iloc[0]) + 1) if len(reached) else "not reached"
        assert row["epochs to 95%"] == expected

    results = pd.read_csv(out_dir / "results.csv")
    assert list(results["run"]) == RUN_KEYS + ["snapshot_ensemble"]
    assert [f"{a:.4f}" for a in results["test_accuracy"]] == list(table["final test accuracy"])


@pytest.mark.slow
def test_demo_html_report_is_self_contained(demo):
    _, _, out_dir = demo
    page = (out_dir / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(PNGS)
    assert all(s.startswith("data:image/png;base64,iVBORw0KGgo") for s in sources)
    assert "href=" not in page
    assert page.count("<tr>") == len(LABELS) + 1
    for label in LABELS:
        assert f"<td>{label}</td>" in page


def test_demo_without_scikit_learn_says_what_to_install(capsys, monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m.split(".")[0] == "sklearn"] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # imports fail as if it were missing
    code, out, err = run_cli(capsys, "demo", "--out", tmp_path / "demo")
    assert code == 1
    assert err.strip() == (
        'keras-lr: error: the demo needs scikit-learn: pip install "keras-lr[examples]"'
    )
    assert not (tmp_path / "demo").exists()


# -- as installed ---------------------------------------------------------------------------


def _script() -> str:
    found = Path(sys.executable).with_name("keras-lr")
    path = str(found) if found.exists() else shutil.which("keras-lr")
    assert path, "the keras-lr console script is not installed: pip install -e ."
    return path


def _run(argv, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_console_script_previews_a_schedule(tmp_path):
    result = _run([_script(), "schedule", "onecycle", "--steps", 12, "-p", "max_lr=1"], tmp_path)
    assert result.returncode == 0, result.stderr
    expected = keras_lr.OneCycleLR(1.0).schedule(12, steps_per_epoch=1, epochs=12)
    np.testing.assert_array_equal(parse_csv(result.stdout), expected)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_python_m_reports_a_user_error_without_traceback(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.zeros(4))
    result = _run([sys.executable, "-m", "keras_lr", "find", "nope.keras", "d.npz"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == "keras-lr: error: model file not found: nope.keras"
    )


@pytest.mark.slow
def test_backend_option_runs_the_command_on_that_backend(tmp_path):
    # The fastest to import first.
    others = [b for b in ("torch", "jax", "tensorflow") if b != BACKEND]
    others = [b for b in others if importlib.util.find_spec(b)]
    if not others:
        pytest.skip("no second backend installed")
    result = _run([_script(), "--backend", others[0], "--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"backend {others[0]})")
