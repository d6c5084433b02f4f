"""cocotb test of the board top's Verilog (core + protocol bridge + UART) driven by the real
host driver, :class:`lognet.boards.host.LognetDevice`, through a UART model.

The host code is the same blocking code that talks to a board's serial port; here it runs in a
thread made with :func:`cocotb.task.bridge`, and its transport,
:class:`lognet.sim.uart_link.CocotbSerial`, turns ``write``/``read`` into 8N1 frames on the
top's ``rx`` pin and bytes decoded from its ``tx`` pin.

Configured by a :class:`~lognet.sim.tbconfig.BoardTbConfig` JSON file named in the environment
variable ``LOGNET_TB_CONFIG`` (written by :func:`lognet.sim.board.run_board_sim`) or in the
plusarg ``+LOGNET_TB_CONFIG=<path>``; the counts, and on failure a one-line ``error``, go to
its ``results`` file.
"""

from __future__ import annotations

import json

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles

from .tbconfig import BoardTbConfig, config_path
from .uart_link import CocotbSerial


def _config() -> BoardTbConfig:
    """The run's configuration, from the environment or a plusarg."""
    return BoardTbConfig.read(config_path(cocotb.plusargs))


def expected_info(spec):
    """The :class:`~lognet.boards.protocol.DeviceInfo` a top built from ``spec`` must report."""
    from lognet.boards.protocol import DeviceInfo
    from lognet.hw.regmap import register_map

    return DeviceInfo(spec.n_in, spec.n_out, spec.in_fmt.width, spec.out_fmt.width,
                      bool(spec.in_fmt.signed), bool(spec.out_fmt.signed),
                      register_map(spec).addr_width, depth=1)


def check_outputs(k: int, got: np.ndarray, want: np.ndarray) -> None:
    """Exact integer equality of the outputs of weight set ``k``; the AssertionError's first
    line names the first differing vector and output."""
    try:
        np.testing.assert_array_equal(got, want, strict=True)
    except AssertionError as e:
        if got.shape != want.shape:
            first = f"output shape {got.shape}, expected {want.shape}"
        else:
            bad = np.argwhere(got != want)
            i, j = map(int, bad[0])
            first = (f"vector {i}, output {j}: expected {want[i, j]}, got {got[i, j]} through "
                     f"the UART ({len(bad)} of {want.size} outputs differ)")
        raise AssertionError(f"weight set {k}, {first}\n{e}") from None


def session(transport, cfg: BoardTbConfig, done: dict) -> None:
    """What a user's script does with a board: identify it, check the core, then for each
    weight set load it (register writes + commit), infer and compare with the reference.
    Counts go into ``done`` as they happen (so a failure still reports its progress)."""
    from lognet.boards.host import LognetDevice, needs_pause
    from lognet.hw.regmap import config_writes
    from lognet.model.reference import reference
    from lognet.model.specjson import load_spec

    spec, X = cfg.spec, cfg.X
    dev = LognetDevice(transport)
    info, want_info = dev.id(), expected_info(spec)
    if info != want_info:
        raise AssertionError(f"ID reports {info}, a core built from the spec is {want_info}")
    dev.check_core()
    for k, path in enumerate(cfg.weight_sets):
        new = load_spec(path)
        done["words"] += dev.load_spec_weights(config_writes(spec, new),  # commits too
                                                 pause=needs_pause(spec))
        got = np.array(dev.infer(X.tolist()), dtype=np.int64).reshape(len(X), -1)
        want = np.asarray(reference(new, X), dtype=np.int64)
        if cfg.corrupt and k == 0:
            want = want.copy()
            want[0, 0] += 1
        check_outputs(k, got, want)
        done["sets"] += 1
        done["vectors"] += len(X)


@cocotb.test()
async def host_driver_through_uart(dut):
    """The host driver identifies the top, loads each weight set and infers through the UART,
    bit-exact against the integer reference."""
    cfg = _config()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    port = CocotbSerial(dut, cfg.divisor, timeout_cycles=cfg.timeout_cycles)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    cocotb.start_soon(port.receiver())
    done = {"words": 0, "sets": 0, "vectors": 0}
    try:
        await bridge(session)(port, cfg, done)
    except BaseException as e:
        done["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise
    finally:
        with open(cfg.results, "w") as f:
            json.dump({**done, "bytes_sent": port.sent, "bytes_received": port.received,
                       "framing_errors": port.framing_errors}, f, indent=1)
