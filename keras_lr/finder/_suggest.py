"""Reading a learning-rate range test curve: smoothing, trimming, slope and
the suggestions (the reliability check is in `_reliability`).

Pure NumPy functions of the recorded rates and losses, so they are tested on
synthetic curves without training.  Each reading is written once here and
used by the recording callback (`MovingAverage`), the suggestions, and the
plots (`window`, `log_slope`).
"""

from __future__ import annotations

import numpy as np

from keras_lr import _validation as v

METHODS = ("zero_lag", "valley", "steepest", "minimum", "slide")

# The methods that read the recorded (raw) losses before the stop, not the
# lagging moving average; they smooth it their own way.
RAW_METHODS = ("zero_lag",)

# What each method's rate is, for legends and messages: "minimum" is not the
# rate at the minimum but a tenth of it.
LABELS = {
    "zero_lag": "zero-lag minimum/3",
    "valley": "valley",
    "steepest": "steepest",
    "minimum": "minimum/10",
    "slide": "slide",
}

# `zero_lag`'s smoothing and divisor, chosen on the tasks of benchmark 6
# (`benchmarks/bench_suggestion.py`; README, Performance).
ZERO_LAG_BETA = 0.7
ZERO_LAG_DIVISOR = 3.0

# The trimming rule's defaults (see `window`): the last 5 points are left out
# (fastai's `skip_end`), and a trimmed curve keeps at least 5 points.
SKIP_END = 5
MIN_POINTS = 5


class MovingAverage:
    """Exponential moving average with bias correction (as fastai's recorder).

        avg_k = beta * avg_(k-1) + (1 - beta) * loss_k,  smoothed_k = avg_k / (1 - beta^(k+1))

    One value at a time (`update` returns smoothed_k), so the recording
    callback and `smooth` share the one formula.
    """

    def __init__(self, beta: float):
        self.beta = float(beta)
        self.avg = 0.0
        self.count = 0

    def update(self, value: float) -> float:
        self.avg = self.beta * self.avg + (1.0 - self.beta) * value
        self.count += 1
        return self.avg / (1.0 - self.beta**self.count)


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """`MovingAverage` over a whole curve: smoothed_k for every k."""
    average = MovingAverage(beta)
    values = np.asarray(losses, dtype=np.float64)
    return np.array([average.update(value) for value in values], dtype=np.float64)


def skip_start_default(num_steps: int) -> int:
    """The points `window` leaves out at the start by default: the first tenth of the ladder."""
    return int(num_steps) // 10


def window(
    end: int, skip_start: int, skip_end: int = SKIP_END, min_points: int = MIN_POINTS
) -> slice:
    """The points [start, stop) of a curve of `end` points that are read and drawn.

    The one trimming rule of the range test, for the suggestions, the plot and
    the loss-change plot: leave out the first `skip_start` points (the moving
    average is still settling there; by default `skip_start_default`, the first
    tenth of the ladder) and the last `skip_end` (default 5, as fastai), when
    at least `min_points` remain; else leave out only the first `skip_start`,
    when that leaves `min_points`; else keep the whole curve.
    """
    start, stop = max(int(skip_start), 0), end - max(int(skip_end), 0)
    if stop - start >= min_points:
        return slice(start, stop)
    if end - start >= min_points:
        return slice(start, end)
    return slice(0, end)


def _finite_prefix(lrs: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(curve) & np.isfinite(lrs) & (lrs > 0)
    return lrs[keep], curve[keep]


def log_slope(lrs: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rates, d curve / d log10(rate)) at the finite points of the curve.

    `np.gradient` against log10(rate): central differences inside, one-sided
    at the ends.  Both arrays are empty for fewer than 2 finite points.
    """
    lrs, curve = _finite_prefix(np.asarray(lrs, np.float64), np.asarray(curve, np.float64))
    if len(curve) < 2:
        return lrs[:0], curve[:0]
    return lrs, np.gradient(curve, np.log10(lrs))


def steepest(lrs: np.ndarray, curve: np.ndarray) -> float:
    """Rate of the most negative slope of the curve against log10(rate) (`log_slope`)."""
    lrs, slope = log_slope(lrs, curve)
    if len(slope) < 3:
        return float("nan")
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


def unlagged(losses: np.ndarray, beta: float = ZERO_LAG_BETA) -> np.ndarray:
    """The losses smoothed without lag, as `zero_lag` reads them.

    Every loss above the starting level (the highest of the first tenth of
    the curve, at least 3 points) is lowered to it, and the result smoothed by
    `zero_phase`.  A blow-up says only that the loss is past its lowest point;
    left as it is, its size (often thousands of times the loss) would leak
    backwards through the backward pass and pull the lowest point to the start.
    """
    losses = np.asarray(losses, dtype=np.float64)
    start = float(losses[: max(3, len(losses) // 10)].max())
    return zero_phase(np.minimum(losses, start), beta)


def zero_lag(
    lrs: np.ndarray,
    losses: np.ndarray,
    beta: float = ZERO_LAG_BETA,
    divisor: float = ZERO_LAG_DIVISOR,
) -> float:
    """A third of the rate at the lowest point of the loss smoothed without lag.

    The recorded losses (each step's own loss, not the moving average) are
    smoothed by `unlagged` (capped at their starting level, then the
    bias-corrected moving average run forward and backward), and the rate at
    the lowest point of that curve is divided by `divisor`:

        rate = lrs[argmin(unlagged(losses, beta))] / divisor

    The moving average the other methods read trails the loss by about
    beta / (1 - beta) = 49 steps at beta = 0.98, half of a 100-step ladder,
    so its lowest point sits at a rate several times higher than where the
    loss really stops falling; that lag is why fastai's rule divides by 10.
    Read without lag, the loss stops falling near the highest rate that still
    trains; a third of it came within 6% of a grid search's best constant
    rate on five of the six tasks of benchmark 6 whose range test was
    reliable, and within 10% on the sixth (beta and divisor were chosen on
    those tasks; the README's Performance section has the table).  Non-finite points are left out first; NaN for fewer than 3.

    Args:
        lrs: the rate of each step.
        losses: each step's recorded loss (or validation loss).
        beta: the moving average's coefficient, in [0, 1).
        divisor: the factor below the lowest point, > 0.

    Returns:
        The rate, or NaN for too short a curve.

    Example:
        >>> lrs = np.logspace(-3, 1, 41)
        >>> bowl = (np.log10(lrs) + 1.0) ** 2  # lowest at 0.1
        >>> round(zero_lag(lrs, bowl), 4)
        0.0333
    """
    beta = v.float_in("beta", beta, 0.0, 1.0, high_open=True)
    divisor = v.positive_float("divisor", divisor)
    lrs, losses = _finite_prefix(np.asarray(lrs, np.float64), np.asarray(losses, np.float64))
    if len(losses) < 3:
        return float("nan")
    return float(lrs[int(np.argmin(unlagged(losses, beta)))] / divisor)


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


def slide(
    lrs: np.ndarray,
    curve: np.ndarray,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float:
    """fastai's "slide": the rate where the curve's slope settles, sliding in from the end.

    fastai's `slide` (`fastai.callback.schedule`), on the same curve as the
    other methods (fastai too feeds every method the one smoothed, trimmed
    loss).  With g = np.gradient(curve) (the slope per point of the ladder,
    not against log10(rate)) and n points, a pair of points `lr_diff` apart,
    (l, r) = (n - 1 - lr_diff, n - 1), slides towards the start while
    |g[r] - g[l]| > `thresh` and l >= 0; the rate is lrs at the last l at which
    the slopes still differed (lrs[n - 1 - lr_diff] when they never did, lrs[0]
    when they differ all the way to the start), times `adjust_value`:

        l = n - 1 - lr_diff;  rate = lrs[l]
        while l >= 0 and |g[l + lr_diff] - g[l]| > thresh:  rate = lrs[l];  l -= 1

    `thresh` is in units of loss per point of the ladder (fastai's default for
    its 100-step test).  Non-finite points are left out first; NaN when fewer
    than `lr_diff + 1` remain (where fastai's indexing fails).

    Args:
        lrs: the rates of the curve's points.
        curve: the loss at each rate.
        lr_diff: points between the two slopes compared, a positive integer.
        thresh: the slope difference below which the slide stops, >= 0.
        adjust_value: factor on the rate found, > 0.

    Returns:
        The rate, or NaN for too short a curve.

    Example:
        >>> lrs = np.logspace(-4, 0, 30)
        >>> fall_then_rise = np.r_[np.linspace(2.0, 1.0, 20), np.linspace(1.0, 3.0, 10)]
        >>> int(np.flatnonzero(lrs == slide(lrs, fall_then_rise))[0])  # both slopes on the fall
        4
        >>> int(np.flatnonzero(lrs == slide(lrs, np.linspace(2.0, 1.0, 30)))[0])  # n - 1 - lr_diff
        14

    References:
        fastai, `fastai/callback/schedule.py`, `slide(lrs, losses, num_it,
        lr_diff=15, thresh=.005, adjust_value=1.)`.
    """
    lr_diff = v.positive_int("lr_diff", lr_diff)
    thresh = v.nonnegative_float("thresh", thresh)
    adjust_value = v.positive_float("adjust_value", adjust_value)
    lrs, curve = _finite_prefix(np.asarray(lrs, np.float64), np.asarray(curve, np.float64))
    n = len(curve)
    if n < lr_diff + 1:
        return float("nan")
    slope = np.gradient(curve)
    left = n - 1 - lr_diff
    rate = lrs[left]
    while left >= 0 and abs(slope[left + lr_diff] - slope[left]) > thresh:
        rate = lrs[left]
        left -= 1
    return float(rate * adjust_value)


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
