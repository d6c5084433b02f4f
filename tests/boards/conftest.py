"""Test double for the boards/ tests: a core with the ports and python attributes of a lognet
layer (docs/interfaces.md) but trivial arithmetic, so the board tests do not depend on hw/.

:class:`AdderCore` computes ``y[j] = sum(x) + r[j]`` (wrapped to the output width), one vector
per clock, latency one clock. ``r[j]`` is a register at word address ``8 + j``; writes land in a
shadow copy that becomes active on commit (CTRL bit 0), STATUS bit 0 reads 1 while a commit
waits for the output register to drain. With ``in_beat`` / ``out_beat`` it takes the vector and
gives the outputs in beats of that many elements, like a folded layer (docs/interfaces.md). It
is a stand-in, not a layer.

:func:`beat_spec` gives the specs of generated cores with beats (a folded layer, a network of
folded layers) for the tests that run real cores behind the bridge.
"""

from __future__ import annotations

import dataclasses

import pytest
from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lognet.hw.arch import CoreInfo  # the plain record every core carries (no Amaranth in it)
from lognet.hw.regmap import READ_LATENCY
from lognet.model.spec import NetworkSpec, with_beats

ID_VALUE = 0x4C474E54
FIRST_REG = 8


class ConfigBus(wiring.Signature):
    """cfg port as seen from the host side (docs/interfaces.md)."""

    def __init__(self, addr_width: int):
        super().__init__({"addr": Out(addr_width), "w_data": Out(32), "w_en": Out(1),
                          "r_en": Out(1), "r_data": In(32)})


class AdderCore(wiring.Component):
    """Test double: ``o[j] = sum(i) + r[j]``; one vector per clock, latency 1 (whole vectors).

    With beats (``in_beat`` / ``out_beat`` elements per transfer, 0: the whole vector) it sums
    the beats of a vector as they come, and its output waits in a buffer while its beats leave;
    no beat is taken while a commit is pending or the output buffer is full."""

    def __init__(self, n_in=4, n_out=3, in_width=8, out_width=12, in_signed=True,
                 out_signed=True, in_beat=0, out_beat=0):
        self.n_in, self.n_out = n_in, n_out
        self.in_width, self.out_width = in_width, out_width
        self.in_signed, self.out_signed = in_signed, out_signed
        self.addr_width = max(4, (FIRST_REG + n_out - 1).bit_length())
        self.info = CoreInfo(n_in, n_out, in_width, out_width, in_signed, out_signed,
                             self.addr_width, latency=1, cycles_per_vector=1, in_beat=in_beat,
                             out_beat=out_beat)
        self.init = [0] * n_out
        ishape = signed(in_width) if in_signed else unsigned(in_width)
        oshape = signed(out_width) if out_signed else unsigned(out_width)
        super().__init__({
            "i_stream": In(stream.Signature(data.ArrayLayout(ishape, self.info.in_beat_size))),
            "o_stream": Out(stream.Signature(data.ArrayLayout(oshape, self.info.out_beat_size))),
            "cfg": In(ConfigBus(self.addr_width)),
        })

    def model(self, x, regs):
        """Bit-exact expected output for input vector ``x`` and active registers ``regs``."""
        w = self.out_width
        out = []
        for r in regs:
            v = (sum(x) + r) & ((1 << w) - 1)
            if self.out_signed and v >> (w - 1):
                v -= 1 << w
            out.append(v)
        return out

    def elaborate(self, platform):
        m = Module()
        cfg, i, o = self.cfg, self.i_stream, self.o_stream
        ow = self.out_width
        shadow = [Signal(ow, name=f"shadow{j}", reset_less=True) for j in range(self.n_out)]
        active = [Signal(ow, name=f"active{j}", reset_less=True) for j in range(self.n_out)]
        pending = Signal()

        with m.If(cfg.w_en):
            for j, s in enumerate(shadow):
                with m.If(cfg.addr == FIRST_REG + j):
                    m.d.sync += s.eq(cfg.w_data[:ow])
            with m.If((cfg.addr == 2) & cfg.w_data[0]):
                m.d.sync += pending.eq(1)
        with m.If(pending & ~o.valid):
            m.d.sync += [a.eq(s) for a, s in zip(active, shadow)]
            m.d.sync += pending.eq(0)

        value = Mux(cfg.addr == 0, ID_VALUE, Mux(cfg.addr == 1, 1,
                    Mux(cfg.addr == 3, Cat(pending, 0), 0)))
        for j, s in enumerate(shadow):
            value = Mux(cfg.addr == FIRST_REG + j, s.as_signed() if self.out_signed else s,
                        value)
        # read data READ_LATENCY clocks after r_en, as the real cores give it
        r_val = value
        r_en = cfg.r_en
        for k in range(READ_LATENCY - 1):
            held, en1 = Signal(32, name=f"r_hold{k}"), Signal(name=f"r_en{k}")
            with m.If(r_en):
                m.d.sync += held.eq(r_val)
            m.d.sync += en1.eq(r_en)
            r_val, r_en = held, en1
        with m.If(r_en):
            m.d.sync += cfg.r_data.eq(r_val)

        if self.info.in_beat or self.info.out_beat:
            self._beats(m, active, pending)
            return m
        total = sum(i.payload[k] for k in range(self.n_in))
        m.d.comb += i.ready.eq(~pending & (~o.valid | o.ready))
        with m.If(i.valid & i.ready):
            m.d.sync += o.valid.eq(1)
            for j, a in enumerate(active):
                v = total + (a.as_signed() if self.out_signed else a)
                m.d.sync += o.payload[j].eq(v[:ow])
        with m.Elif(o.ready):
            m.d.sync += o.valid.eq(0)
        return m

    def _beats(self, m, active, pending):
        """The datapath with beats: a running sum over input beats, an output buffer."""
        info, i, o = self.info, self.i_stream, self.o_stream
        ow = self.out_width
        acc = Signal(signed(self.in_width + 1 + max(self.n_in, 2).bit_length()))
        in_beat = Signal(range(info.in_beats))
        out_beat = Signal(range(info.out_beats))
        o_buf = Signal(self.n_out * ow)
        o_full = Signal()
        total = acc + sum(i.payload[k] for k in range(info.in_beat_size))
        m.d.comb += i.ready.eq(~pending & ~o_full)
        with m.If(i.valid & i.ready):
            with m.If(in_beat == info.in_beats - 1):
                outs = [total + (a.as_signed() if self.out_signed else a) for a in active]
                m.d.sync += [o_buf.eq(Cat(v[:ow] for v in outs)), o_full.eq(1),
                             acc.eq(0), in_beat.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(total), in_beat.eq(in_beat + 1)]
        bits = info.out_beat_size * ow
        m.d.comb += [o.valid.eq(o_full),
                     Value.cast(o.payload).eq(o_buf.word_select(out_beat, bits))]
        with m.If(o.valid & o.ready):
            with m.If(out_beat == info.out_beats - 1):
                m.d.sync += [out_beat.eq(0), o_full.eq(0)]
            with m.Else():
                m.d.sync += out_beat.eq(out_beat + 1)


@pytest.fixture(scope="session")
def adder_core():
    """Factory of :class:`AdderCore` test doubles."""
    return AdderCore


def _beat_layer():
    """A folded 12 -> 6 layer: 3 beats of 4 in, 3 beats of 2 out."""
    from support.specs import make_spec

    return make_spec(12, 6, 4, arch="folded", lanes=3, arith="shared", activation="relu",
                     seed=8, in_beat=4, out_beat=2)


def _beat_network():
    """Two folded layers 6 -> 5 -> 4: 3 beats of 2 in, one element a beat between them, 2 beats
    of 2 out."""
    from support.specs import make_network

    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored")), seed=9)
    a, b = net.layers
    inner = NetworkSpec(net.name, (a.with_arch(dataclasses.replace(a.arch, out_beat=1)),
                                   b.with_arch(dataclasses.replace(b.arch, in_beat=1))))
    return with_beats(inner, in_beat=2, out_beat=2)


BEAT_SPECS = {"layer": _beat_layer, "network": _beat_network}


@pytest.fixture(scope="session", params=sorted(BEAT_SPECS))
def beat_spec(request):
    """A spec of a generated core that takes and gives beats (fewer elements than a vector)."""
    return BEAT_SPECS[request.param]()
