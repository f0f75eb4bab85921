"""Saving internals: the functional-model class and the `.weights.h5` layout.

`keras_lr.load_ensemble` builds one graph out of M copies of a model, which
needs a model with defined inputs (a Functional model, or a Sequential one
that starts with `keras.Input`), and checks each `.weights.h5` snapshot
against the variables the model writes, because Keras loads a file holding
more layers than the model without a word.  Both need knowledge Keras keeps
private; tests/test_compat_saving.py pins each shim, so a Keras upgrade that
moves one fails there, by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

# Keras 3.12-3.15: `keras.Model(inputs, outputs)` returns an instance of
# `keras.src.models.functional.Functional`, a class Keras exports under no
# public name; `keras.models.clone_model` itself tells functional models
# apart with it.
from keras.src.models.functional import Functional


def is_functional(model: Any) -> bool:
    """Whether `model` is a Functional model (built from inputs and outputs)."""
    return isinstance(model, Functional)


# Keras 3.12-3.15 (`keras/src/saving/saving_lib.py`, `H5IOStore`):
# `model.save_weights` writes one HDF5 group per saveable object and each of
# its variables as a dataset `<group>/vars/<i>`.  The model's layers go under
# `layers/<layer path>/vars/<i>`, the model's own variables under `vars/<i>`;
# a compiled model's optimizer (and other trackables) get top-level groups of
# their own (`optimizer/vars/<i>`), which a model of the same architecture
# need not have.
MODEL_WEIGHT_GROUPS = ("layers", "vars")


def weights_file_layout(
    path: str | os.PathLike, groups: Iterable[str] | None = None
) -> dict[str, tuple]:
    """{dataset path: shape} of a `.weights.h5` file.

    Args:
        path: the file.
        groups: keep only datasets under these top-level groups (None: all).

    Raises:
        Whatever h5py raises on a file that is not HDF5 (OSError, KeyError...).
    """
    import h5py

    keep = None if groups is None else set(groups)
    layout: dict[str, tuple] = {}

    def visit(name: Any, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        # A corrupted name can come back as undecodable bytes.
        name = name if isinstance(name, str) else name.decode("utf-8", "replace")
        if keep is None or name.split("/", 1)[0] in keep:
            layout[name] = tuple(obj.shape)

    with h5py.File(os.fspath(path), "r") as f:
        f.visititems(visit)
    return layout
