"""Runs the test suite once per Keras backend, each in its own process.

Keras fixes its backend at import, so the matrix needs one pytest process per
backend.  Usage:

    python tests/run_backends.py                 # tensorflow, jax, torch
    python tests/run_backends.py jax -- -k cyclic
    python tests/run_backends.py jax torch -- tests/test_finder.py

Exits non-zero when any backend fails (or collects no test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        chosen, extra = argv[:split], argv[split + 1 :]
    else:
        chosen, extra = argv, []
    chosen = chosen or list(BACKENDS)
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown:
        print(f"unknown backend(s) {unknown}; choose from {list(BACKENDS)}", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    # Test paths among the extra arguments narrow the run; without any, the
    # whole suite runs.
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
