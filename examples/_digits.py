"""Shared scaffolding for the keras_lr examples: command line, data, model, output.

Not part of keras_lr.  It keeps each example down to the callback it shows:
the 8x8 digits that ship with scikit-learn (no download), a small MLP, and
one function each for the report and the figure.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

# Examples write PNG files and never open a window, also on headless machines.
matplotlib.use("Agg")

import keras  # noqa: E402

from keras_lr._data import load_digits  # noqa: E402

SEED = 0
BATCH_SIZE = 32


def parse_args(doc: str, epochs: int) -> argparse.Namespace:
    """`--epochs` (default `epochs`) and `--out` (created if missing)."""
    parser = argparse.ArgumentParser(
        description=doc.strip().splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=epochs, help="epochs per fit")
    parser.add_argument("--out", type=Path, default=Path("examples_out"), help="folder for the PNG")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def load_data():
    """Digits as ((x_train, y_train), (x_test, y_test)), pixels scaled to [0, 1].

    The same 75/25 stratified split as `keras-lr demo` (one loader for both).
    """
    return load_digits(SEED)


def steps_per_epoch(x_train) -> int:
    """Optimizer steps in one epoch at BATCH_SIZE (the last batch is partial)."""
    return math.ceil(len(x_train) / BATCH_SIZE)


def build_model(optimizer) -> keras.Model:
    """Dense 64 relu -> Dense 10 softmax, compiled with `optimizer`."""
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def report(model, test, history=None, name: str = "") -> float:
    """Prints the test accuracy and the epoch-end rows of a callback's history."""
    _, accuracy = model.evaluate(*test, verbose=0)
    prefix = f"[{name}] " if name else ""
    print(f"{prefix}test accuracy: {accuracy:.4f}")
    if history is not None:
        # Loss and metrics sit on each epoch's last step; the other rows are
        # the per-step rates, too many to print.
        rows = history.dropna(subset=["loss"]) if "loss" in history else history
        print(rows.tail(8).to_string(index=False, float_format="{:.4g}".format))
    return accuracy


def save(fig, out: Path, name: str) -> Path:
    """Writes `fig` to out/name and closes it."""
    import matplotlib.pyplot as plt

    path = Path(out) / name
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"saved {path}")
    return path
