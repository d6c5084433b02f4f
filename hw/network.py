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
from amaranth.lib import wiring

from lognet.model.spec import NetworkSpec

from .arch import CoreInfo, resolve_spec
from .common import core_members
from .layer import Layer
from .regmap import (
    ADDR_CTRL,
    ADDR_ID,
    ADDR_STATUS,
    ADDR_VERSION,
    CTRL_COMMIT_BIT,
    CTRL_PAUSE_BIT,
    ID_VALUE,
    READ_LATENCY,
    REGMAP_VERSION,
    NetworkMap,
)

__all__ = ["Network"]


class Network(wiring.Component):
    """Layers of a :class:`~lognet.model.spec.NetworkSpec` in a chain, one configuration bus."""

    def __init__(self, spec: NetworkSpec, *, readback: bool = True):
        spec = resolve_spec(spec)
        self.spec = spec
        self.regmap = NetworkMap(spec)
        self.layers = [Layer(layer, readback=readback, base=m.base, networked=True)
                       for layer, m in zip(spec.layers, self.regmap.layers)]
        #: sizes, formats and timing: latency adds up (a link of n beats adds the n - 1
        #: clocks from its first beat to its last), the slowest layer sets the rate
        self.info = CoreInfo.of(spec, self.regmap.addr_width,
                                sum(la.info.latency for la in self.layers)
                                + sum(la.info.out_beats - 1 for la in self.layers[:-1]),
                                max(la.info.cycles_per_vector for la in self.layers))
        super().__init__(core_members(spec, self.regmap.addr_width))

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
        hold = Signal(name="hold")
        committing = Signal()
        m.d.comb += committing.eq(state != 0)
        any_busy = Cat(*[layer.busy for layer in self.layers]).any()
        single = [la for la in self.layers if la.spec.arch.single_copy]
        safe = Const(0, 1)
        if single:
            # pause (CTRL bit 1): hold the input until every layer is empty; STATUS bit 1 then
            # says the single-copy layers' connection words may be written (a CTRL write
            # without the bit, a commit included, resumes)
            paused = Signal(name="paused")
            paused_next = Mux(cfg.w_en & (cfg.addr == ADDR_CTRL), cfg.w_data[CTRL_PAUSE_BIT],
                              paused)
            m.d.sync += paused.eq(paused_next)
            safe_r = Signal(name="safe_r")
            m.d.sync += safe_r.eq(paused & ~any_busy)
            safe = Signal(name="safe")
            m.d.comb += safe.eq(safe_r & paused)
            m.d.comb += [la.ext_safe.eq(safe) for la in single]
        else:
            paused_next = Const(0, 1)
        m.d.comb += [
            first.i_stream.payload.eq(self.i_stream.payload),
            first.i_stream.valid.eq(self.i_stream.valid & ~hold),
            self.i_stream.ready.eq(first.i_stream.ready & ~hold),
        ]
        wiring.connect(m, last.o_stream, wiring.flipped(self.o_stream))
        any_pending = Cat(*[layer.pending for layer in self.layers]).any()
        state_next = Signal(2, name="state_next")
        m.d.comb += state_next.eq(state)
        with m.If((state == 0) & cfg.w_en & (cfg.addr == ADDR_CTRL)
                  & cfg.w_data[CTRL_COMMIT_BIT]):
            m.d.comb += state_next.eq(WAIT)
        with m.If((state == WAIT) & ~any_busy & ~any_pending):
            m.d.comb += [layer.ext_commit.eq(1) for layer in self.layers]
            m.d.comb += state_next.eq(SWAP)
        with m.If((state == SWAP) & ~any_pending):
            m.d.comb += state_next.eq(0)
        m.d.sync += state.eq(state_next)
        # hold (committing or paused) is a flip-flop of its own, loaded from the next values:
        # the input's ready and valid wait on no decode of the same clock
        m.d.sync += hold.eq((state_next != 0) | paused_next)

        # bus decode: layer i lives at (i + 1) << lb
        sel = cfg.addr[lb:]
        for i, layer in enumerate(self.layers):
            hit = sel == i + 1
            m.d.comb += [
                layer.cfg.addr.eq(cfg.addr[:layer.info.addr_width]),
                layer.cfg.w_data.eq(cfg.w_data),
                layer.cfg.w_en.eq(cfg.w_en & hit),
                layer.cfg.r_en.eq(cfg.r_en & hit),
            ]
        # the layers' read data comes READ_LATENCY clocks after r_en: the select, the header
        # offset and STATUS's bits (taken on the r_en edge) wait with it, and the network's
        # header word is decoded from them at the end (a few flip-flops, not a 32-bit word
        # per clock)
        # the network header has four words (ID, VERSION, CTRL, STATUS); bit 2: past them
        off_bits = Cat(cfg.addr[:2], cfg.addr[2:] != 0)
        r_en_k, rsel, roff, rstat = cfg.r_en, sel, off_bits, Cat(committing, safe)
        for k in range(READ_LATENCY):
            if k:
                e = Signal(name=f"r_en{k}")
                m.d.sync += e.eq(r_en_k)
                r_en_k = e
            rsel_k = Signal(len(sel), name=f"rsel{k}")
            roff_k = Signal(3, name=f"roff{k}")
            rstat_k = Signal(2, name=f"rstat{k}")
            with m.If(r_en_k):
                m.d.sync += [rsel_k.eq(rsel), roff_k.eq(roff), rstat_k.eq(rstat)]
            rsel, roff, rstat = rsel_k, roff_k, rstat_k
        off = roff[:2]
        hdr = Mux(roff[2], 0,
                  Mux(off == ADDR_ID, ID_VALUE,
                      Mux(off == ADDR_VERSION, REGMAP_VERSION,
                          Mux(off == ADDR_STATUS, Cat(rstat, Const(0, 30)), 0))))
        hdr_sel = Signal()
        m.d.comb += hdr_sel.eq(rsel == 0)
        value = Mux(hdr_sel, hdr, 0)
        for i, layer in enumerate(self.layers):
            value = value | Mux(rsel == i + 1, layer.cfg.r_data, 0)
        m.d.comb += cfg.r_data.eq(value)
        return m
