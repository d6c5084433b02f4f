"""A serial-port stand-in that talks to a simulated :class:`~lognet.boards.top.UARTTop`.

:class:`SimSerial` has the two methods the host driver needs, ``write(bytes)`` and
``read(n)``, and behind them runs Amaranth's simulator: a background testbench turns written
bytes into 8N1 frames on the top's ``rx`` line, another decodes frames on ``tx`` into a
receive buffer, and ``read`` advances simulated time until enough bytes arrived or a cycle
budget ran out (then it returns what it has, like a serial port whose timeout expired).

    dev = LognetDevice(SimSerial(UARTTop(core, divisor=SIM_DIVISOR)))

Frames are made and checked by :func:`~lognet.boards.protocol.frame_byte` and
:func:`~lognet.boards.protocol.decode_frame`; a frame from the top with a bad stop bit is
dropped and counted in ``framing_errors``.
"""

from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from .protocol import FramingError, decode_frame, frame_byte

__all__ = ["SimSerial"]


class SimSerial:
    """Transport to a simulated UART top.

    Parameters
    ----------
    top:
        A :class:`~lognet.boards.top.UARTTop` (ports ``rx``, ``tx``, attribute ``divisor``).
    timeout_cycles:
        Clock cycles ``read`` waits without a new byte before it gives up.
    vcd:
        Optional path of a VCD waveform file (written on :meth:`close`).
    """

    #: simulated clock period (the value is arbitrary; only cycles matter)
    PERIOD = 1e-6

    def __init__(self, top, *, timeout_cycles: int = 20000, vcd: str | None = None):
        self.top = top
        self.div = top.divisor
        self.timeout_cycles = timeout_cycles
        self.to_device: deque[int] = deque()
        self.from_device: deque[int] = deque()
        self.cycles = 0
        #: frames from the top whose start or stop bit was wrong (their bytes dropped)
        self.framing_errors = 0
        self.sim = Simulator(top)
        self.sim.add_clock(self.PERIOD)
        self.sim.add_testbench(self._drive_rx, background=True)
        self.sim.add_testbench(self._watch_tx, background=True)
        self._vcd = None
        if vcd is not None:
            self._vcd = self.sim.write_vcd(vcd)
            self._vcd.__enter__()

    async def _drive_rx(self, ctx):
        rx = self.top.rx
        ctx.set(rx, 1)
        while True:
            if not self.to_device:
                await ctx.tick()
                continue
            byte = self.to_device.popleft()
            for bit in frame_byte(byte):
                ctx.set(rx, bit)
                await ctx.tick().repeat(self.div)

    async def _watch_tx(self, ctx):
        tx = self.top.tx
        while True:
            while ctx.get(tx):
                await ctx.tick()
            await ctx.tick().repeat(self.div // 2)  # middle of the start bit
            bits = [ctx.get(tx)]
            for _ in range(9):  # the data bits, then the middle of the stop bit
                await ctx.tick().repeat(self.div)
                bits.append(ctx.get(tx))
            try:
                self.from_device.append(decode_frame(bits))
            except FramingError:
                self.framing_errors += 1

    def _run(self, cycles: int) -> None:
        self.cycles += cycles
        self.sim.run_until(self.cycles * self.PERIOD)

    # -- the transport interface -----------------------------------------------------------

    def write(self, data: bytes) -> int:
        self.to_device.extend(bytes(data))
        return len(data)

    def read(self, n: int) -> bytes:
        step = 10 * self.div
        idle = 0
        while len(self.from_device) < n and idle < self.timeout_cycles:
            before = len(self.from_device)
            self._run(step)
            busy = len(self.from_device) > before or self.to_device
            idle = 0 if busy else idle + step
        k = min(n, len(self.from_device))
        return bytes(self.from_device.popleft() for _ in range(k))

    def reset_input_buffer(self) -> None:
        self.from_device.clear()

    def close(self) -> None:
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None
