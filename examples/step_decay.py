"""Step decay (StepDecay) on the 8x8 digits.

Halves the rate every 4 epochs, exactly at epoch boundaries.  The figure
compares the run's schedule with the `milestones=` form (decay by 10x at
listed epochs), previewed without training.

Run:
    python examples/step_decay.py --epochs 5
    KERAS_BACKEND=jax python examples/step_decay.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr


def main():
    args = parse_args(__doc__, epochs=12)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9))

    decay = keras_lr.StepDecay(initial_lr=0.1, decay_factor=0.5, step_size=4)
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=[decay], verbose=0
    )
    report(model, test, decay.history)

    # A preview outside fit needs steps_per_epoch: epochs have no length yet.
    spe = steps_per_epoch(x_train)
    milestones = keras_lr.StepDecay(
        initial_lr=0.1, decay_factor=0.1, milestones=[6, 9], steps_per_epoch=spe
    )
    steps = args.epochs * spe
    ax = keras_lr.plot_schedule(decay, steps, label="step_size=4, x0.5 (trained)")
    keras_lr.plot_schedule(milestones, steps, ax=ax, label="milestones=[6, 9], x0.1", ls="--")
    ax.legend()
    ax.set_title("StepDecay")
    save(ax.figure, args.out, "step_decay.png")


if __name__ == "__main__":
    main()
