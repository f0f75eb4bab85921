"""The examples run end to end under the current KERAS_BACKEND.

Each example is run as a user runs it, in a subprocess with `--epochs 2`, and
must exit 0, write the PNG it is named after, and print a test accuracy in
[0, 1].  The subprocess inherits KERAS_BACKEND (set by conftest if missing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
ACCURACY = re.compile(r"test accuracy: (\S+)$", re.MULTILINE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BACKENDS = ("tensorflow", "jax", "torch")


def home_backend(name: str) -> str | None:
    """The one backend an example runs on in the suite; None: on every backend.

    The examples use public API only, and the suite tests every behaviour on
    every backend, so each example runs on one backend, in turn (about 5
    minutes of CI per backend saved); `find_lr`, the README's main job, runs
    on all three.  KERAS_LR_ALL_EXAMPLES=1 runs every example everywhere.
    """
    if name == "find_lr" or os.environ.get("KERAS_LR_ALL_EXAMPLES") == "1":
        return None
    return BACKENDS[EXAMPLES.index(name) % len(BACKENDS)]


def test_every_example_has_a_home_backend():
    homes = {home_backend(name) for name in EXAMPLES if name != "find_lr"}
    assert os.environ.get("KERAS_LR_ALL_EXAMPLES") == "1" or homes == set(BACKENDS)


def test_every_example_is_listed_in_the_readme():
    readme = (EXAMPLES_DIR / "README.md").read_text()
    assert len(EXAMPLES) >= 10
    missing = [name for name in EXAMPLES if f"examples/{name}.py" not in readme]
    assert not missing, f"examples/README.md does not list {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name, tmp_path):
    home = home_backend(name)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if home is not None and home != backend:
        pytest.skip(f"{name} runs on the {home} backend (examples take turns; see home_backend)")
    out = tmp_path / "out"  # not created: the example must create it
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / f"{name}.py"), "--epochs", "2", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr[-4000:]}"

    png = out / f"{name}.png"
    assert png.is_file(), f"{name} did not write {png}; stdout:\n{result.stdout}"
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000

    accuracies = ACCURACY.findall(result.stdout)
    assert accuracies, f"no 'test accuracy:' line in:\n{result.stdout}"
    for text in accuracies:
        assert 0.0 <= float(text) <= 1.0, text
    # Nothing written to the working directory: output goes to --out only.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
