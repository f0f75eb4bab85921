"""Schedule-free AdamW on the 8x8 digits, validated and shipped at its average x.

`keras.optimizers.ScheduleFreeAdamW` trains the weights at the point y; the
point the paper evaluates is the average x.  Two runs from the same initial
weights, on the same batches:

* without a callback: Keras validates, evaluates and saves y;
* with `ScheduleFreeEval(update_bn_data=x_train)`: validation inside `fit`
  runs at x (the BatchNormalization statistics recomputed for x over the
  training inputs), and after `fit` the model holds x for `evaluate`,
  `predict` and `model.save`.

Both runs train alike, bit for bit: the callback only swaps x in for
validation and puts y back before the next epoch.  It prints the test
accuracy of both and plots the validation loss at y and at x per epoch.
Part of the early gap is BatchNormalization's: Keras validates y with its
running statistics (momentum 0.99), which lag in the first epochs, while x
gets statistics computed afresh.  Without BatchNormalization, at this rate,
x is behind y early on (benchmarks/results-schedule-free.md).

Run:
    python examples/schedule_free.py --epochs 20
    KERAS_BACKEND=jax python examples/schedule_free.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, load_data, parse_args, save

from keras_lr.ensembles import ScheduleFreeEval


def fresh_model():
    keras.utils.set_random_seed(0)  # the same initial weights in both runs
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.ScheduleFreeAdamW(learning_rate=0.0025),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Keras 3.15 on TensorFlow builds the optimizer inside the first step,
    # where z would start at 0; built here, it starts at the weights.
    model.optimizer.build(model.trainable_variables)
    return model


def main():
    args = parse_args(__doc__, epochs=15)
    (x_train, y_train), test = load_data()
    fit = dict(
        x=x_train,
        y=y_train,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        validation_data=test,
        shuffle=False,  # the same batches in both runs
        verbose=0,
    )

    at_y = fresh_model()
    history_y = at_y.fit(**fit).history
    _, accuracy = at_y.evaluate(*test, verbose=0)
    print(f"[y, Keras alone] test accuracy: {accuracy:.4f}")

    at_x = fresh_model()
    history_x = at_x.fit(callbacks=[ScheduleFreeEval(update_bn_data=x_train)], **fit).history
    _, accuracy = at_x.evaluate(*test, verbose=0)  # the model holds x after fit
    print(f"[x, ScheduleFreeEval] test accuracy: {accuracy:.4f}")

    print("\nepoch  val loss at y  val loss at x")
    for epoch, (vy, vx) in enumerate(zip(history_y["val_loss"], history_x["val_loss"]), 1):
        print(f"{epoch:5d}  {vy:13.4f}  {vx:13.4f}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = range(1, args.epochs + 1)
    ax.plot(epochs, history_y["val_loss"], "o-", label="at y (what Keras validates)")
    ax.plot(epochs, history_x["val_loss"], "s-", label="at x (ScheduleFreeEval)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.set_title("ScheduleFreeAdamW on the digits")
    ax.legend()
    fig.tight_layout()
    save(fig, args.out, "schedule_free.png")


if __name__ == "__main__":
    main()
