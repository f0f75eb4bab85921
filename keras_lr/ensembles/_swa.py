"""Stochastic Weight Averaging, and `update_bn` for averaged weights."""

from __future__ import annotations

import keras
import numpy as np

from keras_lr import _compat, _rate, _state
from keras_lr import _validation as v
from keras_lr import schedules as S
from keras_lr.callbacks import _groups
from keras_lr.callbacks._context import fit_context

__all__ = ["StochasticWeightAveraging", "update_bn"]

_OWNER = "StochasticWeightAveraging"
# Key of SWA's running average in an optimizer's `TrainingState`.
_SWA_COUNT = "swa_count"


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Stochastic Weight Averaging (Izmailov et al. 2018).

    From epoch `start_epoch` on, keeps the running average of the trainable
    weights at each epoch end, w_swa <- (n w_swa + w) / (n + 1), and swaps it
    into the model at train end.  With `swa_lr`, the rate is held at `swa_lr`
    from the first step of `start_epoch` on (on top of whatever schedule ran
    before).  Batch-normalisation statistics of averaged weights need
    recomputing: call `keras_lr.update_bn(model, x)` after training.

    The average (float64) and its count are kept with the optimizer, so they
    are saved by `model.save_weights` and `BackupAndRestore` (list it after
    this callback when it backs up at epoch ends) and a resumed run, or a
    later `fit()` with a new callback on the same model, continues the same
    average.  Weight files written while SWA runs grow by the average's size.

    Args:
        start_epoch: first epoch (0-based) whose end weights enter the average.
        swa_lr: constant rate from `start_epoch` on, or None to leave it.
        swap_at_end: put the average into the model at train end; the final
            weights stay available as `final_weights`.
        verbose: 1 prints a line when the average is swapped in.

    Attributes:
        n_averaged: how many epoch-end weights are in the average.
        average: the averaged trainable weights (NumPy arrays).

    References:
        Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", UAI 2018, arXiv:1803.05407.
    """

    def __init__(
        self,
        start_epoch: int,
        swa_lr: float | None = None,
        swap_at_end: bool = True,
        verbose: int = 0,
    ):
        super().__init__()
        self.start_epoch = v.nonnegative_int("start_epoch", start_epoch)
        self.swa_lr = (
            None if swa_lr is None else _groups.per_group("swa_lr", swa_lr, v.positive_float)
        )
        if not isinstance(swap_at_end, bool):
            raise TypeError(
                f"Argument `swap_at_end` must be a bool. Received: swap_at_end={swap_at_end!r}"
            )
        self.swap_at_end = swap_at_end
        self.verbose = v.nonnegative_int("verbose", verbose)
        self.n_averaged = 0
        self.average: list[np.ndarray] | None = None
        self.final_weights: list[np.ndarray] | None = None
        self._rate_set = False

    def get_config(self) -> dict:
        return {
            "start_epoch": self.start_epoch,
            "swa_lr": self.swa_lr,
            "swap_at_end": self.swap_at_end,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def set_model(self, model):
        super().set_model(model)
        if getattr(model, "optimizer", None) is not None:
            self._state()  # attached now, for BackupAndRestore to load into

    def _state(self):
        return _state.training_state(_rate.optimizers_of(self.model, _OWNER)[0])

    def _load_average(self) -> None:
        """The average and count kept with the optimizer (a resumed run's)."""
        state = self._state()
        count = state.get(_SWA_COUNT)
        if count is None:
            self.n_averaged, self.average = 0, None
            return
        self.n_averaged = int(count)
        self.average = [state.get(f"{_SWA_COUNT}_{k}") for k in range(self._n_weights())]

    def _save_average(self) -> None:
        state = self._state()
        state.set(_SWA_COUNT, self.n_averaged)
        for k, value in enumerate(self.average):
            state.set(f"{_SWA_COUNT}_{k}", value)

    def _n_weights(self) -> int:
        return len(self.model.trainable_variables)

    def on_train_begin(self, logs=None):
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        _groups.check_count(_OWNER, self, _groups.names_per_group(self, ["swa_lr"]), optimizers)
        self._rate_set = False
        self._load_average()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swa_lr is None or self._rate_set or epoch < self.start_epoch:
            return
        # Done at the first epoch of the SWA phase, after every other
        # callback's on_train_begin, so it layers over whatever they installed.
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        context = fit_context(self.model, self.params, _rate.fit_step(optimizers))
        changed = [
            _hold(opt, _groups.at(self.swa_lr, g), self.start_epoch, context)
            for g, opt in enumerate(optimizers)
        ]
        if any(changed):
            _compat.retrace(self.model)
        self._rate_set = True

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        # Read back each epoch: BackupAndRestore may load after on_train_begin.
        self._load_average()
        weights = [
            np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64)
            for w in self.model.trainable_variables
        ]
        if self.average is None:
            self.average = weights
        else:
            n = self.n_averaged
            self.average = [(a * n + w) / (n + 1) for a, w in zip(self.average, weights)]
        self.n_averaged += 1
        self._save_average()

    def on_train_end(self, logs=None):
        if not self.swap_at_end or self.average is None:
            return
        variables = self.model.trainable_variables
        self.final_weights = [np.array(keras.ops.convert_to_numpy(w)) for w in variables]
        for var, avg in zip(variables, self.average):
            var.assign(avg.astype(keras.backend.standardize_dtype(var.dtype)))
        if self.verbose:
            print(f"\n{_OWNER}: swapped in the average of {self.n_averaged} epochs.")


def _hold(optimizer, swa_lr: float, start_epoch: int, context) -> bool:
    """Makes `optimizer` train at `swa_lr` from `start_epoch` on.

    A float rate is set to `swa_lr` now; a schedule is joined to a
    constant `swa_lr` at the first step of `start_epoch`, so the steps
    before it keep their rates.  True when the installed schedule changed
    (the compiled step must be traced again).
    """
    source = _rate.rate_source(optimizer)
    if _compat.is_variable(source):
        _rate.install(optimizer, swa_lr)
        return False
    if not isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
        raise TypeError(
            f"{_OWNER} with `swa_lr` cannot take over an optimizer whose "
            f"`learning_rate` is a plain callable ({source!r}). Build it with a "
            "float rate or a LearningRateSchedule."
        )
    spe = context.steps_per_epoch
    if spe is None:
        raise ValueError(
            f"{_OWNER} with `swa_lr` over a schedule needs the steps per epoch: "
            + (context.unknown_reason or "pass `steps_per_epoch` to `fit`.")
        )
    start = start_epoch * spe
    # `Join` takes keras_lr schedules; the user's own is wrapped, unscaled.
    before = S.Scaled(source, 1.0) if _rate.is_foreign_schedule(source) else source
    swa = S.Constant(swa_lr)
    _rate.install(optimizer, S.Join([before, swa], [start]) if start > 0 else swa)
    return True


def _batch_norm_layers(model) -> list:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            raise TypeError(
                "update_bn needs BatchNormalization layers at the top level of a "
                f"functional or Sequential model; {layer.name!r} is a nested model."
            )
    return found


def update_bn(model, x, batch_size: int = 32) -> int:
    """Recomputes BatchNormalization statistics for the current weights.

    Averaged weights (SWA, FGE) need statistics of their own.  Layer by layer in
    graph order, the inputs of each BatchNormalization layer are computed over
    all of `x` in inference mode (upstream layers already updated) and its
    moving mean and variance set to their exact population values.

    Args:
        model: a functional or Sequential Keras model.
        x: the training inputs (NumPy arrays, or a dict for several inputs).
        batch_size: batch size for the passes.

    Returns:
        The number of BatchNormalization layers updated.
    """
    batch_size = v.positive_int("batch_size", batch_size)
    layers = _batch_norm_layers(model)
    inputs = getattr(model, "inputs", None)
    if layers and not inputs:
        raise TypeError(
            "update_bn needs a model with defined inputs (functional, or "
            "Sequential built with keras.Input)."
        )
    for layer in layers:
        probe = keras.Model(inputs, layer.input)
        features = np.asarray(probe.predict(x, batch_size=batch_size, verbose=0), np.float64)
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        axis = [a % features.ndim for a in axis]
        reduce = tuple(a for a in range(features.ndim) if a not in axis)
        layer.moving_mean.assign(features.mean(axis=reduce).astype("float32"))
        layer.moving_variance.assign(features.var(axis=reduce).astype("float32"))
    return len(layers)
