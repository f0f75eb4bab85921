"""Benchmark 3: predicting with an ensemble of M=5 snapshots.

`keras_lr.load_ensemble` (one graph, one pass over the data) against five
separate `predict` calls, one per snapshot model, and their mean.  Loading is
not timed; 8192 samples, batch 256, an MLP 32 -> 256 -> 256 -> 10.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from _common import interleaved, regression_data

M = 5


def _model(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def run(repeats: int = 5, quick: bool = False) -> list[dict]:
    import keras_lr

    x, _ = regression_data(1024 if quick else 8192)
    with tempfile.TemporaryDirectory() as directory:
        members = [_model(seed) for seed in range(M)]
        paths = []
        for k, member in enumerate(members):
            paths.append(os.path.join(directory, f"snapshot-{k}.weights.h5"))
            member.save_weights(paths[-1])
        ensemble = keras_lr.load_ensemble(_model(0), paths)

        def one_graph():
            return ensemble.predict(x, batch_size=256, verbose=0)

        def separate():
            outputs = [member.predict(x, batch_size=256, verbose=0) for member in members]
            return np.mean(outputs, axis=0)

        np.testing.assert_allclose(one_graph(), separate(), rtol=1e-4, atol=1e-6)
        result = interleaved(
            {"5 separate predict calls": separate, "load_ensemble predict": one_graph},
            "5 separate predict calls",
            repeats,
        )
    return [{"benchmark": "ensemble", "case": k, **v} for k, v in result.items()]
