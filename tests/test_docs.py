"""The docstring examples and the README's promises stay true."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil
import re

import pytest

import keras_lr

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Every module of the package, new ones included without a list to keep.
MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(keras_lr.__path__, "keras_lr.")
    if name != "keras_lr.__main__"  # runs the command line, no docstring examples
)
# Folders whose docstrings are known to carry examples: each must keep some.
WITH_EXAMPLES = ("keras_lr.schedules", "keras_lr.callbacks")


def examples(name: str) -> doctest.TestResults:
    return doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    assert examples(name).failed == 0


@pytest.mark.parametrize("folder", WITH_EXAMPLES)
def test_the_folders_known_for_examples_have_them(folder):
    in_folder = [m for m in MODULES if m == folder or m.startswith(folder + ".")]
    assert sum(examples(m).attempted for m in in_folder) > 0, f"no docstring example in {folder}"


def test_readme_opens_with_the_two_setup_commands_that_ci_runs():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S)
    assert first_block and text.index(first_block.group(0)) < text.index("\n## ")
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "pip install" in commands[0] and commands[0].endswith("keras-lr demo")
    assert "[test" in commands[1] and "tests/run_backends.py" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci  # CI runs the README's own block, not a copy


def test_every_public_name_is_documented_in_the_readme():
    text = (ROOT / "README.md").read_text()
    missing = [
        name
        for name in keras_lr.__all__
        if not name.startswith("_")
        and name not in ("FitContext", "schedules")
        and f"`{name}" not in text
    ]
    assert missing == []


def test_every_picture_the_readme_shows_is_in_the_repository():
    text = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(pictures) >= 7  # the tour: one per demo callback, and all runs
    missing = [p for p in pictures if not (ROOT / p).is_file()]
    assert missing == []
    for picture in pictures:
        assert (ROOT / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
