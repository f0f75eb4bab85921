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
    momentum: Any = None  # the momentum's schedule or float, None without one
    groups: tuple | None = None  # (name, rate source, momentum source) per sub-optimizer


def group_sources(optimizers: list, rates: tuple, momentums: tuple) -> tuple | None:
    """Each sub-optimizer's (name, rate source, momentum source); None for one optimizer."""
    if len(optimizers) < 2:
        return None
    return tuple((opt.name, r, m) for opt, r, m in zip(optimizers, rates, momentums))


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
    """One row per optimizer step: step, epoch, lr, momentum, then the epoch's logs.

    `momentum` is the momentum the (first) optimizer applied, where it has
    one.  With several sub-optimizers, `lr/<name>` and `momentum/<name>` give
    each one's.

    Loss and metrics are those Keras reports at the end of each epoch; they
    sit on the epoch's last step and are NaN on the others.  Every column is
    allocated once at its full length and filled epoch by epoch, and handed to
    pandas without a copy, so building the table of a million steps peaks at
    about the table's own size.
    """
    import pandas as pd

    lengths = [max(rec.end_step - rec.start_step, 0) for rec in records]
    ends = np.cumsum([0] + lengths)
    total = int(ends[-1])
    step = np.empty(total, dtype=np.int64)
    epoch = np.empty(total, dtype=np.int64)
    rate = np.empty(total, dtype=np.float64)
    log_keys: list[str] = []
    for rec, start, end in zip(records, ends[:-1], ends[1:]):
        step[start:end] = np.arange(rec.start_step, rec.start_step + (end - start))
        epoch[start:end] = rec.epoch
        rate[start:end] = evaluate(rec.schedule, step[start:end])
        log_keys += [k for k in rec.logs if k not in log_keys and k != "learning_rate"]
    frame = {"step": step, "epoch": epoch, "lr": rate}
    _add_column(frame, "momentum", records, ends, lambda rec: rec.momentum)
    names = next((tuple(g[0] for g in rec.groups) for rec in records if rec.groups), ())
    for i, name in enumerate(names):
        _add_column(frame, f"lr/{name}", records, ends, lambda rec, i=i: _group(rec, i, 1))
    for i, name in enumerate(names):
        _add_column(frame, f"momentum/{name}", records, ends, lambda rec, i=i: _group(rec, i, 2))
    for key in log_keys:
        column = np.full(total, np.nan)
        for rec, end, length in zip(records, ends[1:], lengths):
            if key in rec.logs and length > 0:
                column[end - 1] = rec.logs[key]
        frame[key] = column
    return pd.DataFrame(frame, copy=False)


def _group(record: EpochRecord, index: int, field: int) -> Any:
    groups = record.groups
    return groups[index][field] if groups and index < len(groups) else None


def _add_column(frame: dict, key: str, records: list, ends: np.ndarray, source_of) -> None:
    """Column `key` of each record's source evaluated at its steps; none if no record has one."""
    sources = [source_of(rec) for rec in records]
    if all(source is None for source in sources):
        return
    column = np.full(int(ends[-1]), np.nan)
    for source, start, end, step in zip(sources, ends[:-1], ends[1:], records):
        if source is not None and end > start:
            column[start:end] = evaluate(
                source, np.arange(step.start_step, step.start_step + end - start)
            )
    frame[key] = column
