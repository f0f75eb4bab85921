"""Argument checks shared by every public constructor.

All messages have one form, naming the argument and the value received:
"Argument `step_size` must be a positive integer. Received: step_size=0".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

# Largest count or step a constructor accepts: the optimizer's step counter
# (`iterations`) is int32 on JAX, so a longer schedule could never be reached
# and its constants overflow inside the compiled step.
MAX_STEP = 2**31 - 1
STEP_LIMIT = f"{MAX_STEP} (2**31 - 1, the last step the optimizer's int32 step counter reaches)"


def _received(name: str, value: Any) -> str:
    return f"Received: {name}={value!r}"


def _type_error(name: str, value: Any, what: str) -> TypeError:
    return TypeError(
        f"Argument `{name}` must be {what}. {_received(name, value)} "
        f"(of type {type(value).__name__})"
    )


def real(name: str, value: Any) -> float:
    """Returns `value` as a finite float, or raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, value, "a real number")
    try:
        out = float(value)
    except OverflowError:  # a Python int beyond the float range
        out = math.inf
    if not math.isfinite(out):
        raise ValueError(f"Argument `{name}` must be finite. {_received(name, value)}")
    return out


def _signed(name: str, value: Any, out: float, *, zero: bool, what: str) -> Any:
    """`out` (`value` converted) if > 0, or >= 0 with `zero`; else "must be {what}"."""
    if out < 0 or (out == 0 and not zero):
        raise ValueError(f"Argument `{name}` must be {what}. {_received(name, value)}")
    return out


def positive_float(name: str, value: Any) -> float:
    return _signed(name, value, real(name, value), zero=False, what="positive")


def nonnegative_float(name: str, value: Any) -> float:
    return _signed(name, value, real(name, value), zero=True, what="non-negative")


def float_in(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Returns `value` as a float inside the given interval, or raises."""
    out = real(name, value)
    below = out <= low if low_open else out < low
    above = out >= high if high_open else out > high
    if below or above:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"Argument `{name}` must be in {interval}. {_received(name, value)}")
    return out


def at_most(low_name: str, low: Any, high_name: str, high: Any) -> None:
    """Raises unless checked values `low <= high`; shows both as received."""
    if float(low) > float(high):
        raise ValueError(
            f"Argument `{low_name}` must not exceed `{high_name}`. "
            f"Received: {low_name}={low!r}, {high_name}={high!r}"
        )


def integer(name: str, value: Any) -> int:
    """Returns `value` as an int <= MAX_STEP, or raises.

    An integral float (`2000.`, `np.float32(4)`) counts as the integer it
    equals, as the classic Keras CLR code writes step sizes.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, value, "an integer")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        as_float = float(value)
        if not as_float.is_integer():  # also nan and +-inf
            raise _type_error(name, value, "an integer")
        out = int(as_float)
    if out > MAX_STEP:
        raise ValueError(
            f"Argument `{name}` must be at most {STEP_LIMIT}. {_received(name, value)}"
        )
    return out


def positive_int(name: str, value: Any) -> int:
    return _signed(name, value, integer(name, value), zero=False, what="a positive integer")


def nonnegative_int(name: str, value: Any) -> int:
    return _signed(name, value, integer(name, value), zero=True, what="a non-negative integer")


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else positive_int(name, value)


def is_fraction(value: Any) -> bool:
    """Whether `value` is a fraction of a run: a non-integral real in (0, 1)."""
    if isinstance(value, (bool, numbers.Integral)) or not isinstance(value, numbers.Real):
        return False
    return 0.0 < float(value) < 1.0


def steps_or_fraction(name: str, value: Any) -> int | float:
    """A count of steps (an integer >= 0) or a fraction of the run (a float in (0, 1))."""
    if is_fraction(value):
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        as_float = float(value)
        if math.isfinite(as_float) and not as_float.is_integer():
            raise ValueError(
                f"Argument `{name}` must be a whole number of steps or a fraction of "
                f"the run in (0, 1). {_received(name, value)}"
            )
    return nonnegative_int(name, value)


def ceil_product(length: int, factor: float) -> int:
    """ceil(length * factor), immune to 1000 * 0.1 == 100.00000000000001."""
    product = length * factor
    nearest = round(product)
    if abs(product - nearest) <= 1e-9 * max(1.0, abs(product)):
        return int(nearest)
    return math.ceil(product)


def of_run(value: int | float, total: int) -> int:
    """A `steps_or_fraction` value in steps: a fraction f of `total` is ceil(f * total)."""
    return ceil_product(total, value) if isinstance(value, float) else value


def one_of(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise _type_error(name, value, f"one of {list(choices)}")
    if value not in choices:
        raise ValueError(
            f"Argument `{name}` must be one of {list(choices)}. {_received(name, value)}"
        )
    return value


def as_list(name: str, values: Any, what: str) -> list:
    """`values` (a list, tuple, array, ...) as a list, or a TypeError naming it."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _type_error(name, values, what)
    try:
        return list(values)
    except TypeError:  # e.g. a 0-d NumPy array, iterable only in name
        raise _type_error(name, values, what) from None


def increasing_ints(name: str, values: Any, *, minimum: int = 0) -> list[int]:
    """A non-empty, strictly increasing list of integers >= `minimum`."""
    out = [integer(name, v) for v in as_list(name, values, "a list of integers")]
    if not out:
        raise ValueError(f"Argument `{name}` must not be empty. {_received(name, values)}")
    if out[0] < minimum or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(
            f"Argument `{name}` must be strictly increasing integers >= {minimum}. "
            f"{_received(name, values)}"
        )
    return out


def callable_(name: str, value: Any) -> Any:
    if not callable(value):
        raise _type_error(name, value, "callable")
    return value


def finite_nonnegative(
    name: str, values: np.ndarray, what: str, received: Callable[[int], str]
) -> np.ndarray:
    """`values` if all are finite and >= 0, else a ValueError for the first that is not.

    The message is "Argument `{name}` must {what}. Received: {received(k)}",
    with k the index of that value (`received` shows it, e.g. "fn(3)=nan").
    """
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"Argument `{name}` must {what}. Received: {received(k)}")
    return values
