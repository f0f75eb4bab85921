"""Schedules of current practice: warmup-stable-decay, inverse square root, shaped
ramps and warm-ups, fractions of the run, products of schedules.

Reference values are the published formulas, written here from their
definitions without calling keras_lr:

* Hugging Face transformers, `src/transformers/optimization.py`:
  `_get_wsd_scheduler_lambda` (`get_wsd_schedule`) and
  `_get_inverse_sqrt_schedule_lr_lambda` (`get_inverse_sqrt_schedule`), as
  factors of the peak rate;
* fastai's annealers (`SchedLin`, `SchedCos`, `SchedExp`) for the ramp shapes,
  and `combine_scheds` for where a piece given as a fraction of the run starts
  (piece k runs where pos = i / total >= pcts[k]);
* PyTorch's `ChainedScheduler` for a product: the factors of its schedulers
  multiply.

The rate a callback really applies during `fit` is read off the conftest
`RateProbe` (SGD on one-hot rows writes -lr_k into weight k), on every
backend.  `start_decay()` is driven from another callback at an epoch end and
mid-epoch, between fits, on data of unknown length, and across
`model.save` / `keras.saving.load_model` and `BackupAndRestore`.
"""

from __future__ import annotations

import json
import math
import warnings

import keras
import numpy as np
import pytest
from conftest import MULTI_STEP_EXECUTION, RateProbe, StopAfterEpoch, assert_rates, fit_on_rows
from keras import ops

import keras_lr
from keras_lr import schedules as S

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

SPE = 4  # steps per epoch
EPOCHS = 6
TOTAL = SPE * EPOCHS
# float32 in the compiled step: an ulp or two of the peak rate (<= 0.5).
F32_ATOL = 1.5e-7


def assert_applied(applied, expected):
    assert_rates(applied, expected, atol=F32_ATOL)


def assert_float32_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=1e-6, atol=1e-7)


def keras_rates(sched, n):
    """The float32 `keras.ops` rates of steps 0..n-1 (one array shape for all
    calls, so that JAX compiles each operation once)."""
    assert n <= 128
    return ops.convert_to_numpy(sched(ops.arange(128)))[:n]


def table(rate, n):
    return np.array([rate(i) for i in range(n)], dtype=np.float64)


def iterations(model):
    return int(ops.convert_to_numpy(model.optimizer.iterations))


# -- reference formulas (no keras_lr code) ----------------------------------------


def fraction_steps(fraction, total):
    """Steps before a piece that starts at `fraction` of a run of `total` steps.

    fastai `combine_scheds`: the piece runs where pos = i / total >= pct, so
    it starts at the first such step.
    """
    return next(i for i in range(total + 1) if i / total >= fraction)


def fraction_of_whole(fraction, before):
    """Decay steps D that make the decay `fraction` of a run ending with it:
    the least D with D / (before + D) >= fraction."""
    return next(d for d in range(1, 10**6) if d / (before + d) >= fraction)


def hf_wsd(max_lr, warmup, stable, decay, warmup_type="linear", decay_type="1-sqrt", min_lr=0.0):
    """transformers `_get_wsd_scheduler_lambda` times `max_lr` (num_cycles=0.5).

    "exponential" warm-up is keras_lr's addition: geometric from min_lr to max_lr.
    """
    ratio = min_lr / max_lr
    num_cycles = 0.5

    def rate(i):
        if i < warmup:
            progress = i / max(1, warmup)
            if warmup_type == "exponential":
                return min_lr * (max_lr / min_lr) ** progress
            factor = {
                "linear": progress,
                "cosine": 0.5 * (1.0 - math.cos(math.pi * progress)),
                "1-sqrt": 1.0 - math.sqrt(1.0 - progress),
            }[warmup_type]
            return max_lr * max(0.0, factor * (1.0 - ratio) + ratio)
        if i < warmup + stable:
            return max_lr
        if i < warmup + stable + decay:
            progress = (i - warmup - stable) / max(1, decay)
            factor = {
                "linear": 1.0 - progress,
                "cosine": 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)),
                "1-sqrt": 1.0 - math.sqrt(progress),
            }[decay_type]
            return max_lr * max(0.0, factor * (1.0 - ratio) + ratio)
        return max_lr * ratio

    return rate


def hf_inverse_sqrt(max_lr, warmup, timescale=None, warmup_shape="linear"):
    """transformers `get_inverse_sqrt_schedule` times `max_lr` (timescale None:
    num_warmup_steps or 10_000); a "cosine" warm-up swaps i / W for fastai's SchedCos."""
    if timescale is None:
        timescale = warmup or 10_000

    def rate(i):
        if i < warmup:
            return anneal(warmup_shape, 0.0, max_lr, i / max(1, warmup))
        return max_lr / math.sqrt((i + timescale - warmup) / timescale)

    return rate


def anneal(shape, start, end, pos):
    """fastai's SchedLin, SchedCos, SchedExp at position pos in [0, 1]."""
    if shape == "linear":
        return start + pos * (end - start)
    if shape == "cosine":
        return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2
    return start * (end / start) ** pos


def cosine(max_lr, min_lr, total):
    """Cosine annealing without restarts, clamped after `total` (Loshchilov & Hutter)."""
    return lambda i: (
        min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * min(i, total) / total)) / 2
    )


def linear(start, end, total):
    return lambda i: start + (end - start) * min(i, total) / total


def constant(value):
    return lambda i: value


def joined(pieces, starts):
    """Pieces one after another, each counting from its own start."""

    def rate(i):
        k = max(j for j, s in enumerate([0, *starts]) if i >= s)
        return pieces[k](i - ([0, *starts])[k])

    return rate


def warmed_up(schedule, warmup, start_lr=0.0, shape="linear"):
    """A ramp of `shape` from start_lr to schedule(0) over `warmup` steps, then
    the schedule from its own step 0."""
    target = schedule(0)
    return joined([lambda i: anneal(shape, start_lr, target, i / warmup), schedule], [warmup])


# -- value tables of the schedules ------------------------------------------------

WARMUP_SHAPES = ["linear", "cosine", "1-sqrt", "exponential"]
DECAY_SHAPES = ["linear", "cosine", "1-sqrt"]
# (warmup_steps, decay_steps, total_steps): steps, fractions (one of them not a
# whole number of steps), no warm-up and no decay, and decimal fractions whose
# float product is not a whole number (0.07 * 100 = 7.000000000000001).
LENGTHS = [(4, 6, 30), (0.1, 0.2, 30), (0.25, 0.25, 10), (0, 0, 8), (0.07, 0.28, 100)]


def wsd_lengths(warmup, decay, total):
    w = fraction_steps(warmup, total) if isinstance(warmup, float) else warmup
    d = fraction_steps(decay, total) if isinstance(decay, float) else decay
    return w, total - w - d, d


# A geometric warm-up from min_lr = 0 is refused (test_refused_by_name).
SHAPES_AND_MIN_LR = [
    (warm, decay, min_lr)
    for warm in WARMUP_SHAPES
    for decay in DECAY_SHAPES
    for min_lr in (0.0, 0.05)
    if not (warm == "exponential" and min_lr == 0.0)
]


@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("warmup_shape, decay_shape, min_lr", SHAPES_AND_MIN_LR)
def test_wsd_equals_transformers(warmup_shape, decay_shape, min_lr, lengths):
    warmup, decay, total = lengths
    sched = S.WarmupStableDecay(
        0.5, warmup, decay, total, warmup_shape=warmup_shape, decay_shape=decay_shape, min_lr=min_lr
    )
    w, s, d = wsd_lengths(warmup, decay, total)
    expected = table(hf_wsd(0.5, w, s, d, warmup_shape, decay_shape, min_lr), total + 5)
    np.testing.assert_allclose(sched.numpy(total + 5), expected, rtol=1e-12, atol=1e-15)
    assert_float32_close(keras_rates(sched, total + 5), expected)


def test_wsd_fraction_lengths_are_the_steps_users_mean():
    # 7% of 100 steps is 7 steps, 28% of 25 is 7, 10% of 30 is 3.
    for fraction, total, steps in [(0.07, 100, 7), (0.28, 25, 7), (0.1, 30, 3), (0.25, 10, 3)]:
        sched = S.WarmupStableDecay(1.0, fraction, fraction, total, decay_shape="linear")
        rates = sched.numpy(total + 1)
        assert rates[steps] == 1.0 and rates[steps - 1] < 1.0, (fraction, total)
        assert rates[total - steps - 1] == 1.0 and rates[total - steps + 1] < 1.0


def test_wsd_decay_start_without_total_steps():
    # Warm-up, then the peak until `decay_start`, the decay over D steps, then min_lr.
    sched = S.WarmupStableDecay(0.5, 3, 4, decay_shape="cosine", min_lr=0.05, decay_start=9)
    expected = table(hf_wsd(0.5, 3, 6, 4, "linear", "cosine", 0.05), 20)
    np.testing.assert_allclose(sched.numpy(20), expected, rtol=1e-12)
    # A fraction of the whole run, which ends with the decay: 25% of 9 + D is D = 3.
    for fraction, start in [(0.25, 9), (0.1, 18), (0.05, 19), (0.5, 4)]:
        d = fraction_of_whole(fraction, start)
        sched = S.WarmupStableDecay(0.5, 2, fraction, min_lr=0.05, decay_start=start)
        expected = table(hf_wsd(0.5, 2, start - 2, d, min_lr=0.05), start + d + 3)
        np.testing.assert_allclose(sched.numpy(start + d + 3), expected, rtol=1e-12)


def test_wsd_without_an_end_holds_the_peak():
    sched = S.WarmupStableDecay(0.5, 4)
    steps = [0, 2, 4, 5, 1000, 10**6, 2**31 - 1]
    np.testing.assert_allclose(sched.numpy(steps), [0.0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert_float32_close(
        ops.convert_to_numpy(sched(ops.convert_to_tensor(steps))), sched.numpy(steps)
    )


@pytest.mark.parametrize(
    "decay_start, start", [(8, 8), (16, 16), (18, 16), (10**6, 16), (1, 2), (0, 2)]
)
def test_wsd_decay_start_with_total_steps_starts_at_the_earlier(decay_start, start):
    # With total_steps known the decay starts at min(total - D, decay_start), and
    # never inside the warm-up.
    sched = S.WarmupStableDecay(0.5, 2, 4, 20, decay_shape="linear", decay_start=decay_start)
    expected = table(hf_wsd(0.5, 2, start - 2, 4, "linear", "linear"), 24)
    np.testing.assert_allclose(sched.numpy(24), expected, rtol=1e-12)


def test_wsd_resolve_fills_in_total_steps():
    sched = S.WarmupStableDecay(0.5, 4, 0.25, decay_shape="linear")
    resolved = sched.resolve(24)
    assert resolved == S.WarmupStableDecay(0.5, 4, 0.25, 24, decay_shape="linear")
    expected = table(hf_wsd(0.5, 4, 14, 6, "linear", "linear"), 26)
    np.testing.assert_allclose(resolved.numpy(26), expected, rtol=1e-12)


@pytest.mark.parametrize("warmup, timescale", [(4, None), (0, None), (4, 10), (0, 3), (7, 2)])
def test_inverse_sqrt_equals_transformers(warmup, timescale):
    sched = S.InverseSqrt(0.5, warmup, timescale)
    steps = list(range(30)) + [10**4, 10**6, 10**9]
    expected = [hf_inverse_sqrt(0.5, warmup, timescale)(i) for i in steps]
    np.testing.assert_allclose(sched.numpy(steps), expected, rtol=1e-12)
    assert_float32_close(ops.convert_to_numpy(sched(ops.convert_to_tensor(steps))), expected)


@pytest.mark.parametrize(
    "shape, start, end",
    [
        ("linear", 0.0, 1.0),
        ("linear", 1.0, 0.2),
        ("cosine", 0.0, 1.0),
        ("cosine", 1.0, 0.2),
        ("exponential", 0.01, 1.0),
        ("exponential", 1.0, 0.01),
    ],
)
def test_ramp_equals_fastai_annealers(shape, start, end):
    sched = S.Ramp(start, end, 8, shape=shape)
    expected = table(lambda i: anneal(shape, start, end, min(i, 8) / 8), 12)
    np.testing.assert_allclose(sched.numpy(12), expected, rtol=1e-12, atol=1e-15)
    assert_float32_close(keras_rates(sched, 12), expected)


@pytest.mark.parametrize("shape", ["linear", "cosine", "exponential"])
def test_warmup_shapes(shape):
    sched = S.warmup(S.Cosine(1.0, 0.1, 10), 4, start_lr=0.01, shape=shape)
    expected = table(warmed_up(cosine(1.0, 0.1, 10), 4, 0.01, shape), 18)
    np.testing.assert_allclose(sched.numpy(18), expected, rtol=1e-12)
    assert_float32_close(keras_rates(sched, 18), expected)


@pytest.mark.parametrize("total", [10, 20, 24, 100, 101])
def test_join_fractions_resolve_where_pos_reaches_pct(total):
    pieces = [S.Constant(1.0), S.Linear(1.0, 0.0, 5), S.Constant(0.1)]
    refs = [constant(1.0), linear(1.0, 0.0, 5), constant(0.1)]
    join = S.Join(pieces, [0.25, 0.7])
    resolved = join.resolve(total)
    starts = [fraction_steps(0.25, total), fraction_steps(0.7, total)]
    assert list(resolved.boundaries) == starts
    expected = table(joined(refs, starts), total + 3)
    np.testing.assert_allclose(resolved.numpy(total + 3), expected, rtol=1e-12)
    assert_float32_close(keras_rates(resolved, total + 3), expected)


def test_join_resolve_gives_a_piece_without_a_length_its_segment():
    # The WSD piece runs over steps 6..15: 10 steps, its last 40% (4 steps) decaying.
    wsd = S.WarmupStableDecay(0.5, 0, 0.4, decay_shape="linear")
    resolved = S.Join([S.Constant(0.1), wsd], [0.375]).resolve(16)
    assert list(resolved.boundaries) == [6]
    expected = table(joined([constant(0.1), hf_wsd(0.5, 0, 6, 4, "linear", "linear")], [6]), 18)
    np.testing.assert_allclose(resolved.numpy(18), expected, rtol=1e-12)


def test_product_multiplies_as_chained_scheduler():
    torch = pytest.importorskip("torch")
    a, b = S.Linear(0.25, 1.0, 4), S.Exponential(1.0, 0.9)
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=1.0)
    chained = torch.optim.lr_scheduler.ChainedScheduler(
        [
            torch.optim.lr_scheduler.LinearLR(
                opt, start_factor=0.25, end_factor=1.0, total_iters=4
            ),
            torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
        ]
    )
    expected = []
    for _ in range(12):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        chained.step()
    for sched in (S.Product(a, b), a * b):
        np.testing.assert_allclose(sched.numpy(12), expected, rtol=1e-10)
        assert_float32_close(keras_rates(sched, 12), expected)


def test_multiplying_schedules_and_numbers():
    a, b = S.Linear(0.25, 1.0, 4), S.Cosine(1.0, 0.0, 8)
    assert a * b == S.Product(a, b)
    assert isinstance(a * 0.5, S.Scaled) and a * 0.5 == S.Scaled(a, 0.5)
    assert isinstance(0.5 * a, S.Scaled) and 0.5 * a == S.Scaled(a, 0.5)
    expected = table(lambda i: 0.5 * linear(0.25, 1.0, 4)(i) * cosine(1.0, 0.0, 8)(i), 10)
    np.testing.assert_allclose((0.5 * (a * b)).numpy(10), expected, rtol=1e-12)


# The compiled step at large steps: float32 positions would be off by several steps.
LARGE = {
    "wsd-1-sqrt": (lambda: S.WarmupStableDecay(1.0, 1000, 1000, 10**8 + 7), 10**8 + 7 - 500),
    "wsd-cosine-start": (
        lambda: S.WarmupStableDecay(1.0, 1000, 100, 10**8, decay_shape="cosine"),
        10**8 - 100,
    ),
    "wsd-decay_start": (
        lambda: S.WarmupStableDecay(1.0, 10, 64, decay_shape="linear", decay_start=123_456_789),
        123_456_789 + 32,
    ),
    "inverse_sqrt": (lambda: S.InverseSqrt(1.0, 1000, timescale=7), 10**9),
    "join-fractions": (
        lambda: S.Join([S.Constant(1.0), S.Linear(1.0, 0.0, 32)], [0.5]).resolve(2 * 10**8 + 2),
        10**8 + 1 + 16,
    ),
    "product": (
        lambda: (
            S.WarmupStableDecay(1.0, 10, 64, 10**8 + 50, decay_shape="linear") * S.Constant(0.5)
        ),
        10**8 + 50 - 32,
    ),
}


@pytest.mark.parametrize("name", sorted(LARGE))
def test_keras_ops_precision_at_large_steps(name):
    make, center = LARGE[name]
    sched = make()
    steps = np.arange(center - 8, center + 9, dtype=np.int32)
    expected = sched.numpy(steps)
    assert len(np.unique(expected)) >= 2
    assert_float32_close(ops.convert_to_numpy(sched(ops.convert_to_tensor(steps))), expected)
    opt = keras.optimizers.SGD(learning_rate=sched)
    opt.iterations.assign(int(steps[5]))
    assert_float32_close([float(ops.convert_to_numpy(opt.learning_rate))], expected[5:6])


def test_large_step_references():
    # The two tables above are the published formulas too (no self-consistency only).
    rate = hf_wsd(1.0, 1000, 10**8 + 7 - 2000, 1000)
    np.testing.assert_allclose(
        S.WarmupStableDecay(1.0, 1000, 1000, 10**8 + 7).numpy([10**8 + 7 - 500, 10**8 + 7]),
        [rate(10**8 + 7 - 500), rate(10**8 + 7)],
        rtol=1e-12,
    )


# -- the rate applied during fit -------------------------------------------------

FIT_CASES = {
    "wsd_fractions": (
        lambda: keras_lr.WarmupStableDecay(0.5, warmup_steps=0.25, decay_steps=0.25, min_lr=0.05),
        hf_wsd(0.5, 6, 12, 6, min_lr=0.05),
    ),
    "wsd_steps_cosine": (
        lambda: keras_lr.WarmupStableDecay(
            0.5, warmup_steps=3, decay_steps=5, warmup_shape="cosine", decay_shape="cosine"
        ),
        hf_wsd(0.5, 3, 16, 5, "cosine", "cosine"),
    ),
    "wsd_default_decay": (  # decay_steps=0.1: 10% of 24 steps is 3 steps
        lambda: keras_lr.WarmupStableDecay(0.5, warmup_steps=2),
        hf_wsd(0.5, 2, 19, 3),
    ),
    "wsd_exponential_warmup": (
        lambda: keras_lr.WarmupStableDecay(
            0.5, 4, 4, warmup_shape="exponential", decay_shape="linear", min_lr=0.005
        ),
        hf_wsd(0.5, 4, 16, 4, "exponential", "linear", 0.005),
    ),
    # 12.5% of 24 steps warm up; the timescale (None) is then those 3 steps.
    "inverse_sqrt_fraction": (lambda: keras_lr.InverseSqrt(0.5, 0.125), hf_inverse_sqrt(0.5, 3)),
    "inverse_sqrt_timescale": (
        lambda: keras_lr.InverseSqrt(0.5, 3, timescale=10),
        hf_inverse_sqrt(0.5, 3, 10),
    ),
    "inverse_sqrt_cosine_warmup": (
        lambda: keras_lr.InverseSqrt(0.5, 4, warmup_shape="cosine"),
        hf_inverse_sqrt(0.5, 4, warmup_shape="cosine"),
    ),
    # 25% of the fit's 24 steps warm up; the cosine runs over the other 18.
    "cosine_fractional_cosine_warmup": (
        lambda: keras_lr.CosineAnnealing(0.5, warmup_steps=0.25, warmup_shape="cosine"),
        warmed_up(cosine(0.5, 0.0, 18), 6, shape="cosine"),
    ),
    "cosine_exponential_warmup": (
        lambda: keras_lr.CosineAnnealing(
            0.5, 0.05, warmup_steps=3, warmup_start_lr=0.005, warmup_shape="exponential"
        ),
        warmed_up(cosine(0.5, 0.05, 21), 3, 0.005, "exponential"),
    ),
    # pos >= 0.3 from step 8 (7.2 rounded up), >= 0.75 from step 18.
    "join_fractions": (
        lambda: keras_lr.ScheduleCallback(
            S.Join([S.Constant(0.5), S.Linear(0.5, 0.05, 6), S.Constant(0.01)], [0.3, 0.75])
        ),
        joined([constant(0.5), linear(0.5, 0.05, 6), constant(0.01)], [8, 18]),
    ),
    # The fractions are of the 20 steps after the warm-up: the second piece at 4 + 10.
    "join_fractions_after_warmup": (
        lambda: keras_lr.ScheduleCallback(
            S.Join([S.Constant(0.5), S.Constant(0.1)], [0.5]), warmup_steps=4
        ),
        warmed_up(joined([constant(0.5), constant(0.1)], [10]), 4),
    ),
    # A product resolves its fractional factor from the fit too: 0.5 of 24 is 12.
    "product_of_fractional_join": (
        lambda: keras_lr.ScheduleCallback(
            S.Join([S.Constant(1.0), S.Constant(0.2)], [0.5]) * S.Cosine(0.5, 0.0, 24)
        ),
        lambda i: (1.0 if i < 12 else 0.2) * cosine(0.5, 0.0, 24)(i),
    ),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_applied_rates_equal_published_formula(case):
    make, rate = FIT_CASES[case]
    cb = make()
    probe = RateProbe(TOTAL)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    expected = table(rate, TOTAL)
    assert_applied(probe.rates(), expected)
    assert_applied(cb.history["lr"].to_numpy(), expected)
    # The preview of a new callback gives the same table without a fit.
    np.testing.assert_allclose(
        make().rates(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS), expected, rtol=1e-12, atol=1e-15
    )


def test_fractional_cosine_warmup_over_two_epochs_of_four_steps():
    # warmup_steps=0.25 of 8 steps is 2: cosine ramp 0, 0.5; then the cosine over 6 steps.
    probe = RateProbe(8)
    probe.fit([keras_lr.CosineAnnealing(1.0, warmup_steps=0.25, warmup_shape="cosine")], 2, 4)
    expected = [0.0, 0.5] + [(1 + math.cos(math.pi * j / 6)) / 2 for j in range(6)]
    assert_applied(probe.rates(), expected)


def test_fractional_warmup_preview_needs_the_fit_length():
    cb = keras_lr.CosineAnnealing(1.0, warmup_steps=0.25)
    with pytest.raises(ValueError, match="warmup_steps"):
        cb.rates(8)
    np.testing.assert_allclose(
        cb.rates(8, steps_per_epoch=4, epochs=2),
        table(warmed_up(cosine(1.0, 0.0, 6), 2), 8),
        rtol=1e-12,
    )


@pytest.mark.skipif(not MULTI_STEP_EXECUTION, reason="PyTorch runs steps_per_execution=1 only")
def test_wsd_under_steps_per_execution():
    probe = RateProbe(TOTAL, steps_per_execution=4)
    make, rate = FIT_CASES["wsd_fractions"]
    probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE)
    assert_applied(probe.rates(), table(rate, TOTAL))


# -- start_decay ---------------------------------------------------------------


class DecayAtEpochEnd(keras.callbacks.Callback):
    """Calls `wsd.start_decay()` at the end of epoch `epoch` (0-based)."""

    def __init__(self, wsd, epoch):
        super().__init__()
        self.wsd, self.epoch = wsd, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.wsd.start_decay()


class AtStep(keras.callbacks.Callback):
    """After `decay_at` optimizer steps calls `wsd.start_decay()`; after `stop_at` stops."""

    def __init__(self, wsd=None, decay_at=None, stop_at=None):
        super().__init__()
        self.wsd, self.decay_at, self.stop_at = wsd, decay_at, stop_at

    def on_train_batch_end(self, batch, logs=None):
        step = iterations(self.model)
        if step == self.decay_at:
            self.wsd.start_decay()
        if step == self.stop_at:
            self.model.stop_training = True


def wsd_args(**kwargs):
    return dict(dict(max_lr=0.5, warmup_steps=2, decay_steps=4, min_lr=0.05), **kwargs)


@pytest.mark.parametrize("decay_shape", ["linear", "1-sqrt"])
def test_start_decay_at_an_epoch_end_decays_from_the_next_step(decay_shape):
    wsd = keras_lr.WarmupStableDecay(**wsd_args(decay_shape=decay_shape))
    probe = RateProbe(TOTAL)
    probe.fit([wsd, DecayAtEpochEnd(wsd, epoch=1)], epochs=EPOCHS, steps_per_epoch=SPE)
    # Decay over steps 8..11 (not 20..23 as the fit's length alone gives), then min_lr.
    expected = table(hf_wsd(0.5, 2, 6, 4, decay_type=decay_shape, min_lr=0.05), TOTAL)
    assert_applied(probe.rates(), expected)
    assert_applied(wsd.history["lr"].to_numpy(), expected)


@pytest.mark.parametrize("decay_steps, d", [(4, 4), (0.25, 3)])
def test_start_decay_mid_epoch_on_endless_data(decay_steps, d):
    # No steps_per_epoch, an endless generator: the fit's length is unknown, so
    # the rate stays at the peak until start_decay (after step 9, mid-epoch).
    wsd = keras_lr.WarmupStableDecay(**wsd_args(warmup_steps=3, decay_steps=decay_steps))
    probe = RateProbe(TOTAL)
    probe.fit([wsd, AtStep(wsd, decay_at=9, stop_at=9 + d + 3)], epochs=1, steps_per_epoch=None)
    assert iterations(probe.model) == 9 + d + 3
    expected = table(hf_wsd(0.5, 3, 6, d, min_lr=0.05), 9 + d + 3)
    assert_applied(probe.rates()[: 9 + d + 3], expected)


def test_endless_data_without_start_decay_holds_the_peak():
    wsd = keras_lr.WarmupStableDecay(**wsd_args())
    probe = RateProbe(TOTAL)
    probe.fit([wsd, AtStep(stop_at=20)], epochs=1, steps_per_epoch=None)
    assert_applied(probe.rates()[:20], table(hf_wsd(0.5, 2, 10**9, 4, min_lr=0.05), 20))


@pytest.mark.parametrize("instance", ["same", "new", "new-requested"])
@pytest.mark.parametrize("data", ["budget", "endless"])
def test_start_decay_between_two_fits(data, instance):
    # A fit stable all through (a total_steps budget far off, or data of unknown
    # length), start_decay(), then a second fit runs the decay and holds min_lr.
    args = wsd_args(total_steps=10**6) if data == "budget" else wsd_args()
    wsd = keras_lr.WarmupStableDecay(**args)
    probe = RateProbe(TOTAL)
    if data == "budget":
        probe.fit([wsd], epochs=2, steps_per_epoch=SPE)
    else:
        probe.fit([wsd, AtStep(stop_at=8)], epochs=1, steps_per_epoch=None)
    assert iterations(probe.model) == 8
    second = wsd if instance == "same" else keras_lr.WarmupStableDecay(**args)
    if instance == "new-requested":
        # Asked before the new callback has seen the model: from its fit's first step.
        assert second.start_decay() is None
    else:
        assert wsd.start_decay() == 8  # the step the decay starts at
    if data == "budget":
        probe.fit([second], epochs=4, steps_per_epoch=SPE, initial_epoch=2)
    else:
        probe.fit([second, AtStep(stop_at=16)], epochs=1, steps_per_epoch=None)
    assert iterations(probe.model) == 16
    assert_applied(probe.rates()[:16], table(hf_wsd(0.5, 2, 6, 4, min_lr=0.05), 16))


def uninterrupted_start_decay_rates():
    wsd = keras_lr.WarmupStableDecay(**wsd_args(decay_steps=6, decay_shape="cosine"))
    probe = RateProbe(TOTAL)
    probe.fit([wsd, DecayAtEpochEnd(wsd, epoch=1)], epochs=EPOCHS, steps_per_epoch=SPE)
    return probe.rates()


def test_resume_mid_decay_after_save_and_load_model(tmp_path):
    # Decay over steps 8..13 started by start_decay; interrupted after step 11.
    expected = table(hf_wsd(0.5, 2, 6, 6, decay_type="cosine", min_lr=0.05), TOTAL)
    args = wsd_args(decay_steps=6, decay_shape="cosine")
    wsd = keras_lr.WarmupStableDecay(**args)
    probe = RateProbe(TOTAL)
    probe.fit(
        [wsd, DecayAtEpochEnd(wsd, epoch=1), StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE
    )
    assert iterations(probe.model) == 3 * SPE
    probe.model.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [w for w in caught if "Skipping variable loading" in str(w.message)] == []
    # A new callback with the same arguments; nobody calls start_decay again.
    fit_on_rows(loaded, [keras_lr.WarmupStableDecay(**args)], EPOCHS, 3 * SPE, SPE, initial_epoch=3)
    resumed = -np.asarray(ops.convert_to_numpy(loaded.get_layer("probe").kernel))[:, 0]
    assert_applied(resumed, expected)
    assert_applied(resumed, uninterrupted_start_decay_rates())


class RaiseAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError("simulated crash")


def test_resume_after_start_decay_with_backup_and_restore(tmp_path):
    expected = table(hf_wsd(0.5, 2, 6, 6, decay_type="cosine", min_lr=0.05), TOTAL)
    args = wsd_args(decay_steps=6, decay_shape="cosine")
    backup_dir = str(tmp_path / "backup")
    wsd = keras_lr.WarmupStableDecay(**args)
    crashed = RateProbe(TOTAL)
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir), wsd]
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(
            callbacks + [DecayAtEpochEnd(wsd, epoch=1), RaiseAtEpochEnd(3)],
            epochs=EPOCHS,
            steps_per_epoch=SPE,
        )
    with open(tmp_path / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 3
    resumed = RateProbe(TOTAL)
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir), keras_lr.WarmupStableDecay(**args)]
    fit_on_rows(resumed.model, callbacks, EPOCHS, 3 * SPE, SPE)
    assert iterations(resumed.model) == TOTAL
    assert_applied(resumed.rates(), expected)


# -- refusals --------------------------------------------------------------------

REFUSED = {
    "ramp shape": (lambda: S.Ramp(0.0, 1.0, 4, shape="quadratic"), ValueError, "shape"),
    "ramp exponential from 0": (
        lambda: S.Ramp(0.0, 1.0, 4, shape="exponential"),
        ValueError,
        "start_lr",
    ),
    "ramp exponential to 0": (
        lambda: S.Ramp(1.0, 0.0, 4, shape="exponential"),
        ValueError,
        "end_lr",
    ),
    "warmup exponential from 0": (
        lambda: S.warmup(S.Constant(1.0), 4, shape="exponential"),
        ValueError,
        "start_lr",
    ),
    "warmup shape": (lambda: S.warmup(S.Constant(1.0), 4, shape="1-sqrt"), ValueError, "shape"),
    "wsd warmup_shape": (
        lambda: S.WarmupStableDecay(1.0, 2, 2, 10, warmup_shape="step"),
        ValueError,
        "warmup_shape",
    ),
    "wsd decay_shape": (
        lambda: S.WarmupStableDecay(1.0, 2, 2, 10, decay_shape="exponential"),
        ValueError,
        "decay_shape",
    ),
    "wsd decay_steps 2.5": (
        lambda: S.WarmupStableDecay(1.0, 2, 2.5, 10),
        ValueError,
        "decay_steps",
    ),
    "join fraction 1.5": (
        lambda: S.Join([S.Constant(1.0)] * 2, [1.5]),
        (TypeError, ValueError),
        "boundaries",
    ),
    "callback warmup_steps 1.5": (
        lambda: keras_lr.OneCycleLR(1.0, warmup_steps=1.5),
        ValueError,
        "warmup_steps",
    ),
    "wsd warmup_steps 1.5": (
        lambda: S.WarmupStableDecay(1.0, 1.5, 2, 10),
        ValueError,
        "warmup_steps",
    ),
    "wsd warmup_steps -1": (
        lambda: S.WarmupStableDecay(1.0, -1, 2, 10),
        ValueError,
        "warmup_steps",
    ),
    "wsd decay_steps -0.1": (
        lambda: S.WarmupStableDecay(1.0, 2, -0.1, 10),
        ValueError,
        "decay_steps",
    ),
    "wsd stable < 0": (lambda: S.WarmupStableDecay(1.0, 6, 6, 10), ValueError, "total_steps"),
    "wsd stable < 0 fractions": (
        lambda: S.WarmupStableDecay(1.0, 0.6, 0.5, 10),
        ValueError,
        "total_steps",
    ),
    "wsd exponential warm-up from 0": (
        lambda: S.WarmupStableDecay(1.0, 4, 2, 10, warmup_shape="exponential"),
        ValueError,
        "min_lr",
    ),
    "wsd fractional warm-up without total": (
        lambda: S.WarmupStableDecay(1.0, 0.1),
        ValueError,
        "warmup_steps",
    ),
    "wsd min_lr above max_lr": (
        lambda: S.WarmupStableDecay(1.0, 2, 2, 10, min_lr=2.0),
        ValueError,
        "min_lr",
    ),
    "inverse_sqrt warmup_steps": (lambda: S.InverseSqrt(1.0, -1), ValueError, "warmup_steps"),
    "inverse_sqrt timescale": (lambda: S.InverseSqrt(1.0, 4, timescale=0), ValueError, "timescale"),
    "join fractions decreasing": (
        lambda: S.Join([S.Constant(1.0)] * 3, [0.5, 0.3]),
        ValueError,
        "boundaries",
    ),
    "join fraction 0.0": (lambda: S.Join([S.Constant(1.0)] * 2, [0.0]), ValueError, "boundaries"),
    "join fractions and steps": (
        lambda: S.Join([S.Constant(1.0)] * 3, [0.5, 30]),
        ValueError,
        "boundaries",
    ),
    "unresolved join numpy": (
        lambda: S.Join([S.Constant(1.0)] * 2, [0.5]).numpy(4),
        ValueError,
        "resolve",
    ),
    "unresolved join call": (
        lambda: S.Join([S.Constant(1.0)] * 2, [0.5])(ops.convert_to_tensor(3)),
        ValueError,
        "resolve",
    ),
    "callback warmup_shape": (
        lambda: keras_lr.CosineAnnealing(1.0, warmup_steps=4, warmup_shape="1-sqrt"),
        ValueError,
        "warmup_shape",
    ),
    "callback exponential warm-up from 0": (
        lambda: keras_lr.CosineAnnealing(1.0, warmup_steps=4, warmup_shape="exponential"),
        ValueError,
        "warmup_start_lr",
    ),
    "callback wsd decay_shape": (
        lambda: keras_lr.WarmupStableDecay(1.0, decay_shape="step"),
        ValueError,
        "decay_shape",
    ),
    "callback wsd exponential warm-up from 0": (
        lambda: keras_lr.WarmupStableDecay(1.0, 4, warmup_shape="exponential"),
        ValueError,
        "min_lr",
    ),
    "callback inverse_sqrt exponential warm-up": (
        lambda: keras_lr.InverseSqrt(1.0, 4, warmup_shape="exponential"),
        ValueError,
        "warmup_shape",
    ),
    "callback inverse_sqrt timescale": (
        lambda: keras_lr.InverseSqrt(1.0, 4, timescale=-2),
        ValueError,
        "timescale",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_by_name(name):
    make, error, argument = REFUSED[name]
    with pytest.raises(error, match=argument):
        make()


@pytest.mark.parametrize(
    "make, argument, data",
    [
        # 15 + 12 of 24 steps: no room for a stable phase.
        (lambda: keras_lr.WarmupStableDecay(0.5, 0.6, 0.5), "total_steps", "known"),
        (lambda: keras_lr.WarmupStableDecay(0.5, 20, 10), "total_steps", "known"),
        # A fraction of a run whose length nobody knows.
        (lambda: keras_lr.WarmupStableDecay(0.5, 0.25), "warmup_steps", "endless"),
        (
            lambda: keras_lr.CosineAnnealing(0.5, 0.0, 100, warmup_steps=0.1),
            "warmup_steps",
            "endless",
        ),
    ],
)
def test_refused_by_name_before_the_first_step(make, argument, data):
    probe = RateProbe(TOTAL)
    before = probe.rates().copy()
    with pytest.raises(ValueError, match=argument):
        if data == "known":
            probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE)
        else:
            probe.fit([make(), AtStep(stop_at=4)], epochs=1, steps_per_epoch=None)
    np.testing.assert_array_equal(probe.rates(), before)
    assert iterations(probe.model) == 0


# -- serialization ----------------------------------------------------------------

SCHEDULES = {
    "ramp": lambda: S.Ramp(0.01, 1.0, 8, shape="exponential"),
    "warmup-cosine": lambda: S.warmup(S.Cosine(1.0, 0.1, 10), 4, 0.01, shape="cosine"),
    "wsd": lambda: S.WarmupStableDecay(
        0.5, 0.1, 0.2, 30, warmup_shape="1-sqrt", decay_shape="cosine", min_lr=0.01
    ),
    "wsd-open": lambda: S.WarmupStableDecay(0.5, 3, 0.25, min_lr=0.01, decay_start=9),
    "wsd-no-end": lambda: S.WarmupStableDecay(0.5, 3),
    "inverse_sqrt": lambda: S.InverseSqrt(0.5, 4, timescale=10),
    "join-fractions": lambda: S.Join([S.Constant(1.0), S.Linear(1.0, 0.0, 4)], [0.25]),
    "product": lambda: S.Linear(0.25, 1.0, 4) * S.Exponential(1.0, 0.9),
    "scaled-product": lambda: 0.5 * (S.InverseSqrt(1.0, 2) * S.Constant(0.5)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_config_round_trip(name):
    sched = SCHEDULES[name]()
    rebuilt = type(sched).from_config(sched.get_config())
    through_json = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(sched)))
    )
    for other in (rebuilt, through_json):
        assert type(other) is type(sched) and other == sched
        assert other.get_config() == sched.get_config()
        # resolve() is the schedule itself unless the run's length is missing.
        np.testing.assert_array_equal(other.resolve(16).numpy(40), sched.resolve(16).numpy(40))


CALLBACKS = {
    "wsd": (
        lambda: keras_lr.WarmupStableDecay(
            0.5, 0.25, 6, warmup_shape="cosine", decay_shape="linear", min_lr=0.05
        ),
        {"warmup_steps": 0.25, "decay_steps": 6, "warmup_shape": "cosine", "total_steps": None},
    ),
    "wsd-total": (
        lambda: keras_lr.WarmupStableDecay(0.5, 2, 0.1, total_steps=20),
        {"decay_steps": 0.1, "total_steps": 20, "decay_shape": "1-sqrt", "min_lr": 0.0},
    ),
    "inverse_sqrt": (
        lambda: keras_lr.InverseSqrt(0.5, 4, timescale=6, warmup_shape="cosine"),
        {"max_lr": 0.5, "warmup_steps": 4, "timescale": 6, "warmup_shape": "cosine"},
    ),
    "cosine-warmup": (
        lambda: keras_lr.CosineAnnealing(
            0.5, 0.01, warmup_steps=0.25, warmup_start_lr=0.005, warmup_shape="exponential"
        ),
        {"warmup_steps": 0.25, "warmup_start_lr": 0.005, "warmup_shape": "exponential"},
    ),
    "join": (
        lambda: keras_lr.ScheduleCallback(
            S.Join([S.Constant(0.5), S.Constant(0.1)], [0.5]),
            warmup_steps=0.1,
            warmup_shape="cosine",
        ),
        {"warmup_steps": 0.1, "warmup_shape": "cosine"},
    ),
}


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_callback_config_round_trip(name):
    make, given = CALLBACKS[name]
    cb = make()
    config = cb.get_config()
    assert {key: config[key] for key in given} == given
    rebuilt = type(cb).from_config(config)
    assert rebuilt.get_config() == config
    np.testing.assert_array_equal(
        rebuilt.rates(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS),
        cb.rates(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS),
    )
