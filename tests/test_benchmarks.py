"""The benchmark scripts run, and their report says what it measured.

Speed itself is measured by `python benchmarks/run.py`, never in tests: this
runs every benchmark at its smallest size with one timed round, so that the
scripts keep working as the library changes, and checks the figures' shape.
"""

from __future__ import annotations

import os
import sys

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

    results = {BACKEND: {"device": "CPU", "versions": {"keras": "3"}, "rows": rows}}
    text = bench_run.report(results, quick=True, seconds=1.0)
    assert "accelerator: none (CPU only)" in text
    for title in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5."):
        assert title in text
    cyclic = next(line for line in text.splitlines() if line.startswith("| CyclicLR |"))
    ratio = next(r["ratio"] for r in rows if r["case"] == "CyclicLR")
    assert cyclic == f"| CyclicLR | {ratio:.2f}x |"


def test_a_gpu_is_named_in_the_report():
    results = {"jax": {"device": "NVIDIA H100 80GB HBM3", "versions": {}, "rows": []}}
    assert "accelerator: NVIDIA H100 80GB HBM3" in bench_run.report(results, False, 1.0)


def test_an_unknown_baseline_is_refused():
    from _common import interleaved

    with pytest.raises(ValueError, match="baseline 'nope'"):
        interleaved({"a": lambda: None}, "nope")
