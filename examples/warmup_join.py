"""Warm-up, two ways: `warmup_steps=` on a callback, and a `Join` of pieces.

Two fits on the 8x8 digits, each on a fresh model with Adam:

* `CosineAnnealing(..., warmup_steps=W)`: a linear ramp from 0 over the
  first W steps, then the cosine runs over the remaining steps from its own
  step 0;
* `ScheduleCallback(Join(...))`: warm-up, stable, decay ("WSD") built from
  `keras_lr.schedules` pieces, each counting from its own start.

Both warm up over the first 10% of the steps.  The figure shows the two
schedules as trained.

Run:
    python examples/warmup_join.py --epochs 5
    KERAS_BACKEND=torch python examples/warmup_join.py --out /tmp/keras_lr
"""

import keras
from _digits import BATCH_SIZE, build_model, load_data, parse_args, report, save, steps_per_epoch

import keras_lr
from keras_lr import schedules

PEAK = 1e-2


def main():
    args = parse_args(__doc__, epochs=8)
    (x_train, y_train), test = load_data()
    total = args.epochs * steps_per_epoch(x_train)
    warmup = max(1, total // 10)
    decay = max(1, total // 5)  # the last 20% of the steps

    wsd = schedules.Join(
        [
            schedules.Linear(start_lr=0.0, end_lr=PEAK, total_steps=warmup),
            schedules.Constant(PEAK),
            schedules.Linear(start_lr=PEAK, end_lr=0.0, total_steps=decay),
        ],
        boundaries=[warmup, total - decay],
    )
    runs = {
        "CosineAnnealing(warmup_steps=...)": keras_lr.CosineAnnealing(
            max_lr=PEAK, min_lr=1e-5, warmup_steps=warmup
        ),
        "ScheduleCallback(Join(...)): WSD": keras_lr.ScheduleCallback(wsd),
    }
    ax = None
    for name, callback in runs.items():
        keras.utils.set_random_seed(0)
        # Adam's early steps are large relative to the rate: warm-up tames them.
        model = build_model(keras.optimizers.Adam(learning_rate=PEAK))
        model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=args.epochs,
            callbacks=[callback],
            verbose=0,
        )
        report(model, test, callback.history, name=name)
        ax = keras_lr.plot_schedule(callback, total, ax=ax, label=name)
    ax.axvline(warmup, color="gray", ls=":", label=f"end of warm-up (step {warmup})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, fontsize="small")
    ax.set_title("Warm-up on a callback vs. a Join of schedules")
    save(ax.figure, args.out, "warmup_join.png")


if __name__ == "__main__":
    main()
