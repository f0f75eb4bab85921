"""Shared benchmark pieces: interleaved timing, models, data, anchors.

Interleaved timing: the compared cases run in one process, in turn.

Absolute times on a shared machine drift from minute to minute; running the
cases in rounds (A B C, B C A, C A B, ...) and taking, per round, each case's
time over the baseline's, cancels most of that drift.  The figure reported is the median of
those per-round ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def interleaved(
    cases: dict[str, Callable[[], object]],
    baseline: str,
    repeats: int = 5,
    warmup: int = 1,
) -> dict[str, dict[str, float]]:
    """Times every case `repeats` times, interleaved, after `warmup` untimed rounds.

    Returns:
        {case: {"ratio": median of per-round time / baseline time,
                "seconds": median time, "spread": (max - min) / median of the ratios}}
    """
    if baseline not in cases:
        raise ValueError(f"baseline {baseline!r} is not one of the cases {list(cases)}")
    for _ in range(warmup):
        for run in cases.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for round_ in range(repeats):
        # Each round starts one case later, so that no case always runs in
        # the same place in the round (the first run after another case's
        # can pay for what that one left behind).
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    base = np.asarray(times[baseline])
    out = {}
    for name, seconds in times.items():
        ratios = np.asarray(seconds) / base
        median = float(np.median(ratios))
        out[name] = {
            "ratio": median,
            "seconds": float(np.median(seconds)),
            "spread": float((ratios.max() - ratios.min()) / median) if median else 0.0,
        }
    return out


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the header row, the rule, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# -- models, data and the anchors shared by the benchmarks ----------------------


def mlp(hidden: int, layers: int = 1, inputs: int = 32, seed: int = 0):
    """Dense inputs -> hidden (x layers, relu) -> 1, compiled with SGD and MSE."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((inputs,))])
    for _ in range(layers):
        model.add(keras.layers.Dense(hidden, activation="relu"))
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    return model


def regression_data(samples: int, inputs: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, inputs)).astype("float32")
    w = rng.normal(size=(inputs, 1)).astype("float32") / np.sqrt(inputs)
    y = (x @ w + 0.1 * rng.normal(size=(samples, 1))).astype("float32")
    return x, y


def fit_from_step_zero(model, x, y, callbacks, epochs, batch_size):
    """One training run: the optimizer's step is set back to 0 first, so that
    every timed run is the same run (a schedule sees the same steps and the
    compiled step is reused; nothing retraces between rounds)."""
    model.optimizer.iterations.assign(0)
    model.fit(
        x, y, batch_size=batch_size, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False
    )


def per_batch_clr():
    """The classic Keras CLR callback's pattern, as an anchor: the triangular
    rate computed in Python after every batch and set on the optimizer, with
    the batch logs appended to a history dict."""
    import keras

    class PerBatchCLR(keras.callbacks.Callback):
        def __init__(self, base_lr=1e-3, max_lr=6e-3, step_size=256):
            super().__init__()
            self.base_lr, self.max_lr, self.step_size = base_lr, max_lr, step_size
            self.iteration = 0
            self.history: dict[str, list] = {}

        def rate(self):
            cycle = np.floor(1 + self.iteration / (2 * self.step_size))
            x = abs(self.iteration / self.step_size - 2 * cycle + 1)
            return self.base_lr + (self.max_lr - self.base_lr) * max(0.0, 1.0 - x)

        def on_train_begin(self, logs=None):
            self.iteration = 0
            self.model.optimizer.learning_rate = self.rate()

        def on_train_batch_end(self, batch, logs=None):
            self.iteration += 1
            self.history.setdefault("lr", []).append(self.rate())
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(value)
            self.model.optimizer.learning_rate = self.rate()

    return PerBatchCLR()


def range_test(model, x, y, steps: int, batch_size: int, max_lr: float):
    """`keras_lr.find_lr` over all `steps` (no early stop), silently."""
    import keras_lr

    return keras_lr.find_lr(
        model,
        x,
        y,
        batch_size=batch_size,
        num_steps=steps,
        min_lr=max_lr / 1e3,
        max_lr=max_lr,
        stop_on_divergence=False,
        verbose=0,
    )
