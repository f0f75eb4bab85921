"""The anchors' suggestion rules, written from their published definitions.

Each function takes one recorded range test, `lrs[k]` (the rate step k
applied) and `losses[k]` (the raw loss of step k), and returns the rate the
library would suggest from that curve: first the library's own reading of the
raw losses (its moving average and its divergence stop, simulated on the
recorded steps), then its trimming, then its rule.  The recorded test itself
is keras_lr's (`find_lr` with default settings), so every rule reads the same
steps at the same rates.

Sources:

- fastai 2.7, `fastai/callback/schedule.py` (`LRFinder`, `Learner.lr_find`,
  `valley`, `steep`, `minimum`, `slide`) and `fastai/learner.py`
  (`AvgSmoothLoss`, `Recorder`): the recorder keeps the bias-corrected moving
  average with beta = 0.98; the test stops after the step whose smoothed loss
  exceeds 4 times the best (that step is recorded); the rules read
  `[num_it // 10 : -5]` of the recorded curve, cut at its first NaN.
- PyTorch Lightning 2.x, `lightning/pytorch/tuner/lr_finder.py`
  (`_LRCallback.on_train_batch_end`, `_LRFinder.suggestion`): the same
  average (beta = 0.98, bias-corrected by 1 - beta^(k + 2) at step k: its
  step counter is read after the update); stop after the step whose smoothed
  loss exceeds 4 times the best before it (from the second step on); the suggestion is
  the argmin of `torch.gradient` (unit spacing) of the finite values of
  `losses[skip_begin:-skip_end]`, skip_begin = 10, skip_end = 1, its index
  shifted by skip_begin.
- pytorch-lr-finder 0.2, `torch_lr_finder/lr_finder.py`
  (`LRFinder.range_test`, `LRFinder.plot`): the loss is smoothed as
  s_k = 0.05 * loss_k + 0.95 * s_(k-1), s_0 = loss_0 (no bias correction);
  stop after the step whose smoothed loss exceeds 5 times the best;
  the suggestion is the argmin of `np.gradient` of `losses[10:-5]`.
"""

from __future__ import annotations

import numpy as np


def _bias_corrected_average(losses: np.ndarray, beta: float = 0.98, shift: int = 1) -> np.ndarray:
    """avg_k = beta * avg_(k-1) + (1 - beta) * loss_k, divided by 1 - beta^(k + shift)."""
    out = np.empty(len(losses))
    avg = 0.0
    for k, loss in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * loss
        out[k] = avg / (1.0 - beta ** (k + shift))
    return out


def _stop_after(smoothed: np.ndarray, threshold: float, first: int = 0) -> int:
    """Points recorded: through the first step k >= `first` whose value exceeds
    `threshold` times the best value up to k (the stopping step is recorded)."""
    best = np.inf
    for k, value in enumerate(smoothed):
        if not np.isfinite(value):
            return k + 1
        if k >= first and value > threshold * best:
            return k + 1
        best = min(best, value)
    return len(smoothed)


def fastai_curve(lrs, losses, num_it: int = 100):
    """(lrs, smoothed losses) that fastai's rules read."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    smoothed = _bias_corrected_average(losses)
    end = _stop_after(smoothed, 4.0)
    lrs, smoothed = lrs[:end][num_it // 10 : -5], smoothed[:end][num_it // 10 : -5]
    nan = np.flatnonzero(np.isnan(smoothed))
    if nan.size:
        lrs, smoothed = lrs[: nan[0]], smoothed[: nan[0]]
    return lrs, smoothed


def fastai_valley(lrs, losses, num_it: int = 100) -> float:
    """fastai's `valley`: about halfway into the middle third of the longest
    decreasing subsequence of the curve (an O(n^2) dynamic programme)."""
    lrs, curve = fastai_curve(lrs, losses, num_it)
    n = len(curve)
    if n == 0:
        return float("nan")
    longest = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if curve[i] < curve[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[max_end] < longest[i]:
                max_end = i
                max_start = max_end - longest[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def fastai_steep(lrs, losses, num_it: int = 100) -> float:
    """fastai's `steep`: the rate at the start of the steepest forward
    difference of the curve against log(rate)."""
    lrs, curve = fastai_curve(lrs, losses, num_it)
    if len(curve) < 2:
        return float("nan")
    slope = np.diff(curve) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slope))])


def fastai_minimum(lrs, losses, num_it: int = 100) -> float:
    """fastai's `minimum`: a tenth of the rate at the lowest point of the curve."""
    lrs, curve = fastai_curve(lrs, losses, num_it)
    if len(curve) == 0:
        return float("nan")
    return float(lrs[int(np.argmin(curve))] / 10)


def fastai_slide(lrs, losses, num_it: int = 100, lr_diff: int = 15, thresh: float = 0.005):
    """fastai's `slide`: a pair of points `lr_diff` apart slides in from the end
    while their slopes (`np.gradient`, per point) differ by more than `thresh`."""
    lrs, curve = fastai_curve(lrs, losses, num_it)
    if len(curve) < lr_diff + 1:
        return float("nan")
    grad = np.gradient(curve)
    right, left = -1, -1 - lr_diff
    rate = lrs[left]
    while left >= -len(curve) and abs(grad[right] - grad[left]) > thresh:
        rate = lrs[left]
        right, left = right - 1, left - 1
    return float(rate)


def lightning_suggestion(lrs, losses, skip_begin: int = 10, skip_end: int = 1) -> float:
    """Lightning's `suggestion()`: the steepest unit-spaced gradient."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    # Lightning divides by 1 - beta^(global_step + 1), the step counted after the update.
    smoothed = _bias_corrected_average(losses, shift=2)
    end = _stop_after(smoothed, 4.0, first=1)
    lrs, smoothed = lrs[:end], smoothed[:end]
    part = smoothed[skip_begin:-skip_end]
    part = part[np.isfinite(part)]
    if len(part) < 2:
        return float("nan")
    return float(lrs[int(np.argmin(np.gradient(part))) + skip_begin])


def torch_lr_finder_suggestion(lrs, losses, skip_start: int = 10, skip_end: int = 5) -> float:
    """pytorch-lr-finder's suggested rate: the steepest `np.gradient`."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    smoothed = np.empty(len(losses))
    for k, loss in enumerate(losses):
        smoothed[k] = loss if k == 0 else 0.05 * loss + 0.95 * smoothed[k - 1]
    end = _stop_after(smoothed, 5.0)
    lrs, smoothed = lrs[:end][skip_start:-skip_end], smoothed[:end][skip_start:-skip_end]
    if len(smoothed) < 2:
        return float("nan")
    return float(lrs[int(np.argmin(np.gradient(smoothed)))])


ANCHORS = {
    "fastai valley": fastai_valley,
    "fastai steep": fastai_steep,
    "fastai minimum": fastai_minimum,
    "fastai slide": fastai_slide,
    "Lightning suggestion": lightning_suggestion,
    "pytorch-lr-finder": torch_lr_finder_suggestion,
}
