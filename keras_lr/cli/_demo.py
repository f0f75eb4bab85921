"""`keras-lr demo`: the range test and every schedule on the 8x8 digits, one report.

The digits ship inside scikit-learn (no download).  The range test picks the
rates; then the same small network, from the same initial weights and with
the same shuffling, trains for the same number of epochs under each
schedule, and once more as a snapshot ensemble.  The test set is only
reported on (per epoch, as `validation_data`): nothing is tuned on it.

Written to the output folder: PNG plots, one CSV history per run,
`results.csv`, `report.md` and a self-contained `report.html` (the plots
inline as base64 PNG).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_lr
from keras_lr import schedules as S
from keras_lr.cli._main import CLIError, new_axes, output_folder, save_figure, write_csv

TARGET = 0.95  # the test accuracy whose first epoch the report gives
FINDER = dict(min_lr=1e-6, max_lr=10.0, num_steps=100)
NOT_REACHED = "not reached"


@dataclasses.dataclass
class Run:
    """One training run of the demo and what it measured."""

    key: str  # file names: history_<key>.csv, lr_<key>.png
    label: str
    settings: str
    callback: Any
    epochs: Any = None  # DataFrame, one row per epoch
    seconds: float = 0.0
    accuracy: float = math.nan
    loss: float = math.nan
    reached: int | None = None


def load_digits(seed: int):
    """((x_train, y_train), (x_test, y_test)): 75/25 stratified, pixels in [0, 1]."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise CLIError(
            'the demo needs scikit-learn: pip install "keras-lr[examples]"', code=1
        ) from None
    digits = sk_load_digits()
    x = (digits.data / 16.0).astype("float32")  # pixel intensities run 0..16
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)


def _network() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _compiled(initial_weights, rate: float) -> keras.Model:
    model = _network()
    model.set_weights(initial_weights)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _interactive() -> bool:
    return sys.stdout.isatty()


class _EpochBar(keras.callbacks.Callback):
    """A progress bar over epochs: one line per run (redrawn on a terminal)."""

    def __init__(self, epochs: int):
        super().__init__()
        names = ["loss", "accuracy", "test_accuracy", "lr"]
        self.bar = keras.utils.Progbar(
            epochs,
            verbose=1 if _interactive() else 2,
            stateful_metrics=names,
            unit_name="epoch",
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        values = [
            (name, float(logs[key]))
            for name, key in (
                ("loss", "loss"),
                ("accuracy", "accuracy"),
                ("test_accuracy", "val_accuracy"),
                ("lr", "learning_rate"),
            )
            if key in logs
        ]
        self.bar.update(epoch + 1, values)


def _first_reached(accuracies, epochs=None) -> int | None:
    """The first epoch (1-based, or from `epochs`) whose accuracy is >= TARGET."""
    for i, acc in enumerate(accuracies):
        if acc >= TARGET:
            return int(epochs[i]) if epochs is not None else i + 1
    return None


def _train(run: Run, initial, data, test, epochs: int, batch_size: int, seed: int):
    model = _compiled(initial, 0.01)  # the callback sets the rate from step 0
    keras.utils.set_random_seed(seed)  # the same shuffling in every run
    start = time.perf_counter()
    fit = model.fit(
        *data,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=test,
        # One batch: one compiled shape (JAX compiles each) and fewer steps.
        validation_batch_size=len(test[0]),
        callbacks=[run.callback, _EpochBar(epochs)],
        verbose=0,
    )
    run.seconds = time.perf_counter() - start
    import pandas as pd

    logs = fit.history
    run.epochs = pd.DataFrame(
        {
            "epoch": np.arange(1, len(logs["loss"]) + 1),
            "lr": logs["learning_rate"],
            "loss": logs["loss"],
            "accuracy": logs["accuracy"],
            "test_loss": logs["val_loss"],
            "test_accuracy": logs["val_accuracy"],
        }
    )
    run.loss, run.accuracy = (float(logs[k][-1]) for k in ("val_loss", "val_accuracy"))
    run.reached = _first_reached(logs["val_accuracy"])
    return model


def _ensemble_run(snap_run: Run, model, test, steps_per_epoch: int, n: int) -> Run:
    """The snapshot ensemble evaluated on the test set, with the epoch it first hit TARGET."""
    start = time.perf_counter()
    paths = snap_run.callback.snapshot_paths
    ensemble = keras_lr.load_ensemble(model, paths)
    scores = ensemble.evaluate(*test, batch_size=len(test[0]), verbose=0, return_dict=True)
    # The ensemble of the first k snapshots exists from snapshot k's step on.
    probe = keras.models.clone_model(model)
    mean = 0.0
    accuracies = []
    for k, path in enumerate(paths):
        probe.load_weights(path)
        mean = mean + (probe.predict(test[0], batch_size=len(test[0]), verbose=0) - mean) / (k + 1)
        accuracies.append(float(np.mean(np.argmax(mean, axis=-1) == test[1])))
    steps = snap_run.callback.manifest["step"].to_numpy()
    snap_epochs = np.ceil(steps / steps_per_epoch).astype(int)
    run = Run(
        key="snapshot_ensemble",
        label=f"snapshot ensemble (M={len(paths)})",
        settings="mean of the snapshots' outputs, `load_ensemble`",
        callback=None,
        accuracy=float(scores["accuracy"]),
        loss=float(scores["loss"]),
        reached=_first_reached(accuracies, snap_epochs),
        seconds=snap_run.seconds + time.perf_counter() - start,
    )
    run.epochs = {"epoch": snap_epochs, "test_accuracy": np.array(accuracies)}
    print(
        f"      ensemble of {len(paths)} snapshots: test accuracy {run.accuracy:.4f}, "
        f"log loss {run.loss:.4f}"
    )
    return run


def _range_test(initial, data, batch_size: int):
    model = _compiled(initial, 0.01)
    finder = keras_lr.find_lr(
        model, *data, batch_size=batch_size, verbose=1 if _interactive() else 0, **FINDER
    )
    try:
        rate = finder.suggestion()
    except ValueError:
        rate = 0.01  # a curve too short to read: Keras's default SGD rate
    try:
        base, peak = finder.cyclic_bounds()
    except ValueError:
        base, peak = rate, 10 * rate
    return finder, rate, base, peak


def _schedule_runs(rate, base, peak, epochs, spe, n_snapshots, out: Path) -> list[Run]:
    total = epochs * spe
    milestones = sorted({m for m in (epochs // 2, 3 * epochs // 4) if m > 0})
    step_size = max(1, total // 4)  # two whole cycles: training ends at base_lr
    cycle = max(1, epochs // 7)  # cycles of c, 2c and 4c epochs fill 7c
    return [
        Run(
            "constant",
            "constant rate",
            f"{rate:.3g} (the range test's suggestion)",
            keras_lr.ScheduleCallback(S.Constant(rate)),
        ),
        Run(
            "step_decay",
            "StepDecay",
            f"{peak:.3g}, x0.1 at epochs {', '.join(map(str, milestones)) or 'none'}",
            keras_lr.StepDecay(peak, 0.1, step_size=epochs + 1, milestones=milestones or None),
        ),
        Run(
            "cyclic",
            "CyclicLR",
            f"triangular {base:.3g} .. {peak:.3g}, step_size={step_size}",
            keras_lr.CyclicLR(base, peak, step_size=step_size),
        ),
        Run(
            "sgdr",
            "SGDRScheduler",
            f"{peak:.3g} to 0, cycles of {cycle}, {2 * cycle}, {4 * cycle}... epochs",
            keras_lr.SGDRScheduler(0.0, peak, cycle_length=cycle, mult_factor=2.0),
        ),
        Run(
            "one_cycle",
            "OneCycleLR",
            f"max_lr={peak:.3g}, up for 30% of the steps",
            keras_lr.OneCycleLR(peak),
        ),
        Run(
            "snapshot",
            "SnapshotEnsemble (last snapshot)",
            f"{n_snapshots} cosine cycles from {peak:.3g}",
            keras_lr.SnapshotEnsemble(
                n_snapshots, max_lr=peak, directory=out / "snapshots", overwrite=True
            ),
        ),
    ]


# -- figures ----------------------------------------------------------------------


def _finder_figure(finder, rate, base, peak, path: Path) -> None:
    fig, ax = new_axes((7, 4))
    finder.plot(ax=ax)
    ax.axvspan(base, peak, color="C2", alpha=0.1, label=f"CyclicLR bounds {base:.2g}..{peak:.2g}")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"Range test on digits: constant rate {rate:.3g}, peak rate {peak:.3g}")
    save_figure(fig, path)


def _schedules_figure(runs: list[Run], spe: int, path: Path) -> None:
    from matplotlib.figure import Figure

    cols = 3
    rows = math.ceil(len(runs) / cols)
    fig = Figure(figsize=(4 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, run in zip(axes, runs):
        frame = run.callback.history
        ax.plot(frame["step"] / spe, frame["lr"], color="C0")
        if run.key == "snapshot":
            snaps = run.callback.manifest
            ax.plot(snaps["step"] / spe, snaps["lr"], "v", color="C3", label="snapshot")
            ax.legend(fontsize="small")
        ax.set_title(run.label, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    fig.suptitle("Learning rate at every optimizer step")
    save_figure(fig, path)


def _run_figure(run: Run, path: Path) -> None:
    fig, ax = new_axes()
    keras_lr.plot_history(run.callback, ax=ax)
    name = run.label.split(" (")[0]  # "SnapshotEnsemble (last snapshot)" -> the callback
    ax.set_title(f"{name}: {run.settings.replace('`', '')}", fontsize="medium")
    save_figure(fig, path)


def _training_figure(runs: list[Run], ensemble: Run, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, run in enumerate(runs):
        frame = run.epochs
        color = f"C{i}"
        loss_ax.plot(frame["epoch"], frame["loss"], color=color, label=f"{run.label} (train)")
        loss_ax.plot(frame["epoch"], frame["test_loss"], color=color, ls="--")
        acc_ax.plot(frame["epoch"], frame["test_accuracy"], color=color, label=run.label)
    acc_ax.plot(
        ensemble.epochs["epoch"],
        ensemble.epochs["test_accuracy"],
        "D-",
        color="k",
        ms=5,
        label=ensemble.label,
    )
    acc_ax.axhline(TARGET, color="0.5", lw=0.8, ls=":")
    loss_ax.set_yscale("log")
    loss_ax.set_title("loss per epoch (solid: training, dashed: test)", fontsize="medium")
    acc_ax.set_title("test accuracy per epoch", fontsize="medium")
    low = min(float(np.min(run.epochs["test_accuracy"])) for run in runs)
    acc_ax.set_ylim(max(0.0, min(low, TARGET) - 0.02), 1.0)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    loss_ax.legend(fontsize="small")
    acc_ax.legend(fontsize="small", loc="lower right")
    save_figure(fig, path)


# -- report -----------------------------------------------------------------------

HEADER = (
    "run",
    "settings",
    "final test accuracy",
    "final test loss",
    f"epochs to {TARGET:.0%}",
    "wall time (s)",
)


def results_rows(runs: list[Run]) -> list[tuple[str, ...]]:
    return [
        (
            run.label,
            run.settings,
            f"{run.accuracy:.4f}",
            f"{run.loss:.4f}",
            str(run.reached) if run.reached is not None else NOT_REACHED,
            f"{run.seconds:.1f}",
        )
        for run in runs
    ]


def _markdown(blocks) -> str:
    out = []
    for kind, *body in blocks:
        if kind in ("h1", "h2"):
            out.append(("#" if kind == "h1" else "##") + f" {body[0]}")
        elif kind == "p":
            out.append(body[0])
        elif kind == "table":
            header, rows = body
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(row) + " |" for row in rows]
        elif kind == "img":
            out.append(f"![{body[1]}]({body[0].name})")
        out.append("")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


def _html(blocks, title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "td:nth-child(n+3){text-align:right}img{max-width:100%}</style>",
        "</head><body>",
    ]
    for kind, *body in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{_inline(body[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(body[0])}</p>")
        elif kind == "table":
            header, rows = body
            out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr>")
            for row in rows:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        elif kind == "img":
            data = base64.b64encode(body[0].read_bytes()).decode("ascii")
            out.append(
                f'<p><img alt="{html.escape(body[1])}" src="data:image/png;base64,{data}"></p>'
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _report(out: Path, info: dict, finder, runs, ensemble, images) -> Path:
    suggestions = ", ".join(
        f"{method} {rate:.3g}"
        for method, rate in finder.suggestions().items()
        if math.isfinite(rate)
    )
    title = "keras_lr demo: learning-rate schedules on the 8x8 digits"
    blocks = [
        ("h1", title),
        (
            "p",
            f"Backend {info['backend']} (Keras {keras.__version__}, keras_lr "
            f"{keras_lr.__version__}). scikit-learn's digits: {info['n_train']} training and "
            f"{info['n_test']} test images (stratified split, seed {info['seed']}). A 64-64-10 "
            f"network, SGD with momentum 0.9, batch size {info['batch_size']}, "
            f"{info['epochs']} epochs of {info['spe']} steps for every run, all from the same "
            "initial weights with the same shuffling. The test set is evaluated after every "
            "epoch for this report only; nothing is tuned on it.",
        ),
        ("h2", "Range test"),
        (
            "p",
            f"`find_lr` from {FINDER['min_lr']:g} to {FINDER['max_lr']:g} over "
            f"{FINDER['num_steps']} steps (the model is restored afterwards): suggestions "
            f"{suggestions or 'none'}. The constant run uses the default suggestion "
            f"({info['rate']:.3g}); `cyclic_bounds()` gives {info['base']:.3g} .. "
            f"{info['peak']:.3g}, and the upper bound is the top rate of every schedule.",
        ),
        ("img", images["finder"], "range test"),
        ("h2", "Results"),
        ("table", HEADER, results_rows(runs + [ensemble])),
        (
            "p",
            f"Final test accuracy and loss after the last epoch; epochs to {TARGET:.0%}: the "
            f"first epoch after which the test accuracy is at least {TARGET} ("
            f'"{NOT_REACHED}" if never; for the ensemble, the epoch of the first snapshot '
            "whose ensemble with the earlier ones reaches it). Wall time: `fit` with the "
            "per-epoch test evaluation; for the ensemble, the snapshot run plus building and "
            "evaluating the ensemble.",
        ),
        ("h2", "Training curves"),
        ("img", images["training"], "loss and test accuracy per epoch"),
        ("h2", "Learning rates"),
        ("img", images["schedules"], "learning rate of every run"),
        (
            "p",
            "Each run's rates per step, with its training loss per epoch "
            "(`keras_lr.plot_history`):",
        ),
        *[("img", images[run.key], run.label) for run in runs],
        ("h2", "Files"),
        (
            "p",
            "`history_<run>.csv`: each run's `callback.history` (rate per step, epoch logs on "
            "each epoch's last step; `val_` columns are the test set). `results.csv`: the "
            "table above. `snapshots/`: the snapshot weights and `manifest.json`. "
            "`lr_finder.csv`: the range test.",
        ),
    ]
    (out / "report.html").write_text(_html(blocks, title))
    path = out / "report.md"
    path.write_text(_markdown(blocks))
    return path


def run(
    out: Path,
    epochs: int = 28,
    batch_size: int = 32,
    seed: int = 0,
    n_snapshots: int = 4,
) -> Path:
    """Runs the demo and writes its files to `out`; returns the path of report.md.

    Raises:
        CLIError: scikit-learn is missing, `out` is not a folder, or the batch
            size or the number of snapshots does not fit the data.
    """
    (x_train, y_train), test = load_digits(seed)
    if batch_size > len(x_train):
        raise CLIError(f"--batch-size {batch_size} exceeds the {len(x_train)} training images")
    spe = math.ceil(len(x_train) / batch_size)
    if n_snapshots > epochs * spe:
        raise CLIError(f"--snapshots {n_snapshots} exceeds the {epochs * spe} training steps")
    output_folder(out)
    keras.utils.set_random_seed(seed)
    initial = _network().get_weights()  # every run starts from these
    total = 8  # the range test, six schedules, the ensemble
    start = time.perf_counter()

    print(f"[1/{total}] range test (find_lr), {keras.backend.backend()} backend", flush=True)
    finder, rate, base, peak = _range_test(initial, (x_train, y_train), batch_size)
    print(
        f"      suggestion {rate:.3g}, CyclicLR bounds {base:.3g} .. {peak:.3g}",
        flush=True,
    )
    finder.to_csv(out / "lr_finder.csv")
    images = {"finder": out / "lr_finder.png"}
    _finder_figure(finder, rate, base, peak, images["finder"])

    runs = _schedule_runs(rate, base, peak, epochs, spe, n_snapshots, out)
    model = None
    for i, run_ in enumerate(runs, start=2):
        print(f"[{i}/{total}] {run_.label}: {run_.settings.replace('`', '')}", flush=True)
        model = _train(run_, initial, (x_train, y_train), test, epochs, batch_size, seed)
        run_.callback.history.to_csv(out / f"history_{run_.key}.csv", index=False)
        images[run_.key] = out / f"lr_{run_.key}.png"
        _run_figure(run_, images[run_.key])
    print(f"[{total}/{total}] snapshot ensemble (load_ensemble)", flush=True)
    ensemble = _ensemble_run(runs[-1], model, test, spe, n_snapshots)

    images["schedules"] = out / "schedules.png"
    _schedules_figure(runs, spe, images["schedules"])
    images["training"] = out / "training.png"
    _training_figure(runs, ensemble, images["training"])
    write_csv(
        out / "results.csv",
        ("run", "test_accuracy", "test_loss", "epochs_to_target", "seconds"),
        [
            (r.key, r.accuracy, r.loss, "" if r.reached is None else r.reached, r.seconds)
            for r in runs + [ensemble]
        ],
    )
    info = dict(
        backend=keras.backend.backend(),
        n_train=len(x_train),
        n_test=len(test[0]),
        seed=seed,
        batch_size=batch_size,
        epochs=epochs,
        spe=spe,
        rate=rate,
        base=base,
        peak=peak,
    )
    report = _report(out, info, finder, runs, ensemble, images)
    print()
    print(_markdown([("table", HEADER, results_rows(runs + [ensemble]))]).rstrip())
    print(f"\ndone in {time.perf_counter() - start:.0f} s; report.html beside report.md")
    return report
