"""The datasheet against the simulated RTL: its latency and commit time are what the core does,
and a weight set loaded through its connection table alone (connections.csv plus the encodings
it states) gives exactly the reference outputs."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import numpy as np
import pytest
from amaranth.sim import Simulator
from support.specs import make_spec, perturbed

from lognet.hw.amsim import commit_clocks, transfer_latency
from lognet.hw.datasheet import connections_csv, datasheet
from lognet.hw.export import build_core
from lognet.hw.regmap import ADDR_CTRL, CTRL_COMMIT
from lognet.model.reference import reference

CASES = {
    "parallel-shared": dict(arch="parallel", arith="shared"),
    "parallel-shift-walk": dict(arch="parallel", arith="shift", pow2=True),
    "parallel-multiply": dict(arch="parallel", arith="multiply"),
    "folded-dense": dict(arch="folded", lanes=3, arith="shared"),
    "folded-pruned": dict(arch="folded", lanes=2, arith="factored", fanin=3),
    "folded-levels": dict(arch="folded", lanes=2, arith="shared", tunable="levels"),
    "folded-none": dict(arch="folded", lanes=2, arith="shared", tunable="none"),
}


def _sheet(core):
    return datasheet(core, "top", version="test", spec_sha256="0" * 64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stated_timing_is_the_rtls(case):
    kw = dict(CASES[case])
    spec = make_spec(6, 5, 4, kw.pop("fanin", None), seed=7, **kw)
    core = build_core(spec)
    text = _sheet(core)
    latency = int(re.search(r"- Latency (\d+) clocks", text).group(1))
    commit = int(re.search(r"- Commit: (\d+) clock", text).group(1))
    assert latency == transfer_latency(core, [1] * spec.n_in)
    assert commit == commit_clocks(build_core(spec))


def _load_then_stream(core, writes, X):
    """Write ``writes`` on the bus, commit, wait for STATUS to clear, then stream ``X``."""
    got = []

    async def tb(ctx):
        cfg = core.cfg
        for addr, word in writes:
            ctx.set(cfg.addr, addr)
            ctx.set(cfg.w_data, word)
            ctx.set(cfg.w_en, 1)
            await ctx.tick()
        ctx.set(cfg.addr, ADDR_CTRL)
        ctx.set(cfg.w_data, CTRL_COMMIT)
        await ctx.tick()
        ctx.set(cfg.w_en, 0)
        ctx.set(core.o_stream.ready, 1)
        nxt = 0
        clocks = int((len(X) + 2) * (core.info.cycles_per_vector + core.info.latency)) + 5000
        for _ in range(clocks):
            if nxt < len(X):
                ctx.set(core.i_stream.valid, 1)
                for i, v in enumerate(X[nxt]):
                    ctx.set(core.i_stream.payload[i], int(v))
            else:
                ctx.set(core.i_stream.valid, 0)
            took = nxt < len(X) and ctx.get(core.i_stream.ready)
            if ctx.get(core.o_stream.valid):
                got.append([ctx.get(core.o_stream.payload[j]) for j in range(core.info.n_out)])
            nxt += bool(took)
            await ctx.tick()
            if len(got) == len(X):
                return

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return np.asarray(got, dtype=np.int64)


@pytest.mark.parametrize("case", ["parallel-shared", "parallel-multiply", "folded-dense",
                                  "folded-pruned"])
def test_connection_table_drives_the_core(case):
    kw = dict(CASES[case])
    spec = make_spec(6, 5, 4, kw.pop("fanin", None), seed=3, **kw)
    new = perturbed(spec, 5)
    core = build_core(spec)
    rows = list(csv.DictReader(io.StringIO(connections_csv(core))))
    assert len(rows) == spec.n_conn
    # the level table and biases as the register table says: word k / j at the region base
    rm = core.regmap
    writes = []
    if "LEVELS" in rm.regions:
        writes += [(rm.regions["LEVELS"].base + k, v) for k, v in enumerate(new.levels)]
    writes += [(rm.regions["BIAS"].base + j, v & 0xFFFFFFFF) for j, v in enumerate(new.bias)]
    for r in rows:  # the connection words from the table alone
        j, c = int(r["output"]), int(r["connection"])
        assert int(r["input"]) == spec.sources[j][c]
        sign, index = new.signs[j][c], new.indices[j][c]
        if spec.arch.arith.value == "multiply":
            w = -new.levels[index] if sign else new.levels[index]
            word = w & ((1 << (spec.level_fmt.width + 1)) - 1)
        else:
            word = sign | index << 1
        writes.append((int(r["address"]), word))
    rng = np.random.default_rng(1)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (12, spec.n_in))
    y = _load_then_stream(core, writes, X)
    np.testing.assert_array_equal(y, reference(new, X))
    # and the check is not vacuous: the old weights give other outputs
    assert not np.array_equal(reference(spec, X), reference(new, X))


def test_table_and_markdown_are_safe_and_complete():
    spec = dataclasses.replace(make_spec(6, 3, 4, arch="folded", lanes=2, arith="shift",
                                         pow2=True), name="a|b`c")
    core = build_core(spec)
    text = _sheet(core)
    rows = [ln for ln in text.splitlines() if ln.startswith("| `a_b_c` | `0x")]
    assert len(rows) == spec.n_conn  # every connection in the inline table
    levels_row = [ln for ln in text.splitlines() if ln.startswith("| `0x") and "| LEVELS |" in ln]
    # the shift encoding's "|" are escaped, so the row keeps its six columns
    assert len(levels_row) == 1 and levels_row[0].replace("\\|", "").count("|") == 7
    assert "a|b" not in text
