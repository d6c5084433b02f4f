"""A whole network: layers chained by streams, each with its own configuration address range.

Address space (:class:`lognet.hw.regmap.NetworkMap`): a network header at 0 (ID, VERSION,
CTRL, STATUS), then layer ``i`` at ``(i + 1) << B``. Writing CTRL bit 0 of the network commits
every layer at once: the network stops taking input, waits until no vector is inside any layer
or between layers, then every layer swaps in its shadow set. A layer's own CTRL commits only that
layer (a vector between two layers may then meet the new set of the second and the old of the
first; use the network commit for a consistent update).

Latency is the sum of the layers' latencies; throughput is that of the slowest layer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from lognet.model.spec import NetworkSpec

from .common import ConfigSignature, fmt_shape
from .layer import Layer, resolve_arch
from .regmap import ID_VALUE, REGMAP_VERSION, NetworkMap

__all__ = ["Network"]


class Network(wiring.Component):
    """Layers of a :class:`~lognet.model.spec.NetworkSpec` in a chain, one configuration bus."""

    def __init__(self, spec: NetworkSpec, *, readback: bool = True):
        spec = NetworkSpec(spec.name, tuple(resolve_arch(layer) for layer in spec.layers))
        self.spec = spec
        self.regmap = NetworkMap(spec)
        self.layers = [Layer(layer, readback=readback, base=m.base)
                       for layer, m in zip(spec.layers, self.regmap.layers)]
        self.n_in, self.n_out = spec.n_in, spec.n_out
        self.in_width, self.out_width = spec.in_fmt.width, spec.out_fmt.width
        self.in_signed, self.out_signed = spec.in_fmt.signed, spec.out_fmt.signed
        self.addr_width = self.regmap.addr_width
        self.latency = sum(layer.latency for layer in self.layers)
        self.cycles_per_vector = max(layer.cycles_per_vector for layer in self.layers)
        super().__init__({
            "i_stream": In(stream.Signature(data.ArrayLayout(fmt_shape(spec.in_fmt), spec.n_in))),
            "o_stream": Out(stream.Signature(
                data.ArrayLayout(fmt_shape(spec.out_fmt), spec.n_out))),
            "cfg": In(ConfigSignature(self.addr_width)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lb = self.regmap.layer_bits
        for i, layer in enumerate(self.layers):
            m.submodules[f"layer{i}"] = layer
        for a, b in zip(self.layers, self.layers[1:]):
            wiring.connect(m, a.o_stream, b.i_stream)
        first, last = self.layers[0], self.layers[-1]

        # commit-all: hold the input, drain everything, then commit every layer at once
        WAIT, SWAP = 1, 2
        state = Signal(2)
        hold = Signal()
        m.d.comb += hold.eq(state != 0)
        m.d.comb += [
            first.i_stream.payload.eq(self.i_stream.payload),
            first.i_stream.valid.eq(self.i_stream.valid & ~hold),
            self.i_stream.ready.eq(first.i_stream.ready & ~hold),
        ]
        wiring.connect(m, last.o_stream, wiring.flipped(self.o_stream))
        any_busy = Cat(*[layer.busy for layer in self.layers]).any()
        any_pending = Cat(*[layer.pending for layer in self.layers]).any()
        with m.If((state == 0) & cfg.w_en & (cfg.addr == 2) & cfg.w_data[0]):
            m.d.sync += state.eq(WAIT)
        with m.If((state == WAIT) & ~any_busy & ~any_pending):
            m.d.comb += [layer.ext_commit.eq(1) for layer in self.layers]
            m.d.sync += state.eq(SWAP)
        with m.If((state == SWAP) & ~any_pending):
            m.d.sync += state.eq(0)

        # bus decode: layer i lives at (i + 1) << lb
        sel = cfg.addr[lb:]
        for i, layer in enumerate(self.layers):
            hit = sel == i + 1
            m.d.comb += [
                layer.cfg.addr.eq(cfg.addr[:layer.addr_width]),
                layer.cfg.w_data.eq(cfg.w_data),
                layer.cfg.w_en.eq(cfg.w_en & hit),
                layer.cfg.r_en.eq(cfg.r_en & hit),
            ]
        rsel = Signal(len(sel))
        hdr = Signal(32)
        with m.If(cfg.r_en):
            m.d.sync += rsel.eq(sel)
            off = cfg.addr[:2]
            m.d.sync += hdr.eq(Mux(cfg.addr[2:] != 0, 0,
                               Mux(off == 0, ID_VALUE,
                                   Mux(off == 1, REGMAP_VERSION,
                                       Mux(off == 3, Cat(hold, Const(0, 31)), 0)))))
        value = hdr
        for i, layer in enumerate(self.layers):
            value = Mux(rsel == i + 1, layer.cfg.r_data, value)
        m.d.comb += cfg.r_data.eq(value)
        return m
