"""Benchmark 4: `.history` of a 1,000,000-step run.

`CyclicLR` is driven through the hooks of 100 epochs x 10,000 steps (the
optimizer's step set as `fit` would leave it at each epoch end; the training
steps themselves are skipped).  The callback keeps one small record per epoch
and computes the per-step table from the schedule when `.history` is read.
Reported: what the callback holds, the time to build the DataFrame, the peak
memory allocated while building it, and the DataFrame's own size.
"""

from __future__ import annotations

import time
import tracemalloc

from _common import mlp

EPOCHS = 100
STEPS_PER_EPOCH = 10_000


def run(repeats: int = 5, quick: bool = False) -> list[dict]:
    import numpy as np

    import keras_lr

    epochs, spe = (10, 1000) if quick else (EPOCHS, STEPS_PER_EPOCH)
    model = mlp(8)
    tracemalloc.start()
    held_before = tracemalloc.get_traced_memory()[0]
    callback = keras_lr.CyclicLR(1e-3, 6e-3, step_size=2000)
    callback.set_model(model)
    callback.set_params({"steps": spe, "epochs": epochs, "verbose": 0})
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        model.optimizer.iterations.assign((epoch + 1) * spe)
        callback.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    callback.on_train_end()
    held = tracemalloc.get_traced_memory()[0] - held_before

    seconds, peaks = [], []
    for _ in range(repeats):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        frame = callback.history
        seconds.append(time.perf_counter() - start)
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        size = int(frame.memory_usage(deep=True).sum())
        del frame
    tracemalloc.stop()
    assert len(callback.history) == epochs * spe
    return [
        {
            "benchmark": "history",
            "case": f"CyclicLR.history, {epochs * spe:,} steps",
            "seconds": float(np.median(seconds)),
            "peak_mb": float(np.median(peaks)) / 2**20,
            "frame_mb": size / 2**20,
            "held_kb": held / 2**10,
        }
    ]
