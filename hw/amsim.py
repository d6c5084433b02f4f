"""Stream vectors through a core in Amaranth's simulator (tier 2): the quick RTL check that
needs no external simulator. Inputs are offered back to back and outputs always accepted."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

__all__ = ["commit_clocks", "stream_through", "transfer_latency"]

#: clock period of these simulations (seconds; only clock counts matter)
_PERIOD = 1e-8


def _simulate(core, tb) -> None:
    """Run the async testbench ``tb`` against ``core`` on one clock until ``tb`` returns."""
    sim = Simulator(core)
    sim.add_clock(_PERIOD)
    sim.add_testbench(tb)
    sim.run()


def stream_through(core, X, max_cycles: int | None = None) -> tuple[np.ndarray, int]:
    """Outputs of ``core`` for integer inputs ``X`` (N, n_in), and the clock cycles it took.
    Cores with beats take each vector as ``info.in_beats`` transfers (elements in order) and
    give each output as ``info.out_beats``."""
    info = core.info
    X = np.asarray(X)
    ib, ob = info.in_beat_size, info.out_beat_size
    beats = X.reshape(-1, ib) if len(X) else X.reshape(0, ib)
    got: list[list[int]] = []
    state = {"cycles": 0}
    limit = max_cycles or int((len(X) + 4) * (info.cycles_per_vector + info.in_beats
                                              + info.out_beats + 2) + info.latency + 100)

    async def tb(ctx):
        nxt = 0
        ctx.set(core.o_stream.ready, 1)
        for cycle in range(limit):
            if nxt < len(beats):
                ctx.set(core.i_stream.valid, 1)
                for i, v in enumerate(beats[nxt]):
                    ctx.set(core.i_stream.payload[i], int(v))
            else:
                ctx.set(core.i_stream.valid, 0)
            fire_in = nxt < len(beats) and ctx.get(core.i_stream.ready)
            if ctx.get(core.o_stream.valid):
                got.append([ctx.get(core.o_stream.payload[j]) for j in range(ob)])
            if fire_in:
                nxt += 1
            await ctx.tick()
            state["cycles"] = cycle + 1
            if len(got) >= len(X) * info.out_beats:
                break

    _simulate(core, tb)
    return np.asarray(got, dtype=np.int64).reshape(-1, info.n_out), state["cycles"]


def transfer_latency(core, x, max_cycles: int = 100_000) -> int:
    """Rising edges from the one that transfers input vector ``x`` (its last beat) into an idle
    ``core`` to the one that transfers its output (its first beat), with ``o_stream.ready``
    held high: the measured counterpart of ``core.info.latency``."""
    info = core.info
    beats = np.asarray(x).reshape(-1, info.in_beat_size)
    edges: dict[str, int] = {}

    async def tb(ctx):
        ctx.set(core.o_stream.ready, 1)
        sent = 0
        for edge in range(1, max_cycles + 1):  # values seen just before rising edge ``edge``
            if sent < len(beats):
                ctx.set(core.i_stream.valid, 1)
                for i, v in enumerate(beats[sent]):
                    ctx.set(core.i_stream.payload[i], int(v))
                if ctx.get(core.i_stream.ready):
                    sent += 1
                    if sent == len(beats):
                        edges["in"] = edge
            elif ctx.get(core.o_stream.valid):
                edges["out"] = edge
                return
            await ctx.tick()
            if sent == len(beats):
                ctx.set(core.i_stream.valid, 0)

    _simulate(core, tb)
    if "out" not in edges:
        raise RuntimeError(f"no output within {max_cycles} clocks")
    return edges["out"] - edges["in"]


def commit_clocks(core, max_cycles: int = 1_000_000) -> int:
    """Rising edges from the one that writes CTRL's commit bit into an idle ``core`` to the
    first one after which STATUS reads 0 again (the commit has taken effect)."""
    from .regmap import ADDR_CTRL, ADDR_STATUS, CTRL_COMMIT, READ_LATENCY, STATUS_PENDING

    result: dict[str, int] = {}

    async def tb(ctx):
        cfg = core.cfg
        ctx.set(core.o_stream.ready, 1)
        ctx.set(cfg.addr, ADDR_CTRL)
        ctx.set(cfg.w_data, CTRL_COMMIT)
        ctx.set(cfg.w_en, 1)
        await ctx.tick()  # edge 1 writes the commit
        ctx.set(cfg.w_en, 0)
        ctx.set(cfg.addr, ADDR_STATUS)
        ctx.set(cfg.r_en, 1)
        for edge in range(2, max_cycles + 1 + READ_LATENCY):
            # edge ``e`` samples STATUS (as it was just after edge ``e - 1``); r_data shows it
            # after edge ``e + READ_LATENCY - 1``
            await ctx.tick()
            if edge < 1 + READ_LATENCY:
                continue
            if not ctx.get(cfg.r_data) & STATUS_PENDING:
                result["done"] = edge - READ_LATENCY
                return

    _simulate(core, tb)
    if "done" not in result:
        raise RuntimeError(f"the commit did not finish within {max_cycles} clocks")
    return result["done"] - 1
