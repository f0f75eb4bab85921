"""The 8x8 digits that ship with scikit-learn: the data of `keras-lr demo` and the examples."""

from __future__ import annotations

INSTALL_HINT = 'pip install "keras-lr[examples]"'


def load_digits(seed: int = 0):
    """The digits split 75/25, stratified by class, with pixels scaled to [0, 1].

    Args:
        seed: seed of the split (`random_state` of `train_test_split`).

    Returns:
        ((x_train, y_train), (x_test, y_test)): float32 arrays of 64 pixels
        and int32 labels 0..9; 1347 training and 450 test images.

    Raises:
        ImportError: scikit-learn is not installed (the message says how to).
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(f"the digits need scikit-learn: {INSTALL_HINT}") from None
    digits = sk_load_digits()
    x = (digits.data / 16.0).astype("float32")  # pixel intensities run 0..16
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)
