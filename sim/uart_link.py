"""A serial-port stand-in for a cocotb test of the board top's Verilog
(:class:`~lognet.boards.top.UARTTop` exported with its ``rx``/``tx`` pins and ``clk``).

:class:`CocotbSerial` is the cocotb counterpart of :class:`~lognet.boards.simlink.SimSerial`:
the same two methods the host driver needs, ``write(bytes)`` and ``read(n)``, so
:class:`~lognet.boards.host.LognetDevice` runs unchanged against the RTL in Verilator or Icarus.
The host code is blocking, so it runs in a thread made with :func:`cocotb.task.bridge` (cocotb
1.x: ``cocotb.external``); ``write`` and ``read`` hand control back to the simulator through
:func:`cocotb.task.resume` (1.x: ``cocotb.function``)::

    port = CocotbSerial(dut, divisor=SIM_DIVISOR)
    cocotb.start_soon(port.receiver())
    info = await bridge(lambda: LognetDevice(port).id())()

``write`` drives 8N1 frames (:func:`lognet.boards.protocol.frame_byte`) onto ``rx``
(``divisor`` clocks per bit, idle high) and returns once the last stop bit is on the line; a
background task, :meth:`CocotbSerial.receiver`, decodes frames on ``tx``
(:func:`~lognet.boards.protocol.decode_frame`, start- and stop-bit checked) into a buffer;
``read(n)`` waits until ``n`` bytes are there or ``timeout_cycles`` clocks pass without a new
one, then returns what it has, like a serial port whose timeout expired. Only usable inside a
cocotb test.
"""

from __future__ import annotations

from collections import deque

from cocotb.task import resume
from cocotb.triggers import ClockCycles, Event, First, RisingEdge

from lognet.boards.protocol import FramingError, decode_frame, frame_byte

__all__ = ["CocotbSerial"]


class CocotbSerial:
    """Transport to the board top simulated by cocotb.

    Parameters
    ----------
    dut:
        The cocotb handle of the top: signals ``clk``, ``rx`` (driven here) and ``tx`` (decoded).
    divisor:
        Clocks per UART bit (the ``divisor`` the top was built with).
    timeout_cycles:
        Clocks ``read`` waits without a new byte before it returns what it has.

    Attributes ``sent`` and ``received`` count the bytes that crossed the line each way, and
    ``framing_errors`` the frames from the top whose stop bit was low (their bytes are dropped,
    as a UART would).
    """

    def __init__(self, dut, divisor: int, *, timeout_cycles: int = 4000):
        if divisor < 2:
            raise ValueError(f"divisor must be >= 2 clocks per bit (got {divisor})")
        self.dut, self.div, self.timeout_cycles = dut, int(divisor), int(timeout_cycles)
        self.from_device: deque[int] = deque()
        self.sent = self.received = self.framing_errors = 0
        self._arrived = Event()
        dut.rx.value = 1  # idle line

    # -- the simulator side (coroutines) ------------------------------------------------------

    async def receiver(self) -> None:
        """Decode 8N1 frames on ``tx`` for ever; start it with ``cocotb.start_soon``."""
        dut, div = self.dut, self.div
        while True:
            await RisingEdge(dut.clk)
            if int(dut.tx.value) != 0:
                continue
            await ClockCycles(dut.clk, div // 2)  # the middle of the start bit
            if int(dut.tx.value) != 0:
                continue  # a glitch, not a start bit
            bits = [0]
            for _ in range(9):  # the data bits, then the middle of the stop bit
                await ClockCycles(dut.clk, div)
                bits.append(int(dut.tx.value))
            try:
                byte = decode_frame(bits)
            except FramingError:
                self.framing_errors += 1
                continue
            self.from_device.append(byte)
            self.received += 1
            self._arrived.set()

    async def send(self, data: bytes) -> None:
        """Drive ``data`` onto ``rx`` as back-to-back 8N1 frames (LSB first)."""
        dut, div = self.dut, self.div
        for byte in data:
            for level in frame_byte(byte):
                dut.rx.value = level
                await ClockCycles(dut.clk, div)
            self.sent += 1

    async def recv(self, n: int) -> bytes:
        """Up to ``n`` received bytes: all ``n``, or fewer once ``timeout_cycles`` clocks passed
        without a new byte."""
        while len(self.from_device) < n:
            before = len(self.from_device)
            self._arrived.clear()
            await First(self._arrived.wait(), ClockCycles(self.dut.clk, self.timeout_cycles))
            if len(self.from_device) == before:
                break  # the budget ran out with no new byte
        k = min(n, len(self.from_device))
        return bytes(self.from_device.popleft() for _ in range(k))

    # -- the blocking face the host driver sees (call only from a bridged thread) --------------

    def write(self, data: bytes) -> int:
        """Send ``data``; returns once its last stop bit is on the line."""
        data = bytes(data)
        resume(self.send)(data)
        return len(data)

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes from the device (fewer when the cycle budget runs out)."""
        return resume(self.recv)(int(n))

    def reset_input_buffer(self) -> None:
        """Drop bytes received but not yet read."""
        self.from_device.clear()

    def flush(self) -> None:
        """Nothing to do: ``write`` returns only after the bytes are sent."""

    def close(self) -> None:
        """Nothing to release (the simulation owns the pins)."""
