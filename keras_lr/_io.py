"""Writing files so that a reader never sees a partial one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> None:
    """Calls `write(tmp)` on a temporary file beside `path`, then renames it into place.

    The temporary file lives in the same folder (so the rename is atomic) and
    ends with `suffix` (Keras checks file endings such as `.weights.h5`). If
    `write` or the rename fails, the temporary file is removed and `path` is
    left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".keras_lr-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
