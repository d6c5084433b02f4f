"""Networks and the Wishbone front in Amaranth's simulator, against the integer reference."""


import numpy as np
import pytest
from amaranth.sim import Simulator
from support.amsim import Reprogram, expected, run_core
from support.specs import make_network, make_spec, perturbed

from lognet.hw.layer import Layer
from lognet.hw.network import Network
from lognet.hw.regmap import ID_VALUE, config_writes
from lognet.hw.wishbone import WishboneCore
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec


def perturbed_net(net, seed):
    return NetworkSpec(net.name, tuple(perturbed(layer, seed + i)
                                       for i, layer in enumerate(net.layers)))


@pytest.mark.parametrize("arches", [
    (("parallel", 1, "shared"), ("folded", 2, "factored")),
    (("folded", 3, "multiply"), ("parallel", 1, "shift"), ("parallel", 1, "factored")),
])
def test_network_commit_all_mid_stream(arches):
    net = make_network(arches, seed=4)
    dut = Network(net)
    rng = np.random.default_rng(0)
    X = rng.integers(net.in_fmt.min_int, net.in_fmt.max_int + 1, (40, net.n_in))
    a, b = perturbed_net(net, 10), perturbed_net(net, 20)
    r = run_core(dut, net, X, reprograms=[Reprogram(5, a), Reprogram(20, b)])
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([net, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


def test_network_reads_layer_registers():
    net = make_network(seed=1)
    dut = Network(net)
    bases = [m.base for m in dut.regmap.layers]
    r = run_core(dut, net, np.zeros((1, net.n_in), dtype=int), reads=[0, 2 + 1] + bases)
    assert r.reads[0] == ID_VALUE
    assert r.reads[3] == 0
    assert all(r.reads[b] == ID_VALUE for b in bases)


def test_wishbone_program_and_stream():
    spec = make_spec(5, 3, 4, 4, arch="folded", lanes=2, arith="shared")
    new = perturbed(spec, 3)
    dut = WishboneCore(Layer(spec))
    X = np.random.default_rng(2).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (6, 5))
    got, reads = [], {}

    async def wb_access(ctx, adr, data=None):
        ctx.set(dut.wb.adr, adr)
        ctx.set(dut.wb.cyc, 1)
        ctx.set(dut.wb.stb, 1)
        ctx.set(dut.wb.we, data is not None)
        ctx.set(dut.wb.sel, 0xF)
        ctx.set(dut.wb.dat_w, data or 0)
        while True:
            await ctx.tick()
            if ctx.get(dut.wb.ack):
                break
        value = ctx.get(dut.wb.dat_r)
        ctx.set(dut.wb.cyc, 0)
        ctx.set(dut.wb.stb, 0)
        await ctx.tick()
        return value

    async def tb(ctx):
        reads["id"] = await wb_access(ctx, 0)
        writes = config_writes(spec, new)
        for adr, word in writes:
            await wb_access(ctx, adr, word)
        reads["back"] = await wb_access(ctx, writes[-1][0])
        reads["last"] = writes[-1][1]
        await wb_access(ctx, 2, 1)
        while (await wb_access(ctx, 3)) & 1:
            pass
        ctx.set(dut.o_stream.ready, 1)
        for x in X:
            ctx.set(dut.i_stream.valid, 1)
            for i, v in enumerate(x):
                ctx.set(dut.i_stream.payload[i], int(v))
            await ctx.tick().until(dut.i_stream.ready)
            ctx.set(dut.i_stream.valid, 0)
            while not ctx.get(dut.o_stream.valid):
                await ctx.tick()
            got.append([ctx.get(dut.o_stream.payload[j]) for j in range(spec.n_out)])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert reads["id"] == ID_VALUE
    assert reads["back"] == reads["last"]
    np.testing.assert_array_equal(np.array(got), reference(new, X))
    assert not np.array_equal(reference(new, X), reference(spec, X))
