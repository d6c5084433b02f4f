"""Distributions of each layer's outputs over a data set (the neuron outputs of arXiv:2405.10955,
which says they are lognormal too), fitted with the weights' machinery (:mod:`lognet.model.fit`).

Per layer two arrays, named after what they hold:

- ``<layer>.pre-activation``: the accumulator after the bias (``W x + b``), in real units; as
  for weights, the magnitudes are fitted (signs dropped);
- ``<layer>.post-relu+`` (ReLU layers only): the strictly positive outputs after the ReLU, the
  exact zeros the ReLU makes left out (their share is reported).

Two networks:

- the bit-exact integer network of a spec (:func:`lognet.model.reference.reference_acc` and
  :func:`~lognet.model.reference.reference_layer`): its accumulators are integers, its
  post-ReLU outputs the requantised ``out_fmt`` integers the next layer reads (few distinct
  values: the ``discrete`` flag says so); both are reported in real units (times the step);
- the float network, when the float weights are given (a spec holds only the codebook): the
  real-valued layers ``act(W x + b)`` on the real inputs.
"""

from __future__ import annotations

import numpy as np

from lognet.base.errors import InputError

from .arch import Activation
from .reference import reference_acc, reference_layer
from .spec import LayerSpec, NetworkSpec

__all__ = ["MAX_VALUES", "activation_arrays", "float_activation_arrays", "prepare_inputs"]

#: largest number of activation values (vectors x summed layer widths) one run collects
MAX_VALUES = 50_000_000


def prepare_inputs(spec: LayerSpec | NetworkSpec, x) -> tuple[np.ndarray, np.ndarray]:
    """``(x_real, x_int)`` from a data array: real values (float dtype) are quantised to the
    spec's input format (saturating); integers are taken as input codes."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != spec.n_in or x.shape[0] == 0:
        raise InputError(f"the data have shape {x.shape}; expected (N, {spec.n_in}) with N >= 1")
    widths = sum(la.n_out for la in spec.layers)
    if x.shape[0] * widths > MAX_VALUES:
        raise InputError(f"{x.shape[0]} vectors x {widths} outputs exceed {MAX_VALUES:,} "
                         f"activation values; use at most {MAX_VALUES // widths} vectors")
    fmt = spec.in_fmt
    if x.dtype.kind in "iu":
        if x.min() < fmt.min_int or x.max() > fmt.max_int:
            raise InputError(f"integer data span {x.min()}..{x.max()}, outside the input "
                             f"format {fmt.describe()} ({fmt.min_int}..{fmt.max_int}); give "
                             f"real values (float) to have them quantised")
        x_int = x.astype(np.int64)
        return fmt.to_real(x_int), x_int
    if x.dtype.kind != "f":
        raise InputError(f"the data have dtype {x.dtype}, not numbers")
    if not np.all(np.isfinite(x)):
        raise InputError("the data contain NaN or inf")
    return x.astype(np.float64), fmt.quantise(x)


def _pair(name: str, pre: np.ndarray, relu: bool, arrays: dict, info: dict) -> None:
    arrays[f"{name}.pre-activation"] = pre
    info[f"{name}.pre-activation"] = {"layer": name, "what": "pre-activation |W x + b|",
                                      "values": int(pre.size)}
    if relu:
        pos = pre[pre > 0]
        key = f"{name}.post-relu+"
        arrays[key] = pos
        info[key] = {"layer": name, "what": "post-ReLU, positive part (exact zeros left out)",
                     "values": int(pos.size),
                     "zero_fraction": float(1 - pos.size / pre.size) if pre.size else 0.0}


def activation_arrays(spec: LayerSpec | NetworkSpec, x_int) -> tuple[dict, dict]:
    """The integer network's activations: ``(arrays, info)`` keyed by array name. Values are in
    real units (integers times their format's step); post-ReLU values are the requantised
    outputs (``out_fmt``) the next layer reads."""
    arrays, info = {}, {}
    y = np.asarray(x_int, dtype=np.int64)
    for la in spec.layers:
        acc = reference_acc(la, y)
        step = 2.0 ** -la.acc_frac
        arrays[f"{la.name}.pre-activation"] = (acc * step).ravel()
        info[f"{la.name}.pre-activation"] = {
            "layer": la.name, "what": "pre-activation |W x + b| (integer accumulator x step)",
            "values": int(acc.size)}
        out = reference_layer(la, y)
        if la.activation is Activation.RELU:
            pos = out[out > 0].astype(np.float64) * la.out_fmt.step
            key = f"{la.name}.post-relu+"
            arrays[key] = pos
            info[key] = {"layer": la.name,
                         "what": f"post-ReLU, positive part, requantised to "
                                 f"{la.out_fmt.describe()} (exact zeros left out)",
                         "values": int(pos.size), "zero_fraction": float(1 - pos.size / out.size)}
        y = out
    return arrays, info


def float_activation_arrays(spec: LayerSpec | NetworkSpec, layers, x_real) -> tuple[dict, dict]:
    """The float network's activations from its real weights ``layers`` (``(name, W, b)``, in
    order, one per spec layer, with the spec's activations), on real inputs."""
    specs = spec.layers
    if len(layers) != len(specs):
        raise InputError(f"the weight file has {len(layers)} dense layers, the spec "
                         f"{len(specs)}; give the file the spec was quantised from")
    arrays, info = {}, {}
    y = np.asarray(x_real, dtype=np.float64)
    for (name, W, b), la in zip(layers, specs):
        if W.shape != (la.n_out, la.n_in):
            raise InputError(f"{name} has shape {W.shape}, the spec's layer {la.name} "
                             f"({la.n_out}, {la.n_in}); give the file the spec was quantised "
                             f"from")
        pre = y @ W.T + (0.0 if b is None else b[None, :])
        relu = la.activation is Activation.RELU
        _pair(la.name, pre.ravel(), relu, arrays, info)
        y = np.maximum(pre, 0.0) if relu else pre
    return arrays, info
