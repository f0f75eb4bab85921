"""The learning-rate range test on the 8x8 digits, then training with its answer.

`keras_lr.find_lr` ramps the rate from 1e-6 to 10 over 100 steps, records the
loss of every batch, stops when the loss blows up, and puts the model back
exactly as it was.  The example then trains the same network three ways for
the same number of epochs: at the suggested rate, with `CyclicLR` between the
bounds read off the same curve, and at Keras's default SGD rate of 0.01 for
comparison.

Run:
    python examples/find_lr.py --epochs 10
    KERAS_BACKEND=jax python examples/find_lr.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr


def fresh_model(rate):
    # The same initial weights for every run, so only the rate differs.
    keras.utils.set_random_seed(0)
    return build_model(keras.optimizers.SGD(learning_rate=rate, momentum=0.9))


def main():
    args = parse_args(__doc__, epochs=10)
    (x_train, y_train), test = load_data()

    model = fresh_model(0.01)
    finder = keras_lr.find_lr(
        model, x_train, y_train, batch_size=BATCH_SIZE, min_lr=1e-6, max_lr=10.0, num_steps=100
    )
    suggested = finder.suggestion()
    base_lr, max_lr = finder.cyclic_bounds()
    print("suggestions:", {k: float(f"{v:.3g}") for k, v in finder.suggestions().items()})
    print(f"cyclic bounds: base_lr={base_lr:.3g}, max_lr={max_lr:.3g}")
    finder.to_csv(args.out / "find_lr.csv")
    ax = finder.plot()
    ax.set_title("Range test on digits (SGD, momentum 0.9)")
    save(ax.figure, args.out, "find_lr.png")

    results = {}
    for name, rate, callbacks in [
        (f"constant {suggested:.2g} (suggested)", suggested, []),
        (
            f"CyclicLR {base_lr:.2g}..{max_lr:.2g}",
            base_lr,
            # Two whole cycles, so that training ends at base_lr as Smith advises.
            [
                keras_lr.CyclicLR(
                    base_lr, max_lr, step_size=max(1, args.epochs * steps_per_epoch(x_train) // 4)
                )
            ],
        ),
        ("constant 0.01 (Keras default)", 0.01, []),
    ]:
        model = fresh_model(rate)
        model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=args.epochs,
            callbacks=callbacks,
            verbose=0,
        )
        results[name] = report(model, test, name=name)

    width = max(len(name) for name in results)
    print(f"\n{'run':<{width}}  test accuracy")
    for name, accuracy in results.items():
        print(f"{name:<{width}}  {accuracy:.4f}")


if __name__ == "__main__":
    main()
