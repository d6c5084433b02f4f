"""cocotb simulation speed of a 64-input, 32-output layer in Verilator and Icarus.

The layer: parallel, shared arithmetic, K = 8 levels (lognormal weights), 8-bit inputs and
outputs, every weight writable. Each simulator checks N vectors against the integer reference
with random valid gaps and ready backpressure (p = 0.8 each) while three new weight sets are
loaded and committed (the ``reprogram`` scenario: two mid-stream, one between vectors). Reported:
vectors per second of simulation (build and simulator start-up excluded), build time, the wall
time of the simulator run, and mismatches (must be 0). Prints a table and writes JSON.

    python benchmarks/sim.py [--vectors 10000] [--simulators verilator,icarus]
                             [--build-dir build/bench-sim] [--out benchmarks/results/sim.json]

The equivalent CLI call is printed too (``lognet sim <spec> --simulator ... --vectors ...``).
Builds are cached in the build folder: a second run skips them (``build_cached`` is then true
and the build time shown is the first run's). Target (issue 5): >= 1,000 vectors/s in Verilator.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from lognet.model.arch import Arch
from lognet.model.quantise import random_layer_spec
from lognet.model.specjson import dump_spec
from lognet.sim.runner import run_sim


def bench_spec():
    return random_layer_spec(64, 32, -2.47, 0.65, 8, in_bits=8, level_bits=8, out_bits=8,
                             arch=Arch("parallel", 1, "shared", "all"), name="bench64x32",
                             seed=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=10000)
    ap.add_argument("--simulators", default="verilator,icarus")
    ap.add_argument("--build-dir", default="build/bench-sim")
    ap.add_argument("--out", default="benchmarks/results/sim.json")
    args = ap.parse_args()
    spec = bench_spec()
    build = Path(args.build_dir)
    build.mkdir(parents=True, exist_ok=True)
    spec_path = build / "bench64x32.json"
    dump_spec(spec, spec_path)
    rows = []
    print(f"{'simulator':<10} {'vectors':>8} {'checked':>8} {'mism':>5} {'vectors/s':>10} "
          f"{'cycles':>8} {'sim s':>7} {'run s':>7} {'build s':>8}", flush=True)
    for sim in [s.strip() for s in args.simulators.split(",") if s.strip()]:
        s = run_sim(spec, simulator=sim, vectors=args.vectors, seed=0, build_dir=build,
                    scenario="reprogram")
        build_s = s.build_seconds
        if s.build_cached:
            build_s = json.loads((Path(s.build_dir) / "build.json").read_text())[
                "build_seconds"]
        row = {
            "simulator": sim, "vectors": args.vectors, "checked": s.checked,
            "mismatches": s.mismatches, "passed": s.passed,
            "vectors_per_second": s.vectors_per_second, "cycles": s.cycles,
            "sim_seconds": s.sim_seconds, "run_seconds": s.run_seconds,
            "build_seconds": build_s, "build_cached": s.build_cached,
            "commits": s.commits, "error": s.error,
            "command": f"lognet sim {spec_path} --simulator {sim} --vectors {args.vectors}",
        }
        rows.append(row)
        vps = row["vectors_per_second"] or 0.0
        print(f"{sim:<10} {row['vectors']:>8} {row['checked']:>8} {row['mismatches']:>5} "
              f"{vps:>10,.0f} {row['cycles']:>8} {row['sim_seconds']:>7.1f} "
              f"{row['run_seconds']:>7.1f} {build_s:>8.1f}"
              f"{'  (cached)' if row['build_cached'] else ''}", flush=True)
        if row["error"]:
            print(f"  error: {row['error']}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "sim", "layer": "64 in, 32 out, parallel, shared, K=8, 8-bit in/out",
        "scenario": "reprogram (p_valid 0.8, p_ready 0.8, 3 weight sets committed)",
        "machine": platform.machine(), "python": platform.python_version(), "rows": rows,
    }, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
