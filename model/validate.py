"""The rules a spec obeys, as lists of one-line problems (empty when the spec is sound).

:class:`~lognet.model.spec.LayerSpec` and :class:`~lognet.model.spec.NetworkSpec` call these on
construction and raise :class:`~lognet.model.arch.SpecError` with every problem found, so a spec
that exists is one the generator can build: sizes, formats, the topology, the level table, an
accumulator that cannot overflow, and the combinations of arithmetic, tunability and levels.
"""

from __future__ import annotations

import numpy as np

from lognet.base.names import sanitise

from .arch import Arith, Microarch, Tunable
from .qformat import QFormat

__all__ = ["MAX_ACC_WIDTH", "MAX_CONNECTIONS", "MAX_IO", "MAX_LEVELS", "layer_problems",
           "level_terms", "network_problems", "size_problems"]

#: Widest accumulator the int64 reference (and the generator) supports.
MAX_ACC_WIDTH = 62
#: Most levels per layer: the PARAMS register holds K in 8 bits.
MAX_LEVELS = 255
#: Most inputs or outputs of a layer: the SHAPE register holds each count in 16 bits.
MAX_IO = 65535
#: Most connections of a layer (4.2 M): over four times what the largest target's block RAM
#: holds (an ECP5-85F's 3.7 Mbit at 4 bits a connection), and small enough that building the
#: spec stays near a gigabyte of memory and seconds (16.8 M took 4 GB and a minute).
MAX_CONNECTIONS = 1 << 22


def size_problems(n_in, n_out, n_conn=None) -> list[str]:
    """The size limits alone, cheap enough to check before anything is allocated."""
    p = []
    for name, v in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(v, int) and not isinstance(v, bool) and v > MAX_IO:
            p.append(f"{name} = {v} is more than the supported {MAX_IO}")
    if n_conn is not None and n_conn > MAX_CONNECTIONS:
        p.append(f"{n_conn} connections is more than the supported {MAX_CONNECTIONS}; prune "
                 f"the layer (--topology) or split it")
    return p


def level_terms(v: int) -> list[int]:
    """The exponents of the powers of two that sum to ``v`` (its set bits), lowest first."""
    v = int(v)
    return [b for b in range(v.bit_length()) if v >> b & 1]


def layer_problems(s) -> list[str]:
    """Every rule ``s`` (a LayerSpec) breaks."""
    p: list[str] = []
    if not isinstance(s.name, str) or not s.name:
        p.append("name must be a non-empty string")
    for attr in ("n_in", "n_out"):
        v = getattr(s, attr)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            p.append(f"{attr} must be an integer >= 1 (got {v!r})")
    for attr in ("in_fmt", "level_fmt", "bias_fmt", "out_fmt"):
        if not isinstance(getattr(s, attr), QFormat):
            p.append(f"{attr} must be a QFormat")
    if p:
        return p
    p += size_problems(s.n_in, s.n_out, sum(len(r) for r in s.sources))
    for attr in ("levels", "bias"):
        big = next((v for v in getattr(s, attr) if abs(v) >= 1 << 62), None)
        if big is not None:
            p.append(f"{attr} hold {big}, too large for any format")
    if p:
        return p
    if s.level_fmt.signed:
        p.append("level format must be unsigned (signs are stored per connection)")
    if s.K < 1:
        p.append("the level table is empty; give at least one level")
    if s.K > MAX_LEVELS:
        p.append(f"{s.K} levels is more than the supported {MAX_LEVELS} (PARAMS holds K in "
                 f"8 bits)")
    lv = np.asarray(s.levels, dtype=np.int64)
    if s.K and not s.level_fmt.contains(lv):
        p.append(
            f"levels {lv.min()}..{lv.max()} do not fit the level format "
            f"{s.level_fmt.describe()} (0..{s.level_fmt.max_int}); widen it"
        )
    if s.K > 1 and np.any(np.diff(lv) <= 0):
        p.append("levels must be strictly increasing")
    if s.bias_shift < 0:
        p.append(
            f"bias has {s.bias_fmt.frac_bits} fraction bits, more than the accumulator's "
            f"{s.acc_frac}; use at most {s.acc_frac}"
        )
    if s.shift < 0:
        p.append(
            f"output has {s.out_fmt.frac_bits} fraction bits, more than the accumulator's "
            f"{s.acc_frac}; use at most {s.acc_frac}"
        )
    for attr in ("sources", "signs", "indices"):
        if len(getattr(s, attr)) != s.n_out:
            p.append(f"{attr} has {len(getattr(s, attr))} rows, expected n_out={s.n_out}")
    if len(s.bias) != s.n_out:
        p.append(f"bias has {len(s.bias)} entries, expected n_out={s.n_out}")
    if p:
        return p
    for j, (src, g, k) in enumerate(zip(s.sources, s.signs, s.indices)):
        if not (len(src) == len(g) == len(k)):
            p.append(f"output {j}: sources, signs and indices differ in length")
            break
        if len(src) == 0:
            p.append(f"output {j} has no connections (fan-in must be >= 1)")
            break
        if len(src) > s.n_in:
            p.append(f"output {j}: fan-in {len(src)} is larger than the {s.n_in} inputs")
            break
    if p:
        return p
    try:
        f = s.flat
    except OverflowError:
        return ["sources, signs or indices hold a value too large for 64 bits"]
    if f["src"].min() < 0 or f["src"].max() >= s.n_in:
        p.append(f"a source index is outside 0..{s.n_in - 1}")
    else:
        starts = np.cumsum((0,) + s.fanins[:-1])
        d = np.diff(f["src"])
        ok = np.ones(len(d), bool) if len(d) else d
        if len(d):
            boundary = np.zeros(len(d), bool)
            boundary[(starts[1:] - 1)] = True
            ok = (d > 0) | boundary
            if not ok.all():
                j = int(f["out"][1:][~ok][0])
                p.append(f"output {j}: sources must be strictly increasing (no duplicates)")
    if not np.isin(f["sign"], (0, 1)).all():
        p.append("signs must be 0 (positive) or 1 (negative)")
    if f["index"].min() < 0 or f["index"].max() >= s.K:
        p.append(f"a level index is outside 0..{s.K - 1}")
    if not s.bias_fmt.contains(np.asarray(s.bias, dtype=np.int64)):
        p.append(
            f"a bias is outside the bias format {s.bias_fmt.describe()} "
            f"({s.bias_fmt.min_int}..{s.bias_fmt.max_int})"
        )
    if not p and s.acc_width > MAX_ACC_WIDTH:
        p.append(
            f"the accumulator needs {s.acc_width} bits, more than the supported "
            f"{MAX_ACC_WIDTH}; narrow the formats or the fan-in"
        )
    if s.arch.kind is Microarch.FOLDED and s.arch.lanes > s.n_out:
        # a lane computes whole outputs (output j in lane j % P): more lanes would idle
        p.append(
            f"folded with {s.arch.lanes} lanes but only {s.n_out} outputs; "
            f"use at most {s.n_out} lanes (a lane computes whole outputs)"
        )
    for beat, n, side in ((s.arch.in_beat, s.n_in, "input"), (s.arch.out_beat, s.n_out, "output")):
        if not beat:
            continue
        if s.arch.kind is not Microarch.FOLDED and beat != n:
            p.append(f"{side} beats of {beat} need a folded layer (parallel cores take whole "
                     f"vectors); use --arch folded:P or drop the beat")
        elif beat > n or n % beat:
            divisors = [d for d in range(1, n + 1) if n % d == 0]
            p.append(f"an {side} beat of {beat} elements does not divide the {n} {side}s; "
                     f"use one of {_few(divisors)}")
    if s.arch.single_copy and (s.arch.kind is not Microarch.FOLDED
                               or s.arch.tunable is not Tunable.ALL):
        p.append("single_copy keeps one copy of writable connection words: it needs a folded "
                 "layer with tunable=all (use --arch folded:P --tunable all)")
    if s.arch.arith is Arith.MULTIPLY and s.arch.tunable is Tunable.LEVELS:
        p.append("arith=multiply stores plain weights and has no level table; use --tunable "
                 "all or none with it")
    if s.arch.arith is Arith.SHIFT:
        bad = next((v for v in s.levels if len(level_terms(v)) > 2), None)
        if bad is not None:
            p.append(f"level {bad} is not a power of two or a sum of two; arith=shift needs "
                     f"the pow2 or apot picker")
    return p


def _few(values: list[int]) -> str:
    """``1, 2, 4, ..., 512`` for a long list of choices."""
    if len(values) <= 8:
        return ", ".join(map(str, values))
    return ", ".join(map(str, values[:4])) + ", ..., " + ", ".join(map(str, values[-2:]))


def network_problems(n) -> list[str]:
    """Every rule ``n`` (a NetworkSpec) breaks beyond those of its layers."""
    p = []
    if not n.layers:
        p.append("a network needs at least one layer")
    names = [layer.name for layer in n.layers]
    if len(set(names)) != len(names):
        p.append("layer names must be unique")
    else:
        seen: dict[str, str] = {}
        for name in names:  # names reach HDL, C macros and file names sanitised
            other = seen.setdefault(sanitise(name), name)
            if other != name:
                p.append(f"layer names {other!r} and {name!r} both become {sanitise(name)!r} "
                         f"in HDL and C; rename one")
    for a, b in zip(n.layers, n.layers[1:]):
        if a.n_out != b.n_in:
            p.append(
                f"layer {a.name!r} has {a.n_out} outputs but the next layer {b.name!r} "
                f"has {b.n_in} inputs"
            )
        if a.n_out == b.n_in and a.out_beat_size != b.in_beat_size:
            p.append(
                f"layer {a.name!r} emits beats of {a.out_beat_size} elements but the next "
                f"layer {b.name!r} takes beats of {b.in_beat_size}; make them equal"
            )
        fa = (a.out_fmt.int_bits, a.out_fmt.frac_bits, a.out_fmt.signed)
        fb = (b.in_fmt.int_bits, b.in_fmt.frac_bits, b.in_fmt.signed)
        if fa != fb:
            p.append(
                f"layer {a.name!r} outputs {a.out_fmt.describe()} but layer {b.name!r} "
                f"expects {b.in_fmt.describe()}; make the formats equal"
            )
    return p
