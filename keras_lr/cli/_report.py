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
from keras_lr.cli._runs import FINDER, TARGET, Run

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


def demo_report(info: dict, finder, runs: list[Run], ensemble: Run, images: dict) -> Document:
    """The demo's report: setup, range test, results, curves, rates, files."""
    suggestions = ", ".join(
        f"{method} {rate:.3g}"
        for method, rate in finder.suggestions().items()
        if math.isfinite(rate)
    )
    blocks = [
        Paragraph(
            f"Backend {info['backend']} (Keras {keras.__version__}, keras_lr "
            f"{keras_lr.__version__}). scikit-learn's digits: {info['n_train']} training and "
            f"{info['n_test']} test images (stratified split, seed {info['seed']}). A 64-64-10 "
            f"network, SGD with momentum 0.9, batch size {info['batch_size']}, "
            f"{info['epochs']} epochs of {info['spe']} steps for every run, all from the same "
            "initial weights with the same shuffling. The test set is evaluated after every "
            "epoch for this report only; nothing is tuned on it."
        ),
        Heading("Range test"),
        Paragraph(
            f"`find_lr` from {FINDER['min_lr']:g} to {FINDER['max_lr']:g} over "
            f"{FINDER['num_steps']} steps (the model is restored afterwards): suggestions "
            f"{suggestions or 'none'}. The constant run uses the default suggestion "
            f"({info['rate']:.3g}); `cyclic_bounds()` gives {info['base']:.3g} .. "
            f"{info['peak']:.3g}, and the upper bound is the top rate of every schedule."
        ),
        Image(images["finder"], "range test"),
        Heading("Results"),
        results_table(runs + [ensemble]),
        Paragraph(
            f"Final test accuracy and loss after the last epoch; epochs to {TARGET:.0%}: the "
            f"first epoch after which the test accuracy is at least {TARGET} ("
            f'"{NOT_REACHED}" if never; for the ensemble, the epoch of the first snapshot '
            "whose ensemble with the earlier ones reaches it). Wall time: `fit` with the "
            "per-epoch test evaluation; for the ensemble, the snapshot run plus building and "
            "evaluating the ensemble."
        ),
        Heading("Training curves"),
        Image(images["training"], "loss and test accuracy per epoch"),
        Heading("Learning rates"),
        Image(images["schedules"], "learning rate of every run"),
        Paragraph(
            "Each run's rates per step, with its training loss per epoch (`keras_lr.plot_history`):"
        ),
        *[Image(images[run.key], run.label) for run in runs],
        Heading("Files"),
        Paragraph(
            "`history_<run>.csv`: each run's `callback.history` (rate per step, epoch logs on "
            "each epoch's last step; `val_` columns are the test set). `results.csv`: the "
            "table above. `snapshots/`: the snapshot weights and `manifest.json`. "
            "`lr_finder.csv`: the range test."
        ),
    ]
    return Document("keras_lr demo: learning-rate schedules on the 8x8 digits", blocks)


def write_report(out: Path, document: Document) -> Path:
    """Writes report.html and report.md to `out`; returns the path of report.md."""
    (out / "report.html").write_text(document.html())
    path = out / "report.md"
    path.write_text(document.markdown())
    return path
