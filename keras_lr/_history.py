"""Per-step history of a scheduling callback, built on demand.

The callback stores one small record per epoch (first and last step, the
schedule that ran, the epoch's logs); the per-step table is computed from the
schedule when asked for, so a million-step run costs a few arrays, not a
million Python objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_lr.schedules import evaluate


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    epoch: int
    start_step: int
    end_step: int  # exclusive
    schedule: Any
    logs: dict


def _scalar(value: Any) -> float | None:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(arr) if arr.ndim == 0 else None


def clean_logs(logs: dict | None) -> dict:
    """Scalar entries of Keras logs as floats."""
    out = {}
    for key, value in (logs or {}).items():
        scalar = _scalar(value)
        if scalar is not None:
            out[key] = scalar
    return out


def to_dataframe(records: list[EpochRecord]):
    """One row per optimizer step: step, epoch, lr, then the epoch's logs.

    Loss and metrics are those Keras reports at the end of each epoch; they
    sit on the epoch's last step and are NaN on the others.
    """
    import pandas as pd

    steps, epochs, rates = [], [], []
    log_keys: list[str] = []
    for rec in records:
        span = np.arange(rec.start_step, rec.end_step, dtype=np.int64)
        steps.append(span)
        epochs.append(np.full(span.shape, rec.epoch, dtype=np.int64))
        rates.append(evaluate(rec.schedule, span))
        log_keys += [k for k in rec.logs if k not in log_keys and k != "learning_rate"]
    if steps:
        step = np.concatenate(steps)
        frame = {"step": step, "epoch": np.concatenate(epochs), "lr": np.concatenate(rates)}
    else:
        step = np.zeros(0, dtype=np.int64)
        frame = {"step": step, "epoch": step.copy(), "lr": np.zeros(0)}
    offsets = np.cumsum([0] + [r.end_step - r.start_step for r in records])
    for key in log_keys:
        column = np.full(step.shape, np.nan)
        for rec, end in zip(records, offsets[1:]):
            if key in rec.logs and end > 0 and rec.end_step > rec.start_step:
                column[end - 1] = rec.logs[key]
        frame[key] = column
    return pd.DataFrame(frame)
