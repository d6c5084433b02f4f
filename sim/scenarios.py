"""The verification scenarios. Each is one cocotb test (registered in :mod:`lognet.sim.tb_core`)
and can be picked by name in :func:`lognet.sim.runner.run_sim`:

``random``
    the header registers read back (ID, VERSION, STATUS), then the runner's random vectors with
    random valid gaps and ready backpressure.
``extremes``
    all-max, all-min and alternating inputs under the built weights, then under the largest
    levels with every sign positive and with every sign negative (and extreme biases), each set
    loaded through the configuration bus between two vectors.
``reprogram``
    the stream runs while weight sets are written and committed: a full new set mid-stream,
    a levels-and-biases-only set between two vectors (stream drained), another full set
    mid-stream. Every output is checked against the set committed when its vector entered.
    At the end a sample of the weight registers is read back through the bus.
``reset``
    a new set is loaded, then ``rst`` is raised in the middle of the stream: vectors inside the
    core are discarded, later ones must still meet the loaded set (weights survive reset), and a
    set loaded after the reset must take effect.
``backpressure``
    a long run with sparse, bursty ready (long stalls) and bursty input.
``retune``
    the stream runs under the built set while each given weight set (e.g. a ``lognet tune``
    result) is written mid-stream as only the words that differ from the active set, then
    committed (:meth:`~lognet.sim.bench.Bench.retune`); the last one is read back.

Cores whose weights are wired in (``tunable=none``) run the same streams without the loads.
"""

from __future__ import annotations

import numpy as np

from lognet.hw.regmap import (
    ADDR_CTRL,
    CTRL_PAUSE,
    ID_VALUE,
    REGMAP_VERSION,
    RegisterMap,
    config_writes,
    register_map,
)

from .bench import Bench
from .tbconfig import TbConfig
from .weightsets import extreme_inputs, extreme_sets, perturbed_weights, tunable

__all__ = ["SCENARIOS", "make_bench"]


async def _random(bench: Bench) -> None:
    ops = [bench.bus.read(a) for a in (0, 1, 3)]
    await bench.run(lambda: bench.bus.idle, "reading the header registers")
    got = [op.data for op in ops]
    if got != [ID_VALUE, REGMAP_VERSION, 0]:
        raise AssertionError(f"{bench.cfg.top}: ID, VERSION, STATUS read {[hex(v) for v in got]}"
                             f", expected {[hex(ID_VALUE), REGMAP_VERSION, 0]}")
    bench.send()
    await bench.finish_stream()


def _region_bits(spec, addr: int) -> int:
    rm = register_map(spec)
    for m in [rm] if isinstance(rm, RegisterMap) else rm.layers:
        for r in m.regions.values():
            lo = m.base + r.base
            if lo <= addr < lo + (1 << max(0, (r.count - 1).bit_length())):
                return r.bits
    raise KeyError(addr)


async def _readback(bench: Bench, s: int) -> None:
    """Read back a sample of weight set ``s``'s registers (the shadow copy)."""
    writes = config_writes(bench.spec, bench.sets[s])
    sample = writes[:: max(1, len(writes) // 16)]
    if bench.single:  # single-copy connection words read back while paused and empty
        bench.bus.write(ADDR_CTRL, CTRL_PAUSE)
        bench.bus.wait_safe()
    ops = [(a, w, bench.bus.read(a)) for a, w in sample]
    if bench.single:
        bench.bus.write(ADDR_CTRL, 0)
    await bench.run(lambda: bench.bus.idle, "reading back the weight registers")
    for a, w, op in ops:
        mask = (1 << _region_bits(bench.spec, a)) - 1
        if op.data & mask != w & mask:
            raise AssertionError(f"{bench.cfg.top}: register {a:#x} reads {op.data:#x} after "
                                 f"{w:#x} was written")


async def _extremes(bench: Bench) -> None:
    n = len(bench.X) // len(bench.sets)
    for s in range(len(bench.sets)):
        if s:
            await bench.drain()
            await bench.reprogram(s)
        bench.send(range(s * n, (s + 1) * n))
        bench.driver.hold = False
        await bench.finish_stream()


async def _reprogram(bench: Bench) -> None:
    n = len(bench.X)
    bench.send()
    if len(bench.sets) > 1:
        await bench.until_sent(n // 4)
        await bench.reprogram(1)  # mid-stream
        await bench.until_sent(n // 2)
        await bench.drain()
        await bench.reprogram(2)  # between two vectors
        bench.driver.hold = False
        await bench.until_sent((3 * n) // 4)
        await bench.reprogram(3)  # mid-stream again
    await bench.finish_stream()
    if len(bench.sets) > 1:
        await _readback(bench, 3)


async def _reset(bench: Bench) -> None:
    n = len(bench.X)
    bench.send()
    if len(bench.sets) > 1:
        await bench.until_sent(n // 4)
        await bench.reprogram(1)
    await bench.run(lambda: bench.accepted >= n // 2 and bench.board.pending,
                    "vectors in flight")
    await bench.reset()
    if len(bench.sets) > 2:
        await bench.until_sent((3 * n) // 4)
        await bench.reprogram(2)
    await bench.finish_stream()


async def _retune(bench: Bench) -> None:
    n, k = len(bench.X), len(bench.sets)
    bench.send()
    for s in range(1, k):
        await bench.until_sent(s * n // k)
        await bench.retune(s)
    await bench.finish_stream()
    if k > 1:
        await _readback(bench, k - 1)


def _backpressure(bench: Bench):
    bench.send()
    return bench.finish_stream()


def _sets_for(name: str, cfg: TbConfig):
    """The weight sets and input rows of a scenario (set 0 is the built spec)."""
    spec, seed = cfg.spec, cfg.seed
    if name == "extremes":
        sets = [spec] + [s for _, s in extreme_sets(spec)]
        ext = extreme_inputs(spec)
        rows = np.concatenate([ext, cfg.X[: max(0, min(len(cfg.X), 64) - len(ext))]])
        return sets, np.concatenate([rows] * len(sets))
    if name == "retune":
        from lognet.model.specjson import load_spec

        return [spec, *(load_spec(p) for p in cfg.weight_sets)], cfg.X
    if not tunable(spec) or name in ("random", "backpressure"):
        return [spec], cfg.X
    if name == "reprogram":
        return [spec, perturbed_weights(spec, seed + 1),
                perturbed_weights(spec, seed + 2, levels_only=True),
                perturbed_weights(spec, seed + 3)], cfg.X
    return [spec, perturbed_weights(spec, seed + 11), perturbed_weights(spec, seed + 12)], cfg.X


#: scenario name -> (cocotb test name, body, stream options)
SCENARIOS = {
    "random": ("random_vectors", _random, {}),
    "extremes": ("extremes", _extremes, {}),
    "reprogram": ("reprogram", _reprogram, {}),
    "reset": ("reset_midstream", _reset, {}),
    "backpressure": ("backpressure", _backpressure,
                     {"p_valid": 0.9, "p_ready": 0.3, "longest": 24}),
    "retune": ("retune", _retune, {}),
}


def make_bench(dut, cfg: TbConfig, name: str) -> Bench:
    sets, X = _sets_for(name, cfg)
    return Bench(dut, cfg, name, X, sets, **SCENARIOS[name][2])
