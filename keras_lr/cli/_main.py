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

import importlib.util
import os
import subprocess
import sys
import traceback
from collections.abc import Sequence

import keras

import keras_lr
from keras_lr.cli._commands import COMMANDS
from keras_lr.cli._errors import PROG, CLIError, one_line
from keras_lr.cli._parsing import build_parser

__all__ = ["main"]

# Set in the child of a backend switch, so a switch that does not take
# effect fails instead of starting processes forever.
_SWITCHED = "KERAS_LR_CLI_BACKEND_SWITCHED"


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
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `keras-lr` command line and returns the exit status.

    Args:
        argv: the arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 on a runtime failure, 2 on a usage error or bad input.

    Example:
        >>> from keras_lr.cli import main
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
