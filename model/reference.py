"""The bit-exact integer reference, and a float reference for comparison.

Only NumPy int64 arithmetic: the accumulator width is bounded by
:attr:`LayerSpec.acc_width` <= 62 bits, so no intermediate can overflow. The hardware must give
exactly these integers; every test compares with ``np.testing.assert_array_equal``.
"""

from __future__ import annotations

import numpy as np

from .arch import Activation
from .qformat import clamp_or_wrap, shift_round
from .spec import LayerSpec, NetworkSpec

__all__ = ["check_inputs", "float_reference", "reference", "reference_acc", "reference_layer"]


def check_inputs(spec: LayerSpec | NetworkSpec, x) -> np.ndarray:
    """``x`` as an int64 array of shape ``(N, n_in)``; raises ValueError naming the problem."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        if (x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x))
                and np.all(np.abs(x) < 2.0**62)):
            x = x.astype(np.int64)
        else:
            raise ValueError(
                f"inputs must be integers in the input format (got dtype {x.dtype}); "
                f"quantise them first"
            )
    if x.dtype == np.uint64 and x.size and x.max() > np.iinfo(np.int64).max:
        fmt = spec.in_fmt
        raise ValueError(f"inputs reach {x.max()}, outside the input format {fmt.describe()} "
                         f"({fmt.min_int}..{fmt.max_int})")
    x = x.astype(np.int64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != spec.n_in:
        raise ValueError(f"inputs have shape {x.shape}, expected (N, {spec.n_in})")
    fmt = spec.in_fmt
    if not fmt.contains(x):
        raise ValueError(
            f"inputs span {x.min()}..{x.max()}, outside the input format {fmt.describe()} "
            f"({fmt.min_int}..{fmt.max_int})"
        )
    return x


def reference_acc(spec: LayerSpec, x, levels=None, bias=None) -> np.ndarray:
    """Accumulators after the bias (before activation and requantisation), shape (N, n_out).

    ``levels`` / ``bias`` override the spec's (used to inject a deliberate error in tests)."""
    x = check_inputs(spec, x)
    w = spec.weight_matrix(levels)
    b = np.asarray(spec.bias if bias is None else bias, dtype=np.int64)
    # int64 matmul: exact, since |acc| < 2**62 by the derivation of acc_width.
    return x @ w.T + (b << np.int64(spec.bias_shift))[None, :]


def reference_layer(spec: LayerSpec, x, levels=None, bias=None) -> np.ndarray:
    """Integer outputs of one layer, shape (N, n_out)."""
    acc = reference_acc(spec, x, levels, bias)
    if spec.activation is Activation.RELU:
        acc = np.maximum(acc, 0)
    y = shift_round(acc, spec.shift, spec.out_fmt.rounding)
    return clamp_or_wrap(y, spec.out_fmt)


def reference(spec: LayerSpec | NetworkSpec, x) -> np.ndarray:
    """Bit-exact integer outputs of a layer or a network for integer inputs ``x``.

    ``x`` has shape ``(n_in,)`` or ``(N, n_in)``; the result has shape ``(N, n_out)``."""
    y = check_inputs(spec, x)
    for layer in spec.layers:
        y = reference_layer(layer, y)
    return y


def float_reference(spec: LayerSpec | NetworkSpec, x_real) -> np.ndarray:
    """Real-valued outputs with the spec's weights but no rounding or saturation anywhere
    (except that each layer's input is taken as given): what the quantised weights would
    compute in exact arithmetic. Shape (N, n_out), float64."""
    y = np.atleast_2d(np.asarray(x_real, dtype=np.float64))
    for layer in spec.layers:
        w = layer.weight_matrix().astype(np.float64) * layer.level_fmt.step
        b = layer.bias_fmt.to_real(layer.bias)
        y = y @ w.T + b[None, :]
        if layer.activation is Activation.RELU:
            y = np.maximum(y, 0.0)
    return y
