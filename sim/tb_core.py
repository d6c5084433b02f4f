"""The cocotb test run on a generated core: random vectors with valid gaps and ready
backpressure, optional reprogramming while the stream runs and a reset in the middle, every
output compared exactly with the integer reference of the weight set its vector entered with.

Configured by the JSON file named in ``LOGNET_TB_CONFIG`` (written by :mod:`lognet.sim.runner`);
results are written to the JSON file it names, for the runner's summary.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from lognet.hw.regmap import config_writes
from lognet.model.reference import reference
from lognet.model.spec import LayerSpec, NetworkSpec, load_spec

from .tb import (
    ConfigDriver,
    Scoreboard,
    StreamDriver,
    StreamMonitor,
    StreamSink,
    WishboneConfigDriver,
)


def corrupted(spec):
    """The spec with one level of the first layer off by one LSB (the mutation check)."""
    layer = spec if isinstance(spec, LayerSpec) else spec.layers[0]
    lv = list(layer.levels)
    k = len(lv) - 1
    lv[k] = lv[k] - 1 if lv[k] > (lv[k - 1] + 1 if k else 0) else lv[k] + 1
    bad = dataclasses.replace(layer, levels=tuple(lv))
    if isinstance(spec, LayerSpec):
        return bad
    return NetworkSpec(spec.name, (bad, *spec.layers[1:]))


@cocotb.test()
async def stream_check(dut):
    with open(os.environ["LOGNET_TB_CONFIG"]) as f:
        cfg = json.load(f)
    spec = load_spec(cfg["spec"])
    X = np.load(cfg["vectors"], allow_pickle=False)
    sets = [spec] + [load_spec(p) for p in cfg.get("reprogram_specs", [])]
    ref_sets = [corrupted(s) for s in sets] if cfg.get("corrupt") else sets
    refs = [reference(s, X) for s in ref_sets]
    rng = random.Random(cfg.get("seed", 0))
    top = cfg["top"]

    driver = StreamDriver(dut, X.tolist(), spec.in_fmt.width, cfg.get("p_valid", 0.8), rng)
    sink = StreamSink(dut, cfg.get("p_ready", 0.8), rng)
    monitor = StreamMonitor(dut, spec.n_out, spec.out_fmt.width, spec.out_fmt.signed)
    wishbone = bool(cfg.get("wishbone"))
    config = WishboneConfigDriver(dut) if wishbone else ConfigDriver(dut)
    board = Scoreboard(refs, top)
    reprograms = sorted(zip(cfg.get("reprogram_after", []), range(1, len(sets))))
    reset_at = cfg.get("reset_at")
    reset_left = 0
    dropped = 0

    dut.i_stream__valid.value = 0
    dut.i_stream__payload.value = 0
    dut.o_stream__ready.value = 0
    if wishbone:
        for pin in ("adr", "dat_w", "sel", "cyc", "stb", "we"):
            getattr(dut, f"wb__{pin}").value = 0
    else:
        for pin in ("addr", "w_data", "w_en", "r_en"):
            getattr(dut, f"cfg__{pin}").value = 0
    dut.rst.value = 1
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0

    generation = 0
    limit = cfg.get("max_cycles", 200 + len(X) * (cfg.get("cycles_per_vector", 1) + 3) * 6
                    + 50 * sum(len(config_writes(spec, s)) for s in sets[1:]))
    t0 = time.perf_counter()
    cycle = 0
    while cycle < limit:
        await FallingEdge(dut.clk)
        cycle += 1
        while reprograms and driver.next >= reprograms[0][0] and config.idle:
            _, g = reprograms.pop(0)
            config.load(config_writes(spec, sets[g]))
        if reset_at is not None and driver.next >= reset_at and config.idle and not reset_left:
            reset_left, reset_at = 3, None
            dropped += board.flush()
        if reset_left:
            dut.rst.value = 1
            dut.i_stream__valid.value = 0
            dut.o_stream__ready.value = 0
            reset_left -= 1
            if reset_left == 0:
                await FallingEdge(dut.clk)
                cycle += 1
                dut.rst.value = 0
            continue
        driver.drive()
        sink.drive()
        config.drive()
        await ReadOnly()
        t = monitor.sample(sink.ready, cycle)
        if t is not None:
            board.check(t)
        idx = driver.sample()
        if idx is not None:
            board.expect(idx, generation)
        config.sample()
        if config.commit_now:
            generation += 1
        if driver.done and not board.pending and config.idle and not reprograms:
            break
    wall = time.perf_counter() - t0
    result = {
        "top": top, "vectors": len(X), "checked": board.checked,
        "dropped_by_reset": dropped, "mismatches": board.mismatches,
        "first_mismatch": dataclasses.asdict(board.first) if board.first else None,
        "first_mismatch_text": board.first.describe(top) if board.first else None,
        "cycles": cycle, "sim_seconds": wall, "generations": generation + 1,
        "timed_out": cycle >= limit,
    }
    with open(cfg["results"], "w") as f:
        json.dump(result, f)
    assert not result["timed_out"], f"{top}: ran out of cycles ({limit})"
    assert board.mismatches == 0, board.first.describe(top)
    assert board.checked + dropped == len(X), (
        f"{top}: {board.checked} outputs checked + {dropped} dropped by reset for {len(X)} inputs")
