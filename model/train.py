"""The small network of the demo and the benchmarks: an MLP on scikit-learn's bundled digits.

No download: ``sklearn.datasets.load_digits`` ships with scikit-learn. Inputs are pixel values
0..16 scaled by 1/16 and clipped just below 1, so they fit an unsigned ``uQ0.8`` input format.
Everything is seeded: the same call gives the same weights.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["digits_data", "train_digits_mlp"]


def digits_data(seed: int = 0, test_size: float = 0.25):
    """``(x_train, x_test, y_train, y_test)`` with x in [0, 1), stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.minimum(d.data / 16.0, 1 - 2.0**-8)
    return train_test_split(x, d.target, test_size=test_size, random_state=seed,
                            stratify=d.target)


def train_digits_mlp(hidden=(32,), seed: int = 0, max_iter: int = 400) -> dict:
    """Train ``64 - hidden... - 10`` with ReLU. Returns weights as (n_out, n_in) matrices."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    xtr, xte, ytr, yte = digits_data(seed)
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", alpha=1e-4,
                        max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    layers = []
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        act = "relu" if i < len(clf.coefs_) - 1 else "none"
        layers.append((f"fc{i + 1}", W.T.copy(), b.copy(), act))
    return {
        "layers": layers,
        "train_accuracy": float(clf.score(xtr, ytr)),
        "test_accuracy": float(clf.score(xte, yte)),
        "x_train": xtr, "x_test": xte, "y_train": ytr, "y_test": yte,
    }
