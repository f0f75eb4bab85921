"""Exponential decay per epoch (ExponentialDecay) on the 8x8 digits, with Adam.

The rate is initial_lr * gamma^epoch: constant within an epoch, multiplied
by `gamma` at each epoch boundary.  The figure shows the rate on a log axis
(where exponential decay is a straight staircase) and the training and
validation loss per epoch.

Run:
    python examples/exponential_decay.py --epochs 5
    KERAS_BACKEND=torch python examples/exponential_decay.py --out /tmp/keras_lr
"""

import keras
import matplotlib.pyplot as plt
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save

import keras_lr


def main():
    args = parse_args(__doc__, epochs=12)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.Adam(learning_rate=1e-3))

    decay = keras_lr.ExponentialDecay(initial_lr=1e-2, gamma=0.8)
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        validation_split=0.2,
        callbacks=[decay],
        verbose=0,
    )
    report(model, test, decay.history)

    history = decay.history
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    keras_lr.plot_schedule(decay, history["step"].to_numpy(), ax=left, log_scale=True)
    left.set_title("ExponentialDecay(initial_lr=1e-2, gamma=0.8)")
    epochs = history.dropna(subset=["loss"])
    right.plot(epochs["epoch"] + 1, epochs["loss"], "o-", label="loss")
    right.plot(epochs["epoch"] + 1, epochs["val_loss"], "s--", label="val_loss")
    right.set(xlabel="epoch", ylabel="loss", title="loss per epoch")
    right.legend()
    save(fig, args.out, "exponential_decay.png")


if __name__ == "__main__":
    main()
