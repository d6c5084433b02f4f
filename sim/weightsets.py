"""Weight sets and input vectors for the scenarios: other weight sets loadable into a core built
from a spec (same shape and topology, within what its tunability tier lets the registers change),
the extreme sets (largest levels, all signs positive or all negative, extreme biases) and the
extreme input vectors.

Pure NumPy on the IR; the same spec and seed always give the same sets.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lognet.model.arch import Arith, Tunable
from lognet.model.spec import LayerSpec, NetworkSpec

__all__ = ["extreme_inputs", "extreme_sets", "level_pool", "perturbed_weights", "tunable"]


def _rebuild(spec, layers):
    if isinstance(spec, LayerSpec):
        return layers[0]
    return NetworkSpec(spec.name, tuple(layers))


def tunable(spec) -> bool:
    """True when some register of the core can be rewritten."""
    return any(la.arch.tunable is not Tunable.NONE for la in spec.layers)


def level_pool(layer: LayerSpec) -> list[int]:
    """Every level value the built layer can hold, ascending. Shift builds hold only values with
    as many set bits as their shift terms (one: powers of two; two: APoT sums)."""
    bits = layer.level_fmt.width
    if layer.arch.arith is Arith.SHIFT:
        from lognet.hw.arch import shift_terms

        terms = shift_terms(layer)
        return sorted({0} | {(1 << a) | ((1 << b) if terms == 2 else 0)
                             for a in range(bits) for b in range(bits)})
    return list(range(layer.level_fmt.max_int + 1))


def _new_levels(layer: LayerSpec, rng: np.random.Generator) -> tuple[int, ...]:
    pool = level_pool(layer)
    if 0 not in layer.levels:
        pool = pool[1:]
    if len(pool) < layer.K:
        return layer.levels
    return tuple(sorted(int(v) for v in rng.choice(pool, size=layer.K, replace=False)))


def perturbed_weights(spec, seed: int, *, levels_only: bool = False):
    """Another weight set for a core built from ``spec`` (its arith resolved): new levels and
    biases, and new signs and indices where the tier allows and ``levels_only`` is False."""
    rng = np.random.default_rng(seed)

    def one(layer: LayerSpec) -> LayerSpec:
        if layer.arch.tunable is Tunable.NONE:
            return layer
        b = layer.bias_fmt
        ch = {"levels": _new_levels(layer, rng),
              "bias": tuple(int(v) for v in rng.integers(b.min_int, b.max_int + 1, layer.n_out))}
        if layer.arch.tunable is Tunable.ALL and not levels_only:
            ch["signs"] = [rng.integers(0, 2, len(s)).tolist() for s in layer.sources]
            ch["indices"] = [rng.integers(0, layer.K, len(s)).tolist() for s in layer.sources]
        return dataclasses.replace(layer, **ch)

    return _rebuild(spec, [one(la) for la in spec.layers])


def _extreme(layer: LayerSpec, negative: bool) -> LayerSpec:
    if layer.arch.tunable is Tunable.NONE:
        return layer
    top = tuple(level_pool(layer)[-layer.K:])
    ch = {"levels": top,
          "bias": (layer.bias_fmt.min_int if negative else layer.bias_fmt.max_int,) * layer.n_out}
    if layer.arch.tunable is Tunable.ALL:
        ch["signs"] = [[int(negative)] * len(s) for s in layer.sources]
        ch["indices"] = [[layer.K - 1] * len(s) for s in layer.sources]
    return dataclasses.replace(layer, **ch)


def extreme_sets(spec) -> list[tuple[str, object]]:
    """``(name, weight set)`` pairs: the largest levels the build can hold, every connection on
    the largest one with a positive (then negative) sign where signs are writable, and the
    largest (then smallest) biases. Empty when nothing is writable."""
    if not tunable(spec):
        return []
    return [
        (f"max levels, {name} signs", _rebuild(spec, [_extreme(la, neg) for la in spec.layers]))
        for name, neg in (("positive", False), ("negative", True))
    ]


def extreme_inputs(spec) -> np.ndarray:
    """All-max, all-min, alternating max/min both ways, all-zero and all-one-LSB vectors."""
    fmt, n = spec.in_fmt, spec.n_in
    hi, lo = fmt.max_int, fmt.min_int
    alt = np.where(np.arange(n) % 2 == 0, hi, lo)
    rows = [np.full(n, hi), np.full(n, lo), alt, np.where(alt == hi, lo, hi), np.zeros(n),
            np.ones(n)]
    if fmt.signed:
        rows.append(np.full(n, -1))
    return np.array(rows, dtype=np.int64)
