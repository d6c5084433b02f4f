"""What the datasheet and the manifest of a core with beats promise, checked on the simulated
RTL: the latency and cycles per vector they state are the ones measured; a vector cut into beats
in the order the datasheet's Beats table states (and the outputs read back in that order) gives
the reference outputs under random gaps and backpressure; no beat is taken while STATUS says a
commit is pending, and a vector uses the set active when its last beat is taken; a reset drops
partial vectors on both sides; the ports in the manifest and the Verilog are one beat wide."""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator
from support.specs import make_network, make_spec, perturbed

from lognet.hw.amsim import stream_through, transfer_latency
from lognet.hw.datasheet import datasheet
from lognet.hw.export import build_core, generate, manifest
from lognet.hw.regmap import (
    ADDR_CTRL,
    ADDR_STATUS,
    CTRL_COMMIT,
    READ_LATENCY,
    STATUS_PENDING,
    config_writes,
)
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec


def _with(spec, in_beat=0, out_beat=0):
    return spec.with_arch(dataclasses.replace(spec.arch, in_beat=in_beat, out_beat=out_beat))


def _network(beats):
    """Three folded layers 6 -> 5 -> 4 -> 3 with the (in, out) beats of each layer."""
    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored"),
                        ("folded", 3, "multiply")), seed=4)
    return NetworkSpec(net.name, tuple(_with(la, *b) for la, b in zip(net.layers, beats)))


CASES = {
    "in-and-out": lambda: make_spec(12, 6, 4, arch="folded", lanes=3, seed=2, in_beat=3,
                                    out_beat=2),
    "input-bound": lambda: make_spec(16, 2, 2, 2, arch="folded", lanes=2, seed=2, in_beat=1),
    "output-only": lambda: make_spec(6, 12, 4, 2, arch="folded", lanes=6, seed=2, out_beat=1),
    "pruned-factored": lambda: make_spec(9, 6, 4, 3, arch="folded", lanes=2, arith="factored",
                                         seed=2, in_beat=3, out_beat=2),
    "levels-relu": lambda: make_spec(12, 6, 4, arch="folded", lanes=3, tunable="levels",
                                     activation="relu", seed=5, in_beat=4, out_beat=3),
    # beats on the network's ports only: the links between layers carry whole vectors
    "network": lambda: _network([(2, 0), (0, 0), (0, 1)]),
}


def _sheet(core):
    return datasheet(core, "top", version="t", spec_sha256="0")


def _x(spec, n, seed=0):
    return np.random.default_rng(seed).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                                (n, spec.n_in))


def _stated(text):
    """Latency and cycles per vector as the Beats section states them."""
    latency = int(re.search(r"- Latency \((\d+) clocks, `latency_cycles`", text).group(1))
    cycles = float(re.search(r"- Rate: one vector every ([\d.]+) clock", text).group(1))
    return latency, cycles


@pytest.mark.parametrize("case", sorted(CASES))
def test_stated_timing_is_measured(case):
    spec = CASES[case]()
    core = build_core(spec)
    text = _sheet(core)
    latency, cycles = _stated(text)
    man = manifest(spec, core)
    assert man["latency_cycles"] == latency
    assert man["cycles_per_vector"] == cycles
    X = _x(spec, 13)
    assert latency == transfer_latency(core, X[0])
    _, c5 = stream_through(core, X[:5])
    y, c13 = stream_through(core, X)
    np.testing.assert_array_equal(y, reference(spec, X))
    assert cycles * 8 == c13 - c5
    info = core.info
    assert cycles >= max(info.in_beats, info.out_beats)
    assert f"never fewer than the beats of a vector on either side ({info.in_beats} in, " \
           f"{info.out_beats} out" in text
    if not hasattr(core, "layers"):  # a layer's own Timing states the same figures
        assert f"- Latency {latency} clocks: the rising edge that transfers an input vector" \
               in text


def test_stated_latency_of_a_network_with_beats_between_layers():
    spec = _network([(2, 1), (1, 2), (2, 0)])
    core = build_core(spec)
    latency, _ = _stated(_sheet(core))
    assert latency == transfer_latency(core, _x(spec, 1)[0])


def _beat_layout(text):
    """From the datasheet's Beats table, per stream: (elements a beat, beats a vector,
    function beat k -> the vector's element indices, element width in bits)."""
    out = {}
    for port in ("i_stream", "o_stream"):
        row = re.search(rf"^\| `{port}` \| (\d+) \| (\d+) \| (.*?) \| payload bits "
                        rf"`\[(\d+)\*i \+: (\d+)\]` \|$", text, flags=re.M)
        b, n, carries, w, w2 = row.groups()
        b, n, w = int(b), int(n), int(w)
        assert int(w2) == w
        m = re.fullmatch(r"`(\d+)\*k \.\. (\d+)\*k \+ (\d+)`", carries)
        if m:
            a, a2, last = map(int, m.groups())
            assert a == a2 and last == b - 1

            def elements(k, a=a, b=b):
                return [a * k + i for i in range(b)]
        else:
            assert carries == "all (`k` = 0)" and n == 1

            def elements(k, b=b):
                return list(range(b))
        out[port] = (b, n, elements, w)
    return out


def _pack(values, w):
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << w) - 1)) << (w * i)
    return word


def _unpack(word, n, w, signed):
    vals = [(word >> (w * i)) & ((1 << w) - 1) for i in range(n)]
    return [v - (1 << w) if signed and v >> (w - 1) else v for v in vals]


def _stream_beats(core, words, n_out_words, *, p_valid=1.0, p_ready=1.0, seed=0,
                  writes=(), commit_at=None):
    """Write ``writes`` into the shadow set with the streams idle, then offer the packed input
    ``words`` one beat at a time (random valid gaps, payload held until the transfer) and take
    output words with random ready. ``commit_at``: write CTRL's commit bit on the clock that
    input word ``commit_at`` transfers, and read STATUS on every other clock. Returns the output
    words and, per clock that read STATUS, (an input beat transferred, STATUS read pending)."""
    rng = random.Random(seed)
    got, trace = [], []
    poll = commit_at is not None

    async def tb(ctx):
        cfg = core.cfg
        for addr, word in writes:
            ctx.set(cfg.addr, addr)
            ctx.set(cfg.w_data, word)
            ctx.set(cfg.w_en, 1)
            await ctx.tick()
        nxt, presenting, status_of = 0, False, None
        status_q = [None] * READ_LATENCY  # the reads on their way to r_data
        for _ in range(200 * (len(words) + n_out_words) + 2000):
            tag = status_q.pop(0)
            if tag is not None:  # r_data holds STATUS as it was at that read's edge
                trace.append((tag, bool(ctx.get(cfg.r_data) & STATUS_PENDING)))
            if not presenting and nxt < len(words) and rng.random() < p_valid:
                presenting = True
                ctx.set(core.i_stream.payload.as_value(), words[nxt])
            ctx.set(core.i_stream.valid, presenting)
            ready = rng.random() < p_ready
            ctx.set(core.o_stream.ready, ready)
            fire_in = presenting and ctx.get(core.i_stream.ready)
            if ready and ctx.get(core.o_stream.valid):
                got.append(ctx.get(core.o_stream.payload.as_value()))
            writing = fire_in and nxt == commit_at
            ctx.set(cfg.w_en, writing)
            ctx.set(cfg.addr, ADDR_CTRL if writing else ADDR_STATUS)
            ctx.set(cfg.w_data, CTRL_COMMIT)
            ctx.set(cfg.r_en, poll and not writing)
            status_of = fire_in if poll and not writing else None
            status_q.append(status_of)
            if fire_in:
                presenting = False
                nxt += 1
            await ctx.tick()
            if len(got) == n_out_words and nxt == len(words):
                return

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return got, trace


def _to_words(text, X):
    b, n, elements, w = _beat_layout(text)["i_stream"]
    assert X.shape[1] == b * n
    return [_pack(x[elements(k)], w) for x in X for k in range(n)]


def _from_words(text, words, n_vectors, signed):
    b, n, elements, w = _beat_layout(text)["o_stream"]
    assert len(words) == n_vectors * n
    Y = np.zeros((n_vectors, b * n), dtype=np.int64)
    for v in range(n_vectors):
        for k in range(n):
            Y[v, elements(k)] = _unpack(words[v * n + k], b, w, signed)
    return Y


@pytest.mark.parametrize("case", ["in-and-out", "pruned-factored", "network"])
def test_beat_order_of_the_datasheet_drives_the_core(case):
    """Input words packed and output words unpacked from the datasheet's Beats table only."""
    spec = CASES[case]()
    core = build_core(spec)
    text = _sheet(core)
    X = _x(spec, 20, seed=1)
    words = _to_words(text, X)
    n_ob = _beat_layout(text)["o_stream"][1]
    got, _ = _stream_beats(core, words, len(X) * n_ob, p_valid=0.6, p_ready=0.5, seed=2)
    Y = _from_words(text, got, len(X), spec.out_fmt.signed)
    np.testing.assert_array_equal(Y, reference(spec, X))
    # not vacuous: the beats in another order give other outputs
    b, n, _, _ = _beat_layout(text)["i_stream"]
    if n > 1:
        swapped = X.reshape(len(X), n, b)[:, ::-1].reshape(X.shape)
        assert not np.array_equal(reference(spec, swapped), reference(spec, X))


@pytest.mark.parametrize("case", ["in-and-out", "levels-relu", "network"])
@pytest.mark.parametrize("where", ["mid-vector", "last-beat"])
def test_a_vector_uses_the_set_of_its_last_beat(case, where):
    """The commit written on the clock of a middle beat of vector ``at``: vectors before it
    use the old set, ``at`` and later the new; written on the clock of its last beat: ``at``
    still uses the old. No beat transfers on a clock where STATUS reads pending."""
    spec = CASES[case]()
    if isinstance(spec, NetworkSpec):
        new = NetworkSpec(spec.name, tuple(perturbed(la, 30 + i)
                                           for i, la in enumerate(spec.layers)))
    else:
        new = perturbed(spec, 3, topology_fixed=spec.arch.tunable.value != "all")
    core = build_core(spec)
    text = _sheet(core)
    assert "a vector is computed with the weight set that is active when its last beat is " \
           "taken. No beat is taken while a commit is pending" in text
    n_ib = core.info.in_beats
    assert n_ib > 1
    X = _x(spec, 12, seed=4)
    at = 4
    commit_at = at * n_ib + (n_ib // 2 - 1 if where == "mid-vector" else n_ib - 1)
    n_ob = _beat_layout(text)["o_stream"][1]
    got, trace = _stream_beats(core, _to_words(text, X), len(X) * n_ob, p_valid=0.8,
                               p_ready=0.7, seed=9, writes=config_writes(spec, new),
                               commit_at=commit_at)
    Y = _from_words(text, got, len(X), spec.out_fmt.signed)
    split = at if where == "mid-vector" else at + 1
    np.testing.assert_array_equal(Y[:split], reference(spec, X[:split]))
    np.testing.assert_array_equal(Y[split:], reference(new, X[split:]))
    assert not np.array_equal(reference(spec, X[split - 1:split + 1]),
                              reference(new, X[split - 1:split + 1]))
    # STATUS read pending for a while, and no beat transferred on any of those clocks
    assert sum(pending for _, pending in trace) >= 3
    assert not any(fired and pending for fired, pending in trace)
    assert any(fired for fired, _ in trace)


def test_a_reset_drops_partial_vectors():
    """One output beat of vector 0 leaves, two input beats of vector 1 go in, then a reset:
    the rest of vector 0's output never comes, vector 1's beats are forgotten, and the vectors
    after the reset start again at beat 0."""
    spec = CASES["in-and-out"]()
    core = build_core(spec)
    text = _sheet(core)
    assert "drops a vector whose beats are partly in or out" in text
    assert "A reset drops a partial vector" in text
    n_ob = core.info.out_beats
    X = _x(spec, 6, seed=6)
    words = _to_words(text, X)
    n_ib = core.info.in_beats
    rst = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(rst)(core)
    got = []

    async def send(ctx, word):
        ctx.set(core.i_stream.payload.as_value(), word)
        ctx.set(core.i_stream.valid, 1)
        while not ctx.get(core.i_stream.ready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(core.i_stream.valid, 0)

    async def tb(ctx):
        for w in words[:n_ib]:  # vector 0 whole
            await send(ctx, w)
        while not ctx.get(core.o_stream.valid):
            await ctx.tick()
        ctx.set(core.o_stream.ready, 1)  # its first output beat only
        got.append(ctx.get(core.o_stream.payload.as_value()))
        await ctx.tick()
        ctx.set(core.o_stream.ready, 0)
        for w in words[n_ib:n_ib + 2]:  # two beats of vector 1
            await send(ctx, w)
        assert ctx.get(core.o_stream.valid)  # vector 0's second beat is waiting
        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        ctx.set(core.o_stream.ready, 1)
        rest = words[2 * n_ib:]
        for _ in range(5000):
            if rest:
                ctx.set(core.i_stream.payload.as_value(), rest[0])
            ctx.set(core.i_stream.valid, bool(rest))
            fire = bool(rest) and ctx.get(core.i_stream.ready)
            if ctx.get(core.o_stream.valid):
                got.append(ctx.get(core.o_stream.payload.as_value()))
            if fire:
                rest = rest[1:]
            await ctx.tick()
            if len(got) == 1 + (len(X) - 2) * n_ob:
                return

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    first = _unpack(got[0], core.info.out_beat_size, spec.out_fmt.width, spec.out_fmt.signed)
    np.testing.assert_array_equal(first, reference(spec, X[:1])[0, :core.info.out_beat_size])
    Y = _from_words(text, got[1:], len(X) - 2, spec.out_fmt.signed)
    np.testing.assert_array_equal(Y, reference(spec, X[2:]))
    assert n_ob > 1 and n_ib > 2  # a partial vector on both sides really was dropped


@pytest.mark.parametrize("case", ["in-and-out", "output-only", "network"])
def test_manifest_and_verilog_ports_are_one_beat_wide(tmp_path, case):
    spec = CASES[case]()
    man = generate(spec, tmp_path / "o", version="t")
    assert json.loads((tmp_path / "o" / "manifest.json").read_text()) == man
    core = build_core(spec)
    info = core.info
    assert (man["in_beat"], man["in_beats_per_vector"]) == (info.in_beat_size, info.in_beats)
    assert (man["out_beat"], man["out_beats_per_vector"]) == (info.out_beat_size,
                                                              info.out_beats)
    assert man["in_beat"] * man["in_beats_per_vector"] == spec.n_in
    assert man["out_beat"] * man["out_beats_per_vector"] == spec.n_out
    assert info.in_beats > 1 or info.out_beats > 1
    widths = {p["name"]: p["width"] for p in man["ports"]}
    assert widths["i_stream__payload"] == man["in_beat"] * spec.in_fmt.width
    assert widths["o_stream__payload"] == man["out_beat"] * spec.out_fmt.width
    verilog = (tmp_path / "o" / f"{man['top']}.v").read_text()
    for port in ("i_stream__payload", "o_stream__payload"):
        assert re.search(rf"^  (?:in|out)put \[{widths[port] - 1}:0\] {port};$", verilog,
                         flags=re.M)
    text = (tmp_path / "o" / "datasheet.md").read_text()
    assert f"| `i_stream__payload` | in | {widths['i_stream__payload']} |" in text
    assert f"| `o_stream__payload` | out | {widths['o_stream__payload']} |" in text
    page = (tmp_path / "o" / "datasheet.html").read_text()  # the HTML copy keeps the tables
    assert "<h2>Beats</h2>" in page
    assert page.count("<table>") == len(re.findall(r"^\|---", text, flags=re.M))
    layers = getattr(core, "layers", [core])
    for entry, la in zip(man["layers"], layers):
        assert entry["in_beat"] == la.info.in_beat_size == la.spec.in_beat_size
        assert entry["out_beats_per_vector"] == la.info.out_beats
        assert (entry["arch"].get("in_beat", 0), entry["arch"].get("out_beat", 0)) == (
            la.spec.arch.in_beat, la.spec.arch.out_beat)


def test_whole_vector_cores_keep_their_documents():
    """Without beats nothing about beats is said, and the manifest gives one transfer a
    vector."""
    spec = make_spec(6, 4, 4, arch="folded", lanes=2)
    core = build_core(spec)
    text = _sheet(core)
    assert "## Beats" not in text and "beat `k`" not in text
    assert "Every transfer carries one whole vector" in text
    man = manifest(spec, core)
    assert (man["in_beat"], man["in_beats_per_vector"], man["out_beat"],
            man["out_beats_per_vector"]) == (6, 1, 4, 1)
