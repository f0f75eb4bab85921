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
# Key of the float rate the anneal starts from, in each optimizer's state.
_START_LR = "swa_start_lr"
# PyTorch's `SWALR` strategies, as `schedules.Ramp` shapes.
_SHAPES = {"cos": "cosine", "linear": "linear"}
# The constructor's arguments, as `get_config` returns them.
_ARGUMENTS = (
    "start_epoch",
    "swa_lr",
    "swap_at_end",
    "verbose",
    "anneal_epochs",
    "anneal_strategy",
    "every_n_steps",
)


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Stochastic Weight Averaging (Izmailov et al. 2018), annealed as PyTorch's `SWALR`.

    From epoch `start_epoch` on, keeps the running average of the trainable
    weights, w_swa <- (n w_swa + w) / (n + 1), taken at each epoch end (or
    after every `every_n_steps`-th optimizer step), and swaps it into the
    model at train end.  Averaged weights need their own batch-norm
    statistics: call `keras_lr.update_bn(model, x)` after training.

    With `swa_lr`, the rate anneals from lr0, the rate at the first step of
    `start_epoch` (the installed schedule's, or the float rate), to `swa_lr`,
    one rate per epoch as `torch.optim.swa_utils.SWALR` created at the start
    of epoch `start_epoch` and stepped at each epoch end: epoch
    `start_epoch` + k trains at

        lr0 + (swa_lr - lr0) * f(min(k / anneal_epochs, 1)),
        f(t) = (1 - cos(pi t)) / 2 ("cos"),  f(t) = t ("linear"),

    and at `swa_lr` throughout with `anneal_epochs=0`.  Over a schedule the
    phase is joined on at the first step of `start_epoch` (earlier steps keep
    their rates), which needs the steps per epoch of `fit`.

    The average (float64), its count and lr0 are kept with the optimizer:
    `model.save`, `save_weights` and `BackupAndRestore` (listed after this
    callback) save them, and a resumed run, or a later `fit()` with a new
    callback, continues the same average and anneal.

    Args:
        start_epoch: first epoch (0-based) of the SWA phase.
        swa_lr: rate the SWA phase anneals to (a list: one per sub-optimizer
            of a MultiOptimizer, each annealing from its own rate), or None
            to leave the rate alone.
        swap_at_end: put the average into the model at train end; the final
            weights stay available as `final_weights`.
        verbose: 1 prints a line when the average is swapped in.
        anneal_epochs: epochs of the anneal (default 10, PyTorch's); 0 sets
            `swa_lr` at once.
        anneal_strategy: "cos" (default) or "linear", PyTorch's names.
        every_n_steps: average after each optimizer step that makes
            `iterations` a multiple of N, from `start_epoch` on, instead of
            at epoch ends (None, the default).

    Attributes:
        n_averaged: how many weight sets are in the average.
        average: the averaged trainable weights (NumPy arrays).

    Raises:
        ValueError: a bad argument; at the first epoch of `fit`, what it
            cannot do exactly: `swa_lr` over a schedule without the steps per
            epoch, `every_n_steps` inside an execution of `steps_per_execution`.

    Example:
        >>> swa = StochasticWeightAveraging(75, swa_lr=0.05, anneal_epochs=5)
        >>> swa.get_config()["anneal_strategy"]
        'cos'

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
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        every_n_steps: int | None = None,
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
        self.anneal_epochs = v.nonnegative_int("anneal_epochs", anneal_epochs)
        self.anneal_strategy = v.one_of("anneal_strategy", anneal_strategy, list(_SHAPES))
        self.every_n_steps = v.optional_positive_int("every_n_steps", every_n_steps)
        self.n_averaged = 0
        self.average: list[np.ndarray] | None = None
        self.final_weights: list[np.ndarray] | None = None
        self._joined = self._checked = False  # the SWA phase joined on; _check run
        self._counting: tuple[int, int] | None = None  # (first batch, every) of the epoch

    def get_config(self) -> dict:
        return {name: getattr(self, name) for name in _ARGUMENTS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def set_model(self, model):
        super().set_model(model)
        if getattr(model, "optimizer", None) is not None:
            self._state()  # attached now, for BackupAndRestore to load into

    def _state(self):
        return _state.training_state(_rate.optimizers_of(self.model, _OWNER)[0])

    def on_train_begin(self, logs=None):
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        _groups.check_count(_OWNER, self, _groups.names_per_group(self, ["swa_lr"]), optimizers)
        self._joined, self._checked, self._counting = False, False, None
        self.n_averaged, self.average = _load_average(self._state(), self.model)

    def on_epoch_begin(self, epoch, logs=None):
        optimizers = _rate.optimizers_of(self.model, _OWNER)
        if not self._checked:
            # At the first epoch, after every other callback's on_train_begin
            # (what they installed, what BackupAndRestore loaded): before any step.
            _check(self, optimizers, fit_context(self.model, self.params, 0))
            self._checked = True
        if epoch < self.start_epoch:
            return
        if self.every_n_steps is not None:
            self._counting = _counting(self, optimizers)
        if self.swa_lr is not None:
            _set_rates(self, optimizers, epoch - self.start_epoch)
            self._joined = True

    def on_train_batch_end(self, batch, logs=None):
        # Host arithmetic per batch; weights are read only at an averaging step.
        if self._counting is not None and (self._counting[0] + batch + 1) % self._counting[1] == 0:
            _compat.sync_state(self.model)  # the JAX trainer's in-flight weights
            self._add()

    def on_epoch_end(self, epoch, logs=None):
        self._counting = None
        if epoch >= self.start_epoch and self.every_n_steps is None:
            self._add()

    def _add(self) -> None:
        self.n_averaged, self.average = _add_to_average(self._state(), self.model)

    def on_train_end(self, logs=None):
        if not self.swap_at_end or self.average is None:
            return
        self.final_weights = _swap_in(self.model.trainable_variables, self.average)
        if self.verbose:
            what = "epochs" if self.every_n_steps is None else "steps"
            print(f"\n{_OWNER}: swapped in the average of {self.n_averaged} {what}.")


def _swap_in(variables, average: list) -> list:
    """Assigns `average` to `variables`; returns their values before."""
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in variables]
    for var, avg in zip(variables, average):
        var.assign(avg.astype(keras.backend.standardize_dtype(var.dtype)))
    return before


def _load_average(state, model) -> tuple[int, list | None]:
    """(count, average) kept with the optimizer (a resumed run's); (0, None) if none."""
    count = state.get(_SWA_COUNT)
    if count is None:
        return 0, None
    n_weights = len(model.trainable_variables)
    return int(count), [state.get(f"{_SWA_COUNT}_{k}") for k in range(n_weights)]


def _add_to_average(state, model) -> tuple[int, list]:
    """Adds the current weights to the average kept in `state`; (count, average).

    Read back each time: BackupAndRestore may load after on_train_begin.
    """
    variables = model.trainable_variables
    n, average = _load_average(state, model)
    weights = [np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64) for w in variables]
    if average is not None:
        weights = [(a * n + w) / (n + 1) for a, w in zip(average, weights)]
    state.set(_SWA_COUNT, n + 1)
    for k, value in enumerate(weights):
        state.set(f"{_SWA_COUNT}_{k}", value)
    return n + 1, weights


def _set_rates(swa, optimizers: list, k: int) -> None:
    """The rates of epoch k of the SWA phase: a float rate is set each epoch;
    onto a schedule the phase is joined once a fit."""
    spe = fit_context(swa.model, swa.params, 0).steps_per_epoch
    changed = False
    for g, opt in enumerate(optimizers):
        swa_lr = _groups.at(swa.swa_lr, g)
        if _compat.is_variable(_rate.rate_source(opt)):
            _set_epoch_rate(opt, swa, swa_lr, k)
        elif not swa._joined:
            changed = _join(opt, swa, swa_lr, spe) or changed
    if changed:
        _compat.retrace(swa.model)


def _phase(swa: StochasticWeightAveraging, start_lr: float, swa_lr: float) -> S.Schedule:
    """The SWA phase's rate of its epoch k: `SWALR`'s anneal from `start_lr`."""
    if swa.anneal_epochs == 0:
        return S.Constant(swa_lr)
    return S.Ramp(start_lr, swa_lr, swa.anneal_epochs, _SHAPES[swa.anneal_strategy])


def _set_epoch_rate(optimizer, swa, swa_lr: float, k: int) -> None:
    """Sets a float rate to that of epoch k of the SWA phase.

    lr0 is the float rate found at the first SWA epoch, kept with the
    optimizer, so that a resumed run goes on annealing from it.
    """
    state = _state.training_state(optimizer)
    saved = state.get(_START_LR)
    if k == 0 or saved is None:
        start_lr = _rate.variable_value(_rate.rate_source(optimizer))
        state.set(_START_LR, start_lr)
    else:
        start_lr = float(saved)
    _rate.install(optimizer, float(_phase(swa, start_lr, swa_lr).numpy([k])[0]))


def _join(optimizer, swa, swa_lr: float, spe: int) -> bool:
    """Joins the SWA phase onto the schedule at the first step of `start_epoch`.

    The steps before keep their rates; lr0 is the schedule's rate at that
    step.  True when the installed schedule changed (the compiled step must
    be traced again).
    """
    source = _rate.rate_source(optimizer)
    start = swa.start_epoch * spe
    phase = _phase(swa, _rate.rate_at(optimizer, start), swa_lr)
    if swa.anneal_epochs:
        phase = S.PerEpoch(phase, spe)
    if start == 0:
        new = phase
    elif _joined_already(source, phase, start):
        return False  # a model saved in the SWA phase, loaded again
    else:
        # `Join` takes keras_lr schedules; the user's own is wrapped, unscaled.
        before = S.Scaled(source, 1.0) if _rate.is_foreign_schedule(source) else source
        new = S.Join([before, phase], [start])
    if new == source:
        return False
    _rate.install(optimizer, new)
    return True


def _joined_already(source, phase: S.Schedule, start: int) -> bool:
    return (
        isinstance(source, S.Join)
        and source.boundaries[-1:] == [start]
        and source.schedules[-1] == phase
    )


def _check(swa, optimizers: list, context) -> None:
    """Refuses, before the first step, what the callback could not do exactly."""
    spx = _compat.steps_per_execution(swa.model)
    if swa.every_n_steps is not None and spx > 1:
        every = swa.every_n_steps * _rate.accumulation_steps(optimizers[0])
        if every % spx or context.steps_per_epoch is None:
            raise ValueError(
                f"{_OWNER} averages after every {swa.every_n_steps} optimizer steps "
                f"({every} batches), but with steps_per_execution={spx} the batch "
                "callbacks see the weights only at the end of an execution"
                + (
                    f", and {every} is not a multiple of {spx}"
                    if every % spx
                    else ": " + (context.unknown_reason or "the data has no length")
                )
                + ". Use an `every_n_steps` whose batches are a multiple of "
                "steps_per_execution, epochs of a multiple of it, or steps_per_execution=1."
            )
    if swa.swa_lr is None:
        return
    for opt in optimizers:
        source = _rate.rate_source(opt)
        if _compat.is_variable(source):
            continue  # set once per epoch: needs no steps per epoch
        if not isinstance(source, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                f"{_OWNER} with `swa_lr` cannot take over an optimizer whose "
                f"`learning_rate` is a plain callable ({source!r}). Build it with a "
                "float rate or a LearningRateSchedule."
            )
        if context.steps_per_epoch is None:
            raise ValueError(
                f"{_OWNER} with `swa_lr` over a schedule needs the steps per epoch: "
                + (context.unknown_reason or "pass `steps_per_epoch` to `fit`.")
            )


def _counting(swa, optimizers: list) -> tuple[int, int]:
    """(batch counter at this epoch's start, every_n_steps in batches).

    One host read per epoch; batch ends then count on from it.  With
    gradient accumulation an optimizer step is N batches.
    """
    first_batch = max(_compat.batch_step(opt) for opt in optimizers)
    spx = _compat.steps_per_execution(swa.model)
    if first_batch % spx:
        raise ValueError(
            f"{_OWNER} with `every_n_steps`: this epoch starts at batch {first_batch}, "
            f"inside an execution of steps_per_execution={spx} steps (an earlier fit "
            "ended inside one), so an averaging step could fall inside an execution. "
            "Compile with steps_per_execution=1."
        )
    return first_batch, swa.every_n_steps * _rate.accumulation_steps(optimizers[0])


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
