"""Benchmark 5: overhead as the model grows.

The same comparison as benchmarks 1 and 2 on MLPs of about 2 thousand, 1
million and 10 million parameters (Dense 32 -> h -> h -> 1), batch 16: bare
`fit`, `CyclicLR`, the per-batch Python anchor, and a range test of the same
number of steps.  What a callback adds per step is fixed, so its share of the
step (the ratio minus 1) falls as the step gets longer.
"""

from __future__ import annotations

from _common import (
    fit_from_step_zero,
    interleaved,
    mlp,
    per_batch_clr,
    range_test,
    regression_data,
)

BATCH = 16
# (label, hidden width, hidden layers, steps per timed run)
SIZES = (
    ("2k params", 64, 1, 1024),
    ("1M params", 1000, 2, 256),
    ("10M params", 3150, 2, 64),
)


def run(repeats: int = 5, quick: bool = False) -> list[dict]:
    import keras_lr

    rows = []
    for label, hidden, layers, steps in SIZES[:2] if quick else SIZES:
        steps = 16 if quick else steps
        x, y = regression_data(steps * BATCH)
        models = {name: mlp(hidden, layers) for name in ("bare", "clr", "anchor", "finder")}
        params = models["bare"].count_params()
        clr = keras_lr.CyclicLR(1e-3, 6e-3, step_size=max(steps // 4, 1))
        anchor = per_batch_clr()

        def finder(model=models["finder"], x=x, y=y, steps=steps):
            range_test(model, x, y, steps, BATCH, max_lr=1e-3)

        cases = {
            "bare fit": lambda m=models["bare"], x=x, y=y: fit_from_step_zero(
                m, x, y, [], 1, BATCH
            ),
            "CyclicLR": lambda m=models["clr"], x=x, y=y, c=clr: fit_from_step_zero(
                m, x, y, [c], 1, BATCH
            ),
            "anchor: per-batch Python CLR": lambda m=models["anchor"], x=x, y=y, c=anchor: (
                fit_from_step_zero(m, x, y, [c], 1, BATCH)
            ),
            "find_lr": finder,
        }
        result = interleaved(cases, "bare fit", repeats)
        rows += [
            {
                "benchmark": "scaling",
                "case": name,
                "model": f"{label} ({params:,})",
                "steps": steps,
                **figures,
            }
            for name, figures in result.items()
        ]
    return rows
