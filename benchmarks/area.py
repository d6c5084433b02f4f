"""Yosys cell counts of one layer shape in every arithmetic mode and tunability tier, against the
``multiply`` baseline on uniform int8 weights.

    python benchmarks/area.py [--quick] [--target ice40|ecp5|both] [--out ...json]

Synthesis only (``synth_ice40`` / ``synth_ecp5`` from the YoWASP Yosys), no place and route, no
DSPs unless ``--dsp``: the numbers compare logic, not packing. Codebook layers use K = 8 levels
(3-bit index + sign = 4 bits per connection); the baseline stores an 8-bit signed weight per
connection (uniform int8). Shift layers use powers of two 1..128 (K = 8). Prints a table and
writes JSON. The target (issue 4): the best codebook mode at most 1/3 of the baseline's LUTs for
the same connections per clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lognet.boards.synth import synth_core
from lognet.hw.export import build_core
from lognet.model.arch import Arch
from lognet.model.qformat import QFormat
from lognet.model.spec import LayerSpec

ICE40_LUT = "SB_LUT4"


def layer(n_in, n_out, arch, lanes, arith, tunable, seed=0) -> LayerSpec:
    rng = np.random.default_rng(seed)
    if arith == "multiply":
        levels, lfmt = tuple(range(1, 128)), QFormat(0, 7, False)  # uniform int8 weights
        K = len(levels)
    elif arith == "shift":
        levels, lfmt = tuple(1 << e for e in range(8)), QFormat(0, 8, False)
        K = 8
    else:
        # a lognormal-looking codebook: 8 levels spread over the 7-bit range
        levels = (3, 6, 10, 16, 25, 40, 64, 110)
        lfmt, K = QFormat(0, 7, False), 8
    in_fmt = QFormat(0, 7)
    return LayerSpec(
        name=f"{arch}_{arith}_{tunable}", n_in=n_in, n_out=n_out, in_fmt=in_fmt, level_fmt=lfmt,
        bias_fmt=QFormat(1, 13), out_fmt=QFormat(7, 0, True),
        levels=levels, sources=np.tile(np.arange(n_in), (n_out, 1)),
        signs=rng.integers(0, 2, (n_out, n_in)), indices=rng.integers(0, K, (n_out, n_in)),
        bias=rng.integers(-1000, 1000, n_out), activation="relu",
        arch=Arch(arch, lanes, arith, tunable))


TARGETS = {"ice40": "ice40-up5k", "ecp5": "ecp5-85k"}


def synth(spec: LayerSpec, target: str, dsp: bool, workdir: Path) -> dict:
    """Yosys cell counts of the core alone (lognet.boards.synth, no place and route)."""
    core = build_core(spec, readback=True)
    t0 = time.perf_counter()
    r = synth_core(lambda: core, TARGETS[target], None, workdir, dsp=dsp, place=False)
    c = r.cells.core
    lut = c.lut4 + 2 * r.cells_by_type["core"].get("TRELLIS_DPR16X4", 0)  # LUT RAM
    macs_per_clock = spec.n_conn / core.info.cycles_per_vector
    return {"lut4": lut, "ff": c.ff, "carry": c.carry, "dsp": c.dsp, "bram": c.bram,
            "cycles_per_vector": core.info.cycles_per_vector, "macs_per_clock": macs_per_clock,
            "macs_per_clock_per_klut": 1000 * macs_per_clock / max(lut, 1),
            "synth_s": time.perf_counter() - t0, "mapper": r.mapper,
            "cells": r.cells_by_type["core"]}


CONFIGS_PARALLEL = [(16, 4, "parallel", 1)]
CONFIGS_FOLDED = [(64, 32, "folded", 8)]
ARITHS = ["multiply", "shared", "factored", "shift"]
TUNABLES = ["all", "levels", "none"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tunable=all only")
    ap.add_argument("--target", default="ice40", choices=["ice40", "ecp5", "both"])
    ap.add_argument("--dsp", action="store_true", help="let Yosys use DSP blocks")
    ap.add_argument("--folded-lanes", default="8",
                    help="comma-separated lane counts of the folded 64x32 layer (default 8); "
                         "two counts give the cost of one lane by difference")
    ap.add_argument("--only", default="",
                    help="comma-separated arch/arith/tunable names; keep the configurations that "
                         "match all given (e.g. parallel,shift)")
    ap.add_argument("--out", default="benchmarks/results/area.json")
    args = ap.parse_args()
    targets = ["ice40", "ecp5"] if args.target == "both" else [args.target]
    tunables = ["all"] if args.quick else TUNABLES
    rows = []
    print(f"{'config':<34} {'target':<6} {'LUT4':>7} {'FF':>6} {'carry':>6} {'DSP':>4} "
          f"{'BRAM':>4} {'LUT/conn':>9} {'MAC/clk/kLUT':>13}")
    # not under /tmp: YoWASP maps its own temporary folder there
    Path("build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir="build") as tmp:
        k = 0
        folded = [(n_in, n_out, arch, int(p)) for n_in, n_out, arch, _ in CONFIGS_FOLDED
                  for p in args.folded_lanes.split(",") if p]
        for n_in, n_out, arch, lanes in CONFIGS_PARALLEL + folded:
            for tunable in tunables:
                for arith in ARITHS:
                    if arith == "multiply" and tunable == "levels":
                        continue
                    want = {w for w in args.only.split(",") if w}
                    if want - {arch, arith, tunable}:
                        continue
                    spec = layer(n_in, n_out, arch, lanes, arith, tunable)
                    for target in targets:
                        k += 1
                        r = synth(spec, target, args.dsp, Path(tmp) / str(k))
                        name = f"{n_in}x{n_out} {arch}:{lanes} {arith}/{tunable}"
                        rows.append({"config": name, "n_in": n_in, "n_out": n_out,
                                     "arch": arch, "lanes": lanes, "arith": arith,
                                     "tunable": tunable, "target": target,
                                     "connections": spec.n_conn, **r})
                        print(f"{name:<34} {target:<6} {r['lut4']:>7} {r['ff']:>6} "
                              f"{r['carry']:>6} {r['dsp']:>4} {r['bram']:>4} "
                              f"{r['lut4'] / spec.n_conn:>9.1f} "
                              f"{r['macs_per_clock_per_klut']:>13.2f}  {r['mapper']}",
                              flush=True)
    # ratio of the best codebook mode to the baseline, per (arch, tunable, target)
    summary = []
    for key in sorted({(r["arch"], r["lanes"], r["tunable"], r["target"]) for r in rows}):
        group = [r for r in rows if (r["arch"], r["lanes"], r["tunable"], r["target"]) == key]
        base = next((r for r in group if r["arith"] == "multiply"), None)
        best = min((r for r in group if r["arith"] != "multiply"),
                   key=lambda r: r["lut4"] / r["macs_per_clock"], default=None)
        if base and best:
            ratio = ((best["lut4"] / best["macs_per_clock"])
                     / (base["lut4"] / base["macs_per_clock"]))
            summary.append({"arch": key[0], "lanes": key[1], "tunable": key[2], "target": key[3],
                            "best": best["arith"], "lut_ratio_vs_multiply": ratio,
                            "meets_one_third": ratio <= 1 / 3})
            print(f"{key[0]}:{key[1]:<4} {key[2]:<7} {key[3]:<6} best={best['arith']:<9} "
                  f"LUT per MAC/clock vs int8 multiply: {ratio:.2f}"
                  f" ({'meets' if ratio <= 1 / 3 else 'misses'} the 1/3 target)")
    # folded layers at two lane counts: LUTs of one lane and of the rest, by difference
    lane_cost = []
    for key in sorted({(r["arith"], r["tunable"], r["target"]) for r in rows
                       if r["arch"] == "folded"}):
        pts = sorted((r["lanes"], r["lut4"]) for r in rows
                     if r["arch"] == "folded" and (r["arith"], r["tunable"], r["target"]) == key)
        if len(pts) >= 2:
            (pa, la), (pb, lb) = pts[0], pts[-1]
            per_lane = (lb - la) / (pb - pa)
            lane_cost.append({"arith": key[0], "tunable": key[1], "target": key[2],
                              "lut4_per_lane": per_lane, "lut4_rest": la - pa * per_lane})
            print(f"folded {key[0]:<9} {key[1]:<7} {key[2]:<6} LUT4 per lane {per_lane:7.1f}, "
                  f"the rest (input select, outputs, bus, control) {la - pa * per_lane:7.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "area", "rows": rows, "summary": summary,
                               "folded_lane_cost": lane_cost},
                              indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
