"""Results over several seeds (`keras-lr demo --seeds N`): their spread, and which differences exceed it.

NumPy only.  Within one seed every run shares the data split, the initial
weights and the shuffling, so two runs are compared seed by seed (a paired
comparison): with d_s = metric(best, s) - metric(run, s) over the N seeds,

    larger than the spread  when  |mean(d)| > t * std(d, ddof=1) / sqrt(N)

with t the 97.5% point of Student's t with N - 1 degrees of freedom
(`t_critical`): a two-sided paired t-test at the 5% level.  Each run is
tested against the best on its own, without a correction for the number of
runs compared.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

# Student's t, 97.5% point, for 1..30 degrees of freedom (standard tables).
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_critical(df: int) -> float:
    """The 97.5% point of Student's t with `df` >= 1 degrees of freedom.

    A table to 30; beyond, the Cornish-Fisher expansion around the normal's
    z = 1.95996 (z + (z^3 + z) / (4 df) + (5 z^5 + 16 z^3 + 3 z) / (96 df^2)),
    within 5e-4 of the exact value (as the table, rounded to 3 decimals).
    """
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (ddof=1; NaN for one value)."""
    values = np.asarray(values, dtype=float)
    std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return float(np.mean(values)), std


def reached_mean(reached: Sequence[int | None]) -> tuple[float, int]:
    """(mean epoch over the seeds that reached the target (NaN if none did), how many did)."""
    epochs = [r for r in reached if r is not None]
    return (float(np.mean(epochs)) if epochs else math.nan), len(epochs)


def across_seeds(seeds: Sequence) -> list[tuple]:
    """Per run of the first seed: (that run, the same run on every seed, the
    mean epoch to the target over the seeds that reached it, how many did).

    `seeds` holds one result per seed, each with the same `.results` runs in
    the same order (`_runs.SeedRuns`).
    """
    out = []
    for i, first in enumerate(seeds[0].results):
        same = [s.results[i] for s in seeds]
        out.append((first, same, *reached_mean([r.reached for r in same])))
    return out


@dataclasses.dataclass(frozen=True)
class Difference:
    """A run against the best: the mean over seeds of metric(best) - metric(run), and its margin."""

    name: str
    mean: float
    margin: float  # t_critical(N - 1) standard errors of `mean`

    @property
    def finite(self) -> bool:
        """False when some seed gave the run a NaN or infinite value (a diverged run)."""
        return math.isfinite(self.mean) and math.isfinite(self.margin)

    @property
    def larger(self) -> bool:
        """Whether the difference is larger than the spread (never for a non-finite one)."""
        return self.finite and abs(self.mean) > self.margin


def compare(
    scores: Mapping[str, Sequence[float]], higher_is_better: bool, factor: float | None = None
) -> tuple[str, list[Difference]]:
    """The run with the best mean, and every other run's paired difference from it.

    With d_s = scores[best][s] - scores[run][s], a `Difference` holds mean(d)
    and the margin factor * std(d, ddof=1) / sqrt(N); it is larger than the
    spread when |mean(d)| > margin.

    Args:
        scores: for each run, its metric on each of the N seeds, the seeds in
            the same order for every run.
        higher_is_better: True for an accuracy (the best has the highest
            mean), False for a loss (the lowest).
        factor: how many standard errors a difference must exceed (default
            `t_critical(N - 1)`: a paired t-test at the 5% level).

    Returns:
        (the best run's name, the other runs' differences in the order of `scores`).
        A run with a non-finite value is never the best (unless all are).

    Raises:
        ValueError: no run, fewer than two seeds, or runs with different
            numbers of seeds.

    Example:
        >>> best, (b,) = compare({"a": [0.90, 0.95, 0.92], "b": [0.88, 0.93, 0.91]}, True)
        >>> best, b.name, round(b.mean, 4), round(b.margin, 4), b.larger
        ('a', 'b', 0.0167, 0.0143, True)
    """
    table = {name: np.asarray(values, dtype=float) for name, values in scores.items()}
    sizes = sorted({values.size for values in table.values()})
    if not table:
        raise ValueError("Argument `scores` must hold at least one run. Received: scores={}")
    if len(sizes) > 1:
        raise ValueError(
            "Argument `scores` must hold the same number of seeds for every run. "
            f"Received: {', '.join(f'{k}={v.size}' for k, v in table.items())}"
        )
    if sizes[0] < 2:
        raise ValueError(
            f"Argument `scores` must hold at least two seeds per run. Received: {sizes[0]}"
        )
    if factor is None:
        factor = t_critical(sizes[0] - 1)
    sign = 1.0 if higher_is_better else -1.0
    # Non-finite means rank last: a diverged run is not the yardstick.
    keys = [sign * m if math.isfinite(m) else -math.inf for m in map(np.mean, table.values())]
    best = list(table)[int(np.argmax(keys))]
    differences = []
    for name, values in table.items():
        if name == best:
            continue
        with np.errstate(invalid="ignore"):  # inf - inf: reported as not finite
            d = table[best] - values
            margin = factor * float(np.std(d, ddof=1)) / math.sqrt(d.size)
        differences.append(Difference(name, float(np.mean(d)), margin))
    return best, differences


def verdict(metric: str, scores: Mapping[str, Sequence[float]], higher_is_better: bool) -> str:
    """One sentence: the best run for `metric` and, for each other run, whether it is beaten.

    Each difference is written as run - best, with the margin it is held to.

    Example:
        >>> print(verdict("Loss", {"a": [0.3, 0.4], "b": [0.2, 0.3]}, False))  # doctest: +ELLIPSIS
        Loss: best b (mean 0.2500). Larger than the spread: a +0.1000 (margin 0.0000). Within...
    """
    best, differences = compare(scores, higher_is_better)

    def listed(group) -> str:
        return (
            "; ".join(f"{d.name} {-d.mean:+.4f} (margin {d.margin:.4f})" for d in group) or "none"
        )

    text = (
        f"{metric}: best {best} (mean {float(np.mean(scores[best])):.4f}). "
        f"Larger than the spread: {listed(d for d in differences if d.larger)}. "
        f"Within the spread: {listed(d for d in differences if d.finite and not d.larger)}."
    )
    diverged = [d.name for d in differences if not d.finite]
    if diverged:
        text += f" Not compared (a seed gave a non-finite value): {', '.join(diverged)}."
    return text


def rule(n_seeds: int) -> str:
    """The comparison rule of `compare`, in one sentence for the report."""
    return (
        "A difference (a run minus the best on the same seed, whose split, initial weights and "
        f"shuffling they share) is larger than the spread when its mean over the {n_seeds} seeds "
        f"exceeds its margin, t × sd / √{n_seeds} with sd the standard deviation of the "
        f"{n_seeds} differences and t = {t_critical(n_seeds - 1):.3f} (Student's t, 97.5%, "
        f"{n_seeds - 1} degrees of freedom): a paired t-test at the 5% level, each run "
        "against the best on its own; within the spread otherwise."
    )
