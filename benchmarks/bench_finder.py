"""Benchmark 2: a range test of N steps against N bare training steps.

`keras_lr.find_lr` (the copy of every variable before, the exact restore
after, and the per-step rate and loss bookkeeping all included) against a bare
`fit` of the same N batches, on the tiny model.  The ladder stays below the
divergence (and `stop_on_divergence=False`), so both run all N steps.
"""

from __future__ import annotations

from _common import interleaved, mlp, range_test, regression_data

BATCH = 16


def run(repeats: int = 5, quick: bool = False) -> list[dict]:
    rows = []
    for steps in (50,) if quick else (100, 1000):
        x, y = regression_data(steps * BATCH)
        bare_model, finder_model = mlp(64), mlp(64)

        def bare(model=bare_model, x=x, y=y):
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

        def finder(model=finder_model, x=x, y=y, steps=steps):
            range_test(model, x, y, steps, BATCH, max_lr=1e-2)

        result = interleaved({"bare fit": bare, "find_lr": finder}, "bare fit", repeats)
        rows += [
            {"benchmark": "finder", "case": f"{name}, {steps} steps", **figures}
            for name, figures in result.items()
        ]
    return rows
