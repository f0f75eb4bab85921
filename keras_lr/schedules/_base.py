"""The base class `Schedule`, `evaluate`, and the simplest schedules.

`Schedule` subclasses write their formula once, `_rate(step, ops)`, where
`ops` is one of the two namespaces of `_ops.py`: `_NUMPY` (float64 on NumPy
arrays) or `_KERAS` (float32 `keras.ops` in the compiled step).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops as kops

from keras_lr import _validation as v
from keras_lr.schedules._ops import _KERAS, _NUMPY

_register = keras.saving.register_keras_serializable(package="keras_lr")

# Largest step a schedule has to index (int32 range: JAX runs without x64).
# Every count and length argument is refused above it (`_validation.integer`).
_MAX_STEP = v.MAX_STEP


def _as_steps(steps: Any) -> np.ndarray:
    """Steps for `numpy()`: an int N means steps 0..N-1."""
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        count = v.nonnegative_int("steps", steps)
        return np.arange(count, dtype=np.int64)
    arr = np.asarray(steps)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise ValueError(
                f"Argument `steps` must hold whole step numbers. Received: steps={steps!r}"
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(
            "Argument `steps` must be an integer count or an array of integer "
            f"steps. Received: steps={steps!r}"
        )
    if arr.size and arr.min() < 0:
        raise ValueError(f"Argument `steps` must be non-negative. Received: steps={steps!r}")
    return arr.astype(np.int64)


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(config):
    return keras.saving.deserialize_keras_object(config)


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a config value; equal values give equal stand-ins.

    Configs hold dicts (serialized inner schedules and functions), lists and
    plain values.  A value that is neither and cannot be hashed stands in by
    its type alone: equal values still hash alike, only more often collide.
    """
    if isinstance(value, dict):
        return ("dict", frozenset((key, _hashable(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_hashable(item) for item in value))
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value).__qualname__)
    return value


def _length(name: str, value: Any) -> int | None:
    """A length argument of `check_arguments`: None (the fit gives it) or > 0."""
    return None if value is None else v.positive_int(name, value)


@functools.cache
def _parameters(cls: type) -> tuple[inspect.Parameter, ...]:
    """The constructor parameters (after `self`) that `cls._check` checks.

    They are those of the class that defines `_check`, so that a subclass
    with a constructor of its own still checks what it passes on.
    """
    owner = next(c for c in cls.__mro__ if "_check" in vars(c))
    if owner is Schedule:
        raise NotImplementedError(f"{cls.__name__} does not implement `check_arguments`.")
    params = list(inspect.signature(owner.__init__).parameters.values())[1:]
    return tuple(p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base class: a rate as a pure function of the 0-based optimizer step.

    Subclasses implement `_rate(step, ops)` once, with `ops` either the NumPy
    or the `keras.ops` namespace, and `get_config()` returning exactly the
    constructor arguments.  Two schedules are equal (and hash alike) when
    they are of the same class with equal configs.

    Schedules with lengths among their arguments also implement `_check`,
    which `check_arguments` runs: it checks and normalises the arguments
    without building a schedule, for a caller that learns the lengths named
    in `length_arguments` only later (a callback, at the start of `fit`).
    Their `__init__` calls `_store`, which runs the same checks, requires the
    lengths and stores each argument under its own name.
    """

    #: The arguments that `check_arguments` accepts as None: lengths (in steps
    #: or units) that the caller may only know once the fit starts.
    length_arguments: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> dict:
        """The constructor's arguments checked and normalised, without a schedule.

        Arguments are passed by keyword; omitted ones take the constructor's
        defaults, and an omitted required length is None.  Each name in
        `length_arguments` may be None; everything else is checked with the
        constructor's own checks and messages (`__init__` calls this too).

        Returns:
            A dict of every constructor argument, in signature order, with
            its normalised value (floats, ints, lists), so that
            `cls(**args)` builds the schedule once the lengths are filled in.

        Raises:
            TypeError: an argument this class does not take, a required one
                missing, or one of the wrong type.
            ValueError: an argument out of its range.
            NotImplementedError: the class does not implement `_check`.

        Example:
            >>> from keras_lr import schedules as S
            >>> S.Cosine.check_arguments(max_lr=1, min_lr=0.1, total_steps=None)
            {'max_lr': 1.0, 'min_lr': 0.1, 'total_steps': None}
        """
        params = _parameters(cls)
        unknown = sorted(set(kwargs) - {p.name for p in params})
        if unknown:
            raise TypeError(
                f"{cls.__name__} takes no argument `{unknown[0]}`; it takes "
                + ", ".join(f"`{p.name}`" for p in params)
                + "."
            )
        args = {}
        for p in params:
            if p.name in kwargs:
                args[p.name] = kwargs[p.name]
            elif p.default is not p.empty:
                args[p.name] = p.default
            elif p.name in cls.length_arguments:
                args[p.name] = None
            else:
                raise TypeError(f"{cls.__name__} is missing the argument `{p.name}`.")
        return cls._check(args)

    @classmethod
    def _check(cls, args: dict) -> dict:
        """`args` (every constructor argument) checked and normalised."""
        raise NotImplementedError

    def _store(self, **kwargs: Any) -> None:
        """`check_arguments`, the lengths required, each stored under its name."""
        args = self.check_arguments(**kwargs)
        for name in self.length_arguments:
            if args[name] is None:
                # A schedule needs all its lengths: None gets the TypeError
                # any other non-integer gets.
                v.positive_int(name, None)
        for name, value in args.items():
            setattr(self, name, value)

    def _rate(self, step, ops):
        raise NotImplementedError

    @property
    def unresolved(self) -> bool:
        """Whether the schedule needs the length of the run (`resolve`) before it has rates."""
        return False

    def resolve(self, total_steps: int) -> Schedule:
        """This schedule with what it leaves to the run (fractional `Join`
        boundaries, a None `total_steps`) filled in from its length; the
        scheduling callbacks call it with the fit's."""
        v.positive_int("total_steps", total_steps)
        return self

    def __mul__(self, other):
        return _multiply(self, other)

    def __rmul__(self, other):
        return _multiply(other, self)

    def __call__(self, step):
        step = kops.convert_to_tensor(step)
        if "int" not in keras.backend.standardize_dtype(step.dtype):
            step = kops.floor(step)
        step = kops.cast(step, _KERAS.int_dtype)
        return kops.cast(self._rate(step, _KERAS), "float32")

    def numpy(self, steps: Any) -> np.ndarray:
        """Rates in float64 for the given steps (an int N means 0..N-1)."""
        arr = _as_steps(steps)
        out = np.asarray(self._rate(arr, _NUMPY), dtype=np.float64)
        return np.broadcast_to(out, arr.shape).copy()

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        with warnings.catch_warnings():
            # Keras warns when it serializes a `lambda` (as `scale_fn`): that
            # is about saving, and hashing saves nothing.
            warnings.simplefilter("ignore", UserWarning)
            try:
                config = self.get_config()
            except Exception:  # e.g. a lambda without source: `==` raises too
                return object.__hash__(self)
        return hash((type(self), _hashable(config)))


def _multiply(a: Any, b: Any) -> Any:
    """`a * b`: `Product(a, b)` of two schedules, `Scaled` by a number."""
    from keras_lr.schedules._compose import Product, Scaled

    def number(x):
        return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)

    schedules = keras.optimizers.schedules.LearningRateSchedule
    if isinstance(a, schedules) and isinstance(b, schedules):
        return Product(a, b)
    if number(a) or number(b):
        return Scaled(b, a) if number(a) else Scaled(a, b)
    return NotImplemented


def evaluate(schedule: Any, steps: Any) -> np.ndarray:
    """Rates of any schedule for `steps`, as a float64 NumPy array.

    Works for `keras_lr` schedules (float64 math) and for any other Keras
    `LearningRateSchedule` or callable of the step (evaluated with `keras.ops`).

    Example:
        >>> import keras
        >>> from keras_lr import schedules as S
        >>> S.evaluate(S.Constant(0.5), 3).tolist()
        [0.5, 0.5, 0.5]
        >>> S.evaluate(keras.optimizers.schedules.CosineDecay(1.0, 2), 3).round(6).tolist()
        [1.0, 0.5, 0.0]
    """
    if isinstance(schedule, Schedule):
        return schedule.numpy(steps)
    arr = _as_steps(steps)
    if not callable(schedule):
        return np.full(arr.shape, v.real("schedule", schedule), dtype=np.float64)
    return _NUMPY.foreign(schedule, arr).copy()


@_register
class Constant(Schedule):
    """A constant rate: lr(i) = learning_rate.

    Args:
        learning_rate: the rate, >= 0.
    """

    def __init__(self, learning_rate: float):
        self.learning_rate = v.nonnegative_float("learning_rate", learning_rate)

    def _rate(self, step, ops):
        return ops.to_float(step) * 0.0 + self.learning_rate

    def get_config(self):
        return {"learning_rate": self.learning_rate}


@_register
class Table(Schedule):
    """A rate looked up per step: lr(i) = values[clip(i - offset, 0, n - 1)].

    Used for custom rules written in plain Python (`LambdaSchedule`), which
    are evaluated once per step ahead of training, and for the range test's
    ladder (which starts at the optimizer's current step, `offset`).

    Args:
        values: non-empty sequence of n finite rates >= 0.
        offset: the step that reads values[0], a non-negative integer.

    Example:
        >>> from keras_lr import schedules as S
        >>> S.Table([0.3, 0.2, 0.1], offset=1).numpy(5).tolist()
        [0.3, 0.3, 0.2, 0.1, 0.1]
    """

    def __init__(self, values: Iterable[float], offset: int = 0):
        try:
            arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
        except TypeError:
            raise TypeError(
                f"Argument `values` must be numbers. Received: values={values!r}"
            ) from None
        if arr.size and arr.dtype.kind not in "iuf":
            raise TypeError(f"Argument `values` must be numbers. Received: values={values!r}")
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
            raise ValueError(
                "Argument `values` must be a non-empty 1-D sequence of numbers. "
                f"Received: values of shape {arr.shape} and dtype {arr.dtype}"
            )
        arr = arr.astype(np.float64)
        self.values = v.finite_nonnegative(
            "values", arr, "hold finite rates >= 0", lambda k: f"values[{k}]={arr[k]!r}"
        )
        self.offset = v.nonnegative_int("offset", offset)

    def _rate(self, step, ops):
        idx = ops.clip(step - self.offset, 0, len(self.values) - 1)
        return ops.take(ops.float_const(self.values), idx)

    def get_config(self):
        return {"values": self.values.tolist(), "offset": self.offset}


@_register
class PerEpoch(Schedule):
    """Evaluates `schedule` at the epoch of the step: lr(i) = s(floor(i / spe)).

    Args:
        schedule: a `keras_lr` schedule counting epochs.
        steps_per_epoch: spe, a positive integer.
    """

    def __init__(self, schedule: Schedule, steps_per_epoch: int):
        if not isinstance(schedule, Schedule):
            raise TypeError(
                f"Argument `schedule` must be a keras_lr schedule. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.steps_per_epoch = v.positive_int("steps_per_epoch", steps_per_epoch)

    def _rate(self, step, ops):
        return self.schedule._rate(ops.floor_divide(step, self.steps_per_epoch), ops)

    def get_config(self):
        return {
            "schedule": _serialize(self.schedule),
            "steps_per_epoch": self.steps_per_epoch,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = _deserialize(config["schedule"])
        return cls(**config)
