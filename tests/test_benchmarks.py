"""The benchmark scripts run, and their report says what it measured.

Speed itself is measured by `python benchmarks/run.py`, never in tests: this
runs every benchmark at its smallest size with one timed round, so that the
scripts keep working as the library changes, and checks the figures' shape.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import BACKEND

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH_DIR)

import run as bench_run  # noqa: E402


@pytest.mark.slow
def test_every_benchmark_runs_and_the_report_has_its_tables(tmp_path):
    import importlib

    rows = []
    for name in bench_run.BENCHMARKS:
        module_rows = importlib.import_module(f"bench_{name}").run(repeats=1, quick=True)
        assert module_rows and all(row["benchmark"] == name for row in module_rows), name
        rows += module_rows
    timed = [row for row in rows if "ratio" in row]
    for row in timed:
        assert row["seconds"] > 0 and row["ratio"] > 0, row
    # Each baseline is its own reference: exactly 1 in every round.
    baselines = [r for r in timed if r["case"].startswith(("bare fit", "5 separate"))]
    assert baselines and all(r["ratio"] == 1.0 for r in baselines)
    cases = {row["case"] for row in rows if row["benchmark"] == "callbacks"}
    assert {"CyclicLR", "SGDRScheduler", "OneCycleLR", "ReduceLROnPlateau"} <= cases
    assert {"anchor: per-batch Python CLR", "anchor: Keras CosineDecayRestarts"} <= cases
    history = next(row for row in rows if row["benchmark"] == "history")
    assert 0 < history["frame_mb"] <= history["peak_mb"] * 1.01 + 0.1

    _check_suggestion_rows([row for row in rows if row["benchmark"] == "suggestion"])

    results = {BACKEND: {"device": "CPU", "versions": {"keras": "3"}, "rows": rows}}
    text = bench_run.report(results, quick=True, seconds=1.0)
    assert "accelerator: none (CPU only)" in text
    for title in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."):
        assert title in text
    for rule in ("keras_lr default", "fastai valley", "Lightning suggestion", "pytorch-lr-finder"):
        assert f"\n| {rule} | " in text
    cyclic = next(line for line in text.splitlines() if line.startswith("| CyclicLR |"))
    ratio = next(r["ratio"] for r in rows if r["case"] == "CyclicLR")
    assert cyclic == f"| CyclicLR | {ratio:.2f}x |"


def _check_suggestion_rows(rows):
    """Benchmark 6's smallest size: every task ran, every rule read the recorded
    test, and each regret is the loss at the rule's rate over the grid's best."""
    from _suggestion_anchors import ANCHORS
    from _suggestion_tasks import TASKS
    from bench_suggestion import DEFAULT, KERAS_LR_METHODS

    assert [row["case"] for row in rows] == [task.name for task in TASKS]
    for row in rows:
        assert set(row["rules"]) == {*KERAS_LR_METHODS, DEFAULT, *ANCHORS}, row["case"]
        assert row["rules"][DEFAULT]["rates"] == row["rules"]["zero_lag"]["rates"]
        grid = {float(rate): np.mean(losses) for rate, losses in row["grid"].items()}
        assert row["best_loss"] == min(grid.values()) == grid[row["best_rate"]]
        for name, rule in row["rules"].items():
            regret = np.asarray(rule["losses"]) / row["best_loss"] - 1
            assert rule["regret"] == pytest.approx(regret.mean()), (row["case"], name)
        (lrs, losses), *_ = row["curves"]
        assert len(lrs) == len(losses) == row["finder_steps"] and row["finder_cost"] > 0


def test_a_gpu_is_named_in_the_report():
    results = {"jax": {"device": "NVIDIA H100 80GB HBM3", "versions": {}, "rows": []}}
    assert "accelerator: NVIDIA H100 80GB HBM3" in bench_run.report(results, False, 1.0)


def test_an_unknown_baseline_is_refused():
    from _common import interleaved

    with pytest.raises(ValueError, match="baseline 'nope'"):
        interleaved({"a": lambda: None}, "nope")


# -- benchmark 6: the anchors' suggestion rules, read against their definitions --------


def _fall_then_rise(n=100):
    """A range-test-like raw loss: flat, a descent, a minimum, a blow-up (no divergence stop)."""
    lrs = np.logspace(-7, 1, n)
    x = np.linspace(0.0, 1.0, n)
    losses = 2.0 - 1.5 / (1.0 + np.exp(-(x - 0.5) * 20)) + 4.0 * np.maximum(x - 0.8, 0) ** 2
    return lrs, losses + 0.01 * np.sin(np.arange(n))


def test_fastai_rules_read_fastais_trimmed_smoothed_curve():
    from _suggestion_anchors import fastai_minimum, fastai_slide, fastai_valley

    from keras_lr.finder import _suggest

    lrs, losses = _fall_then_rise()
    # fastai reads [num_it // 10 : -5] of its bias-corrected beta = 0.98 average;
    # keras_lr's default trim is the same here (no divergence), and its rules are
    # written from the same definitions: the two must agree point for point.
    part = slice(10, 95)
    curve = _suggest.smooth(losses, 0.98)[part]
    assert fastai_valley(lrs, losses) == _suggest.valley(lrs[part], curve)
    assert fastai_slide(lrs, losses) == _suggest.slide(lrs[part], curve)
    assert fastai_minimum(lrs, losses) == _suggest.minimum(lrs[part], curve)


def test_fastai_steep_takes_the_start_of_the_steepest_forward_difference():
    from _suggestion_anchors import fastai_steep

    lrs = np.logspace(-7, 1, 100)
    losses = np.ones(100)
    losses[60:] = 0.5  # one drop between points 59 and 60: the smoothed curve falls most there
    rate = fastai_steep(lrs, losses)
    assert rate == lrs[59]


def test_lightning_shifts_its_index_by_skip_begin_and_reads_unit_gradients():
    from _suggestion_anchors import lightning_suggestion

    lrs = np.logspace(-8, 0, 100)
    losses = np.ones(100)
    losses[50:] = 0.2
    # Its smoothed loss falls most right after the drop, 49..51 by np.gradient's centred
    # differences; the rate is read at that index of the untrimmed ladder.
    assert lrs[49] <= lightning_suggestion(lrs, losses) <= lrs[51]


def test_torch_lr_finder_stops_after_five_times_the_best_and_skips_ten_and_five():
    from _suggestion_anchors import torch_lr_finder_suggestion

    lrs = np.logspace(-7, 1, 100)
    losses = np.linspace(1.0, 0.5, 100)
    losses[70:] = 100.0  # its average passes 5 x best within a few steps: the test stops there
    rate = torch_lr_finder_suggestion(lrs, losses)
    # The steepest point of the curve it kept is its rise, just before the end it trims.
    assert lrs[60] <= rate < lrs[75]
    # A curve too short to trim answers NaN, as its plot() refuses it.
    assert np.isnan(torch_lr_finder_suggestion(lrs[:12], losses[:12]))
