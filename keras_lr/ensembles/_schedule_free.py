"""Schedule-free AdamW evaluated, saved and shipped at its average x."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
import numpy as np

from keras_lr import _compat, _rate, _state
from keras_lr import _validation as v
from keras_lr.ensembles._swa import _batch_norm_layers, update_bn

__all__ = ["ScheduleFreeEval"]

_OWNER = "ScheduleFreeEval"
# Keys in the first optimizer's `TrainingState` while the model holds x:
# the flag, y of each averaged variable (`_Y_k`) and y's BatchNormalization
# statistics (`_BN_k`), so that a weight file written then holds y too.
_HELD = "schedule_free_held"
_Y = "schedule_free_y"
_BN = "schedule_free_bn"
# The model's own attribute holding the hooks of `_hook`.
_HOOKS = "__keras_lr_schedule_free_hooks"


class ScheduleFreeEval(keras.callbacks.Callback):
    """Evaluates, saves and ships a schedule-free model at its average x.

    `keras.optimizers.ScheduleFreeAdamW` trains the model's weights at the
    interpolation point y and keeps the sequence z of its gradient steps;
    the paper evaluates the average x of the z's, recovered exactly from
    both as

        x = (y - (1 - beta_1) z) / beta_1,

    as `optimizer.eval()` of the authors' PyTorch code does.  Keras has no
    such swap, so without this callback validation, `evaluate`, `predict`
    and a saved model all use y.  With it:

    - validation inside `fit` runs at x; the model holds x through that
      epoch's end (a checkpoint or `EarlyStopping`'s best weights taken
      then are x, with their BatchNormalization statistics) and y is put
      back, bit for bit, before the next epoch trains, so training follows
      exactly the trajectory it follows without the callback;
    - after `fit` the model holds x for `evaluate`, `predict` and
      `model.save`; y is kept with the optimizer (a weight file written
      while the model holds x holds y too, and grows by the model's size),
      and the next `fit` or `train_on_batch` of this model puts y back first.
      A model loaded from a file resumes from y in a `fit` with this
      callback; without it, it would train from x.
    - BatchNormalization statistics are recomputed for x with
      `keras_lr.update_bn` over `update_bn_data` (the authors' advice:
      a pass over training data at x), and y's statistics restored for
      training.  An epoch without validation leaves y in place at its end.

    x is the average that Keras's step itself keeps (y = (1 - beta_1) z +
    beta_1 x holds after every step on every backend).  Keras 3.15's step
    departs from the paper in two places: on TensorFlow and PyTorch it
    reads z after updating it, so x there is Keras's average, not exactly
    the paper's (JAX's is); and on TensorFlow an optimizer built inside the
    first step starts z at 0 (warned; build it before `fit`).

    List it before `EarlyStopping(restore_best_weights=True)`; a callback
    listed before it sees x in its `on_epoch_begin` after a validation.  Refused
    before the first step: an optimizer other than `ScheduleFreeAdamW`
    (alone, in a `LossScaleOptimizer`, or every group of a `MultiOptimizer`),
    `beta_1` that is not a constant number (a callable, a variable, cycled
    by `cycle_momentum`), `use_ema=True`, and BatchNormalization layers
    without `update_bn_data` or where `update_bn` cannot reach them.

    Args:
        update_bn_data: training inputs (a NumPy array, or a dict or list of
            them for several inputs; a sample is enough) to recompute the
            BatchNormalization statistics at x.  Needed when the model has
            BatchNormalization layers; the validation data would leak into
            the statistics of the model it scores, so it is never used.
        update_bn_batch_size: batch size of those passes.

    Raises:
        TypeError: at the start of `fit`, an optimizer, `beta_1` or model it
            cannot handle exactly (see above).
        ValueError: at the start of `fit`, a model with BatchNormalization
            layers and no `update_bn_data`, `use_ema=True`, or `beta_1`
            outside (0, 1].

    Example:
        >>> sf = ScheduleFreeEval()
        >>> sf.get_config()
        {'update_bn_data': None, 'update_bn_batch_size': 32}

    References:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024,
        arXiv:2405.15682; facebookresearch/schedule_free (`eval()`,
        `train()`, and the BatchNorm caveat of its README).
    """

    def __init__(self, update_bn_data: Any = None, update_bn_batch_size: int = 32):
        super().__init__()
        if update_bn_data is not None and not (
            isinstance(update_bn_data, (dict, list, tuple)) or hasattr(update_bn_data, "shape")
        ):
            raise TypeError(
                "Argument `update_bn_data` must be training inputs (an array, or a dict or "
                f"list of arrays) or None. Received: update_bn_data={update_bn_data!r} "
                f"(of type {type(update_bn_data).__name__})"
            )
        self.update_bn_data = update_bn_data
        self.update_bn_batch_size = v.positive_int("update_bn_batch_size", update_bn_batch_size)
        self._in_fit = False
        self._y_end: list | None = None

    def get_config(self) -> dict:
        return {
            "update_bn_data": self.update_bn_data,
            "update_bn_batch_size": self.update_bn_batch_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def set_model(self, model):
        super().set_model(model)
        if getattr(model, "optimizer", None) is not None:
            # Attached now, for BackupAndRestore to load into.
            _state.training_state(_rate.optimizers_of(model, _OWNER)[0])

    def on_train_begin(self, logs=None):
        _check(self.model, self.update_bn_data)
        self._in_fit, self._y_end = True, None
        if any(_compat.z_starts_at_zero(o) for o in _rate.optimizers_of(self.model, _OWNER)):
            warnings.warn(
                f"{_OWNER}: Keras 3.15 on TensorFlow builds ScheduleFreeAdamW inside the "
                "first training step, where z starts at 0 instead of at the weights: the "
                "first step throws the initial weights away. Build it before `fit`: "
                "model.optimizer.build(model.trainable_variables).",
                stacklevel=2,
            )

    def on_epoch_begin(self, epoch, logs=None):
        # Checked again after every other callback's on_train_begin (one may
        # cycle beta_1), before any step; y back from x (this fit's last
        # validation, the last fit, or what BackupAndRestore loaded).
        _check(self.model, self.update_bn_data)
        release(self.model)

    def on_test_begin(self, logs=None):
        if self._in_fit and not held(self.model):
            hold(self.model, self.update_bn_data, self.update_bn_batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if not held(self.model):
            self._y_end = [_host(var) for var, _, _ in _pairs(self.model)]

    def on_train_end(self, logs=None):
        self._in_fit = False
        if held(self.model):
            return
        now = [_host(var) for var, _, _ in _pairs(self.model)]
        if self._y_end is not None and not _equal(now, self._y_end):
            warnings.warn(
                f"{_OWNER}: the weights changed after the last epoch ended (a callback "
                "listed before it, such as EarlyStopping(restore_best_weights=True), put "
                "others in); they are left as they are, x is not swapped in. List "
                f"{_OWNER} before that callback.",
                stacklevel=2,
            )
        else:
            hold(self.model, self.update_bn_data, self.update_bn_batch_size)
        self._y_end = None


def _sf_class():
    cls = getattr(keras.optimizers, "ScheduleFreeAdamW", None)
    if cls is None:
        raise TypeError(
            f"{_OWNER} needs keras.optimizers.ScheduleFreeAdamW (Keras 3.15); "
            f"Keras {keras.__version__} has none."
        )
    return cls


def _beta_1(optimizer) -> float:
    """The optimizer's constant beta_1, or raises."""
    cycled = _compat.cycled_hyperparameter(optimizer)
    if cycled is not None:
        raise TypeError(
            f"{_OWNER}: `beta_1` of {optimizer.name!r} cycles (`cycle_momentum` of a "
            "keras_lr callback); x = (y - (1 - beta_1) z) / beta_1 holds for a constant "
            "beta_1 only. Pass cycle_momentum=False."
        )
    beta = optimizer.beta_1
    if callable(beta) or _compat.is_variable(beta):
        raise TypeError(
            f"{_OWNER} needs a constant `beta_1`: x = (y - (1 - beta_1) z) / beta_1 uses "
            f"the beta_1 of the last step. Received: beta_1={beta!r} "
            f"(of type {type(beta).__name__})"
        )
    value = v.real("beta_1", beta)
    if not 0 < value <= 1:
        raise ValueError(f"{_OWNER} needs 0 < beta_1 <= 1. Received: beta_1={beta!r}")
    return value


def _check(model, data) -> None:
    """Refuses what the callback cannot do exactly, before the first step."""
    cls = _sf_class()
    for opt in _rate.optimizers_of(model, _OWNER):
        if not isinstance(opt, cls):
            raise TypeError(
                f"{_OWNER} needs a keras.optimizers.ScheduleFreeAdamW (alone, in a "
                "LossScaleOptimizer, or for every group of a MultiOptimizer). Received: "
                f"an optimizer {opt.name!r} of type {type(opt).__name__}"
            )
        if opt.use_ema:
            raise ValueError(
                f"{_OWNER}: {opt.name!r} has use_ema=True, and Keras writes the moving "
                "average of y into the model at the end of `fit`, which breaks the "
                "relation of y, z and x. Received: use_ema=True"
            )
        _beta_1(opt)
    norms = [
        layer
        for layer in _compat.nested_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not norms:
        return
    names = ", ".join(repr(layer.name) for layer in norms)
    if data is None:
        raise ValueError(
            f"Argument `update_bn_data` is needed: the model has BatchNormalization "
            f"layers ({names}), whose statistics must be recomputed at x. Pass training "
            "inputs (or a sample of them). Received: update_bn_data=None"
        )
    top = _batch_norm_layers(model)  # update_bn's own refusal of nested models
    hidden = [layer.name for layer in norms if not any(layer is t for t in top)]
    if hidden or not getattr(model, "inputs", None):
        raise TypeError(
            f"{_OWNER} recomputes BatchNormalization statistics with keras_lr.update_bn, "
            "which needs them at the top level of a functional or Sequential model "
            f"with defined inputs; found {names}"
            + (f" ({', '.join(map(repr, hidden))} inside other layers)." if hidden else ".")
        )


def _host(var) -> np.ndarray:
    return np.array(keras.ops.convert_to_numpy(var))


def _equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


def _pairs(model) -> list:
    """(y variable, z variable, beta_1) of every averaged variable."""
    found = []
    for opt in _rate.optimizers_of(model, _OWNER):
        beta = _beta_1(opt)
        found += [(y, z, beta) for y, z in _compat.schedule_free_pairs(opt) if z is not None]
    return found


def average(y: np.ndarray, z: np.ndarray, beta_1: float) -> np.ndarray:
    """x = (y - (1 - beta_1) z) / beta_1, in float64, rounded to the variable's
    dtype (z's: y may come back from the optimizer's state as float64).

    beta_1 is taken at that precision first, as the optimizer's step takes it.
    """
    dtype = np.asarray(z).dtype
    b = float(np.asarray(beta_1, dtype=dtype))
    y64, z64 = np.asarray(y, np.float64), np.asarray(z, np.float64)
    return ((y64 - (1.0 - b) * z64) / b).astype(dtype)


def _norm_stats(model) -> list:
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return [var for layer in layers for var in (layer.moving_mean, layer.moving_variance)]


def _state_of(model):
    return _state.training_state(_rate.optimizers_of(model, _OWNER)[0])


def held(model) -> bool:
    """Whether `model` holds x (y kept with its optimizer)."""
    if getattr(model, "optimizer", None) is None:
        return False
    return bool(_state_of(model).get(_HELD, 0.0))


def hold(model, data, batch_size: int) -> None:
    """Puts x into the model and keeps y (and y's statistics) with the optimizer."""
    if not all(opt.built for opt in _rate.optimizers_of(model, _OWNER)):
        return  # no step taken: x is y
    _compat.sync_state(model)
    pairs = _pairs(model)
    stats = _norm_stats(model)
    state = _state_of(model)
    ys = [_host(y) for y, _, _ in pairs]
    for k, y in enumerate(ys):
        state.set(f"{_Y}_{k}", y)
    for k, var in enumerate(stats):
        state.set(f"{_BN}_{k}", _host(var))
    state.set(_HELD, 1.0)
    for (var, z, beta), y in zip(pairs, ys):
        var.assign(average(y, _host(z), beta))
    if stats:
        update_bn(model, data, batch_size)
    _hook(model)


def release(model) -> None:
    """Puts y (and y's statistics) back in place of x, bit for bit."""
    _unhook(model)
    if not held(model):
        return
    _compat.sync_state(model)
    state = _state_of(model)
    pairs = _pairs(model)
    stats = _norm_stats(model)
    ys = [state.get(f"{_Y}_{k}") for k in range(len(pairs))]
    expected = [average(y, _host(z), beta) for (_, z, beta), y in zip(pairs, ys)]
    if any(y is None for y in ys) or not _equal([_host(var) for var, _, _ in pairs], expected):
        warnings.warn(
            f"{_OWNER}: the model's weights are not the x it put in (set_weights, "
            "load_weights of other weights, or EarlyStopping's best weights); training "
            "goes on from them as they are, and the y kept with the optimizer is dropped.",
            stacklevel=3,
        )
    else:
        for (var, _, _), y in zip(pairs, ys):
            var.assign(y.astype(keras.backend.standardize_dtype(var.dtype)))
        for k, var in enumerate(stats):
            saved = state.get(f"{_BN}_{k}")
            if saved is not None:
                var.assign(saved.astype(keras.backend.standardize_dtype(var.dtype)))
    # `TrainingState` keeps its keys: empty arrays leave weight files their size.
    for k in range(len(pairs)):
        state.set(f"{_Y}_{k}", np.zeros(0))
    for k in range(len(stats)):
        state.set(f"{_BN}_{k}", np.zeros(0))
    state.set(_HELD, 0.0)


_HOOKED = ("fit", "train_on_batch")


def _hook(model) -> None:
    """Makes the model's next `fit` or `train_on_batch` put y back first."""
    hooks = model.__dict__.get(_HOOKS)
    if hooks:
        return
    hooks = {}
    for name in _HOOKED:
        if name in model.__dict__:
            continue  # the user's own on the instance: left alone
        own = getattr(type(model), name)

        def hooked(*args, _own=own, _name=name, **kwargs):
            if not _with_callback(_own, model, args, kwargs):
                warnings.warn(
                    f"{_OWNER}: the model held its schedule-free average x; y is put "
                    f"back for this `{_name}`, which has no {_OWNER}, and the model "
                    "holds y after it.",
                    stacklevel=2,
                )
            release(model)
            return _own(model, *args, **kwargs)

        hooks[name] = hooked
        _compat.set_untracked(model, name, hooked)
    _compat.set_untracked(model, _HOOKS, hooks)


def _unhook(model) -> None:
    for name, hooked in (model.__dict__.get(_HOOKS) or {}).items():
        if model.__dict__.get(name) is hooked:
            del model.__dict__[name]
    model.__dict__.pop(_HOOKS, None)


def _with_callback(method, model, args, kwargs) -> bool:
    try:
        callbacks = inspect.signature(method).bind(model, *args, **kwargs).arguments
    except TypeError:
        return False  # Keras raises its own error
    callbacks = callbacks.get("callbacks") or []
    callbacks = getattr(callbacks, "callbacks", callbacks)  # a CallbackList
    return any(isinstance(cb, ScheduleFreeEval) for cb in callbacks)
