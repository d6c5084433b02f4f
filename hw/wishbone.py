"""Wishbone B4 (classic) front for a core, so it drops into LiteX- or Amaranth-based SoCs.

:class:`WishboneCore` wraps a layer or network: the streams pass through unchanged and the
configuration bus is driven from a 32-bit Wishbone slave with word addresses (``adr`` selects a
32-bit word; ``sel`` must be all ones for writes, partial writes are ignored). A write takes two
clocks (the request, then ``ack``), a read ``READ_LATENCY + 1`` = four (the request, the
bus's read latency, then ``ack`` with ``dat_r``). ``err`` and ``rty`` are not
used; ``stall`` does not exist in classic mode.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .regmap import READ_LATENCY

__all__ = ["WishboneCore", "WishboneSignature"]


class WishboneSignature(wiring.Signature):
    """Wishbone B4 classic, 32-bit data, word addresses, seen from the initiator."""

    def __init__(self, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "adr": Out(addr_width), "dat_w": Out(32), "dat_r": In(32), "sel": Out(4),
            "cyc": Out(1), "stb": Out(1), "we": Out(1), "ack": In(1),
        })

    def __eq__(self, other):
        return isinstance(other, WishboneSignature) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash(("WishboneSignature", self.addr_width))


class WishboneCore(wiring.Component):
    """A core with its ``cfg`` port replaced by a Wishbone slave ``wb``.

    Latency: ``ack`` one clock after ``stb`` for a write, ``READ_LATENCY`` (3) clocks after
    it for a read; one write per two clocks, one read per four."""

    def __init__(self, core):
        self.core = core
        self.spec = core.spec
        self.regmap = core.regmap
        #: the wrapped core's record: same streams, same address space (:class:`CoreInfo`)
        self.info = core.info
        members = {
            "i_stream": core.signature.members["i_stream"],
            "o_stream": core.signature.members["o_stream"],
            "wb": In(WishboneSignature(core.info.addr_width)),
        }
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        wiring.connect(m, wiring.flipped(self.i_stream), core.i_stream)
        wiring.connect(m, core.o_stream, wiring.flipped(self.o_stream))
        wb = self.wb
        ack = Signal()
        # a read's data comes READ_LATENCY clocks after its strobe: no new request is taken
        # while one is in flight, and the ack comes with the data
        flight = Signal(max(1, READ_LATENCY - 1), name="rd_flight")
        start = wb.cyc & wb.stb & ~ack & ~flight.any()
        read = start & ~wb.we
        m.d.comb += [
            core.cfg.addr.eq(wb.adr),
            core.cfg.w_data.eq(wb.dat_w),
            core.cfg.w_en.eq(start & wb.we & (wb.sel == 0xF)),
            core.cfg.r_en.eq(read),
            wb.dat_r.eq(core.cfg.r_data),
            wb.ack.eq(ack),
        ]
        if READ_LATENCY == 1:
            m.d.sync += ack.eq(start)
        else:
            m.d.sync += [ack.eq((start & wb.we) | flight[-1]),
                         flight.eq(Cat(read, flight[:-1]))]
        return m
