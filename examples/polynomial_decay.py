"""Polynomial decay (PolynomialDecay) on the 8x8 digits, with Adam.

The rate falls from `initial_lr` to `end_lr` as (1 - i / total_steps)^power,
every optimizer step; `total_steps` defaults to the length of the fit, so the
decay ends with training.  The figure previews three powers next to the run.

Run:
    python examples/polynomial_decay.py --epochs 5
    KERAS_BACKEND=jax python examples/polynomial_decay.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr


def main():
    args = parse_args(__doc__, epochs=10)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.Adam(learning_rate=1e-3))

    # total_steps is left to fit: the decay ends with the last step.
    total = args.epochs * steps_per_epoch(x_train)
    poly = keras_lr.PolynomialDecay(initial_lr=1e-2, power=2.0, end_lr=1e-5)
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=[poly], verbose=0
    )
    report(model, test, poly.history)

    ax = keras_lr.plot_schedule(poly, total, label="power=2 (trained)", lw=3)
    for power in (0.5, 1.0):
        preview = keras_lr.PolynomialDecay(1e-2, total_steps=total, power=power, end_lr=1e-5)
        keras_lr.plot_schedule(preview, total, ax=ax, label=f"power={power}", ls="--")
    ax.legend()
    ax.set_title("PolynomialDecay(initial_lr=1e-2, end_lr=1e-5)")
    save(ax.figure, args.out, "polynomial_decay.png")


if __name__ == "__main__":
    main()
