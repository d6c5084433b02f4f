"""Simulation speed: the cocotb bench, the bulk testbench and a bare Verilator harness, side by
side, on four layers in Verilator and Icarus.

Layers (shared arithmetic, K = 8 lognormal levels, 8-bit inputs and outputs, every weight
writable): 64x32 parallel, 64x32 folded:4, 384x384 folded:16, 1536x384 folded:16.

- ``cocotb``: the ``reprogram`` scenario (p_valid = p_ready = 0.8, three weight sets written
  and committed, two of them mid-stream) through cocotb's Python bench.
- ``bulk``: the generated Verilog testbench of :mod:`lognet.sim.bulk`, same p, three weight
  sets loaded (every connection word rewritten) and committed between vectors, all outputs
  compared with the integer reference. Configuration is inside the timed run.
- ``raw``: the same core in a bare Verilator C++ harness (the clock, input valid and output
  ready held high, nothing read or checked): the simulator's own clock rate for that core,
  the ceiling a bulk run can approach.

Reported per row: vectors checked per second of simulation (build and start-up excluded; for
``raw``, clocks/s divided by the core's clocks per vector), clocks per second, cycles, the
simulator's run time, the build time, and for bulk the ratio of the raw clock rate to its own
(issue target: within 3x), and after the table bulk's vectors/s over cocotb's per layer and
simulator (issue target for the parallel layer: at least 50x). Builds are cached in the build
folder (``build_cached``: the time shown is the first build's). Prints a table and writes JSON.

    python benchmarks/sim.py [--layers 64x32:parallel,64x32:folded:4,384x384:folded:16,
                              1536x384:folded:16] [--simulators verilator,icarus]
                             [--benches cocotb,bulk,raw] [--scale 1.0]
                             [--build-dir build/bench-sim] [--out benchmarks/results/sim.json]

Vectors per row come from a table scaled by ``--scale`` (a Verilator bulk row of the parallel
layer runs 50,000, about a second; cocotb and Icarus rows far fewer, their cost being Python or the
simulator).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lognet.hw.arch import resolve_spec
from lognet.model.arch import Arch
from lognet.model.quantise import random_layer_spec
from lognet.model.specjson import dump_spec
from lognet.sim.build import BUILD_JOBS, _build_args, _verilator_env, check_simulator
from lognet.sim.bulk import run_bulk
from lognet.sim.runner import run_sim
from lognet.sim.weightsets import perturbed_weights

LAYERS = ("64x32:parallel", "64x32:folded:4", "384x384:folded:16", "1536x384:folded:16")
#: vectors per (layer, bench, simulator) at --scale 1
VECTORS = {
    ("64x32:parallel", "bulk", "verilator"): 50000, ("64x32:parallel", "bulk", "icarus"): 400,
    ("64x32:parallel", "cocotb", "verilator"): 2000, ("64x32:parallel", "cocotb", "icarus"): 200,
    ("64x32:folded:4", "bulk", "verilator"): 5000, ("64x32:folded:4", "bulk", "icarus"): 100,
    ("64x32:folded:4", "cocotb", "verilator"): 500, ("64x32:folded:4", "cocotb", "icarus"): 50,
    ("384x384:folded:16", "bulk", "verilator"): 300,
    ("384x384:folded:16", "bulk", "icarus"): 6,
    ("384x384:folded:16", "cocotb", "verilator"): 30,
    ("384x384:folded:16", "cocotb", "icarus"): 3,
    ("1536x384:folded:16", "bulk", "verilator"): 100,
    ("1536x384:folded:16", "bulk", "icarus"): 2,
    ("1536x384:folded:16", "cocotb", "verilator"): 10,
    ("1536x384:folded:16", "cocotb", "icarus"): 1,
}
#: clocks the raw harness runs, per layer
RAW_CLOCKS = {"64x32:parallel": 200_000, "64x32:folded:4": 2_000_000,
              "384x384:folded:16": 2_000_000, "1536x384:folded:16": 2_000_000}


def bench_spec(layer: str):
    shape, arch = layer.split(":", 1)
    n_in, n_out = (int(v) for v in shape.split("x"))
    name = f"bench{n_in}x{n_out}" + ("" if arch == "parallel" else "_" + arch.replace(":", ""))
    return random_layer_spec(n_in, n_out, -2.47, 0.65, 8, in_bits=8, level_bits=8, out_bits=8,
                             arch=Arch.parse(arch, "shared", "all"), name=name, seed=0)


def run_bench(bench: str, spec, sim: str, n: int, build: Path):
    if bench == "cocotb":
        return run_sim(spec, simulator=sim, vectors=n, seed=0, build_dir=build,
                       scenario="reprogram", progress=False)
    f = spec.in_fmt
    X = np.random.default_rng(0).integers(f.min_int, f.max_int + 1, (n, spec.n_in))
    sets = [(n * k // 4, perturbed_weights(spec, k)) for k in (1, 2, 3)]
    return run_bulk(spec, X, simulator=sim, build_dir=build, sets=sets, p_valid=0.8,
                    p_ready=0.8, seed=1, progress=False)


# Verilator spells a double underscore in a port name ___05F
_RAW_MAIN = """// bare harness: clock, valid and ready held high, nothing checked
#include "V{top}.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {{
    VerilatedContext* ctx = new VerilatedContext;
    V{top}* m = new V{top}{{ctx}};
    long clocks = std::atol(argv[1]);
    m->rst = 1; m->clk = 0;
    for (int k = 0; k < 4; k++) {{ m->clk = !m->clk; m->eval(); }}
    m->rst = 0;
    {payload}
    m->i_stream___05Fvalid = 1; m->o_stream___05Fready = 1;
    m->cfg___05Fw_en = 0; m->cfg___05Fr_en = 0;
    auto t0 = std::chrono::steady_clock::now();
    unsigned long outs = 0;
    for (long c = 0; c < clocks; c++) {{
        m->clk = 1; m->eval();
        outs += m->o_stream___05Fvalid;
        m->clk = 0; m->eval();
    }}
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("RAW %ld %.6f %lu\\n", clocks, s, outs);
    m->final();
    return 0;
}}
"""


def run_raw(spec, layer: str, build: Path) -> dict:
    """Build the core alone under :data:`_RAW_MAIN` and run it for RAW_CLOCKS clocks."""
    from lognet.hw.export import build_core, to_verilog, top_name

    top = top_name(spec)
    core = build_core(spec)
    verilog = to_verilog(core, top)
    key = hashlib.sha256((verilog + " ".join(_build_args("verilator", None))).encode())
    root = build / f"raw-{top}-{key.hexdigest()[:12]}"
    exe = root / "obj" / "Vraw"
    stamp = root / "build.json"
    cached = stamp.exists()
    if cached:
        info = json.loads(stamp.read_text())
    else:
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{top}.v").write_text(verilog)
        width = core.info.n_in * core.info.in_width
        if width <= 64:
            payload = (f"m->i_stream___05Fpayload = 0x5a5a5a5a5a5a5a5aULL & ((~0ULL) >> "
                       f"{64 - width});")
        else:
            words = -(-width // 32)
            payload = (f"for (int k = 0; k < {words}; k++) m->i_stream___05Fpayload[k] = "
                       f"0x5a5a5a5au; m->i_stream___05Fpayload[{words - 1}] &= "
                       f"0xffffffffu >> {32 * words - width};")
        (root / "main.cpp").write_text(_RAW_MAIN.format(top=top, payload=payload))
        t0 = time.perf_counter()
        with _verilator_env():
            r = subprocess.run(["verilator", "--cc", "--exe", "--build", "-j", str(BUILD_JOBS),
                                *_build_args("verilator", None), "--top-module", top,
                                "-Mdir", str(root / "obj"), "-o", "Vraw",
                                str(root / f"{top}.v"), str(root / "main.cpp")],
                               capture_output=True, text=True)
        if r.returncode != 0:
            return {"error": (r.stdout + r.stderr).strip().splitlines()[-1:]}
        info = {"build_seconds": time.perf_counter() - t0,
                "cycles_per_vector": core.info.cycles_per_vector}
        stamp.write_text(json.dumps(info) + "\n")
    out = subprocess.run([str(exe), str(RAW_CLOCKS[layer])], capture_output=True, text=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RAW "))
    clocks, secs = int(line.split()[1]), float(line.split()[2])
    return {"cycles": clocks, "sim_seconds": secs, "clocks_per_second": clocks / secs,
            "vectors_per_second": clocks / secs / info["cycles_per_vector"],
            "build_seconds": info["build_seconds"], "build_cached": cached}


def items(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default=",".join(LAYERS))
    ap.add_argument("--simulators", default="verilator,icarus")
    ap.add_argument("--benches", default="cocotb,bulk,raw")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every row's vectors")
    ap.add_argument("--build-dir", default="build/bench-sim")
    ap.add_argument("--out", default="benchmarks/results/sim.json")
    args = ap.parse_args()
    check_simulator("verilator")
    build = Path(args.build_dir).absolute()
    build.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'layer':<19} {'bench':<7} {'simulator':<10} {'vectors':>8} {'mism':>5} "
          f"{'vectors/s':>10} {'clocks/s':>11} {'cycles':>10} {'sim s':>7} {'build s':>8} "
          f"{'raw/bulk':>8}", flush=True)
    raw_rate: dict[str, float] = {}
    benches = sorted(items(args.benches), key=lambda b: b != "raw")  # raw first: the ratio
    for layer, bench, sim in itertools.product(items(args.layers), benches,
                                               items(args.simulators)):
        if bench == "raw" and sim != "verilator":
            continue
        spec = resolve_spec(bench_spec(layer))
        spec_path = build / f"{spec.name}.json"
        dump_spec(spec, spec_path)
        if bench == "raw":
            r = run_raw(spec, layer, build)
            row = {"layer": layer, "bench": "raw", "simulator": sim, "vectors": None,
                   "checked": None, "mismatches": 0, "passed": "error" not in r, **r}
            if "clocks_per_second" in r:
                raw_rate[layer] = r["clocks_per_second"]
        else:
            n = max(1, round(VECTORS[(layer, bench, sim)] * args.scale))
            s = run_bench(bench, spec, sim, n, build)
            build_s = s.build_seconds
            if s.build_cached:
                build_s = json.loads((Path(s.build_dir) / "build.json").read_text())[
                    "build_seconds"]
            row = {
                "layer": layer, "bench": bench, "simulator": sim, "vectors": n,
                "checked": s.checked, "mismatches": s.mismatches, "passed": s.passed,
                "vectors_per_second": s.vectors_per_second, "cycles": s.cycles,
                "sim_seconds": s.sim_seconds, "run_seconds": s.run_seconds,
                "build_seconds": build_s, "build_cached": s.build_cached,
                "clocks_per_second": s.cycles / s.sim_seconds if s.sim_seconds else None,
                "commits": s.commits, "bus_writes": s.per_scenario[
                    "bulk" if bench == "bulk" else "reprogram"].bus_writes
                if s.per_scenario else None,
                "error": s.error,
                "command": f"lognet sim {spec_path} --simulator {sim} --vectors {n}"
                           + (" --bulk" if bench == "bulk" else ""),
            }
        ratio = None
        if bench == "bulk" and sim == "verilator" and layer in raw_rate \
                and row["clocks_per_second"]:
            ratio = raw_rate[layer] / row["clocks_per_second"]
        row["raw_over_bulk"] = ratio
        rows.append(row)
        vps = row.get("vectors_per_second") or 0.0
        cps = row.get("clocks_per_second") or 0.0
        print(f"{layer:<19} {bench:<7} {sim:<10} {row['vectors'] or '-':>8} "
              f"{row['mismatches']:>5} {vps:>10,.1f} {cps:>11,.0f} {row.get('cycles') or 0:>10} "
              f"{row.get('sim_seconds') or 0:>7.1f} {row.get('build_seconds') or 0:>8.1f} "
              f"{f'{ratio:.2f}' if ratio else '-':>8}"
              f"{'  (cached)' if row.get('build_cached') else ''}", flush=True)
        if row.get("error"):
            print(f"  error: {row['error']}", file=sys.stderr)
    # the other ratio: bulk vectors/s over cocotb's, per layer and simulator, one run
    speedups = []
    for r in rows:
        if r["bench"] != "bulk" or not r.get("vectors_per_second"):
            continue
        c = next((c for c in rows if c["bench"] == "cocotb" and c["layer"] == r["layer"]
                  and c["simulator"] == r["simulator"] and c.get("vectors_per_second")), None)
        if c is not None:
            speedups.append({"layer": r["layer"], "simulator": r["simulator"],
                             "bulk_over_cocotb": r["vectors_per_second"]
                             / c["vectors_per_second"]})
            print(f"{r['layer']:<19} {r['simulator']:<10} bulk/cocotb vectors/s "
                  f"{speedups[-1]['bulk_over_cocotb']:.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "sim", "layers": "shared, K=8, 8-bit in/out, tunable=all",
        "scenario": "cocotb: reprogram scenario (p_valid 0.8, p_ready 0.8, 3 weight sets "
                    "committed); bulk: p 0.8 each, 3 weight sets loaded and committed between "
                    "vectors (inside the timed run); raw: bare Verilator harness, valid and "
                    "ready high",
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "python": platform.python_version(), "rows": rows,
        "bulk_over_cocotb": speedups,
    }, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
