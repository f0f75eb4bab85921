"""The tasks of the suggestion benchmark: small, offline, varied in model, optimizer and loss.

Every data set ships inside scikit-learn or is generated here from a seed;
each task's split is fixed (seed 0), and the benchmark's seeds vary the
initial weights and the batch order.  Features are standardised with the
training split's statistics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    what: str  # model, optimizer and loss, for the report
    data: Callable[[], tuple]  # () -> (x, y, x_val, y_val)
    model: Callable[[], object]  # () -> uncompiled keras.Model
    optimizer: Callable[[], object]  # () -> keras optimizer (its rate is set per run)
    loss: str
    grid: tuple[float, float]  # the grid's lowest and highest rate
    batch_size: int = 32
    epochs: int = 10


def _split(x, y, test_size, stratify=True):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        x, y, test_size=test_size, random_state=0, stratify=y if stratify else None
    )


def _standardised(x_train, x_val):
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    return ((x_train - mean) / std).astype("float32"), ((x_val - mean) / std).astype("float32")


def digits(images: bool = False):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype("float32")
    if images:
        x = x.reshape(-1, 8, 8, 1)
    x, x_val, y, y_val = _split(x, bunch.target.astype("int32"), 0.25)
    return x, y, x_val, y_val


def _tabular(loader, regression=False):
    bunch = loader()
    x, x_val, y, y_val = _split(bunch.data, bunch.target, 0.25, stratify=not regression)
    x, x_val = _standardised(x, x_val)
    if regression:
        mean, std = y.mean(), y.std()
        y, y_val = ((y - mean) / std), ((y_val - mean) / std)
        return x, y.astype("float32")[:, None], x_val, y_val.astype("float32")[:, None]
    return x, y.astype("int32"), x_val, y_val.astype("int32")


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    x, y, x_val, y_val = _tabular(load_breast_cancer)
    return x, y.astype("float32")[:, None], x_val, y_val.astype("float32")[:, None]


def wine():
    from sklearn.datasets import load_wine

    return _tabular(load_wine)


def diabetes():
    from sklearn.datasets import load_diabetes

    return _tabular(load_diabetes, regression=True)


# Least squares: x = z * sqrt(eigenvalues) rotated, y = x.w + noise, so that
# the loss mean((x.w - y)^2) has the Hessian 2 X^T X / n, whose eigenvalues
# are known up to sampling (`hessian_max`).  Like every task here it has an
# irreducible loss (the noise's variance, 0.25): a regret is a ratio of
# losses, which means little when the best run's loss is near zero.
LSQ_DIM, LSQ_TRAIN, LSQ_VAL = 16, 512, 256


def least_squares():
    rng = np.random.default_rng(0)
    eigenvalues = np.logspace(-2, 0, LSQ_DIM)
    rotation, _ = np.linalg.qr(rng.normal(size=(LSQ_DIM, LSQ_DIM)))
    z = rng.normal(size=(LSQ_TRAIN + LSQ_VAL, LSQ_DIM))
    x = (z * np.sqrt(eigenvalues)) @ rotation.T
    w = rng.normal(size=(LSQ_DIM, 1))
    y = x @ w + 0.5 * rng.normal(size=(len(x), 1))
    x, y = x.astype("float32"), y.astype("float32")
    return x[:LSQ_TRAIN], y[:LSQ_TRAIN], x[LSQ_TRAIN:], y[LSQ_TRAIN:]


def hessian_max(x) -> float:
    """Largest eigenvalue of the Hessian 2 X^T X / n of the mean squared error."""
    x = np.asarray(x, np.float64)
    return float(np.linalg.eigvalsh(2.0 * x.T @ x / len(x))[-1])


# A memory task: which of 8 tokens came first, read at the end of 10; a fifth
# of the labels are drawn at random (the irreducible loss, about 0.80 nats).
SEQ_LEN, SEQ_TOKENS, LABEL_NOISE = 10, 8, 0.2


def first_token():
    rng = np.random.default_rng(0)
    x = rng.integers(0, SEQ_TOKENS, size=(1280, SEQ_LEN)).astype("int32")
    noisy = rng.random(len(x)) < LABEL_NOISE
    y = np.where(noisy, rng.integers(0, SEQ_TOKENS, size=len(x)), x[:, 0]).astype("int32")
    return x[:1024], y[:1024], x[1024:], y[1024:]


# -- models -------------------------------------------------------------------------


def _dense(inputs, hidden, outputs, activation="softmax", batch_norm=False):
    import keras

    layers = [keras.Input((inputs,))]
    for width in hidden:
        layers.append(keras.layers.Dense(width, use_bias=not batch_norm))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.Activation("relu"))
    layers.append(keras.layers.Dense(outputs, activation=activation))
    return keras.Sequential(layers)


def cnn():
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def gru():
    import keras

    return keras.Sequential(
        [
            keras.Input((SEQ_LEN,), dtype="int32"),
            keras.layers.Embedding(SEQ_TOKENS, 8),
            keras.layers.GRU(32),
            keras.layers.Dense(SEQ_TOKENS, activation="softmax"),
        ]
    )


def linear():
    import keras

    return keras.Sequential([keras.Input((LSQ_DIM,)), keras.layers.Dense(1, use_bias=False)])


def _optimizer(name, **kwargs):
    def make():
        import keras

        return getattr(keras.optimizers, name)(**kwargs)

    return make


CE = "sparse_categorical_crossentropy"

TASKS = (
    Task(
        "digits-sgd",
        "digits, MLP 64-64-10, SGD momentum 0.9, cross-entropy",
        digits,
        lambda: _dense(64, [64], 10),
        _optimizer("SGD", momentum=0.9),
        CE,
        (1e-4, 10.0),
    ),
    Task(
        "digits-adam",
        "digits, MLP 64-64-10, Adam, cross-entropy",
        digits,
        lambda: _dense(64, [64], 10),
        _optimizer("Adam"),
        CE,
        (1e-5, 1.0),
    ),
    Task(
        "digits-cnn",
        "digits as 8x8 images, CNN 16-32 filters, SGD momentum 0.9, cross-entropy",
        lambda: digits(images=True),
        cnn,
        _optimizer("SGD", momentum=0.9),
        CE,
        (1e-4, 10.0),
    ),
    Task(
        "cancer-logistic",
        "breast_cancer, logistic regression, plain SGD, binary cross-entropy",
        breast_cancer,
        lambda: _dense(30, [], 1, activation="sigmoid"),
        _optimizer("SGD"),
        "binary_crossentropy",
        (1e-4, 10.0),
    ),
    Task(
        "wine-batchnorm",
        "wine, MLP 13-32-3 with BatchNorm, AdamW, cross-entropy",
        wine,
        lambda: _dense(13, [32], 3, batch_norm=True),
        _optimizer("AdamW"),
        CE,
        (1e-5, 1.0),
        batch_size=16,
    ),
    Task(
        "diabetes-mse",
        "diabetes, MLP 10-32-1, RMSprop, mean squared error",
        diabetes,
        lambda: _dense(10, [32], 1, activation=None),
        _optimizer("RMSprop"),
        "mse",
        (1e-5, 1.0),
    ),
    Task(
        "least-squares",
        "least squares, 16 features, Hessian eigenvalues 0.02..2, plain SGD",
        least_squares,
        linear,
        _optimizer("SGD"),
        "mse",
        (1e-4, 10.0),
    ),
    Task(
        "sequence-gru",
        "first of 10 tokens (20% noisy labels), Embedding 8 + GRU 32, Adam, cross-entropy",
        first_token,
        gru,
        _optimizer("Adam"),
        CE,
        (1e-5, 1.0),
    ),
)
