"""The configuration bus's timing contract (docs/interfaces.md, ``READ_LATENCY``), on real cores:

- a read strobed in the clock right after a write to the same address returns the new word
  (register writes are posted a clock, the single copy's memory port takes bus accesses a clock
  late: neither may show through);
- reads strobed in consecutive clocks answer in order, one per clock, each ``READ_LATENCY``
  clocks after its strobe, with nothing else on ``r_data`` in between;
- a commit written in the clock right after the last weight write takes that write into the
  active set (the outputs afterwards are the new spec's reference).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator
from support.specs import make_network, make_spec, perturbed

from lognet.hw.export import build_core
from lognet.hw.regmap import (
    ADDR_CTRL,
    ADDR_ID,
    ADDR_STATUS,
    CTRL_COMMIT,
    CTRL_PAUSE,
    ID_VALUE,
    READ_LATENCY,
    STATUS_PENDING,
    STATUS_SAFE,
    config_writes,
    needs_pause,
    register_map,
)
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec


def _single(spec):
    return dataclasses.replace(spec, arch=dataclasses.replace(spec.arch, single_copy=True))


def _cases():
    return {
        "parallel-all": make_spec(5, 3, 4, seed=1),
        "parallel-shift-all": make_spec(5, 3, 4, arith="shift", pow2=True, seed=2),
        "folded-all": make_spec(8, 4, 4, arch="folded", lanes=2, seed=3),
        "folded-levels": make_spec(8, 4, 4, arch="folded", lanes=2, tunable="levels", seed=4),
        "folded-single-copy": _single(make_spec(8, 4, 4, arch="folded", lanes=2, seed=5)),
        "network": make_network(seed=6),
    }


CASES = _cases()


def _new(spec, seed):
    """Another weight set: connections too where the tier makes them writable."""
    if isinstance(spec, NetworkSpec):
        return dataclasses.replace(spec, layers=tuple(_new(la, seed + i)
                                                      for i, la in enumerate(spec.layers)))
    return perturbed(spec, seed, topology_fixed=spec.arch.tunable.value != "all")


def _bits(spec, addr):
    """Bits of the register word at ``addr`` that read back (the rest: zero or sign)."""
    rm = register_map(spec)
    maps = rm.layers if isinstance(spec, NetworkSpec) else [rm]
    for lm in maps:
        for name in ("LEVELS", "BIAS", "CONN"):
            r = lm.region(name)
            if r is not None and lm.base + r.base <= addr < lm.base + r.base + r.count:
                return r.bits
    raise AssertionError(f"no region holds {addr:#x}")


def _run(core, ops, X=None):
    """One bus operation per clock from ``ops`` (``("w", addr, word)``, ``("r", addr)`` or
    ``None``), then the stream of ``X`` if given. Returns (reads in strobe order, what was on
    ``r_data`` in every clock from the first strobe on, the stream's outputs)."""
    reads, trace, outs = [], [], []
    strobes = []

    async def tb(ctx):
        cfg = core.cfg
        ctx.set(core.o_stream.ready, 1)
        for c, op in enumerate(list(ops) + [None] * (READ_LATENCY + 1)):
            for s in strobes:
                if c == s + READ_LATENCY:
                    reads.append(ctx.get(cfg.r_data))
            trace.append(ctx.get(cfg.r_data))
            ctx.set(cfg.w_en, 0)
            ctx.set(cfg.r_en, 0)
            if op is not None and op[0] == "w":
                ctx.set(cfg.addr, op[1])
                ctx.set(cfg.w_data, op[2] & 0xFFFFFFFF)
                ctx.set(cfg.w_en, 1)
            elif op is not None:
                ctx.set(cfg.addr, op[1])
                ctx.set(cfg.r_en, 1)
                strobes.append(c)
            await ctx.tick()
        ctx.set(cfg.w_en, 0)
        ctx.set(cfg.r_en, 0)
        if X is None:
            return
        beat = core.info.in_beat_size
        flat = X.reshape(-1, beat)
        k = 0
        for _ in range(200 * len(flat) * (core.info.cycles_per_vector + 10)):
            if k < len(flat):
                for i, v in enumerate(flat[k]):
                    ctx.set(core.i_stream.payload[i], int(v))
                ctx.set(core.i_stream.valid, 1)
            else:
                ctx.set(core.i_stream.valid, 0)
            took = k < len(flat) and ctx.get(core.i_stream.ready)
            if ctx.get(core.o_stream.valid):
                outs.append([ctx.get(core.o_stream.payload[j])
                             for j in range(core.info.out_beat_size)])
            await ctx.tick()
            k += took
            if k == len(flat) and len(outs) == len(X) * core.info.out_beats:
                break

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return reads, trace, outs


def _pause_ops(spec):
    """Pause and wait (idle clocks) until a single-copy core is empty: an idle core is at once."""
    return [("w", ADDR_CTRL, CTRL_PAUSE)] + [None] * 8 if needs_pause(spec) else []


def _mask(v, bits):
    return v & ((1 << bits) - 1)


@pytest.mark.parametrize("name", list(CASES))
def test_read_right_after_write_sees_it(name):
    spec = CASES[name]
    new = _new(spec, 7)
    writes = config_writes(spec, new)
    ops = _pause_ops(spec)
    for a, w in writes:
        ops += [("w", a, w), ("r", a)]
    core = build_core(spec)
    reads, _, _ = _run(core, ops)
    assert len(reads) == len(writes)
    for (a, w), got in zip(writes, reads):
        bits = _bits(spec, a)
        assert _mask(got, bits) == _mask(w, bits), f"{name}: {a:#x} read {got:#x} after {w:#x}"


@pytest.mark.parametrize("name", list(CASES))
def test_back_to_back_reads_answer_in_order(name):
    spec = CASES[name]
    new = _new(spec, 8)
    writes = config_writes(spec, new)
    ops = _pause_ops(spec) + [("w", a, w) for a, w in writes]
    addrs = [a for a, _ in writes] + [ADDR_ID, ADDR_STATUS]
    first = len(ops)
    ops += [("r", a) for a in addrs]
    core = build_core(spec)
    reads, trace, _ = _run(core, ops)
    want = {a: w for a, w in writes}
    for a, got in zip(addrs, reads):
        if a == ADDR_ID:
            assert got == ID_VALUE
        elif a == ADDR_STATUS:
            assert not got & STATUS_PENDING
            assert bool(got & STATUS_SAFE) == needs_pause(spec)
        else:
            bits = _bits(spec, a)
            assert _mask(got, bits) == _mask(want[a], bits), f"{name}: {a:#x}"
    # one answer per clock: r_data in clocks first + L ... is exactly the reads, in order
    np.testing.assert_array_equal(
        trace[first + READ_LATENCY:first + READ_LATENCY + len(addrs)], reads)


@pytest.mark.parametrize("name", ["parallel-all", "folded-all", "folded-single-copy", "network"])
def test_commit_right_after_the_last_write_takes_it(name):
    spec = CASES[name]
    new = _new(spec, 9)
    writes = config_writes(spec, new)
    ops = _pause_ops(spec) + [("w", a, w) for a, w in writes] + [("w", ADDR_CTRL, CTRL_COMMIT)]
    ops += [None] * 4
    rng = np.random.default_rng(3)
    n_in = spec.layers[0].n_in if isinstance(spec, NetworkSpec) else spec.n_in
    in_fmt = spec.layers[0].in_fmt if isinstance(spec, NetworkSpec) else spec.in_fmt
    X = rng.integers(in_fmt.min_int, in_fmt.max_int + 1, size=(6, n_in))
    core = build_core(spec)
    _, _, outs = _run(core, ops, X)
    # the commit of a folded layer takes a few clocks; the stream waits for it (ready low)
    got = np.asarray(outs, dtype=np.int64).reshape(len(X), -1)
    np.testing.assert_array_equal(got, reference(new, X))
    assert not np.array_equal(reference(spec, X), reference(new, X))
