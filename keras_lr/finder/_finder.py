"""The learning-rate range test (Smith 2017; fastai's lr_find): the ladder,
the public `LRFinder` and `find_lr`.

`LRFinder` is a callback: for `num_steps` optimizer steps (updates) it trains
at a ladder of rates from `min_lr` to `max_lr`, records the true loss of every
step, stops when the loss diverges or the ladder ends, and puts the model
back exactly as it found it.  `find_lr` runs it on data in one call.

`LRFinder` is put together from its parts, each in its own module: the
recording callback (`_callback.RangeTestCallback`), the exact restore
(`_restore.Snapshot`), and the result (`_result.RangeTestResult`: history,
suggestions, plots, CSV), which reads the curve with `_suggest`.  This module
holds what the user calls: the arguments, their checks and the config, and
`find_lr`'s orchestration of a test over data.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _rate
from keras_lr import _validation as v
from keras_lr.finder._callback import RangeTestCallback, accumulation_steps
from keras_lr.finder._result import RangeTestResult

__all__ = ["LRFinder", "find_lr", "ladder"]


def ladder(min_lr: float, max_lr: float, num_steps: int, mode: str) -> np.ndarray:
    """The rates of the range test, both ends included.

    exponential: min_lr * (max_lr / min_lr)^(i / (n - 1));  linear: evenly spaced.
    """
    i = np.arange(num_steps, dtype=np.float64)
    if mode == "exponential":
        out = min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))
    else:
        out = min_lr + (max_lr - min_lr) * i / (num_steps - 1)
    out[0], out[-1] = min_lr, max_lr
    return out


def _settable_optimizers(model: Any) -> list:
    """The optimizers `LRFinder.apply` sets, once it is sure it can set every one."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Argument `model` must be a compiled `keras.Model`. Received: model={model!r} "
            f"(of type {type(model).__name__})"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "LRFinder.apply needs a compiled model: call `model.compile(optimizer=..., "
            f"loss=...)` first. Received: model={model.name!r}, not compiled"
        )
    optimizers = _rate.optimizers_of(model, "LRFinder.apply")
    if not optimizers:
        raise ValueError(
            f"LRFinder.apply found no optimizer to set in {model.optimizer.name!r}: build "
            "the model (call it on a batch) so that its MultiOptimizer finds its optimizers."
        )
    for opt in optimizers:
        source = _rate.rate_source(opt)
        if not _compat.is_variable(source):
            raise TypeError(
                f"LRFinder.apply sets a float rate, but optimizer {opt.name!r} reads its "
                f"rate from {type(source).__name__}, which a float would replace. Pass the "
                "suggestion to the schedule or callback instead, e.g. "
                "`keras_lr.OneCycleLR(max_lr=finder.suggestion())`, or compile the "
                "optimizer with a float `learning_rate`."
            )
    return optimizers


class AppliedRate:
    """`LRFinder.apply`: the suggestion as the optimizer's float rate."""

    def apply(self, model: Any = None, method: str | None = None) -> float:
        """Sets the learning rate of `model`'s optimizer to `suggestion(method)`.

        As Lightning's `Tuner.lr_find(update_attr=True)`: the model's next `fit`
        trains at the suggested rate.  The rate is written into the optimizer's
        float rate variable (what `optimizer.learning_rate = rate` does), so a
        compiled train step keeps reading it.  Every optimizer inside a
        `MultiOptimizer` gets it, each times its fixed factor under
        `keras_lr.layer_decay` (group g trains at factor_g * rate, as under the
        scheduling callbacks); a `LossScaleOptimizer`'s inner optimizer gets
        it.  Every check comes first: when one fails, no rate has changed.
        When the test is unreliable (`reliable` is False) the rate is still
        set, with the warning `suggestion()` gives.

        Args:
            model: the compiled model whose optimizer is set (default: the model
                the test ran on).
            method: the suggestion method, as in `suggestion` (default:
                `default_method`, "zero_lag").

        Returns:
            The rate set, `suggestion(method)`.

        Raises:
            ValueError: the test has no results, `method` is unknown, the curve is
                too short to read, or `model` is not compiled.
            TypeError: `model` is not a Keras model, or an optimizer's rate is a
                schedule or a callable, which a float would replace: pass the
                suggestion to the schedule or callback instead, e.g.
                `keras_lr.OneCycleLR(max_lr=finder.suggestion())`.

        Example:
            >>> keras_lr.find_lr(model, x, y, verbose=0).apply()  # doctest: +SKIP
            0.0148
            >>> model.fit(x, y, epochs=5)  # trains at 0.0148  # doctest: +SKIP
        """
        method, value = self._read(method)
        optimizers = _settable_optimizers(self.model if model is None else model)
        self._warn_unreliable(f"the {self._labels[method]} rate {value:.3g} applied is")
        for opt in optimizers:
            _rate.install(opt, _rate.rate_factor(opt) * value)
        return value


class LRFinder(RangeTestCallback, RangeTestResult, AppliedRate):
    """Learning-rate range test as a callback for `model.fit`.

    For steps k = 0..num_steps-1 of the fit, the optimizer trains at exactly

        exponential: lr_k = min_lr * (max_lr / min_lr)^(k / (num_steps - 1))
        linear:      lr_k = min_lr + (max_lr - min_lr) * k / (num_steps - 1)

    and the true loss of each step is recorded (not the running mean Keras
    logs), with an exponential moving average (bias-corrected) as
    `smoothed_loss`.  A step is one optimizer update: under
    `gradient_accumulation_steps=N` it is N batches, all at lr_k, and its loss
    is the mean of their N batch losses, so the test runs num_steps * N
    batches.  The test stops when the ladder ends, when the smoothed loss
    exceeds `divergence_threshold` times its best value (best + (threshold - 1)
    * |best| for objectives that go negative), or when the loss is not finite;
    training stops with it.  With `restore=True`, at train end every
    model weight (non-trainable ones too, e.g. BatchNorm statistics), every
    optimizer variable (moments, `iterations`, gradient accumulators) and the
    learning rate are put back bit for bit, in memory.

    `on_train_end` does not run when `fit` raises; use `find_lr`, or the finder
    as a context manager (`with keras_lr.LRFinder() as finder: model.fit(...,
    callbacks=[finder])`), to restore in every case.  A restore that is itself
    interrupted (a second Ctrl-C) keeps the saved copy: call `restore_model()`
    again to finish it.

    The finder drives the optimizer's rate for the fit: another keras_lr
    scheduling callback in the same `fit` raises a `ValueError` before training.

    **When the test has no answer** (an already-trained model, a ladder that
    starts where the loss already diverges, or a test too short or noisy to
    show a descent), `reliable` is False and `unreliable_reason` says why
    and what to change: the test warns at its end, the summary line says
    there is no reliable suggestion, and `suggestion()` still answers but warns.

    **The suggestion** (`suggestion()`, "zero_lag") is a third of the rate
    at which the batch loss smoothed without lag is lowest (README,
    Performance, benchmark 6).  The other methods read the smoothed loss
    before the stop (or the validation loss) less the first tenth of the
    ladder and the last 5 steps; `plot()` shades the span they read.

    Args:
        min_lr: first rate of the ladder, > 0.
        max_lr: last rate of the ladder, > min_lr.
        num_steps: steps (optimizer updates) of the test, >= 2.
        mode: "exponential" or "linear" spacing.
        smoothing: beta of the moving average, in [0, 1).
        divergence_threshold: stop when smoothed loss > threshold * best, > 1.
        stop_on_divergence: stop at divergence (else run the whole ladder).
        restore: put the model back at train end.
        verbose: 1 shows a progress bar and a summary line, 0 is silent.
        validation_data: optional (x, y) of a small fixed validation subset;
            its loss is recorded every `validation_every` steps as `val_loss`
            and the suggestions then read that curve (Smith's variant).  Data
            has no place in a config: `get_config()` leaves it out.
        validation_every: steps between validation losses.

    Attributes:
        history: DataFrame with `step`, `lr`, `loss`, `smoothed_loss`
            (and `val_loss`), one row per step (update) of the test, `lr`
            being the rate that update applied.
        diverged_at: the step at which the test stopped on divergence, or None.
        reliable: False when the test has no answer (see `unreliable_reason`).
        unreliable_reason: why, or None.

    Example:
        >>> finder = keras_lr.LRFinder(num_steps=200, verbose=0)     # doctest: +SKIP
        >>> with finder:                                              # doctest: +SKIP
        ...     model.fit(x, y, epochs=10, callbacks=[finder])
        >>> finder.suggestion(), finder.reliable                      # doctest: +SKIP

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017, arXiv:1506.01186, section 3.3.
    """

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        mode: str = "exponential",
        smoothing: float = 0.98,
        divergence_threshold: float = 4.0,
        stop_on_divergence: bool = True,
        restore: bool = True,
        verbose: int = 1,
        *,
        validation_data: Any = None,
        validation_every: int = 1,
    ):
        super().__init__()
        self.min_lr = v.positive_float("min_lr", min_lr)
        self.max_lr = v.positive_float("max_lr", max_lr)
        if self.min_lr >= self.max_lr:
            raise ValueError(
                "Argument `min_lr` must be smaller than `max_lr`. "
                f"Received: min_lr={min_lr!r}, max_lr={max_lr!r}"
            )
        self.num_steps = v.integer("num_steps", num_steps)
        if self.num_steps < 2:
            raise ValueError(
                f"Argument `num_steps` must be at least 2. Received: num_steps={num_steps!r}"
            )
        self.mode = v.one_of("mode", mode, ("exponential", "linear"))
        self.smoothing = v.float_in("smoothing", smoothing, 0.0, 1.0, high_open=True)
        self.divergence_threshold = v.real("divergence_threshold", divergence_threshold)
        if self.divergence_threshold <= 1.0:
            raise ValueError(
                "Argument `divergence_threshold` must be greater than 1. "
                f"Received: divergence_threshold={divergence_threshold!r}"
            )
        for name, flag in (("stop_on_divergence", stop_on_divergence), ("restore", restore)):
            if not isinstance(flag, bool):
                raise TypeError(f"Argument `{name}` must be a bool. Received: {name}={flag!r}")
        self.stop_on_divergence = stop_on_divergence
        self.restore = restore
        self.verbose = v.nonnegative_int("verbose", verbose)
        if validation_data is not None and (
            not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3)
        ):
            raise TypeError(
                "Argument `validation_data` must be a tuple (x, y) or (x, y, sample_weight). "
                f"Received: validation_data of type {type(validation_data).__name__}"
            )
        self.validation_data = validation_data
        self.validation_every = v.positive_int("validation_every", validation_every)
        self.rates = ladder(self.min_lr, self.max_lr, self.num_steps, self.mode)
        self._reset()

    def get_config(self) -> dict:
        """The constructor's arguments, except `validation_data` (data, not configuration)."""
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "smoothing": self.smoothing,
            "divergence_threshold": self.divergence_threshold,
            "stop_on_divergence": self.stop_on_divergence,
            "restore": self.restore,
            "verbose": self.verbose,
            "validation_every": self.validation_every,
        }

    @classmethod
    def from_config(cls, config: dict) -> LRFinder:
        """A new finder from `get_config()`; pass `validation_data` in `config` to add it."""
        return cls(**config)


_FINDER_ARGS = (
    "smoothing",
    "divergence_threshold",
    "stop_on_divergence",
    "restore",
    "verbose",
    "validation_every",
)


def _array_length(x) -> int | None:
    if isinstance(x, dict):
        lengths = [_array_length(value) for value in x.values()]
        return lengths[0] if lengths else None
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]):
        return _array_length(x[0])
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    return None


def find_lr(
    model,
    x,
    y=None,
    *,
    batch_size: int = 32,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exponential",
    validation_data: Any = None,
    **kwargs,
) -> LRFinder:
    """Runs the range test on `model` and data, and returns the finder.

    The model is restored exactly afterwards (unless `restore=False`), also when
    the test diverges, the loss turns NaN, or training raises or is interrupted.
    Under `gradient_accumulation_steps=N` the test runs `num_steps` updates,
    num_steps * N batches.

    Args:
        model: a compiled Keras model.
        x, y: NumPy arrays, a dict of arrays (multi-input), a `tf.data.Dataset`,
            a `keras.utils.PyDataset` or a generator, as for `fit`.  Data shorter
            than the test's batches is cycled over.
        batch_size: for array data.
        min_lr, max_lr, num_steps, mode: the ladder (see `LRFinder`).
        validation_data: (x, y) of a small fixed subset for Smith's variant.
        **kwargs: other `LRFinder` arguments (smoothing, divergence_threshold,
            stop_on_divergence, restore, verbose, validation_every).

    Returns:
        The `LRFinder`, with `history`, `suggestion()`, `reliable`, `plot()`,
        `apply()` ...

    Example:
        >>> finder = keras_lr.find_lr(model, x_train, y_train, batch_size=64)  # doctest: +SKIP
        >>> lr = finder.suggestion()                                            # doctest: +SKIP
    """
    unknown = sorted(set(kwargs) - set(_FINDER_ARGS))
    if unknown:
        raise TypeError(
            f"find_lr() got unexpected keyword argument(s) {unknown}; "
            f"it takes the LRFinder arguments {list(_FINDER_ARGS)}."
        )
    finder = LRFinder(min_lr, max_lr, num_steps, mode, validation_data=validation_data, **kwargs)
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "find_lr needs a compiled model: call `model.compile(optimizer=..., loss=...)` first."
        )
    batch_size = v.positive_int("batch_size", batch_size)
    optimizers = _rate.optimizers_of(model, "find_lr")
    accumulation = accumulation_steps(optimizers)
    # One ladder step per update: N batches each, less those the optimizer
    # has already accumulated towards its next update.
    total = num_steps * accumulation - _compat.batch_step(optimizers[0]) % accumulation
    length = _array_length(x)
    if length is not None and length < batch_size:
        raise ValueError(
            f"The data holds {length} samples, fewer than one batch of "
            f"batch_size={batch_size}: lower `batch_size` or pass more data."
        )
    fit_kwargs: dict[str, Any] = {}
    if length is not None:
        fit_kwargs["batch_size"] = batch_size
        batches = math.ceil(length / batch_size)
    else:
        batches = 1
    epochs = max(1, math.ceil(total / max(batches, 1)))
    if length is None:
        # Unknown length (datasets, generators, PyDataset): allow one batch per
        # epoch at least, and let the finder stop the run.
        epochs = total
    with _compat.one_step_per_execution(model), finder:
        model.fit(x, y, epochs=epochs, callbacks=[finder], verbose=0, **fit_kwargs)
    if not finder._losses:
        raise ValueError("find_lr drew no batch from the data: it is empty.")
    return finder
