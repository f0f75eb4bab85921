"""Plateau reduction (ReduceLROnPlateau), alone and on top of CyclicLR.

Two fits on the 8x8 digits, each on a fresh model with SGD + momentum:

* alone: a constant rate, halved whenever `val_loss` has not improved for
  2 epochs, as with Keras's own callback;
* composed: CyclicLR drives the rate and ReduceLROnPlateau scales the whole
  cycle by the factor instead of overwriting it, so the cycles keep their
  shape at a lower level.

The figure shows the rate of both runs; dotted lines mark the reductions,
which `ReduceLROnPlateau.history` lists.

Run:
    python examples/reduce_on_plateau.py --epochs 5
    KERAS_BACKEND=jax python examples/reduce_on_plateau.py --out /tmp/keras_lr
"""

import keras
import matplotlib.pyplot as plt
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch
from sklearn.model_selection import train_test_split

import keras_lr

LEARNING_RATE = 0.05


def fit(x, y, validation_data, epochs, callbacks):
    keras.utils.set_random_seed(0)
    model = build_model(keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.9))
    model.fit(
        x,
        y,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=0,
    )
    return model


def main():
    args = parse_args(__doc__, epochs=12)
    (x_train, y_train), test = load_data()
    # The plateau is judged on held-out data, and the test set stays unseen.
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=0.2, random_state=0, stratify=y_train
    )

    alone = keras_lr.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    model = fit(x_fit, y_fit, (x_val, y_val), args.epochs, [alone])
    report(model, test, alone.reductions, name="alone")

    spe = steps_per_epoch(x_fit)
    cyclic = keras_lr.CyclicLR(base_lr=LEARNING_RATE / 10, max_lr=LEARNING_RATE, step_size=spe)
    plateau = keras_lr.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    model = fit(x_fit, y_fit, (x_val, y_val), args.epochs, [cyclic, plateau])
    report(model, test, plateau.reductions, name="with CyclicLR")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    # Alone, the rate is a plain float: the optimizer's initial rate, cut by
    # each reduction from the next epoch on.
    edges = [0, *(alone.reductions["epoch"] + 1), args.epochs]
    left.stairs([LEARNING_RATE, *alone.reductions["new_lr"]], edges, baseline=None, lw=2)
    left.set(xlabel="epoch", ylabel="learning rate", title="ReduceLROnPlateau alone")
    for epoch in alone.reductions["epoch"]:
        left.axvline(epoch + 1, color="gray", ls=":")
    left.grid(True, alpha=0.3)

    keras_lr.plot_history(cyclic, ax=right, loss="val_loss")
    for step in plateau.reductions["step"]:
        right.axvline(step, color="gray", ls=":")
    right.set_title("CyclicLR + ReduceLROnPlateau")
    save(fig, args.out, "reduce_on_plateau.png")


if __name__ == "__main__":
    main()
