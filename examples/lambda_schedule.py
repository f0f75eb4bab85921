"""Custom rules in plain Python (LambdaSchedule) on the 8x8 digits.

Two rules, each trained on a fresh model with SGD + momentum:

* log annealing per step, lr(i) = 0.1 / ln(i + e): a one-line lambda;
* an epoch rule with if/else, the kind of thing a schedule table in a paper
  describes ("0.1 for 3 epochs, then 0.02 for 3, then 0.004").

The rule runs once per step (or epoch) before training and is looked up
inside the compiled step, so it costs nothing per batch.  The figure shows
both rules as trained.

Run:
    python examples/lambda_schedule.py --epochs 5
    KERAS_BACKEND=torch python examples/lambda_schedule.py --out /tmp/keras_lr
"""

import math

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save

import keras_lr


def epoch_rule(epoch):
    if epoch < 3:
        return 0.1
    if epoch < 6:
        return 0.02
    return 0.004


def main():
    args = parse_args(__doc__, epochs=8)
    (x_train, y_train), test = load_data()

    rules = {
        "log annealing (per step)": keras_lr.LambdaSchedule(lambda i: 0.1 / math.log(i + math.e)),
        "epoch rule": keras_lr.LambdaSchedule(epoch_rule, unit="epoch"),
    }
    ax = None
    for name, callback in rules.items():
        keras.utils.set_random_seed(0)
        model = build_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
        model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=args.epochs,
            callbacks=[callback],
            verbose=0,
        )
        report(model, test, callback.history, name=name)
        steps = callback.history["step"].to_numpy()
        ax = keras_lr.plot_schedule(callback, steps, ax=ax, label=name, log_scale=True)
    ax.legend()
    ax.set_title("LambdaSchedule: rules written in plain Python")
    save(ax.figure, args.out, "lambda_schedule.png")


if __name__ == "__main__":
    main()
