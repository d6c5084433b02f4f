"""Bulk comparison: a whole data set through the core's Verilog with no Python in the clock loop.

A generated Verilog testbench (:func:`testbench`) reads the input vectors from a file, offers
them with random valid gaps and takes outputs with random ready backpressure (both from seeded
xorshift generators), replays a bus script between vectors (weight writes, a commit, STATUS
polled until the swap), and writes every output vector to a file. Verilator runs it under a
small fixed C++ main that toggles the clock; Icarus under a Verilog clock. Python only writes the
files, starts the simulator and compares its outputs with the integer reference, exactly.

The files (``$fread`` reads a reg of a whole number of bytes big-endian in both Verilator and
Icarus 11: the first byte of the file lands in the reg's top 8 bits):

- ``inputs.bin``: one record per input beat, ``ceil(W / 8)`` bytes where ``W`` is the beat's
  payload width (elements per beat times the input width), big-endian, element ``i`` of the beat
  at bits ``[i*w +: w]`` in two's complement (``w`` bits each), the bits above ``W`` zero.
- ``script.bin``: one record per bus-script entry, three unsigned 32-bit big-endian words:
  the input beat it comes before, the address (or a commit / pause marker), the data.
- ``outputs.bin``: the testbench's ``$fwrite(fout, "%z", o_payload)``, one record per output
  beat: the beat's ``ceil(W / 32)`` 32-bit words, least significant first, each as its value
  bits then its x/z bits, both 32-bit words in the simulator's byte order (Verilator:
  little-endian; Icarus: the host's). Elements sit in the value bits as in an input beat; a
  set x/z bit (Icarus only; Verilator has two states) is an undefined output.

cocotb (:mod:`lognet.sim.runner`) stays the tool for protocol scenarios (stalls, resets,
reprogramming mid-stream at any clock); this path is for hardware against software on real data
sets, at the simulator's own speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError, ToolFailure
from lognet.hw.arch import resolve_spec
from lognet.hw.regmap import (
    ADDR_CTRL,
    ADDR_STATUS,
    CTRL_COMMIT,
    CTRL_PAUSE,
    READ_LATENCY,
    STATUS_PENDING,
    STATUS_SAFE,
    config_writes,
    needs_pause,
)
from lognet.model.reference import check_inputs, reference
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import dumps_spec

from .build import (
    BUILD_JOBS,
    Build,
    _build_args,
    _hw_digest,
    _verilator_env,
    build_flags,
    cached_build,
    check_simulator,
    fst_possible,
    verilog_for,
)
from .results import Mismatch, ScenarioResult, SimResult

__all__ = ["TB_TOP", "run_bulk", "testbench"]

#: module name of the testbench (its clock is an input; see :data:`_ICARUS_TOP`)
TB_TOP = "lognet_bulk_tb"
_ICARUS_TOP = "lognet_bulk_clock"
#: vectors in the waveform window when none is given
DEFAULT_WAVE_VECTORS = 16
#: the script's marker for "commit here" (no register has this address)
_COMMIT = 0xFFFFFFFF
#: script address of a pause (``single_copy`` builds): write CTRL's pause bit at the data's
#: address, then poll STATUS until it says paused and empty
_PAUSE = 0xFFFFFFFE
_MAIN_CPP = """// lognet bulk testbench: the clock and the waveform window (the testbench the rest)
#include "V{top}.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC Trace;
#elif VM_TRACE
#include "verilated_vcd_c.h"
typedef VerilatedVcdC Trace;
#endif
#include <cstring>
int main(int argc, char** argv) {{
    VerilatedContext* ctx = new VerilatedContext;
    ctx->commandArgs(argc, argv);
#if VM_TRACE
    ctx->traceEverOn(true);
#endif
    V{top}* tb = new V{top}{{ctx}};
#if VM_TRACE
    // +waves=FILE: dump the clocks where the testbench raises wave_on (the asked window)
    Trace* tfp = nullptr;
    const char* arg = ctx->commandArgsPlusMatch("waves=");
    if (arg && std::strlen(arg) > 7) {{
        tfp = new Trace;
        tb->trace(tfp, 99);
        tfp->open(arg + 7);
    }}
#endif
    tb->clk = 0;
    while (!ctx->gotFinish()) {{
        tb->clk = !tb->clk;
        tb->eval();
#if VM_TRACE
        if (tfp && tb->wave_on) tfp->dump(ctx->time());
#endif
        ctx->timeInc(5);
    }}
    tb->final();
#if VM_TRACE
    if (tfp) {{ tfp->close(); delete tfp; }}
#endif
    delete tb;
    delete ctx;
    return 0;
}}
"""


def testbench(core_top: str, info) -> str:
    """Verilog of the bulk testbench around module ``core_top`` (ports as docs/interfaces.md)
    with the sizes of ``info`` (:class:`~lognet.hw.arch.CoreInfo`). Plain Verilog-2005, all of
    it synchronous to ``clk``, so Verilator needs no timing support. It counts stream
    transfers (beats; a whole vector each for cores without beats): ``+n`` input beats in,
    ``+nout`` output beats out, the bus script's entries placed before input beat ``s_vec``.
    The input and script files are binary (the module docstring has their layout)."""
    iw = info.in_beat_size * info.in_width
    ibytes = -(-iw // 8)
    ow = info.out_beat_size * info.out_width
    aw = info.addr_width
    return f"""// lognet bulk testbench (generated): +inputs=FILE in, +outputs=FILE out
// wave_on: high on the clocks of the waveform window (from input beat +wfrom=N until
// +wend=M output beats have left)
module {TB_TOP}(input clk, output wave_on);
  reg rst = 1'b1;
  reg [{iw - 1}:0] i_payload = 0;
  reg i_valid = 1'b0;
  wire i_ready;
  wire [{ow - 1}:0] o_payload;
  wire o_valid;
  reg o_ready = 1'b0;
  reg [{aw - 1}:0] addr = 0;
  reg [31:0] w_data = 0;
  reg w_en = 1'b0, r_en = 1'b0;
  wire [31:0] r_data;
  {core_top} dut(.clk(clk), .rst(rst),
    .i_stream__payload(i_payload), .i_stream__valid(i_valid), .i_stream__ready(i_ready),
    .o_stream__payload(o_payload), .o_stream__valid(o_valid), .o_stream__ready(o_ready),
    .cfg__addr(addr), .cfg__w_data(w_data), .cfg__w_en(w_en), .cfg__r_en(r_en),
    .cfg__r_data(r_data));

  integer fin, fout, fscr, n_vec, n_out, pv, pr, max_cycles, seed, r, prog, wfrom, wend, nob;
  integer sent, got, cycles, writes, commits, polls;
  reg [31:0] ga, gb;          // xorshift32 states: input gaps, output backpressure
  reg [31:0] s_vec, s_addr, s_data;
  reg [{aw - 1}:0] paddr = 0;  // the STATUS register a poll reads
  reg s_have, polling, pmode, dumping;
  // the window: from the clock vector wfrom may be offered (its bus script included) until
  // the output of vector wfrom + wcount - 1 has left
  assign wave_on = wend != 0 && sent >= wfrom && got < wend;
  reg [{8 * ibytes - 1}:0] x;  // one record of the input file
  reg [95:0] s_entry;         // one record of the script file
  reg [8*4096-1:0] path;

  function [31:0] xs(input [31:0] v);
    reg [31:0] t;
    begin t = v ^ (v << 13); t = t ^ (t >> 17); xs = t ^ (t << 5); end
  endfunction

  task next_script;
    begin
      s_have = 1'b0;
      if (fscr != 0) begin
        r = $fread(s_entry, fscr);
        s_have = (r == 12);
        s_vec = s_entry[95:64]; s_addr = s_entry[63:32]; s_data = s_entry[31:0];
      end
    end
  endtask

  initial begin
    if (!$value$plusargs("inputs=%s", path)) begin
      $display("LOGNET-ERROR no +inputs"); $finish;
    end
    fin = $fopen(path, "rb");
    if (!$value$plusargs("outputs=%s", path)) begin
      $display("LOGNET-ERROR no +outputs"); $finish;
    end
    fout = $fopen(path, "wb");
    fscr = 0;
    if ($value$plusargs("script=%s", path)) fscr = $fopen(path, "rb");
    if (!$value$plusargs("n=%d", n_vec)) n_vec = 0;
    if (!$value$plusargs("nout=%d", n_out)) n_out = n_vec;
    if (!$value$plusargs("ob=%d", nob)) nob = 1;
    if (!$value$plusargs("pvalid=%d", pv)) pv = 256;
    if (!$value$plusargs("pready=%d", pr)) pr = 256;
    if (!$value$plusargs("seed=%d", seed)) seed = 1;
    if (!$value$plusargs("max_cycles=%d", max_cycles)) max_cycles = 0;
    if (!$value$plusargs("progress=%d", prog)) prog = 0;
    if (!$value$plusargs("wfrom=%d", wfrom)) wfrom = 0;
    if (!$value$plusargs("wend=%d", wend)) wend = 0;
`ifndef VERILATOR
    // Icarus: the VCD/FST system tasks, switched on and off at the window's edges
    dumping = 1'b0;
    if (wend != 0 && $value$plusargs("waves=%s", path)) begin
      $dumpfile(path); $dumpvars(0, dut); $dumpoff;
    end
`endif
    ga = 32'h9E3779B9 ^ seed; gb = 32'h7F4A7C15 ^ (seed * 7 + 1);
    if (ga == 0) ga = 1;
    if (gb == 0) gb = 1;
    sent = 0; got = 0; cycles = 0; writes = 0; commits = 0; polls = 0; polling = 1'b0;
    next_script;
    if (n_vec == 0) begin $fclose(fout); $display("LOGNET-DONE 0 0 0 0"); $finish; end
  end

`ifndef VERILATOR
  always @(posedge clk) begin
    if (wave_on && !dumping) begin $dumpon; dumping = 1'b1; end
    else if (!wave_on && dumping) begin $dumpoff; dumping = 1'b0; end
  end
`endif

  always @(posedge clk) begin
    cycles = cycles + 1;
    ga = xs(ga); gb = xs(gb);
    if (cycles == 2) rst <= 1'b0;
    w_en <= 1'b0;
    if (max_cycles != 0 && cycles > max_cycles) begin
      $display("LOGNET-TIMEOUT %0d %0d %0d", cycles, sent, got);
      $fclose(fout); $finish;
    end
    if (!rst) begin
      // outputs: record every transfer
      if (o_valid && o_ready) begin
        $fwrite(fout, "%z", o_payload);
        got = got + 1;
        if (prog != 0 && got % prog == 0) begin
          $display("LOGNET-PROGRESS %0d", got / nob); $fflush;
        end
        if (got == n_out) begin
          $fclose(fout);
          $display("LOGNET-DONE %0d %0d %0d %0d", cycles, writes, commits, polls);
          $finish;
        end
      end
      o_ready <= (gb[7:0] < pr);
      // inputs: a vector that transferred on this edge is done
      if (i_valid && i_ready) begin
        i_valid <= 1'b0;
        sent = sent + 1;
      end
      if (polling) begin
        // read STATUS every clock; r_data shows the read strobed {READ_LATENCY} clocks ago, so
        // the first {READ_LATENCY + 1} are stale
        addr <= paddr; r_en <= 1'b1;
        polls = polls + 1;
        if (polls > {READ_LATENCY + 1}
            && (pmode ? (r_data & {STATUS_SAFE}) != 0 : !(r_data & {STATUS_PENDING})))
        begin
          polling = 1'b0; r_en <= 1'b0;
        end
      end else if (s_have && s_vec == sent && !(i_valid && !i_ready)) begin
        // the bus script for vector ``sent``: one write per clock, the inputs held off
        i_valid <= 1'b0;
        if (s_addr == 32'h{_COMMIT:08X}) begin
          addr <= {ADDR_CTRL}; w_data <= {CTRL_COMMIT}; w_en <= 1'b1;
          commits = commits + 1;
          polling = 1'b1; polls = 0; pmode = 1'b0; paddr <= {ADDR_STATUS};
          next_script;
        end else if (s_addr == 32'h{_PAUSE:08X}) begin
          // single_copy: pause, then wait until STATUS says paused and empty
          addr <= s_data; w_data <= {CTRL_PAUSE}; w_en <= 1'b1;
          polling = 1'b1; polls = 0; pmode = 1'b1; paddr <= s_data + 1;
          next_script;
        end else begin
          addr <= s_addr; w_data <= s_data; w_en <= 1'b1;
          writes = writes + 1;
          next_script;
        end
      end else if (!(i_valid && !i_ready) && sent < n_vec && ga[7:0] < pv
                   && !(s_have && s_vec == sent)) begin
        r = $fread(x, fin);
        i_payload <= x[{iw - 1}:0];
        i_valid <= 1'b1;
      end
    end
  end
endmodule

module {_ICARUS_TOP};
  reg clk = 1'b0;
  always #5 clk = ~clk;
  {TB_TOP} tb(.clk(clk), .wave_on());
endmodule
"""


#: rows converted at a time by :func:`_pack` / :func:`_unpack` (bounds their temporaries)
_CHUNK = 4096


def _pack(rows: np.ndarray, width: int) -> np.ndarray:
    """Rows of ``width``-bit elements as records of the input file: one row of
    ``ceil(k * width / 8)`` bytes (uint8) per row of ``k`` elements, big-endian, element ``i``
    at bits ``[i*width +: width]`` in two's complement."""
    rows = np.asarray(rows, dtype=np.int64)
    n, k = rows.shape
    nbytes = -(-k * width // 8)
    shifts = np.arange(width, dtype=np.int64)
    out = np.empty((n, nbytes), dtype=np.uint8)
    for lo in range(0, n, _CHUNK):
        part = rows[lo:lo + _CHUNK]
        bits = ((part[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(len(part), k * width)
        # packbits pads the last byte with zeros (the bits above the payload); little-endian
        # bytes reversed are the big-endian record
        out[lo:lo + _CHUNK] = np.packbits(bits, axis=1, bitorder="little")[:, ::-1]
    return out


def _unpack(records: np.ndarray, n: int, width: int, signed: bool) -> np.ndarray:
    """Little-endian byte records (uint8, one row each, the first byte holding bits 0-7; the
    reverse of :func:`_pack`'s rows) to rows of ``n`` elements of ``width`` bits (int64,
    sign-extended when ``signed``)."""
    out = np.empty((len(records), n), dtype=np.int64)
    weights = np.int64(1) << np.arange(width, dtype=np.int64)
    for lo in range(0, len(records), _CHUNK):
        part = records[lo:lo + _CHUNK]
        bits = np.unpackbits(part, axis=1, bitorder="little")[:, :n * width]
        v = bits.reshape(len(part), n, width).astype(np.int64) @ weights
        if signed:
            v = np.where(v >> (width - 1) != 0, v - (np.int64(1) << width), v)
        out[lo:lo + _CHUNK] = v
    return out


def _read_outputs(path: Path, width: int, byteorder: str) -> tuple[np.ndarray, str | None]:
    """The output file (``%z`` records of ``width``-bit beats, 32-bit words in ``byteorder``,
    ``"<"`` or ``"="``) as little-endian byte records of the value bits, one row per whole
    beat; and an error naming the first beat with undefined (x/z) bits, if any (the records
    are then those before it)."""
    words = -(-width // 32)
    data = np.fromfile(path, dtype=f"{byteorder}u4") if path.exists() else np.zeros(0, "u4")
    data = data[:len(data) - len(data) % (2 * words)].reshape(-1, words, 2)
    error = None
    bad = np.flatnonzero(data[:, :, 1].any(axis=1))
    if len(bad):
        k = int(bad[0])
        error = f"output beat {k} has undefined (x/z) bits"
        data = data[:k]
    records = data[:, :, 0].astype("<u4").view(np.uint8).reshape(len(data), 4 * words)
    return records, error


def _script(spec, sets, beats: int = 1) -> np.ndarray:
    """The bus script: for each ``(vector, new_spec)`` the writes that load it, then a commit,
    all before ``vector`` (its first of ``beats`` input beats) is offered. ``single_copy``
    layers are written while the core (a network: the whole network) is paused and empty; the
    commit resumes it. One row ``(input beat, address, data)`` per entry (uint32)."""
    rows = []
    pause = needs_pause(spec)
    for k, new in sorted(sets, key=lambda s: s[0]):
        v = k * beats
        if pause:
            rows.append((v, _PAUSE, ADDR_CTRL))
        rows += [(v, a, w & 0xFFFFFFFF) for a, w in config_writes(spec, new)]
        rows.append((v, _COMMIT, 0))
    return np.array(rows, dtype=np.uint32).reshape(-1, 3)


def _compile(b: Build, verilator_main: Path) -> None:
    if b.simulator == "verilator":
        trace = {"fst": ["--trace-fst"], "vcd": ["--trace"]}.get(b.waves_format, [])
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(BUILD_JOBS),
               *_build_args("verilator", b.waves_format), *trace, "--top-module", TB_TOP,
               "-Mdir", str(b.sim_build), "-o", "Vbulk",
               str(b.verilog), str(verilator_main)]
        env = _verilator_env()
    else:
        cmd = ["iverilog", "-g2005", "-s", _ICARUS_TOP, "-o", str(b.sim_build / "bulk.vvp"),
               str(b.verilog)]
        env = None
    b.sim_build.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = b.root / "build.log"
    with open(log, "w") as f:
        if env is not None:
            with env:
                r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
        else:
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        last = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        raise ToolFailure(f"the {b.simulator} build of the bulk testbench failed "
                         f"({last[-1][:200] if last else 'no output'}); see {log}")
    b.seconds = time.perf_counter() - t0


def _simulate(cmd: list[str], log: Path, total: int, show: bool, what: str) -> str:
    """Run the simulator; its output goes to ``log`` and is returned. With ``show``, a
    progress bar follows the testbench's ``LOGNET-PROGRESS`` lines."""
    if not show:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.write_text(proc.stdout)
        return proc.stdout
    from tqdm import tqdm

    lines = []
    with tqdm(total=total, desc=what, unit="vec", file=sys.stderr, leave=False,
              dynamic_ncols=True, mininterval=0.5) as bar, \
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1) as proc:
        for line in proc.stdout:
            if line.startswith("LOGNET-PROGRESS "):
                bar.update(int(line.split()[1]) - bar.n)
            else:
                lines.append(line)
    out = "".join(lines)
    log.write_text(out)
    return out


def run_bulk(spec: LayerSpec | NetworkSpec, x, *, simulator: str = "verilator",
             build_dir="build/bulk", run_dir=None, sets=(), seed: int = 1,
             p_valid: float = 1.0, p_ready: float = 1.0, corrupt: bool = False,
             max_cycles: int | None = None, waves: bool = False, waves_from: int = 0,
             waves_vectors: int = DEFAULT_WAVE_VECTORS, progress: bool | None = None
             ) -> SimResult:
    """Run the integer inputs ``x`` (N x n_in) through the core of ``spec`` in ``simulator``,
    loading each ``(vector, new_spec)`` of ``sets`` (same shape and topology) on the bus and
    committing it before that vector, and compare every output with the integer reference.

    ``p_valid`` / ``p_ready``: probability of offering an input / taking an output on a clock.
    ``corrupt``: compare against a deliberately wrong reference (the mutation check: the run
    must then fail). ``waves``: record the window of ``waves_vectors`` vectors from vector
    ``waves_from`` (from the clock that vector may be offered, its bus script included, to the
    transfer of the window's last output) as FST (Icarus; Verilator when ``lz4.h`` is there)
    or VCD; ``result.waves`` names the file. ``progress``: a bar of outputs checked on
    standard error (None: when standard error is a terminal). Returns a :class:`SimResult`
    whose ``per_scenario`` has one ``bulk`` entry; ``outputs`` holds what the hardware
    produced."""
    t_start = time.perf_counter()
    check_simulator(simulator)
    spec = resolve_spec(spec)
    try:
        X = check_inputs(spec, x)
    except ValueError as e:
        raise InputError(f"inputs: {e}") from None
    if len(X) == 0:
        raise InputError("inputs: no vectors (an N x n_in array with N >= 1 is needed)")
    for p, name in ((p_valid, "p_valid"), (p_ready, "p_ready")):
        if not 0 < p <= 1:
            raise InputError(f"{name} must be in (0, 1] (got {p})")
    if waves and not (0 <= waves_from < len(X) and 1 <= waves_vectors):
        raise InputError(f"the waveform window (from vector {waves_from}, {waves_vectors} "
                         f"vectors) must start at one of the {len(X)} vectors and hold at "
                         f"least one")
    sets = [(int(k), new) for k, new in sets]
    for k, _ in sets:
        if not 0 <= k <= len(X):
            raise InputError(f"a weight set is loaded before vector {k}, outside 0..{len(X)}")

    from lognet.hw.export import build_core, to_verilog, top_name

    core_top = top_name(spec)

    def write(b: Build) -> dict:
        core = build_core(spec)
        b.spec_path.write_text(dumps_spec(core.spec))
        text = to_verilog(core, core_top) + "\n" + testbench(core_top, core.info)
        b.verilog.write_text(verilog_for(b.simulator, text))
        (b.root / "main.cpp").write_text(_MAIN_CPP.format(top=TB_TOP))
        return {"cycles_per_vector": core.info.cycles_per_vector, "latency": core.info.latency,
                "n_out": core.info.n_out, "out_width": core.info.out_width,
                "out_signed": core.info.out_signed, "in_width": core.info.in_width,
                "in_beat": core.info.in_beat_size, "out_beat": core.info.out_beat_size}

    fmt = None
    if waves:
        fmt = "fst" if simulator == "icarus" or fst_possible() else "vcd"
    b = cached_build(build_dir, simulator, f"{core_top}_bulk",
                     [dumps_spec(spec), _hw_digest(), Path(__file__).read_text(),
                      " ".join(build_flags(simulator, fmt)), f"waves={fmt}"], write,
                     waves=fmt, compile=lambda b: _compile(b, b.root / "main.cpp"))
    info = b.info
    rdir = Path(run_dir) if run_dir is not None else b.root / f"run-{time.time_ns()}"
    rdir.mkdir(parents=True, exist_ok=True)
    # the testbench counts transfers: ``ib`` beats per input vector, ``ob`` per output
    ib, ob = spec.n_in // info["in_beat"], info["n_out"] // info["out_beat"]
    (rdir / "inputs.bin").write_bytes(
        _pack(X.reshape(-1, info["in_beat"]), info["in_width"]).tobytes())
    script = _script(spec, sets, ib)
    (rdir / "script.bin").write_bytes(script.astype(">u4").tobytes())
    budget = max_cycles or int((len(X) + 2) * (info["cycles_per_vector"] + 4)
                               / min(p_valid, p_ready) * 4
                               + 8 * (len(script) + 64 * len(sets))
                               + info["latency"] * 4 + 10_000)
    args = [f"+inputs={rdir / 'inputs.bin'}", f"+outputs={rdir / 'outputs.bin'}",
            f"+script={rdir / 'script.bin'}", f"+n={len(X) * ib}", f"+nout={len(X) * ob}",
            f"+ob={ob}", f"+seed={seed}",
            f"+pvalid={max(1, round(p_valid * 256))}", f"+pready={max(1, round(p_ready * 256))}",
            f"+max_cycles={budget}"]
    wave_file = None
    if fmt is not None:
        wave_file = rdir / f"{core_top}.{fmt}"
        args += [f"+waves={wave_file}", f"+wfrom={waves_from * ib}",
                 f"+wend={(waves_from + min(waves_vectors, len(X) - waves_from)) * ob}"]
    show = sys.stderr.isatty() if progress is None else progress
    step = max(1, len(X) // 200)
    if show:
        args.append(f"+progress={step * ob}")
    if simulator == "verilator":
        cmd = [str(b.sim_build / "Vbulk"), *args]
    else:
        cmd = ["vvp", "-n", str(b.sim_build / "bulk.vvp"), *args,
               *(["-fst"] if fmt == "fst" else [])]
    t0 = time.perf_counter()
    stdout = _simulate(cmd, rdir / "sim.log", len(X), show, f"{simulator} bulk")
    run_seconds = time.perf_counter() - t0
    done = [ln for ln in stdout.splitlines() if ln.startswith("LOGNET-")
            and not ln.startswith("LOGNET-PROGRESS")]
    error = None
    cycles = writes = commits = 0
    if not done or not done[-1].startswith("LOGNET-DONE"):
        last = done[-1] if done else stdout.strip().splitlines()[-1:]
        error = f"the simulation did not finish ({last}); see {rdir / 'sim.log'}"
    else:
        cycles, writes, commits, _ = (int(v) for v in done[-1].split()[1:5])
    records, undefined = _read_outputs(rdir / "outputs.bin", info["out_beat"] * info["out_width"],
                                       "<" if simulator == "verilator" else "=")
    if undefined is not None and error is None:
        error = f"{undefined}; see {rdir / 'outputs.bin'}"
    records = records[:len(records) - len(records) % ob]  # whole output vectors only
    Y = _unpack(records, info["out_beat"], info["out_width"],
                info["out_signed"]).reshape(-1, info["n_out"])
    # expected: each vector with the weight set loaded before it
    specs = [spec] + [new for _, new in sorted(sets, key=lambda s: s[0])]
    starts = [0] + [k for k, _ in sorted(sets, key=lambda s: s[0])] + [len(X)]
    expected = np.zeros((len(X), info["n_out"]), dtype=np.int64)
    per_set = []
    for s, lo, hi in zip(specs, starts, starts[1:]):
        if hi > lo:
            expected[lo:hi] = reference(s, X[lo:hi])
        per_set.append(hi - lo)
    if corrupt:
        expected = expected.copy()
        expected[len(X) // 2, 0] += 1
    n = min(len(Y), len(X))
    diff = np.argwhere(Y[:n] != expected[:n])
    mismatches = int(len(diff)) + (len(X) - n) * info["n_out"]
    first = None
    if len(diff):
        v, j = (int(i) for i in diff[0])
        ws = int(np.searchsorted(starts[1:], v, side="right"))
        first = Mismatch(core_top, spec.layers[-1].name, "bulk", v, j, int(expected[v, j]),
                         int(Y[v, j]), 0, ws)
    elif n < len(X) and error is None:
        error = f"the hardware gave {len(Y)} outputs for {len(X)} inputs"
    passed = error is None and mismatches == 0
    sc = ScenarioResult(
        scenario="bulk", top=core_top, layer=spec.layers[-1].name, vectors=len(X),
        accepted=len(X) if error is None else len(Y), checked=n, dropped_by_reset=0,
        mismatches=mismatches, first_mismatch=first.describe() if first else error,
        first_mismatch_detail=first, cycles=cycles, sim_seconds=run_seconds,
        commits=commits, bus_writes=writes, weight_sets=len(specs),
        vectors_per_set=tuple(per_set), corrupted_reference=corrupt, error=error)
    return SimResult(
        passed=passed, simulator=simulator, top=core_top, scenarios=("bulk",), checked=n,
        dropped_by_reset=0, mismatches=mismatches,
        first_mismatch=first.describe() if first else error, first_mismatch_detail=first,
        cycles=cycles, sim_seconds=run_seconds,
        vectors_per_second=(n / run_seconds) if run_seconds > 0 and n else None,
        commits=commits, build_seconds=b.seconds, build_cached=b.cached, build_dir=str(b.root),
        run_dir=str(rdir), per_scenario={"bulk": sc},
        waves=str(wave_file) if wave_file is not None and wave_file.exists() else None,
        waves_note=("Verilator writes FST only with lz4.h (apt-get install liblz4-dev); this "
                    "run wrote VCD") if fmt == "vcd" else None, error=error, vectors=len(X),
        run_seconds=run_seconds, wall_seconds=time.perf_counter() - t_start,
        corrupted_reference=corrupt, seed=seed, outputs=Y)

