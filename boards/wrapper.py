"""Out-of-context harness: a core behind shift registers, so a few pins reach all of its ports.

A layer core has hundreds of I/O bits, a package has 39 (UP5K SG48) to 197 (ECP5 CABGA381)
pins. :class:`OOCWrapper` feeds every core input from a register and captures every core output
into a register, so synthesis can neither see constants on the core's inputs nor drop logic
whose outputs go nowhere: the whole datapath, the configuration bus and the valid/ready handshake
stay live. The core keeps its own module boundary (``keep_hierarchy``) so its cells are counted
apart from the harness's.

:class:`VerilogCore` puts an exported Verilog core (ports as in docs/interfaces.md) behind the
same harness.
"""

from dataclasses import dataclass

from amaranth.hdl import (
    Cat,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
    Value,
)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CORE_NAME", "CorePorts", "OOCWrapper", "VerilogCore"]

#: submodule name of the core inside the harness (RTLIL module ``<top>.core``)
CORE_NAME = "core"


@dataclass
class CorePorts:
    """The flat signals of a core's ports (docs/interfaces.md), whatever the core is made of."""

    i_payload: Value
    i_valid: Value
    i_ready: Value
    o_payload: Value
    o_valid: Value
    o_ready: Value
    addr: Value
    w_data: Value
    w_en: Value
    r_en: Value
    r_data: Value

    @classmethod
    def of(cls, core) -> "CorePorts":
        """Ports of a ``wiring.Component`` core (or of a :class:`VerilogCore`)."""
        if isinstance(core, VerilogCore):
            return core.ports
        i, o, c = core.i_stream, core.o_stream, core.cfg
        return cls(Value.cast(i.payload), i.valid, i.ready, Value.cast(o.payload), o.valid,
                   o.ready, c.addr, c.w_data, c.w_en, c.r_en, c.r_data)


class VerilogCore(Elaboratable):
    """An exported Verilog core, instantiated by module name.

    Parameters
    ----------
    module:
        Verilog module name.
    in_bits, out_bits, addr_width:
        Widths of ``i_stream__payload``, ``o_stream__payload`` and ``cfg__addr``.
    """

    def __init__(self, module: str, in_bits: int, out_bits: int, addr_width: int):
        self.module = module
        self.in_bits, self.out_bits, self.addr_width = in_bits, out_bits, addr_width
        self.ports = CorePorts(
            Signal(in_bits, name="i_payload"), Signal(name="i_valid"), Signal(name="i_ready"),
            Signal(out_bits, name="o_payload"), Signal(name="o_valid"), Signal(name="o_ready"),
            Signal(addr_width, name="addr"), Signal(32, name="w_data"), Signal(name="w_en"),
            Signal(name="r_en"), Signal(32, name="r_data"))

    def elaborate(self, platform):
        p = self.ports
        m = Module()
        m.submodules.inst = Instance(
            self.module,
            i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_i_stream__payload=p.i_payload, i_i_stream__valid=p.i_valid,
            o_i_stream__ready=p.i_ready,
            o_o_stream__payload=p.o_payload, o_o_stream__valid=p.o_valid,
            i_o_stream__ready=p.o_ready,
            i_cfg__addr=p.addr, i_cfg__w_data=p.w_data, i_cfg__w_en=p.w_en,
            i_cfg__r_en=p.r_en, o_cfg__r_data=p.r_data)
        return m


class OOCWrapper(wiring.Component):
    """A core behind serial-in / serial-out shift registers (for synthesis only).

    Pins: ``sin`` shifts into a chain that drives the input payload, ``cfg.addr`` and
    ``cfg.w_data`` while ``shift`` is high; ``capture`` loads the output payload, ``cfg.r_data``,
    ``i_stream.ready`` and ``o_stream.valid`` into a second chain that otherwise shifts out on
    ``sout``; ``i_valid``, ``o_ready``, ``w_en``, ``r_en`` drive the strobes. Every pin is
    registered once, so every path that starts or ends at the core is register to register.

    Latency: two clocks from a pin to a core input; throughput: one bit per clock per chain. The
    harness does not follow the stream rules (the payload may change under ``valid``); it exists
    to keep logic alive for area and timing, not to compute.

    Parameters
    ----------
    core:
        A ``wiring.Component`` with the ports of docs/interfaces.md, or a :class:`VerilogCore`.
    """

    sin: In(1)
    shift: In(1)
    capture: In(1)
    i_valid: In(1)
    o_ready: In(1)
    w_en: In(1)
    r_en: In(1)
    sout: Out(1)

    def __init__(self, core):
        self.core = core
        p = CorePorts.of(core)
        self.in_chain_bits = len(p.i_payload) + len(p.addr) + len(p.w_data)
        self.out_chain_bits = len(p.o_payload) + len(p.r_data) + 2
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules[CORE_NAME] = self.core
        p = CorePorts.of(self.core)

        pins = [self.sin, self.shift, self.capture, self.i_valid, self.o_ready, self.w_en,
                self.r_en]
        sin, shift, capture, i_valid, o_ready, w_en, r_en = regs = [
            Signal(name=f"{s.name}_r") for s in pins]
        m.d.sync += [r.eq(s) for r, s in zip(regs, pins)]

        chain_in = Signal(self.in_chain_bits)
        with m.If(shift):
            m.d.sync += chain_in.eq(Cat(chain_in[1:], sin))
        ni, na = len(p.i_payload), len(p.addr)
        m.d.comb += [
            p.i_payload.eq(chain_in[:ni]),
            p.addr.eq(chain_in[ni:ni + na]),
            p.w_data.eq(chain_in[ni + na:]),
            p.i_valid.eq(i_valid),
            p.o_ready.eq(o_ready),
            p.w_en.eq(w_en),
            p.r_en.eq(r_en),
        ]

        chain_out = Signal(self.out_chain_bits)
        with m.If(capture):
            m.d.sync += chain_out.eq(Cat(p.o_payload, p.r_data, p.i_ready, p.o_valid))
        with m.Else():
            m.d.sync += chain_out.eq(chain_out[1:])
        sout = Signal()
        m.d.sync += sout.eq(chain_out[0])
        m.d.comb += self.sout.eq(sout)
        return m
