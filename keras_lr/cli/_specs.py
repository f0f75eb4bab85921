"""What `keras-lr schedule NAME --param KEY=VALUE` accepts: one declared spec per schedule.

Each schedule name maps to its class and, for every constructor argument the
command line takes, the converter that turns its text into a value: a number,
an integer, true/false, one of a few strings, a list of integers, each
optionally `none`.  Defaults shown in `--help` are read from the constructor,
so the spec never restates them; `tests/test_cli.py` checks that every spec
names exactly the constructor's rate-shaping arguments.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras_lr
from keras_lr import schedules as S
from keras_lr.cli._errors import PROG, CLIError, one_line

# `--param` integers (step sizes, milestones, lengths) count steps or epochs,
# which the backends' int32 step counter bounds.
MAX_INT_PARAM = 2**31 - 1
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _int(text: str) -> int:
    # "1e4" and "2000.0" are integers too when written in float notation.
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    if abs(value) > MAX_INT_PARAM:
        raise OverflowError(text)
    return int(value)


def _ints(text: str) -> list[int]:
    return [_int(part) for part in text.split(",") if part.strip()]


@dataclasses.dataclass(frozen=True)
class Converter:
    """How the text of one `--param KEY=VALUE` becomes a constructor argument.

    Attributes:
        what: what the value must be, for the error message ("an integer").
        parse: text -> value; raises KeyError or ValueError on bad text, and
            OverflowError on an integer beyond the int32 step counter.
        optional: whether `none` (any case) gives None.
    """

    what: str
    parse: Callable[[str], Any]
    optional: bool = False

    def or_none(self) -> Converter:
        """The same converter, also accepting `none`."""
        return dataclasses.replace(self, optional=True)

    def __call__(self, name: str, text: str) -> Any:
        """The value of argument `name` written as `text`, or a CLIError naming `name`."""
        if self.optional and text.lower() == "none":
            return None
        try:
            return self.parse(text)
        except (KeyError, ValueError):
            raise CLIError(
                f"Argument `{name}` must be {self.what}. Received: {name}={text!r}"
            ) from None
        except OverflowError:
            raise CLIError(
                f"Argument `{name}` must be at most {MAX_INT_PARAM} in size (the int32 step "
                f"counter). Received: {name}={text!r}"
            ) from None


def choice(*options: str) -> Converter:
    """One of `options`, as written (the constructor's own wording on a miss)."""

    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(text)
        return text

    return Converter(f"one of {list(options)}", parse)


NUMBER = Converter("a number", float)
INTEGER = Converter("an integer", _int)
BOOL = Converter("true or false", lambda text: _BOOLS[text.lower()])
INTEGERS = Converter("comma-separated integers", _ints)


def _steps_or_fraction(text: str) -> int | float:
    value = float(text)
    return value if 0.0 < value < 1.0 and not value.is_integer() else _int(text)


# A count of steps, or a fraction of the run in (0, 1) ("0.1").
STEPS = Converter("an integer or a fraction in (0, 1)", _steps_or_fraction)
WARMUP_SHAPE = choice(*S.RAMP_SHAPES)

# ScheduleCallback's warm-up, which every scheduling callback takes.
_WARMUP = {"warmup_steps": STEPS, "warmup_start_lr": NUMBER, "warmup_shape": WARMUP_SHAPE}


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """A schedule name of the command line: the class and the arguments it takes.

    Attributes:
        cls: the keras_lr callback or schedule built.
        params: converter of each argument the command line passes on.
        renamed: old argument spellings still accepted, old -> current name
            (the constructor's deprecated names, for one release).
    """

    cls: type
    params: Mapping[str, Converter]
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)


SPECS: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(S.Constant, {"learning_rate": NUMBER}),
    "linear": ScheduleSpec(
        S.Linear,
        {"start_lr": NUMBER, "end_lr": NUMBER, "total_steps": INTEGER},
        renamed={"steps": "total_steps"},
    ),
    "step": ScheduleSpec(
        keras_lr.StepDecay,
        {
            "initial_lr": NUMBER,
            "decay_factor": NUMBER,
            "step_size": INTEGER,
            "milestones": INTEGERS.or_none(),
            "steps_per_epoch": INTEGER.or_none(),
            **_WARMUP,
        },
    ),
    "exponential": ScheduleSpec(
        keras_lr.ExponentialDecay,
        {"initial_lr": NUMBER, "gamma": NUMBER, "steps_per_epoch": INTEGER.or_none(), **_WARMUP},
    ),
    "polynomial": ScheduleSpec(
        keras_lr.PolynomialDecay,
        {
            "initial_lr": NUMBER,
            "total_steps": INTEGER.or_none(),
            "power": NUMBER,
            "end_lr": NUMBER,
            "cycle": BOOL,
            **_WARMUP,
        },
        renamed={"max_steps": "total_steps"},
    ),
    "cosine": ScheduleSpec(
        keras_lr.CosineAnnealing,
        {"max_lr": NUMBER, "min_lr": NUMBER, "total_steps": INTEGER.or_none(), **_WARMUP},
    ),
    "cyclic": ScheduleSpec(
        keras_lr.CyclicLR,
        {
            "base_lr": NUMBER,
            "max_lr": NUMBER,
            "step_size": INTEGER,
            "mode": choice("triangular", "triangular2", "exp_range"),
            "gamma": NUMBER,
            "scale_mode": choice("cycle", "iterations"),
            "step_size_down": INTEGER.or_none(),
            **_WARMUP,
        },
    ),
    "sgdr": ScheduleSpec(
        keras_lr.SGDRScheduler,
        {
            "min_lr": NUMBER,
            "max_lr": NUMBER,
            "steps_per_epoch": INTEGER.or_none(),
            "lr_decay": NUMBER,
            "cycle_length": INTEGER,
            "mult_factor": NUMBER,
            "cycle_limit": INTEGER.or_none(),
            **_WARMUP,
        },
    ),
    "onecycle": ScheduleSpec(
        keras_lr.OneCycleLR,
        {
            "max_lr": NUMBER,
            "total_steps": INTEGER.or_none(),
            "pct_start": NUMBER,
            "div_factor": NUMBER,
            "final_div_factor": NUMBER,
            "anneal_strategy": choice("cos", "linear"),
            "three_phase": BOOL,
            **_WARMUP,
        },
    ),
    "wsd": ScheduleSpec(
        keras_lr.WarmupStableDecay,
        {
            "max_lr": NUMBER,
            "warmup_steps": STEPS,
            "decay_steps": STEPS,
            "total_steps": INTEGER.or_none(),
            "warmup_shape": choice("linear", "cosine", "1-sqrt", "exponential"),
            "decay_shape": choice("linear", "cosine", "1-sqrt"),
            "min_lr": NUMBER,
        },
    ),
    "invsqrt": ScheduleSpec(
        keras_lr.InverseSqrt,
        {
            "max_lr": NUMBER,
            "warmup_steps": STEPS,
            "timescale": INTEGER.or_none(),
            "warmup_shape": choice("linear", "cosine"),
        },
    ),
    "snapshot": ScheduleSpec(
        keras_lr.SnapshotEnsemble,
        {"n_snapshots": INTEGER, "max_lr": NUMBER, "epochs": INTEGER.or_none(), **_WARMUP},
    ),
    "fge": ScheduleSpec(
        keras_lr.FastGeometricEnsemble,
        {"max_lr": NUMBER, "min_lr": NUMBER, "cycle_steps": INTEGER, **_WARMUP},
        renamed={"lr_high": "max_lr", "lr_low": "min_lr"},
    ),
}
SCHEDULES: dict[str, type] = {name: spec.cls for name, spec in SPECS.items()}

# Constructor arguments that do not shape the rate (files, logging, callables
# that cannot be given as text): no spec declares them.
NOT_RATE_ARGS = {
    *("self", "directory", "save_format", "overwrite", "verbose", "n_models"),
    *("scale_fn", "fn"),
    # The momentum, not the rate: `keras-lr schedule` previews rates.
    *("cycle_momentum", "base_momentum", "max_momentum"),
}


def signature_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The rate-shaping constructor parameters of `cls`, read from its signature.

    Scheduling callbacks pass `**kwargs` on to `ScheduleCallback`, whose
    warm-up parameters are added here.  The specs take their defaults from
    this, and the tests check each spec against it.
    """
    params = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in NOT_RATE_ARGS:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            if issubclass(cls, keras_lr.ScheduleCallback):
                params.update(signature_parameters(keras_lr.ScheduleCallback))
                params.pop("schedule", None)
            continue
        params[name] = param
    return params


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One argument of a schedule name, as the command line parses and documents it."""

    name: str
    convert: Converter
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def _derive(spec: ScheduleSpec) -> dict[str, Parameter]:
    signature = signature_parameters(spec.cls)
    return {
        name: Parameter(
            name,
            convert,
            signature[name].default if name in signature else inspect.Parameter.empty,
        )
        for name, convert in spec.params.items()
    }


# Derived once: the parameters of every schedule name, in the order of its spec
# (the constructor's order, which the tests check).
PARAMETERS: dict[str, dict[str, Parameter]] = {name: _derive(s) for name, s in SPECS.items()}


def describe(name: str) -> str:
    """Two or more help lines for schedule `name`: the class, and each argument's default."""
    cls = SCHEDULES[name]
    summary = (inspect.getdoc(cls) or "").splitlines()[0].rstrip(".")
    args = [
        f"{p.name} (required)" if p.required else f"{p.name}={p.default!r}"
        for p in PARAMETERS[name].values()
    ]
    where = "keras_lr.schedules" if issubclass(cls, S.Schedule) else "keras_lr"
    indent = " " * 14
    params = textwrap.fill(", ".join(args), 88, initial_indent=indent, subsequent_indent=indent)
    return f"  {name:<12}{where}.{cls.__name__}: {summary}\n{params}"


def parse_params(name: str, pairs: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments of schedule `name` from `KEY=VALUE` texts, converted and complete.

    Raises:
        CLIError: unknown schedule or argument, a text that is not KEY=VALUE,
            a value its converter refuses (the message names the argument),
            or a required argument left out.

    Example:
        >>> parse_params("cyclic", ["step_size=4", "mode=triangular2", "step_size_down=none"])
        {'step_size': 4, 'mode': 'triangular2', 'step_size_down': None}
    """
    if name not in SPECS:
        raise CLIError(
            f"unknown schedule {name!r}; choose one of {', '.join(SPECS)} "
            f"(see `{PROG} schedule --help`)"
        )
    params, renamed = PARAMETERS[name], SPECS[name].renamed
    kwargs = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param takes KEY=VALUE, got {pair!r}")
        if key in renamed:
            print(
                f"{PROG}: warning: {name}: `{key}` is deprecated; use `{renamed[key]}`",
                file=sys.stderr,
            )
            key = renamed[key]
        if key not in params:
            raise CLIError(
                f"{name} has no parameter {key!r}; it takes {', '.join(params)} "
                f"(see `{PROG} schedule --help`)"
            )
        kwargs[key] = params[key].convert(key, text.strip())
    missing = [p for p, param in params.items() if param.required and p not in kwargs]
    if missing:
        raise CLIError(
            f"{name} needs {', '.join(missing)}: pass "
            + " ".join(f"--param {p}=VALUE" for p in missing)
        )
    return kwargs


def build_schedule(name: str, pairs: Sequence[str]):
    """The callback or schedule `name` built from `KEY=VALUE` texts (see `parse_params`)."""
    kwargs = parse_params(name, pairs)
    try:
        return SPECS[name].cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CLIError(one_line(err)) from None
