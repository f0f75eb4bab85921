"""Cosine annealing with warm restarts (SGDRScheduler) on the 8x8 digits.

Each cycle anneals the rate from its peak to `min_lr` with a cosine, then
restarts: the first cycle lasts 2 epochs, each next one twice as long
(2 + 4 + 8 = 14 epochs), and each restart peaks at 80% of the previous one.
The rate changes every optimizer step, not once per epoch.  The figure shows
the rate and the loss of the run.

Run:
    python examples/sgdr.py --epochs 5
    KERAS_BACKEND=torch python examples/sgdr.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save

import keras_lr


def main():
    args = parse_args(__doc__, epochs=14)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))

    # Cycle lengths count epochs; steps per epoch come from fit.
    sgdr = keras_lr.SGDRScheduler(
        min_lr=1e-4, max_lr=0.1, cycle_length=2, mult_factor=2.0, lr_decay=0.8
    )
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=[sgdr], verbose=0
    )
    report(model, test, sgdr.history)

    ax = keras_lr.plot_history(sgdr)
    ax.set_title("SGDRScheduler: cycles of 2, 4, 8 epochs, peaks x0.8")
    save(ax.figure, args.out, "sgdr.png")


if __name__ == "__main__":
    main()
