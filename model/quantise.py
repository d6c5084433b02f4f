"""Float layers to the IR: topology, levels, fixed-point formats, signs and indices.

Formats are chosen so the real-valued meaning is kept through a network: every layer reads its
inputs in the previous layer's output format, and the output format of each layer is calibrated
on real inputs (the largest |activation| seen sets the integer bits, the remaining bits of
``out_bits`` are fraction bits, never more than the accumulator has).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lognet.base.errors import InputError

from .arch import Activation, Arch
from .levels import (
    ScaleError,
    assign,
    choose_level_format,
    pick_levels,
    round_levels,
    whole_bits_needed,
)
from .qformat import QFormat, Rounding
from .reference import reference_layer
from .spec import LayerSpec, NetworkSpec
from .topology import describe_topology, make_topology
from .validate import MAX_CONNECTIONS, size_problems

__all__ = [
    "bias_format",
    "calibrated_format",
    "load_dense_layers",
    "quantise_layer",
    "quantise_layers_from_file",
    "quantise_network",
    "random_layer_spec",
    "BIAS_CHOICES",
]


#: Width of the provisional output read before calibration (sign excluded): wide enough that no
#: accumulator of a calibration run saturates in practice, narrow enough that the probe's integers
#: stay far inside int64 whatever the shift.
PROBE_BITS = 30
#: Random calibration vectors drawn when no real inputs are given: enough that the largest
#: |activation| seen is close to the largest a layer gives on uniform inputs.
RANDOM_CALIB_VECTORS = 512


def _bits_for(amax: float) -> int:
    """Integer bits (sign excluded) that hold ``amax``: smallest i with amax < 2**i."""
    if amax <= 0:
        return 0
    return int(np.floor(np.log2(amax))) + 1


def bias_format(b, bits: int, acc_frac: int) -> QFormat:
    """Signed ``bits``-bit bias format with as many fraction bits as the largest |b| allows,
    at most the accumulator's."""
    amax = float(np.max(np.abs(b))) if np.size(b) else 0.0
    ib = _bits_for(amax)
    frac = min(acc_frac, bits - 1 - ib)
    if frac < 0:
        need, shift = whole_bits_needed(amax, bits, True)
        raise ScaleError(f"the biases reach {amax:.3g}, more than {bits} signed bias bits "
                         f"hold", "bias", None, need, shift)
    return QFormat(bits - 1 - frac, frac, True)


def calibrated_format(y_real, bits: int, signed: bool, acc_frac: int,
                      rounding: Rounding = Rounding.HALF_EVEN, what: str = "the values",
                      option: str | None = None) -> QFormat:
    """Output format of ``bits`` bits whose range covers the largest |y| seen (saturating).
    When even a step of 1 cannot hold it: InputError naming ``what``, or with ``option`` (the
    layer's output width option) a :class:`ScaleError` whose fixes are that width or smaller
    weights."""
    amax = float(np.max(np.abs(y_real))) if np.size(y_real) else 0.0
    ib = _bits_for(amax)
    frac = min(acc_frac, bits - int(signed) - ib)
    if frac < 0:
        need, shift = whole_bits_needed(amax, bits, signed)
        problem = (f"{what} reach {amax:.3g}, more than {bits} {'signed ' if signed else ''}"
                   f"bits hold (the step is 1 at the coarsest)")
        if option is None:
            raise InputError(f"{problem}; give {need} bits or scale the values down by "
                             f"2**{shift}")
        raise ScaleError(problem, "output", option, need, shift)
    return QFormat(bits - int(signed) - frac, frac, signed, rounding, True)


def quantise_layer(W, b, *, name: str, K: int, picker: str, topology: str = "dense",
                   in_fmt: QFormat, level_bits: int = 8, bias_bits: int = 16,
                   out_bits: int = 8, out_fmt: QFormat | None = None, activation="none",
                   arch: Arch | None = None, calib_x=None, zero_level: bool = False,
                   seed: int = 0) -> tuple[LayerSpec, dict]:
    """One float layer ``y = act(W x + b)`` (W of shape (n_out, n_in)) to a :class:`LayerSpec`.

    ``calib_x``: integer inputs (in ``in_fmt``) used to calibrate the output format when
    ``out_fmt`` is not given."""
    W = np.asarray(W, dtype=np.float64)
    n_out, n_in = W.shape
    b = np.zeros(n_out) if b is None else np.asarray(b, dtype=np.float64).ravel()
    if b.shape != (n_out,):
        raise InputError(f"layer {name!r}: bias has {b.size} entries, expected {n_out}")
    sources = make_topology(W, topology, seed)
    w_conn = np.concatenate([W[j, s] for j, s in enumerate(sources)])
    res = pick_levels(w_conn, K, picker, zero_level=zero_level, bits=level_bits)
    try:
        level_fmt = choose_level_format(res.levels, level_bits)
        q, sqnr_after, note = round_levels(w_conn, res.levels, level_fmt)
        sign, idx = assign(w_conn, q * level_fmt.step)
        acc_frac = in_fmt.frac_bits + level_fmt.frac_bits
        bfmt = bias_format(b, bias_bits, acc_frac)
    except ScaleError as e:
        raise e.about(f"layer {name!r}") from None
    cuts = np.cumsum([len(s) for s in sources])[:-1]
    act = Activation(activation)
    common = dict(
        name=name, n_in=n_in, n_out=n_out, in_fmt=in_fmt, level_fmt=level_fmt, bias_fmt=bfmt,
        levels=tuple(int(v) for v in q), sources=[s.tolist() for s in sources],
        signs=[s.tolist() for s in np.split(sign, cuts)],
        indices=[s.tolist() for s in np.split(idx, cuts)],
        bias=tuple(int(v) for v in bfmt.quantise(b)), activation=act, arch=arch or Arch(),
        meta=(("picker", picker), ("K", str(K)), ("topology", topology),
              ("sqnr_db", f"{res.sqnr_db:.3f}"), ("sqnr_rounded_db", f"{sqnr_after:.3f}"),
              ("picker_chosen", res.chosen), ("picker_note", res.note),
              *((("rounding_note", note),) if note else ())),
    )
    if out_fmt is None:
        # provisional wide output to read the accumulators in real units, then calibrate
        wide = QFormat(PROBE_BITS - acc_frac if acc_frac < PROBE_BITS else 0,
                       min(acc_frac, PROBE_BITS), True)
        probe = LayerSpec(**common, out_fmt=wide)
        if calib_x is None:
            rng = np.random.default_rng(seed)
            calib_x = rng.integers(in_fmt.min_int, in_fmt.max_int + 1,
                                   (RANDOM_CALIB_VECTORS, n_in))
        y = reference_layer(probe, calib_x) * wide.step
        out_fmt = calibrated_format(y, out_bits, act is Activation.NONE, acc_frac,
                                    what=f"layer {name!r}: its outputs on the calibration "
                                         f"inputs", option="--out-bits")
    spec = LayerSpec(**common, out_fmt=out_fmt)
    report = {
        "name": name, "picker": picker, "picker_chosen": res.chosen, "K": K,
        "levels_real": res.levels.tolist(),
        "levels_int": [int(v) for v in q], "sqnr_db": res.sqnr_db, "sqnr_rounded_db": sqnr_after,
        "picker_note": res.note, "rounding_note": note,
        "formats": {"input": in_fmt.describe(), "level": level_fmt.describe(),
                    "bias": bfmt.describe(), "output": out_fmt.describe()},
        "topology": {"text": topology, **describe_topology(sources)},
    }
    return spec, report


def quantise_network(layers, *, K: int, picker: str, topology: str = "dense", in_fmt: QFormat,
                     level_bits: int = 8, bias_bits: int = 16, out_bits: int = 8,
                     arch: Arch | None = None, calib_x=None, zero_level: bool = False,
                     name: str = "net", seed: int = 0) -> tuple[NetworkSpec, list[dict]]:
    """``layers``: list of ``(name, W, b, activation)``. ``calib_x``: integer inputs in
    ``in_fmt``; each layer's output format is calibrated on the previous layers' integer
    outputs, so it is what the hardware will see."""
    specs, reports = [], []
    fmt = in_fmt
    x = calib_x
    if x is None:
        rng = np.random.default_rng(seed)
        x = rng.integers(in_fmt.min_int, in_fmt.max_int + 1,
                         (RANDOM_CALIB_VECTORS, layers[0][1].shape[1]))
    for i, (lname, W, b, act) in enumerate(layers):
        # a lane computes whole outputs: a network-wide folded:P gives a narrower layer at
        # most one lane per output
        a, lanes_note = arch, ""
        if a is not None and a.lanes > W.shape[0]:
            a = dataclasses.replace(a, lanes=W.shape[0])
            lanes_note = (f"{arch.lanes} lanes asked, {W.shape[0]} built: the layer has "
                          f"{W.shape[0]} outputs and a lane computes whole outputs")
        spec, rep = quantise_layer(W, b, name=lname, K=K, picker=picker, topology=topology,
                                   in_fmt=fmt, level_bits=level_bits, bias_bits=bias_bits,
                                   out_bits=out_bits, activation=act, arch=a, calib_x=x,
                                   zero_level=zero_level, seed=seed + i)
        rep["lanes_note"] = lanes_note
        x = reference_layer(spec, x)
        fmt = dataclasses.replace(spec.out_fmt)
        specs.append(spec)
        reports.append(rep)
    return NetworkSpec(name, tuple(specs)), reports


#: the ``bias`` choices of :func:`random_layer_spec`
BIAS_CHOICES = ("none", "random")


def random_layer_spec(n_in: int, n_out: int, mu: float, sigma: float, K: int, *,
                      picker: str = "lognormal-lloyd", seed: int = 0, topology: str = "dense",
                      in_bits: int = 8, in_signed: bool = True, level_bits: int = 8,
                      out_bits: int = 8, activation: str = "none", bias: str = "none",
                      bias_bits: int = 16, arch: Arch | None = None,
                      name: str = "layer") -> LayerSpec:
    """A layer of the chosen size whose |w| are drawn from LN(mu, sigma) with random signs.

    Inputs are ``in_bits`` wide: signed on [-1, 1) (``sQ0.f``), or with ``in_signed`` False
    unsigned on [0, 1) (``uQ0.f``). ``activation``: ``none`` or ``relu``. ``bias``: ``none``
    (all zero) or ``random``: each output's bias drawn from N(0, s^2), s the RMS over outputs of
    ``|W_j| / sqrt(3)`` (the spread of ``W x`` for inputs uniform on [-1, 1)), held in a signed
    ``bias_bits`` format. The weights do not depend on ``bias`` or ``activation``."""
    if n_in < 1 or n_out < 1:
        raise InputError("a layer needs at least one input and one output")
    if sigma <= 0:
        raise InputError(f"sigma must be > 0 (got {sigma})")
    if bias not in BIAS_CHOICES:
        raise InputError(f"bias {bias!r}: use none or random")
    if activation not in ("none", "relu"):
        raise InputError(f"activation {activation!r}: use none or relu")
    if not 2 <= bias_bits <= 32:
        raise InputError(f"bias width {bias_bits}: give 2..32 bits")
    # the dense matrix is drawn before any topology prunes it: check its size first
    too_big = size_problems(n_in, n_out)
    if too_big:
        raise InputError(f"a {n_in} x {n_out} layer: {too_big[0]}")
    if n_in * n_out > MAX_CONNECTIONS:
        raise InputError(f"a {n_in} x {n_out} layer: its weights are drawn as a dense matrix "
                         f"of {n_in * n_out:,} before any topology keeps some of them, more than "
                         f"the {MAX_CONNECTIONS:,} connections of a layer; give fewer inputs or "
                         f"outputs")
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", under="ignore"):
        W = np.exp(rng.normal(mu, sigma, (n_out, n_in))) * rng.choice([-1.0, 1.0], (n_out, n_in))
    if not np.isfinite(W).all():
        raise InputError(f"LN(mu={mu:g}, sigma={sigma:g}) draws weights beyond the float64 range "
                         f"(e^709); use a smaller mu or sigma")
    if not W.any():
        raise InputError(f"LN(mu={mu:g}, sigma={sigma:g}) draws weights that are 0 in float64 "
                         f"(below e^-745); use a larger mu")
    b = None
    if bias == "random":
        s = float(np.sqrt(np.mean(np.sum(W * W, axis=1)) / 3.0))
        b = rng.normal(0.0, s, n_out)
    in_fmt = QFormat(0, in_bits - int(in_signed), in_signed)
    try:
        spec, _ = quantise_layer(W, b, name=name, K=K, picker=picker, topology=topology,
                                 in_fmt=in_fmt, level_bits=level_bits, bias_bits=bias_bits,
                                 out_bits=out_bits, activation=activation, arch=arch,
                                 seed=seed)
    except ScaleError as e:
        # the weights are exp(mu + sigma z): a smaller mu divides them all by the same factor
        raise InputError(f"LN(mu={mu:g}, sigma={sigma:g}): {e.problem}; {e.bits_fix()}use a "
                         f"smaller mu (at most {mu - e.shift * np.log(2):.2f}, which divides "
                         f"the weights by 2**{e.shift})") from None
    return spec


def load_dense_layers(path, layers=None, activation: str = "relu-hidden", *,
                      how_to_select: str = "select layers that chain (--layer)") -> list[tuple]:
    """Dense layers of a weight file as ``(name, W, b, activation)``, chained in file order
    (names sanitised for the HDL, biases paired by name). ``activation``: ``relu-hidden``
    (ReLU on all but the last layer), ``relu`` or ``none``. ``how_to_select`` ends the message
    when two chosen layers do not chain."""
    from lognet.base.names import sanitise

    from .weights import load_weights, pair_biases, select_layers

    if activation not in ("relu-hidden", "relu", "none"):
        raise InputError(f"activation {activation!r}: use relu-hidden, relu or none")
    pairs = pair_biases(select_layers(load_weights(path), layers, require_2d=True))
    for (n1, W1, _), (n2, W2, _) in zip(pairs, pairs[1:]):
        if W1.shape[0] != W2.shape[1]:
            raise InputError(f"{n1} has {W1.shape[0]} outputs but {n2} has {W2.shape[1]} "
                             f"inputs; {how_to_select}")
    seen: dict[str, str] = {}
    for n, _, _ in pairs:  # layer names reach HDL, C macros and file names sanitised
        other = seen.setdefault(sanitise(n), n)
        if other != n:
            raise InputError(f"{path}: arrays {other!r} and {n!r} both become the layer name "
                             f"{sanitise(n)!r} (names are sanitised for HDL, C and file "
                             f"names); rename one in the file or leave one out (--layer)")
    last = len(pairs) - 1
    return [(sanitise(n), W, b, ("relu" if i < last else "none")
             if activation == "relu-hidden" else activation)
            for i, (n, W, b) in enumerate(pairs)]


def quantise_layers_from_file(path, *, layers=None, K: int, picker: str, topology: str,
                              in_bits: int = 8, in_signed: bool = True, level_bits: int = 8,
                              out_bits: int = 8, activation: str = "relu-hidden",
                              arch: Arch | None = None, seed: int = 0, zero_level=False,
                              calib=None) -> tuple[LayerSpec | NetworkSpec, list[dict]]:
    """The ``lognet quantise`` verb: dense layers of a weight file, chained in file order. The
    spec (a lone layer as a :class:`LayerSpec`) and one report per layer (the
    :func:`quantise_layer` reports)."""
    from lognet.base.names import sanitise

    items = load_dense_layers(path, layers, activation)
    in_fmt = QFormat(0, in_bits - int(in_signed), in_signed)
    calib_x = None
    if calib is not None:
        from lognet.base.files import load_npy

        xr = load_npy(calib, "the calibration inputs")
        if xr.dtype.kind not in "biuf":
            raise InputError(f"{calib}: {xr.dtype} values; the calibration inputs are real "
                             f"numbers (float or integer arrays)")
        if xr.ndim != 2 or xr.shape[1] != items[0][1].shape[1]:
            raise InputError(f"{calib}: shape {xr.shape}, expected (N, {items[0][1].shape[1]})")
        if not np.isfinite(xr).all():
            raise InputError(f"{calib}: NaN or infinite values; give finite real inputs")
        calib_x = in_fmt.quantise(xr)
    net, reports = quantise_network(items, K=K, picker=picker, topology=topology, in_fmt=in_fmt,
                                    level_bits=level_bits, out_bits=out_bits, arch=arch,
                                    calib_x=calib_x, zero_level=zero_level, seed=seed,
                                    name=sanitise(str(path).rsplit("/", 1)[-1].split(".")[0]))
    spec = net.layers[0] if len(net.layers) == 1 else net
    return spec, reports
