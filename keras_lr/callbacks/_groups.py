"""One value per sub-optimizer: per-group rates and momentums of a MultiOptimizer.

Every rate argument of a scheduling callback (`base_lr`, `max_lr`, `min_lr`,
`initial_lr`, `warmup_start_lr`, ...) and its momentum bounds take one
number, or a list with one number per sub-optimizer of a
`keras.optimizers.MultiOptimizer`, in the order of its `optimizers` (as
PyTorch's schedulers take one value per parameter group).  A callback stores
a list as a tuple; `as_group` shows the callback to its own `build` as if it
had been given group g's numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from keras_lr import _compat

MOMENTUM_ARGUMENTS = ("base_momentum", "max_momentum")


def is_group_argument(name: str) -> bool:
    """Whether argument `name` may hold one value per sub-optimizer."""
    return name.endswith("_lr") or name == "learning_rate" or name in MOMENTUM_ARGUMENTS


def is_per_group(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def per_group(name: str, value: Any, check: Callable[[str, Any], Any]) -> Any:
    """`check(name, value)`, or a tuple of it for each entry of a list."""
    if not is_per_group(value):
        return check(name, value)
    if not value:
        raise ValueError(
            f"Argument `{name}` must be a number or a non-empty list with one number "
            f"per sub-optimizer. Received: {name}={value!r}"
        )
    return tuple(check(name, entry) for entry in value)


def group_count(values: Mapping[str, Any]) -> int | None:
    """How many groups the per-group arguments in `values` give (None: no list).

    Raises:
        ValueError: two lists of different lengths.
    """
    lengths = {name: len(value) for name, value in values.items() if isinstance(value, tuple)}
    if not lengths:
        return None
    if len(set(lengths.values())) > 1:
        given = ", ".join(f"{name}={tuple(values[name])!r}" for name in lengths)
        raise ValueError(
            f"Arguments {', '.join(f'`{n}`' for n in lengths)} give one value per "
            f"sub-optimizer, so they must have the same length. Received: {given}"
        )
    return next(iter(lengths.values()))


def check_each(values: dict, check_one: Callable[[dict], dict]) -> dict:
    """`check_one(values)`, once per group when per-group arguments are lists.

    Each group's values are checked as one call with them would be; a list
    is kept as a tuple of its checked entries.
    """
    values = dict(values)
    listed = [n for n in values if is_group_argument(n) and is_per_group(values[n])]
    for name in listed:
        values[name] = per_group(name, values[name], lambda _, x: x)
    n = group_count({name: values[name] for name in listed})
    if n is None:
        return check_one(values)
    checked = [
        check_one({k: at(x, g) if k in listed else x for k, x in values.items()}) for g in range(n)
    ]
    out = dict(checked[0])
    for name in listed:
        out[name] = tuple(c[name] for c in checked)
    return out


def at(value: Any, group: int) -> Any:
    """Group `group`'s entry of a per-group value (the value itself if shared)."""
    return value[group] if isinstance(value, tuple) else value


def names_per_group(callback: Any, names: Any) -> list[str]:
    return [name for name in names if isinstance(getattr(callback, name, None), tuple)]


@contextlib.contextmanager
def as_group(callback: Any, names: list[str], group: int) -> Iterator[None]:
    """Shows `callback` group `group`'s entry of each per-group attribute in `names`."""
    saved = {name: getattr(callback, name) for name in names}
    try:
        for name, value in saved.items():
            _compat.set_untracked(callback, name, at(value, group))
        yield
    finally:
        for name, value in saved.items():
            _compat.set_untracked(callback, name, value)


def check_count(owner: str, callback: Any, names: list[str], optimizers: list) -> None:
    """Refuses per-group values whose length is not the number of sub-optimizers."""
    if not names:
        return
    n = group_count({name: getattr(callback, name) for name in names})
    if n != len(optimizers):
        given = ", ".join(f"{name}={list(getattr(callback, name))!r}" for name in names)
        found = ", ".join(repr(o.name) for o in optimizers)
        raise ValueError(
            f"{owner}: {given} give{'s' if len(names) == 1 else ''} {n} value"
            f"{'s' if n != 1 else ''}, one per sub-optimizer, but the model's optimizer "
            f"has {len(optimizers)} ({found}). Pass one value per entry of "
            "`model.optimizer.optimizers` (a keras.optimizers.MultiOptimizer), in its order, "
            "or a single number for all."
        )
