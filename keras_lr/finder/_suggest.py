"""Reading a learning-rate range test curve: smoothing and suggestions.

Pure NumPy functions of the recorded rates and losses, so they are tested on
synthetic curves without training.
"""

from __future__ import annotations

import numpy as np

METHODS = ("valley", "steepest", "minimum")

# What each method's rate is, for legends and messages: "minimum" is not the
# rate at the minimum but a tenth of it.
LABELS = {"valley": "valley", "steepest": "steepest", "minimum": "minimum/10"}


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """Exponential moving average with bias correction (as fastai's recorder).

    avg_k = beta * avg_(k-1) + (1 - beta) * loss_k,  smoothed_k = avg_k / (1 - beta^(k+1))
    """
    losses = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(losses)
    avg = 0.0
    for k, value in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * value
        out[k] = avg / (1.0 - beta ** (k + 1))
    return out


def _finite_prefix(lrs: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(curve) & np.isfinite(lrs) & (lrs > 0)
    return lrs[keep], curve[keep]


def steepest(lrs: np.ndarray, curve: np.ndarray) -> float:
    """Rate of the most negative slope of the curve against log10(rate)."""
    lrs, curve = _finite_prefix(lrs, curve)
    if len(curve) < 3:
        return float("nan")
    slope = np.gradient(curve, np.log10(lrs))
    return float(lrs[int(np.argmin(slope))])


def minimum(lrs: np.ndarray, curve: np.ndarray) -> float:
    """The rate at the lowest point of the curve divided by 10, labelled "minimum/10".

    At the minimum the loss has stopped falling, a rate already too high to
    train at; a tenth of it is fastai's older rule of thumb.
    """
    lrs, curve = _finite_prefix(lrs, curve)
    if len(curve) == 0:
        return float("nan")
    return float(lrs[int(np.argmin(curve))] / 10.0)


def valley(lrs: np.ndarray, curve: np.ndarray) -> float:
    """fastai's "valley": inside the longest decreasing run of the curve.

    Finds the longest (not necessarily contiguous) decreasing subsequence of the
    curve and returns the rate about halfway through its middle third, which
    stays inside the broad descent and away from both the flat start and the
    blow-up at the end.
    """
    lrs, curve = _finite_prefix(lrs, curve)
    n = len(curve)
    if n < 3:
        return float("nan")
    lds = np.ones(n, dtype=np.int64)
    max_start = max_end = 0
    for i in range(1, n):
        earlier = curve[:i] > curve[i]
        if earlier.any():
            lds[i] = int(lds[:i][earlier].max()) + 1
        if lds[i] > lds[max_end]:
            max_end = i
            max_start = max_end - int(lds[max_end])
    sections = (max_end - max_start) / 3.0
    index = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(max(index, 0), n - 1)])


def noise(losses: np.ndarray) -> float:
    """The noise of one loss, read off successive differences (robust to a trend).

    s = median(|loss_(i+1) - loss_i|) / 0.954: for independent noise of
    standard deviation s a difference has standard deviation s * sqrt(2),
    whose median absolute value is 0.6745 of that.  0 for fewer than 2
    finite losses.
    """
    losses = np.asarray(losses, dtype=np.float64)
    steps = np.diff(losses[np.isfinite(losses)])
    if steps.size == 0:
        return 0.0
    return float(np.median(np.abs(steps)) / (0.6745 * np.sqrt(2.0)))


def falls(losses: np.ndarray, window: int, min_drop: float = 0.1, z: float = 3.0) -> bool:
    """Whether the losses fall clearly below their starting level.

    With v the log losses (when every finite loss is > 0: batch losses are
    noisy in proportion to their size) or else the losses themselves, L0 the
    mean of the first `window` values and s their noise (`noise(v)`), the
    losses fall when the mean of some later run of `window` consecutive
    values is below

        L0 - max(drop, z * s * sqrt(2 / window))

    where drop = -log(1 - min_drop) on log losses (the run's geometric mean
    is `min_drop` below the start's) and min_drop * |L0| otherwise: a drop of
    at least `min_drop` of the starting level, and of more than `z` standard
    deviations of the difference of two such means, so that the noise of a
    flat curve does not count as a descent.  Runs holding a non-finite loss
    are left out; fewer than `window + 1` losses never fall.
    """
    losses = np.asarray(losses, dtype=np.float64)
    window = int(window)
    if window < 1 or len(losses) <= window or not np.isfinite(losses[:window]).all():
        return False
    if np.all(losses[np.isfinite(losses)] > 0):
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log(losses)
        drop = -float(np.log1p(-min_drop))
    else:
        values = losses
        drop = min_drop * abs(float(losses[:window].mean()))
    level = float(values[:window].mean())
    margin = max(drop, z * noise(values) * np.sqrt(2.0 / window))
    # Means of the runs [i, i + window) for i >= 1; a non-finite loss makes its runs inf or NaN.
    with np.errstate(invalid="ignore"):
        runs = np.convolve(values, np.ones(window) / window, mode="valid")[1:]
    return bool(np.any(runs < level - margin))


def zero_phase(losses: np.ndarray, beta: float = 0.8) -> np.ndarray:
    """The bias-corrected moving average run forward, then backward.

    Unlike the one-way average it does not lag: a one-way average with
    beta = 0.98 trails the raw curve by ~50 steps, which on a 100-step ladder
    moves every feature to rates several times too high.
    """
    forward = smooth(losses, beta)
    return smooth(forward[::-1], beta)[::-1]


def cyclic_bounds(lrs: np.ndarray, losses: np.ndarray, drop: float = 0.1) -> tuple[float, float]:
    """(base_lr, max_lr) for CyclicLR, read off the curve as Smith describes.

    On the zero-lag smoothed loss: max_lr is where the loss stops falling
    (its lowest point); base_lr is where it starts to fall (the first rate at
    which `drop` of the total descent is covered), kept within
    [max_lr / 10, max_lr / 3] so that a cycle neither idles at useless rates nor
    collapses to a constant (Smith suggests a ratio of 3 to 4).
    """
    lrs, losses = _finite_prefix(np.asarray(lrs, np.float64), np.asarray(losses, np.float64))
    if len(losses) < 3:
        return float("nan"), float("nan")
    curve = zero_phase(losses)
    low = int(np.argmin(curve))
    high_lr = float(lrs[low])
    depth = float(curve[0] - curve[low])
    base = high_lr / 10.0
    if depth > 0 and low > 0:
        falling = np.flatnonzero(curve[: low + 1] <= curve[0] - drop * depth)
        if falling.size:
            base = float(lrs[int(falling[0])])
    return float(np.clip(base, high_lr / 10.0, high_lr / 3.0)), high_lr
