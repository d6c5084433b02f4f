"""Stream vectors through a core in Amaranth's simulator (tier 2): the quick RTL check that
needs no external simulator. Inputs are offered back to back and outputs always accepted."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

__all__ = ["stream_through"]


def stream_through(core, X, max_cycles: int | None = None) -> tuple[np.ndarray, int]:
    """Outputs of ``core`` for integer inputs ``X`` (N, n_in), and the clock cycles it took."""
    X = np.asarray(X)
    n_out = core.info.n_out
    got: list[list[int]] = []
    state = {"cycles": 0}
    limit = max_cycles or ((len(X) + 4) * (core.info.cycles_per_vector + 2) + core.info.latency
                           + 100)

    async def tb(ctx):
        nxt = 0
        ctx.set(core.o_stream.ready, 1)
        for cycle in range(limit):
            if nxt < len(X):
                ctx.set(core.i_stream.valid, 1)
                for i, v in enumerate(X[nxt]):
                    ctx.set(core.i_stream.payload[i], int(v))
            else:
                ctx.set(core.i_stream.valid, 0)
            fire_in = nxt < len(X) and ctx.get(core.i_stream.ready)
            if ctx.get(core.o_stream.valid):
                got.append([ctx.get(core.o_stream.payload[j]) for j in range(n_out)])
            if fire_in:
                nxt += 1
            await ctx.tick()
            state["cycles"] = cycle + 1
            if len(got) >= len(X):
                break

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return np.asarray(got, dtype=np.int64).reshape(-1, n_out), state["cycles"]
