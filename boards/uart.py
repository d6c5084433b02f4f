"""UART receiver and transmitter, 8N1, as stream Components.

The bit time is a whole number of clocks (``divisor``); :func:`uart_divisor` picks it from the
clock and baud rate and refuses rates the clock cannot make within 2 %.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from lognet.base.errors import InputError

__all__ = ["SIM_DIVISOR", "UARTRx", "UARTTx", "uart_divisor"]

#: clocks per bit of the simulated board top (Amaranth simulator and cocotb). 4 is the fewest
#: the receiver takes (it samples each bit in its middle, ``divisor // 2`` clocks after the
#: edge, and needs a clock of margin either side), so simulations spend the fewest cycles per
#: byte; the bridge's logic does not depend on the bit time.
SIM_DIVISOR = 4


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clocks per bit for ``baud`` at ``clk_hz``; InputError when the error would exceed 2 %
    or a bit would be shorter than 4 clocks."""
    if baud <= 0:
        raise InputError(f"baud rate must be > 0 (got {baud})")
    div = round(clk_hz / baud)
    if div < 4:
        raise InputError(f"baud {baud} is too fast for a {clk_hz / 1e6:g} MHz clock "
                         f"(needs at least 4 clocks per bit); lower the baud rate")
    err = abs(clk_hz / div - baud) / baud
    if err > 0.02:
        raise InputError(f"baud {baud} is {100 * err:.1f} % off at {clk_hz / 1e6:g} MHz "
                         f"(divisor {div}); choose a rate that divides the clock better")
    return div


class UARTRx(wiring.Component):
    """UART receiver: the ``rx`` line in, one byte per transfer on ``o_stream``.

    The line goes through a two-flip-flop synchroniser; each bit is sampled in its middle. A
    byte whose stop bit is 0 (framing error) is dropped. A byte that arrives while the previous
    one still waits on ``o_stream`` is dropped as well (overrun), and ``overrun`` pulses.

    Latency: the byte is offered about 9.5 bit times after its start edge (+ 2 clocks).
    Throughput: one byte per 10 bit times.

    Parameters
    ----------
    divisor:
        Clocks per bit (>= 4).
    """

    rx: In(1, init=1)
    o_stream: Out(stream.Signature(8))
    overrun: Out(1)

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError("divisor must be >= 4")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(div + div // 2 + 1))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        m.d.sync += self.overrun.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):  # glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(div - 1),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(line):
                        with m.If(self.o_stream.valid & ~self.o_stream.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o_stream.payload.eq(shreg),
                                         self.o_stream.valid.eq(1)]
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """UART transmitter: bytes from ``i_stream`` out on the ``tx`` line (idle high).

    Latency: the start bit begins one clock after the transfer. Throughput: one byte per 10
    bit times; ``i_stream.ready`` is high only while the line is idle.

    Parameters
    ----------
    divisor:
        Clocks per bit (>= 4).
    """

    i_stream: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError("divisor must be >= 4")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        shreg = Signal(10, init=0x3FF)
        left = Signal(range(11))
        timer = Signal(range(div))
        out = Signal(init=1)
        m.d.comb += self.tx.eq(out)
        m.d.comb += self.i_stream.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.i_stream.valid):
                frame = Cat(Const(0, 1), self.i_stream.payload, Const(1, 1))
                m.d.sync += [shreg.eq(frame[1:]), out.eq(0), left.eq(10),
                             timer.eq(div - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += left.eq(left - 1)
            with m.If(left != 1):
                m.d.sync += [out.eq(shreg[0]), shreg.eq(Cat(shreg[1:], 1)),
                             timer.eq(div - 1)]
        return m
