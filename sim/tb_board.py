"""cocotb test of the board top's Verilog (core + protocol bridge + UART) driven by the real
host driver, :class:`lognet.boards.host.LognetDevice`, through a UART model.

The host code is the same blocking code that talks to a board's serial port; here it runs in a
thread made with :func:`cocotb.task.bridge`, and its transport, :class:`CocotbSerial`, turns
``write``/``read`` into 8N1 frames on the top's ``rx`` pin and bytes decoded from its ``tx``
pin, through :func:`cocotb.task.resume`. Configured by the JSON file named in
``LOGNET_TB_CONFIG`` (written by :func:`lognet.sim.board.run_board_sim`).
"""

from __future__ import annotations

import json
import os
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, RisingEdge


class CocotbSerial:
    """A serial port for :class:`~lognet.boards.host.LognetDevice` inside a cocotb test.

    ``divisor`` clocks per UART bit; ``read`` gives up after ``timeout_cycles`` clocks without
    a new byte and returns what it has, like a serial port whose timeout expired."""

    def __init__(self, dut, divisor: int, timeout_cycles: int = 4000):
        self.dut, self.div, self.timeout = dut, divisor, timeout_cycles
        self.rx_bytes: deque[int] = deque()
        self.sent = 0

    async def receiver(self) -> None:
        """Decode 8N1 frames on ``tx`` for ever (a background task)."""
        dut, div = self.dut, self.div
        while True:
            await RisingEdge(dut.clk)
            if int(dut.tx.value) != 0:
                continue
            await ClockCycles(dut.clk, div // 2)  # the middle of the start bit
            if int(dut.tx.value) != 0:
                continue  # a glitch, not a start bit
            byte = 0
            for bit in range(8):
                await ClockCycles(dut.clk, div)
                byte |= int(dut.tx.value) << bit
            await ClockCycles(dut.clk, div)
            if int(dut.tx.value) == 1:  # a framing error drops the byte, as a UART would
                self.rx_bytes.append(byte)

    async def _send(self, data: bytes) -> None:
        dut, div = self.dut, self.div
        for byte in data:
            for level in [0, *[(byte >> i) & 1 for i in range(8)], 1]:
                dut.rx.value = level
                await ClockCycles(dut.clk, div)
            self.sent += 1

    async def _recv(self, n: int) -> bytes:
        idle = 0
        while len(self.rx_bytes) < n and idle < self.timeout:
            before = len(self.rx_bytes)
            await ClockCycles(self.dut.clk, 16)
            idle = 0 if len(self.rx_bytes) > before else idle + 16
        k = min(n, len(self.rx_bytes))
        return bytes(self.rx_bytes.popleft() for _ in range(k))

    # the blocking face the host driver sees
    def write(self, data: bytes) -> int:
        resume(self._send)(bytes(data))
        return len(data)

    def read(self, n: int) -> bytes:
        return resume(self._recv)(n)

    def close(self) -> None:
        pass


def _session(transport, cfg: dict) -> dict:
    """What a user's script does with a board: identify it, load weights, infer, reload."""
    from lognet.boards.host import LognetDevice
    from lognet.hw.regmap import config_writes
    from lognet.model.reference import reference
    from lognet.model.spec import load_spec

    spec = load_spec(cfg["spec"])
    X = np.load(cfg["vectors"], allow_pickle=False)
    dev = LognetDevice(transport)
    info = dev.id()
    if (info.n_in, info.n_out) != (spec.n_in, spec.n_out):
        raise AssertionError(f"ID reports {info.n_in} inputs / {info.n_out} outputs, the spec "
                             f"has {spec.n_in} / {spec.n_out}")
    dev.check_core()
    done = {"words": 0, "vectors": 0}
    sets = [load_spec(p) for p in cfg["weight_sets"]]
    for k, new in enumerate(sets):
        done["words"] += dev.load_spec_weights(config_writes(spec, new))
        got = np.array(dev.infer(X.tolist()), dtype=np.int64)
        want = reference(new, X)
        if cfg.get("corrupt") and k == 0:
            want = want.copy()
            want[0, 0] += 1
        bad = np.argwhere(got != want)
        if len(bad):
            i, j = map(int, bad[0])
            raise AssertionError(f"weight set {k}, vector {i}, output {j}: expected "
                                 f"{want[i, j]}, got {got[i, j]} through the UART")
        done["vectors"] += len(X)
    return done


@cocotb.test()
async def host_driver_through_uart(dut):
    """The host driver loads two weight sets and infers through the UART bridge."""
    with open(os.environ["LOGNET_TB_CONFIG"]) as f:
        cfg = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    port = CocotbSerial(dut, int(cfg["divisor"]))
    cocotb.start_soon(port.receiver())
    done = await bridge(_session)(port, cfg)
    with open(cfg["results"], "w") as f:
        json.dump({**done, "bytes_sent": port.sent}, f)
