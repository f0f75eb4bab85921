"""Cosine annealing without restarts (CosineAnnealing) on the 8x8 digits, with Adam.

The rate follows half a cosine from `max_lr` to `min_lr` over the whole fit,
every optimizer step; the length of the fit comes from `fit` itself (pass
`total_steps=` to fix it instead).  The figure shows the rate and the loss.

Run:
    python examples/cosine_annealing.py --epochs 5
    KERAS_BACKEND=jax python examples/cosine_annealing.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save

import keras_lr


def main():
    args = parse_args(__doc__, epochs=10)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.Adam(learning_rate=1e-3))

    cosine = keras_lr.CosineAnnealing(max_lr=1e-2, min_lr=1e-5)
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=[cosine], verbose=0
    )
    report(model, test, cosine.history)

    ax = keras_lr.plot_history(cosine)
    ax.set_title("CosineAnnealing(max_lr=1e-2, min_lr=1e-5)")
    save(ax.figure, args.out, "cosine_annealing.png")


if __name__ == "__main__":
    main()
