"""The 1cycle policy (OneCycleLR) on the 8x8 digits.

The rate warms up from max_lr / 25 to `max_lr` over the first 30% of the
steps, then anneals with a cosine to max_lr / 25e4: one cycle over the whole
fit, whose length the callback takes from `fit` (epochs x steps per epoch).
SGD's momentum cycles the other way, 0.95 -> 0.85 -> 0.95, as in PyTorch's
OneCycleLR and fastai's fit_one_cycle (`cycle_momentum=False` turns it off).
The figure previews the three-phase and linear variants next to the run.

Run:
    python examples/one_cycle.py --epochs 5
    KERAS_BACKEND=torch python examples/one_cycle.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr


def main():
    args = parse_args(__doc__, epochs=10)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))

    one_cycle = keras_lr.OneCycleLR(max_lr=0.2)
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        callbacks=[one_cycle],
        verbose=0,
    )
    report(model, test, one_cycle.history)
    momentum = one_cycle.history["momentum"]
    print(f"momentum: {momentum.iloc[0]:.3f} -> {momentum.min():.3f} -> {momentum.iloc[-1]:.3f}")

    # Outside fit the variants need total_steps: there is no fit to ask.
    steps = args.epochs * steps_per_epoch(x_train)
    ax = keras_lr.plot_schedule(one_cycle, steps, label="cos, two phases (trained)", lw=3)
    for kwargs in ({"three_phase": True}, {"anneal_strategy": "linear"}):
        variant = keras_lr.OneCycleLR(max_lr=0.2, total_steps=steps, **kwargs)
        label = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        keras_lr.plot_schedule(variant, steps, ax=ax, label=label, ls="--")
    ax.legend()
    ax.set_title("OneCycleLR(max_lr=0.2)")
    save(ax.figure, args.out, "one_cycle.png")


if __name__ == "__main__":
    main()
