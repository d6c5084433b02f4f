"""Amaranth-simulator harness for cores with the lognet interface (docs/interfaces.md).

One testbench coroutine plays the whole environment clock by clock: an input driver with random
valid gaps (valid held until the transfer, payload unchanged), a sink with random ready, and a
configuration driver that writes weight sets and commits while the stream runs. Every transfer is
recorded with its clock number, so the checker knows which weight set each vector must see: a
vector accepted at or before the edge of a commit write uses the old set, a later one the new.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from lognet.hw.regmap import CTRL_PAUSE, READ_LATENCY, STATUS_SAFE, config_writes, needs_pause
from lognet.model.reference import reference


@dataclass
class Reprogram:
    #: start writing once this many vectors have been accepted
    after: int
    #: the new spec (same shape and topology)
    spec: object
    #: commit at the end (False leaves the writes in the shadow copy only)
    commit: bool = True


@dataclass
class Run:
    outputs: np.ndarray
    generations: list[int]
    cycles: int
    reads: dict = field(default_factory=dict)


def run_core(dut, spec, X, *, reprograms=(), p_valid=0.7, p_ready=0.7, seed=0, max_cycles=None,
             reads=()):
    """Stream ``X`` through ``dut``; returns the outputs in order and, per vector, the index of
    the weight set it must have used (0 = the built spec, i = after reprograms[i-1])."""
    rng = random.Random(seed)
    X = np.asarray(X)
    n_out = spec.n_out
    # cores with beats: each vector goes in as in_beats transfers; the set a vector uses is the
    # one of its last beat
    info = dut.info
    n_ib, ob = info.in_beats, info.out_beat_size
    # single-copy connection words: pause (a network pauses as a whole), wait until empty
    single = needs_pause(spec)
    beats = X.reshape(-1, info.in_beat_size) if len(X) else X.reshape(0, info.in_beat_size)
    progs = sorted(reprograms, key=lambda r: r.after)
    got, gens = [], []
    state = {"cycles": 0, "reads": {}}
    limit = max_cycles or int((len(X) + 50) * (dut.info.cycles_per_vector + 4) * 4 + 20000)

    async def tb(ctx):
        nxt = 0
        presenting = False
        generation = 0
        queue: list[tuple[int, int]] = []
        commits_pending = []
        prog_i = 0
        read_q = list(reads)
        read_wait = None
        read_left = 0  # clocks until the read in flight has its data on r_data
        polling = False  # after a commit: poll STATUS until the swap, as a host must
        safe_seen = False  # single_copy: STATUS said paused and empty
        for cycle in range(limit):
            if nxt >= len(beats) and len(got) >= len(X) * info.out_beats and not queue \
                    and not read_q and read_wait is None and not polling:
                break
            # schedule reprogramming
            while prog_i < len(progs) and nxt >= progs[prog_i].after * n_ib:
                ws = config_writes(spec, progs[prog_i].spec)
                if single:  # pause, wait until the core is empty, then write
                    queue += [(2, CTRL_PAUSE), "wait_safe"]
                queue += ws
                if progs[prog_i].commit:
                    queue.append((2, 1))
                prog_i += 1
            # input driver
            if not presenting and nxt < len(beats) and rng.random() < p_valid:
                presenting = True
                for i, v in enumerate(beats[nxt]):
                    ctx.set(dut.i_stream.payload[i], int(v))
            ctx.set(dut.i_stream.valid, presenting)
            ready = rng.random() < p_ready
            ctx.set(dut.o_stream.ready, ready)
            # config driver: one bus operation per cycle, randomly spaced
            is_commit = False
            ctx.set(dut.cfg.w_en, 0)
            ctx.set(dut.cfg.r_en, 0)
            if read_wait is not None:
                read_left -= 1
            if read_wait is not None and not read_left:
                value = ctx.get(dut.cfg.r_data)
                if read_wait == "status":
                    polling = bool(value & 1)
                elif read_wait == "safe":
                    safe_seen = bool(value & STATUS_SAFE)
                else:
                    state["reads"][read_wait] = value
                read_wait = None
            if queue and queue[0] == "wait_safe" and not polling:
                if read_wait is None and not safe_seen:
                    ctx.set(dut.cfg.addr, 3)
                    ctx.set(dut.cfg.r_en, 1)
                    read_wait, read_left = "safe", READ_LATENCY
                elif safe_seen:
                    queue.pop(0)
                    safe_seen = False
            elif polling:
                if read_wait is None:
                    ctx.set(dut.cfg.addr, 3)
                    ctx.set(dut.cfg.r_en, 1)
                    read_wait, read_left = "status", READ_LATENCY
            elif queue and rng.random() < 0.8:
                addr, word = queue.pop(0)
                ctx.set(dut.cfg.addr, addr)
                ctx.set(dut.cfg.w_data, word)
                ctx.set(dut.cfg.w_en, 1)
                is_commit = addr == 2 and word & 1
            elif not queue and read_q and nxt >= len(beats) and read_wait is None:
                addr = read_q.pop(0)
                ctx.set(dut.cfg.addr, addr)
                ctx.set(dut.cfg.r_en, 1)
                read_wait, read_left = addr, READ_LATENCY
            fire_in = presenting and ctx.get(dut.i_stream.ready)
            fire_out = ready and ctx.get(dut.o_stream.valid)
            if fire_out:
                got.append([ctx.get(dut.o_stream.payload[j]) for j in range(ob)])
            if fire_in:
                if nxt % n_ib == n_ib - 1:
                    gens.append(generation)
                presenting = False
                nxt += 1
            if is_commit:
                generation += 1
                polling = True
                commits_pending.append(cycle)
            await ctx.tick()
            state["cycles"] = cycle
        if read_wait is not None and read_wait != "status":
            for _ in range(read_left - 1):
                await ctx.tick()
            state["reads"][read_wait] = ctx.get(dut.cfg.r_data)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return Run(np.asarray(got, dtype=np.int64).reshape(-1, n_out), gens, state["cycles"],
               state["reads"])


def expected(specs, X, generations):
    """Reference outputs, each vector with the weight set of its generation."""
    X = np.asarray(X)
    out = np.zeros((len(generations), specs[0].n_out), dtype=np.int64)
    for g in set(generations):
        rows = [i for i, gg in enumerate(generations) if gg == g]
        out[rows] = reference(specs[g], X[rows])
    return out
