"""Ensembles from one training run on the 8x8 digits: snapshots, FGE and SWA.

Four runs with the same budget of epochs, from the same initial weights:

* one model with cosine annealing (the baseline);
* `SnapshotEnsemble`: M cosine cycles, a snapshot at the end of each, and the
  ensemble that averages their outputs in one pass (`load_ensemble`);
* `FastGeometricEnsemble`: half the budget of normal training, then short
  triangular cycles with a model saved at each cycle's low point;
* `StochasticWeightAveraging`: the average of the weights of the last epochs.

It prints a table of test accuracy and log loss (each snapshot, each
ensemble, SWA, the baseline), writes it to `snapshot_ensemble.md`, and plots the snapshot
schedule with the snapshot steps marked.

Run:
    python examples/snapshot_ensemble.py --epochs 30
    KERAS_BACKEND=jax python examples/snapshot_ensemble.py --out /tmp/keras_lr
"""

import math

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, save, steps_per_epoch

import keras_lr

N_SNAPSHOTS = 5


def fresh_model(rate=0.05):
    keras.utils.set_random_seed(0)  # same initial weights in every run
    return build_model(keras.optimizers.SGD(learning_rate=rate, momentum=0.9))


def scores(model, test, name) -> tuple[str, float, float]:
    """(name, test accuracy, test log loss), printed as it comes."""
    loss, acc = model.evaluate(*test, verbose=0)
    print(f"[{name}] log loss: {loss:.4f}  test accuracy: {acc:.4f}")
    return name, float(acc), float(loss)


def main():
    args = parse_args(__doc__, epochs=30)
    (x_train, y_train), test = load_data()
    spe = steps_per_epoch(x_train)
    fit = dict(x=x_train, y=y_train, batch_size=BATCH_SIZE, verbose=0)
    rows = []

    baseline = fresh_model()
    baseline.fit(epochs=args.epochs, callbacks=[keras_lr.CosineAnnealing(0.1)], **fit)
    rows.append(scores(baseline, test, "single model, cosine annealing"))

    model = fresh_model()
    snapshots = keras_lr.SnapshotEnsemble(
        N_SNAPSHOTS, max_lr=0.2, directory=args.out / "snapshots", overwrite=True
    )
    model.fit(epochs=args.epochs, callbacks=[snapshots], **fit)
    for k, path in enumerate(snapshots.snapshot_paths):
        # A one-branch ensemble loads just the model's weights from the file.
        single = keras_lr.load_ensemble(model, [path])
        rows.append(scores(single, test, f"snapshot {k + 1} of {N_SNAPSHOTS}"))
    rows.append(scores(snapshots.ensemble(), test, f"snapshot ensemble (M={N_SNAPSHOTS})"))

    model = fresh_model()
    pretrain = max(1, args.epochs // 2)
    model.fit(epochs=pretrain, callbacks=[keras_lr.CosineAnnealing(0.1, min_lr=0.01)], **fit)
    # Cycles of 2 epochs (1 when the run is too short to fit two), even length.
    cycle_epochs = 2 if args.epochs - pretrain >= 4 else 1
    fge = keras_lr.FastGeometricEnsemble(
        max_lr=0.05,
        min_lr=0.005,
        cycle_steps=2 * math.ceil(cycle_epochs * spe / 2),
        directory=args.out / "fge",
        overwrite=True,
    )
    model.fit(epochs=args.epochs, initial_epoch=pretrain, callbacks=[fge], **fit)
    rows.append(scores(fge.ensemble(), test, f"FGE ensemble ({len(fge.snapshot_paths)} models)"))

    model = fresh_model(0.05)
    swa = keras_lr.StochasticWeightAveraging(start_epoch=args.epochs * 3 // 4, swa_lr=0.02)
    model.fit(epochs=args.epochs, callbacks=[swa], **fit)
    keras_lr.update_bn(model, x_train)  # no BatchNorm here: a no-op, shown for completeness
    rows.append(scores(model, test, f"SWA (average of {swa.n_averaged} epochs)"))

    width = max(len(name) for name, _, _ in rows)
    table = [
        f"| {'run':<{width}} | test accuracy | test log loss |",
        f"|{'-' * (width + 2)}|---------------|---------------|",
    ]
    table += [f"| {name:<{width}} | {acc:13.4f} | {loss:13.4f} |" for name, acc, loss in rows]
    text = "\n".join(table)
    print(f"\n{args.epochs} epochs each, {keras.backend.backend()} backend\n\n{text}")
    (args.out / "snapshot_ensemble.md").write_text(text + "\n")

    steps = args.epochs * spe
    ax = keras_lr.plot_schedule(snapshots, steps, label="SnapshotEnsemble rate")
    last_steps = (
        snapshots.manifest["step"].to_numpy() - 1
    )  # a snapshot follows its cycle's last step
    ax.plot(last_steps, snapshots.rates(last_steps), "v", ms=9, color="C3", label="snapshot saved")
    ax.legend()
    ax.set_title(f"SnapshotEnsemble(n_snapshots={N_SNAPSHOTS}, max_lr=0.2)")
    save(ax.figure, args.out, "snapshot_ensemble.png")


if __name__ == "__main__":
    main()
