"""Cyclical learning rates (CyclicLR) on the 8x8 digits.

Trains a small MLP with SGD + momentum while the rate cycles between
`base_lr` and `max_lr` every optimizer step ("triangular2": each cycle's
amplitude is half the previous one).  The figure previews the three built-in
modes (left) and shows the rate and loss the run actually used (right).

Run:
    python examples/cyclic_lr.py --epochs 5
    KERAS_BACKEND=jax python examples/cyclic_lr.py --out /tmp/keras_lr
"""

import keras
import matplotlib.pyplot as plt
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr


def main():
    args = parse_args(__doc__, epochs=12)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    # The callback drives the rate: the float given here is replaced at fit.
    model = build_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))

    # Smith suggests a half-cycle of 2-10 epochs; 2 epochs gives 3 full
    # cycles in 12 epochs.
    spe = steps_per_epoch(x_train)
    cyclic = keras_lr.CyclicLR(base_lr=1e-3, max_lr=0.1, step_size=2 * spe, mode="triangular2")
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=[cyclic], verbose=0
    )
    report(model, test, cyclic.history)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for mode in ("triangular", "triangular2", "exp_range"):
        preview = keras_lr.CyclicLR(
            base_lr=1e-3, max_lr=0.1, step_size=2 * spe, mode=mode, gamma=0.999
        )
        keras_lr.plot_schedule(preview, 12 * spe, ax=left, label=mode)
    left.legend()
    left.set_title("CyclicLR modes (preview, 12 epochs)")
    keras_lr.plot_history(cyclic, ax=right)
    right.set_title(f"what fit used ({args.epochs} epochs, triangular2)")
    save(fig, args.out, "cyclic_lr.png")


if __name__ == "__main__":
    main()
