"""Ensembles from one run: the collecting callbacks (snapshots, FGE), SWA and
`update_bn`, the snapshot manifest, loading an ensemble and fitting its
weights."""

from keras_lr.ensembles._collect import (
    FastGeometricEnsemble,
    SnapshotEnsemble,
    StochasticWeightAveraging,
    update_bn,
)
from keras_lr.ensembles._load import (
    SnapshotFileNotFoundError,
    WeightedMean,
    fit_ensemble_weights,
    load_ensemble,
    read_manifest,
    snapshot_paths,
)

__all__ = [
    "FastGeometricEnsemble",
    "SnapshotEnsemble",
    "SnapshotFileNotFoundError",
    "StochasticWeightAveraging",
    "WeightedMean",
    "fit_ensemble_weights",
    "load_ensemble",
    "read_manifest",
    "snapshot_paths",
    "update_bn",
]
