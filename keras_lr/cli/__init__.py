"""The `keras-lr` command line: `schedule`, `find` and `demo`."""

from keras_lr.cli._main import main

__all__ = ["main"]
