"""Snapshot ensembles: read a snapshot directory, average the snapshots.

`SnapshotEnsemble` and `FastGeometricEnsemble` write one file per snapshot
(`snapshot-000.weights.h5` or `snapshot-000.keras`) and a `manifest.json`
that lists them.  `read_manifest` and `snapshot_paths` read that directory
and check it; `load_ensemble` turns the snapshots into ONE Keras model whose
output is the (weighted) mean of the snapshots' outputs, evaluated in a single
pass over the data; `fit_ensemble_weights` chooses the mean's weights by
minimising the log loss on held-out data.

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
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

# `clone_model` itself tells Functional models apart with this class; Keras
# exports no public name for it.
from keras.src.models.functional import Functional

from keras_lr import _validation as v

__all__ = [
    "SnapshotFileNotFoundError",
    "WeightedMean",
    "fit_ensemble_weights",
    "load_ensemble",
    "read_manifest",
    "snapshot_paths",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "keras_lr.snapshots"
MANIFEST_VERSION = 1
# The snapshot callbacks write "model" for whole-model files; "keras" is read too.
SAVE_FORMATS = {"weights": ".weights.h5", "model": ".keras", "keras": ".keras"}
_REQUIRED_ENTRY_KEYS = ("index", "file", "step", "epoch", "lr")
_EPS = 1e-15  # probabilities are clipped here, as in sklearn's log_loss


class SnapshotFileNotFoundError(FileNotFoundError, ValueError):
    """A snapshot directory, manifest or snapshot file does not exist.

    A `FileNotFoundError`, and also a `ValueError`, so that `except ValueError`
    catches every problem with a snapshot directory.
    """


# ---------------------------------------------------------------------------
# The manifest.


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fspath(name: str, value: Any) -> str:
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


def _manifest_location(directory: Any) -> tuple[str, str]:
    """(snapshot directory, manifest path), both absolute."""
    path = os.path.abspath(_fspath("directory", directory))
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
    _, manifest = _manifest_location(directory)
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
    root, manifest_path = _manifest_location(directory)
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


# ---------------------------------------------------------------------------
# Weights of the mean.


def _mean_weights(name: str, weights: Any, count: int | None) -> list[float]:
    """Non-negative weights, normalised to sum 1; `count` entries unless None."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
        raise TypeError(
            f"Argument `{name}` must be a sequence of non-negative numbers. "
            f"Received: {name}={weights!r} (of type {type(weights).__name__})"
        )
    if isinstance(weights, np.ndarray):
        values = weights.tolist() if weights.ndim == 1 else None
    else:
        values = list(weights)
    if values is None or not all(_is_real(x) for x in values):
        raise TypeError(
            f"Argument `{name}` must be a flat sequence of real numbers. Received: {name}={weights!r}"
        )
    w = np.asarray([float(x) for x in values], dtype=np.float64)
    if count is not None and w.size != count:
        raise ValueError(
            f"Argument `{name}` must have one entry per snapshot ({count}). "
            f"Received: {name}={weights!r} ({w.size} entries)"
        )
    if w.size == 0:
        raise ValueError(f"Argument `{name}` must not be empty. Received: {name}={weights!r}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={weights!r}")
    if np.any(w < 0):
        raise ValueError(f"Argument `{name}` must be non-negative. Received: {name}={weights!r}")
    if w.sum() <= 0:
        raise ValueError(
            f"Argument `{name}` must have a positive sum (not all zero). Received: {name}={weights!r}"
        )
    return [float(x) for x in w / w.sum()]


@keras.saving.register_keras_serializable(package="keras_lr")
class WeightedMean(keras.layers.Layer):
    """Weighted mean of a list of same-shaped tensors: sum_k w_k * x_k.

    The weights are constants of the layer (not trained), normalised to sum 1.

    Args:
        ensemble_weights: one non-negative number per input, not all zero.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
        >>> import numpy as np
        >>> layer = WeightedMean([1.0, 3.0])
        >>> layer.ensemble_weights
        [0.25, 0.75]
        >>> out = layer([np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")])
        >>> keras.ops.convert_to_numpy(out).tolist()
        [[0.75, 0.75]]
    """

    def __init__(self, ensemble_weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ensemble_weights = _mean_weights("ensemble_weights", ensemble_weights, None)

    def call(self, inputs: Sequence[Any]) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self.ensemble_weights):
            raise ValueError(
                f"Layer {self.name!r} averages {len(self.ensemble_weights)} inputs; it must be "
                f"called on a list of that many tensors. Received: {inputs!r:.200}"
            )
        out = None
        for x, w in zip(inputs, self.ensemble_weights):
            term = keras.ops.multiply(x, keras.ops.cast(w, x.dtype))
            out = term if out is None else keras.ops.add(out, term)
        return out

    def compute_output_shape(self, input_shape: Sequence[Any]) -> Any:
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "ensemble_weights": list(self.ensemble_weights)}


def _binary(p: np.ndarray) -> bool:
    return p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1)


def _stack_predictions(predictions: Any) -> tuple[np.ndarray, bool]:
    """(M, n, c) float64 class probabilities, and whether the input was binary.

    Binary predictions, (n,) or (n, 1) arrays of P(class 1), become c=2.
    """
    if isinstance(predictions, np.ndarray) and predictions.ndim >= 2:
        predictions = list(predictions)
    if isinstance(predictions, (str, bytes)) or not isinstance(predictions, Sequence):
        raise TypeError(
            "Argument `predictions` must be a list of arrays of class probabilities, one per "
            f"snapshot. Received: predictions of type {type(predictions).__name__}"
        )
    if len(predictions) == 0:
        raise ValueError("Argument `predictions` must not be empty. Received: predictions=[]")
    arrays = []
    for k, p in enumerate(predictions):
        try:
            a = np.asarray(p, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"Argument `predictions` must hold numeric arrays; predictions[{k}] is not one "
                f"({e})."
            ) from e
        if a.ndim not in (1, 2) or a.shape[0] == 0 or (a.ndim == 2 and a.shape[1] == 0):
            raise ValueError(
                "Argument `predictions` must hold arrays of shape (n, classes), or (n,) / (n, 1) "
                f"for binary problems. Received: predictions[{k}].shape={a.shape}"
            )
        arrays.append(a)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            "Argument `predictions` must hold arrays of one shape. "
            f"Received shapes: {[a.shape for a in arrays]}"
        )
    p = np.stack(arrays)
    if not np.all(np.isfinite(p)):
        raise ValueError(
            "Argument `predictions` must hold finite probabilities. Received non-finite values."
        )
    if p.min() < -1e-6 or p.max() > 1 + 1e-6:
        raise ValueError(
            "Argument `predictions` must hold probabilities in [0, 1] (softmax or sigmoid "
            f"outputs, not logits). Received values in [{p.min():.4g}, {p.max():.4g}]"
        )
    p = np.clip(p, 0.0, 1.0)
    if _binary(arrays[0]):
        p = p.reshape(p.shape[0], -1)
        return np.stack([1.0 - p, p], axis=-1), True
    sums = p.sum(axis=-1)
    if np.max(np.abs(sums - 1.0)) > 1e-3:
        raise ValueError(
            "Argument `predictions` must hold class probabilities whose rows sum to 1 (softmax "
            f"outputs). Received row sums in [{sums.min():.4g}, {sums.max():.4g}]"
        )
    return p, False


def _targets(y: Any, n: int, c: int, binary: bool) -> np.ndarray:
    """(n, c) float64 target distributions from labels, one-hot or soft rows."""
    try:
        t = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Argument `y` must be a numeric array ({e}).") from e
    if t.shape[:1] != (n,):
        raise ValueError(
            f"Argument `y` must have one row per prediction ({n}). Received: y.shape={t.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("Argument `y` must be finite.")
    if binary:
        if t.ndim > 2 or (t.ndim == 2 and t.shape[1] != 1) or t.min() < 0 or t.max() > 1:
            raise ValueError(
                "Argument `y` must hold binary labels (or probabilities) in [0, 1] of shape "
                f"(n,) or (n, 1) for binary predictions. Received: y.shape={t.shape}, "
                f"values in [{t.min():.4g}, {t.max():.4g}]"
            )
        t = t.reshape(n)
        return np.stack([1.0 - t, t], axis=-1)
    if t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1):
        labels = t.reshape(n)
        if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= c:
            raise ValueError(
                f"Argument `y` must hold integer class labels in [0, {c}). "
                f"Received values in [{labels.min():.4g}, {labels.max():.4g}]"
            )
        return np.eye(c)[labels.astype(np.int64)]
    if t.shape != (n, c):
        raise ValueError(
            f"Argument `y` must be integer labels of shape ({n},) or one-hot rows of shape "
            f"({n}, {c}). Received: y.shape={t.shape}"
        )
    if t.min() < 0 or np.max(np.abs(t.sum(axis=1) - 1.0)) > 1e-3:
        raise ValueError("Argument `y` must hold one-hot (or probability) rows that sum to 1.")
    return t


def fit_ensemble_weights(
    predictions: Sequence[Any],
    y: Any,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> np.ndarray:
    """Mixture weights on the simplex that minimise the log loss of the mean.

    .. math::

        \\min_{w \\ge 0, \\sum_k w_k = 1} L(w), \\quad
        L(w) = -\\frac{1}{n} \\sum_i \\sum_c y_{ic} \\log \\sum_k w_k P_k[i, c]

    L is convex in w.  The solver is the multiplicative (exponentiated
    gradient / EM) update w_k <- w_k * (-dL/dw_k): on the simplex -dL/dw
    averages to exactly 1 under w, so the update stays on the simplex, never
    increases L, and is the EM step for the weights of a mixture whose
    components are fixed.  It stops when the Frank-Wolfe gap
    max_k(-dL/dw_k) - 1, an upper bound on L(w) - min L, is below `tol`.
    Probabilities are clipped below at 1e-15.

    Args:
        predictions: M arrays of class probabilities of shape (n, c), one per
            snapshot (softmax outputs); or M arrays of shape (n,) or (n, 1)
            holding the probability of class 1 (sigmoid outputs).
        y: integer labels of shape (n,) (or (n, 1)), or one-hot / probability
            rows of shape (n, c); binary problems take labels (or
            probabilities) in [0, 1].
        max_iter: iteration limit (default 10000); a warning says so when
            the gap is still above `tol` then.
        tol: stopping bound on the Frank-Wolfe gap (default 1e-10).

    Returns:
        A float64 array of M weights, >= 0, summing to 1.

    Raises:
        ValueError: empty or mismatched shapes, values that are not
            probabilities (logits, say), labels out of range.
        TypeError: non-numeric input.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1, 1, 0])
        >>> good = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.8, 0.2]])
        >>> bad = np.full((4, 2), 0.5)
        >>> np.round(fit_ensemble_weights([good, bad], y), 4).tolist()
        [1.0, 0.0]

    References:
        Dempster, Laird and Rubin, "Maximum likelihood from incomplete data via
        the EM algorithm", JRSS B 1977.  Kivinen and Warmuth, "Exponentiated
        gradient versus gradient descent for linear predictors", Information
        and Computation 1997.
    """
    max_iter = v.positive_int("max_iter", max_iter)
    tol = v.positive_float("tol", tol)
    p, binary = _stack_predictions(predictions)
    m, n, c = p.shape
    t = _targets(y, n, c, binary=binary)
    if m == 1:
        return np.ones(1)
    # Only (row, class) pairs with target mass enter the loss: gather them
    # once into q (pairs x M) with sample weights s summing to 1.
    rows, cols = np.nonzero(t > 0)
    q = np.maximum(p[:, rows, cols].T, _EPS)
    s = t[rows, cols] / n
    w = np.full(m, 1.0 / m)
    gap = np.inf
    for _ in range(max_iter):
        r = q.T @ (s / (q @ w))  # -dL/dw
        gap = float(r.max() - w @ r)
        if gap <= tol:
            break
        w = w * r
        w /= w.sum()
    else:
        warnings.warn(
            f"fit_ensemble_weights stopped after max_iter={max_iter} iterations with a "
            f"Frank-Wolfe gap of {gap:.3g} > tol={tol:g}: the log loss is within {gap:.3g} of "
            "its minimum.",
            stacklevel=2,
        )
    return w


# ---------------------------------------------------------------------------
# Loading.


def _graph_io(model: Any, what: str) -> tuple[Any, Any]:
    """(inputs, outputs) structures of a Functional or Sequential model with inputs."""
    if isinstance(model, keras.Sequential):
        try:
            return model.inputs[0], model.outputs[0]
        except AttributeError:
            pass
    elif isinstance(model, Functional):
        return model.input, model.output
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{what} must be a keras.Model. Received: {model!r:.200} "
            f"(of type {type(model).__name__})"
        )
    raise ValueError(
        f"{what} must be a Functional model or a Sequential model that starts with "
        f"`keras.Input(...)` (a model with defined inputs): the ensemble is a graph with "
        f"one branch per snapshot. Received: model {model.name!r} of type "
        f"{type(model).__name__} without defined inputs."
    )


def _signature(structure: Any) -> Any:
    return keras.tree.lists_to_tuples(keras.tree.map_structure(lambda t: tuple(t.shape), structure))


def _resolve_paths(paths: Any) -> list[str]:
    """Absolute snapshot file paths from a directory, a manifest or a list."""
    if isinstance(paths, (str, os.PathLike)):
        path = os.path.abspath(_fspath("paths", paths))
        if os.path.isfile(path) and path.endswith(tuple(SAVE_FORMATS.values())):
            raise ValueError(
                "Argument `paths` must be a snapshot directory, its manifest.json, or a list "
                f"of snapshot files. Received: paths={path!r} (a single snapshot file: pass "
                "[path] for a one-member ensemble)"
            )
        files = snapshot_paths(path)
        if not files:
            raise ValueError(
                f"Snapshot manifest {_manifest_location(path)[1]} lists no snapshots: an "
                "ensemble needs at least one."
            )
        return files
    if not isinstance(paths, Sequence):
        raise TypeError(
            "Argument `paths` must be a snapshot directory, its manifest.json, or a list of "
            f"snapshot files. Received: paths={paths!r:.200} (of type {type(paths).__name__})"
        )
    if len(paths) == 0:
        raise ValueError("Argument `paths` must not be empty. Received: paths=[]")
    out = []
    for k, item in enumerate(paths):
        path = os.path.abspath(_fspath(f"paths[{k}]", item))
        if not path.endswith(tuple(SAVE_FORMATS.values())):
            raise ValueError(
                f"Snapshot file {path} has an unknown extension: snapshot files end in "
                f"'.weights.h5' (model.save_weights) or '.keras' (model.save). "
                f"Received: paths[{k}]={item!r}"
            )
        if not os.path.exists(path):
            raise SnapshotFileNotFoundError(f"Snapshot file {path} does not exist.")
        if not os.path.isfile(path):
            raise ValueError(f"Snapshot file {path} is not a regular file.")
        out.append(path)
    return out


def _h5_layout(path: str) -> dict[str, tuple]:
    """{dataset path: shape} of an HDF5 file."""
    import h5py

    layout: dict[str, tuple] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                # A corrupted name can come back as undecodable bytes.
                layout.__setitem__(
                    name if isinstance(name, str) else name.decode("utf-8", "replace"),
                    tuple(obj.shape),
                )
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return layout


def _reference_layout(branch: Any) -> dict[str, tuple]:
    """The variables `branch.save_weights` writes, as {dataset path: shape}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "reference.weights.h5")
        branch.save_weights(path)
        return _h5_layout(path)


def _check_layout(path: str, reference: dict[str, tuple]) -> None:
    """Raises ValueError naming `path` unless it stores exactly the branch's variables.

    Keras loads a file that holds MORE layers than the model without a word;
    top-level groups the model does not write (the optimizer's) are ignored.
    """
    try:
        layout = _h5_layout(path)
    except Exception as e:  # h5py raises OSError, KeyError, ... on garbage
        raise ValueError(
            f"Could not read snapshot weights file {path}: {type(e).__name__}: {e}"
        ) from e
    tops = {key.split("/", 1)[0] for key in reference} | {"layers", "vars"}
    layout = {key: shape for key, shape in layout.items() if key.split("/", 1)[0] in tops}
    missing = sorted(set(reference) - set(layout))
    extra = sorted(set(layout) - set(reference))
    wrong = sorted(k for k in set(reference) & set(layout) if reference[k] != layout[k])
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        if wrong:
            parts.append(
                "shape mismatch "
                + ", ".join(f"{k}: file {layout[k]} vs model {reference[k]}" for k in wrong[:5])
            )
        raise ValueError(
            f"Snapshot weights file {path} does not match the architecture of `model` "
            f"({'; '.join(parts)})."
        )


def _weights_branch(base: Any, path: str, name: str, reference: dict | None) -> tuple[Any, dict]:
    clone = keras.models.clone_model(base)
    inputs, outputs = _graph_io(clone, "The clone of `model`")
    branch = keras.Model(inputs, outputs, name=name)
    if reference is None:
        reference = _reference_layout(branch)
    _check_layout(path, reference)
    try:
        branch.load_weights(path)
    except Exception as e:  # Keras raises ValueError, h5py OSError/KeyError, ...
        raise ValueError(
            f"Could not load snapshot weights file {path} into a clone of `model`: "
            f"{type(e).__name__}: {e}"
        ) from e
    return branch, reference


def _keras_branch(path: str, name: str, template: tuple | None) -> Any:
    # Keras reports a file that is not a zip archive as "File not found".
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"Snapshot model file {path} is not a '.keras' archive (a zip file): it is "
            "truncated or corrupt."
        )
    try:
        loaded = keras.saving.load_model(path, compile=False)
    except Exception as e:  # zipfile, json, h5py and Keras errors on bad files
        raise ValueError(
            f"Could not load snapshot model file {path}: {type(e).__name__}: {e}"
        ) from e
    try:
        inputs, outputs = _graph_io(loaded, f"The model in {path}")
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from e
    if template is not None:
        want = (_signature(template[0]), _signature(template[1]))
        got = (_signature(inputs), _signature(outputs))
        if got != want:
            raise ValueError(
                f"Snapshot model file {path} does not match `model`: inputs/outputs of shapes "
                f"{got} vs {want}."
            )
    return keras.Model(inputs, outputs, name=name)


def _check_validation_data(validation_data: Any) -> tuple[Any, Any]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError(
            "Argument `validation_data` must be a tuple (x, y) when weights='fit'. "
            f"Received: validation_data={validation_data!r:.200}"
        )
    return validation_data[0], validation_data[1]


def _compile_like(ensemble: Any, model: Any) -> None:
    if model is None or not getattr(model, "compiled", False):
        return
    try:
        config = keras.saving.deserialize_keras_object(model.get_compile_config())
        ensemble.compile(**config)
    except Exception as e:  # any loss/metric that does not serialise
        warnings.warn(
            f"load_ensemble could not copy the compile settings of `model` "
            f"({type(e).__name__}: {e}); the ensemble is left uncompiled: call "
            "`ensemble.compile(loss=..., metrics=...)` before `evaluate`.",
            stacklevel=3,
        )


def load_ensemble(
    model: keras.Model | None,
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    weights: Sequence[float] | str | None = None,
    *,
    validation_data: tuple[Any, Any] | None = None,
) -> keras.Model:
    """One Keras model that averages the outputs of M snapshots.

    .. math::

        \\text{ensemble}(x) = \\sum_{k=1}^{M} w_k \\, \\text{model}_{\\theta_k}(x),
        \\quad w_k \\ge 0, \\ \\sum_k w_k = 1

    The result is a single functional graph: the inputs of `model` feed M
    branches `snapshot_0` ... `snapshot_{M-1}` (clones of `model` made with
    `keras.models.clone_model`, each holding one snapshot's weights), and a
    `WeightedMean` layer per output combines them, so `predict` and
    `evaluate` make one pass over the data.  Multi-input and multi-output
    models work; each output is averaged separately, and the combining layers
    take the names of `model`'s outputs.  When `model` is compiled the
    ensemble is compiled with its loss and metrics.  The ensemble saves as
    `.keras` and reloads with `keras.saving.load_model` once `keras_lr` is
    imported.

    Args:
        model: a Functional model, or a Sequential model that starts with
            `keras.Input`: the architecture of `.weights.h5` snapshots and the
            template (inputs, compile settings) for `.keras` snapshots.  May be
            None when every snapshot is a `.keras` file (the first one is then
            the template, and the ensemble is left uncompiled).
        paths: a snapshot directory (or its `manifest.json`), read with
            `snapshot_paths`, or a list of snapshot files: `.weights.h5` files
            are loaded into clones of `model`, `.keras` files as whole models.
        weights: None for the plain mean; M non-negative numbers (normalised to
            sum 1); or "fit" to choose them with `fit_ensemble_weights` on
            `validation_data` (single-output classifiers with probability
            outputs).
        validation_data: a tuple (x, y), only with weights="fit".

    Returns:
        A `keras.Model` named "snapshot_ensemble", frozen (`trainable=False`:
        it is for `predict` and `evaluate`; set `trainable = True` and compile
        again to fine-tune it), compiled when `model` is.  The weights used are
        in each `WeightedMean` layer's `ensemble_weights`.

    Raises:
        SnapshotFileNotFoundError: a directory, manifest or snapshot file does
            not exist (a `FileNotFoundError` that is also a `ValueError`).
        ValueError: empty `paths`, an unknown extension, an invalid manifest, a
            snapshot that does not fit `model` (the message names the file),
            bad `weights` or `validation_data`, or a `model` without defined
            inputs.
        TypeError: `model` is not a Keras model, or arguments of the wrong type.

    Example:
        >>> import os, tempfile, numpy as np, keras
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        >>> tmp = tempfile.mkdtemp()
        >>> files = []
        >>> for k in range(2):
        ...     model.set_weights([np.full((3, 2), k, "float32"), np.zeros(2, "float32")])
        ...     files.append(os.path.join(tmp, f"snapshot-{k:03d}.weights.h5"))
        ...     model.save_weights(files[-1])
        >>> ensemble = load_ensemble(model, files, weights=[1, 3])
        >>> ensemble.predict(np.ones((1, 3)), verbose=0).tolist()
        [[2.25, 2.25]]

    References:
        Huang et al., "Snapshot Ensembles: Train 1, get M for free", ICLR 2017,
        arXiv:1704.00109.  Garipov et al., "Loss Surfaces, Mode Connectivity,
        and Fast Ensembling of DNNs", NeurIPS 2018, arXiv:1802.10026.
    """
    files = _resolve_paths(paths)
    m = len(files)
    if model is None:
        if not all(f.endswith(".keras") for f in files):
            raise ValueError(
                "Argument `model` may be None only when every snapshot is a '.keras' file; "
                "'.weights.h5' snapshots need the model they were saved from. Received: model=None"
            )
        template = None
    else:
        template = _graph_io(model, "Argument `model`")
    fit = isinstance(weights, str) and weights == "fit"
    if isinstance(weights, str) and not fit:
        raise ValueError(
            "Argument `weights` must be None, a sequence of non-negative numbers, or 'fit'. "
            f"Received: weights={weights!r}"
        )
    mean_weights = [1.0 / m] * m if weights is None or fit else _mean_weights("weights", weights, m)
    if fit:
        x_val, y_val = _check_validation_data(validation_data)
    elif validation_data is not None:
        raise ValueError(
            "Argument `validation_data` is only used with weights='fit'. "
            f"Received: weights={weights!r} and validation_data of type "
            f"{type(validation_data).__name__}"
        )

    # Clone an uncompiled Functional view of `model`: clones of a compiled
    # model come compiled with a built optimizer, which the branches must not
    # carry (it would be saved M times inside the ensemble).
    base = None if template is None else keras.Model(*template, name=f"{model.name}_base")
    branches, reference = [], None
    for k, path in enumerate(files):
        name = f"snapshot_{k}"
        if path.endswith(".keras"):
            branch = _keras_branch(path, name, template)
            if template is None:
                template = _graph_io(branch, "The first snapshot model")
        else:
            branch, reference = _weights_branch(base, path, name, reference)
        branches.append(branch)

    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name, sparse=t.sparse),
        template[0],
    )
    outs = [branch(inputs) for branch in branches]
    flat = [keras.tree.flatten(o) for o in outs]
    if fit:
        if len(flat[0]) != 1:
            raise ValueError(
                "weights='fit' needs a model with a single (probability) output; "
                f"this one has {len(flat[0])} outputs. Pass explicit `weights` instead."
            )
        probe = keras.Model(inputs, [f[0] for f in flat])
        predictions = probe.predict(x_val, verbose=0)
        if not isinstance(predictions, (list, tuple)):
            predictions = [predictions]
        try:
            mean_weights = list(fit_ensemble_weights(list(predictions), y_val))
        except (TypeError, ValueError) as e:
            raise ValueError(
                "weights='fit': the snapshots' predictions on `validation_data` and its labels "
                f"must be class probabilities and labels. {e}"
            ) from e
    names = list(getattr(branches[0], "output_names", None) or [])
    taken = {branch.name for branch in branches} | {t.name for t in keras.tree.flatten(inputs)}
    if len(names) != len(flat[0]) or len(set(names)) != len(names) or taken & set(names):
        names = [None] * len(flat[0])
    combined = [
        WeightedMean(mean_weights, name=names[j])([f[j] for f in flat]) for j in range(len(flat[0]))
    ]
    outputs = keras.tree.pack_sequence_as(outs[0], combined)
    ensemble = keras.Model(inputs, outputs, name="snapshot_ensemble")
    # Frozen: an optimizer compiled for M copies of the weights would only be
    # built (and saved) to be thrown away, and a saved ensemble whose
    # optimizer was never built warns about it when it is reloaded.
    ensemble.trainable = False
    _compile_like(ensemble, model)
    return ensemble
