"""The `keras-lr` command line: `demo`, `find` and `schedule`.

`main(argv)` parses, runs one subcommand and returns the exit status instead
of calling `sys.exit`, so tests and other programs can call it in-process:

* 0: done;
* 1: a runtime failure (a missing optional dependency, an unwritable output
  file, a bug: the traceback is printed for those);
* 2: a usage error or bad input (unknown option or schedule, a bad number or
  one beyond its limit, a missing, unreadable or damaged file, arrays without
  `x`/`y`, an uncompiled model, an `--out` that cannot be written): one line
  `keras-lr: error: ...` on stderr, no traceback, checked before any training.

Importing `keras_lr` imports Keras, which fixes the backend.  `--backend NAME`
therefore runs the same command again in a fresh process with
`KERAS_BACKEND=NAME` when NAME is not the backend already loaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import math
import os
import re
import subprocess
import sys
import textwrap
import traceback
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_lr
from keras_lr import schedules as S
from keras_lr.finder import _suggest

__all__ = ["main"]

PROG = "keras-lr"
BACKENDS = ("tensorflow", "jax", "torch")
# Set in the child of a backend switch, so a switch that does not take
# effect fails instead of starting processes forever.
_SWITCHED = "KERAS_LR_CLI_BACKEND_SWITCHED"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Upper bounds of the numeric options, so that a typo (`--steps 99999999999`)
# is refused by name instead of ending in a MemoryError or an overflow.
#
# Step counts (`schedule --steps`, `--steps-per-epoch`, `find --num-steps`):
# training runs are at most a few million optimizer steps, and a preview keeps
# every rate and its CSV line in memory: 10**7 steps take about 40 s and 2 GB,
# ten times more would need some 20 GB.  The bound is also far inside the
# int32 step counter of the JAX backend (2**31 - 1).
MAX_STEPS = 10**7
# `demo --epochs`: the demo trains six networks for that many epochs each on
# the 1347 training digits (28 epochs, the default, take about 30 s in all), so
# 10**4 epochs is already hours; even at batch size 1 that is 1.3 * 10**7 steps
# a run, inside the int32 step counter.
DEMO_MAX_EPOCHS = 10**4
# `demo --seed` seeds NumPy and scikit-learn, which take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
# `--param` integers (step sizes, milestones, lengths) count steps or epochs,
# which the backends' int32 step counter bounds.
MAX_INT_PARAM = 2**31 - 1
# `find --min-lr/--max-lr`: the optimizer keeps its rate in a float32
# variable, which turns 1e300 into inf and 1e-300 into 0.  Held as Python
# floats: comparing with NumPy's float32 values would cast to float32.
_F32_MIN, _F32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


class CLIError(Exception):
    """A failure reported as one line on stderr, without a traceback.

    Args:
        message: what went wrong and, where possible, what to do.
        code: the exit status: 2 for bad input, 1 for a runtime failure.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def one_line(err: BaseException) -> str:
    """The informative line of an exception message (Keras wraps its own in context)."""
    lines = [line.strip() for line in _ANSI.sub("", str(err)).splitlines()]
    for line in lines:
        if line and not line.startswith(
            ("Exception encountered when calling", "Arguments received")
        ):
            # Keep the first sentence of a paragraph-long message.
            cut = line.find(". ", 40)
            return line[: cut + 1] if len(line) > 200 and cut > 0 else line
    return type(err).__name__


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises on usage errors instead of exiting."""

    def error(self, message):
        raise CLIError(f"{message} (see `{self.prog} --help`)")


def _int_at_least(minimum: int, maximum: int | None = None, why: str = ""):
    """An argparse type: an integer >= `minimum` and, if given, <= `maximum` (for `why`).

    Batch sizes and snapshot counts have no fixed bound: the commands check them
    against the data before training.
    """
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum} ({why}), got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_step_count = _int_at_least(1, MAX_STEPS, "the most steps keras-lr previews or tests")


def _learning_rate(text: str) -> float:
    """An argparse type: a positive rate that a float32 variable holds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    if not _F32_MIN <= value <= _F32_MAX:
        raise argparse.ArgumentTypeError(
            f"must be from {_F32_MIN:.2g} to {_F32_MAX:.2g} (the float32 range of the "
            f"optimizer's rate), got {text!r}"
        )
    return value


# -- schedule previews ---------------------------------------------------------

# Constructor arguments that do not shape the rate (files, logging, callables
# that cannot be given as text): left out of `schedule` and its help.
_NOT_RATE_ARGS = {
    *("self", "directory", "save_format", "overwrite", "verbose", "n_models"),
    *("scale_fn", "fn"),
}

SCHEDULES: dict[str, Any] = {
    "constant": S.Constant,
    "linear": S.Linear,
    "step": keras_lr.StepDecay,
    "exponential": keras_lr.ExponentialDecay,
    "polynomial": keras_lr.PolynomialDecay,
    "cosine": keras_lr.CosineAnnealing,
    "cyclic": keras_lr.CyclicLR,
    "sgdr": keras_lr.SGDRScheduler,
    "onecycle": keras_lr.OneCycleLR,
    "snapshot": keras_lr.SnapshotEnsemble,
    "fge": keras_lr.FastGeometricEnsemble,
}


def schedule_parameters(cls) -> dict[str, inspect.Parameter]:
    """The rate-shaping constructor parameters of `cls`, read from its signature.

    Scheduling callbacks pass `**kwargs` on to `ScheduleCallback`, whose
    warm-up parameters are added here.
    """
    params = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in _NOT_RATE_ARGS:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            if issubclass(cls, keras_lr.ScheduleCallback):
                params.update(schedule_parameters(keras_lr.ScheduleCallback))
                params.pop("schedule", None)
            continue
        params[name] = param
    return params


def _describe(name: str, cls) -> str:
    summary = (inspect.getdoc(cls) or "").splitlines()[0].rstrip(".")
    args = []
    for pname, param in schedule_parameters(cls).items():
        if param.default is inspect.Parameter.empty:
            args.append(f"{pname} (required)")
        else:
            args.append(f"{pname}={param.default!r}")
    where = "keras_lr.schedules" if issubclass(cls, S.Schedule) else "keras_lr"
    indent = " " * 14
    params = textwrap.fill(", ".join(args), 88, initial_indent=indent, subsequent_indent=indent)
    return f"  {name:<12}{where}.{cls.__name__}: {summary}\n{params}"


_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _convert(name: str, text: str, annotation: Any) -> Any:
    """`text` as the type the constructor's annotation names (strings, as written)."""
    kind = str(annotation)
    if text.lower() == "none" and "None" in kind:
        return None
    if "bool" in kind:
        parse, what = (lambda t: _BOOLS[t.lower()]), "true or false"
    elif "Sequence[int]" in kind:
        parse = lambda t: [_int(part) for part in t.split(",") if part.strip()]  # noqa: E731
        what = "comma-separated integers"
    elif kind.startswith("int"):
        parse, what = _int, "an integer"
    elif kind.startswith("float"):
        parse, what = float, "a number"
    else:
        return text
    try:
        return parse(text)
    except (KeyError, ValueError):
        raise CLIError(f"Argument `{name}` must be {what}. Received: {name}={text!r}") from None
    except OverflowError:
        raise CLIError(
            f"Argument `{name}` must be at most {MAX_INT_PARAM} in size (the int32 step "
            f"counter). Received: {name}={text!r}"
        ) from None


def _int(text: str) -> int:
    # "1e4" and "2000.0" are integers too when written in float notation.
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    if abs(value) > MAX_INT_PARAM:
        raise OverflowError(text)
    return int(value)


def build_schedule(name: str, pairs: Sequence[str]):
    """The callback or schedule `name` built from `key=value` texts."""
    if name not in SCHEDULES:
        raise CLIError(
            f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)} "
            f"(see `{PROG} schedule --help`)"
        )
    cls = SCHEDULES[name]
    params = schedule_parameters(cls)
    kwargs = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param takes KEY=VALUE, got {pair!r}")
        if key not in params:
            raise CLIError(
                f"{name} has no parameter {key!r}; it takes {', '.join(params)} "
                f"(see `{PROG} schedule --help`)"
            )
        kwargs[key] = _convert(key, text.strip(), params[key].annotation)
    missing = [p for p, param in params.items() if param.default is inspect.Parameter.empty]
    missing = [p for p in missing if p not in kwargs]
    if missing:
        raise CLIError(
            f"{name} needs {', '.join(missing)}: pass "
            + " ".join(f"--param {p}=VALUE" for p in missing)
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CLIError(one_line(err)) from None


def schedule_rates(obj, steps: int, steps_per_epoch: int) -> np.ndarray:
    """Rates of steps 0..steps-1, with `fit` taken as ceil(steps / spe) epochs."""
    if isinstance(obj, S.Schedule):
        return obj.numpy(np.arange(steps))
    epochs = math.ceil(steps / steps_per_epoch)
    try:
        return obj.schedule(steps, steps_per_epoch=steps_per_epoch, epochs=epochs)
    except (TypeError, ValueError) as err:
        raise CLIError(one_line(err)) from None


def write_csv(path, header: Sequence[str], rows) -> None:
    """Writes rows as CSV to `path` (stdout when None), floats at full precision."""
    lines = [",".join(header)]
    lines += [",".join(repr(c) if isinstance(c, float) else str(c) for c in row) for row in rows]
    text = "\n".join(lines) + "\n"
    if path is None:
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)


def new_axes(figsize=(6, 3.5)):
    """A figure and its Axes, built without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()


def save_figure(fig, path) -> None:
    fig.savefig(path, dpi=110)


def output_file(path: Path) -> Path:
    """`path` if its folder exists (a plot or CSV goes into a folder the user made)."""
    if path.is_dir():
        raise CLIError(f"cannot write {path}: it is a folder; give --out a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: {path.parent} is a file, not a folder")
    if not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def check_output_folder(path: Path, names: Sequence[str] = ()) -> Path:
    """`path` if it is a folder, or can be made one, to write `names` into.

    Nothing is created: the command checks its `--out` before it trains and
    writes only once it has results.
    """
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise CLIError(f"--out {path} exists and is not a folder")
        taken = [name for name in names if (path / name).is_dir()]
        if taken:
            raise CLIError(f"cannot write {path / taken[0]} in --out {path}: it is a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise CLIError(f"cannot write in --out {path}: permission denied")
        return path
    ancestor = path.parent
    while not (ancestor.exists() or ancestor.is_symlink()):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CLIError(f"cannot create --out {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CLIError(f"cannot create --out {path}: permission denied in {ancestor}")
    return path


def output_folder(path: Path) -> Path:
    """`path`, created with its parents when missing; refused when it is a file."""
    check_output_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create --out {path}: {err.strerror or one_line(err)}") from None
    return path


def cmd_schedule(args) -> int:
    obj = build_schedule(args.name, args.param)
    rates = schedule_rates(obj, args.steps, args.steps_per_epoch)
    rows = zip(range(args.steps), (float(r) for r in rates))
    if args.out is None:
        write_csv(None, ("step", "lr"), rows)
        return 0
    out = output_file(Path(args.out))
    if out.suffix.lower() == ".csv":
        write_csv(out, ("step", "lr"), rows)
    else:
        fig, ax = new_axes()
        formats = fig.canvas.get_supported_filetypes()
        if out.suffix.lower().lstrip(".") not in formats:
            raise CLIError(
                f"--out must end in .csv or an image format ({', '.join(sorted(formats))}); "
                f"got {out.name!r}"
            )
        keras_lr.plot_schedule(
            obj,
            args.steps,
            ax=ax,
            log_scale=args.log_scale,
            steps_per_epoch=args.steps_per_epoch,
            epochs=math.ceil(args.steps / args.steps_per_epoch),
        )
        ax.set_title(f"{args.name}: {type(obj).__name__}, {args.steps} steps")
        save_figure(fig, out)
    print(f"wrote {out}")
    return 0


# -- range test on a saved model -------------------------------------------------


def load_compiled_model(path: Path):
    """The model saved at `path`, which must be compiled with an optimizer and a loss."""
    if not path.exists():
        raise CLIError(f"model file not found: {path}")
    if not path.is_file():
        raise CLIError(f"model file {path} is a folder, not a file written by model.save")
    cannot = f"cannot read {path} as a Keras model"
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise CLIError(
            f"{cannot}: its name must end in .keras (or .h5, the legacy format), "
            f"not {path.suffix or 'nothing'!r}"
        )
    if path.suffix.lower() == ".keras":
        # Keras reports any .keras file that is not a zip archive as "File not
        # found", which misleads when the file is there but damaged.
        if not zipfile.is_zipfile(path):
            raise CLIError(
                f"{cannot}: it is not a zip archive, as model.save writes "
                "(the file is damaged or of another kind)"
            )
        try:
            with zipfile.ZipFile(path) as archive:
                has_config = "config.json" in archive.namelist()
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
            raise CLIError(f"{cannot}: {one_line(err)}") from None
        if not has_config:
            raise CLIError(f"{cannot}: the zip archive holds no config.json, as model.save writes")
    try:
        model = keras.saving.load_model(path)
    except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
        raise CLIError(f"{cannot}: {one_line(err)}") from None
    hint = (
        "compile it before saving, e.g. `model.compile(optimizer=keras.optimizers."
        "SGD(0.01), loss=...)` then `model.save(...)`"
    )
    if getattr(model, "optimizer", None) is None:
        raise CLIError(f"model {path} is not compiled (it has no optimizer): {hint}")
    own_loss = type(model).train_step is not keras.Model.train_step or (
        type(model).compute_loss is not keras.Model.compute_loss
    )
    if getattr(model, "loss", None) is None and not own_loss:
        raise CLIError(f"model {path} is compiled without a loss: {hint}")
    return model


def load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from an .npz file, checked for presence and matching lengths."""
    if not path.exists():
        raise CLIError(f"data file not found: {path}")
    if not path.is_file():
        raise CLIError(f"data file {path} is a folder, not an .npz file")
    how = "save them with `numpy.savez(path, x=x, y=y)`"
    try:
        data = np.load(path, allow_pickle=False)
    # A damaged archive fails in many ways (BadZipFile, zlib.error, EOFError,
    # a header that claims more memory than there is): all are bad input.
    except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
        raise CLIError(f"cannot read {path} as .npz arrays ({one_line(err)}): {how}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CLIError(f"{path} holds a single array, not arrays `x` and `y`: {how}")
    with data:
        missing = [key for key in ("x", "y") if key not in data.files]
        if missing:
            raise CLIError(
                f"{path} has no array {' or '.join(map(repr, missing))} "
                f"(it holds {sorted(data.files)}): {how}"
            )
        try:
            x, y = data["x"], data["y"]
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
            raise CLIError(f"cannot read the arrays of {path}: {one_line(err)}") from None
    for key, arr in (("x", x), ("y", y)):
        if not isinstance(arr, np.ndarray):  # NpzFile returns a non-.npy member as bytes
            raise CLIError(f"cannot read the arrays of {path}: `{key}` is not a .npy array")
        if arr.ndim == 0 or len(arr) == 0:
            raise CLIError(f"array `{key}` of {path} holds no samples (shape {arr.shape})")
        if arr.dtype.kind not in "biuf":
            raise CLIError(f"array `{key}` of {path} must be numeric, not {arr.dtype}")
    if len(x) != len(y):
        raise CLIError(
            f"arrays `x` and `y` of {path} differ in length: {len(x)} samples against {len(y)}"
        )
    return x, y


def print_suggestions(finder) -> None:
    """The suggestions and cyclic bounds of a finished range test, one per line."""
    reliable = getattr(finder, "reliable", True)
    with warnings.catch_warnings():
        # An unreliable test is said once, in the output, not as warnings.
        warnings.simplefilter("ignore", UserWarning)
        suggestions = finder.suggestions()
        try:
            base, high = finder.cyclic_bounds()
            bounds = f"base_lr={base:.3g} max_lr={high:.3g}"
        except ValueError as err:
            bounds = f"n/a ({err})"
    if reliable:
        print("suggested learning rates:")
    else:
        print(f"no reliable suggestion: {finder.unreliable_reason}")
        print("what the rules would give (do not train with these):")
    for method, rate in suggestions.items():
        text = f"{rate:.3g}" if math.isfinite(rate) else "n/a (curve too short)"
        mark = "  (default)" if method == finder.default_method and reliable else ""
        print(f"  {_suggest.LABELS.get(method, method):<10} {text}{mark}")
    print(f"cyclic bounds: {bounds}")


def cmd_find(args) -> int:
    if args.min_lr >= args.max_lr:
        raise CLIError(
            f"--min-lr must be smaller than --max-lr, got {args.min_lr:g} and {args.max_lr:g}"
        )
    out = check_output_folder(Path(args.out), ("lr_finder.csv", "lr_finder.png"))
    model = load_compiled_model(Path(args.model))
    x, y = load_arrays(Path(args.data))
    try:
        finder = keras_lr.find_lr(
            model,
            x,
            y,
            batch_size=args.batch_size,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            num_steps=args.num_steps,
            mode=args.mode,
            verbose=1,
        )
    except (TypeError, ValueError) as err:
        # Keras reports data the model cannot take (shapes, dtypes) this way.
        raise CLIError(f"the range test failed on this model and data: {one_line(err)}") from None
    print_suggestions(finder)
    output_folder(out)
    csv_path, png_path = out / "lr_finder.csv", out / "lr_finder.png"
    finder.to_csv(csv_path)
    fig, ax = new_axes()
    finder.plot(ax=ax)
    ax.set_title(f"Range test: {Path(args.model).name} on {Path(args.data).name}")
    save_figure(fig, png_path)
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return 0


# -- demo -------------------------------------------------------------------------


def cmd_demo(args) -> int:
    from keras_lr.cli import _demo

    check_output_folder(Path(args.out))
    report = _demo.run(
        Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        n_snapshots=args.snapshots,
    )
    print(f"report: {report}")
    return 0


# -- parser and entry point -----------------------------------------------------------


def _schedule_epilog() -> str:
    lines = [
        "schedules and their parameters (defaults from the constructors):",
        *(_describe(name, cls) for name, cls in SCHEDULES.items()),
        "",
        "Parameters are given as --param KEY=VALUE (repeatable); lists as",
        "--param milestones=10,20; None as --param step_size_down=none.",
        "Epoch-based schedules (step, exponential, sgdr, snapshot) count",
        "--steps-per-epoch steps per epoch (default 1: every step is an epoch);",
        "lengths left to `fit` (total_steps of onecycle and cosine, the run of",
        "snapshot) are --steps.",
        "",
        "examples:",
        f"  {PROG} schedule cyclic --steps 2000 --param max_lr=0.01 --param step_size=500",
        f"  {PROG} schedule onecycle --steps 1000 --param max_lr=0.1 --out onecycle.png",
        f"  {PROG} schedule sgdr --steps 700 --steps-per-epoch 10 "
        "--param min_lr=0 --param max_lr=0.1 --out sgdr.csv",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Learning-rate tools for Keras 3: a demo report on real data, the range "
            "test on your saved model, and previews of every schedule."
        ),
        epilog=f"Run `{PROG} COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="store_true", help="print versions and the backend")
    backend_help = "Keras backend to run on (default: KERAS_BACKEND, else Keras's config)"
    parser.add_argument("--backend", choices=BACKENDS, help=backend_help)
    # The subcommands take --backend too; SUPPRESS keeps a top-level value.
    common = _Parser(add_help=False)
    common.add_argument("--backend", choices=BACKENDS, default=argparse.SUPPRESS, help=backend_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    defaults = argparse.ArgumentDefaultsHelpFormatter

    demo = sub.add_parser(
        "demo",
        parents=[common],
        formatter_class=defaults,
        help="range test, then every schedule and a snapshot ensemble on digits; writes a report",
        description=(
            "Runs the range test on scikit-learn's 8x8 digits (shipped with scikit-learn, no "
            "download), then trains the same network from the same initial weights with a "
            "constant rate, StepDecay, CyclicLR, SGDRScheduler, OneCycleLR and a "
            "SnapshotEnsemble for the same number of epochs, and writes plots, CSV histories, "
            "report.md and a self-contained report.html to OUT. Needs scikit-learn: "
            'pip install "keras-lr[examples]".'
        ),
    )
    demo.add_argument("--out", default="keras_lr_demo", help="folder for the report")
    demo.add_argument(
        "--epochs",
        type=_int_at_least(1, DEMO_MAX_EPOCHS, "the demo would run for hours"),
        default=28,
        help="epochs of every training run",
    )
    demo.add_argument("--batch-size", type=_positive_int, default=32, help="batch size")
    demo.add_argument(
        "--seed",
        type=_int_at_least(0, MAX_SEED, "NumPy and scikit-learn seeds are 32-bit"),
        default=0,
        help="seed of the split, weights, shuffling",
    )
    demo.add_argument(
        "--snapshots", type=_positive_int, default=4, help="snapshots in the ensemble"
    )
    demo.set_defaults(handler=cmd_demo)

    find = sub.add_parser(
        "find",
        parents=[common],
        formatter_class=defaults,
        help="the range test on a saved, compiled model and arrays from an .npz file",
        description=(
            "Loads MODEL (saved with model.save after model.compile) and DATA (an .npz file "
            "with arrays `x` and `y`), runs keras_lr.find_lr, prints every suggestion and the "
            "CyclicLR bounds, and writes lr_finder.csv and lr_finder.png to OUT. The model "
            "file is not changed."
        ),
    )
    find.add_argument("model", metavar="MODEL.keras", help="a compiled model saved with model.save")
    find.add_argument(
        "data", metavar="DATA.npz", help="arrays x and y (numpy.savez(path, x=x, y=y))"
    )
    find.add_argument("--batch-size", type=_positive_int, default=32, help="batch size")
    find.add_argument("--min-lr", type=_learning_rate, default=1e-7, help="first rate")
    find.add_argument("--max-lr", type=_learning_rate, default=10.0, help="last rate")
    find.add_argument(
        "--num-steps", type=_step_count, default=100, help=f"steps of the test (<= {MAX_STEPS})"
    )
    find.add_argument(
        "--mode", choices=("exponential", "linear"), default="exponential", help="rate spacing"
    )
    find.add_argument("--out", default="keras_lr_find", help="folder for the plot and CSV")
    find.set_defaults(handler=cmd_find)

    sched = sub.add_parser(
        "schedule",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="preview a schedule's rates without training (CSV or plot)",
        description=(
            "Prints the rate of steps 0..N-1 as CSV (step,lr) without training, or writes\n"
            "it to --out: a .csv file, or a plot for any other ending (.png, .svg, .pdf)."
        ),
        epilog=_schedule_epilog(),
    )
    sched.add_argument("name", metavar="NAME", help="one of: " + ", ".join(SCHEDULES))
    sched.add_argument(
        "--steps", type=_step_count, required=True, help=f"number of steps N (<= {MAX_STEPS})"
    )
    sched.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument (repeatable)",
    )
    sched.add_argument(
        "--steps-per-epoch",
        type=_step_count,
        default=1,
        help="steps per epoch for epoch-based schedules (default: 1)",
    )
    sched.add_argument("--out", help="write a .csv file or a plot (.png) instead of printing")
    sched.add_argument("--log-scale", action="store_true", help="log rate axis in the plot")
    sched.set_defaults(handler=cmd_schedule)
    return parser


def _switch_backend(name: str, argv: Sequence[str]) -> int:
    """Runs `argv` again in a fresh process on backend `name`; returns its status."""
    if os.environ.get(_SWITCHED):
        raise CLIError(
            f"could not switch to the {name} backend: Keras still loaded "
            f"{keras.backend.backend()} (check ~/.keras/keras.json and KERAS_BACKEND)",
            code=1,
        )
    if importlib.util.find_spec(name) is None:
        raise CLIError(
            f'the {name} backend is not installed: pip install "keras-lr[{name}]"', code=1
        )
    env = dict(os.environ, KERAS_BACKEND=name, **{_SWITCHED: "1"})
    return subprocess.call([sys.executable, "-m", "keras_lr", *argv], env=env)


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help
        return int(done.code or 0)
    if args.backend and args.backend != keras.backend.backend():
        return _switch_backend(args.backend, argv)
    if args.version:
        print(
            f"keras-lr {keras_lr.__version__} (Keras {keras.__version__}, "
            f"backend {keras.backend.backend()})"
        )
        return 0
    if args.command is None:
        raise CLIError(f"a command is required: demo, find or schedule (see `{PROG} --help`)")
    return args.handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `keras-lr` command line and returns the exit status.

    Args:
        argv: the arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 on a runtime failure, 2 on a usage error or bad input.

    Example:
        >>> from keras_lr.cli._main import main
        >>> main(["schedule", "cyclic", "--steps", "3", "--param", "step_size=2"])
        step,lr
        0,0.001
        1,0.0035
        2,0.006
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except CLIError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        # A file that cannot be written (permissions, full disk): the
        # system's message says it all.
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - anything else is a bug: show where
        traceback.print_exc()
        print(f"{PROG}: error: {type(err).__name__}: {one_line(err)}", file=sys.stderr)
        return 1
