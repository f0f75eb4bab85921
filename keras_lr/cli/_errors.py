"""How the command line fails: one line on stderr, and the exit status it ends with."""

from __future__ import annotations

import re

PROG = "keras-lr"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CLIError(Exception):
    """A failure reported as one line on stderr, without a traceback.

    Args:
        message: what went wrong and, where possible, what to do.
        code: the exit status: 2 for bad input, 1 for a runtime failure.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def one_line(err: BaseException) -> str:
    """The informative line of an exception message (Keras wraps its own in context)."""
    lines = [line.strip() for line in _ANSI.sub("", str(err)).splitlines()]
    for line in lines:
        if line and not line.startswith(
            ("Exception encountered when calling", "Arguments received")
        ):
            # Keep the first sentence of a paragraph-long message.
            cut = line.find(". ", 40)
            return line[: cut + 1] if len(line) > 200 and cut > 0 else line
    return type(err).__name__
