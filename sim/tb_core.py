"""The cocotb tests: one per scenario of :mod:`lognet.sim.scenarios`, run on a generated core
(a layer or a network) in Verilator or Icarus by :func:`lognet.sim.runner.run_sim`.

Configured by the JSON file named in ``LOGNET_TB_CONFIG`` (written by the runner); each test
writes its result (vectors checked, mismatches, the first one named, cycles, time) into the
results file that config names, which the runner reads back.
"""

from __future__ import annotations

import cocotb

from .bench import load_config
from .scenarios import SCENARIOS, make_bench


async def _run(dut, name: str) -> None:
    cfg = load_config()
    bench = make_bench(dut, cfg, name)
    await bench.start()
    try:
        await SCENARIOS[name][1](bench)
    except BaseException as e:
        bench.record(error=f"{type(e).__name__}: {e}")
        raise
    bench.record()
    bench.check()


@cocotb.test()
async def random_vectors(dut):
    """Random vectors, random valid gaps, random ready backpressure."""
    await _run(dut, "random")


@cocotb.test()
async def extremes(dut):
    """All-max/all-min inputs; largest levels with all signs positive, then negative."""
    await _run(dut, "extremes")


@cocotb.test()
async def reprogram(dut):
    """Weights and level table reprogrammed mid-stream and between two vectors."""
    await _run(dut, "reprogram")


@cocotb.test()
async def reset_midstream(dut):
    """Reset in the middle of the stream; weights survive, in-flight vectors are discarded."""
    await _run(dut, "reset")


@cocotb.test()
async def backpressure(dut):
    """A long run with sparse, bursty ready and bursty input."""
    await _run(dut, "backpressure")


@cocotb.test()
async def retune(dut):
    """Given weight sets written mid-stream as only their changed words, then committed."""
    await _run(dut, "retune")
