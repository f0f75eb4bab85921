"""`load_ensemble`: M snapshots as ONE Keras model.

The result's output is the (weighted) mean of the snapshots' outputs,
evaluated in a single pass over the data.  Each `.weights.h5` snapshot is
checked against the variables the model writes before it is loaded (Keras
loads a file holding more layers than the model without a word); `.keras`
snapshots are loaded whole and checked against the model's inputs and
outputs.  The snapshot directory and its manifest are read by `_manifest`;
the weights of the mean are `_weights`'.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import keras

from keras_lr import _compat
from keras_lr.ensembles._manifest import (
    SAVE_FORMATS,
    SnapshotFileNotFoundError,
    check_path,
    manifest_location,
    snapshot_paths,
)
from keras_lr.ensembles._weights import WeightedMean, fit_ensemble_weights, normalised_weights

__all__ = ["load_ensemble"]


def _graph_io(model: Any, what: str) -> tuple[Any, Any]:
    """(inputs, outputs) structures of a Functional or Sequential model with inputs."""
    if isinstance(model, keras.Sequential):
        try:
            return model.inputs[0], model.outputs[0]
        except AttributeError:
            pass
    elif _compat.is_functional(model):
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
        path = os.path.abspath(check_path("paths", paths))
        if os.path.isfile(path) and path.endswith(tuple(SAVE_FORMATS.values())):
            raise ValueError(
                "Argument `paths` must be a snapshot directory, its manifest.json, or a list "
                f"of snapshot files. Received: paths={path!r} (a single snapshot file: pass "
                "[path] for a one-member ensemble)"
            )
        files = snapshot_paths(path)
        if not files:
            raise ValueError(
                f"Snapshot manifest {manifest_location(path)[1]} lists no snapshots: an "
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
        path = os.path.abspath(check_path(f"paths[{k}]", item))
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


def _reference_layout(branch: Any) -> dict[str, tuple]:
    """The variables `branch.save_weights` writes, as {dataset path: shape}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "reference.weights.h5")
        branch.save_weights(path)
        return _compat.weights_file_layout(path)


def _check_layout(path: str, reference: dict[str, tuple]) -> None:
    """Raises ValueError naming `path` unless it stores exactly the branch's variables.

    Keras loads a file that holds MORE layers than the model without a word;
    top-level groups the model does not write (the optimizer's) are ignored.
    """
    tops = {key.split("/", 1)[0] for key in reference} | set(_compat.MODEL_WEIGHT_GROUPS)
    try:
        layout = _compat.weights_file_layout(path, groups=tops)
    except Exception as e:  # h5py raises OSError, KeyError, ... on garbage
        raise ValueError(
            f"Could not read snapshot weights file {path}: {type(e).__name__}: {e}"
        ) from e
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
    mean_weights = (
        [1.0 / m] * m if weights is None or fit else normalised_weights("weights", weights, m)
    )
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
