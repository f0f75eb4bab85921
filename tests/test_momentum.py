"""Momentum cycling, measured as the momentum the optimizer really applied in `fit`.

The reference is PyTorch itself: `torch.optim.lr_scheduler.CyclicLR` and
`OneCycleLR` with `cycle_momentum=True` drive a torch optimizer, and the
momentum (SGD) or beta_1 (Adam) that each `optimizer.step()` uses is read off
its param group just before that step.

The measurement is the rate probe's (conftest `RateProbe`): one zero weight
per step, step k feeds the one-hot row e_k, the loss is the prediction, so
weight k gets the gradient 1 at step k and 0 at every other step.  No
per-batch hook is needed, so it holds under `steps_per_execution > 1`:

- SGD (Keras: v <- m v - lr g, w <- w + v).  Weight k's velocity is -lr_k at
  step k and is multiplied by m_t at every later step t, so after step n-1
  its weight is -lr_k S_k with S_k = 1 + m_{k+1} S_{k+1}, S_{n-1} = 1, and
  m_{k+1} = (S_k - 1) / S_{k+1}: the momentum of every step but the first
  (step 0 multiplies a zero velocity, in Keras and PyTorch alike).  lr_k is
  the float32 rate the step applied, measured by a twin run of the same
  schedule on plain SGD (`applied_rates`): dividing by the float64 formula
  instead would turn the rate's own float32 rounding (1e-8 absolute, 1e-3
  relative on one-cycle's final 2e-6) into a momentum error.
- Adam and the other beta_1 optimizers (m <- m + (1 - b)(g - m)).  Weight k's
  first moment is (1 - b_k) b_{k+1} ... b_{n-1}, so the first-moment vector
  gives every b_k, step 0 included, from the last step back.  It is also
  compared with PyTorch's own `exp_avg` on the same problem.

`test_per_batch_weight_changes_give_the_same_momentum` checks the decoding
independently: one weight, a constant gradient 1, read after every batch;
then m_t = (d_t + lr_t) / d_{t-1} for the weight changes d_t.
"""

from __future__ import annotations

import functools
import math
import warnings

import conftest
import keras
import numpy as np
import pytest
import torch
from conftest import (
    MULTI_STEP_EXECUTION,
    RateProbe,
    StopAfterEpoch,
    assert_rates,
    prediction_loss,
)
from test_reliability import RaiseAt

import keras_lr

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

SPE = 4  # steps per epoch
EPOCHS = 6
TOTAL = SPE * EPOCHS
EXECUTIONS = [1, 4] if MULTI_STEP_EXECUTION else [1]
# float32 weights over ~25 steps: the decoded momentum is good to a few 1e-7.
RTOL = 1e-5
# The preview and history are float64 formulas, PyTorch's too.
EXACT = 1e-9
F32_ATOL = 1.5e-7
HAS_MULTI_OPTIMIZER = hasattr(keras.optimizers, "MultiOptimizer")


# -- PyTorch's sequences ------------------------------------------------------------

T = torch.optim.lr_scheduler

# name -> (keras_lr callback, the same schedule in PyTorch).  Where keras_lr's
# default is to cycle (OneCycleLR, cycle_momentum=None) the case leaves it so.
CASES = {
    "cyclic_triangular": (
        lambda: keras_lr.CyclicLR(0.1, 0.5, step_size=3, cycle_momentum=True),
        lambda opt: T.CyclicLR(opt, 0.1, 0.5, step_size_up=3),
    ),
    "cyclic_triangular2_asymmetric": (
        lambda: keras_lr.CyclicLR(
            0.05,
            0.4,
            step_size=2,
            mode="triangular2",
            step_size_down=4,
            cycle_momentum=True,
            base_momentum=0.85,
            max_momentum=0.95,
        ),
        lambda opt: T.CyclicLR(
            opt,
            0.05,
            0.4,
            step_size_up=2,
            step_size_down=4,
            mode="triangular2",
            base_momentum=0.85,
            max_momentum=0.95,
        ),
    ),
    "cyclic_exp_range": (
        lambda: keras_lr.CyclicLR(
            0.1,
            0.5,
            3,
            mode="exp_range",
            gamma=0.95,
            cycle_momentum=True,
            base_momentum=0.7,
            max_momentum=0.9,
        ),
        lambda opt: T.CyclicLR(
            opt, 0.1, 0.5, step_size_up=3, mode="exp_range", gamma=0.95, base_momentum=0.7
        ),
    ),
    "one_cycle_cos": (
        lambda: keras_lr.OneCycleLR(0.5, total_steps=TOTAL, cycle_momentum=True),
        lambda opt: T.OneCycleLR(opt, 0.5, total_steps=TOTAL),
    ),
    "one_cycle_linear_default": (
        lambda: keras_lr.OneCycleLR(
            0.5, pct_start=0.25, anneal_strategy="linear", base_momentum=0.8, max_momentum=0.9
        ),
        lambda opt: T.OneCycleLR(
            opt,
            0.5,
            total_steps=TOTAL,
            pct_start=0.25,
            anneal_strategy="linear",
            base_momentum=0.8,
            max_momentum=0.9,
        ),
    ),
    "one_cycle_3phase_cos": (
        lambda: keras_lr.OneCycleLR(
            0.5, total_steps=TOTAL, pct_start=0.25, three_phase=True, cycle_momentum=True
        ),
        lambda opt: T.OneCycleLR(opt, 0.5, total_steps=TOTAL, pct_start=0.25, three_phase=True),
    ),
    "one_cycle_3phase_linear": (
        lambda: keras_lr.OneCycleLR(
            0.4,
            total_steps=TOTAL,
            pct_start=0.3,
            div_factor=10.0,
            final_div_factor=100.0,
            anneal_strategy="linear",
            three_phase=True,
            cycle_momentum=True,
            base_momentum=0.75,
            max_momentum=0.92,
        ),
        lambda opt: T.OneCycleLR(
            opt,
            0.4,
            total_steps=TOTAL,
            pct_start=0.3,
            div_factor=10.0,
            final_div_factor=100.0,
            anneal_strategy="linear",
            three_phase=True,
            base_momentum=0.75,
            max_momentum=0.92,
        ),
    ),
}


def torch_run(case, n=TOTAL, adam=False):
    """PyTorch's rates and momentums (or beta_1) of `n` optimizer steps, as each
    `optimizer.step()` used them, and (Adam) its first moment after the steps
    on the probe's problem: step k's gradient is e_k.

    `case` names a scheduler of `CASES`, or is a function optimizer -> scheduler.
    """
    param = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    if adam:
        opt = torch.optim.Adam([param], lr=0.1)
    else:
        opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = CASES[case][1](opt) if isinstance(case, str) else case(opt)
    rates, momentums = [], []
    for k in range(n):
        group = opt.param_groups[0]
        rates.append(group["lr"])
        momentums.append(group["betas"][0] if adam else group["momentum"])
        param.grad = torch.nn.functional.one_hot(torch.tensor(k), n).to(torch.float64)
        opt.step()
        scheduler.step()
    first_moment = opt.state[param]["exp_avg"].numpy().copy() if adam else None
    return np.array(rates), np.array(momentums), first_moment


# -- measuring what fit applied --------------------------------------------------------


def probe_weights(model, layer="probe"):
    """-kernel, float64: what the probe's weights moved by."""
    kernel = keras.ops.convert_to_numpy(model.get_layer(layer).kernel)
    return -np.asarray(kernel, dtype=np.float64)[:, 0]


def sgd_momentums(weights, own_steps):
    """The momentum applied at steps 1..n-1, from the probe's weights after step n-1.

    `own_steps[k]` is what step k alone moved weight k by (its rate, for SGD).
    """
    s = np.asarray(weights, np.float64) / np.asarray(own_steps, np.float64)
    # The last step's weight holds its own step only.
    np.testing.assert_allclose(s[-1], 1.0, rtol=RTOL)
    return (s[:-1] - 1.0) / s[1:]


def not_cycling(make):
    """`make()`'s callback with the same arguments, but cycle_momentum=False."""
    cb = make()
    return type(cb).from_config({**cb.get_config(), "cycle_momentum": False})


def applied_rates(make, epochs=EPOCHS, optimizer=None, steps_per_epoch=SPE):
    """The float32 rates `make()`'s schedule applies, step by step, measured on
    a twin probe with a momentum-free optimizer (plain SGD by default)."""
    n = epochs * steps_per_epoch
    probe = RateProbe(n, optimizer=optimizer or keras.optimizers.SGD(0.5))
    probe.fit([not_cycling(make)], epochs=epochs, steps_per_epoch=steps_per_epoch)
    return probe.rates()


@functools.cache
def case_rates(case):
    """`applied_rates` of a case of `CASES`, measured once: the rates do not
    depend on `steps_per_execution` (tests/test_fit.py)."""
    rates = applied_rates(CASES[case][0])
    rates.flags.writeable = False
    return rates


def first_moment(optimizer, n):
    """The first-moment ("momentum") variable of the probe kernel, flat."""
    found = [
        v for v in optimizer.variables if v.name.endswith("momentum") and tuple(v.shape) == (n, 1)
    ]
    assert len(found) == 1, [v.name for v in optimizer.variables]
    return np.asarray(keras.ops.convert_to_numpy(found[0]), np.float64)[:, 0]


def adam_betas(moment):
    """b_0..b_{n-1} from the first moments (1 - b_k) b_{k+1} ... b_{n-1}."""
    betas = np.empty(len(moment))
    tail = 1.0
    for k in reversed(range(len(moment))):
        betas[k] = 1.0 - moment[k] / tail
        tail *= betas[k]
    return betas


def plain_class(name):
    """The class `keras.optimizers.<name>()` really has (a backend's own on torch)."""
    return type(getattr(keras.optimizers, name)())


def kernel_shaped_momentum_variables(optimizer, n):
    return [
        v.name for v in optimizer.variables if "momentum" in v.name and tuple(v.shape) == (n, 1)
    ]


def fit_on_rows(model, callbacks, epochs, start, initial_epoch=0, **kwargs):
    """`fit` on the probe rows from step `start` on, SPE steps per epoch."""
    return conftest.fit_on_rows(model, callbacks, epochs, start, SPE, initial_epoch, **kwargs)


def steps_of(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def sgd(momentum=0.9, **kwargs):
    return keras.optimizers.SGD(0.5, momentum=momentum, **kwargs)


def assert_momentum_column(callback, expected):
    np.testing.assert_allclose(callback.history["momentum"].to_numpy(), expected, rtol=EXACT)


# RMSprop's step k moves weight k by lr_k / sqrt((1 - rho) g^2 + eps) with g = 1.
RMS_SCALE = 1.0 / np.sqrt(np.float32(1 - 0.9) + 1e-7)


# -- 1. PyTorch's momentum, applied --------------------------------------------------


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_applied_sgd_momentum_is_pytorchs(case, execution):
    make = CASES[case][0]
    rates, momentums, _ = torch_run(case)
    assert np.ptp(momentums) > 0.05  # the momentum really cycles inside the run
    applied = case_rates(case)
    assert_rates(applied, rates, atol=F32_ATOL)
    probe = RateProbe(TOTAL, steps_per_execution=execution, optimizer=sgd())
    cb = make()
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps_of(probe.model) == TOTAL
    np.testing.assert_allclose(sgd_momentums(probe.rates(), applied), momentums[1:], rtol=RTOL)
    assert_momentum_column(cb, momentums)
    np.testing.assert_allclose(
        cb.momentums(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS), momentums, rtol=EXACT
    )
    assert_rates(cb.history["lr"].to_numpy(), rates)


def test_per_batch_weight_changes_give_the_same_momentum():
    """The direct measurement: one weight, gradient 1 at every step, read after each batch.

    d_t = m_t d_{t-1} - lr_t, and the rate enters only as a term of the size of
    the (larger) velocity, so PyTorch's float64 rates do.
    """

    class Kernels(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.values = [0.0]

        def on_train_batch_end(self, batch, logs=None):
            kernel = self.model.get_layer("w").kernel
            self.values.append(float(keras.ops.convert_to_numpy(kernel)[0, 0]))

    case = "one_cycle_3phase_cos"
    rates, momentums, _ = torch_run(case)
    inputs = keras.Input((1,))
    model = keras.Model(
        inputs,
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="w")(inputs),
    )
    model.compile(optimizer=sgd(), loss=prediction_loss)
    kernels = Kernels()
    x, y = np.ones((SPE, 1), "float32"), np.zeros((SPE, 1), "float32")
    model.fit(
        x,
        y,
        batch_size=1,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[CASES[case][0](), kernels],
    )
    d = np.diff(np.asarray(kernels.values, np.float64))
    assert len(d) == TOTAL
    np.testing.assert_allclose(-d[0], rates[0], rtol=RTOL)
    np.testing.assert_allclose((d[1:] + rates[1:]) / d[:-1], momentums[1:], rtol=RTOL)


# Adam's family: (optimizer, case).  Lion's beta_1 only shapes the sign of its
# update, which this probe cannot read; test_lion_is_cycled_and_given_back drives it.
# Every other one with steps_per_execution=4, where the backend has it.
BETA_CASES = [
    ("Adam", "one_cycle_linear_default", 1),
    ("Adam", "cyclic_triangular", EXECUTIONS[-1]),
    ("AdamW", "one_cycle_3phase_linear", 1),
    ("Nadam", "one_cycle_cos", EXECUTIONS[-1]),
    ("Adamax", "cyclic_exp_range", 1),
    ("Lamb", "one_cycle_3phase_cos", EXECUTIONS[-1]),
]


@pytest.mark.parametrize("name, case, execution", BETA_CASES)
def test_applied_beta_1_is_pytorchs(name, case, execution):
    _, betas, torch_moment = torch_run(case, adam=True)
    assert np.ptp(betas) > 0.05
    cls = getattr(keras.optimizers, name)
    probe = RateProbe(TOTAL, steps_per_execution=execution, optimizer=cls(learning_rate=0.1))
    cb = CASES[case][0]()
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    moment = first_moment(probe.model.optimizer, TOTAL)
    # PyTorch's Adam on the same gradients holds the same first moment.
    np.testing.assert_allclose(moment, torch_moment, rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(adam_betas(moment), betas, rtol=RTOL)
    assert_momentum_column(cb, betas)
    opt = probe.model.optimizer
    assert type(opt) is plain_class(name)
    assert type(opt.beta_1) is float
    assert math.isclose(opt.beta_1, betas[-1], rel_tol=1e-6)


def test_lion_is_cycled_and_given_back():
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.Lion(learning_rate=0.01))
    cb = keras_lr.OneCycleLR(0.01)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    _, betas, _ = torch_run("one_cycle_cos", adam=True)
    assert_momentum_column(cb, betas)
    opt = probe.model.optimizer
    assert type(opt) is plain_class("Lion")
    assert type(opt.beta_1) is float and math.isclose(opt.beta_1, betas[-1], rel_tol=1e-6)


# -- 2. defaults and refusals --------------------------------------------------------------


def test_cyclic_lr_leaves_the_momentum_alone_by_default():
    def make():
        return keras_lr.CyclicLR(0.1, 0.5, step_size=3)

    probe = RateProbe(TOTAL, optimizer=sgd(0.9))
    cb = make()
    assert cb.cycle_momentum is False
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    applied = sgd_momentums(probe.rates(), applied_rates(make))
    np.testing.assert_allclose(applied, np.full(TOTAL - 1, 0.9), rtol=RTOL)
    assert_momentum_column(cb, np.full(TOTAL, 0.9))
    with pytest.raises(ValueError, match="cycle_momentum"):
        cb.momentums(TOTAL)
    assert type(probe.model.optimizer) is plain_class("SGD")
    assert probe.model.optimizer.momentum == 0.9


def test_one_cycle_leaves_sgd_without_momentum_alone():
    rates, _, _ = torch_run("one_cycle_cos")
    probe = RateProbe(TOTAL, optimizer=sgd(0.0))
    cb = keras_lr.OneCycleLR(0.5)
    assert cb.cycle_momentum is None
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    # Plain SGD: weight k moved by exactly lr_k, no velocity carried.
    assert_rates(probe.rates(), rates, atol=F32_ATOL)
    opt = probe.model.optimizer
    assert kernel_shaped_momentum_variables(opt, TOTAL) == []
    assert type(opt) is plain_class("SGD") and opt.momentum == 0.0
    assert_momentum_column(cb, np.zeros(TOTAL))


def test_one_cycle_cycles_rmsprop_momentum_when_in_use():
    def make():
        return keras_lr.OneCycleLR(0.5)

    _, momentums, _ = torch_run("one_cycle_cos")
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.RMSprop(0.5, momentum=0.9))
    probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE)
    own = applied_rates(make, optimizer=keras.optimizers.RMSprop(0.5))
    np.testing.assert_allclose(sgd_momentums(probe.rates(), own), momentums[1:], rtol=RTOL)
    opt = probe.model.optimizer
    assert type(opt) is plain_class("RMSprop")
    assert type(opt.momentum) is float and math.isclose(opt.momentum, momentums[-1], rel_tol=1e-6)


def test_one_cycle_leaves_rmsprop_without_momentum_alone():
    rates, _, _ = torch_run("one_cycle_cos")
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.RMSprop(0.5))
    cb = keras_lr.OneCycleLR(0.5)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    np.testing.assert_allclose(probe.rates(), rates * RMS_SCALE, rtol=RTOL, atol=F32_ATOL * 4)
    opt = probe.model.optimizer
    assert kernel_shaped_momentum_variables(opt, TOTAL) == []
    assert type(opt) is plain_class("RMSprop") and opt.momentum == 0.0


def test_one_cycle_trains_an_optimizer_without_momentum_at_its_rates():
    probe = RateProbe(TOTAL, optimizer=keras.optimizers.Adagrad(0.5))
    cb = keras_lr.OneCycleLR(0.5)
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps_of(probe.model) == TOTAL
    assert type(probe.model.optimizer) is plain_class("Adagrad")
    rates, _, _ = torch_run("one_cycle_cos")
    assert_rates(cb.history["lr"].to_numpy(), rates)


REFUSED = {
    "SGD(momentum=0)": lambda: sgd(0.0),
    "RMSprop(momentum=0)": lambda: keras.optimizers.RMSprop(0.5),
    "Adagrad": lambda: keras.optimizers.Adagrad(0.5),
}
CYCLING = {
    "CyclicLR": lambda: keras_lr.CyclicLR(0.1, 0.5, 3, cycle_momentum=True),
    "OneCycleLR": lambda: keras_lr.OneCycleLR(0.5, cycle_momentum=True),
}


@pytest.mark.parametrize("callback", sorted(CYCLING))
@pytest.mark.parametrize("optimizer", sorted(REFUSED))
def test_cycle_momentum_true_without_a_momentum_is_refused_before_training(optimizer, callback):
    opt = REFUSED[optimizer]()
    cls = type(opt)
    probe = RateProbe(TOTAL, optimizer=opt)
    with pytest.raises(ValueError, match="`?cycle_momentum`?"):
        probe.fit([CYCLING[callback]()], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps_of(probe.model) == 0
    assert not np.any(probe.rates())
    assert type(probe.model.optimizer) is cls
    # The optimizer is whole: a plain fit afterwards trains.
    probe.fit([], epochs=1, steps_per_epoch=SPE)
    assert steps_of(probe.model) == SPE


# -- 3. after fit: a plain Keras optimizer at the last momentum ----------------------------


def test_after_fit_the_optimizer_is_plain_sgd_holding_the_last_momentum():
    make = CASES["one_cycle_cos"][0]
    _, momentums, _ = torch_run("one_cycle_cos")
    later = 2 * SPE
    probe = RateProbe(TOTAL + later, optimizer=sgd())
    probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE)
    opt = probe.model.optimizer
    assert type(opt) is plain_class("SGD")
    assert type(opt.momentum) is float
    assert math.isclose(opt.momentum, momentums[-1], rel_tol=1e-6)
    config = opt.get_config()
    assert type(config["momentum"]) is float and config["momentum"] == opt.momentum
    assert keras.optimizers.SGD.from_config(config).momentum == opt.momentum
    # A later fit without the callback: the last rate and the last momentum, constant.
    probe.fit([], epochs=2, steps_per_epoch=SPE)
    rates = case_rates("one_cycle_cos")
    own = np.concatenate([rates, np.full(later, rates[-1])])
    expected = np.concatenate([momentums[1:], np.full(later, momentums[-1])])
    np.testing.assert_allclose(sgd_momentums(probe.rates(), own), expected, rtol=RTOL)


# -- 4. gradient accumulation, save and load, BackupAndRestore ------------------------------


def test_gradient_accumulation_applies_the_momentum_of_each_update():
    n, updates = 2, TOTAL // 2

    def make():
        return keras_lr.OneCycleLR(0.5, cycle_momentum=True)

    probe = RateProbe(TOTAL, optimizer=sgd(gradient_accumulation_steps=n))
    cb = make()
    probe.fit([cb], epochs=3, steps_per_epoch=SPE * n)  # 4 updates of 2 batches per epoch
    assert steps_of(probe.model) == updates
    _, momentums, _ = torch_run(lambda opt: T.OneCycleLR(opt, 0.5, total_steps=updates), updates)
    # Both batches of an update moved their weights alike, by lr(update) / n.
    per_batch = probe.rates().reshape(-1, n)
    np.testing.assert_allclose(per_batch[:, 1], per_batch[:, 0], rtol=1e-6)
    plain = keras.optimizers.SGD(0.5, gradient_accumulation_steps=n)
    own = applied_rates(make, epochs=3, optimizer=plain, steps_per_epoch=SPE * n)
    own = own.reshape(-1, n)[:, 0]
    np.testing.assert_allclose(sgd_momentums(per_batch[:, 0], own), momentums[1:], rtol=RTOL)
    assert cb.history["step"].tolist() == list(range(updates))
    assert_momentum_column(cb, momentums)


def test_resume_after_save_and_load_model_continues_the_momentum(tmp_path):
    case = "one_cycle_3phase_cos"
    make = CASES[case][0]
    _, momentums, _ = torch_run(case)
    probe = RateProbe(TOTAL, optimizer=sgd())
    probe.fit([make(), StopAfterEpoch(3)], epochs=EPOCHS, steps_per_epoch=SPE)
    assert steps_of(probe.model) == 3 * SPE
    path = tmp_path / "m.keras"
    probe.model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)] == []
    assert type(loaded.optimizer) is plain_class("SGD")
    assert math.isclose(loaded.optimizer.momentum, momentums[3 * SPE - 1], rel_tol=1e-6)
    cb = make()
    fit_on_rows(loaded, [cb], epochs=EPOCHS, start=3 * SPE, initial_epoch=3)
    assert steps_of(loaded) == TOTAL
    applied = sgd_momentums(probe_weights(loaded), case_rates(case))
    np.testing.assert_allclose(applied, momentums[1:], rtol=RTOL)
    assert cb.history["step"].tolist() == list(range(3 * SPE, TOTAL))
    assert_momentum_column(cb, momentums[3 * SPE :])


@pytest.mark.parametrize("order", ["backup_first", "backup_last"])
def test_backup_and_restore_mid_epoch_continues_the_momentum(order, tmp_path):
    """Backed up after every batch, crashed at batch 1 of epoch 2: Keras redoes
    epoch 2 from its first batch with the optimizer at step 10, so the resumed
    run ends at step 26; every step trains at PyTorch's momentum of that step."""
    make = CASES["cyclic_triangular"][0]
    steps = TOTAL + 2
    _, momentums, _ = torch_run("cyclic_triangular", n=steps)
    backup_dir = str(tmp_path / "backup")

    def callbacks():
        backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=1)
        return [backup, make()] if order == "backup_first" else [make(), backup]

    crashed = RateProbe(TOTAL + SPE, optimizer=sgd())
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_on_rows(crashed.model, callbacks() + [RaiseAt(2, 1)], epochs=EPOCHS, start=0)
    resumed = RateProbe(TOTAL + SPE, optimizer=sgd())
    fit_on_rows(resumed.model, callbacks(), epochs=EPOCHS, start=2 * SPE + 2)
    assert steps_of(resumed.model) == steps
    own = applied_rates(make, epochs=EPOCHS + 1)[:steps]  # CLR: the same at any fit length
    applied = sgd_momentums(probe_weights(resumed.model)[:steps], own)
    np.testing.assert_allclose(applied, momentums[1:], rtol=RTOL)
    assert type(resumed.model.optimizer) is plain_class("SGD")
    assert math.isclose(resumed.model.optimizer.momentum, momentums[-1], rel_tol=1e-6)


# -- 5. history, preview, warm-up -------------------------------------------------------------

WARMUP = 4


@pytest.mark.parametrize(
    "make, torch_case, start",
    [
        (
            lambda: keras_lr.OneCycleLR(
                0.5,
                total_steps=TOTAL - WARMUP,
                cycle_momentum=True,
                warmup_steps=WARMUP,
                warmup_start_lr=0.01,
            ),
            lambda opt: T.OneCycleLR(opt, 0.5, total_steps=TOTAL - WARMUP),
            0.95,
        ),
        (
            lambda: keras_lr.CyclicLR(
                0.1,
                0.5,
                step_size=3,
                cycle_momentum=True,
                warmup_steps=WARMUP,
                warmup_start_lr=0.01,
            ),
            "cyclic_triangular",
            0.9,
        ),
    ],
    ids=["OneCycleLR", "CyclicLR"],
)
def test_warmup_holds_the_start_momentum_then_the_cycle_starts(make, torch_case, start):
    # PyTorch's schedule over the steps after the warm-up.
    torch_rates, torch_momentums, _ = torch_run(torch_case, n=TOTAL - WARMUP)
    expected = np.concatenate([np.full(WARMUP, start), torch_momentums])
    cb = make()
    np.testing.assert_allclose(
        cb.momentums(TOTAL, steps_per_epoch=SPE, epochs=EPOCHS), expected, rtol=EXACT
    )
    probe = RateProbe(TOTAL, optimizer=sgd())
    probe.fit([cb], epochs=EPOCHS, steps_per_epoch=SPE)
    rates = applied_rates(make)
    assert_rates(rates[WARMUP:], torch_rates, atol=F32_ATOL)
    np.testing.assert_allclose(sgd_momentums(probe.rates(), rates), expected[1:], rtol=RTOL)
    assert_momentum_column(cb, expected)


# -- 6. MultiOptimizer and LossScaleOptimizer ---------------------------------------------------


@pytest.mark.skipif(not HAS_MULTI_OPTIMIZER, reason="MultiOptimizer: Keras 3.15+")
@pytest.mark.parametrize("second, selector", [("SGD", "callable"), ("Adam", "OptimizerMap")])
def test_every_sub_optimizer_of_a_multi_optimizer_cycles(second, selector):
    """Both ways Keras maps variables to sub-optimizers: a callable (whose
    sub-optimizers Keras only knows once it builds the optimizer) and a map."""
    case = "one_cycle_cos"
    make = CASES[case][0]
    _, momentums, _ = torch_run(case)
    _, betas, _ = torch_run(case, adam=True)
    inputs = keras.Input((TOTAL,))
    heads = [
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name=name)(inputs)
        for name in ("a", "b")
    ]
    model = keras.Model(inputs, keras.layers.Add()(heads))
    first = sgd()
    other = sgd() if second == "SGD" else keras.optimizers.Adam(0.5)
    if selector == "callable":
        optimizer = keras.optimizers.MultiOptimizer(
            lambda variable: first if variable.path.startswith("a/") else other
        )
    else:
        optimizer = keras.optimizers.MultiOptimizer(
            keras.optimizers.OptimizerMap(other, {"a/.*": first})
        )
    model.compile(optimizer=optimizer, loss=prediction_loss)
    cb = make()
    fit_on_rows(model, [cb], epochs=EPOCHS, start=0)
    rates = case_rates(case)
    np.testing.assert_allclose(
        sgd_momentums(probe_weights(model, "a"), rates), momentums[1:], rtol=RTOL
    )
    if second == "SGD":
        np.testing.assert_allclose(
            sgd_momentums(probe_weights(model, "b"), rates), momentums[1:], rtol=RTOL
        )
        assert type(other) is plain_class("SGD") and type(other.momentum) is float
    else:
        np.testing.assert_allclose(adam_betas(first_moment(other, TOTAL)), betas, rtol=RTOL)
        assert type(other) is plain_class("Adam") and type(other.beta_1) is float
    assert type(first) is plain_class("SGD") and type(first.momentum) is float
    assert_momentum_column(cb, momentums)  # the first sub-optimizer's


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_loss_scale_optimizer_cycles_its_inner_sgd(policy):
    make = CASES["one_cycle_linear_default"][0]
    _, momentums, _ = torch_run("one_cycle_linear_default")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        probe = RateProbe(TOTAL, optimizer=keras.optimizers.LossScaleOptimizer(sgd()))
    finally:
        keras.config.set_dtype_policy(previous)
    probe.fit([make()], epochs=EPOCHS, steps_per_epoch=SPE)
    rates = case_rates("one_cycle_linear_default")
    np.testing.assert_allclose(sgd_momentums(probe.rates(), rates), momentums[1:], rtol=RTOL)
    inner = probe.model.optimizer.inner_optimizer
    assert type(inner) is plain_class("SGD") and type(inner.momentum) is float


# -- 7. a model saved during fit ----------------------------------------------------------------


def test_model_checkpoint_during_fit_saves_a_plain_optimizer(tmp_path):
    path = str(tmp_path / "last.keras")
    probe = RateProbe(TOTAL, optimizer=sgd())
    checkpoint = keras.callbacks.ModelCheckpoint(path)
    cb = keras_lr.OneCycleLR(0.5, cycle_momentum=True)
    probe.fit([cb, checkpoint], epochs=2, steps_per_epoch=SPE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)] == []
    assert type(loaded.optimizer) is plain_class("SGD")
    config = loaded.optimizer.get_config()
    assert type(config["momentum"]) is float and 0.85 <= config["momentum"] <= 0.95
    assert steps_of(loaded) == 2 * SPE
    # The velocity was saved with the model: the trained optimizer's, at the last epoch end.
    velocity = first_moment(loaded.optimizer, TOTAL)
    np.testing.assert_array_equal(velocity, first_moment(probe.model.optimizer, TOTAL))
    assert np.count_nonzero(velocity) == 2 * SPE
