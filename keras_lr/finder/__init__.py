"""The learning-rate range test (Smith 2017; fastai's `lr_find`): the
recording callback, its exact restore, and its result (history, suggestions,
plot, CSV)."""

from keras_lr.finder._finder import LRFinder, find_lr

__all__ = ["LRFinder", "find_lr"]
