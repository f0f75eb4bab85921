"""A pin for every private touch point in `keras_lr/_compat/`.

Each test checks one thing keras_lr's shims rely on, on the installed Keras
and backend, and fails with the shim to update: a Keras upgrade that moves
`optimizer._learning_rate` fails here, by name, before any callback
misbehaves.  No test here goes through a keras_lr callback; the behaviour of
those is pinned by the rest of the suite.  `_compat/_saving.py` is pinned in
tests/test_compat_saving.py, the version shims in tests/test_keras_versions.py.
"""

from __future__ import annotations

import pathlib
import re

import keras
import numpy as np
import pytest

from keras_lr import _compat, _state
from keras_lr._compat import _trainer

BACKEND = keras.backend.backend()
HERE = pathlib.Path(__file__).resolve().parent


def moved(what: str, shim: str) -> str:
    """The failure message: what Keras moved, and which shim to update."""
    major, minor = _compat.keras_version()[:2]
    return f"Keras {major}.{minor} ({BACKEND}) moved {what}: update keras_lr/_compat/{shim}"


def sgd(**kwargs):
    return keras.optimizers.SGD(learning_rate=0.1, **kwargs)


def tiny_model(optimizer=None, **compile_kwargs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or sgd(), loss="mse", **compile_kwargs)
    return model


X = np.ones((8, 2), dtype="float32")
Y = np.zeros((8, 1), dtype="float32")


def fit(model, callbacks=(), batch_size=2):
    """One epoch of 8 / batch_size batches."""
    model.fit(
        X, Y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=list(callbacks)
    )


def value(x) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(x)))


# -- _optimizer.py: the rate slot and the variable list -------------------------


def test_rate_slot_is_a_variable_after_the_step_counter():
    optimizer = sgd()
    slot = optimizer._learning_rate
    assert _compat.is_variable(slot), moved("`optimizer._learning_rate`", "_optimizer.py rate_slot")
    assert isinstance(slot, keras.src.backend.Variable), moved(
        "`keras.src.backend.Variable`", "_optimizer.py _VARIABLE_TYPES"
    )
    assert _compat.rate_slot(optimizer) is slot
    variables = optimizer._variables
    assert variables[0] is optimizer._iterations and variables[1] is slot, moved(
        "the order of `optimizer._variables` (step counter, then rate)",
        "_optimizer.py variable_index / restore_rate_variable",
    )
    assert _compat.variable_index(optimizer, slot) == 1


def test_the_public_setter_untracks_the_rate_variable():
    optimizer = sgd()
    before = len(optimizer._variables)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    optimizer.learning_rate = schedule
    assert optimizer._learning_rate is schedule, moved(
        "`optimizer._learning_rate`", "_optimizer.py rate_slot"
    )
    assert len(optimizer._variables) == before - 1, moved(
        "the untracking of the rate variable by `optimizer.learning_rate = schedule`",
        "_optimizer.py restore_rate_variable",
    )


def test_writing_the_rate_slot_leaves_the_variable_list_alone():
    optimizer = sgd()
    variables = list(optimizer._variables)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.4, 1, 0.5)
    _compat.set_rate_slot(optimizer, schedule)
    assert list(optimizer._variables) == variables, moved(
        "the tracking of `optimizer._learning_rate`", "_optimizer.py set_rate_slot"
    )
    assert value(optimizer.learning_rate) == pytest.approx(0.4), moved(
        "where the optimizer reads its rate (`_learning_rate`)", "_optimizer.py set_rate_slot"
    )


def test_untrack_variable_exists_and_untracks():
    optimizer = sgd()
    rate = optimizer._learning_rate
    assert callable(getattr(optimizer, "_untrack_variable", None)), moved(
        "`optimizer._untrack_variable`", "_optimizer.py untrack_rate_variable"
    )
    _compat.untrack_rate_variable(optimizer)
    assert not any(v is rate for v in optimizer._variables), moved(
        "`optimizer._untrack_variable`", "_optimizer.py untrack_rate_variable"
    )


def test_tracker_stores_the_ids_of_the_optimizers_variables():
    optimizer = sgd()
    tracker = getattr(optimizer, "_tracker", None)
    stored = getattr(tracker, "stored_ids", {}).get("variables")
    assert isinstance(stored, set) and id(optimizer._learning_rate) in stored, moved(
        '`optimizer._tracker.stored_ids["variables"]`', "_optimizer.py restore_rate_variable"
    )


@pytest.mark.parametrize("saved", [True, False], ids=["own_variable", "new_variable"])
def test_restoring_the_rate_variable_gives_back_the_fresh_layout(saved):
    optimizer = sgd()
    rate = optimizer._learning_rate
    layout = [v.name for v in optimizer.variables]
    optimizer.learning_rate = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    _compat.restore_rate_variable(optimizer, 0.25, (rate, 1) if saved else None)
    assert [v.name for v in optimizer.variables] == layout, moved(
        "the tracking of `optimizer._variables`", "_optimizer.py restore_rate_variable"
    )
    assert _compat.is_variable(optimizer._learning_rate)
    assert (optimizer._learning_rate is rate) == saved
    assert value(optimizer.learning_rate) == pytest.approx(0.25)
    # Setting the slot again must not track the variable a second time.
    optimizer._learning_rate = optimizer._learning_rate
    assert len(optimizer.variables) == len(layout), moved(
        "the optimizer's `__setattr__` tracking", "_optimizer.py restore_rate_variable"
    )


def test_set_untracked_keeps_a_variable_out_of_the_optimizer():
    optimizer = sgd()
    before = len(optimizer.variables)
    optimizer.tracked = keras.Variable(1.0)
    # Why the shim exists: a plain set tracks the variable.
    assert len(optimizer.variables) == before + 1
    _compat.set_untracked(optimizer, "untracked", keras.Variable(2.0))
    assert len(optimizer.variables) == before + 1, moved(
        "attribute tracking (`object.__setattr__` no longer bypasses it)",
        "_optimizer.py set_untracked",
    )


def test_iterations_counts_updates_and_the_batch_counter_counts_batches():
    model = tiny_model(sgd(gradient_accumulation_steps=2))
    fit(model)  # 4 batches, 2 updates
    optimizer = model.optimizer
    assert value(optimizer.iterations) == 2
    assert value(optimizer._iterations) == 4, moved(
        "`optimizer._iterations` (the batch counter)", "_optimizer.py batch_step"
    )
    assert _compat.batch_step(optimizer) == 4


# -- _optimizer.py: the training state's property and Keras's saving walk ---------


def test_training_state_property_is_on_each_optimizer_class_but_not_the_base():
    name = _state.STATE_ATTR
    for cls in (keras.optimizers.SGD, keras.optimizers.Adam):
        assert isinstance(cls.__dict__.get(name), property), f"{cls.__name__}.{name}"
    assert not hasattr(keras.optimizers.Optimizer, name)
    _compat.add_optimizer_property(name, _state._state_of)  # idempotent
    assert not hasattr(keras.optimizers.Optimizer, name)

    class Later(keras.optimizers.SGD):  # defined after keras_lr's import
        pass

    _compat.own_property(Later, name, _state._state_of)
    assert isinstance(Later.__dict__.get(name), property)
    # Keras's saving walk skips the names of a plain Optimizer: the state's
    # name must not be one of them.
    assert name not in dir(keras.optimizers.Optimizer(learning_rate=1.0))
    from keras.src.saving import saving_lib

    assert hasattr(saving_lib, "_walk_saveable"), moved(
        "`saving_lib._walk_saveable`", "_optimizer.py add_optimizer_property"
    )


def test_training_state_survives_save_weights_and_load_weights(tmp_path):
    model = tiny_model()
    fit(model)
    _state.training_state(model.optimizer).set("probe", 0.25)
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    fresh = tiny_model()
    fresh.load_weights(path)
    got = _state.training_state(fresh.optimizer).get("probe")
    assert got is not None and float(got) == 0.25, moved(
        "the saving walk over `dir(optimizer)` (the training state was not saved or loaded)",
        "_optimizer.py add_optimizer_property",
    )


# -- _trainer.py: the train function --------------------------------------------


def test_make_train_function_builds_and_force_rebuilds():
    model = tiny_model()
    assert getattr(model, "train_function", "missing") is None
    model.make_train_function()
    built = model.train_function
    assert callable(built), moved("`model.train_function`", "_trainer.py retrace")
    model.make_train_function()
    assert model.train_function is built
    type(model).make_train_function(model, force=True)
    assert model.train_function is not built, moved(
        "`make_train_function(force=True)`", "_trainer.py retrace"
    )


def test_fit_calls_make_train_function_on_the_instance_and_then_train_function():
    model = tiny_model()
    calls = {"make": 0, "step": 0}
    own = type(model).make_train_function

    def make_train_function(force=False):
        calls["make"] += 1
        result = own(model, force=force)
        step = model.train_function
        if not getattr(step, "counted", False):

            def counted(*args, **kwargs):
                calls["step"] += 1
                return step(*args, **kwargs)

            counted.counted = True
            model.train_function = counted
        return result

    _compat.set_untracked(model, "make_train_function", make_train_function)
    fit(model)
    assert calls["make"] >= 1, moved(
        "fit's call of `self.make_train_function()` (an instance hook is skipped)",
        "_trainer.py guard",
    )
    assert calls["step"] == 4, moved(
        "fit's call of `self.train_function` once per step", "_trainer.py guard / StepWriter"
    )


def test_steps_per_execution_is_settable_after_compile():
    model = tiny_model(steps_per_execution=2)
    assert model.steps_per_execution == 2, moved(
        "`model.steps_per_execution`", "_trainer.py steps_per_execution"
    )
    with _compat.one_step_per_execution(model):
        assert model.steps_per_execution == 1
    assert model.steps_per_execution == 2


@pytest.mark.skipif(BACKEND == "torch", reason="the PyTorch trainer runs one step per call")
def test_steps_per_execution_set_after_compile_is_read_by_the_rebuilt_function():
    model = tiny_model(steps_per_execution=2)
    model.make_train_function()
    calls = []
    with _compat.one_step_per_execution(model):
        step = model.train_function

        def counted(*args, **kwargs):
            calls.append(1)
            return step(*args, **kwargs)

        model.train_function = counted
        fit(model)
    assert len(calls) == 4, moved(
        "the reading of `steps_per_execution` (set after compile)",
        "_trainer.py one_step_per_execution",
    )


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch only")
def test_torch_trainer_runs_one_step_per_call():
    # Keras 3.15 refuses steps_per_execution > 1 on PyTorch when it builds
    # the train function; earlier releases ran one step per call all the same.
    model = tiny_model(steps_per_execution=2)
    assert _compat.steps_per_execution(model) == 1
    try:
        model.make_train_function()
    except ValueError as error:
        assert "steps_per_execution" in str(error)
        return
    step = model.train_function
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return step(*args, **kwargs)

    model.train_function = counted
    fit(model)
    assert len(calls) == 4, moved(
        "the PyTorch trainer's steps per call", "_trainer.py steps_per_execution"
    )


# -- _trainer.py: the JAX trainer's state -----------------------------------------


@pytest.mark.skipif(BACKEND != "jax", reason="JAX only")
def test_jax_state_sync_exists():
    model = tiny_model()
    assert callable(getattr(model, "jax_state_sync", None)), moved(
        "`model.jax_state_sync`", "_trainer.py sync_state"
    )


@pytest.mark.skipif(BACKEND != "jax", reason="JAX only")
def test_jax_state_holds_the_four_groups_during_fit():
    seen = []

    class Look(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(getattr(self.model, "_jax_state", None))

    model = tiny_model(metrics=["mae"])
    fit(model, [Look()])
    state = seen[0]
    assert isinstance(state, dict) and set(_trainer._JAX_STATE) <= set(state), moved(
        f"`model._jax_state` (groups {_trainer._JAX_STATE})", "_trainer.py _JAX_STATE"
    )
    optimizer_group = state["optimizer_variables"]
    assert len(optimizer_group) == len(model.optimizer.variables)
    assert len(state["metrics_variables"]) == len(model.metrics_variables)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX only")
def test_jax_train_function_takes_the_state_tuple_in_order():
    model = tiny_model(metrics=["mae"])
    model.make_train_function()
    step = model.train_function
    shapes = []

    def look(state, *args, **kwargs):
        shapes.append([len(group) for group in state])
        return step(state, *args, **kwargs)

    model.train_function = look
    fit(model)
    expected = [
        len(model.trainable_variables),
        len(model.non_trainable_variables),
        len(model.optimizer.variables),
        len(model.metrics_variables),
    ]
    assert shapes and shapes[0] == expected, moved(
        f"the JAX train step's state tuple (order {_trainer._JAX_STATE})",
        "_trainer.py StepWriter",
    )


# -- _trainer.py: TensorFlow's raw variable ops -----------------------------------


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow only")
def test_tensorflow_raw_variable_and_assign_op():
    import tensorflow as tf
    from tensorflow.python.ops import gen_resource_variable_ops
    from tensorflow.python.ops.resource_variable_ops import ResourceVariable

    variable = sgd()._learning_rate
    raw = variable.value
    assert type(raw) is ResourceVariable, moved(
        "the type of `keras.Variable.value` on TensorFlow", "_trainer.py StepWriter"
    )
    gen_resource_variable_ops.assign_variable_op(raw.handle, tf.constant(0.75))
    assert value(variable) == 0.75, moved(
        "`gen_resource_variable_ops.assign_variable_op`", "_trainer.py StepWriter.write"
    )


# -- _trainer.py: the compiled metrics' directions --------------------------------


def test_metrics_have_a_private_direction():
    accuracy = keras.metrics.Accuracy()
    loss_metric = keras.metrics.MeanSquaredError()
    wrapped = keras.metrics.MeanMetricWrapper(keras.losses.mean_squared_error)
    got = [getattr(m, "_direction", None) for m in (accuracy, loss_metric, wrapped)]
    assert got == ["up", "down", "down"], moved(
        "`metric._direction`", "_trainer.py metric_directions"
    )


def test_unbuilt_compile_metrics_keep_the_users_specs():
    model = tiny_model(metrics=["accuracy", "mae"])
    unbuilt = [
        m
        for m in model.metrics
        if getattr(m, "built", True) is False and hasattr(m, "_user_metrics")
    ]
    assert unbuilt and hasattr(unbuilt[0], "_user_weighted_metrics"), moved(
        "`CompileMetrics._user_metrics` / `_user_weighted_metrics`",
        "_trainer.py metric_directions",
    )
    got = dict(_compat.metric_directions(model))
    assert (got.get("accuracy"), got.get("mae")) == ("up", "down"), moved(
        "the directions of compiled metrics", "_trainer.py metric_directions"
    )


def test_built_compile_metrics_expose_their_metrics_directions():
    model = tiny_model(metrics=["mae"])
    fit(model)
    got = dict(_compat.metric_directions(model))
    assert got.get("mae") == "down", moved(
        "the metrics of a built `CompileMetrics`", "_trainer.py metric_directions"
    )


# -- _trainer.py: guards, retrace and the step writer ------------------------------


def test_retrace_rebuilds_the_train_function():
    model = tiny_model()
    model.make_train_function()
    built = model.train_function
    _compat.retrace(model)
    assert callable(model.train_function) and model.train_function is not built, moved(
        "`make_train_function(force=True)`", "_trainer.py retrace"
    )


def test_a_guard_left_behind_is_released_by_the_next_fit():
    model = tiny_model()
    model.make_train_function()
    own = model.train_function
    released = []
    _compat.guard(model, "probe", lambda: released.append(1))
    assert model.train_function is not own  # wrapped
    fit(model)  # a new fit: the guard's fit is over
    assert released == [1], moved(
        "fit's call of `self.make_train_function()` first thing", "_trainer.py guard"
    )
    _compat.guard(model, "again", lambda: released.append(2))
    _compat.release_stale(model)
    assert released == [1, 2] and "make_train_function" not in model.__dict__


def test_a_guard_runs_when_a_step_raises():
    model = tiny_model()
    model.make_train_function()

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    model.train_function = boom
    released = []
    _compat.guard(model, "probe", lambda: released.append(1))
    with pytest.raises(RuntimeError, match="boom"):
        model.train_function(None)
    assert released == [1], moved("`model.train_function`", "_trainer.py guard")
    _compat.unguard(model, "probe")
    assert model.train_function is boom


def test_step_writer_sets_the_rate_each_step_reads():
    model = tiny_model()
    rate = _compat.rate_slot(model.optimizer)

    class Write(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.writer = _compat.StepWriter(self.model, [rate])
            self.writer.attach()
            self.zero = self.writer.tensors([0.0], 0)[0]

        def on_train_batch_begin(self, batch, logs=None):
            self.travels = self.writer.write([self.zero])

        def on_train_end(self, logs=None):
            if self.travels:
                assert float(self.writer.applied(0)) == 0.0
            self.writer.detach()

    model.build((None, 2))
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in model.weights]
    fit(model, [Write()])
    after = [np.array(keras.ops.convert_to_numpy(w)) for w in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), moved(
        "where the train step reads the rate written before it", "_trainer.py StepWriter"
    )


@pytest.mark.skipif(BACKEND != "jax", reason="JAX only")
def test_sync_state_writes_the_jax_state_into_the_variables():
    seen = []

    class Look(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            _compat.sync_state(self.model)
            seen.append(value(self.model.optimizer.iterations))

    model = tiny_model()
    fit(model, [Look()])
    assert seen == [1, 2, 3, 4], moved("`model.jax_state_sync`", "_trainer.py sync_state")
    _compat.drop_jax_state(model)
    assert getattr(model, "_jax_state", "missing") is None, moved(
        "`model._jax_state`", "_trainer.py drop_jax_state"
    )


def test_every_shim_is_pinned_by_a_test():
    pins = "".join(
        path.read_text()
        for path in [*HERE.glob("test_compat*.py"), HERE / "test_keras_versions.py"]
    )
    unpinned = [
        name
        for name in _compat.__all__
        if not re.search(rf"\b_compat\.(_\w+\.)?{name}\b|\b_saving\.{name}\b", pins)
    ]
    assert not unpinned, f"keras_lr._compat names no tests/test_compat*.py test uses: {unpinned}"
