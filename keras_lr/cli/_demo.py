"""`keras-lr demo`: the range test and every schedule on the 8x8 digits, one report.

The digits ship inside scikit-learn (no download).  The range test picks the
rates; then the same small network, from the same initial weights and with
the same shuffling, trains for the same number of epochs under each
schedule, and once more as a snapshot ensemble (`_runs`).  The test set is
only reported on (per epoch, as `validation_data`): nothing is tuned on it.

Written to the output folder: PNG plots (`_figures`), one CSV history per
run, `results.csv`, `report.md` and a self-contained `report.html` (the
plots inline as base64 PNG; `_report`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras

from keras_lr import _data, _io
from keras_lr.cli import _figures, _report, _runs
from keras_lr.cli._errors import CLIError
from keras_lr.cli._files import output_folder


def _load_digits(seed: int):
    try:
        return _data.load_digits(seed)
    except ImportError:
        raise CLIError(f"the demo needs scikit-learn: {_data.INSTALL_HINT}", code=1) from None


def run(
    out: Path,
    epochs: int = 28,
    batch_size: int = 32,
    seed: int = 0,
    n_snapshots: int = 4,
) -> Path:
    """Runs the demo and writes its files to `out`; returns the path of report.md.

    Raises:
        CLIError: scikit-learn is missing, `out` is not a folder, or the batch
            size or the number of snapshots does not fit the data.
    """
    (x_train, y_train), test = _load_digits(seed)
    if batch_size > len(x_train):
        raise CLIError(f"--batch-size {batch_size} exceeds the {len(x_train)} training images")
    spe = math.ceil(len(x_train) / batch_size)
    if n_snapshots > epochs * spe:
        raise CLIError(f"--snapshots {n_snapshots} exceeds the {epochs * spe} training steps")
    output_folder(out)
    keras.utils.set_random_seed(seed)
    initial = _runs.network().get_weights()  # every run starts from these
    total = 8  # the range test, six schedules, the ensemble
    start = time.perf_counter()

    print(f"[1/{total}] range test (find_lr), {keras.backend.backend()} backend", flush=True)
    finder, rate, base, peak = _runs.range_test(initial, (x_train, y_train), batch_size)
    print(
        f"      suggestion {rate:.3g}, CyclicLR bounds {base:.3g} .. {peak:.3g}",
        flush=True,
    )
    finder.to_csv(out / "lr_finder.csv")
    images = {"finder": out / "lr_finder.png"}
    _figures.finder_figure(finder, rate, base, peak, images["finder"])

    runs = _runs.schedule_runs(rate, base, peak, epochs, spe, n_snapshots, out)
    model = None
    for i, run_ in enumerate(runs, start=2):
        print(f"[{i}/{total}] {run_.label}: {run_.settings.replace('`', '')}", flush=True)
        model = _runs.train(run_, initial, (x_train, y_train), test, epochs, batch_size, seed)
        _io.write_csv(out / f"history_{run_.key}.csv", run_.callback.history)
        images[run_.key] = out / f"lr_{run_.key}.png"
        _figures.run_figure(run_, images[run_.key])
    print(f"[{total}/{total}] snapshot ensemble (load_ensemble)", flush=True)
    ensemble = _runs.ensemble_run(runs[-1], model, test, spe, n_snapshots)

    images["schedules"] = out / "schedules.png"
    _figures.schedules_figure(runs, spe, images["schedules"])
    images["training"] = out / "training.png"
    _figures.training_figure(runs, ensemble, images["training"])
    _io.write_csv(
        out / "results.csv",
        (
            ("run", "test_accuracy", "test_loss", "epochs_to_target", "seconds"),
            [
                (r.key, r.accuracy, r.loss, "" if r.reached is None else r.reached, r.seconds)
                for r in runs + [ensemble]
            ],
        ),
    )
    info = dict(
        backend=keras.backend.backend(),
        n_train=len(x_train),
        n_test=len(test[0]),
        seed=seed,
        batch_size=batch_size,
        epochs=epochs,
        spe=spe,
        rate=rate,
        base=base,
        peak=peak,
    )
    report = _report.write_report(out, _report.demo_report(info, finder, runs, ensemble, images))
    print()
    print(_report.results_table(runs + [ensemble]).markdown())
    print(f"\ndone in {time.perf_counter() - start:.0f} s; report.html beside report.md")
    return report
