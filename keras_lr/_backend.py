"""Everything that touches optimizer or trainer internals lives here.

The callbacks find the optimizer(s) of a model (also inside
`LossScaleOptimizer`), read the step from `optimizer.iterations`, install a
schedule through Keras's public `optimizer.learning_rate` setter, and rebuild
the compiled train function when the installed schedule object changes (a
traced step holds on to the schedule it was traced with).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def optimizers_of(model: Any, owner: str) -> list:
    """The optimizers whose rate `owner` drives, unwrapped from wrappers."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            f"{owner} needs a compiled model: call `model.compile(optimizer=...)` before `fit`."
        )
    found = []
    stack = [optimizer]
    while stack:
        opt = stack.pop()
        if getattr(opt, "inner_optimizer", None) is not None:
            stack.append(opt.inner_optimizer)
        elif isinstance(getattr(opt, "optimizers", None), (list, tuple)):
            stack.extend(reversed(opt.optimizers))
        else:
            found.append(opt)
    return found


def current_step(optimizer: Any) -> int:
    """The optimizer's `iterations` as a Python int (one host read)."""
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))


def rate_source(optimizer: Any) -> Any:
    """What the optimizer reads its rate from: a Variable, a schedule, a callable."""
    return optimizer._learning_rate


def is_variable(source: Any) -> bool:
    return isinstance(source, keras.Variable)


def variable_value(source: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(source)))


def rate_at(optimizer: Any, step: int) -> float:
    """The rate `optimizer` applies at `step` (a float rate applies at every step)."""
    from keras_lr.schedules import evaluate

    source = rate_source(optimizer)
    if is_variable(source):
        return variable_value(source)
    return float(evaluate(source, [step])[0])


def install(optimizer: Any, source: Any) -> None:
    """Makes `optimizer` read its rate from `source` (schedule or float)."""
    if is_variable(rate_source(optimizer)) and not isinstance(
        source, keras.optimizers.schedules.LearningRateSchedule
    ):
        rate_source(optimizer).assign(source)
    else:
        optimizer.learning_rate = source


def retrace(model: Any) -> None:
    """Rebuilds the train function so the next step sees the new schedule."""
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)


def sync_state(model: Any) -> None:
    """Writes the JAX trainer's in-flight state back into the variables.

    The JAX trainer keeps model, optimizer and metric state outside the
    variables during an epoch; a callback that reads or writes variables
    mid-epoch must sync first (the trainer then reads them back before the
    next step).  No-op on the other backends.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None and keras.backend.backend() == "jax":
        sync()


def global_rng_states() -> dict:
    """Global random streams that training draws from outside model variables:
    NumPy's (array shuffling) and, on PyTorch, torch's (unseeded dropout)."""
    states = {"numpy": np.random.get_state()}
    if keras.backend.backend() == "torch":
        import torch

        states["torch"] = torch.random.get_rng_state()
    return states


def set_global_rng_states(states: dict) -> None:
    np.random.set_state(states["numpy"])
    if "torch" in states:
        import torch

        torch.random.set_rng_state(states["torch"])
