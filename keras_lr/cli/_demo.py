"""`keras-lr demo`: the range test and every schedule on the 8x8 digits, one report.

The digits ship inside scikit-learn (no download).  The range test picks the
rates; then the same small network, from the same initial weights and with
the same shuffling, trains for the same number of epochs under each
schedule, and once more as a snapshot ensemble (`_runs`).  The test set is
only reported on (per epoch, as `validation_data`): nothing is tuned on it.

Written to the output folder: PNG plots (`_figures`), one CSV history per
run, `results.csv`, `report.md` and a self-contained `report.html` (the
plots inline as base64 PNG; `_report`).

With `n_seeds` > 1 (`--seeds N`) all of it runs once per seed, `seed` to
`seed + N - 1`, each with its own split, initial weights, shuffling and range
test.  The plots, histories, range-test files and snapshots are the first
seed's; `results.csv` has a row per seed and run, `results_summary.csv` the
mean and standard deviation over the seeds, and the report says which
differences between runs are larger than the spread (`_seeds`).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import keras

from keras_lr import _data, _io
from keras_lr.cli import _figures, _report, _runs, _seeds
from keras_lr.cli._errors import CLIError
from keras_lr.cli._files import output_folder
from keras_lr.cli._parsing import MAX_SEED

TOTAL = 8  # steps of one seed: the range test, six schedules, the ensemble


def _load_digits(seed: int):
    try:
        return _data.load_digits(seed)
    except ImportError:
        raise CLIError(f"the demo needs scikit-learn: {_data.INSTALL_HINT}", code=1) from None


def _one_seed(seed: int, data, test, *, epochs, batch_size, spe, n_snapshots, out, images, say):
    """The demo on one seed's split; figures and CSV files go to `out` when `images` is a dict.

    `images` gets the path of every figure written; `out` also holds the
    snapshots, so a seed whose files are not kept runs in a temporary folder.
    """
    keras.utils.set_random_seed(seed)
    initial = _runs.network().get_weights()  # every run of this seed starts from these
    say(f"[1/{TOTAL}] range test (find_lr), {keras.backend.backend()} backend")
    finder, rate, base, peak = _runs.range_test(initial, data, batch_size)
    print(f"      suggestion {rate:.3g}, CyclicLR bounds {base:.3g} .. {peak:.3g}", flush=True)
    if images is not None:
        finder.to_csv(out / "lr_finder.csv")
        images["finder"] = out / "lr_finder.png"
        _figures.finder_figure(finder, rate, base, peak, images["finder"])

    runs = _runs.schedule_runs(rate, base, peak, epochs, spe, n_snapshots, out)
    model = None
    for i, run_ in enumerate(runs, start=2):
        say(f"[{i}/{TOTAL}] {run_.label}: {run_.settings.replace('`', '')}")
        model = _runs.train(run_, initial, data, test, epochs, batch_size, seed)
        if images is not None:
            _io.write_csv(out / f"history_{run_.key}.csv", run_.callback.history)
            images[run_.key] = out / f"lr_{run_.key}.png"
            _figures.run_figure(run_, images[run_.key])
    say(f"[{TOTAL}/{TOTAL}] snapshot ensemble (load_ensemble)")
    ensemble = _runs.ensemble_run(runs[-1], model, test, spe, n_snapshots)
    if images is not None:
        images["schedules"] = out / "schedules.png"
        _figures.schedules_figure(runs, spe, images["schedules"])
        images["training"] = out / "training.png"
        _figures.training_figure(runs, ensemble, images["training"])
    return _runs.SeedRuns(seed, finder, rate, base, peak, runs, ensemble)


def _write_results(out: Path, seeds: list[_runs.SeedRuns]) -> None:
    """results.csv (a row per run, and per seed when there are several) and results_summary.csv."""
    columns = ("run", "test_accuracy", "test_loss", "epochs_to_target", "seconds")

    def row(r):
        return (r.key, r.accuracy, r.loss, "" if r.reached is None else r.reached, r.seconds)

    if len(seeds) == 1:
        _io.write_csv(out / "results.csv", (columns, [row(r) for r in seeds[0].results]))
        return
    rows = [(s.seed, *row(r)) for s in seeds for r in s.results]
    _io.write_csv(out / "results.csv", (("seed", *columns), rows))
    summary = []
    for run_, same, reached, k in _seeds.across_seeds(seeds):
        summary.append(
            (
                run_.key,
                *_seeds.mean_std([r.accuracy for r in same]),
                *_seeds.mean_std([r.loss for r in same]),
                "" if k == 0 else reached,
                f"{k}/{len(seeds)}",
                *_seeds.mean_std([r.seconds for r in same]),
            )
        )
    header = (
        "run",
        "test_accuracy_mean",
        "test_accuracy_std",
        "test_loss_mean",
        "test_loss_std",
        "epochs_to_target_mean",  # over the seeds that reached the target
        "epochs_to_target_reached",  # k/N
        "seconds_mean",
        "seconds_std",
    )
    _io.write_csv(out / "results_summary.csv", (header, summary))


def run(
    out: Path,
    epochs: int = 28,
    batch_size: int = 32,
    seed: int = 0,
    n_snapshots: int = 4,
    n_seeds: int = 1,
) -> Path:
    """Runs the demo on seeds `seed` .. `seed + n_seeds - 1`, writes its files to `out`.

    Returns:
        The path of report.md.

    Raises:
        CLIError: scikit-learn is missing, `out` is not a folder, the last
            seed exceeds MAX_SEED, or the batch size or the number of
            snapshots does not fit the data.
    """
    last = seed + n_seeds - 1
    if last > MAX_SEED:
        raise CLIError(
            f"--seed {seed} with --seeds {n_seeds} needs seeds up to {last}, beyond "
            f"{MAX_SEED} (NumPy and scikit-learn seeds are 32-bit)"
        )
    (x_train, y_train), test = _load_digits(seed)
    if batch_size > len(x_train):
        raise CLIError(f"--batch-size {batch_size} exceeds the {len(x_train)} training images")
    spe = math.ceil(len(x_train) / batch_size)
    if n_snapshots > epochs * spe:
        raise CLIError(f"--snapshots {n_snapshots} exceeds the {epochs * spe} training steps")
    output_folder(out)
    start = time.perf_counter()
    common = dict(epochs=epochs, batch_size=batch_size, spe=spe, n_snapshots=n_snapshots)

    def say(k: int):
        prefix = "" if n_seeds == 1 else f"seed {seed + k} ({k + 1}/{n_seeds}): "
        return lambda text: print(prefix + text, flush=True)

    images = {}
    seeds = [
        _one_seed(seed, (x_train, y_train), test, out=out, images=images, say=say(0), **common)
    ]
    for k in range(1, n_seeds):
        # Same sizes on every seed (a stratified 75/25 split), so the checks above hold.
        data, test_k = _load_digits(seed + k)
        with tempfile.TemporaryDirectory(prefix="keras_lr_demo-") as tmp:
            seeds.append(
                _one_seed(seed + k, data, test_k, out=Path(tmp), images=None, say=say(k), **common)
            )
    _write_results(out, seeds)
    info = dict(
        backend=keras.backend.backend(),
        n_train=len(x_train),
        n_test=len(test[0]),
        seed=seed,
        batch_size=batch_size,
        epochs=epochs,
        spe=spe,
    )
    report = _report.write_report(out, _report.demo_report(info, seeds, images))
    print()
    if n_seeds == 1:
        print(_report.results_table(seeds[0].results).markdown())
    else:
        print(f"mean ± std over the {n_seeds} seeds {seed} .. {last}:")
        print(_report.summary_table(seeds).markdown())
        print()
        print("\n".join(_report.spread_sentences(seeds)))
    print(f"\ndone in {time.perf_counter() - start:.0f} s; report.html beside report.md")
    return report
