"""Board tops: a core behind the UART bridge.

:class:`UARTTop` is the whole design with two pins, ``rx`` and ``tx``, and no platform: the
simulator drives it directly, and :class:`BoardTop` puts it on a board by binding those two
signals to the board's UART resource (the only place that knows about pins).
"""

from amaranth.build import ResourceError
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from .bridge import Bridge
from .uart import UARTRx, UARTTx, uart_divisor

__all__ = ["BoardTop", "UARTTop"]


class UARTTop(wiring.Component):
    """A core, the protocol bridge and an 8N1 UART; ports ``rx`` (line in, idle high) and
    ``tx`` (line out).

    Latency and throughput: those of the UART (10 bit times per byte) plus the bridge's few
    clocks per command; see :class:`~lognet.boards.bridge.Bridge` and docs/protocol.md. A core
    that takes and gives its vectors in beats is fed and read beat by beat (the bridge holds
    one beat each way); the protocol is the same.

    Parameters
    ----------
    core:
        A core Component (docs/interfaces.md).
    divisor:
        Clocks per UART bit (``clk_hz / baud``, see :func:`~lognet.boards.uart.uart_divisor`).
    idle_timeout:
        Clocks of silence after which a half-received command is dropped (0: never).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, core, divisor: int, *, idle_timeout: int = 0):
        if not isinstance(core, wiring.Component):
            self._MustUse__silence = True  # never built: no "created but never used" warning
            raise TypeError(f"UARTTop needs a core Component, not {type(core).__name__} "
                            f"(call a factory first)")
        self.core = core
        self.divisor = divisor
        self.bridge = Bridge(self.core, idle_timeout=idle_timeout)
        super().__init__()

    @property
    def info(self):
        """The :class:`~lognet.boards.protocol.DeviceInfo` the device reports."""
        return self.bridge.info

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.bridge = bridge = self.bridge
        m.submodules.uart_rx = urx = UARTRx(self.divisor)
        m.submodules.uart_tx = utx = UARTTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(bridge.busy)]
        wiring.connect(m, urx.o_stream, bridge.rx)
        wiring.connect(m, bridge.tx, utx.i_stream)
        wiring.connect(m, bridge.i_stream, core.i_stream)
        wiring.connect(m, core.o_stream, bridge.o_stream)
        wiring.connect(m, bridge.cfg, core.cfg)
        return m


class BoardTop(Elaboratable):
    """:class:`UARTTop` on a board: the board's ``uart`` 0 resource carries ``rx``/``tx``, LED
    0 (when the board has one) lights while a command is being handled (one clock late).

    Parameters
    ----------
    core_factory:
        Zero-argument callable that returns the core Component (called once, here).
    baud:
        UART rate; the divisor comes from the platform's default clock at elaboration.
    idle_ms:
        Silence (ms) after which a half-received command is dropped.
    """

    def __init__(self, core_factory, baud: int = 115200, *, idle_ms: float = 50.0):
        self.core = core_factory()
        self.baud = baud
        self.idle_ms = idle_ms

    def elaborate(self, platform):
        m = Module()
        clk_hz = platform.default_clk_frequency
        top = UARTTop(self.core, uart_divisor(clk_hz, self.baud),
                      idle_timeout=int(clk_hz * self.idle_ms / 1000))
        m.submodules.uart_top = top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:  # a board without LEDs: nothing to show
            led = None
        if led is not None:
            # through a flip-flop: the bridge's state decode does not reach the pin in one clock
            busy = Signal()
            m.d.sync += busy.eq(top.busy)
            m.submodules.led_buf = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(busy)
        return m
