"""Ensembles from one run: the collecting callbacks (snapshots, FGE), SWA and
`update_bn`, the snapshot manifest, loading an ensemble and fitting its
weights.

- `_collect`: `SnapshotEnsemble`, `FastGeometricEnsemble` (when to save);
- `_writer`: their snapshot directory (resume, overwrite, atomic saves);
- `_manifest`: `manifest.json`, written and read (`read_manifest`, `snapshot_paths`);
- `_swa`: `StochasticWeightAveraging`, `update_bn`;
- `_schedule_free`: `ScheduleFreeEval` (schedule-free AdamW evaluated at its average x);
- `_load`: `load_ensemble` (one graph, snapshot files checked against the model);
- `_weights`: `WeightedMean`, `fit_ensemble_weights`.
"""

from keras_lr.ensembles._collect import FastGeometricEnsemble, SnapshotEnsemble
from keras_lr.ensembles._load import load_ensemble
from keras_lr.ensembles._manifest import SnapshotFileNotFoundError, read_manifest, snapshot_paths
from keras_lr.ensembles._schedule_free import ScheduleFreeEval
from keras_lr.ensembles._swa import StochasticWeightAveraging, update_bn
from keras_lr.ensembles._weights import WeightedMean, fit_ensemble_weights

__all__ = [
    "FastGeometricEnsemble",
    "ScheduleFreeEval",
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
