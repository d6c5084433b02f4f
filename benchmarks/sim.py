"""Simulation speed, cocotb bench beside bulk testbench, of 64-input, 32-output layers in
Verilator and Icarus.

The layer: parallel, shared arithmetic, K = 8 levels (lognormal weights), 8-bit inputs and
outputs, every weight writable. Each simulator checks N vectors against the integer reference
with random valid gaps and ready backpressure (p = 0.8 each) while three new weight sets are
loaded and committed (the ``reprogram`` scenario: two mid-stream, one between vectors). Reported:
vectors per second of simulation (build and simulator start-up excluded), clocks per second,
build time, the wall time of the simulator run, and mismatches (must be 0). The bulk rows run
the same kind of check (same p, three weight sets loaded and committed between vectors) through
the generated Verilog testbench of :mod:`lognet.sim.bulk`. Prints a table and writes JSON.

    python benchmarks/sim.py [--vectors 10000] [--simulators verilator,icarus]
                             [--benches cocotb,bulk] [--layers parallel,folded:4]
                             [--build-dir build/bench-sim] [--out benchmarks/results/sim.json]

The equivalent CLI call is printed too (``lognet sim <spec> --simulator ... --vectors ...``).
Builds are cached in the build folder: a second run skips them (``build_cached`` is then true
and the build time shown is the first run's). Target (issue 5): >= 1,000 vectors/s in Verilator.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
from pathlib import Path

import numpy as np

from lognet.model.arch import Arch
from lognet.model.quantise import random_layer_spec
from lognet.model.specjson import dump_spec
from lognet.sim.bulk import run_bulk
from lognet.sim.runner import run_sim
from lognet.sim.weightsets import perturbed_weights


def bench_spec(arch: str = "parallel"):
    name = "bench64x32" + ("" if arch == "parallel" else "_" + arch.replace(":", ""))
    return random_layer_spec(64, 32, -2.47, 0.65, 8, in_bits=8, level_bits=8, out_bits=8,
                             arch=Arch.parse(arch, "shared", "all"), name=name, seed=0)


def run_bench(bench: str, spec, sim: str, n: int, build: Path):
    if bench == "cocotb":
        return run_sim(spec, simulator=sim, vectors=n, seed=0, build_dir=build,
                       scenario="reprogram")
    f = spec.in_fmt
    X = np.random.default_rng(0).integers(f.min_int, f.max_int + 1, (n, spec.n_in))
    sets = [(n * k // 4, perturbed_weights(spec, k)) for k in (1, 2, 3)]
    return run_bulk(spec, X, simulator=sim, build_dir=build, sets=sets, p_valid=0.8,
                    p_ready=0.8, seed=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=10000)
    ap.add_argument("--simulators", default="verilator,icarus")
    ap.add_argument("--benches", default="cocotb,bulk")
    ap.add_argument("--layers", default="parallel,folded:4",
                    help="architectures of the 64x32 layer")
    ap.add_argument("--build-dir", default="build/bench-sim")
    ap.add_argument("--out", default="benchmarks/results/sim.json")
    args = ap.parse_args()
    build = Path(args.build_dir)
    build.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'layer':<10} {'bench':<7} {'simulator':<10} {'vectors':>8} {'mism':>5} "
          f"{'vectors/s':>10} {'clocks/s':>10} {'cycles':>9} {'sim s':>7} {'run s':>7} "
          f"{'build s':>8}", flush=True)
    def items(text):
        return [t.strip() for t in text.split(",") if t.strip()]

    for arch, bench, sim in itertools.product(items(args.layers), items(args.benches),
                                              items(args.simulators)):
        spec = bench_spec(arch)
        spec_path = build / f"{spec.name}.json"
        dump_spec(spec, spec_path)
        s = run_bench(bench, spec, sim, args.vectors, build)
        build_s = s.build_seconds
        if s.build_cached:
            build_s = json.loads((Path(s.build_dir) / "build.json").read_text())[
                "build_seconds"]
        row = {
            "layer": arch, "bench": bench,
            "simulator": sim, "vectors": args.vectors, "checked": s.checked,
            "mismatches": s.mismatches, "passed": s.passed,
            "vectors_per_second": s.vectors_per_second, "cycles": s.cycles,
            "sim_seconds": s.sim_seconds, "run_seconds": s.run_seconds,
            "build_seconds": build_s, "build_cached": s.build_cached,
            "clocks_per_second": s.cycles / s.sim_seconds if s.sim_seconds else None,
            "commits": s.commits, "error": s.error,
            "command": f"lognet sim {spec_path} --simulator {sim} --vectors {args.vectors}"
                       + (" --bulk" if bench == "bulk" else ""),
        }
        rows.append(row)
        vps = row["vectors_per_second"] or 0.0
        cps = row["clocks_per_second"] or 0.0
        print(f"{arch:<10} {bench:<7} {sim:<10} {row['vectors']:>8} {row['mismatches']:>5} "
              f"{vps:>10,.0f} {cps:>10,.0f} {row['cycles']:>9} {row['sim_seconds']:>7.1f} "
              f"{row['run_seconds']:>7.1f} {build_s:>8.1f}"
              f"{'  (cached)' if row['build_cached'] else ''}", flush=True)
        if row["error"]:
            print(f"  error: {row['error']}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "sim", "layer": "64 in, 32 out, shared, K=8, 8-bit in/out, tunable=all",
        "scenario": "cocotb: reprogram scenario (p_valid 0.8, p_ready 0.8, 3 weight sets "
                    "committed); bulk: p 0.8 each, 3 weight sets committed between vectors",
        "machine": platform.machine(), "python": platform.python_version(), "rows": rows,
    }, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
