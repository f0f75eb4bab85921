"""The report of `keras-lr demo`: one document model, written as Markdown and as HTML.

A `Document` is a title and a list of blocks (`Paragraph`, `Table`,
`Image`, `Heading`); every block kind renders itself both ways side by side,
so `report.md` and `report.html` cannot drift apart.  The HTML page is
self-contained: the images are inlined as base64 PNG.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

import keras

import keras_lr
from keras_lr.cli import _seeds
from keras_lr.cli._runs import FINDER, TARGET, Run, SeedRuns

NOT_REACHED = "not reached"

_STYLE = (
    "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
    "td:nth-child(n+3){text-align:right}img{max-width:100%}</style>"
)


def _inline(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


@dataclasses.dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2

    def markdown(self) -> str:
        return "#" * self.level + f" {self.text}"

    def html(self) -> str:
        return f"<h{self.level}>{_inline(self.text)}</h{self.level}>"


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str  # `code` spans allowed

    def markdown(self) -> str:
        return self.text

    def html(self) -> str:
        return f"<p>{_inline(self.text)}</p>"


@dataclasses.dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        lines = ["<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in self.header) + "</tr>"]
        lines += [
            "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in self.rows
        ]
        lines.append("</table>")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Image:
    path: Path  # a PNG file beside the report
    alt: str

    def markdown(self) -> str:
        return f"![{self.alt}]({self.path.name})"

    def html(self) -> str:
        data = base64.b64encode(self.path.read_bytes()).decode("ascii")
        return f'<p><img alt="{html.escape(self.alt)}" src="data:image/png;base64,{data}"></p>'


@dataclasses.dataclass(frozen=True)
class Document:
    """A title (the first heading) and the blocks under it."""

    title: str
    blocks: Sequence[Heading | Paragraph | Table | Image]

    def _all(self):
        return [Heading(self.title, 1), *self.blocks]

    def markdown(self) -> str:
        return "\n\n".join(block.markdown() for block in self._all()) + "\n"

    def html(self) -> str:
        lines = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            _STYLE,
            "</head><body>",
            *(block.html() for block in self._all()),
            "</body></html>",
        ]
        return "\n".join(lines) + "\n"


# -- the demo's report --------------------------------------------------------------

HEADER = (
    "run",
    "settings",
    "final test accuracy",
    "final test loss",
    f"epochs to {TARGET:.0%}",
    "wall time (s)",
)


def results_table(runs: list[Run]) -> Table:
    """One row per run: settings, final test accuracy and loss, epochs to TARGET, time."""
    rows = [
        (
            run.label,
            run.settings,
            f"{run.accuracy:.4f}",
            f"{run.loss:.4f}",
            str(run.reached) if run.reached is not None else NOT_REACHED,
            f"{run.seconds:.1f}",
        )
        for run in runs
    ]
    return Table(HEADER, rows)


def _spread(values, digits: int) -> str:
    mean, std = _seeds.mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_table(seeds: list[SeedRuns]) -> Table:
    """`results_table` over several seeds: mean ± std; epochs to TARGET as mean (k/N).

    The settings are the first seed's (each seed's range test sets its own rates).
    """
    rows = []
    for run, same, reached, k in _seeds.across_seeds(seeds):
        rows.append(
            (
                run.label,
                run.settings,
                _spread([r.accuracy for r in same], 4),
                _spread([r.loss for r in same], 4),
                f"{reached:.1f} ({k}/{len(seeds)})" if k else f"{NOT_REACHED} (0/{len(seeds)})",
                _spread([r.seconds for r in same], 1),
            )
        )
    return Table(HEADER, rows)


def spread_sentences(seeds: list[SeedRuns]) -> list[str]:
    """Which runs' test accuracy and loss differ from the best's by more than the spread, and the rule."""
    labels = [run.label for run in seeds[0].results]

    def scores(name: str) -> dict[str, list[float]]:
        return {
            label: [getattr(s.results[i], name) for s in seeds] for i, label in enumerate(labels)
        }

    return [
        _seeds.verdict("Test accuracy", scores("accuracy"), higher_is_better=True),
        _seeds.verdict("Test loss", scores("loss"), higher_is_better=False),
        _seeds.rule(len(seeds)),
    ]


def _setup(info: dict, seeds: list[SeedRuns]) -> Paragraph:
    if len(seeds) == 1:
        split = f"stratified split, seed {info['seed']}"
        same = ", all from the same initial weights with the same shuffling"
    else:
        split = "a stratified split per seed"
        same = (
            f"; the whole demo runs once for each of the {len(seeds)} seeds {seeds[0].seed} .. "
            f"{seeds[-1].seed}, each with its own split, initial weights, shuffling and range "
            "test; within a seed all runs start from the same weights with the same shuffling"
        )
    return Paragraph(
        f"Backend {info['backend']} (Keras {keras.__version__}, keras_lr "
        f"{keras_lr.__version__}). scikit-learn's digits: {info['n_train']} training and "
        f"{info['n_test']} test images ({split}). A 64-64-10 "
        f"network, SGD with momentum 0.9, batch size {info['batch_size']}, "
        f"{info['epochs']} epochs of {info['spe']} steps for every run{same}. The test set "
        "is evaluated after every epoch for this report only; nothing is tuned on it."
    )


def _range_test(seeds: list[SeedRuns]) -> Paragraph:
    first = seeds[0]
    suggestions = ", ".join(
        f"{method} {rate:.3g}"
        for method, rate in first.finder.suggestions().items()
        if math.isfinite(rate)
    )
    text = (
        f"`find_lr` from {FINDER['min_lr']:g} to {FINDER['max_lr']:g} over "
        f"{FINDER['num_steps']} steps (the model is restored afterwards): suggestions "
        f"{suggestions or 'none'}. The constant run uses the default suggestion "
        f"({first.rate:.3g}); `cyclic_bounds()` gives {first.base:.3g} .. "
        f"{first.peak:.3g}, and the upper bound is the top rate of every schedule."
    )
    if len(seeds) > 1:
        rates, peaks = [s.rate for s in seeds], [s.peak for s in seeds]
        text = (
            f"{text} Over the {len(seeds)} seeds the suggestion ran from "
            f"{min(rates):.3g} to {max(rates):.3g} and the upper bound from {min(peaks):.3g} "
            f"to {max(peaks):.3g}; the settings in the table are seed {first.seed}'s."
        )
    return Paragraph(text)


def _results(info: dict, seeds: list[SeedRuns]) -> list:
    n = len(seeds)
    meaning = (
        f"Final test accuracy and loss after the last epoch; epochs to {TARGET:.0%}: the "
        f"first epoch after which the test accuracy is at least {TARGET} ("
        f'"{NOT_REACHED}" if never; for the ensemble, the epoch of the first snapshot '
        "whose ensemble with the earlier ones reaches it). Wall time: `fit` with the "
        "per-epoch test evaluation; for the ensemble, the snapshot run plus building and "
        "evaluating the ensemble."
    )
    if n == 1:
        return [
            results_table(seeds[0].results),
            Paragraph(meaning),
            Paragraph(
                "A single seed cannot tell a difference between runs from the spread between "
                f"seeds (one test image is {1 / info['n_test']:.4f} of accuracy): `--seeds 5` "
                "reports mean ± standard deviation and which differences are larger than it."
            ),
        ]
    return [
        summary_table(seeds),
        Paragraph(
            f"Mean ± standard deviation (sample, ddof=1) over the {n} seeds; for epochs to "
            f"{TARGET:.0%}, the mean over the seeds that reached it and how many of the {n} "
            f"did. {meaning}"
        ),
        Heading("Which differences are larger than the spread", 3),
        *(Paragraph(text) for text in spread_sentences(seeds)),
    ]


def demo_report(info: dict, seeds: list[SeedRuns], images: dict) -> Document:
    """The demo's report: setup, range test, results, curves, rates, files.

    With several seeds the results are over all of them, the rest is the first seed's.
    """
    runs = seeds[0].runs
    of_seed = "" if len(seeds) == 1 else f" (seed {seeds[0].seed})"
    files = (
        "`history_<run>.csv`: each run's `callback.history` (rate per step, epoch logs on "
        "each epoch's last step; `val_` columns are the test set). `results.csv`: the "
        "table above. `snapshots/`: the snapshot weights and `manifest.json`. "
        "`lr_finder.csv`: the range test."
    )
    if len(seeds) > 1:
        files = (
            f"Seed {seeds[0].seed}'s: `history_<run>.csv`, each run's `callback.history` (rate "
            "per step, epoch logs on each epoch's last step; `val_` columns are the test set); "
            "`snapshots/`, the snapshot weights and `manifest.json`; `lr_finder.csv`, the range "
            "test; and the plots. `results.csv`: every seed's results, a row per seed and run. "
            "`results_summary.csv`: the table above, mean and standard deviation in columns "
            "of their own."
        )
    blocks = [
        _setup(info, seeds),
        Heading("Range test" + of_seed),
        _range_test(seeds),
        Image(images["finder"], "range test"),
        Heading("Results"),
        *_results(info, seeds),
        Heading("Training curves" + of_seed),
        Image(images["training"], "loss and test accuracy per epoch"),
        Heading("Learning rates" + of_seed),
        Image(images["schedules"], "learning rate of every run"),
        Paragraph(
            "Each run's rates per step, with its training loss per epoch (`keras_lr.plot_history`):"
        ),
        *[Image(images[run.key], run.label) for run in runs],
        Heading("Files"),
        Paragraph(files),
    ]
    return Document("keras_lr demo: learning-rate schedules on the 8x8 digits", blocks)


def write_report(out: Path, document: Document) -> Path:
    """Writes report.html and report.md to `out`; returns the path of report.md."""
    (out / "report.html").write_text(document.html())
    path = out / "report.md"
    path.write_text(document.markdown())
    return path
