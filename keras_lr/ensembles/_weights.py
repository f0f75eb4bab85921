"""The weights of an ensemble's mean: the `WeightedMean` layer, and
`fit_ensemble_weights`, which chooses them by minimising the log loss of the
mean on held-out data."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_lr import _validation as v

__all__ = ["WeightedMean", "fit_ensemble_weights"]

_EPS = 1e-15  # probabilities are clipped here, as in sklearn's log_loss


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def normalised_weights(name: str, weights: Any, count: int | None) -> list[float]:
    """Non-negative weights, normalised to sum 1; `count` entries unless None."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
        raise TypeError(
            f"Argument `{name}` must be a sequence of non-negative numbers. "
            f"Received: {name}={weights!r} (of type {type(weights).__name__})"
        )
    if isinstance(weights, np.ndarray):
        values = weights.tolist() if weights.ndim == 1 else None
    else:
        values = list(weights)
    if values is None or not all(_is_real(x) for x in values):
        raise TypeError(
            f"Argument `{name}` must be a flat sequence of real numbers. Received: {name}={weights!r}"
        )
    w = np.asarray([float(x) for x in values], dtype=np.float64)
    if count is not None and w.size != count:
        raise ValueError(
            f"Argument `{name}` must have one entry per snapshot ({count}). "
            f"Received: {name}={weights!r} ({w.size} entries)"
        )
    if w.size == 0:
        raise ValueError(f"Argument `{name}` must not be empty. Received: {name}={weights!r}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={weights!r}")
    if np.any(w < 0):
        raise ValueError(f"Argument `{name}` must be non-negative. Received: {name}={weights!r}")
    if w.sum() <= 0:
        raise ValueError(
            f"Argument `{name}` must have a positive sum (not all zero). Received: {name}={weights!r}"
        )
    return [float(x) for x in w / w.sum()]


@keras.saving.register_keras_serializable(package="keras_lr")
class WeightedMean(keras.layers.Layer):
    """Weighted mean of a list of same-shaped tensors: sum_k w_k * x_k.

    The weights are constants of the layer (not trained), normalised to sum 1.

    Args:
        ensemble_weights: one non-negative number per input, not all zero.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
        >>> import numpy as np
        >>> layer = WeightedMean([1.0, 3.0])
        >>> layer.ensemble_weights
        [0.25, 0.75]
        >>> out = layer([np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")])
        >>> keras.ops.convert_to_numpy(out).tolist()
        [[0.75, 0.75]]
    """

    def __init__(self, ensemble_weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ensemble_weights = normalised_weights("ensemble_weights", ensemble_weights, None)

    def call(self, inputs: Sequence[Any]) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self.ensemble_weights):
            raise ValueError(
                f"Layer {self.name!r} averages {len(self.ensemble_weights)} inputs; it must be "
                f"called on a list of that many tensors. Received: {inputs!r:.200}"
            )
        out = None
        for x, w in zip(inputs, self.ensemble_weights):
            term = keras.ops.multiply(x, keras.ops.cast(w, x.dtype))
            out = term if out is None else keras.ops.add(out, term)
        return out

    def compute_output_shape(self, input_shape: Sequence[Any]) -> Any:
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "ensemble_weights": list(self.ensemble_weights)}


def _binary(p: np.ndarray) -> bool:
    return p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1)


def _stack_predictions(predictions: Any) -> tuple[np.ndarray, bool]:
    """(M, n, c) float64 class probabilities, and whether the input was binary.

    Binary predictions, (n,) or (n, 1) arrays of P(class 1), become c=2.
    """
    if isinstance(predictions, np.ndarray) and predictions.ndim >= 2:
        predictions = list(predictions)
    if isinstance(predictions, (str, bytes)) or not isinstance(predictions, Sequence):
        raise TypeError(
            "Argument `predictions` must be a list of arrays of class probabilities, one per "
            f"snapshot. Received: predictions of type {type(predictions).__name__}"
        )
    if len(predictions) == 0:
        raise ValueError("Argument `predictions` must not be empty. Received: predictions=[]")
    arrays = []
    for k, p in enumerate(predictions):
        try:
            a = np.asarray(p, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"Argument `predictions` must hold numeric arrays; predictions[{k}] is not one "
                f"({e})."
            ) from e
        if a.ndim not in (1, 2) or a.shape[0] == 0 or (a.ndim == 2 and a.shape[1] == 0):
            raise ValueError(
                "Argument `predictions` must hold arrays of shape (n, classes), or (n,) / (n, 1) "
                f"for binary problems. Received: predictions[{k}].shape={a.shape}"
            )
        arrays.append(a)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            "Argument `predictions` must hold arrays of one shape. "
            f"Received shapes: {[a.shape for a in arrays]}"
        )
    p = np.stack(arrays)
    if not np.all(np.isfinite(p)):
        raise ValueError(
            "Argument `predictions` must hold finite probabilities. Received non-finite values."
        )
    if p.min() < -1e-6 or p.max() > 1 + 1e-6:
        raise ValueError(
            "Argument `predictions` must hold probabilities in [0, 1] (softmax or sigmoid "
            f"outputs, not logits). Received values in [{p.min():.4g}, {p.max():.4g}]"
        )
    p = np.clip(p, 0.0, 1.0)
    if _binary(arrays[0]):
        p = p.reshape(p.shape[0], -1)
        return np.stack([1.0 - p, p], axis=-1), True
    sums = p.sum(axis=-1)
    if np.max(np.abs(sums - 1.0)) > 1e-3:
        raise ValueError(
            "Argument `predictions` must hold class probabilities whose rows sum to 1 (softmax "
            f"outputs). Received row sums in [{sums.min():.4g}, {sums.max():.4g}]"
        )
    return p, False


def _targets(y: Any, n: int, c: int, binary: bool) -> np.ndarray:
    """(n, c) float64 target distributions from labels, one-hot or soft rows."""
    try:
        t = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Argument `y` must be a numeric array ({e}).") from e
    if t.shape[:1] != (n,):
        raise ValueError(
            f"Argument `y` must have one row per prediction ({n}). Received: y.shape={t.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("Argument `y` must be finite.")
    if binary:
        if t.ndim > 2 or (t.ndim == 2 and t.shape[1] != 1) or t.min() < 0 or t.max() > 1:
            raise ValueError(
                "Argument `y` must hold binary labels (or probabilities) in [0, 1] of shape "
                f"(n,) or (n, 1) for binary predictions. Received: y.shape={t.shape}, "
                f"values in [{t.min():.4g}, {t.max():.4g}]"
            )
        t = t.reshape(n)
        return np.stack([1.0 - t, t], axis=-1)
    if t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1):
        labels = t.reshape(n)
        if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= c:
            raise ValueError(
                f"Argument `y` must hold integer class labels in [0, {c}). "
                f"Received values in [{labels.min():.4g}, {labels.max():.4g}]"
            )
        return np.eye(c)[labels.astype(np.int64)]
    if t.shape != (n, c):
        raise ValueError(
            f"Argument `y` must be integer labels of shape ({n},) or one-hot rows of shape "
            f"({n}, {c}). Received: y.shape={t.shape}"
        )
    if t.min() < 0 or np.max(np.abs(t.sum(axis=1) - 1.0)) > 1e-3:
        raise ValueError("Argument `y` must hold one-hot (or probability) rows that sum to 1.")
    return t


def fit_ensemble_weights(
    predictions: Sequence[Any],
    y: Any,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> np.ndarray:
    """Mixture weights on the simplex that minimise the log loss of the mean.

    .. math::

        \\min_{w \\ge 0, \\sum_k w_k = 1} L(w), \\quad
        L(w) = -\\frac{1}{n} \\sum_i \\sum_c y_{ic} \\log \\sum_k w_k P_k[i, c]

    L is convex in w.  The solver is the multiplicative (exponentiated
    gradient / EM) update w_k <- w_k * (-dL/dw_k): on the simplex -dL/dw
    averages to exactly 1 under w, so the update stays on the simplex, never
    increases L, and is the EM step for the weights of a mixture whose
    components are fixed.  It stops when the Frank-Wolfe gap
    max_k(-dL/dw_k) - 1, an upper bound on L(w) - min L, is below `tol`.
    Probabilities are clipped below at 1e-15.

    Args:
        predictions: M arrays of class probabilities of shape (n, c), one per
            snapshot (softmax outputs); or M arrays of shape (n,) or (n, 1)
            holding the probability of class 1 (sigmoid outputs).
        y: integer labels of shape (n,) (or (n, 1)), or one-hot / probability
            rows of shape (n, c); binary problems take labels (or
            probabilities) in [0, 1].
        max_iter: iteration limit (default 10000); a warning says so when
            the gap is still above `tol` then.
        tol: stopping bound on the Frank-Wolfe gap (default 1e-10).

    Returns:
        A float64 array of M weights, >= 0, summing to 1.

    Raises:
        ValueError: empty or mismatched shapes, values that are not
            probabilities (logits, say), labels out of range.
        TypeError: non-numeric input.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1, 1, 0])
        >>> good = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.8, 0.2]])
        >>> bad = np.full((4, 2), 0.5)
        >>> np.round(fit_ensemble_weights([good, bad], y), 4).tolist()
        [1.0, 0.0]

    References:
        Dempster, Laird and Rubin, "Maximum likelihood from incomplete data via
        the EM algorithm", JRSS B 1977.  Kivinen and Warmuth, "Exponentiated
        gradient versus gradient descent for linear predictors", Information
        and Computation 1997.
    """
    max_iter = v.positive_int("max_iter", max_iter)
    tol = v.positive_float("tol", tol)
    p, binary = _stack_predictions(predictions)
    m, n, c = p.shape
    t = _targets(y, n, c, binary=binary)
    if m == 1:
        return np.ones(1)
    # Only (row, class) pairs with target mass enter the loss: gather them
    # once into q (pairs x M) with sample weights s summing to 1.
    rows, cols = np.nonzero(t > 0)
    q = np.maximum(p[:, rows, cols].T, _EPS)
    s = t[rows, cols] / n
    w = np.full(m, 1.0 / m)
    gap = np.inf
    for _ in range(max_iter):
        r = q.T @ (s / (q @ w))  # -dL/dw
        gap = float(r.max() - w @ r)
        if gap <= tol:
            break
        w = w * r
        w /= w.sum()
    else:
        warnings.warn(
            f"fit_ensemble_weights stopped after max_iter={max_iter} iterations with a "
            f"Frank-Wolfe gap of {gap:.3g} > tol={tol:g}: the log loss is within {gap:.3g} of "
            "its minimum.",
            stacklevel=2,
        )
    return w
