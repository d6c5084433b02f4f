"""Parallel layers and their register arrays (lognet.hw.bank, lognet.hw.parallel) in Amaranth's
simulator: the packed registers behave as one register per word (indexed reads and writes, the
unused addresses of a region), and the offset-binary datapath agrees with the integer reference
at the extremes of every arithmetic mode."""

import dataclasses

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator
from support.amsim import Reprogram, expected, run_core
from support.specs import make_spec, perturbed

from lognet.hw.bank import WordRegs, pack_words
from lognet.hw.layer import Layer
from lognet.hw.regmap import READ_LATENCY, RegisterMap
from lognet.model.reference import reference_acc


def test_pack_words_places_each_value_and_wraps_negatives():
    assert pack_words([1, 2, 3], 4) == 0x321
    assert pack_words([-1, 0, -8], 4) == 0x80F
    assert pack_words([], 7) == 0


@pytest.mark.parametrize("shape,count,per,regs", [
    (unsigned(4), 33, 16, 3),   # 16 words a register, the last register one word
    (signed(9), 7, 4, 2),       # a power of two of words: 4 x 9 bits, then 3 x 9
    (unsigned(40), 3, 1, 3),    # wider than half a register: one word each
    (unsigned(3), 1, 1, 1),
])
def test_word_regs_read_and_write_every_index(shape, count, per, regs):
    """Each word reads its power-on value through its view and through an indexed read; an
    indexed write changes exactly that word; an index past the last word writes nothing and
    reads 0."""
    width = shape.width
    if shape.signed:
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    else:
        lo, hi = 0, (1 << width) - 1
    rng = np.random.default_rng(count)
    init = rng.integers(lo, hi + 1, count).tolist()
    words = WordRegs("w", shape, init)
    assert (words.per, len(words.regs)) == (per, regs)
    assert all(len(r) <= 64 for r in words.regs)
    bits = max(1, (count - 1).bit_length())
    span = 1 << bits  # the indices an address of the region can name
    m = Module()
    index, value, enable = Signal(bits), Signal(shape), Signal()
    read = Signal(shape)
    words.write(m, enable, index, value)
    m.d.comb += read.eq(words.read(index))
    new = rng.integers(lo, hi + 1, count).tolist()
    seen = {}

    async def tb(ctx):
        assert [ctx.get(v) for v in words.views] == init
        for k in range(span):
            ctx.set(index, k)
            seen[("before", k)] = ctx.get(read)
        for k in range(span):  # write every index, the unused ones too
            ctx.set(index, k)
            ctx.set(value, new[k] if k < count else hi)
            ctx.set(enable, 1)
            await ctx.tick()
        ctx.set(enable, 0)
        seen["views"] = [ctx.get(v) for v in words.views]
        for k in range(span):
            ctx.set(index, k)
            seen[("after", k)] = ctx.get(read)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert [seen[("before", k)] for k in range(count)] == init
    assert seen["views"] == new
    assert [seen[("after", k)] for k in range(count)] == new
    assert all(seen[(t, k)] == 0 for t in ("before", "after") for k in range(count, span))


def bus(dut, writes, reads):
    """Bus writes, then reads, one per clock; returns ``{address: value}``."""
    got = {}

    async def tb(ctx):
        for a, w in writes:
            ctx.set(dut.cfg.addr, a)
            ctx.set(dut.cfg.w_data, w & 0xFFFFFFFF)
            ctx.set(dut.cfg.w_en, 1)
            await ctx.tick()
        ctx.set(dut.cfg.w_en, 0)
        for a in reads:
            ctx.set(dut.cfg.addr, a)
            ctx.set(dut.cfg.r_en, 1)
            await ctx.tick()
            ctx.set(dut.cfg.r_en, 0)
            for _ in range(READ_LATENCY - 1):
                await ctx.tick()
            got[a] = ctx.get(dut.cfg.r_data)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("arch,lanes,regions", [("parallel", 1, ("LEVELS", "BIAS", "CONN")),
                                                ("folded", 2, ("LEVELS",))])
def test_unused_region_addresses_read_zero_and_ignore_writes(arch, lanes, regions):
    """A region spans a power of two of addresses: the ones past its last register read 0, and
    writing them changes nothing (K = 5, 3 outputs and 21 connections leave 3, 1 and 11 unused)."""
    spec = make_spec(7, 3, 5, 7, arch=arch, lanes=lanes, seed=4)
    rm = RegisterMap(spec)
    new = perturbed(spec, 2)
    loads = rm.writes(new)
    unused = []
    for name in regions:
        r = rm.region(name)
        unused += [r.base + k for k in range(r.count, 1 << max(0, (r.count - 1).bit_length()))]
    assert len(unused) == {1: 3, 3: 15}[len(regions)]
    used = [a for a, _ in loads if any(rm.region(n).base <= a < rm.region(n).base
                                       + rm.region(n).count for n in regions)]
    got = bus(Layer(spec), loads + [(a, -1) for a in unused], used + unused)
    words = dict(loads)
    for a in used:
        bits = next(rm.region(n).bits for n in regions
                    if rm.region(n).base <= a < rm.region(n).base + rm.region(n).count)
        assert got[a] & ((1 << bits) - 1) == words[a] & ((1 << bits) - 1), hex(a)
    assert [got[a] for a in unused] == [0] * len(unused)


@pytest.mark.parametrize("arith", ["shared", "factored", "shift", "multiply"])
def test_parallel_extremes_every_arith(arith):
    """The largest products (min_int inputs times the largest level), every connection of one
    output negative, of another positive, the extreme biases: the offset-binary products, trees
    and negation carries give the reference exactly, before and after a reprogramming that
    flips every sign."""
    shift = arith == "shift"
    base = make_spec(6, 3, 2, 6, arith=arith, level_bits=8, out_bits=16, saturate=False,
                     rounding="floor", pow2=shift, seed=1)
    top = 1 << 7 if shift else base.level_fmt.max_int
    spec = dataclasses.replace(
        base, levels=(1, top), indices=[[1] * 6] * 3, signs=[[1] * 6, [0] * 6, [0, 1] * 3],
        bias=(base.bias_fmt.max_int, base.bias_fmt.min_int, 0))
    flipped = dataclasses.replace(spec, signs=[[1 - s for s in row] for row in spec.signs],
                                  bias=(base.bias_fmt.min_int, base.bias_fmt.max_int, 1))
    lo, hi = spec.in_fmt.min_int, spec.in_fmt.max_int
    X = np.array([[hi] * 6, [lo] * 6, [hi, lo] * 3, [lo, hi] * 3] * 12)
    acc = reference_acc(spec, X)
    assert acc[1, 0] == 6 * -lo * top + (spec.bias_fmt.max_int << spec.bias_shift)
    r = run_core(Layer(spec), spec, X, reprograms=[Reprogram(20, flipped)], p_valid=0.9,
                 p_ready=0.8)
    assert set(r.generations) == {0, 1}
    np.testing.assert_array_equal(r.outputs, expected([spec, flipped], X, r.generations))
