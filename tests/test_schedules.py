"""The schedule math of `keras_lr.schedules`, without training.

Four kinds of test, as in optax `_schedule_test.py` and Keras
`learning_rate_schedule_test.py`:

* exact value tables from the published formulas, and limits (first step,
  cycle ends, last step);
* PyTorch's `torch.optim.lr_scheduler` as an independent oracle, step by step;
* the float32 `keras.ops` path (array, scalar, optimizer step, compiled) agreeing
  with the float64 NumPy path, also at steps in the millions;
* properties over many parameters (hypothesis) and serialization round trips.
"""

from __future__ import annotations

import json
import math
import time

import keras
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from keras_lr import schedules as S

BACKEND = keras.backend.backend()
PROPERTIES = settings(max_examples=50, deadline=None)


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def inverse_cycle(cycle):
    """A custom Cyclic scale: the amplitude of cycle c is 1/c."""
    return 1.0 / cycle


def assert_exact(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def keras_cosine_decay():
    return keras.optimizers.schedules.CosineDecay(1.0, decay_steps=20, alpha=0.1)


# One instance (or more) of every schedule class, as factories.
SCHEDULES = {
    "Constant": lambda: S.Constant(0.3),
    "Linear": lambda: S.Linear(0.0, 1.0, 7),
    "Cosine": lambda: S.Cosine(1.0, 0.1, 17),
    "Polynomial": lambda: S.Polynomial(1.0, 13, power=2.0, end_lr=0.05),
    "Polynomial-cycle": lambda: S.Polynomial(1.0, 5, power=2.0, end_lr=0.05, cycle=True),
    "Exponential": lambda: S.Exponential(1.0, 0.93),
    "Staircase": lambda: S.Staircase(1.0, 0.5, step_size=4),
    "Staircase-milestones": lambda: S.Staircase(1.0, 0.3, milestones=[3, 8, 20]),
    "Cyclic": lambda: S.Cyclic(0.1, 1.0, 3),
    "Cyclic-triangular2": lambda: S.Cyclic(0.1, 1.0, 4, mode="triangular2"),
    "Cyclic-exp_range": lambda: S.Cyclic(0.1, 1.0, 4, mode="exp_range", gamma=0.97),
    "Cyclic-asymmetric": lambda: S.Cyclic(0.1, 1.0, 2, step_size_down=5),
    "Cyclic-scale_fn": lambda: S.Cyclic(0.1, 1.0, 3, scale_fn=inverse_cycle),
    "Cyclic-scale-Table": lambda: S.Cyclic(
        0.1, 1.0, 3, scale_fn=S.Table([1.0, 0.5, 0.8, 0.25], offset=1)
    ),
    "Cyclic-scale-Exponential-iterations": lambda: S.Cyclic(
        0.1, 1.0, 2, step_size_down=3, scale_fn=S.Exponential(1.0, 0.9), scale_mode="iterations"
    ),
    "CosineRestarts": lambda: S.CosineRestarts(0.01, 1.0, cycle_length=6, mult_factor=1.0),
    "CosineRestarts-mult2": lambda: S.CosineRestarts(
        0.0, 1.0, cycle_length=3, mult_factor=2.0, lr_decay=0.8
    ),
    "CosineRestarts-mult1.5-spu": lambda: S.CosineRestarts(
        0.05, 1.0, cycle_length=2, mult_factor=1.5, steps_per_unit=3
    ),
    "CosineRestarts-cycle_limit": lambda: S.CosineRestarts(
        0.05, 1.0, cycle_length=3, mult_factor=1.0, cycle_limit=2
    ),
    "CosineRestarts-mult2-cycle_limit": lambda: S.CosineRestarts(
        0.05, 1.0, cycle_length=2, mult_factor=2.0, lr_decay=0.8, cycle_limit=2
    ),
    "OneCycle": lambda: S.OneCycle(1.0, 30),
    "Momentum-OneCycle": lambda: S.Momentum(S.OneCycle(1.0, 30), 0.85, 0.95),
    "Momentum-Cyclic": lambda: S.Momentum(S.Cyclic(0.1, 1.0, 4, mode="triangular2"), 0.8, 0.9),
    "OneCycle-3phase-linear": lambda: S.OneCycle(
        1.0, 31, pct_start=0.25, anneal_strategy="linear", three_phase=True
    ),
    "GeometricCycle": lambda: S.GeometricCycle(1.0, 0.2, 8),
    "Table": lambda: S.Table([0.5, 0.4, 0.1, 0.3]),
    "Table-offset": lambda: S.Table([0.5, 0.4, 0.1, 0.3], offset=6),
    "PerEpoch": lambda: S.PerEpoch(S.Staircase(1.0, 0.5, step_size=2), 3),
    "Join": lambda: S.Join(
        [S.Linear(0.0, 1.0, 5), S.Cosine(1.0, 0.0, 10), S.Constant(0.01)], [5, 15]
    ),
    "Scaled": lambda: S.Scaled(S.Cyclic(0.1, 1.0, 3), 0.5),
    "Scaled-keras": lambda: S.Scaled(keras_cosine_decay(), 0.5),
    "PerEpoch-Scaled-keras": lambda: S.PerEpoch(S.Scaled(keras_cosine_decay(), 2.0), 2),
    "Join-Scaled-keras": lambda: S.Join(
        [S.Constant(0.2), S.Scaled(keras_cosine_decay(), 1.0)], [4]
    ),
    "warmup": lambda: S.warmup(
        S.CosineRestarts(0.0, 1.0, cycle_length=4, mult_factor=2.0), 5, start_lr=0.01
    ),
    "warmup-cosine": lambda: S.warmup(S.Cosine(1.0, 0.1, 9), 6, shape="cosine"),
    "warmup-exponential": lambda: S.warmup(S.Cosine(1.0, 0.1, 9), 6, 0.01, "exponential"),
    "Ramp-cosine-down": lambda: S.Ramp(1.0, 0.2, 9, shape="cosine"),
    "Ramp-exponential": lambda: S.Ramp(0.01, 1.0, 7, shape="exponential"),
    "Product": lambda: S.Product(S.Cosine(1.0, 0.1, 17), S.Ramp(0.0, 1.0, 5)),
    "Product-keras": lambda: S.Product(keras_cosine_decay(), S.Staircase(1.0, 0.5, 4)),
    "Join-fractions": lambda: S.Join(
        [S.Constant(0.5), S.Cosine(1.0, 0.1, 10), S.Constant(0.01)], [0.2, 0.7]
    ).resolve(30),
    "WarmupStableDecay": lambda: S.WarmupStableDecay(1.0, 4, 0.2, 30, min_lr=0.05),
    "WarmupStableDecay-cosine-1-sqrt": lambda: S.WarmupStableDecay(
        1.0, 0.1, 8, 40, warmup_shape="1-sqrt", decay_shape="cosine"
    ),
    "WarmupStableDecay-exponential-linear": lambda: S.WarmupStableDecay(
        1.0, 5, 0.25, 24, warmup_shape="exponential", decay_shape="linear", min_lr=0.01
    ),
    "WarmupStableDecay-open-ended": lambda: S.WarmupStableDecay(1.0, 3, 0.5, decay_start=12),
    "InverseSqrt": lambda: S.InverseSqrt(1.0, 6),
    "InverseSqrt-timescale": lambda: S.InverseSqrt(0.5, 0, timescale=4),
}
SCHEDULE_IDS = sorted(SCHEDULES)


def test_every_schedule_class_is_covered():
    classes = {
        getattr(S, name)
        for name in S.__all__
        if isinstance(getattr(S, name), type) and getattr(S, name) is not S.Schedule
    }
    covered = {type(SCHEDULES[name]()) for name in SCHEDULE_IDS}
    assert classes <= covered, sorted(c.__name__ for c in classes - covered)


# --------------------------------------------------------------------------
# Exact value tables and limits
# --------------------------------------------------------------------------


def test_cyclic_triangular_table():
    assert S.Cyclic(1, 5, 4).numpy(11).tolist() == [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]


def test_cyclic_triangular2_halves_the_amplitude_each_cycle():
    rates = S.Cyclic(0.0, 8.0, 2, mode="triangular2").numpy(13)
    assert rates.tolist() == [0, 4, 8, 4, 0, 2, 4, 2, 0, 1, 2, 1, 0]


def test_cyclic_exp_range_scales_by_gamma_to_the_step():
    gamma = 0.9
    frac = np.array([0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0])
    expected = 1.0 + 2.0 * frac * gamma ** np.arange(9)
    assert_exact(S.Cyclic(1.0, 3.0, 2, mode="exp_range", gamma=gamma).numpy(9), expected)


def test_cyclic_asymmetric_step_size_down():
    rates = S.Cyclic(0.0, 6.0, step_size=2, step_size_down=3).numpy(11)
    assert_exact(rates, [0, 3, 6, 4, 2, 0, 3, 6, 4, 2, 0])


def test_cyclic_scale_fn_per_cycle_ignores_mode():
    sched = S.Cyclic(0.0, 4.0, 2, mode="exp_range", gamma=0.5, scale_fn=lambda c: 1.0 / c)
    assert_exact(sched.numpy(13), [0, 2, 4, 2, 0, 1, 2, 1, 0, 2 / 3, 4 / 3, 2 / 3, 0])


def test_cyclic_scale_fn_per_iteration():
    sched = S.Cyclic(0.0, 4.0, 2, scale_fn=lambda i: 1.0 / (1.0 + i), scale_mode="iterations")
    assert_exact(sched.numpy(7), [0, 1, 4 / 3, 0.5, 0, 2 / 6, 4 / 7])


def test_cyclic_scale_fn_may_be_a_schedule_of_the_integer_cycle_or_step():
    # Evaluated in float64 by `numpy()` (0.1 and 0.9 are not float32 numbers).
    by_cycle = S.Cyclic(0.0, 4.0, 2, scale_fn=S.Table([1.0, 0.1, 0.3], offset=1))
    assert_exact(by_cycle.numpy(13), [0, 2, 4, 2, 0, 0.2, 0.4, 0.2, 0, 0.6, 1.2, 0.6, 0])
    assert by_cycle.get_config()["scale_fn"]["class_name"] == "Table"
    assert S.Cyclic.from_config(by_cycle.get_config()) == by_cycle
    by_step = S.Cyclic(0.0, 4.0, 2, scale_fn=S.Exponential(1.0, 0.9), scale_mode="iterations")
    assert_exact(by_step.numpy(5), [0, 2 * 0.9, 4 * 0.9**2, 2 * 0.9**3, 0])


def sin_scale(x):
    """bckenstler/CLR README's scale, written with NumPy: it cannot run on tensors."""
    return 0.5 * (1 + np.sin(x * np.pi / 2.0))


@pytest.mark.parametrize(
    "scale_mode, up, down", [("cycle", 2, None), ("cycle", 3, 2), ("iterations", 3, None)]
)
def test_cyclic_tabulated_scale_covers_the_cycles_of_the_steps(scale_mode, up, down):
    plain = S.Cyclic(0.1, 1.0, up, scale_mode=scale_mode, step_size_down=down)
    sched = plain._tabulated(sin_scale, 30)
    steps = np.arange(30)
    cycles = steps // (up + (down or up)) + 1
    arg = cycles if scale_mode == "cycle" else steps
    expected = 0.1 + (plain.numpy(30) - 0.1) * sin_scale(arg.astype(float))
    assert len(np.unique(np.round(expected, 9))) >= 3
    assert_exact(sched.numpy(30), expected)
    # One entry per cycle (or step) the 30 steps reach; later ones keep the last.
    table = sched.scale_fn
    assert isinstance(table, S.Table) and len(table.values) == arg.max() + (scale_mode != "cycle")
    assert table.offset == (1 if scale_mode == "cycle" else 0)
    assert_float32_close(ops.convert_to_numpy(sched(ops.arange(30))), expected)
    assert S.Cyclic.from_config(json.loads(json.dumps(sched.get_config()))) == sched


def smith_clr(i, base_lr, max_lr, step_size, mode, gamma):
    """Smith (2017), the paper's formula for a symmetric cycle."""
    cycle = math.floor(1 + i / (2 * step_size))
    x = abs(i / step_size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**i}[mode]
    return base_lr + (max_lr - base_lr) * max(0.0, 1 - x) * scale


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("step_size", [1, 3, 8])
def test_cyclic_matches_smith_formula(mode, step_size):
    sched = S.Cyclic(0.01, 0.3, step_size, mode=mode, gamma=0.995)
    expected = [smith_clr(i, 0.01, 0.3, step_size, mode, 0.995) for i in range(70)]
    np.testing.assert_allclose(sched.numpy(70), expected, rtol=1e-12, atol=1e-15)


def sgdr_reference(lengths, min_lr, max_lr, lr_decay=1.0, steps_per_unit=1):
    """SGDR rates for explicit cycle lengths (in units), step by step."""
    out = []
    for k, length in enumerate(lengths):
        t = length * steps_per_unit
        peak = max_lr * lr_decay**k
        out += [min_lr + 0.5 * (peak - min_lr) * (1 + math.cos(math.pi * p / t)) for p in range(t)]
    return np.array(out)


def restarts(rates):
    """Steps where the rate stops falling: the warm restarts (and step 0)."""
    return [0, *(np.flatnonzero(np.diff(rates) >= 0) + 1).tolist()]


@pytest.mark.parametrize(
    "cycle_length, mult_factor, lengths",
    [
        (4, 1.0, [4, 4, 4, 4]),
        (3, 2.0, [3, 6, 12, 24]),
        (2, 3, [2, 6, 18]),
        (10, 1.5, [10, 15, 23, 35]),
        # 10 * 1.1 == 11.000000000000002 in floats: the cycle is 11, not 12.
        (10, 1.1, [10, 11, 13, 15, 17]),
        (1, 1.5, [1, 2, 3, 5, 8, 12]),
    ],
)
def test_cosine_restarts_cycle_lengths(cycle_length, mult_factor, lengths):
    sched = S.CosineRestarts(0.0, 1.0, cycle_length=cycle_length, mult_factor=mult_factor)
    total = sum(lengths)
    rates = sched.numpy(total)
    assert_exact(rates, sgdr_reference(lengths, 0.0, 1.0))
    assert restarts(rates) == np.cumsum([0, *lengths[:-1]]).tolist()
    # The next cycle starts right after the listed ones.
    assert sched.numpy([total])[0] == 1.0


def test_cosine_restarts_lr_decay_lowers_each_peak():
    sched = S.CosineRestarts(0.01, 1.0, cycle_length=2, mult_factor=2.0, lr_decay=0.5)
    rates = sched.numpy(30)
    assert_exact(rates, sgdr_reference([2, 4, 8, 16], 0.01, 1.0, lr_decay=0.5))
    assert_exact(rates[[0, 2, 6, 14]], [1.0, 0.5, 0.25, 0.125])


def test_cosine_restarts_steps_per_unit_counts_cycles_in_units():
    # Units 3, ceil(4.5) = 5, ceil(7.5) = 8 of 2 steps each: per-step cosine.
    sched = S.CosineRestarts(0.0, 1.0, cycle_length=3, mult_factor=1.5, steps_per_unit=2)
    rates = sched.numpy(32)
    assert restarts(rates) == [0, 6, 16]
    assert_exact(rates, sgdr_reference([3, 5, 8], 0.0, 1.0, steps_per_unit=2))
    # Not the same as counting the cycle in steps: 6, ceil(9) = 9, ...
    in_steps = S.CosineRestarts(0.0, 1.0, cycle_length=6, mult_factor=1.5)
    assert restarts(in_steps.numpy(32)) == [0, 6, 15, 29]


def test_cosine_restarts_cycle_ends_approach_min_lr():
    sched = S.CosineRestarts(0.1, 1.0, cycle_length=5, mult_factor=1.0)
    rates = sched.numpy(15)
    assert rates[0] == rates[5] == rates[10] == 1.0
    expected_last = 0.1 + 0.45 * (1 + math.cos(math.pi * 4 / 5))
    assert_exact(rates[[4, 9, 14]], [expected_last] * 3)
    assert rates.min() > 0.1


@pytest.mark.timeout(3)
def test_cosine_restarts_mult_factor_just_above_one_builds_quickly():
    # 1 + 2**-52: the cycle length must still grow (or stay), not hang.
    cycle_length, mult_factor = 10, math.nextafter(1.0, 2.0)
    start = time.perf_counter()
    sched = S.CosineRestarts(0.0, 1.0, cycle_length=cycle_length, mult_factor=mult_factor)
    assert time.perf_counter() - start < 2.0
    rates = sched.numpy(100)
    assert restarts(rates)[:2] == [0, cycle_length]
    assert np.all((rates >= 0.0) & (rates <= 1.0))


def test_staircase_step_size():
    rates = S.Staircase(1.0, 0.5, step_size=3).numpy(10)
    assert_exact(rates, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125])


def test_staircase_milestones_ignore_step_size():
    rates = S.Staircase(2.0, 0.1, step_size=1, milestones=[2, 5]).numpy(8)
    assert_exact(rates, [2, 2, 0.2, 0.2, 0.2, 0.02, 0.02, 0.02])


def test_per_epoch_evaluates_at_the_epoch_of_the_step():
    rates = S.PerEpoch(S.Staircase(1.0, 0.5, step_size=2), steps_per_epoch=3).numpy(13)
    assert_exact(rates, [1] * 6 + [0.5] * 6 + [0.25])


def test_exponential():
    assert_exact(S.Exponential(2.0, 0.9).numpy(6), 2.0 * 0.9 ** np.arange(6))
    assert S.Exponential(2.0, 1.0).numpy(4).tolist() == [2.0] * 4


def test_polynomial_linear_reaches_end_lr_and_stays():
    rates = S.Polynomial(1.0, 4, power=1.0).numpy(7)
    assert_exact(rates, [1, 0.75, 0.5, 0.25, 0, 0, 0])


def test_polynomial_power_two_with_end_lr():
    rates = S.Polynomial(1.0, 4, power=2.0, end_lr=0.2).numpy(6)
    assert_exact(rates, [1.0, 0.65, 0.4, 0.25, 0.2, 0.2])


def test_cosine_table_and_clamp_after_total_steps():
    half = math.sqrt(0.5)
    rates = S.Cosine(1.0, 0.2, total_steps=4).numpy(7)
    expected = [1.0, 0.2 + 0.4 * (1 + half), 0.6, 0.2 + 0.4 * (1 - half), 0.2, 0.2, 0.2]
    assert_exact(rates, expected)


def test_linear_and_constant():
    assert_exact(S.Linear(0.0, 1.0, 4).numpy(6), [0, 0.25, 0.5, 0.75, 1, 1])
    assert_exact(S.Linear(0.8, 0.2, 3).numpy(5), [0.8, 0.6, 0.4, 0.2, 0.2])
    assert S.Constant(0.3).numpy(3).tolist() == [0.3] * 3


def one_cycle_reference(i, phases, strategy):
    """The 1cycle rate of step i from explicit (end_step, start, end) phases."""
    start_step = 0.0
    for k, (end_step, lo, hi) in enumerate(phases):
        if i <= end_step or k == len(phases) - 1:
            pct = (i - start_step) / (end_step - start_step)
            if strategy == "cos":
                return hi + (lo - hi) / 2 * (math.cos(math.pi * pct) + 1)
            return lo + (hi - lo) * pct
        start_step = end_step
    raise AssertionError


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_two_phases(strategy):
    # initial = 1/4, final = initial / 10; phases end at 0.4 * 10 - 1 = 3 and 9.
    sched = S.OneCycle(
        1.0, 10, pct_start=0.4, div_factor=4, final_div_factor=10, anneal_strategy=strategy
    )
    phases = [(3.0, 0.25, 1.0), (9.0, 1.0, 0.025)]
    rates = sched.numpy(10)
    assert_exact(rates, [one_cycle_reference(i, phases, strategy) for i in range(10)])
    assert rates[0] == 0.25 and rates[3] == 1.0 and math.isclose(rates[9], 0.025)
    assert_exact(rates[1], 0.4375 if strategy == "cos" else 0.5)
    # Past the last step the final rate stays (PyTorch would raise).
    assert_exact(sched.numpy([10, 11, 1000]), [rates[9]] * 3)


def test_one_cycle_three_phases_linear():
    sched = S.OneCycle(
        1.0,
        10,
        pct_start=0.3,
        div_factor=4,
        final_div_factor=10,
        anneal_strategy="linear",
        three_phase=True,
    )
    expected = [0.25, 0.625, 1.0, 0.625, 0.25, 0.205, 0.16, 0.115, 0.07, 0.025, 0.025]
    assert_exact(sched.numpy(11), expected)


def test_one_cycle_three_phases_cos_returns_to_initial_before_final():
    sched = S.OneCycle(
        2.0, 20, pct_start=0.25, div_factor=10, final_div_factor=100, three_phase=True
    )
    rates = sched.numpy(25)
    assert_exact(rates[[0, 4, 8, 19, 24]], [0.2, 2.0, 0.2, 0.002, 0.002])
    assert np.all(np.diff(rates[:5]) > 0) and np.all(np.diff(rates[4:20]) < 0)


def test_one_cycle_rise_of_zero_steps_starts_at_the_peak():
    # pct_start * T - 1 == 0: PyTorch divides by zero here.
    sched = S.OneCycle(1.0, 2, pct_start=0.5, div_factor=2, final_div_factor=2)
    assert_exact(sched.numpy(3), [1.0, 0.25, 0.25])


def test_table_clamps_past_the_end():
    assert S.Table([3, 2, 1]).numpy([0, 1, 2, 3, 10]).tolist() == [3, 2, 1, 1, 1]
    assert S.Table(np.array([0.5])).numpy(3).tolist() == [0.5] * 3


def test_table_offset_is_the_step_that_reads_the_first_value():
    assert S.Table([3, 2, 1], offset=2).numpy(7).tolist() == [3, 3, 3, 2, 1, 1, 1]


def test_join_each_piece_counts_from_its_own_start():
    sched = S.Join([S.Constant(1.0), S.Linear(0.0, 1.0, 4)], [3])
    assert_exact(sched.numpy(9), [1, 1, 1, 0, 0.25, 0.5, 0.75, 1, 1])
    three = S.Join([S.Constant(1.0), S.Staircase(0.8, 0.5, 2), S.Exponential(0.1, 0.5)], [2, 6])
    assert_exact(three.numpy(9), [1, 1, 0.8, 0.8, 0.4, 0.4, 0.1, 0.05, 0.025])
    assert_exact(S.Join([S.Constant(0.7)], []).numpy(3), [0.7] * 3)


def test_scaled():
    assert_exact(S.Scaled(S.Cyclic(1, 5, 4), 0.5).numpy(9), [0.5, 1, 1.5, 2, 2.5, 2, 1.5, 1, 0.5])
    keras_scaled = S.Scaled(keras.optimizers.schedules.CosineDecay(1.0, 10), 0.5)
    np.testing.assert_allclose(keras_scaled.numpy([0, 5, 10, 20]), [0.5, 0.25, 0, 0], atol=1e-7)


def test_warmup_ramps_then_runs_the_shifted_schedule():
    base = S.Cosine(1.0, 0.0, 4)
    sched = S.warmup(base, 4, start_lr=0.2)
    rates = sched.numpy(10)
    assert_exact(rates[:4], [0.2, 0.4, 0.6, 0.8])
    assert_exact(rates[4:], base.numpy(6))


def test_warmup_targets_the_schedule_first_rate():
    base = S.Cyclic(0.5, 2.0, 3)
    rates = S.warmup(base, 5).numpy(12)
    assert_exact(rates[:5], [0.0, 0.1, 0.2, 0.3, 0.4])
    assert_exact(rates[5:], base.numpy(7))


def test_warmup_of_zero_steps_is_the_schedule():
    base = S.Cosine(1.0, 0.0, 4)
    assert S.warmup(base, 0) is base


def test_evaluate_keras_lr_keras_builtin_float_and_callable():
    sched = S.Cyclic(1, 5, 4)
    assert_exact(S.evaluate(sched, 9), sched.numpy(9))
    cosine = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=10)
    steps = np.arange(13)
    expected = 0.5 * (1 + np.cos(np.pi * np.minimum(steps, 10) / 10))
    got = S.evaluate(cosine, steps)
    assert got.dtype == np.float64 and got.shape == (13,)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert S.evaluate(0.1, 4).tolist() == [0.1] * 4
    assert S.evaluate(0.1, [[1, 2]]).shape == (1, 2)
    halve = lambda step: 0.5 * ops.cast(step, "float32")  # noqa: E731
    assert_exact(S.evaluate(halve, [0, 2, 4]), [0, 1, 2])


@pytest.mark.parametrize(
    "sched, first, last_step, last",
    [
        (S.Cyclic(0.1, 1.0, 5), 0.1, 10, 0.1),
        (S.Cosine(1.0, 0.1, 20), 1.0, 20, 0.1),
        (S.Polynomial(1.0, 20, 3.0, end_lr=0.01), 1.0, 20, 0.01),
        (S.OneCycle(1.0, 20, div_factor=5, final_div_factor=2), 0.2, 19, 0.1),
        (S.CosineRestarts(0.1, 1.0, cycle_length=5, mult_factor=1.0), 1.0, 5, 1.0),
        (S.Linear(0.0, 3.0, 6), 0.0, 6, 3.0),
        (S.Exponential(0.5, 0.5), 0.5, 3, 0.0625),
    ],
    ids=lambda p: type(p).__name__ if isinstance(p, S.Schedule) else None,
)
def test_limits_first_and_last_step(sched, first, last_step, last):
    assert_exact(sched.numpy([0, last_step]), [first, last])


# --------------------------------------------------------------------------
# PyTorch as oracle
# --------------------------------------------------------------------------


def torch_rates(make_scheduler, base_lr, n):
    """param_groups[0]['lr'] at each of n steps of a PyTorch scheduler."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base_lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def assert_same_as_torch(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "total, pct, div, final_div, strategy, three_phase",
    [
        (100, 0.3, 25.0, 1e4, "cos", False),
        (37, 0.25, 10.0, 100.0, "linear", False),
        (50, 0.4, 5.0, 1e3, "cos", True),
        (23, 0.45, 25.0, 1e4, "linear", True),
        (7, 0.1, 25.0, 1e4, "cos", False),  # first phase ends before step 0
        (5, 0.1, 4.0, 10.0, "linear", True),
        (1, 0.3, 25.0, 1e4, "cos", False),
        (3, 0.5, 2.0, 2.0, "cos", False),
    ],
)
def test_one_cycle_matches_torch(total, pct, div, final_div, strategy, three_phase):
    sched = S.OneCycle(1.0, total, pct, div, final_div, strategy, three_phase)
    theirs = torch_rates(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=1.0,
            total_steps=total,
            pct_start=pct,
            div_factor=div,
            final_div_factor=final_div,
            anneal_strategy=strategy,
            three_phase=three_phase,
            cycle_momentum=False,
        ),
        0.1,
        total,
    )
    assert_same_as_torch(sched.numpy(total), theirs)


@pytest.mark.parametrize(
    "base, peak, up, down, mode, gamma",
    [
        (0.1, 1.0, 5, None, "triangular", 1.0),
        (0.01, 0.5, 3, None, "triangular2", 1.0),
        (0.1, 1.0, 4, None, "exp_range", 0.99),
        (0.0, 1.0, 2, 7, "triangular", 1.0),
        (0.2, 0.9, 6, 1, "triangular2", 1.0),
        (0.1, 1.0, 3, 5, "exp_range", 0.95),
        (0.5, 0.5, 1, 1, "triangular", 1.0),
    ],
)
def test_cyclic_matches_torch(base, peak, up, down, mode, gamma):
    sched = S.Cyclic(base, peak, up, mode=mode, gamma=gamma, step_size_down=down)
    theirs = torch_rates(
        lambda opt: torch.optim.lr_scheduler.CyclicLR(
            opt,
            base_lr=base,
            max_lr=peak,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            cycle_momentum=False,
        ),
        base,
        80,
    )
    assert_same_as_torch(sched.numpy(80), theirs)


def test_cyclic_custom_scale_fn_matches_torch():
    for scale_mode, fn in [("cycle", lambda c: 1.0 / c), ("iterations", lambda i: 0.98**i)]:
        sched = S.Cyclic(0.1, 1.0, 3, scale_fn=fn, scale_mode=scale_mode, step_size_down=4)
        theirs = torch_rates(
            lambda opt, fn=fn, scale_mode=scale_mode: torch.optim.lr_scheduler.CyclicLR(
                opt,
                base_lr=0.1,
                max_lr=1.0,
                step_size_up=3,
                step_size_down=4,
                scale_fn=fn,
                scale_mode=scale_mode,
                cycle_momentum=False,
            ),
            0.1,
            50,
        )
        assert_same_as_torch(sched.numpy(50), theirs)


@pytest.mark.parametrize(
    "t0, t_mult, eta_min, base",
    [(5, 1, 0.01, 0.5), (3, 2, 0.0, 1.0), (2, 3, 0.05, 0.3), (1, 2, 0.0, 0.1)],
)
def test_cosine_restarts_matches_torch(t0, t_mult, eta_min, base):
    sched = S.CosineRestarts(eta_min, base, cycle_length=t0, mult_factor=float(t_mult))
    theirs = torch_rates(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=t0, T_mult=t_mult, eta_min=eta_min
        ),
        base,
        100,
    )
    assert_same_as_torch(sched.numpy(100), theirs)


@pytest.mark.parametrize("total, power", [(10, 1.0), (10, 2.0), (17, 0.5), (1, 1.0)])
def test_polynomial_matches_torch(total, power):
    sched = S.Polynomial(0.3, total, power=power)
    theirs = torch_rates(
        lambda opt: torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=total, power=power),
        0.3,
        total + 5,
    )
    assert_same_as_torch(sched.numpy(total + 5), theirs)


@pytest.mark.parametrize("t_max, eta_min", [(10, 0.0), (25, 0.01), (1, 0.001)])
def test_cosine_matches_torch_up_to_t_max(t_max, eta_min):
    sched = S.Cosine(0.2, eta_min, t_max)
    theirs = torch_rates(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min),
        0.2,
        t_max + 1,
    )
    assert_same_as_torch(sched.numpy(t_max + 1), theirs)
    # Unlike PyTorch's (periodic) one, the rate stays at min_lr after T.
    assert_exact(sched.numpy([t_max + 1, 2 * t_max, 3 * t_max + 1]), [eta_min] * 3)


# --------------------------------------------------------------------------
# The float32 keras.ops path agrees with the float64 NumPy path
# --------------------------------------------------------------------------

CHECK_STEPS = [0, 1, 2, 5, 7, 13, 20, 29, 30, 39]


def assert_float32_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=1e-6, atol=1e-7)


def optimizer_rate(sched, step):
    """The rate a Keras optimizer reads at `iterations == step`."""
    opt = keras.optimizers.SGD(learning_rate=sched)
    opt.iterations.assign(step)
    return float(ops.convert_to_numpy(opt.learning_rate))


def compiled(fn):
    """`fn` traced into a graph (TensorFlow, JAX); eager on PyTorch."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_keras_ops_on_an_array_of_steps(name):
    sched = SCHEDULES[name]()
    got = ops.convert_to_numpy(sched(ops.arange(40)))
    assert got.dtype == np.float32
    assert_float32_close(got, sched.numpy(40))


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_keras_ops_on_a_scalar_step(name):
    sched = SCHEDULES[name]()
    got = [float(ops.convert_to_numpy(sched(step))) for step in CHECK_STEPS]
    assert_float32_close(got, sched.numpy(CHECK_STEPS))


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_keras_ops_on_the_optimizer_step(name):
    sched = SCHEDULES[name]()
    got = [optimizer_rate(sched, step) for step in (0, 7, 29)]
    assert_float32_close(got, sched.numpy([0, 7, 29]))


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_keras_ops_compiled(name):
    sched = SCHEDULES[name]()
    fn = compiled(lambda step: sched(step))
    scalar = [float(ops.convert_to_numpy(fn(ops.convert_to_tensor(k)))) for k in (0, 13)]
    assert_float32_close(scalar, sched.numpy([0, 13]))
    assert_float32_close(ops.convert_to_numpy(fn(ops.arange(40))), sched.numpy(40))


def test_keras_ops_floors_float_steps():
    sched = S.Cyclic(1, 5, 4)
    got = ops.convert_to_numpy(sched(ops.convert_to_tensor([0.0, 2.7, 5.2], dtype="float32")))
    assert_float32_close(got, [1.0, 3.0, 4.0])


LARGE = {
    "Cyclic-1e7": (lambda: S.Cyclic(0.1, 1.0, 7), 10_000_000),
    "Cyclic-asymmetric-1e8": (lambda: S.Cyclic(0.1, 1.0, 3, step_size_down=8), 123_456_789),
    "Cyclic-exp_range-1e6": (
        lambda: S.Cyclic(0.1, 1.0, 5, mode="exp_range", gamma=0.999999),
        1_000_000,
    ),
    "CosineRestarts-1e6": (
        lambda: S.CosineRestarts(0.0, 1.0, cycle_length=13, mult_factor=1.0),
        1_000_003,
    ),
    "CosineRestarts-mult2-1e6": (
        lambda: S.CosineRestarts(0.0, 1.0, cycle_length=7, mult_factor=2.0),
        1_835_000,
    ),
    "CosineRestarts-mult1.5-spu-1e6": (
        lambda: S.CosineRestarts(0.0, 1.0, cycle_length=3, mult_factor=1.5, steps_per_unit=97),
        1_000_000,
    ),
    "CosineRestarts-cycle_limit-1e6": (
        lambda: S.CosineRestarts(
            0.1, 1.0, cycle_length=13, mult_factor=1.0, cycle_limit=1_000_000 // 13
        ),
        1_000_000,
    ),
    "Polynomial-cycle-1e6": (lambda: S.Polynomial(1.0, 7, power=2.0, cycle=True), 1_000_003),
    "Exponential-1e6": (lambda: S.Exponential(1.0, 0.999999), 1_000_000),
    "Staircase-1e7": (lambda: S.Staircase(1.0, 0.5, step_size=2_000_000), 10_000_000),
    "Staircase-milestones-1e7": (
        lambda: S.Staircase(1.0, 0.5, milestones=[10**7 - 5, 10**7 - 2, 10**7 + 1, 10**7 + 4]),
        10_000_000,
    ),
    "PerEpoch-Cyclic-1e7": (lambda: S.PerEpoch(S.Cyclic(0.1, 1.0, 3), 2), 10_000_000),
    "OneCycle-1e7": (lambda: S.OneCycle(1.0, 10_000_003), 10_000_000),
}


@pytest.mark.parametrize("name", sorted(LARGE))
def test_keras_ops_precision_at_large_steps(name):
    make, center = LARGE[name]
    sched = make()
    steps = np.arange(center - 8, center + 9, dtype=np.int32)
    expected = sched.numpy(steps)
    # The steps really land on different rates, so a float32 step would show.
    assert len(np.unique(expected)) >= 2
    got = ops.convert_to_numpy(sched(ops.convert_to_tensor(steps)))
    assert_float32_close(got, expected)
    assert_float32_close(
        [float(ops.convert_to_numpy(sched(int(k)))) for k in steps[:4]], expected[:4]
    )
    assert_float32_close([optimizer_rate(sched, int(steps[5]))], expected[5:6])


MAX_STEP = 2**31 - 1  # the last step JAX's int32 step counter reaches
# Every length as long as the constructors accept (one more is refused).
AT_THE_STEP_LIMIT = {
    "Linear": lambda: S.Linear(0.0, 1.0, MAX_STEP),
    "Cosine": lambda: S.Cosine(1.0, 0.0, MAX_STEP),
    "Polynomial": lambda: S.Polynomial(1.0, MAX_STEP, power=2.0),
    "Polynomial-cycle": lambda: S.Polynomial(1.0, 2**30, power=2.0, cycle=True),
    "Staircase": lambda: S.Staircase(1.0, 0.5, step_size=MAX_STEP),
    "Staircase-milestones": lambda: S.Staircase(1.0, 0.5, milestones=[2**30, MAX_STEP]),
    "Cyclic": lambda: S.Cyclic(0.1, 1.0, 2**30 - 1, step_size_down=2**30),
    "CosineRestarts": lambda: S.CosineRestarts(
        0.0, 1.0, cycle_length=MAX_STEP // 7, mult_factor=1.0, steps_per_unit=7
    ),
    "CosineRestarts-mult2": lambda: S.CosineRestarts(
        0.0, 1.0, cycle_length=2**29, mult_factor=2.0, steps_per_unit=3
    ),
    "OneCycle": lambda: S.OneCycle(1.0, MAX_STEP),
    "GeometricCycle": lambda: S.GeometricCycle(1.0, 0.1, MAX_STEP - 1),
    "Table-offset": lambda: S.Table([0.1, 0.2], offset=MAX_STEP - 1),
    "PerEpoch": lambda: S.PerEpoch(S.Linear(0.0, 1.0, 3), MAX_STEP),
    "Join": lambda: S.Join([S.Constant(0.1), S.Constant(0.2)], [MAX_STEP - 1]),
    "warmup": lambda: S.warmup(S.Constant(0.2), MAX_STEP - 1),
}


@pytest.mark.parametrize("name", sorted(AT_THE_STEP_LIMIT))
def test_lengths_at_the_step_limit_run_at_the_optimizer_step(name):
    sched = AT_THE_STEP_LIMIT[name]()
    steps = [0, 2**30, MAX_STEP - 1]
    expected = sched.numpy(steps)
    assert_float32_close([optimizer_rate(sched, k) for k in steps], expected)
    fn = compiled(lambda step: sched(step))
    got = ops.convert_to_numpy(fn(ops.convert_to_tensor(np.array(steps, dtype="int32"))))
    assert_float32_close(got, expected)


def test_cyclic_float64_exact_at_large_steps():
    sched = S.Cyclic(1, 5, 4)
    big = 8 * 10**9  # a multiple of the period: cycle start
    assert sched.numpy([big, big + 2, big + 4, big + 6]).tolist() == [1, 3, 5, 3]


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

rates = st.floats(0.0, 10.0, allow_nan=False)
positive_rates = st.floats(1e-6, 10.0, allow_nan=False)
many_steps = st.lists(st.integers(0, 10**7), min_size=1, max_size=30)


def within(values, low, high):
    eps = 1e-12 * max(1.0, abs(high))
    return bool(np.all((values >= low - eps) & (values <= high + eps)))


@PROPERTIES
@given(
    base=rates,
    span=rates,
    up=st.integers(1, 50),
    down=st.one_of(st.none(), st.integers(1, 50)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.5, 1.0, exclude_min=True),
    steps=many_steps,
)
def test_property_cyclic_within_bounds(base, span, up, down, mode, gamma, steps):
    peak = base + span
    if peak <= 0:
        peak = 1.0
    sched = S.Cyclic(base, peak, up, mode=mode, gamma=gamma, step_size_down=down)
    values = np.concatenate([sched.numpy(3 * (up + (down or up))), sched.numpy(steps)])
    assert within(values, base, peak)
    assert sched.numpy([up])[0] == pytest.approx(
        base + (peak - base) * (gamma**up if mode == "exp_range" else 1.0)
    )


@PROPERTIES
@given(max_lr=positive_rates, frac=st.floats(0.0, 1.0), total=st.integers(1, 500))
def test_property_cosine_monotone_and_bounded(max_lr, frac, total):
    min_lr = max_lr * frac
    values = S.Cosine(max_lr, min_lr, total).numpy(total + 20)
    assert np.all(np.diff(values) <= 1e-15 * max_lr)
    assert within(values, min_lr, max_lr)
    assert values[0] == pytest.approx(max_lr) and values[-1] == pytest.approx(min_lr)


@PROPERTIES
@given(
    initial=positive_rates,
    frac=st.floats(0.0, 1.0),
    total=st.integers(1, 500),
    power=st.floats(0.1, 5.0),
)
def test_property_polynomial_monotone_and_bounded(initial, frac, total, power):
    end_lr = initial * frac
    values = S.Polynomial(initial, total, power, end_lr).numpy(total + 20)
    assert np.all(np.diff(values) <= 1e-15 * initial)
    assert within(values, end_lr, initial)
    assert values[total:] == pytest.approx(end_lr)


@PROPERTIES
@given(
    target=positive_rates,
    frac=st.floats(0.0, 1.0),
    warmup_steps=st.integers(1, 300),
    kind=st.sampled_from(["cosine", "cyclic", "restarts", "one_cycle"]),
)
def test_property_warmup_ramp_monotone_up_to_the_schedule(target, frac, warmup_steps, kind):
    base = {
        "cosine": lambda: S.Cosine(target, 0.0, 50),
        "cyclic": lambda: S.Cyclic(target, 2 * target, 5),
        "restarts": lambda: S.CosineRestarts(0.0, target, cycle_length=4, mult_factor=2.0),
        "one_cycle": lambda: S.OneCycle(25 * target, 50),
    }[kind]()
    start_lr = base.numpy([0])[0] * frac
    values = S.warmup(base, warmup_steps, start_lr).numpy(warmup_steps + 30)
    ramp = values[: warmup_steps + 1]
    assert np.all(np.diff(ramp) >= 0)
    assert ramp[0] == start_lr
    assert ramp[-1] == pytest.approx(base.numpy([0])[0], rel=1e-12)
    np.testing.assert_allclose(values[warmup_steps:], base.numpy(30), rtol=1e-12)


@PROPERTIES
@given(
    max_lr=positive_rates,
    total=st.integers(3, 400),
    peak_frac=st.floats(0.0, 1.0),
    div=st.floats(1.0, 1e3),
    final_div=st.floats(1.0, 1e5),
    strategy=st.sampled_from(["cos", "linear"]),
    three_phase=st.booleans(),
)
def test_property_one_cycle_bounded_and_peaks_at_phase_end(
    max_lr, total, peak_frac, div, final_div, strategy, three_phase
):
    # The rise ends at step e = pct_start * T - 1; pick e a whole step.  (With
    # three phases, e = 0 makes the second phase empty, as in PyTorch.)
    first, last = (1, (total - 1) // 2 - 1) if three_phase else (0, total - 2)
    if last < first:
        return
    peak_step = first + round(peak_frac * (last - first))
    pct = (peak_step + 1) / total
    sched = S.OneCycle(max_lr, total, pct, div, final_div, strategy, three_phase)
    values = sched.numpy(total + 5)
    final = max_lr / div / final_div
    assert within(values, final, max_lr)
    assert values[peak_step] == pytest.approx(max_lr, rel=1e-9)
    assert values[-1] == pytest.approx(final, rel=1e-9)


@PROPERTIES
@given(
    max_lr=positive_rates,
    frac=st.floats(0.0, 1.0),
    cycle_length=st.integers(1, 30),
    mult_factor=st.one_of(st.just(1.0), st.floats(1.05, 3.0)),
    steps_per_unit=st.integers(1, 5),
    steps=many_steps,
)
def test_property_cosine_restarts_within_bounds(
    max_lr, frac, cycle_length, mult_factor, steps_per_unit, steps
):
    min_lr = max_lr * frac
    sched = S.CosineRestarts(
        min_lr,
        max_lr,
        cycle_length=cycle_length,
        mult_factor=mult_factor,
        lr_decay=1.0,
        steps_per_unit=steps_per_unit,
    )
    values = np.concatenate([sched.numpy(300), sched.numpy(steps)])
    assert within(values, min_lr, max_lr)
    first = cycle_length * steps_per_unit
    if first < 300 and max_lr - min_lr > 1e-6 * max_lr:
        assert restarts(sched.numpy(300))[:2] == [0, first]


@PROPERTIES
@given(
    max_lr=positive_rates,
    min_frac=st.floats(0.0, 1.0),
    lr_decay=st.floats(0.1, 1.0),
    cycle_length=st.integers(1, 10),
)
def test_property_cosine_restarts_peaks_decay(max_lr, min_frac, lr_decay, cycle_length):
    min_lr = max_lr * min_frac
    sched = S.CosineRestarts(
        min_lr, max_lr, cycle_length=cycle_length, mult_factor=2.0, lr_decay=lr_decay
    )
    starts = np.cumsum([0] + [cycle_length * 2**k for k in range(5)])
    np.testing.assert_allclose(
        sched.numpy(starts), max_lr * lr_decay ** np.arange(6), rtol=1e-12, atol=1e-14 * max_lr
    )
    values = sched.numpy(int(starts[-1]))
    assert within(values, min(min_lr, max_lr * lr_decay**4), max_lr)


# --------------------------------------------------------------------------
# Serialization
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_from_config_rebuilds_equal_rates(name):
    sched = SCHEDULES[name]()
    rebuilt = type(sched).from_config(sched.get_config())
    assert type(rebuilt) is type(sched)
    np.testing.assert_array_equal(rebuilt.numpy(60), sched.numpy(60))
    assert rebuilt.get_config() == sched.get_config()


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_keras_serialization_round_trip_through_json(name):
    sched = SCHEDULES[name]()
    config = keras.saving.serialize_keras_object(sched)
    assert config["registered_name"] == f"keras_lr>{type(sched).__name__}"
    text = json.dumps(config)
    rebuilt = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(rebuilt) is type(sched)
    np.testing.assert_array_equal(rebuilt.numpy(60), sched.numpy(60))


def test_nested_serialization_keeps_the_inner_schedules():
    sched = S.Join(
        [
            S.Linear(0.0, 1.0, 3),
            S.PerEpoch(S.Staircase(1.0, 0.5, milestones=[2, 4]), 2),
            S.Scaled(keras.optimizers.schedules.CosineDecay(1.0, 10, alpha=0.1), 0.5),
        ],
        [3, 11],
    )
    rebuilt = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(sched)))
    )
    np.testing.assert_array_equal(rebuilt.numpy(30), sched.numpy(30))
    inner = rebuilt.schedules[2].schedule
    assert isinstance(inner, keras.optimizers.schedules.CosineDecay)
    assert inner.get_config()["alpha"] == 0.1
    assert rebuilt.schedules[1].schedule.milestones == [2, 4]
    assert rebuilt == sched


def test_schedule_installed_in_an_optimizer_round_trips():
    sched = S.Cyclic(0.1, 1.0, 3, step_size_down=4)
    opt = keras.optimizers.SGD(learning_rate=sched)
    rebuilt = keras.optimizers.SGD.from_config(json.loads(json.dumps(opt.get_config())))
    assert rebuilt._learning_rate == sched
    for step in (0, 5, 9):
        rebuilt.iterations.assign(step)
        assert float(ops.convert_to_numpy(rebuilt.learning_rate)) == pytest.approx(
            sched.numpy([step])[0], rel=1e-6
        )


# --------------------------------------------------------------------------
# numpy() input handling
# --------------------------------------------------------------------------


def test_numpy_accepts_counts_lists_arrays_and_whole_floats():
    sched = S.Cyclic(1, 5, 4)
    assert sched.numpy(3).tolist() == [1, 2, 3]
    assert sched.numpy(np.int64(3)).tolist() == [1, 2, 3]
    assert sched.numpy(0).shape == (0,)
    assert sched.numpy([5, 0]).tolist() == [4, 1]
    assert sched.numpy(range(2, 4)).tolist() == [3, 4]
    assert sched.numpy(np.array([[0, 4], [8, 12]], dtype=np.uint16)).tolist() == [[1, 5], [1, 5]]
    assert sched.numpy(np.array([2.0, 4.0])).tolist() == [3, 5]
    assert sched.numpy([]).shape == (0,)
    out = sched.numpy(3)
    assert out.dtype == np.float64 and out.flags.writeable


@pytest.mark.parametrize("name", SCHEDULE_IDS)
def test_numpy_zero_dim_step_is_one_step(name):
    sched = SCHEDULES[name]()
    got = sched.numpy(np.array(7))
    assert got.shape == ()
    assert float(got) == sched.numpy([7])[0]


@pytest.mark.parametrize(
    "steps, error",
    [
        (-1, ValueError),
        ([0, -1], ValueError),
        (np.array([-3]), ValueError),
        ([0.5], ValueError),
        (np.array([1.0, np.nan]), ValueError),
        ([np.inf], ValueError),
        (2.5, ValueError),
        ("3", TypeError),
        (["a", "b"], TypeError),
        (None, TypeError),
        (True, TypeError),
        ([True, False], TypeError),
        ([1 + 2j], TypeError),
    ],
    ids=repr,
)
def test_numpy_rejects_bad_steps(steps, error):
    with pytest.raises(error, match=r"`steps`"):
        S.Cyclic(1, 5, 4).numpy(steps)
    with pytest.raises(error, match=r"`steps`"):
        S.evaluate(keras.optimizers.schedules.CosineDecay(1.0, 10), steps)


def test_geometric_cycle_is_garipovs_formula():
    # Garipov et al. 2018, eq. (2): t(i) = (mod(i - 1, c) + 1) / c for 1-based i.
    high, low, c = 0.05, 0.0005, 6
    expected = []
    for i in range(1, 19):
        t = (((i - 1) % c) + 1) / c
        if t <= 0.5:
            expected.append((1 - 2 * t) * high + 2 * t * low)
        else:
            expected.append((2 - 2 * t) * low + (2 * t - 1) * high)
    np.testing.assert_allclose(S.GeometricCycle(high, low, c).numpy(18), expected, rtol=1e-12)
    # The low point, where FGE saves a model, is the cycle's middle step.
    assert S.GeometricCycle(1.0, 0.2, 8).numpy([3, 11]).tolist() == [0.2, 0.2]
