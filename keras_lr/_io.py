"""Writing files so that a reader never sees a partial one, and only once.

Multi-worker training runs the same program in every worker process; the
files keras_lr writes (snapshots, their manifest, the range test's CSV) are
written by the chief alone.  The other workers do the same work into a
private temporary folder that is then removed, so that a save that reads
distributed variables takes part in the same collective operations everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras

TEMP_PREFIX = ".keras_lr-"


def _tf_config_is_chief(raw: str) -> bool:
    """Chief per TF_CONFIG: task "chief", or "worker" 0 when the cluster has no chief."""
    try:
        config = json.loads(raw)
    except ValueError:
        return True  # not a cluster description TensorFlow could use either
    if not isinstance(config, dict) or not isinstance(config.get("task"), dict):
        return True
    task_type = config["task"].get("type")
    task_index = config["task"].get("index", 0)
    cluster = config.get("cluster") if isinstance(config.get("cluster"), dict) else {}
    if task_type in (None, "", "chief"):
        return True
    return task_type == "worker" and task_index == 0 and "chief" not in cluster


def is_chief() -> bool:
    """Whether this process writes files.

    True in a single process.  In multi-worker training: TensorFlow's
    (`TF_CONFIG`, as `MultiWorkerMirroredStrategy` reads it) chief is the
    "chief" task, or worker 0 when the cluster has none; "evaluator" and
    parameter-server tasks never write.  JAX multi-process (`jax.distributed`):
    process 0.  PyTorch distributed: rank 0.
    """
    raw = os.environ.get("TF_CONFIG")
    if raw and not _tf_config_is_chief(raw):
        return False
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if jax.process_count() > 1:
            return jax.process_index() == 0
    elif backend == "torch":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> None:
    """Calls `write(tmp)` on a temporary file beside `path`, then renames it into place.

    The temporary file lives in the same folder (so the rename is atomic) and
    ends with `suffix` (Keras checks file endings such as `.weights.h5`). If
    `write` or the rename fails, the temporary file is removed and `path` is
    left as it was.  On a worker that is not the chief (`is_chief`), `write`
    runs on a file in a private temporary folder, which is then removed:
    `path` is not touched.
    """
    path = os.fspath(path)
    if not is_chief():
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX + "worker-") as private:
            write(os.path.join(private, os.path.basename(path) or "file"))
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions any
        # newly created file gets (0666 less the umask), as `open` would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header line; floats at full precision (`repr`), so they read back exactly."""
    lines = [",".join(header)]
    lines += [",".join(repr(c) if isinstance(c, float) else str(c) for c in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: str | os.PathLike | None, table: Any) -> None:
    """Writes `table` (a pandas DataFrame, or a (header, rows) pair) as CSV.

    The one CSV writer of keras_lr: to `path` atomically (a failed write
    leaves an existing file as it was), or to stdout when `path` is None.
    """
    if isinstance(table, tuple):
        text = csv_text(*table)
    else:
        text = table.to_csv(index=False)
    if path is None:
        sys.stdout.write(text)
        return

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    atomic_write(path, write, suffix=".csv")
