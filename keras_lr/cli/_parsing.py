"""The `keras-lr` argument parser: commands, options and the bounds of their values."""

from __future__ import annotations

import argparse
import math

import numpy as np

from keras_lr.cli import _specs
from keras_lr.cli._errors import PROG, CLIError

BACKENDS = ("tensorflow", "jax", "torch")

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
# `demo --seed` seeds NumPy and scikit-learn, which take 0 .. 2**32 - 1; so
# must the last of `--seeds` (checked with the data, `_demo.run`).
MAX_SEED = 2**32 - 1
# `demo --seeds`: every seed runs the whole demo again (about 30 s at the
# defaults), so 100 seeds are most of an hour; the spread of a mean is known
# well long before that.
DEMO_MAX_SEEDS = 100
# `find --min-lr/--max-lr`: the optimizer keeps its rate in a float32
# variable, which turns 1e300 into inf and 1e-300 into 0.  Held as Python
# floats: comparing with NumPy's float32 values would cast to float32.
_F32_MIN, _F32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


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


def _schedule_epilog() -> str:
    lines = [
        "schedules and their parameters (defaults from the constructors):",
        *(_specs.describe(name) for name in _specs.SPECS),
        "",
        "Parameters are given as --param KEY=VALUE (repeatable); lists as",
        "--param milestones=10,20; None as --param step_size_down=none.",
        "Epoch-based schedules (step, exponential, sgdr, snapshot) count",
        "--steps-per-epoch steps per epoch (default 1: every step is an epoch);",
        "lengths left to `fit` (total_steps of onecycle, cosine, polynomial and wsd,",
        "the run of snapshot) are --steps, and so is the run a fractional warmup_steps",
        "or decay_steps (0.1) is taken of. Old parameter names (steps of linear,",
        "max_steps of polynomial, lr_high and lr_low of fge) still work, with a warning.",
        "",
        "examples:",
        f"  {PROG} schedule cyclic --steps 2000 --param max_lr=0.01 --param step_size=500",
        f"  {PROG} schedule onecycle --steps 1000 --param max_lr=0.1 --out onecycle.png",
        f"  {PROG} schedule sgdr --steps 700 --steps-per-epoch 10 "
        "--param min_lr=0 --param max_lr=0.1 --out sgdr.csv",
    ]
    return "\n".join(lines)


def _add_demo(sub, common) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        "--seeds",
        type=_int_at_least(1, DEMO_MAX_SEEDS, "each seed runs the whole demo again"),
        default=1,
        help="run everything on seeds SEED .. SEED+N-1 and report mean ± std, and which "
        "differences are larger than the spread",
        metavar="N",
    )
    demo.add_argument(
        "--snapshots", type=_positive_int, default=4, help="snapshots in the ensemble"
    )


def _add_find(sub, common) -> None:
    find = sub.add_parser(
        "find",
        parents=[common],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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


def _add_schedule(sub, common) -> None:
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
    sched.add_argument("name", metavar="NAME", help="one of: " + ", ".join(_specs.SPECS))
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


def build_parser() -> argparse.ArgumentParser:
    """The `keras-lr` parser; `args.command` names the subcommand (None when none is given)."""
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
    _add_demo(sub, common)
    _add_find(sub, common)
    _add_schedule(sub, common)
    return parser
