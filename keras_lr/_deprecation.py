"""Old argument spellings, kept working for one minor release with a warning.

Each rename is listed in CHANGELOG.md under the release that made it; the
old spelling goes away in the next minor release.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any


def renamed(**old_to_new: str) -> Callable:
    """Decorates an `__init__` (or function) so old keyword names still work.

    `@renamed(lr_high="max_lr")`: a call with `lr_high=...` warns with a
    `DeprecationWarning` that names `max_lr`, and passes the value as
    `max_lr`.  Passing both spellings is a `TypeError`.
    """

    def decorate(fn: Callable) -> Callable:
        owner = fn.__qualname__.split(".")[0] if fn.__name__ == "__init__" else fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{owner} got both `{old}` and `{new}`: `{old}` is the old "
                            f"name of `{new}`; pass `{new}` only."
                        )
                    warnings.warn(
                        f"{owner}: argument `{old}` is deprecated and will be removed in "
                        f"the next minor release; use `{new}`.",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def keyword_only(first: str, old_order: tuple[str, ...]) -> Callable:
    """Decorates an `__init__` whose arguments from `first` on became keyword-only.

    `old_order` is the positional order of those arguments before the change.
    A call that still passes them by position gets them under their old
    meaning, with a `DeprecationWarning` that names each keyword to use, so
    no existing call changes what it does.  The decorated function declares
    them after `*`.
    """

    def decorate(fn: Callable) -> Callable:
        params = list(inspect.signature(fn).parameters.values())
        positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        owner = fn.__qualname__.split(".")[0] if fn.__name__ == "__init__" else fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[len(positional) :]
            if extra:
                if len(extra) > len(old_order):
                    raise TypeError(
                        f"{owner} takes {len(positional) - 1 if positional[:1] == ['self'] else len(positional)} "
                        f"positional arguments; pass the rest by keyword, e.g. `{first}=...`."
                    )
                names = old_order[: len(extra)]
                for name, value in zip(names, extra):
                    if name in kwargs:
                        raise TypeError(f"{owner} got `{name}` by position and by keyword.")
                    kwargs[name] = value
                warnings.warn(
                    f"{owner}: passing {', '.join(f'`{n}`' for n in names)} by position is "
                    "deprecated and will stop working in the next minor release; pass "
                    + ", ".join(f"`{n}=...`" for n in names)
                    + " by keyword.",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return fn(*args[: len(positional)], **kwargs)

        wrapper.__signature__ = inspect.signature(fn)
        return wrapper

    return decorate


def renamed_attribute(old: str, new: str) -> property:
    """A read-only class attribute `old` that warns and gives the attribute `new`.

    `history = renamed_attribute("history", "reductions")`: reading
    `obj.history` warns with a `DeprecationWarning` that names `new` and
    returns `obj.reductions` (a method comes back bound, so `obj.old(...)`
    calls it).
    """

    def get(self: Any) -> Any:
        warnings.warn(
            f"{type(self).__name__}: attribute `{old}` is deprecated and will be removed "
            f"in the next minor release; use `{new}`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(self, new)

    return property(get, doc=f"Deprecated name of `{new}`.")
