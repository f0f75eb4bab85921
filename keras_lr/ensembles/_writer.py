"""The snapshot directory of one collecting callback: resume, overwrite, save.

Files are written atomically (a temporary file in the same directory, then a
rename) and listed in `manifest.json`, rewritten atomically after each file is
in place, so a crash during a save leaves earlier snapshots and the manifest
intact.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from typing import Any

from keras_lr import _validation as v
from keras_lr._io import TEMP_PREFIX, atomic_write, is_chief
from keras_lr.ensembles._manifest import (
    MANIFEST_NAME,
    SAVE_FORMATS,
    read_manifest,
    snapshot_paths,
    write_manifest,
)

# What the callbacks write: "keras" is a name only the reader accepts.
FORMATS = {name: SAVE_FORMATS[name] for name in ("weights", "model")}


class SnapshotWriter:
    """Writes numbered snapshot files and the manifest, atomically."""

    def __init__(self, directory: Any, save_format: str, overwrite: bool, kind: str):
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise TypeError(
                f"Argument `directory` must be a path. Received: directory={directory!r}"
            )
        self.directory = os.fspath(directory)
        self.save_format = v.one_of("save_format", save_format, tuple(FORMATS))
        if not isinstance(overwrite, bool):
            raise TypeError(
                f"Argument `overwrite` must be a bool. Received: overwrite={overwrite!r}"
            )
        self.overwrite = overwrite
        self.kind = kind
        self.entries: list[dict] = []

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.directory, MANIFEST_NAME)

    def file_name(self, index: int) -> str:
        return f"snapshot-{index:03d}{FORMATS[self.save_format]}"

    def _ours(self) -> list[str]:
        patterns = ["snapshot-*.weights.h5", "snapshot-*.keras", MANIFEST_NAME, TEMP_PREFIX + "*"]
        found = []
        for pattern in patterns:
            found += glob.glob(os.path.join(glob.escape(self.directory), pattern))
        return found

    def prepare(self, start_step: int, owner: str) -> None:
        """Checks and readies the directory before training starts.

        A directory holding a manifest whose snapshots all precede the current
        step is a resumed run: numbering continues.  Any other non-empty
        directory is refused unless `overwrite=True`, which removes the
        snapshot files and manifest found there (and nothing else).  Temporary
        files of an interrupted write do not count.  A worker that is not the
        chief (multi-worker training) takes the same decision from what it
        reads, and changes nothing on disk.
        """
        chief = is_chief()
        if chief:
            os.makedirs(self.directory, exist_ok=True)
            # Temporary files of a write that was killed midway: never a
            # snapshot, only ever left by a process that is gone.
            leftovers = glob.glob(os.path.join(glob.escape(self.directory), TEMP_PREFIX + "*"))
            for path in leftovers:
                with contextlib.suppress(OSError):
                    os.remove(path)
        existing = [
            name
            for name in (os.listdir(self.directory) if os.path.isdir(self.directory) else [])
            if not name.startswith(TEMP_PREFIX)
        ]
        self.entries = []
        if existing:
            entries = self._read_entries()
            resumable = (
                entries is not None
                and start_step > 0
                and all(e["step"] <= start_step for e in entries)
            )
            if resumable:
                self.entries = entries
            elif self.overwrite:
                for path in self._ours() if chief else []:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
            else:
                raise ValueError(
                    f"{owner}: directory {self.directory!r} is not empty and does not "
                    "hold snapshots of this run to resume. Pass `overwrite=True` to "
                    "replace its snapshots, or choose another `directory`."
                )
        if chief:
            self._check_writable(owner)

    def _read_entries(self) -> list[dict] | None:
        """The manifest's snapshots if it is valid and every file is there."""
        try:
            entries = read_manifest(self.directory)["snapshots"]
            snapshot_paths(self.directory)
        except (OSError, ValueError, TypeError):
            return None
        return entries

    def _check_writable(self, owner: str) -> None:
        try:
            fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe-", dir=self.directory)
            os.close(fd)
            os.remove(probe)
        except OSError as err:
            raise PermissionError(
                f"{owner}: cannot write snapshots to {self.directory!r}: {err.strerror}. "
                "Choose a writable `directory`."
            ) from err

    def save(self, model: Any, entry: dict, owner: str) -> str:
        """Saves `model` as snapshot `entry["index"]`, then updates the manifest.

        An `OSError` (full disk, lost permission) leaves the earlier files and
        manifest as they were and is raised again naming the file.
        """
        name = self.file_name(entry["index"])
        final = os.path.join(self.directory, name)
        if self.save_format == "weights":
            write = lambda tmp: model.save_weights(tmp, overwrite=True)  # noqa: E731
        else:
            write = lambda tmp: model.save(tmp, overwrite=True)  # noqa: E731
        with _naming_the_file(owner, f"snapshot {entry['index']}", final):
            atomic_write(final, write, suffix=FORMATS[self.save_format])
        entry = dict(entry, file=name)
        entries = [e for e in self.entries if e["index"] != entry["index"]] + [entry]
        entries.sort(key=lambda e: e["index"])
        with _naming_the_file(owner, "the manifest", self.manifest_path):
            write_manifest(self.directory, self.kind, self.save_format, entries)
        self.entries = entries
        return final

    @property
    def paths(self) -> list[str]:
        return [os.path.join(self.directory, e["file"]) for e in self.entries]

    def dataframe(self):
        """pandas DataFrame of the snapshots: index, step, epoch, lr, path."""
        import pandas as pd

        columns = ["index", "step", "epoch", "lr", "path"]
        rows = [
            {**{key: e[key] for key in columns[:-1]}, "path": path}
            for e, path in zip(self.entries, self.paths)
        ]
        return pd.DataFrame(rows, columns=columns)


@contextlib.contextmanager
def _naming_the_file(owner: str, what: str, path: str):
    """Re-raises an OSError of writing `path` with a message naming it."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        message = (
            f"{owner}: could not write {what} to {path!r}: {reason}. The snapshots "
            "and manifest written before are intact."
        )
        try:
            named = type(err)(err.errno, message)
        except Exception:  # an OSError subclass with another signature
            named = OSError(err.errno, message)
        raise named from err
