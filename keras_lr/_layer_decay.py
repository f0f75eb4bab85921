"""Layer-wise learning-rate decay for fine-tuning: one optimizer per group of layers.

`layer_decay` splits a model's layers into groups, input side first, and
gives each group a copy of one optimizer whose rate is scaled by a factor
that shrinks towards the input (timm's `param_groups_layer_decay`, the
layer-wise rate decay of BERT fine-tuning).  The result is a plain
`keras.optimizers.MultiOptimizer`: it compiles, trains, saves and loads
without keras_lr.  Each group's factor is also kept in its optimizer's
`TrainingState`, so a keras_lr scheduling callback trains group g at
factor_g * schedule(i).

Variables are routed to their group by path, through an `OptimizerMap` of
one regular expression per group.  Each variable is matched by the shortest
tail of its path (at least "layer/variable") that no variable of another
group ends with, behind an optional prefix: Keras may build a nested model's
variables under a different prefix when it loads a saved model
("inner/dense/kernel" becomes "dense/kernel"), and the tail still matches.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import keras

from keras_lr import _compat, _rate, _validation

__all__ = ["layer_decay"]


def layer_decay(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    decay: float = 0.75,
    groups: list | tuple | None = None,
) -> keras.optimizers.MultiOptimizer:
    r"""Layer-wise rate decay: each group of layers trains at its own fraction of the rate.

    The layers are split into n groups, in the order of `model.layers` (input
    side first). Group g (0-based, g = 0 nearest the input) gets a copy of
    `optimizer` (same class and config) whose rate is scaled by

    .. math::

        \text{factor}_g = \text{decay}^{\,n - 1 - g}

    so the group nearest the output trains at the full rate, the one before
    it at `decay` times it, and so on (timm's `param_groups_layer_decay`).
    `MultiOptimizer.optimizers` lists the group optimizers in group order,
    input side first: the order of the per-group lists that keras_lr's
    callbacks accept (`max_lr=[...]`). A keras_lr scheduling callback keeps
    each group's factor: group g trains at factor_g * schedule(i).

    Only trainable variables are optimized: BatchNorm's moving statistics are
    updated by the layer, its `gamma` and `beta` by the group's optimizer. A
    frozen layer (or one with only non-trainable weights, such as
    `Normalization`) still forms a group, so the factors follow the depth; its
    optimizer has nothing to update. A model used as a layer (a backbone) is
    one group with all its variables, unless `groups` splits it.

    Args:
        model: a built `keras.Model` (called on data, or made with `keras.Input`).
        optimizer: the optimizer to copy, built with a float learning rate
            (not a schedule or a callable: drive the schedule with a keras_lr
            callback instead), not a `MultiOptimizer` or `LossScaleOptimizer`.
        decay: the factor between neighbouring groups, in (0, 1]; 1 gives
            every group the full rate. Defaults to 0.75.
        groups: None (default): one group per top-level layer of `model` that
            has weights, trainable or not; layers without weights (`Input`,
            `Dropout`, `Flatten`, ...) are skipped. Or a list of groups,
            input side first, each one of: a layer; a list or tuple of layers;
            a string, a regular expression matched in full (`re.fullmatch`)
            against the names of the top-level layers, all matches forming
            one group (a list may mix layers and strings). Layers inside a
            nested model may be given to split it. Every weight of the model
            must belong to exactly one group.

    Returns:
        A `keras.optimizers.MultiOptimizer` to pass to `model.compile`. Its
        `optimizers[g].learning_rate` is the rate times factor_g; its
        sub-optimizers are named `"{name}_{g}_{first layer}"`. It is saved
        with the model (`model.save`), and `keras.saving.load_model` rebuilds
        it, each group with its variables and factor.

    Raises:
        TypeError: `model` is not a `keras.Model`, `optimizer` not a Keras
            optimizer, `decay` not a real number, or `groups` of a wrong type.
        ValueError: `decay` outside (0, 1]; `model` not built, without
            weights, or with weights of its own outside its layers;
            `optimizer` a `MultiOptimizer`, `LossScaleOptimizer`, or built
            with a schedule or callable rate; a group empty or matching
            no weights, a layer in two groups, a weight of the model in no
            group, a layer not in the model; or two variables of different
            groups with one path.
        ImportError: Keras before 3.15 has no `keras.optimizers.MultiOptimizer`.

    Example:
        >>> import keras, keras_lr
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
        ...                           keras.layers.Dense(4), keras.layers.Dense(2)])
        >>> opt = keras_lr.layer_decay(model, keras.optimizers.SGD(0.1), decay=0.5)
        >>> [round(float(o.learning_rate), 4) for o in opt.optimizers]
        [0.025, 0.05, 0.1]
        >>> model.compile(optimizer=opt, loss="mse")

    Note:
        A `global_clipnorm` of `optimizer` clips each group by the norm of its
        own gradients (each copy clips what it applies); `clipnorm` and
        `clipvalue` act per variable, as without groups. After changing which
        layers are trainable, call `layer_decay` again and recompile: a
        `MultiOptimizer` is built once, for the variables it first saw.

    References:
        Clark et al., "ELECTRA: Pre-training Text Encoders as Discriminators
        Rather Than Generators", ICLR 2020 (arXiv:2003.10555): layer-wise
        learning-rate decay. Bao et al., "BEiT: BERT Pre-Training of Image
        Transformers", ICLR 2022 (arXiv:2106.08254), as implemented by timm's
        `param_groups_layer_decay`.
    """
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        raise ImportError(
            "keras_lr.layer_decay builds a keras.optimizers.MultiOptimizer, which Keras "
            f"{keras.__version__} does not have: upgrade to Keras 3.15 or later "
            "(`pip install -U keras`)."
        )
    _check_model(model)
    config = _base_config(optimizer)
    decay = _validation.float_in("decay", decay, 0.0, 1.0, low_open=True)
    layer_groups = _default_groups(model) if groups is None else _given_groups(model, groups)
    variables = _assign(model, layer_groups)
    keys = _group_keys(variables)

    n = len(layer_groups)
    optimizers = []
    for g, layers in enumerate(layer_groups):
        factor = decay ** (n - 1 - g)
        sub_config = dict(
            config,
            learning_rate=config["learning_rate"] * factor,
            name=f"{config['name']}_{g}_{layers[0].name}",
        )
        sub = type(optimizer).from_config(sub_config)
        _rate.set_rate_factor(sub, factor)
        optimizers.append(sub)
    # Unmatched variables (none at construction) train at the full rate.
    optimizer_map = keras.optimizers.OptimizerMap(optimizers[-1], dict(zip(keys, optimizers)))
    _check_routing(optimizer_map, variables, optimizers)
    return keras.optimizers.MultiOptimizer(
        optimizer_map, loss_scale_factor=optimizer.loss_scale_factor
    )


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Argument `model` must be a `keras.Model`. Received: model={model!r} "
            f"(of type {type(model).__name__})"
        )
    if not model.built:
        raise ValueError(
            "Argument `model` must be built, so that its weights exist: create it "
            "with `keras.Input`, call it on a batch, or call `model.build(input_shape)`. "
            f"Received: model={model.name!r} (not built)"
        )
    if not model.weights:
        raise ValueError(
            f"Argument `model` must have weights to group. Received: model={model.name!r} "
            "(no weights)"
        )


def _base_config(optimizer: Any) -> dict:
    """The config every group's optimizer is copied from, after checking `optimizer`."""
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Argument `optimizer` must be a Keras optimizer, e.g. "
            f"`keras.optimizers.SGD(0.01)`. Received: optimizer={optimizer!r} "
            f"(of type {type(optimizer).__name__})"
        )
    if isinstance(
        optimizer, (keras.optimizers.MultiOptimizer, keras.optimizers.LossScaleOptimizer)
    ):
        raise ValueError(
            "Argument `optimizer` must be a plain optimizer, which `layer_decay` copies "
            "once per group; not a wrapper. Received: optimizer="
            f"{type(optimizer).__name__} (pass the optimizer it wraps)"
        )
    source = _rate.rate_source(optimizer)
    if not _compat.is_variable(source):
        raise ValueError(
            "Argument `optimizer` must be built with a float learning rate, which "
            "`layer_decay` scales per group. Received: optimizer with learning_rate="
            f"{source!r}. Build it with a float, e.g. `learning_rate=0.01`, and drive "
            "the schedule with a keras_lr callback: it keeps each group's factor."
        )
    if optimizer.global_clipnorm is not None:
        warnings.warn(
            f"`layer_decay` copies global_clipnorm={optimizer.global_clipnorm} into "
            "every group's optimizer: each group is clipped by the norm of its own "
            "gradients, not by the norm over the whole model.",
            stacklevel=3,
        )
    config = optimizer.get_config()
    config["learning_rate"] = _rate.variable_value(source)
    return config


def _default_groups(model: Any) -> list[list]:
    return [[layer] for layer in model.layers if layer.weights]


def _given_groups(model: Any, groups: Any) -> list[list]:
    """`groups` as lists of layers, strings resolved against the top-level layers."""
    if not isinstance(groups, (list, tuple)):
        raise TypeError(
            "Argument `groups` must be None or a list of groups (each a layer, a list "
            f"of layers or a layer-name regex). Received: groups={groups!r} "
            f"(of type {type(groups).__name__})"
        )
    if not groups:
        raise ValueError("Argument `groups` must not be empty. Received: groups=[]")
    out = []
    for g, group in enumerate(groups):
        items = list(group) if isinstance(group, (list, tuple)) else [group]
        layers = [layer for item in items for layer in _resolve(model, item, g)]
        if not any(layer.weights for layer in layers):
            raise ValueError(
                f"Argument `groups` must give each group a layer with weights. "
                f"Received: groups[{g}]={group!r} (no weights)"
            )
        out.append(list(dict.fromkeys(layers)))
    return out


def _resolve(model: Any, item: Any, g: int) -> list:
    if isinstance(item, keras.layers.Layer):
        return [item]
    if not isinstance(item, str):
        raise TypeError(
            "Argument `groups` must hold layers, lists of layers or layer-name "
            f"regexes. Received: groups[{g}] holding {item!r} (of type {type(item).__name__})"
        )
    try:
        pattern = re.compile(item)
    except re.error as error:
        raise ValueError(
            f"Argument `groups` holds an invalid regular expression ({error}). "
            f"Received: groups[{g}]={item!r}"
        ) from None
    found = [layer for layer in model.layers if pattern.fullmatch(layer.name)]
    if not found:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"Argument `groups` holds a pattern that matches no top-level layer of the "
            f"model (layers: {names}). Received: groups[{g}]={item!r}"
        )
    return found


def _assign(model: Any, layer_groups: list[list]) -> list[list]:
    """The model's weights of each group; every weight in exactly one group."""
    model_weights = {id(v): v for v in model.weights}
    owner: dict[int, tuple[int, str]] = {}
    variables: list[list] = []
    for g, layers in enumerate(layer_groups):
        found = {}
        for layer in layers:
            for v in layer.weights:
                if id(v) not in model_weights:
                    raise ValueError(
                        f"Argument `groups` must hold layers of the model. Received: "
                        f"groups[{g}] holding layer {layer.name!r}, not part of "
                        f"model {model.name!r}"
                    )
                held = owner.get(id(v))
                if held is not None and held[0] != g:
                    raise ValueError(
                        f"Argument `groups` must put each layer in one group. Received: "
                        f"layer {layer.name!r} (variable {v.path!r}) in groups[{held[0]}] "
                        f"(through {held[1]!r}) and groups[{g}]"
                    )
                owner[id(v)] = (g, layer.name)
                found[id(v)] = v
        variables.append(list(found.values()))
    in_layers = {id(v) for layer in model.layers for v in layer.weights}
    own = [v.path for key, v in model_weights.items() if key not in in_layers]
    if own:
        raise ValueError(
            "Argument `model` must hold its weights in layers, which `layer_decay` "
            f"groups. Received: model {model.name!r} with weights of its own: {own} "
            "(create them in a layer of the model)"
        )
    missing = [v for v in model_weights.values() if id(v) not in owner]
    if missing:
        layers = sorted(
            {layer.name for layer in model.layers for v in layer.weights if id(v) not in owner}
        )
        paths = [v.path for v in missing]
        raise ValueError(
            f"Argument `groups` leaves out layers with weights: {layers} (variables "
            f"{paths if len(paths) <= 6 else paths[:6] + ['...']}). Every weight of the "
            "model must be in exactly one group; put these with the layers next to "
            f"them. Received: groups={[[layer.name for layer in g] for g in layer_groups]}"
        )
    return variables


def _group_keys(variables: list[list]) -> list[str]:
    """One regular expression per group matching the paths of its variables.

    Raises:
        ValueError: a variable's path ends the path of another group's variable.
    """
    paths = [(g, v.path) for g, group in enumerate(variables) for v in group]
    keys = []
    for g, group in enumerate(variables):
        others = [p for h, p in paths if h != g]
        parts = dict.fromkeys(_pattern(v.path, others) for v in group)
        keys.append("|".join(f"(?:{p})" for p in parts))
    return keys


def _pattern(path: str, others: list[str]) -> str:
    """The shortest tail of `path` (>= 2 parts) that no path in `others` ends with."""
    parts = path.split("/")
    for n in range(min(2, len(parts)), len(parts) + 1):
        tail = "/".join(parts[-n:])
        if not any(p == tail or p.endswith("/" + tail) for p in others):
            return f"(?:.+/)?{re.escape(tail)}"
    other = next(p for p in others if p == path or p.endswith("/" + path))
    raise ValueError(
        "`layer_decay` routes variables to their group by path, but variables of two "
        f"groups have the paths {path!r} and {other!r}, which a loaded model may no "
        "longer tell apart (Keras can build a nested model's variables without its "
        "name in front). Give the layers unique names."
    )


def _check_routing(optimizer_map: Any, variables: list[list], optimizers: list) -> None:
    """Every variable goes to its own group's optimizer (ambiguous paths refused)."""
    for group, opt in zip(variables, optimizers):
        for v in group:
            try:
                chosen = optimizer_map[v.path]
            except ValueError:
                chosen = None
            if chosen is not opt:
                raise ValueError(
                    f"`layer_decay` cannot route variable {v.path!r} by its path alone: "
                    "another group's variable has a path that ends the same. Give the "
                    "layers unique names."
                )
