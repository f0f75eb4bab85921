"""The `keras-lr` command line: every subcommand, the files it writes, its errors.

Most tests call `keras_lr.cli.main` in-process (it returns the exit status);
a few run the installed `keras-lr` console script and `python -m keras_lr`
as a user does.  The demo runs once per module, with 2 epochs, and several
tests read what it wrote.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import doctest
import importlib.util
import io
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import keras_lr
from keras_lr.cli import _commands, _files, _main, _parsing, _report, _seeds, _specs, main
from keras_lr.cli._errors import CLIError
from keras_lr.cli._specs import SCHEDULES
from keras_lr.finder._finder import ladder

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


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if the command trains (a range test or any `fit`)."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("training started")

    monkeypatch.setattr(keras_lr, "find_lr", refuse)
    monkeypatch.setattr(keras.Model, "fit", refuse)
    yield calls
    assert calls == [], "the command trained before refusing its input"


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


@pytest.mark.parametrize("module", [_main, _specs], ids=lambda m: m.__name__)
def test_docstring_example(module):
    result = doctest.testmod(module)
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
        params = _specs.signature_parameters(cls)
        assert params, name
        for pname, param in params.items():
            if param.default is param.empty:
                assert f"{pname} (required)" in text, (name, pname)
            else:
                assert f"{pname}={param.default!r}" in text, (name, pname)
    # Warm-up arguments come from ScheduleCallback through **kwargs.
    assert {"warmup_steps", "warmup_start_lr"} <= set(
        _specs.signature_parameters(keras_lr.CyclicLR)
    )
    assert "directory" not in _specs.PARAMETERS["snapshot"]


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == (
        f"keras-lr {keras_lr.__version__} (Keras {keras.__version__}, backend {BACKEND})"
    )
    # Asking for the backend already loaded stays in this process.
    assert run_cli(capsys, "--backend", BACKEND, "--version")[1] == out


def test_backend_switch_that_does_not_take_effect_fails(capsys, monkeypatch):
    other = next(b for b in _parsing.BACKENDS if b != BACKEND)
    monkeypatch.setenv(_main._SWITCHED, "1")
    code, out, err = run_cli(capsys, "--backend", other, "--version")
    assert code == 1
    assert f"could not switch to the {other} backend" in err
    assert out == ""


# -- schedule -------------------------------------------------------------------------

# Arguments for every schedule name, and what they become in Python.
SAMPLES = {
    "constant": ["learning_rate=0.1"],
    "linear": ["start_lr=0", "end_lr=1", "total_steps=8"],
    "step": ["initial_lr=1", "milestones=2,3", "decay_factor=0.1"],
    "exponential": ["initial_lr=1", "gamma=0.5", "warmup_steps=2"],
    "polynomial": ["initial_lr=1", "total_steps=15", "power=2"],
    "cosine": ["max_lr=1", "min_lr=0.1"],
    "cyclic": ["base_lr=0.1", "max_lr=1", "step_size=3", "mode=triangular2"],
    "sgdr": ["min_lr=0", "max_lr=1", "cycle_length=1", "mult_factor=2", "lr_decay=0.5"],
    "onecycle": ["max_lr=1", "three_phase=true", "pct_start=0.25"],
    "snapshot": ["n_snapshots=3", "max_lr=0.5"],
    "fge": ["max_lr=1", "min_lr=0.1", "cycle_steps=4"],
    "wsd": ["max_lr=1", "warmup_steps=0.1", "decay_steps=0.25", "warmup_shape=cosine"],
    "invsqrt": ["max_lr=1", "warmup_steps=4"],
}
PYTHON_ARGS = {
    "constant": dict(learning_rate=0.1),
    "linear": dict(start_lr=0.0, end_lr=1.0, total_steps=8),
    "step": dict(initial_lr=1.0, milestones=[2, 3], decay_factor=0.1),
    "exponential": dict(initial_lr=1.0, gamma=0.5, warmup_steps=2),
    "polynomial": dict(initial_lr=1.0, total_steps=15, power=2.0),
    "cosine": dict(max_lr=1.0, min_lr=0.1),
    "cyclic": dict(base_lr=0.1, max_lr=1.0, step_size=3, mode="triangular2"),
    "sgdr": dict(min_lr=0.0, max_lr=1.0, cycle_length=1, mult_factor=2.0, lr_decay=0.5),
    "onecycle": dict(max_lr=1.0, three_phase=True, pct_start=0.25),
    "snapshot": dict(n_snapshots=3, max_lr=0.5),
    "fge": dict(max_lr=1.0, min_lr=0.1, cycle_steps=4),
    "wsd": dict(max_lr=1.0, warmup_steps=0.1, decay_steps=0.25, warmup_shape="cosine"),
    "invsqrt": dict(max_lr=1.0, warmup_steps=4),
}
STEPS, SPE = 20, 4


def test_every_schedule_name_has_a_sample():
    assert set(SAMPLES) == set(SCHEDULES) == set(PYTHON_ARGS)


# -- the parameter specs ---------------------------------------------------------------

SPEC_PARAMS = [(name, p) for name, params in _specs.PARAMETERS.items() for p in params]


def _texts(convert):
    """(text, value) pairs that `convert` must accept, by kind of converter."""
    plain = dataclasses.replace(convert, optional=False)
    texts = {
        _specs.NUMBER: [("0.25", 0.25), ("1e-3", 1e-3), ("-2", -2.0)],
        _specs.INTEGER: [("3", 3), ("2e3", 2000), ("7.0", 7)],
        _specs.BOOL: [("true", True), ("No", False), ("1", True)],
        _specs.INTEGERS: [("2,5", [2, 5]), ("4", [4]), ("1, 3,", [1, 3])],
        _specs.STEPS: [("3", 3), ("2e3", 2000), ("0.25", 0.25)],
    }.get(plain)
    if texts is None:  # a choice: every option, as written
        options = re.findall(r"'([^']*)'", convert.what)
        assert convert.what.startswith("one of ") and options, convert
        texts = [(option, option) for option in options]
    if convert.optional:
        texts += [("none", None), ("None", None)]
    return texts


def test_every_spec_declares_exactly_the_constructor_arguments():
    for name, spec in _specs.SPECS.items():
        # Same names in the same order: `--help` lists them as the constructor does.
        assert list(spec.params) == list(_specs.signature_parameters(spec.cls)), name
        assert set(spec.renamed.values()) <= set(spec.params), name
        assert not set(spec.renamed) & set(spec.params), name


@pytest.mark.parametrize("name, param", SPEC_PARAMS)
def test_every_parameter_of_every_schedule_parses(name, param):
    convert = _specs.PARAMETERS[name][param].convert
    for text, value in _texts(convert):
        kwargs = _specs.parse_params(name, [*SAMPLES[name], f"{param}={text}"])
        assert kwargs[param] == value and type(kwargs[param]) is type(value), (text, kwargs)
    # The constructor takes what the converter gives: its own default, written as text.
    default = _specs.PARAMETERS[name][param].default
    if not _specs.PARAMETERS[name][param].required:
        text = "none" if default is None else str(default).lower()  # True -> "true"
        params = _specs.PARAMETERS[name]
        required = [pair for pair in SAMPLES[name] if params[pair.split("=")[0]].required]
        built = _specs.build_schedule(name, [*required, f"{param}={text}"])
        assert isinstance(built, SCHEDULES[name])


@pytest.mark.parametrize("name, param", SPEC_PARAMS)
def test_a_bad_value_is_refused_by_the_parameter_name(name, param):
    with pytest.raises(CLIError) as info:
        _specs.parse_params(name, [f"{param}=@bad"])
    message = str(info.value)
    assert message.startswith(f"Argument `{param}` must be "), message
    assert message.endswith(f"Received: {param}='@bad'"), message
    assert info.value.code == 2


def test_a_choice_is_refused_with_the_constructors_own_message():
    with pytest.raises(CLIError) as info:
        _specs.build_schedule("cyclic", ["mode=zigzag"])
    with pytest.raises(ValueError) as python:
        keras_lr.CyclicLR(mode="zigzag")
    assert str(info.value) == str(python.value)


@pytest.mark.parametrize(
    "name, old, renames",
    [
        ("linear", ["start_lr=0", "end_lr=1", "steps=8"], {"steps": "total_steps"}),
        ("polynomial", ["initial_lr=1", "max_steps=15"], {"max_steps": "total_steps"}),
        (
            "fge",
            ["lr_high=1", "lr_low=0.1", "cycle_steps=4"],
            {"lr_high": "max_lr", "lr_low": "min_lr"},
        ),
    ],
)
def test_old_parameter_names_still_work_with_a_warning(capsys, name, old, renames):
    assert dict(_specs.SPECS[name].renamed) == renames
    flags = [flag for pair in old for flag in ("-p", pair)]
    code, out, err = run_cli(capsys, "schedule", name, "--steps", STEPS, *flags)
    assert code == 0, err
    assert err.splitlines() == [
        f"keras-lr: warning: {name}: `{key}` is deprecated; use `{new}`"
        for key, new in renames.items()
    ]
    # The same rates as under the new names, which warn about nothing.
    for key, new in renames.items():
        flags = [f.replace(f"{key}=", f"{new}=") if f.startswith(f"{key}=") else f for f in flags]
    assert run_cli(capsys, "schedule", name, "--steps", STEPS, *flags) == (0, out, "")


def test_an_old_spelling_in_renamed_is_passed_on_under_the_new_name(monkeypatch, capsys):
    spec = dataclasses.replace(_specs.SPECS["cyclic"], renamed={"stepsize": "step_size"})
    monkeypatch.setitem(_specs.SPECS, "cyclic", spec)
    assert _specs.parse_params("cyclic", ["stepsize=3"]) == {"step_size": 3}
    assert capsys.readouterr().err == (
        "keras-lr: warning: cyclic: `stepsize` is deprecated; use `step_size`\n"
    )


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
        expected = obj.rates(STEPS, steps_per_epoch=SPE, epochs=math.ceil(STEPS / SPE))
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
        # Absurd counts are refused by name, not left to a MemoryError.
        (
            ["schedule", "cyclic", "--steps", 99999999999],
            "argument --steps: must be at most 10000000 (the most steps keras-lr previews or "
            "tests), got '99999999999'",
        ),
        (
            ["schedule", "step", "--steps", 5, "--steps-per-epoch", 10**23, "-p", "initial_lr=1"],
            "argument --steps-per-epoch: must be at most 10000000",
        ),
        (
            ["schedule", "cyclic", "--steps", 5, "-p", "step_size=1e30"],
            "Argument `step_size` must be at most 2147483647 in size (the int32 step counter). "
            "Received: step_size='1e30'",
        ),
        (
            ["schedule", "step", "--steps", 5, "-p", "initial_lr=1", "-p", "milestones=2,-1e30"],
            "Argument `milestones` must be at most 2147483647 in size",
        ),
        (["schedule", "cyclic", "--steps", "nan"], "argument --steps: must be a positive integer"),
        (["schedule", "cyclic", "--steps", -3], "argument --steps: must be a positive integer"),
        (
            ["find", "m.keras", "d.npz", "--num-steps", 99999999999],
            "argument --num-steps: must be at most 10000000",
        ),
        (
            ["find", "m.keras", "d.npz", "--num-steps", 0],
            "argument --num-steps: must be a positive",
        ),
        (
            ["find", "m.keras", "d.npz", "--max-lr", "1e300"],
            "argument --max-lr: must be from 1.2e-38 to 3.4e+38 (the float32 range of the "
            "optimizer's rate), got '1e300'",
        ),
        (["find", "m.keras", "d.npz", "--min-lr", "1e-300"], "argument --min-lr: must be from"),
        (["find", "m.keras", "d.npz", "--max-lr", "inf"], "argument --max-lr: must be a positive"),
        (["find", "m.keras", "d.npz", "--min-lr", "nan"], "argument --min-lr: must be a positive"),
        (["find", "m.keras", "d.npz", "--batch-size", 0], "argument --batch-size: must be a posit"),
        (
            ["demo", "--epochs", 99999999999],
            "argument --epochs: must be at most 10000 (the demo would run for hours)",
        ),
        (
            ["demo", "--seed", 2**32],
            "argument --seed: must be at most 4294967295 (NumPy and scikit-learn seeds are "
            "32-bit), got '4294967296'",
        ),
        (["demo", "--batch-size", 10**23], f"--batch-size {10**23} exceeds the 1347 training"),
        (["demo", "--snapshots", 10**23], f"--snapshots {10**23} exceeds the 1204 training"),
        (["demo", "--seeds", 0], "argument --seeds: must be a positive integer, got '0'"),
        (
            ["demo", "--seeds", 101],
            "argument --seeds: must be at most 100 (each seed runs the whole demo again), "
            "got '101'",
        ),
        (
            ["demo", "--seed", 2**32 - 2, "--seeds", 3],
            "--seed 4294967294 with --seeds 3 needs seeds up to 4294967296, beyond 4294967295",
        ),
    ],
)
def test_usage_errors(capsys, no_training, argv, expected):
    assert_user_error(*run_cli(capsys, *argv), expected)


def test_count_bounds_are_inclusive():
    assert _parsing._step_count(str(_parsing.MAX_STEPS)) == _parsing.MAX_STEPS == 10**7
    assert _parsing._learning_rate("3.4e38") == 3.4e38
    assert _parsing._learning_rate("1.2e-38") == 1.2e-38
    parser = _parsing.build_parser()
    args = parser.parse_args(["demo", "--epochs", "10000", "--seed", str(2**32 - 1)])
    assert (args.epochs, args.seed) == (10**4, 2**32 - 1)
    assert _specs.INTEGER("step_size", "2147483647") == 2**31 - 1
    assert _specs.INTEGERS("milestones", "-2147483647,2e9") == [1 - 2**31, 2 * 10**9]


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
    labels = r"zero-lag minimum/3|valley|steepest|minimum/10|slide"
    suggestions = dict(re.findall(rf"^  ({labels}) +(\S+)", out, re.M))
    assert set(suggestions) == {"zero-lag minimum/3", "valley", "steepest", "minimum/10", "slide"}
    default = float(suggestions["zero-lag minimum/3"])
    assert 1e-4 <= default <= 10
    assert re.search(r"^  zero-lag minimum/3 \S+  \(default\)$", out, re.M)
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
        ("data.npz", "data.npz", "as a Keras model: its name must end in .keras"),
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


def test_find_writes_nothing_on_bad_input_and_refuses_a_file_as_folder(
    capsys, files, tmp_path, no_training
):
    argv = ["find", files / "model.keras", files / "short_y.npz", "--out", tmp_path / "new"]
    assert_user_error(*run_cli(capsys, *argv), "differ in length")
    assert not (tmp_path / "new").exists()

    (tmp_path / "taken").write_text("")
    argv = ["find", files / "model.keras", files / "data.npz", "--num-steps", 5]
    result = run_cli(capsys, *argv, "--out", tmp_path / "taken")
    assert_user_error(*result, f"--out {tmp_path / 'taken'} exists and is not a folder")
    assert (tmp_path / "taken").read_text() == ""


def overwrite_member_bytes(path: Path, member: str, skip: int, new: bytes) -> bytes:
    """Zip archive `path` with `new` written over `member`'s data, `skip` bytes in."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(member).header_offset
    # The local header's own name and extra-field lengths (the central
    # directory's extra field may differ in length).
    name_len, extra_len = (
        int.from_bytes(data[offset + 26 : offset + 28], "little"),
        int.from_bytes(data[offset + 28 : offset + 30], "little"),
    )
    start = offset + 30 + name_len + extra_len + skip
    data[start : start + len(new)] = new
    return bytes(data)


@pytest.fixture(scope="module")
def damaged(files):
    """Damaged copies of the good model and data files, each damaged its own way."""
    rng = np.random.default_rng(0)
    root = files / "damaged"
    root.mkdir()
    data = (files / "data.npz").read_bytes()
    (root / "truncated.npz").write_bytes(data[: len(data) // 2])
    # Array data of the stored member x.npy (past its 128-byte .npy header).
    bad = overwrite_member_bytes(files / "data.npz", "x.npy", 128, b"\xff" * 64)
    (root / "bad_crc.npz").write_bytes(bad)
    # A deflate stream whose first block has the reserved type 3.
    np.savez_compressed(root / "compressed.npz", x=np.zeros((8, 4)), y=np.zeros(8))
    bad = overwrite_member_bytes(root / "compressed.npz", "x.npy", 0, b"\xff")
    (root / "bad_deflate.npz").write_bytes(bad)
    with zipfile.ZipFile(root / "not_npy.npz", "w") as archive:
        archive.writestr("x.npy", "plain text, not an array")
        archive.writestr("y.npy", "plain text, not an array")
    header = io.BytesIO()  # a header that claims 8 TB of data
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    with zipfile.ZipFile(root / "huge_header.npz", "w") as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(64))
        archive.writestr("y.npy", header.getvalue() + bytes(64))
    (root / "folder.npz").mkdir()

    model = (files / "model.keras").read_bytes()
    (root / "random.keras").write_bytes(rng.bytes(2000))
    (root / "text.keras").write_text("model = keras.Sequential(...)\n")
    (root / "truncated.keras").write_bytes(model[: len(model) // 2])
    with zipfile.ZipFile(root / "no_model.keras", "w") as archive:
        archive.writestr("notes.txt", "not a model")
    shutil.copy(files / "data.npz", root / "arrays.keras")  # .npz files are zip archives
    with zipfile.ZipFile(files / "model.keras") as source:
        members = {name: source.read(name) for name in source.namelist()}
    for name, change in [
        ("bad_config.keras", {"config.json": b"{not json"}),
        ("bad_weights.keras", {"model.weights.h5": rng.bytes(len(members["model.weights.h5"]))}),
    ]:
        with zipfile.ZipFile(root / name, "w") as archive:
            for member, content in {**members, **change}.items():
                archive.writestr(member, content)
    (root / "random.h5").write_bytes(rng.bytes(2000))
    (root / "folder.keras").mkdir()
    return root


@pytest.mark.parametrize(
    "data, expected",
    [
        ("truncated.npz", "as .npz arrays (File is not a zip file)"),
        ("bad_crc.npz", ": Bad CRC-32 for file 'x.npy'"),
        ("bad_deflate.npz", ": Error -3 while decompressing data: invalid block type"),
        ("not_npy.npz", ": `x` is not a .npy array"),
        # "Unable to allocate 7.28 TiB", or the end of the data where the
        # system lends that much memory.
        ("huge_header.npz", "cannot read the arrays of"),
        ("folder.npz", "is a folder, not an .npz file"),
    ],
)
def test_find_reports_a_damaged_data_file_before_training(
    capsys, files, damaged, tmp_path, no_training, data, expected
):
    out = tmp_path / "out"
    argv = ["find", files / "model.keras", damaged / data, "--num-steps", 5, "--out", out]
    code, stdout, err = run_cli(capsys, *argv)
    assert_user_error(code, stdout, err, expected)
    assert str(damaged / data) in err
    assert not out.exists()


@pytest.mark.parametrize(
    "model, expected",
    [
        ("random.keras", "it is not a zip archive, as model.save writes"),
        ("text.keras", "it is not a zip archive, as model.save writes"),
        ("truncated.keras", "it is not a zip archive, as model.save writes"),
        ("no_model.keras", "the zip archive holds no config.json, as model.save writes"),
        ("arrays.keras", "the zip archive holds no config.json"),
        ("bad_config.keras", "Expecting property name enclosed in double quotes"),
        ("bad_weights.keras", "file signature not found"),
        ("random.h5", "file signature not found"),
    ],
)
def test_find_reports_a_file_that_is_not_a_model_before_training(
    capsys, files, damaged, tmp_path, no_training, model, expected
):
    out = tmp_path / "out"
    argv = ["find", damaged / model, files / "data.npz", "--num-steps", 5, "--out", out]
    code, stdout, err = run_cli(capsys, *argv)
    assert_user_error(code, stdout, err, f"cannot read {damaged / model} as a Keras model: ")
    assert expected in err
    assert "file not found" not in err.lower()  # the file is there, whatever Keras says
    assert not out.exists()


def test_find_reports_a_folder_given_as_the_model(capsys, files, damaged, tmp_path, no_training):
    argv = ["find", damaged / "folder.keras", files / "data.npz", "--out", tmp_path / "out"]
    result = run_cli(capsys, *argv)
    assert_user_error(*result, f"model file {damaged / 'folder.keras'} is a folder, not a file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "out, expected",
    [
        ("file", "--out {root}/file exists and is not a folder"),
        ("file/sub", "cannot create --out {root}/file/sub: {root}/file is a file, not a folder"),
        ("file/a/b", "cannot create --out {root}/file/a/b: {root}/file is a file, not a folder"),
        ("taken", "cannot write {root}/taken/lr_finder.csv in --out {root}/taken: it is a folder"),
    ],
)
def test_find_refuses_an_out_it_cannot_write_before_training(
    capsys, files, tmp_path, no_training, out, expected
):
    (tmp_path / "file").write_text("keep me")
    (tmp_path / "taken" / "lr_finder.csv").mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))
    argv = ["find", files / "model.keras", files / "data.npz", "--num-steps", 5]
    result = run_cli(capsys, *argv, "--out", tmp_path / out)
    assert_user_error(*result, expected.format(root=tmp_path))
    assert sorted(tmp_path.rglob("*")) == before
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize(
    "out, expected",
    [
        ("file", "--out {root}/file exists and is not a folder"),
        ("file/report", "cannot create --out {root}/file/report: {root}/file is a file"),
    ],
)
def test_demo_refuses_an_out_it_cannot_create_before_training(
    capsys, tmp_path, no_training, out, expected
):
    (tmp_path / "file").write_text("keep me")
    result = run_cli(capsys, "demo", "--epochs", 1, "--out", tmp_path / out)
    assert_user_error(*result, expected.format(root=tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
    assert (tmp_path / "file").read_text() == "keep me"


def test_output_folder_reports_a_failed_mkdir_as_bad_input(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", fail)
    with pytest.raises(CLIError, match="cannot create --out .*: Permission denied") as info:
        _files.output_folder(tmp_path / "new")
    assert info.value.code == 2


@pytest.mark.parametrize(
    "out, expected",
    [
        ("folder.csv", "cannot write {root}/folder.csv: it is a folder; give --out a file name"),
        ("file/rates.csv", "cannot write {root}/file/rates.csv: {root}/file is a file, not a"),
    ],
)
def test_schedule_refuses_an_out_it_cannot_write(capsys, tmp_path, out, expected):
    (tmp_path / "file").write_text("keep me")
    (tmp_path / "folder.csv").mkdir()
    result = run_cli(capsys, "schedule", "cyclic", "--steps", 5, "--out", tmp_path / out)
    assert_user_error(*result, expected.format(root=tmp_path))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "folder.csv"]
    assert (tmp_path / "file").read_text() == "keep me"


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


def _run_demo(out_dir: Path, *argv) -> tuple[int, str]:
    """(exit status, stdout) of `keras-lr demo --out out_dir argv...`, which must succeed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["demo", *map(str, argv), "--out", str(out_dir)])
    assert code == 0, stderr.getvalue()
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(exit status, stdout, folder) of one small demo run."""
    out_dir = tmp_path_factory.mktemp("demo") / "report"  # not created: the demo must
    code, stdout = _run_demo(out_dir, "--epochs", DEMO_EPOCHS, "--snapshots", 2)
    return code, stdout, out_dir


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


@pytest.mark.slow
def test_demo_on_one_seed_says_it_cannot_separate_the_runs(demo):
    _, _, out_dir = demo
    report = (out_dir / "report.md").read_text()
    assert "A single seed cannot tell a difference between runs" in report
    assert "one test image is 0.0022 of accuracy" in report  # 1/450
    assert "larger than the spread when" not in report  # no comparison to make
    columns = list(pd.read_csv(out_dir / "results.csv").columns)
    assert columns == ["run", "test_accuracy", "test_loss", "epochs_to_target", "seconds"]


# -- demo over several seeds ------------------------------------------------------------

FIRST_SEED, N_SEEDS = 3, 2
RESULT_KEYS = RUN_KEYS + ["snapshot_ensemble"]


@pytest.fixture(scope="module")
def demo_seeds(tmp_path_factory):
    """(stdout, folder) of the smallest demo over two seeds, 3 and 4."""
    out_dir = tmp_path_factory.mktemp("demo_seeds") / "report"
    argv = ["--seed", FIRST_SEED, "--seeds", N_SEEDS, "--epochs", 1, "--snapshots", 2]
    _, stdout = _run_demo(out_dir, *argv)
    return stdout, out_dir


@pytest.mark.slow
def test_demo_over_seeds_writes_a_row_per_seed_and_run_and_the_first_seeds_files(demo_seeds):
    stdout, out_dir = demo_seeds
    results = pd.read_csv(out_dir / "results.csv")
    assert list(results.columns) == [
        "seed",
        "run",
        "test_accuracy",
        "test_loss",
        "epochs_to_target",
        "seconds",
    ]
    assert list(results["seed"]) == [3] * 7 + [4] * 7
    assert list(results["run"]) == RESULT_KEYS * N_SEEDS
    assert results[["test_accuracy", "test_loss", "seconds"]].gt(0).all().all()
    # The seeds differ: each has its own split, weights, shuffling and range test.
    losses = results.pivot(index="run", columns="seed", values="test_loss")
    assert (losses[3] != losses[4]).all()

    names = {p.name for p in out_dir.iterdir()}
    expected = set(PNGS) | {f"history_{k}.csv" for k in RUN_KEYS} | {"lr_finder.csv"}
    expected |= {"results.csv", "results_summary.csv", "report.md", "report.html", "snapshots"}
    assert names == expected
    snapshots = sorted(p.name for p in (out_dir / "snapshots").iterdir())
    assert snapshots == ["manifest.json", "snapshot-000.weights.h5", "snapshot-001.weights.h5"]
    # The histories are the first seed's.
    for key in RUN_KEYS:
        history = pd.read_csv(out_dir / f"history_{key}.csv").dropna(subset=["val_loss"])
        assert history["val_loss"].iloc[-1] == pytest.approx(losses.loc[key, 3], rel=1e-6)

    starts = re.findall(r"^seed (\d) \((\d)/2\): \[(\d)/8\] ", stdout, re.M)
    assert starts == [(s, k, str(i)) for s, k in (("3", "1"), ("4", "2")) for i in range(1, 9)]
    assert not re.search(r"^\[\d/8\]", stdout, re.M)


@pytest.mark.slow
def test_demo_over_seeds_summary_is_the_mean_and_std_of_results(demo_seeds):
    stdout, out_dir = demo_seeds
    results = pd.read_csv(out_dir / "results.csv")
    summary = pd.read_csv(out_dir / "results_summary.csv")
    assert list(summary["run"]) == RESULT_KEYS
    by_run = results.groupby("run", sort=False)
    for name in ("test_accuracy", "test_loss", "seconds"):
        np.testing.assert_allclose(summary[f"{name}_mean"], by_run[name].mean(), rtol=1e-12)
        np.testing.assert_allclose(summary[f"{name}_std"], by_run[name].std(ddof=1), rtol=1e-12)
    reached = by_run["epochs_to_target"]
    assert list(summary["epochs_to_target_reached"]) == [f"{k}/2" for k in reached.count()]
    np.testing.assert_array_equal(summary["epochs_to_target_mean"], reached.mean())

    report = (out_dir / "report.md").read_text()
    table = results_table(report)
    assert list(table["run"]) == LABELS
    for (_, row), (_, mean) in zip(table.iterrows(), summary.iterrows()):
        for column, name, digits in [
            ("final test accuracy", "test_accuracy", 4),
            ("final test loss", "test_loss", 4),
            ("wall time (s)", "seconds", 1),
        ]:
            expected = f"{mean[name + '_mean']:.{digits}f} ± {mean[name + '_std']:.{digits}f}"
            assert row[column] == expected
        assert row["epochs to 95%"].endswith(f"({mean['epochs_to_target_reached']})")
    # The printed table is the report's.
    printed = [line for line in stdout.splitlines() if line.startswith("|")]
    assert printed == [line for line in report.splitlines() if line.startswith("|")]
    assert "mean ± std over the 2 seeds 3 .. 4:" in stdout


@pytest.mark.slow
def test_demo_over_seeds_says_which_differences_exceed_the_spread(demo_seeds):
    stdout, out_dir = demo_seeds
    results = pd.read_csv(out_dir / "results.csv")
    label = dict(zip(RESULT_KEYS, LABELS))
    report = (out_dir / "report.md").read_text()
    assert "### Which differences are larger than the spread" in report
    for metric, column, higher in [
        ("Test accuracy", "test_accuracy", True),
        ("Test loss", "test_loss", False),
    ]:
        scores = {label[key]: list(results[results["run"] == key][column]) for key in RESULT_KEYS}
        best, differences = _seeds.compare(scores, higher)
        means = {name: np.mean(values) for name, values in scores.items()}
        assert means[best] == (max if higher else min)(means.values())
        sentence = next(line for line in report.splitlines() if line.startswith(metric + ":"))
        assert sentence.startswith(f"{metric}: best {best} (mean {means[best]:.4f}). ")
        assert sentence in stdout
        larger, within = sentence.split(" Larger than the spread: ")[1].split(" Within ")
        for d in differences:
            entry = f"{d.name} {-d.mean:+.4f} (margin {d.margin:.4f})"
            assert entry in (larger if d.larger else within), (entry, sentence)
    rule = "its mean over the 2 seeds exceeds its margin, t × sd / √2"
    assert rule in report and rule in stdout
    page = (out_dir / "report.html").read_text()
    assert " ± " in page and rule in page


# -- the comparison over seeds ------------------------------------------------------------

# Test accuracies of three runs on five seeds: the seed moves every run alike
# (sd about 0.013), "behind" trails "top" by about 0.01 on every seed, "level"
# is as often ahead as behind.
TOP = np.array([0.960, 0.940, 0.975, 0.950, 0.965])
BEHIND = TOP - np.array([0.010, 0.012, 0.009, 0.011, 0.010])
LEVEL = TOP - np.array([0.004, -0.006, 0.002, -0.003, 0.004])


def test_paired_comparison_calls_a_steady_difference_larger_and_noise_not():
    best, (behind, level) = _seeds.compare(
        {"behind": BEHIND, "top": TOP, "level": LEVEL}, higher_is_better=True
    )
    assert best == "top"
    assert (behind.name, level.name) == ("behind", "level")
    for d, gaps in [(behind, TOP - BEHIND), (level, TOP - LEVEL)]:
        assert d.mean == pytest.approx(np.mean(gaps))
        # A paired t-test at 5%: Student's t with 4 degrees of freedom, 2.776.
        assert d.margin == pytest.approx(2.776 * np.std(gaps, ddof=1) / np.sqrt(5))
    assert behind.larger and not level.larger
    # Unpaired, the 0.0104 would drown in the seeds' spread of about 0.013.
    assert behind.mean < _seeds.mean_std(TOP)[1]
    # A loss: the lowest mean is the best, and the same runs are told apart.
    best, (behind, level) = _seeds.compare(
        {"behind": 1 - BEHIND, "top": 1 - TOP, "level": 1 - LEVEL}, higher_is_better=False
    )
    assert best == "top" and behind.larger and not level.larger
    assert behind.mean == pytest.approx(-np.mean(TOP - BEHIND))


def test_paired_comparison_in_words():
    scores = {"behind": BEHIND, "top": TOP, "level": LEVEL, "diverged": [np.nan, *TOP[1:]]}
    assert _seeds.verdict("Test accuracy", scores, higher_is_better=True) == (
        "Test accuracy: best top (mean 0.9580). Larger than the spread: behind -0.0104 "
        "(margin 0.0014). Within the spread: level -0.0002 (margin 0.0056). "
        "Not compared (a seed gave a non-finite value): diverged."
    )
    assert _seeds.rule(5).endswith(
        "exceeds its margin, t × sd / √5 with sd the standard deviation of the 5 differences "
        "and t = 2.776 (Student's t, 97.5%, 4 degrees of freedom): a paired t-test at the 5% "
        "level, each run against the best on its own; within the spread otherwise."
    )


def test_t_critical_is_students_97_5_percent_point():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29, 30, 31, 50, 99):
        assert _seeds.t_critical(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=6e-4)


def test_paired_comparison_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="at least two seeds per run. Received: 1"):
        _seeds.compare({"a": [0.9], "b": [0.8]}, True)
    with pytest.raises(
        ValueError, match="the same number of seeds for every run. Received: a=2, b=3"
    ):
        _seeds.compare({"a": [0.9, 0.8], "b": [0.8, 0.7, 0.6]}, True)
    assert _seeds.mean_std([0.5]) == (0.5, pytest.approx(np.nan, nan_ok=True))
    assert _seeds.reached_mean([None, 4, 7]) == (5.5, 2)


def test_report_markdown_and_html_render_the_same_blocks(tmp_path):
    (tmp_path / "curve.png").write_bytes(PNG + b"data")
    document = _report.Document(
        "Title",
        [
            _report.Heading("Part"),
            _report.Paragraph("uses `find_lr` & more"),
            _report.Table(("run", "accuracy"), [("x <1>", "0.5")]),
            _report.Image(tmp_path / "curve.png", "the curve"),
        ],
    )
    assert document.markdown() == (
        "# Title\n\n## Part\n\nuses `find_lr` & more\n\n"
        "| run | accuracy |\n|---|---|\n| x <1> | 0.5 |\n\n![the curve](curve.png)\n"
    )
    page = document.html()
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>\n")
    assert "<title>Title</title>" in page
    assert (
        "<h1>Title</h1>\n<h2>Part</h2>\n<p>uses <code>find_lr</code> &amp; more</p>\n"
        "<table><tr><th>run</th><th>accuracy</th></tr>\n<tr><td>x &lt;1&gt;</td><td>0.5</td></tr>"
        "\n</table>\n"
    ) in page
    data = base64.b64encode(PNG + b"data").decode("ascii")
    assert f'<p><img alt="the curve" src="data:image/png;base64,{data}"></p>' in page


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
    expected = keras_lr.OneCycleLR(1.0).rates(12, steps_per_epoch=1, epochs=12)
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


class _FinishedTest:
    """What `print_suggestions` reads of a finished range test."""

    default_method = "valley"

    def __init__(self, reliable):
        self.reliable = reliable
        self.unreliable_reason = None if reliable else "the loss never fell"

    def suggestions(self):
        if not self.reliable:
            warnings.warn("LRFinder: unreliable", stacklevel=2)
        return {"valley": 0.01, "steepest": 0.02, "minimum": 0.003}

    def cyclic_bounds(self):
        return 0.001, 0.01


def test_suggestions_print_minimum_as_minimum_over_ten_and_say_when_unreliable(capsys):
    _commands.print_suggestions(_FinishedTest(reliable=True))
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "suggested learning rates:"
    assert re.search(r"^  minimum/10 +0\.003$", out, re.M)
    assert re.search(r"^  valley +0\.01  \(default\)$", out, re.M)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _commands.print_suggestions(_FinishedTest(reliable=False))
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "no reliable suggestion: the loss never fell"
    assert "(default)" not in out
