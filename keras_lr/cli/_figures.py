"""The figures of `keras-lr demo`, each written to a PNG file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import keras_lr
from keras_lr.cli._files import save_figure
from keras_lr.cli._runs import TARGET, Run
from keras_lr.plots import _new_figure


def finder_figure(finder, rate, base, peak, path: Path) -> None:
    """The range test's curve with the CyclicLR bounds shaded."""
    fig, ax = _new_figure((7, 4))
    finder.plot(ax=ax)
    ax.axvspan(base, peak, color="C2", alpha=0.1, label=f"CyclicLR bounds {base:.2g}..{peak:.2g}")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"Range test on digits: constant rate {rate:.3g}, peak rate {peak:.3g}")
    save_figure(fig, path)


def schedules_figure(runs: list[Run], spe: int, path: Path) -> None:
    """The rate of every run at every step, one panel per run, in epochs."""
    cols = 3
    rows = math.ceil(len(runs) / cols)
    fig, axes = _new_figure((4 * cols, 2.8 * rows), rows, cols)
    axes = np.asarray(axes).ravel()
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


def run_figure(run: Run, path: Path) -> None:
    """One run's rates per step with its training loss (`plot_history`)."""
    fig, ax = _new_figure()
    keras_lr.plot_history(run.callback, ax=ax)
    name = run.label.split(" (")[0]  # "SnapshotEnsemble (last snapshot)" -> the callback
    ax.set_title(f"{name}: {run.settings.replace('`', '')}", fontsize="medium")
    save_figure(fig, path)


def training_figure(runs: list[Run], ensemble: Run, path: Path) -> None:
    """Loss and test accuracy per epoch of every run, and the ensemble's accuracy."""
    fig, (loss_ax, acc_ax) = _new_figure((12, 4.2), 1, 2)
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
