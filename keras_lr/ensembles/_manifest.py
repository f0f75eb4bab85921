"""The snapshot manifest: `manifest.json`, written and read here.

`SnapshotEnsemble` and `FastGeometricEnsemble` write one file per snapshot
(`snapshot-000.weights.h5` or `snapshot-000.keras`) and a `manifest.json`
that lists them, rewritten atomically after each file is in place.
`read_manifest` and `snapshot_paths` read that directory and check it.

The manifest (`file` relative to the directory)::

    {"format": "keras_lr.snapshots", "version": 1, "kind": "SnapshotEnsemble",
     "save_format": "weights",   # or "model": snapshot-000.keras files
     "snapshots": [{"index": 0, "file": "snapshot-000.weights.h5", "step": 120,
                    "epoch": 4, "lr": 1.2e-05, "logs": {"loss": 0.31}}]}
"""

from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any

from keras_lr._io import atomic_write

__all__ = ["SnapshotFileNotFoundError", "read_manifest", "snapshot_paths"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "keras_lr.snapshots"
MANIFEST_VERSION = 1
# The snapshot callbacks write "model" for whole-model files; "keras" is read too.
SAVE_FORMATS = {"weights": ".weights.h5", "model": ".keras", "keras": ".keras"}
_REQUIRED_ENTRY_KEYS = ("index", "file", "step", "epoch", "lr")


class SnapshotFileNotFoundError(FileNotFoundError, ValueError):
    """A snapshot directory, manifest or snapshot file does not exist.

    A `FileNotFoundError`, and also a `ValueError`, so that `except ValueError`
    catches every problem with a snapshot directory.
    """


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_path(name: str, value: Any) -> str:
    """`value` as a text path; TypeError or ValueError naming argument `name`."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"Argument `{name}` must be a path (str or os.PathLike). "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"Argument `{name}` must be a text path. Received: {name}={value!r}")
    if "\x00" in path:
        raise ValueError(f"Argument `{name}` must not contain NUL bytes. Received: {name}={path!r}")
    return path


def manifest_location(directory: Any) -> tuple[str, str]:
    """(snapshot directory, manifest path), both absolute."""
    path = os.path.abspath(check_path("directory", directory))
    if os.path.isdir(path):
        return path, os.path.join(path, MANIFEST_NAME)
    if os.path.isfile(path):
        return os.path.dirname(path), path
    if path.endswith(".json"):
        raise SnapshotFileNotFoundError(f"Snapshot manifest {path} does not exist.")
    raise SnapshotFileNotFoundError(f"Snapshot directory {path} does not exist.")


def _check_entry(entry: Any, where: str, save_format: str | None) -> dict:
    """One element of `snapshots`, checked; raises ValueError(message) without the path."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object. Received: {entry!r:.200}")
    missing = [key for key in _REQUIRED_ENTRY_KEYS if key not in entry]
    if missing:
        raise ValueError(f"{where} lacks the key(s) {missing}. Received: {entry!r:.200}")
    for key in ("index", "step", "epoch"):
        value = entry[key]
        if not _is_int(value) or value < 0:
            raise ValueError(
                f"{where}['{key}'] must be a non-negative integer. Received: {value!r:.100}"
            )
    lr = entry["lr"]
    if not _is_real(lr) or not math.isfinite(lr) or lr < 0:
        raise ValueError(
            f"{where}['lr'] must be a finite non-negative number. Received: {lr!r:.100}"
        )
    if "logs" in entry and not isinstance(entry["logs"], dict):
        raise ValueError(f"{where}['logs'] must be an object. Received: {entry['logs']!r:.100}")
    file = entry["file"]
    if not isinstance(file, str) or not file.strip() or "\x00" in file:
        raise ValueError(f"{where}['file'] must be a non-empty file name. Received: {file!r:.100}")
    parts = file.replace("\\", "/").split("/")
    if os.path.isabs(file) or file.startswith(("/", "\\")) or ".." in parts:
        raise ValueError(
            f"{where}['file'] must be a path relative to the snapshot directory, "
            f"inside it. Received: {file!r:.200}"
        )
    if not file.endswith(tuple(SAVE_FORMATS.values())):
        raise ValueError(
            f"{where}['file'] must end in '.weights.h5' or '.keras'. Received: {file!r:.200}"
        )
    if save_format is not None and not file.endswith(SAVE_FORMATS[save_format]):
        raise ValueError(
            f"{where}['file'] must end in '{SAVE_FORMATS[save_format]}' "
            f"(save_format={save_format!r}). Received: {file!r:.200}"
        )
    return entry


def _check_manifest(data: Any) -> dict:
    """The parsed manifest, checked; raises ValueError(message) without the path."""
    if not isinstance(data, dict):
        raise ValueError(f"it must hold a JSON object. Received: {data!r:.200}")
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"'format' must be {MANIFEST_FORMAT!r}. Received: format={data.get('format')!r:.100}"
        )
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise ValueError(
            f"'version' must be a positive integer. Received: version={version!r:.100}"
        )
    if version > MANIFEST_VERSION:
        raise ValueError(
            f"version {version} is not supported: this keras_lr reads version "
            f"{MANIFEST_VERSION}; upgrade keras_lr to read it."
        )
    if "kind" in data and not isinstance(data["kind"], str):
        raise ValueError(f"'kind' must be a string. Received: kind={data['kind']!r:.100}")
    save_format = data.get("save_format")
    if save_format is not None and (
        not isinstance(save_format, str) or save_format not in SAVE_FORMATS
    ):
        raise ValueError(
            f"'save_format' must be one of {list(SAVE_FORMATS)}. "
            f"Received: save_format={save_format!r:.100}"
        )
    if "snapshots" not in data:
        raise ValueError("it has no 'snapshots' list.")
    snapshots = data["snapshots"]
    if not isinstance(snapshots, list):
        raise ValueError(f"'snapshots' must be a list. Received: snapshots={snapshots!r:.200}")
    entries = [
        _check_entry(entry, f"snapshots[{i}]", save_format) for i, entry in enumerate(snapshots)
    ]
    seen_index: dict[int, int] = {}
    seen_file: dict[str, int] = {}
    for i, entry in enumerate(entries):
        index, file = entry["index"], os.path.normpath(entry["file"])
        if index in seen_index:
            raise ValueError(
                f"snapshots[{seen_index[index]}] and snapshots[{i}] have the same index {index}."
            )
        if file in seen_file:
            raise ValueError(
                f"snapshots[{seen_file[file]}] and snapshots[{i}] name the same file {file!r}."
            )
        seen_index[index], seen_file[file] = i, i
    return {**data, "snapshots": sorted(entries, key=lambda entry: entry["index"])}


def read_manifest(directory: str | os.PathLike) -> dict:
    """Reads and checks the `manifest.json` of a snapshot directory.

    Args:
        directory: the snapshot directory, or the path of its manifest file.

    Returns:
        The manifest as a dict, its `snapshots` sorted by `index`.  Every entry
        has an integer `index`, `step` and `epoch` (>= 0), a finite `lr` >= 0
        and a `file` relative to the directory ending in `.weights.h5` or
        `.keras`; `logs`, when present, is a dict.

    Raises:
        SnapshotFileNotFoundError: the directory or the manifest does not
            exist (a `FileNotFoundError` that is also a `ValueError`).
        ValueError: the manifest cannot be read, is not JSON, or breaks the
            format (wrong `format`, unsupported `version`, `snapshots` not a
            list, an entry missing a key or with a wrong type, duplicate
            indices or files).  The message names the manifest path.
        TypeError: `directory` is not a path.

    Example:
        >>> import json, pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "manifest.json").write_text(json.dumps({
        ...     "format": "keras_lr.snapshots", "version": 1, "snapshots": [
        ...         {"index": 1, "file": "snapshot-001.keras", "step": 20, "epoch": 1, "lr": 0.01},
        ...         {"index": 0, "file": "snapshot-000.keras", "step": 10, "epoch": 0, "lr": 0.1}]}))
        >>> [s["file"] for s in read_manifest(d)["snapshots"]]
        ['snapshot-000.keras', 'snapshot-001.keras']
    """
    _, manifest = manifest_location(directory)
    try:
        with open(manifest, "rb") as f:
            raw = f.read()
    except FileNotFoundError as e:
        raise SnapshotFileNotFoundError(f"Snapshot manifest {manifest} does not exist.") from e
    except OSError as e:
        raise ValueError(f"Could not read the snapshot manifest {manifest}: {e}") from e
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"Snapshot manifest {manifest} is not UTF-8 text: {e}") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"Snapshot manifest {manifest} is not valid JSON: {e}") from e
    except RecursionError as e:
        raise ValueError(f"Snapshot manifest {manifest} is nested too deeply to read.") from e
    try:
        return _check_manifest(data)
    except ValueError as e:
        raise ValueError(f"Invalid snapshot manifest {manifest}: {e}") from None


def snapshot_paths(directory: str | os.PathLike) -> list[str]:
    """The absolute paths of a directory's snapshot files, in `index` order.

    Args:
        directory: the snapshot directory, or the path of its manifest file.

    Returns:
        One absolute path per manifest entry, sorted by the entry's `index`.

    Raises:
        SnapshotFileNotFoundError: the directory, the manifest or a listed
            snapshot file does not exist (the message names the file).
        ValueError: the manifest is invalid (see `read_manifest`), or a listed
            path is not a regular file.
        TypeError: `directory` is not a path.
    """
    root, manifest_path = manifest_location(directory)
    manifest = read_manifest(manifest_path)
    out = []
    for entry in manifest["snapshots"]:
        path = os.path.normpath(os.path.join(root, entry["file"]))
        if not os.path.exists(path):
            raise SnapshotFileNotFoundError(
                f"Snapshot file {path} (snapshot {entry['index']} in {manifest_path}) "
                "does not exist."
            )
        if not os.path.isfile(path):
            raise ValueError(
                f"Snapshot file {path} (snapshot {entry['index']} in {manifest_path}) "
                "is not a regular file."
            )
        out.append(path)
    return out


def write_manifest(directory: str, kind: str, save_format: str, entries: list[dict]) -> None:
    """Writes `directory`'s manifest listing `entries`, atomically.

    Args:
        directory: the snapshot directory.
        kind: the writing callback's name (`SnapshotEnsemble`, ...).
        save_format: "weights" or "model".
        entries: one dict per snapshot, with the keys `read_manifest` checks.
    """
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "kind": kind,
        "save_format": save_format,
        "snapshots": entries,
    }

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            json.dump(manifest, handle, indent=2)

    atomic_write(os.path.join(directory, MANIFEST_NAME), write, suffix=".json")
