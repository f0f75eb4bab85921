"""Runs the test suite once per Keras backend, each in its own process.

Keras fixes its backend at import, so the matrix needs one pytest process per
backend.  Usage:

    python tests/run_backends.py                 # tensorflow, jax, torch
    python tests/run_backends.py jax -- -k cyclic
    python tests/run_backends.py jax torch -- tests/test_finder.py
    python tests/run_backends.py --core          # the core subset (CORE below)

Exits non-zero when any backend fails (or collects no test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")

# The core subset: every callback (the scheduling ones, ReduceLROnPlateau alone
# and composed, SnapshotEnsemble, FastGeometricEnsemble, SWA, the range test)
# driven through a real `fit`, with save/load, a wrapped optimizer and gradient
# accumulation, plus the Keras version checks.  `.ci/run` runs it on the oldest
# Keras that setup.cfg declares; about a minute per backend on two CPU cores.
CORE = (
    "tests/test_keras_versions.py",
    "tests/test_fit.py::test_applied_rates_equal_preview_and_published_formula",
    "tests/test_fit.py::test_resume_after_save_and_load_model",
    "tests/test_fit.py::test_loss_scale_optimizer_applies_exact_rates",
    "tests/test_plateau.py::test_alone_history_records_each_reduction",
    "tests/test_plateau.py::test_composed_reduction_scales_the_schedule_and_keeps_its_shape",
    "tests/test_plateau.py::test_reduction_carries_into_the_next_fit",
    "tests/test_snapshots.py::test_rates_and_exactly_m_snapshots_at_cycle_ends",
    "tests/test_snapshots.py::test_fge_rates_and_models_at_each_cycle_low",
    "tests/test_snapshots.py::test_swa_average_of_epoch_end_weights_swapped_in",
    "tests/test_snapshots.py::test_swa_lr_over_a_float_rate",
    "tests/test_finder.py::test_applied_rate_is_the_ladder_at_every_step",
    "tests/test_finder.py::test_restore_after_normal_end_is_bit_for_bit",
    "tests/test_finder.py::test_gradient_accumulation_applies_each_rate_for_one_update",
    "tests/test_compat_hyper.py",
    "tests/test_momentum.py::test_applied_sgd_momentum_is_pytorchs",
    "tests/test_momentum.py::test_applied_beta_1_is_pytorchs",
    "tests/test_momentum.py::test_gradient_accumulation_applies_the_momentum_of_each_update",
    "tests/test_current_schedules.py::test_resume_mid_decay_after_save_and_load_model",
    "tests/test_current_schedules.py::test_start_decay_mid_epoch_on_endless_data",
)


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        chosen, extra = argv[:split], argv[split + 1 :]
    else:
        chosen, extra = argv, []
    core = "--core" in chosen
    chosen = [b for b in chosen if b != "--core"]
    chosen = chosen or list(BACKENDS)
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown:
        print(f"unknown backend(s) {unknown}; choose from {list(BACKENDS)}", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    # Test paths among the extra arguments narrow the run; without any, the
    # whole suite runs.
    root = os.path.dirname(here)
    if core:
        extra = [os.path.join(root, node) for node in CORE] + extra
    chosen_paths = [a for a in extra if not a.startswith("-") and os.path.exists(a.split("::")[0])]
    targets = [] if chosen_paths else [here]
    results = {}
    for backend in chosen:
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        start = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets, *extra],
            env=env,
        )
        results[backend] = (code, time.monotonic() - start)
    print("\n===== backend matrix =====")
    for backend, (code, seconds) in results.items():
        print(
            f"{backend:<11} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:6.0f} s"
        )
    return 0 if all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
