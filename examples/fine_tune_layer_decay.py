"""Fine-tuning with layer-wise rate decay (`layer_decay`) and `OneCycleLR`.

A small MLP is "pretrained" on the digits 0-4, its head replaced by a fresh
one for all ten digits, and the whole model fine-tuned under one 1cycle
schedule, twice from the same pretrained weights:

* `keras_lr.layer_decay(model, SGD(momentum=0.9), decay=0.75)`: one SGD per
  layer, the new head at the full rate, the hidden layer before it at 0.75 of
  it, the first at 0.75**2 (timm's layer decay); `OneCycleLR` drives all three,
  each at its factor times the schedule;
* the same SGD for every layer, for comparison.

The figure shows the rate of each group over the fine-tuning.

Run:
    python examples/fine_tune_layer_decay.py --epochs 5
    KERAS_BACKEND=jax python examples/fine_tune_layer_decay.py --out /tmp/keras_lr
"""

import keras
import numpy as np
from _digits import BATCH_SIZE, load_data, parse_args, report, save, steps_per_epoch

import keras_lr

DECAY = 0.75
MAX_LR = 0.1


def pretrained_body(x, y):
    """Two hidden layers trained on the digits 0-4 (a stand-in for a pretrained model)."""
    body = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu", name="hidden1"),
            keras.layers.Dense(32, activation="relu", name="hidden2"),
        ],
        name="body",
    )
    model = keras.Sequential([body, keras.layers.Dense(5, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy"
    )
    first = y < 5
    model.fit(x[first], y[first], batch_size=BATCH_SIZE, epochs=3, verbose=0)
    return body.get_weights()


def fine_tune_model(weights):
    """hidden1 -> hidden2 (the pretrained weights) -> a new head for ten digits."""
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu", name="hidden1"),
            keras.layers.Dense(32, activation="relu", name="hidden2"),
            keras.layers.Dense(10, activation="softmax", name="head"),
        ]
    )
    model.get_layer("hidden1").set_weights(weights[:2])
    model.get_layer("hidden2").set_weights(weights[2:])
    return model


def main():
    args = parse_args(__doc__, epochs=6)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    weights = pretrained_body(x_train, y_train)

    runs = {}
    for name in ("layer_decay", "one rate"):
        keras.utils.set_random_seed(1)  # the same new head in both runs
        model = fine_tune_model(weights)
        sgd = keras.optimizers.SGD(MAX_LR, momentum=0.9)
        if name == "layer_decay":
            # One SGD per layer with weights, input side first: factors
            # 0.75**2, 0.75, 1 for hidden1, hidden2, head.
            optimizer = keras_lr.layer_decay(model, sgd, decay=DECAY)
        else:
            optimizer = sgd
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        one_cycle = keras_lr.OneCycleLR(max_lr=MAX_LR)
        model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=args.epochs,
            callbacks=[one_cycle],
            verbose=0,
        )
        report(model, test, name=name)
        runs[name] = (model, one_cycle)

    model, one_cycle = runs["layer_decay"]
    steps = np.arange(args.epochs * steps_per_epoch(x_train))
    rates = one_cycle.rates(steps)
    groups = [layer.name for layer in model.layers]  # one group per layer here
    ax = keras_lr.plot_schedule(one_cycle, steps, label="OneCycleLR (one rate)", lw=3, color="0.8")
    for g, layer in enumerate(groups):
        factor = DECAY ** (len(groups) - 1 - g)
        ax.plot(steps, factor * rates, label=f"{layer}: {factor:.4g} x schedule")
    ax.legend()
    ax.set_title(f"layer_decay(decay={DECAY}) + OneCycleLR(max_lr={MAX_LR})")
    save(ax.figure, args.out, "fine_tune_layer_decay.png")


if __name__ == "__main__":
    main()
