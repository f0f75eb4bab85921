"""Validation loss of schedule-free AdamW at the average x against the training point y.

    python benchmarks/schedule_free_eval.py                        # jax, 3 seeds, 30 epochs
    python benchmarks/schedule_free_eval.py --backends jax tensorflow torch --lr 0.0025 0.01

The 8x8 digits of scikit-learn (no download; the split of the examples),
a Dense 64 relu -> Dense 10 softmax MLP, `keras.optimizers.ScheduleFreeAdamW`
at each rate of `--lr` (default: Keras's 0.0025), batch 32.  Each seed trains twice from the same
weights, with `shuffle=False` so that the two runs see the same batches:
without `ScheduleFreeEval` (validation at y, as Keras does) and with it
(validation at x).  The two runs train bit for bit alike
(tests/test_schedule_free.py), so the two validation losses of an epoch are
those of one model's y and x.  Each backend runs in its own process; the
report (Markdown, and the raw figures as JSON beside it) goes to `--out`.

This measures quality, not speed: `benchmarks/run.py` times the callbacks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "SCHEDULE-FREE-RESULT "
SHOWN = (1, 2, 3, 5, 10, 20, 30, 50, 100)


def train(seed: int, epochs: int, lr: float) -> dict:
    """Per-epoch validation loss and accuracy at y and at x for one seed."""
    import keras
    import numpy as np

    import keras_lr
    from keras_lr._data import load_digits
    from keras_lr.ensembles import ScheduleFreeEval

    (x_train, y_train), (x_test, y_test) = load_digits(0)
    runs = {}
    for point, callbacks in (("y", []), ("x", [ScheduleFreeEval()])):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.ScheduleFreeAdamW(lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        # Keras 3.15 on TensorFlow starts z at 0 when the optimizer is built
        # inside the first step; built here, z starts at the weights.
        model.optimizer.build(model.trainable_variables)
        history = model.fit(
            x_train,
            y_train,
            batch_size=32,
            epochs=epochs,
            shuffle=False,
            validation_data=(x_test, y_test),
            callbacks=callbacks,
            verbose=0,
        )
        runs[point] = {
            "loss": history.history["loss"],
            "val_loss": history.history["val_loss"],
            "val_accuracy": history.history["val_accuracy"],
        }
    same = bool(np.array_equal(runs["x"]["loss"], runs["y"]["loss"]))
    return {"seed": seed, "same_training_loss": same, **runs, "keras_lr": keras_lr.__version__}


def worker(seeds: list[int], epochs: int, lr: float) -> None:
    import keras

    rows = [train(seed, epochs, lr) for seed in seeds]
    backend = keras.backend.backend()
    version = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
    versions = {"keras": keras.__version__, backend: version.__version__}
    print(MARK + json.dumps({"versions": versions, "rows": rows}))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def report(results: dict, epochs: int) -> str:
    import numpy as np

    versions: dict = {}
    for result in results.values():
        versions.update(result["versions"])
    seeds = sorted({row["seed"] for r in results.values() for row in r["rows"]})
    parts = [
        "# Schedule-free AdamW: validation at y (Keras) and at x (ScheduleFreeEval)",
        "",
        f"- digits 1347 train / 450 validation, Dense 64 relu -> Dense 10 softmax, batch 32, "
        f"{epochs} epochs, ScheduleFreeAdamW(learning_rate=lr), other arguments Keras's "
        "defaults (beta_1 0.9, no warm-up, no weight decay), optimizer built before `fit`",
        f"- seeds {', '.join(map(str, seeds))}; shuffle=False; "
        "`python benchmarks/schedule_free_eval.py`",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, CPU only; versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "Mean over seeds of the validation loss (accuracy in brackets); 'x lower' counts "
        "the seeds whose loss at x is below the loss at y in that epoch.",
    ]
    for run, result in results.items():
        rows_ = result["rows"]
        same = all(row["same_training_loss"] for row in rows_)
        table = []
        for epoch in [e for e in SHOWN if e <= epochs]:
            k = epoch - 1
            at_y = np.array([row["y"]["val_loss"][k] for row in rows_])
            at_x = np.array([row["x"]["val_loss"][k] for row in rows_])
            acc_y = np.mean([row["y"]["val_accuracy"][k] for row in rows_])
            acc_x = np.mean([row["x"]["val_accuracy"][k] for row in rows_])
            table.append(
                [
                    str(epoch),
                    f"{at_y.mean():.4f} ({acc_y:.3f})",
                    f"{at_x.mean():.4f} ({acc_x:.3f})",
                    f"{int((at_x < at_y).sum())}/{len(rows_)}",
                ]
            )
        parts += [
            "",
            f"## {run}",
            "",
            f"Training losses of the two runs identical in every epoch: {same}.",
            "",
            _table(["epoch", "val loss at y", "val loss at x", "x lower"], table),
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["jax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", nargs="+", type=float, default=[0.0025], help="rates to run")
    parser.add_argument("--out", default=os.path.join(HERE, "results-schedule-free.md"))
    parser.add_argument(
        "--render",
        nargs="+",
        metavar="JSON",
        help="merge results .json files into a report; no runs",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        results = {}
        for path in args.render:
            with open(path) as f:
                results.update(json.load(f))
        epochs = {len(row["x"]["val_loss"]) for r in results.values() for row in r["rows"]}
        return _write(results, max(epochs), args.out)
    if args.worker:
        worker(args.seeds, args.epochs, args.lr[0])
        return 0
    results = {}
    for backend in args.backends:
        for lr in args.lr:
            cmd = [sys.executable, __file__, "--worker", "--epochs", str(args.epochs)]
            cmd += ["--lr", str(lr), "--seeds", *map(str, args.seeds)]
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
            if out.returncode or not lines:
                print(out.stderr[-4000:], file=sys.stderr)
                return 1
            results[f"{backend}, lr={lr}"] = json.loads(lines[-1][len(MARK) :])
            print(f"{backend}, lr={lr}: done", file=sys.stderr)
    return _write(results, args.epochs, args.out)


def _write(results: dict, epochs: int, out: str) -> int:
    text = report(results, epochs)
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
