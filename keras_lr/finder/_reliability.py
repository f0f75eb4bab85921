"""Whether a range test has an answer: the noise of a curve, whether it falls,
and the reason a test is unreliable (`RangeTestResult.unreliable_reason`).

Pure NumPy functions of the recorded losses, as `_suggest`, tested on
synthetic curves without training.
"""

from __future__ import annotations

import numpy as np


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


def unreliable_reason(
    losses: list[float],
    lrs: np.ndarray,
    num_steps: int,
    end: int,
    *,
    diverged_at: int | None = None,
    stop_reason: str | None = None,
    val: list[float] | None = None,
    min_drop: float = 0.1,
) -> str | None:
    """Why a range test has no reliable answer, or None.

    `losses` are the recorded losses, `lrs` the rates the steps applied,
    `end` the steps before the stop, `val` the validation losses before it.
    Writing w = max(3, num_steps // 10) (the first tenth of the ladder), the
    test is *unreliable* when

    - it stopped (diverged, or the loss was not finite) or ended before step w;
    - or the loss never falls: with W = max(3, num_steps // 5), L0 the mean
      log loss of steps 0..W-1 and s the noise of one step's log loss
      (median |log loss_(k+1) - log loss_k| / 0.954, before the stop), no mean
      of the log losses of W consecutive steps before the stop is below
      L0 - max(-log(0.9), 2 * s * sqrt(2 / W)): the loss never drops clearly
      below its starting level, that is by a tenth and by more than twice the
      noise of the difference of two such means.  Losses that are not all
      positive are compared as they are, the drop being 0.1 * |L0| (`falls`).
      With validation losses, some validation loss must also be a tenth
      (`min_drop`) below the first one.

    That is what an already-trained model gives, or a ladder that starts where
    the loss already diverges.  A short or very noisy test (a few dozen steps
    of small batches) can hide a real descent the same way: the reason then
    says to raise `num_steps` or the batch size.
    """
    first = max(3, num_steps // 10)
    if end < first:
        if diverged_at is not None:
            return (
                f"the test stopped at step {end} of {num_steps} (rate "
                f"{lrs[end]:.3g}), within the first tenth of the ladder, where "
                f"{stop_reason}: lower `min_lr`, or the model is already trained"
            )
        return (
            f"the test ran only {len(losses)} of {num_steps} steps: give `fit` more "
            "batches (`find_lr` cycles over the data)"
        )
    # Means over a fifth of the ladder, and two standard deviations: batch
    # losses vary by their batch, and a short test of a fresh model must
    # not read as flat.
    if not falls(losses[:end], max(3, num_steps // 5), min_drop, z=2.0):
        span = (
            f"the loss never fell clearly (a tenth, beyond its noise) below its "
            f"starting level {float(np.mean(losses[:first])):.3g} between rates "
            f"{lrs[0]:.3g} and {lrs[end - 1]:.3g}"
        )
        if diverged_at is None:
            return (
                f"{span}, nor diverged: raise `max_lr` so that the ladder reaches "
                "rates at which the loss moves, or the model is already trained"
            )
        return (
            f"{span} before it diverged: the model is already trained (a range test "
            "has nothing to find: keep the rate it trained at, or lower it to "
            "fine-tune), or the ladder starts too high: lower `min_lr`; a short or "
            "noisy test can also hide a descent: raise `num_steps` or `batch_size`"
        )
    if val is not None and len(val) > 1 and not falls(val, 1, min_drop, z=0.0):
        return (
            f"the validation loss never fell {min_drop:.0%} below its first "
            f"value {val[0]:.3g}: check that `validation_data` is drawn from the "
            "training distribution, or lower `min_lr`"
        )
    return None
