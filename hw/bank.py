"""Shadow/active register arrays behind the configuration bus.

Each writable region of the register map (:mod:`lognet.hw.regmap`) becomes two register arrays:
the shadow copy, which the bus writes and reads back, and the active copy, which the datapath
uses. ``swap`` copies every shadow register into its active twin in one clock. A region that the
tunability tier wires in becomes constants instead: the datapath sees the same interface.

Registers keep their contents across reset (they are ``reset_less`` with the spec's values as
their power-on value): a reset clears the datapath and a pending commit, never the weights.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Shape, Signal

from .regmap import Region

__all__ = ["RegArray"]


class RegArray:
    """One region: ``count`` values of ``shape`` with power-on values ``init``.

    Parameters
    ----------
    region:
        The region of the register map, or None when the values are wired in as constants.
    with_active:
        False when the datapath keeps its own active copy (filled by a commit walk) and this
        array is only the bus-side shadow.
    """

    def __init__(self, name: str, shape: Shape, init: list[int], region: Region | None, *,
                 with_active: bool = True):
        self.name = name
        self.shape = Shape.cast(shape)
        self.region = region
        self.count = len(init)
        if region is None:
            self.active = [Const(v, self.shape) for v in init]
            self.shadow = None
        else:
            self.shadow = [Signal(self.shape, init=v, reset_less=True, name=f"{name}_sh{k}")
                           for k, v in enumerate(init)]
            self.active = [Signal(self.shape, init=v, reset_less=True, name=f"{name}_{k}")
                           for k, v in enumerate(init)] if with_active else None

    @property
    def writable(self) -> bool:
        return self.region is not None

    def region_bits(self) -> int:
        return max(0, (self.count - 1).bit_length())

    def hit(self, addr):
        """True when ``addr`` falls in this region."""
        rb = self.region_bits()
        return addr[rb:] == (self.region.base >> rb)

    def elaborate_into(self, m: Module, cfg, swap, read_value: Signal | None):
        """Write decode, swap, and (when ``read_value`` is given) the read-back mux, which drives
        ``read_value`` for an address inside the region."""
        if not self.writable:
            return
        rb = self.region_bits()
        off = cfg.addr[:rb] if rb else Const(0, 1)
        we = Signal(name=f"{self.name}_we")
        m.d.comb += we.eq(cfg.w_en & self.hit(cfg.addr))
        # one enable per register (a shared Switch would repeat the whole case in every
        # register's process: quadratic Verilog)
        for k, s in enumerate(self.shadow):
            with m.If(we & (off == k)):
                m.d.sync += s.eq(cfg.w_data[:len(s)])
        if self.active is not None:
            with m.If(swap):
                m.d.sync += [a.eq(s) for a, s in zip(self.active, self.shadow)]
        if read_value is not None:
            with m.Switch(off):
                for k, s in enumerate(self.shadow):
                    with m.Case(k):
                        m.d.comb += read_value.eq(s.as_signed() if self.shape.signed else s)
