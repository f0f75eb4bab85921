"""The files of the command line: checks of `--out` before training, and the inputs of `find`.

Every check raises `CLIError` (exit status 2) with one line that names the
path, before any training starts; nothing is created until there are results.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from keras_lr.cli._errors import CLIError, one_line

FIGURE_DPI = 110


def save_figure(fig, path) -> None:
    """Writes a figure of `keras_lr.plots._new_figure` to `path`."""
    fig.savefig(path, dpi=FIGURE_DPI)


def output_file(path: Path) -> Path:
    """`path` if its folder exists (a plot or CSV goes into a folder the user made)."""
    if path.is_dir():
        raise CLIError(f"cannot write {path}: it is a folder; give --out a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: {path.parent} is a file, not a folder")
    if not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def check_output_folder(path: Path, names: Sequence[str] = ()) -> Path:
    """`path` if it is a folder, or can be made one, to write `names` into.

    Nothing is created: the command checks its `--out` before it trains and
    writes only once it has results.
    """
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise CLIError(f"--out {path} exists and is not a folder")
        taken = [name for name in names if (path / name).is_dir()]
        if taken:
            raise CLIError(f"cannot write {path / taken[0]} in --out {path}: it is a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise CLIError(f"cannot write in --out {path}: permission denied")
        return path
    ancestor = path.parent
    while not (ancestor.exists() or ancestor.is_symlink()):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CLIError(f"cannot create --out {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CLIError(f"cannot create --out {path}: permission denied in {ancestor}")
    return path


def output_folder(path: Path) -> Path:
    """`path`, created with its parents when missing; refused when it is a file."""
    check_output_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create --out {path}: {err.strerror or one_line(err)}") from None
    return path


def load_compiled_model(path: Path):
    """The model saved at `path`, which must be compiled with an optimizer and a loss."""
    if not path.exists():
        raise CLIError(f"model file not found: {path}")
    if not path.is_file():
        raise CLIError(f"model file {path} is a folder, not a file written by model.save")
    cannot = f"cannot read {path} as a Keras model"
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise CLIError(
            f"{cannot}: its name must end in .keras (or .h5, the legacy format), "
            f"not {path.suffix or 'nothing'!r}"
        )
    if path.suffix.lower() == ".keras":
        # Keras reports any .keras file that is not a zip archive as "File not
        # found", which misleads when the file is there but damaged.
        if not zipfile.is_zipfile(path):
            raise CLIError(
                f"{cannot}: it is not a zip archive, as model.save writes "
                "(the file is damaged or of another kind)"
            )
        try:
            with zipfile.ZipFile(path) as archive:
                has_config = "config.json" in archive.namelist()
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
            raise CLIError(f"{cannot}: {one_line(err)}") from None
        if not has_config:
            raise CLIError(f"{cannot}: the zip archive holds no config.json, as model.save writes")
    try:
        model = keras.saving.load_model(path)
    except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
        raise CLIError(f"{cannot}: {one_line(err)}") from None
    hint = (
        "compile it before saving, e.g. `model.compile(optimizer=keras.optimizers."
        "SGD(0.01), loss=...)` then `model.save(...)`"
    )
    if getattr(model, "optimizer", None) is None:
        raise CLIError(f"model {path} is not compiled (it has no optimizer): {hint}")
    own_loss = type(model).train_step is not keras.Model.train_step or (
        type(model).compute_loss is not keras.Model.compute_loss
    )
    if getattr(model, "loss", None) is None and not own_loss:
        raise CLIError(f"model {path} is compiled without a loss: {hint}")
    return model


def load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from an .npz file, checked for presence and matching lengths."""
    if not path.exists():
        raise CLIError(f"data file not found: {path}")
    if not path.is_file():
        raise CLIError(f"data file {path} is a folder, not an .npz file")
    how = "save them with `numpy.savez(path, x=x, y=y)`"
    try:
        data = np.load(path, allow_pickle=False)
    # A damaged archive fails in many ways (BadZipFile, zlib.error, EOFError,
    # a header that claims more memory than there is): all are bad input.
    except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
        raise CLIError(f"cannot read {path} as .npz arrays ({one_line(err)}): {how}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CLIError(f"{path} holds a single array, not arrays `x` and `y`: {how}")
    with data:
        missing = [key for key in ("x", "y") if key not in data.files]
        if missing:
            raise CLIError(
                f"{path} has no array {' or '.join(map(repr, missing))} "
                f"(it holds {sorted(data.files)}): {how}"
            )
        try:
            x, y = data["x"], data["y"]
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported
            raise CLIError(f"cannot read the arrays of {path}: {one_line(err)}") from None
    for key, arr in (("x", x), ("y", y)):
        if not isinstance(arr, np.ndarray):  # NpzFile returns a non-.npy member as bytes
            raise CLIError(f"cannot read the arrays of {path}: `{key}` is not a .npy array")
        if arr.ndim == 0 or len(arr) == 0:
            raise CLIError(f"array `{key}` of {path} holds no samples (shape {arr.shape})")
        if arr.dtype.kind not in "biuf":
            raise CLIError(f"array `{key}` of {path} must be numeric, not {arr.dtype}")
    if len(x) != len(y):
        raise CLIError(
            f"arrays `x` and `y` of {path} differ in length: {len(x)} samples against {len(y)}"
        )
    return x, y
