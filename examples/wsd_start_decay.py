"""Warmup-stable-decay without a planned end: cool down when the run is done.

`WarmupStableDecay` warms up to `max_lr` and holds it; the cool-down (the
1-sqrt shape of Hägele et al., 2024) can come whenever you decide:
`start_decay()` starts it at the next optimizer step.  Here a small callback
watches the validation loss and calls `start_decay()` once it has stopped
improving (after `--epochs` epochs at the latest), then
stops training when the two-epoch cool-down is over.  The fit's `epochs` is
only a budget: without `start_decay()` the cool-down would run over the
budget's last `decay_steps`.  Calling `start_decay()` between two fits works
the same way, and the start is saved with the model.

The figure shows the rate of every step and the validation loss per epoch.

Run:
    python examples/wsd_start_decay.py --epochs 20
    KERAS_BACKEND=jax python examples/wsd_start_decay.py --out /tmp/keras_lr
"""

import math

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save

import keras_lr

MAX_LR = 3e-3
DECAY_EPOCHS = 2
BUDGET_EPOCHS = 100  # an upper bound, never reached


class CoolDownOnPlateau(keras.callbacks.Callback):
    """Calls `wsd.start_decay()` when `val_loss` stalls, stops after the cool-down.

    The cool-down starts after `patience` epochs in which the validation loss
    did not fall below (1 - `min_improvement`) x its best, or after
    `max_stable_epochs` epochs; training stops `decay_epochs` epochs later.
    """

    def __init__(self, wsd, decay_epochs, max_stable_epochs, patience=2, min_improvement=0.05):
        super().__init__()
        self.wsd, self.decay_epochs = wsd, decay_epochs
        self.max_stable_epochs, self.patience = max_stable_epochs, patience
        self.min_improvement = min_improvement
        self.best, self.waited = math.inf, 0
        self.decay_step = self.stop_after = None
        self.val_accuracy_at_start = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.stop_after is not None:
            self.model.stop_training = epoch + 1 >= self.stop_after
            return
        if logs["val_loss"] < (1.0 - self.min_improvement) * self.best:
            self.best, self.waited = logs["val_loss"], 0
        else:
            self.waited += 1
        if self.waited >= self.patience or epoch + 1 >= self.max_stable_epochs:
            self.decay_step = self.wsd.start_decay()
            self.stop_after = epoch + 1 + self.decay_epochs
            self.val_accuracy_at_start = logs["val_accuracy"]
            why = (
                "validation loss stalled"
                if self.waited >= self.patience
                else "longest stable phase"
            )
            print(
                f"epoch {epoch + 1} ({why}): start_decay() -> cool-down from step {self.decay_step}"
            )


def main():
    args = parse_args(__doc__, epochs=16)  # at most this many epochs before the cool-down
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    # The last fifth of the training images decides when to cool down.
    cut = len(x_train) * 4 // 5
    (x_fit, y_fit), validation = (x_train[:cut], y_train[:cut]), (x_train[cut:], y_train[cut:])
    steps_per_epoch = math.ceil(len(x_fit) / BATCH_SIZE)

    wsd = keras_lr.WarmupStableDecay(
        max_lr=MAX_LR,
        warmup_steps=steps_per_epoch,  # one epoch
        decay_steps=DECAY_EPOCHS * steps_per_epoch,
        min_lr=MAX_LR / 100,
    )
    cool_down = CoolDownOnPlateau(wsd, DECAY_EPOCHS, max_stable_epochs=args.epochs)
    model = build_model(keras.optimizers.AdamW(learning_rate=MAX_LR, weight_decay=1e-4))
    fit = model.fit(
        x_fit,
        y_fit,
        batch_size=BATCH_SIZE,
        epochs=BUDGET_EPOCHS,
        validation_data=validation,
        callbacks=[wsd, cool_down],
        verbose=0,
    )

    history = wsd.history
    start, last = cool_down.decay_step, int(history["step"].iloc[-1])
    lr = history.set_index("step")["lr"]
    for name, step in [
        ("warm-up", steps_per_epoch // 2),
        ("stable", steps_per_epoch),
        ("last stable step", start - 1),
        ("cool-down start", start),
        ("mid cool-down", start + (last - start) // 2),
        ("last step", last),
    ]:
        print(f"{name:>17}: step {step:4d}  lr {lr[step]:.3g}")
    print(
        f"validation accuracy: {cool_down.val_accuracy_at_start:.4f} at the cool-down's start, "
        f"{fit.history['val_accuracy'][-1]:.4f} after it ({len(fit.history['loss'])} epochs)"
    )
    report(model, test)

    ax = keras_lr.plot_history(history, loss=None)
    ax.axvline(start, color="gray", ls=":", label=f"start_decay() (step {start})")
    val = ax.twinx()
    val.plot(
        [(e + 1) * steps_per_epoch - 1 for e in range(len(fit.history["val_loss"]))],
        fit.history["val_loss"],
        "o-",
        color="tab:red",
        label="val_loss",
    )
    val.set_ylabel("validation loss")
    ax.legend(loc="upper center")
    ax.set_title("WarmupStableDecay, cool-down on a validation plateau")
    save(ax.figure, args.out, "wsd_start_decay.png")


if __name__ == "__main__":
    main()
