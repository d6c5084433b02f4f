"""``single_copy``: folded ``tunable=all`` builds that keep one copy of the connection words.
The host pauses the core (CTRL bit 1), waits for STATUS bit 1 (paused and empty), writes the
words straight into the memory the lanes read, and commits the level table and biases (which
stay shadowed) with a CTRL write that also resumes. Checked in Amaranth's simulator against the
integer reference."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator
from support.amsim import Reprogram, expected, run_core
from support.specs import make_spec, perturbed

from lognet.hw.amsim import commit_clocks, stream_through
from lognet.hw.layer import Layer
from lognet.hw.regmap import (
    ADDR_CTRL,
    ADDR_STATUS,
    CTRL_PAUSE,
    READ_LATENCY,
    STATUS_SAFE,
    RegisterMap,
)
from lognet.model.arch import SpecError
from lognet.model.reference import reference
from lognet.model.specjson import dumps_spec, spec_from_json, spec_to_json


def _single(spec):
    return spec.with_arch(dataclasses.replace(spec.arch, single_copy=True))


@pytest.mark.parametrize("arith,fanin,beats", [("shared", None, (0, 0)), ("factored", 3, (0, 0)),
                                               ("multiply", None, (3, 2)), ("shift", 4, (0, 0))])
def test_single_copy_reprograms_mid_stream(arith, fanin, beats):
    spec = _single(make_spec(12, 6, 4, fanin, arch="folded", lanes=3, arith=arith,
                             pow2=arith == "shift", activation="relu", seed=11,
                             in_beat=beats[0], out_beat=beats[1]))
    a, b = perturbed(spec, 1), perturbed(spec, 2)
    X = np.random.default_rng(2).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                          (50, 12))
    r = run_core(Layer(spec), spec, X, reprograms=[Reprogram(6, a), Reprogram(25, b)],
                 p_valid=0.7, p_ready=0.6, seed=4)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([spec, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


def test_a_network_pauses_as_a_whole_for_its_single_copy_layer():
    """The network's own CTRL pause holds its input until every layer is empty; the
    single-copy layer's words are written then, and the commit-all resumes the stream."""
    from support.specs import make_network

    from lognet.hw.network import Network
    from lognet.model.spec import NetworkSpec

    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored")), seed=10)
    net = NetworkSpec(net.name, (net.layers[0], _single(net.layers[1])))
    a = NetworkSpec(net.name, tuple(perturbed(la, 5 + i) for i, la in enumerate(net.layers)))
    b = NetworkSpec(net.name, tuple(perturbed(la, 9 + i) for i, la in enumerate(net.layers)))
    X = np.random.default_rng(3).integers(net.in_fmt.min_int, net.in_fmt.max_int + 1,
                                          (40, net.n_in))
    r = run_core(Network(net), net, X, reprograms=[Reprogram(5, a), Reprogram(20, b)], seed=2)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([net, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


def test_single_copy_has_the_double_copy_timing_and_a_short_commit():
    base = make_spec(16, 6, 4, arch="folded", lanes=2, seed=3)
    single = _single(base)
    X = np.random.default_rng(0).integers(-128, 128, (9, 16))
    ys, cs = stream_through(Layer(single), X)
    yd, cd = stream_through(Layer(base), X)
    np.testing.assert_array_equal(ys, reference(single, X))
    np.testing.assert_array_equal(ys, yd)
    assert cs == cd and Layer(single).info == Layer(base).info
    # the commit copies only the biases: n_out + 3 clocks, not T + 3
    core = Layer(single)
    assert core.commit_clocks == single.n_out + 3 == commit_clocks(core)
    assert Layer(base).commit_clocks > core.commit_clocks


def test_connection_writes_land_only_while_safe():
    spec = _single(make_spec(8, 4, 4, arch="folded", lanes=2, seed=5))
    core = Layer(spec)
    rm = RegisterMap(core.spec)
    conn = rm.region("CONN").base
    old = rm.conn_word(spec.signs[0][0], spec.indices[0][0])
    new = old ^ 1  # the sign flipped
    seen = {}

    async def tb(ctx):
        cfg = core.cfg

        async def write(addr, data):
            ctx.set(cfg.addr, addr)
            ctx.set(cfg.w_data, data)
            ctx.set(cfg.w_en, 1)
            await ctx.tick()
            ctx.set(cfg.w_en, 0)

        async def read(addr):
            ctx.set(cfg.addr, addr)
            ctx.set(cfg.r_en, 1)
            await ctx.tick()
            ctx.set(cfg.r_en, 0)
            for _ in range(READ_LATENCY - 1):
                await ctx.tick()
            return ctx.get(cfg.r_data)

        await write(conn, new)  # not paused: dropped
        seen["status0"] = await read(ADDR_STATUS)
        await write(ADDR_CTRL, CTRL_PAUSE)
        for _ in range(8):
            if await read(ADDR_STATUS) & STATUS_SAFE:
                break
        seen["safe"] = await read(ADDR_STATUS)
        seen["before"] = await read(conn)
        await write(conn, new)
        seen["after"] = await read(conn)
        await write(ADDR_CTRL, 0)  # resume
        seen["resumed"] = await read(ADDR_STATUS)

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert not seen["status0"] & STATUS_SAFE
    assert seen["safe"] & STATUS_SAFE
    assert seen["before"] == old and seen["after"] == new
    assert not seen["resumed"] & STATUS_SAFE


def test_single_copy_rules_and_json():
    with pytest.raises(SpecError, match="single_copy keeps one copy"):
        _single(make_spec(8, 4, 4, arch="folded", lanes=2, tunable="levels"))
    with pytest.raises(SpecError, match="single_copy keeps one copy"):
        _single(make_spec(8, 4, 4))
    spec = _single(make_spec(8, 4, 4, arch="folded", lanes=2))
    assert spec_from_json(spec_to_json(spec)) == spec
    assert '"single_copy":true' in dumps_spec(spec)
    assert "single_copy" not in dumps_spec(make_spec(8, 4, 4, arch="folded", lanes=2))
