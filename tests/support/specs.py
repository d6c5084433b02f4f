"""Random but valid layer specs for the hardware tests (no fitting: integers straight into the
IR, so the tests exercise every corner the IR allows)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lognet.model.arch import Arch
from lognet.model.qformat import QFormat
from lognet.model.spec import LayerSpec


def make_spec(n_in=6, n_out=4, K=4, fanin=None, *, in_bits=8, in_signed=True, level_bits=6,
              out_bits=8, bias_bits=12, arch="parallel", lanes=1, arith="shared", tunable="all",
              activation="none", rounding="half_even", saturate=True, pow2=False, apot=False,
              seed=0, name="layer", in_fmt=None, in_beat=0, out_beat=0):
    rng = np.random.default_rng(seed)
    fanin = n_in if fanin is None else fanin
    if pow2 and K > level_bits:
        apot = True  # not enough distinct powers of two: use sums of two
    if pow2 or apot:
        cands = set()
        while len(cands) < K:
            a = int(rng.integers(0, level_bits))
            if apot and rng.random() < 0.6:
                b = int(rng.integers(0, level_bits))
                v = (1 << a) + (1 << b) if a != b else 1 << a
            else:
                v = 1 << a
            if v < (1 << level_bits):
                cands.add(v)
        levels = sorted(cands)
    else:
        levels = sorted(rng.choice(np.arange(1, 1 << level_bits), size=K, replace=False).tolist())
    sources = [sorted(rng.choice(n_in, size=fanin, replace=False).tolist()) for _ in range(n_out)]
    signs = [rng.integers(0, 2, fanin).tolist() for _ in range(n_out)]
    indices = [rng.integers(0, K, fanin).tolist() for _ in range(n_out)]
    in_fmt = in_fmt or QFormat(0, in_bits - int(in_signed), in_signed)
    level_fmt = QFormat(0, level_bits, False)
    acc_frac = in_fmt.frac_bits + level_fmt.frac_bits
    # output fraction chosen so the requantisation shift is a few bits
    out_frac = max(0, acc_frac - max(1, level_bits // 2 + (fanin.bit_length() // 2)))
    out_signed = activation != "relu" or bool(rng.integers(0, 2))
    out_fmt = QFormat(max(0, out_bits - int(out_signed) - out_frac), min(out_frac,
                      out_bits - int(out_signed)), out_signed, rounding, saturate)
    out_fmt = dataclasses.replace(out_fmt, frac_bits=min(out_fmt.frac_bits, acc_frac))
    bias_fmt = QFormat(max(0, bias_bits - 1 - acc_frac), min(acc_frac, bias_bits - 1), True)
    bias = rng.integers(bias_fmt.min_int, bias_fmt.max_int + 1, n_out).tolist()
    return LayerSpec(
        name=name, n_in=n_in, n_out=n_out, in_fmt=in_fmt, level_fmt=level_fmt, bias_fmt=bias_fmt,
        out_fmt=out_fmt, levels=levels, sources=sources, signs=signs, indices=indices, bias=bias,
        activation=activation, arch=Arch(arch, lanes, arith, tunable, in_beat, out_beat),
    )


def perturbed(spec: LayerSpec, seed: int, topology_fixed: bool = False) -> LayerSpec:
    """Another weight set for the same build: new levels, biases and (unless the tier wires them
    in) new signs and indices."""
    rng = np.random.default_rng(seed + 1000)
    fmt = spec.level_fmt
    if all(v & (v - 1) == 0 for v in spec.levels if v):  # keep shift-compatible
        exps = sorted(rng.choice(fmt.width, size=spec.K, replace=False).tolist())
        levels = [1 << e for e in exps]
    elif all(bin(v).count("1") <= 2 for v in spec.levels):
        cands = sorted({(1 << a) | (1 << b) for a in range(fmt.width) for b in range(fmt.width)})
        levels = sorted(rng.choice(cands, size=spec.K, replace=False).tolist())
    else:
        levels = sorted(rng.choice(np.arange(1, fmt.max_int + 1), size=spec.K,
                                   replace=False).tolist())
    bias = rng.integers(spec.bias_fmt.min_int, spec.bias_fmt.max_int + 1, spec.n_out).tolist()
    changes = dict(levels=levels, bias=bias)
    if not topology_fixed:
        changes["signs"] = [rng.integers(0, 2, len(s)).tolist() for s in spec.sources]
        changes["indices"] = [rng.integers(0, spec.K, len(s)).tolist() for s in spec.sources]
    return dataclasses.replace(spec, **changes)


def make_network(arches=(("parallel", 1, "shared"), ("folded", 2, "factored")), seed=0,
                 tunable="all"):
    """A chain of layers whose formats line up (each output format is the next input)."""
    from lognet.model.spec import NetworkSpec

    layers = []
    n_in = 6
    for i, (arch, lanes, arith) in enumerate(arches):
        n_out = 5 - i
        kw = dict(arch=arch, lanes=lanes, arith=arith, tunable=tunable, seed=seed + i,
                  name=f"fc{i}", activation="relu" if i < len(arches) - 1 else "none",
                  pow2=arith == "shift")
        if layers:
            kw["in_fmt"] = dataclasses.replace(layers[-1].out_fmt, rounding="floor",
                                               saturate=True)
        spec = make_spec(n_in, n_out, 4, n_in, **kw)
        if layers and spec.in_fmt != layers[-1].out_fmt:
            prev = layers[-1]
            layers[-1] = dataclasses.replace(prev, out_fmt=dataclasses.replace(
                prev.out_fmt, rounding=spec.in_fmt.rounding, saturate=spec.in_fmt.saturate))
        layers.append(spec)
        n_in = n_out
    return NetworkSpec("net", tuple(layers))
