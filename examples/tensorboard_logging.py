"""Every step's rate and momentum in TensorBoard (LearningRateMonitor) on the 8x8 digits.

Trains a small MLP with SGD + momentum under OneCycleLR, which cycles the
momentum opposite to the rate.  Keras's `TensorBoard` callback writes the
loss of every batch, `LearningRateMonitor` the rate and momentum of every
optimizer step, both into `<out>/tensorboard_logs/<backend>-<time>/train`:
one run (a folder of its own each time), one step axis.  The figure reads the event files back as TensorBoard does and draws
the three scalars over the steps.  Without TensorFlow (which Keras's callback
needs) the monitor still writes its scalars alone.

Run:
    python examples/tensorboard_logging.py --epochs 5
    tensorboard --logdir examples_out/tensorboard_logs
    KERAS_BACKEND=torch python examples/tensorboard_logging.py --out /tmp/keras_lr
"""

import time

import keras
import matplotlib.pyplot as plt
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import keras_lr


def read_run(folder):
    """tag -> (steps, values) of every scalar in a run folder, as TensorBoard reads it."""
    run = event_accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0})
    run.Reload()
    return {
        tag: (
            [e.step for e in run.Tensors(tag)],
            [float(tensor_util.make_ndarray(e.tensor_proto)) for e in run.Tensors(tag)],
        )
        for tag in run.Tags()["tensors"]
    }


def has_tensorflow() -> bool:
    try:
        import tensorflow  # noqa: F401 (Keras's TensorBoard callback writes with it)
    except ImportError:
        return False
    return True


def main():
    args = parse_args(__doc__, epochs=8)
    keras.utils.set_random_seed(0)
    (x_train, y_train), test = load_data()
    model = build_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))

    run_name = f"{keras.backend.backend()}-{time.strftime('%Y%m%d-%H%M%S')}"
    log_dir = args.out / "tensorboard_logs" / run_name
    callbacks = [keras_lr.OneCycleLR(max_lr=0.2)]
    if has_tensorflow():
        # update_freq="batch": Keras's batch_loss at the monitor's step numbers.
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir, update_freq="batch", write_graph=False)
        )
    else:
        print("TensorFlow is not installed: Keras's TensorBoard callback is left out")
    monitor = keras_lr.LearningRateMonitor(log_dir)
    callbacks.append(monitor)
    model.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs, callbacks=callbacks, verbose=0
    )
    report(model, test, monitor.history)
    print(f"TensorBoard: tensorboard --logdir {log_dir.parent}")

    scalars = read_run(log_dir / "train")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, layout="constrained")
    top.plot(*scalars["learning_rate"], color="C0", label="learning_rate")
    top.set_ylabel("learning rate")
    right = top.twinx()
    right.plot(*scalars["momentum"], color="C2", ls="--", label="momentum")
    right.set_ylabel("momentum")
    top.set_title("LearningRateMonitor's scalars, read back from the event file")
    if "batch_loss" in scalars:
        bottom.plot(*scalars["batch_loss"], color="C1", lw=0.8)
        bottom.set_ylabel("loss")
        bottom.set_title("Keras TensorBoard's batch_loss (the epoch's running mean), same run")
        bottom.set_xlabel("TensorBoard step (optimizer updates done)")
    else:  # history steps count from 0: TensorBoard step - 1
        keras_lr.plot_history(monitor, ax=bottom, momentum=False)
        bottom.set_title("monitor.history: the rate per step, the loss per epoch")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    save(fig, args.out, "tensorboard_logging.png")


if __name__ == "__main__":
    main()
