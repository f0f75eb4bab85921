"""The range test's exact restore: an in-memory copy of everything training changes."""

from __future__ import annotations

import keras
import numpy as np

from keras_lr import _compat, _rate
from keras_lr import schedules as S


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


class Snapshot:
    """In-memory copy of every model and optimizer variable, the rate source and
    the global random streams (NumPy's, and PyTorch's on that backend).

    Restoring only writes the copies back, so it can be repeated: an
    interrupted restore is finished by running it again.
    """

    def __init__(self, model):
        self.model = model
        self.optimizer = model.optimizer
        self.variables = list(model.trainable_variables) + list(model.non_trainable_variables)
        self.variables += list(self.optimizer.variables)
        self.values = [
            np.array(keras.ops.convert_to_numpy(var), copy=True) for var in self.variables
        ]
        self.optimizers = _rate.optimizers_of(model, "LRFinder")
        self.sources = [_rate.rate_source(opt) for opt in self.optimizers]
        # The slot's own objects (a schedule wrapped for accumulation too),
        # put back as they are.
        self.held = [_compat.rate_slot(opt) for opt in self.optimizers]
        self.stop_training = getattr(model, "stop_training", False)
        self.rng_states = global_rng_states()

        # A float rate (a Variable) is driven by assignment: the compiled step
        # keeps reading it, so nothing is retraced. A schedule is swapped out.
        self.assign_mode = all(_compat.is_variable(src) for src in self.sources)
        self.rates = [
            np.array(keras.ops.convert_to_numpy(src), copy=True)
            if _compat.is_variable(src)
            else None
            for src in self.sources
        ]

    def install_ladder(self, rates: np.ndarray) -> None:
        """Drives a schedule-held rate by the ladder, as an in-graph table from the current step.

        Nothing to do in assignment mode (a float rate): the test writes the
        variable.  The slot itself is set (not the setter), so that the
        optimizer's variable list keeps its shape and order.
        """
        if self.assign_mode:
            return
        table = S.Table(rates, offset=_rate.current_step(self.optimizers[0]))
        for opt in self.optimizers:
            _compat.set_rate_slot(opt, _rate.per_update(opt, table))
        _compat.retrace(self.model)

    def restore(self, variables: bool = True) -> None:
        """Puts back the rate and, with `variables`, every variable and random stream."""
        self.restore_rate()
        if variables:
            self.restore_variables()
        if not self.assign_mode:
            _compat.retrace(self.model)

    def restore_rate(self):
        for opt, held, source, rate in zip(self.optimizers, self.held, self.sources, self.rates):
            _compat.set_rate_slot(opt, held)
            if rate is not None:
                source.assign(rate)

    def restore_variables(self):
        for var, value in zip(self.variables, self.values):
            var.assign(value)
        self.model.stop_training = self.stop_training
        set_global_rng_states(self.rng_states)
