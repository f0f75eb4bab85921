"""A scheduling callback declared once, from the schedule it builds.

A callback class names its schedule in a `ScheduleSpec`; the spec gives the
callback its constructor (the schedule's parameters, with the lengths `fit`
can fill in defaulting to None, then `warmup_steps`, `warmup_start_lr` and
`warmup_shape`),
checks the arguments with the schedule's own `check_arguments`, builds the
schedule from the stored arguments and what `fit` knows, and writes the
`Args:` section of the docstring from the schedule's.  `get_config()` returns
the stored arguments.  So a callback and its schedule cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Mapping
from typing import Any

from keras_lr import _deprecation
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr.callbacks import _context, _groups

# What a length left None is taken as: the name says it (the naming table).
_FROM_FIT = {
    "total_steps": "None (the default) takes the fit's epochs x steps per epoch, "
    "less `warmup_steps`.",
    "steps_per_epoch": "None (the default) takes what `fit` knows.",
}
_STEPS_PER_EPOCH_DOC = "steps per epoch, a positive integer."
_WARMUP = (
    inspect.Parameter(
        "warmup_steps", inspect.Parameter.KEYWORD_ONLY, default=0, annotation="int | float"
    ),
    inspect.Parameter(
        "warmup_start_lr", inspect.Parameter.KEYWORD_ONLY, default=0.0, annotation="float"
    ),
    inspect.Parameter(
        "warmup_shape", inspect.Parameter.KEYWORD_ONLY, default="linear", annotation="str"
    ),
)
_MOMENTUM_DOCS = {
    "cycle_momentum": "cycle the optimizer's momentum (SGD's `momentum`, `beta_1` of "
    "Adam and the others that have one) opposite to the rate, with PyTorch's formulas: "
    "True cycles (an optimizer without a momentum in use is refused before training), "
    "False leaves it alone, None cycles when the optimizer has a momentum in use (SGD "
    "with momentum > 0, or a `beta_1`).",
    "base_momentum": "the momentum where the rate peaks, in [0, 1] (one per sub-optimizer "
    "as a list).",
    "max_momentum": "the momentum where the rate is lowest, in [base_momentum, 1] (one "
    "per sub-optimizer as a list).",
}
_SECTIONS = re.compile(r"^\s*(Attributes|Example|Examples|Raises|References|Returns):\s*$")


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """How a callback's parameters map onto its schedule's.

    Attributes:
        schedule: the `keras_lr.schedules` class the callback builds.
        from_fit: callback parameters that default to None, meaning "what
            `fit` knows": `total_steps` (the fit's steps after the warm-up)
            or `steps_per_epoch`.
        per_epoch: the schedule counts epochs: the callback wraps it in
            `PerEpoch(schedule, steps_per_epoch)` and takes `steps_per_epoch`
            (None: from `fit`) as its last parameter.
        names: callback parameter -> schedule parameter, where they differ.
        order: the callback's parameter order, where it is not the schedule's.
        keyword_only: the first keyword-only parameter; positional calls in
            the old `order` keep working with a `DeprecationWarning`, up to
            `added_keywords` (added since, never positional).
        in_epochs: parameters the callback counts in epochs where its
            schedule counts steps; each has an entry in `docs` saying so.
        docs: the `Args:` line of a parameter, where the schedule's does not fit.
        renamed: old spelling -> new, kept working with a `DeprecationWarning`.
        momentum: (default `cycle_momentum`, default `base_momentum`, default
            `max_momentum`) for a callback that cycles the momentum too
            (its schedule has a `Momentum`); it then takes those three
            parameters after the schedule's.
    """

    schedule: type
    from_fit: tuple[str, ...] = ()
    per_epoch: bool = False
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    order: tuple[str, ...] | None = None
    keyword_only: str | None = None
    added_keywords: tuple[str, ...] = ()
    in_epochs: tuple[str, ...] = ()
    docs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    momentum: tuple[bool | None, float, float] | None = None

    def __post_init__(self):
        for name in self.names:
            if name not in self.from_fit:
                raise TypeError(f"ScheduleSpec: renamed `{name}` must be a length from `fit`.")
        for name in self.in_epochs:
            if "epoch" not in self.docs.get(name, ""):
                raise TypeError(f"ScheduleSpec: `{name}` counts epochs; its `docs` must say so.")

    # -- the parameters ----------------------------------------------------
    def _schedule_parameters(self) -> dict[str, inspect.Parameter]:
        params = dict(inspect.signature(self.schedule).parameters)
        return {self._callback_name(name): p for name, p in params.items()}

    def _callback_name(self, schedule_name: str) -> str:
        return {s: c for c, s in self.names.items()}.get(schedule_name, schedule_name)

    def schedule_name(self, name: str) -> str:
        return self.names.get(name, name)

    @functools.cached_property
    def parameters(self) -> tuple[str, ...]:
        """The callback's own parameters, in order (without the warm-up)."""
        names = list(self._schedule_parameters())
        if self.per_epoch:
            names.append("steps_per_epoch")
        if self.order is not None:
            if sorted(self.order) != sorted(names):
                raise TypeError(f"ScheduleSpec.order {self.order} must list {names}.")
            names = list(self.order)
        return tuple(names) + self.momentum_parameters

    @property
    def momentum_parameters(self) -> tuple[str, ...]:
        return () if self.momentum is None else ("cycle_momentum", *_groups.MOMENTUM_ARGUMENTS)

    def signature(self) -> inspect.Signature:
        """`(self, <parameters>, *, warmup_steps=0, warmup_start_lr=0.0, warmup_shape="linear")`."""
        from_schedule = self._schedule_parameters()
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        out = [inspect.Parameter("self", kind)]
        for name in self.parameters:
            if name == self.keyword_only:
                kind = inspect.Parameter.KEYWORD_ONLY
            if name in self.momentum_parameters:
                param = _momentum_parameter(self, name, kind)
            elif name in self.from_fit or name not in from_schedule:
                param = inspect.Parameter(name, kind, default=None, annotation="int | None")
            else:
                param = from_schedule[name].replace(name=name, kind=kind)
            out.append(param)
        return inspect.Signature(out + list(_WARMUP), return_annotation=None)

    # -- what the callback does with them ----------------------------------
    def check(self, values: dict) -> dict:
        """The callback's arguments checked and normalised, per group for lists."""
        return _groups.check_each(values, functools.partial(_check_one, self))

    def build(self, callback: Any, context: _context.FitContext, **overrides: Any) -> S.Schedule:
        """The schedule of `callback`'s arguments, its None lengths from `context`."""
        owner, warmup = type(callback).__name__, callback.warmup_length
        args = {}
        for name in self.parameters:
            if self.per_epoch and name == "steps_per_epoch" or name in self.momentum_parameters:
                continue
            value = overrides[name] if name in overrides else getattr(callback, name)
            if value is None and name == "total_steps" and name in self.from_fit:
                value = _context.total_steps(owner, context, None, name, warmup(context))
            elif value is None and name == "steps_per_epoch" and name in self.from_fit:
                value = _context.steps_per_epoch(owner, context, None)
            args[self.schedule_name(name)] = value
        schedule = self.schedule(**args)
        if self.per_epoch:
            spe = _context.steps_per_epoch(owner, context, callback.steps_per_epoch)
            schedule = S.PerEpoch(schedule, spe)
        return schedule

    def fixed_length(self, callback: Any) -> int | None:
        """Steps after which the schedule holds its end rate, when an argument sets it."""
        return getattr(callback, "total_steps", None) if "total_steps" in self.from_fit else None


def _check_one(self: ScheduleSpec, values: dict) -> dict:
    """One group's arguments checked and normalised by the schedule.

    A length the fit may fill in is None or a positive integer; one the
    callback names differently from its schedule is checked here under
    its own name, and by the schedule once the schedule is built.  A
    length the schedule may leave to later but the callback does not
    (SGDR's `cycle_length`) is required.
    """
    out = check_momentum(values) if self.momentum is not None else {}
    values = {k: x for k, x in values.items() if k not in self.momentum_parameters}
    for name in self.from_fit:
        out[name] = v.optional_positive_int(name, values[name])
    if self.per_epoch:
        out["steps_per_epoch"] = v.optional_positive_int(
            "steps_per_epoch", values["steps_per_epoch"]
        )
    passed = {
        name: None if name in self.names else out.get(name, value)
        for name, value in values.items()
        if not (self.per_epoch and name == "steps_per_epoch")
    }
    checked = self.schedule.check_arguments(
        **{self.schedule_name(name): value for name, value in passed.items()}
    )
    for name in passed:
        if name not in self.names:
            out[name] = checked[self.schedule_name(name)]
        lengths = getattr(self.schedule, "length_arguments", ())
        if out[name] is None and self.schedule_name(name) in lengths:
            if name not in self.from_fit:
                v.positive_int(name, None)  # the TypeError of any non-integer
    return {name: out[name] for name in self.parameters}


def _momentum_parameter(spec: ScheduleSpec, name: str, kind: Any) -> inspect.Parameter:
    default = spec.momentum[spec.momentum_parameters.index(name)]
    annotation = "bool | None" if name == "cycle_momentum" else "float"
    return inspect.Parameter(name, kind, default=default, annotation=annotation)


def check_momentum(values: dict) -> dict:
    """`cycle_momentum` (True, False or None) and the momentum bounds, checked."""
    cycle = values["cycle_momentum"]
    if cycle is not None and not isinstance(cycle, bool):
        raise TypeError(
            "Argument `cycle_momentum` must be True, False or None. "
            f"Received: cycle_momentum={cycle!r}"
        )
    base, high = S.check_momentum_bounds(values["base_momentum"], values["max_momentum"])
    return {"cycle_momentum": cycle, "base_momentum": base, "max_momentum": high}


def attach(spec: ScheduleSpec, cls: type) -> None:
    """Gives `cls` the `__init__` of `spec` and the `Args:` of its docstring."""
    if "__init__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} declares its parameters in `spec`: it has no __init__.")
    signature = spec.signature()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop("self")
        super(cls, self).__init__(
            warmup_steps=values.pop("warmup_steps"),
            warmup_start_lr=values.pop("warmup_start_lr"),
            warmup_shape=values.pop("warmup_shape"),
        )
        for name, value in type(self)._check_arguments(values).items():
            setattr(self, name, value)
        _groups.group_count({name: getattr(self, name) for name in self._group_arguments})

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__name__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = f"See `{cls.__name__}`."
    init = __init__
    if spec.keyword_only is not None:
        order = spec.parameters
        old = order[order.index(spec.keyword_only) :]
        old = tuple(name for name in old if name not in spec.added_keywords)
        init = _deprecation.keyword_only(spec.keyword_only, old)(init)
    if spec.renamed:
        init = _deprecation.renamed(**spec.renamed)(init)
    cls.__init__ = init
    cls.__doc__ = _with_args(cls.__doc__ or "", args_doc(spec))


def args_doc(spec: ScheduleSpec) -> list[str]:
    """The `Args:` entries: the schedule's, with the callback's differences."""
    from_schedule = _args_of(spec.schedule.__doc__ or "")
    lines = []
    for name in spec.parameters:
        wrapper_spe = spec.per_epoch and name == "steps_per_epoch"
        if name in spec.docs:
            text = spec.docs[name]
        elif name in spec.momentum_parameters:
            text = _MOMENTUM_DOCS[name]
        elif wrapper_spe:
            text = _STEPS_PER_EPOCH_DOC
        else:
            text = from_schedule.get(
                spec.schedule_name(name), f"see `keras_lr.schedules.{spec.schedule.__name__}`."
            )
        if name in spec.from_fit or wrapper_spe:
            text = f"{text} {_FROM_FIT[name]}"
        lines.append(f"{name}: {text}")
    lines.append("warmup_steps, warmup_start_lr, warmup_shape: see `ScheduleCallback`.")
    return lines


def _args_of(doc: str) -> dict[str, str]:
    """`name: text` entries of the `Args:` section of a Google-style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    try:
        start = lines.index("Args:") + 1
    except ValueError:
        return out
    current = None
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        match = re.match(r"^    ([\w, ]+): (.*)$", line)
        if match:
            current = [n.strip() for n in match.group(1).split(",")]
            for name in current:
                out[name] = match.group(2).strip()
        elif current and line.strip():
            for name in current:
                out[name] += " " + line.strip()
    return out


def _with_args(doc: str, entries: list[str], width: int = 88) -> str:
    """`doc` with an `Args:` section of `entries`, before its first later section."""
    import textwrap

    lines = doc.splitlines()
    indent = next((ln[: len(ln) - len(ln.lstrip())] for ln in lines[1:] if ln.strip()), "    ")
    body = [f"{indent}Args:"]
    for entry in entries:
        body += textwrap.wrap(entry, width, initial_indent=indent * 2, subsequent_indent=indent * 3)
    where = next((i for i, ln in enumerate(lines) if i and _SECTIONS.match(ln)), None)
    if where is None:
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines + [""] + body + [indent])
    return "\n".join(lines[:where] + body + [""] + lines[where:])
