"""Argument checks shared by every public constructor.

All messages have one form, naming the argument and the value received:
"Argument `step_size` must be a positive integer. Received: step_size=0".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

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


def positive_float(name: str, value: Any) -> float:
    out = real(name, value)
    if out <= 0:
        raise ValueError(f"Argument `{name}` must be positive. {_received(name, value)}")
    return out


def nonnegative_float(name: str, value: Any) -> float:
    out = real(name, value)
    if out < 0:
        raise ValueError(f"Argument `{name}` must be non-negative. {_received(name, value)}")
    return out


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
    out = integer(name, value)
    if out <= 0:
        raise ValueError(f"Argument `{name}` must be a positive integer. {_received(name, value)}")
    return out


def nonnegative_int(name: str, value: Any) -> int:
    out = integer(name, value)
    if out < 0:
        raise ValueError(
            f"Argument `{name}` must be a non-negative integer. {_received(name, value)}"
        )
    return out


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else positive_int(name, value)


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
