"""The largest layer each tunability tier fits on a device, beside the int8 ``multiply`` baseline's.

    python benchmarks/largest.py [--target ice40-up5k] [--clock 48] [--lanes 4] [--beat 8]
                                 [--step 16] [--max 1024] [--no-synth] [--pnr-seed 1]
                                 [--only TEXT] [--out benchmarks/results/largest.json]

For each configuration (codebook K = 8 ``shared`` levels or int8 ``multiply`` weights; writable
with one copy of the connection words, writable with two, levels only, constant) the resource
plan (:func:`lognet.hw.plan.plan`, DSPs allowed) finds the largest square layer ``n x n`` (``n`` a
multiple of ``--step``) that fits, folded to ``--lanes`` lanes with beats of ``--beat`` elements
in and out; then ``lognet synth``'s out-of-context build places and routes it with nextpnr (one
step smaller while nextpnr cannot place it, at most three steps). Weights are drawn as
``lognet spec`` draws them (lognormal magnitudes, random signs; the baseline: 127 uniform levels
of 7 bits, i.e. int8 weights). ``x int8`` divides a codebook row's connections by the int8 row's
of the same tier; ``LC`` are the logic cells nextpnr placed (core and harness), ``LUT4`` / ``FF``
the core's cells beside the plan's estimate of them. Prints a table and writes JSON.

Target (the real-size-layers task): a 512x512 layer (262,144 connections, K = 8, writable) placed
and routed on the iCE40UP5K with its words in SPRAM, meeting its clock, and >= 2x the
connections of the int8 baseline's largest in the same tier.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lognet.base.errors import ToolFailure
from lognet.boards.synth import synth_core
from lognet.hw.export import build_core
from lognet.hw.plan import plan
from lognet.model.arch import Arch, Microarch
from lognet.model.quantise import random_layer_spec

DEFAULT_CLOCK = {"ice40-up5k": 48.0, "ecp5-25k": 100.0, "ecp5-85k": 100.0}


@dataclass(frozen=True)
class Config:
    name: str
    arith: str
    tunable: str
    single_copy: bool = False

    @property
    def int8(self) -> bool:
        return self.arith == "multiply"


CONFIGS = (
    Config("codebook K=8, all, one copy", "shared", "all", True),
    Config("int8 multiply, all, one copy", "multiply", "all", True),
    Config("codebook K=8, all", "shared", "all"),
    Config("int8 multiply, all", "multiply", "all"),
    Config("codebook K=8, levels", "shared", "levels"),
    Config("codebook K=8, none", "shared", "none"),
    Config("int8 multiply, none", "multiply", "none"),
)


def make(c: Config, n: int, lanes: int, beat: int):
    arch = Arch(Microarch.FOLDED, lanes, c.arith, c.tunable, in_beat=beat, out_beat=beat,
                single_copy=c.single_copy)
    if c.int8:
        return random_layer_spec(n, n, -3.0, 0.65, 127, picker="uniform", level_bits=7,
                                 seed=1, arch=arch, name="layer")
    return random_layer_spec(n, n, -3.0, 0.65, 8, picker="optimal", level_bits=8, seed=1,
                             arch=arch, name="layer")


def fits(c: Config, n: int, args) -> bool:
    return plan(make(c, n, args.lanes, args.beat), args.target, args.clock, dsp=True).fits


def largest(c: Config, args) -> int:
    """The largest multiple of the step that the plan fits (0: none), by bisection (fit is
    monotone in the size for one configuration)."""
    lo, hi = 0, args.max // args.step
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(c, mid * args.step, args):
            lo = mid
        else:
            hi = mid - 1
    return lo * args.step


def place(c: Config, n: int, args) -> dict:
    spec = make(c, n, args.lanes, args.beat)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        try:
            r = synth_core(lambda: build_core(spec), args.target, args.clock, Path(work),
                           dsp=True, seed=args.pnr_seed)
        except ToolFailure as e:
            return {"n": n, "status": "error", "synth_s": time.perf_counter() - t0,
                    "reason": str(e).split("; see ")[0].replace(work, "<run>")}
    cell = "ICESTORM_LC" if args.target.startswith("ice40") else "TRELLIS_COMB"
    util = (r.utilisation or {}).get(cell)
    core = r.cells.core
    return {"n": n, "status": r.status, "synth_s": time.perf_counter() - t0,
            "fmax_mhz": r.timing.fmax_mhz if r.timing else None,
            "logic_cells": util.used if util else None, "lut4": core.lut4, "ff": core.ff,
            "dsp": core.dsp, "bram": core.bram, "spram": getattr(core, "spram", 0),
            "met": r.status == "ok"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ice40-up5k", choices=sorted(DEFAULT_CLOCK))
    ap.add_argument("--clock", type=float, default=None, help="MHz (default: the target's)")
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--beat", type=int, default=8, help="elements per transfer, in and out")
    ap.add_argument("--step", type=int, default=16, help="layer sizes searched: multiples")
    ap.add_argument("--max", type=int, default=1024, help="largest size searched")
    ap.add_argument("--no-synth", action="store_true", help="plan only, no place and route")
    ap.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--only", help="configurations whose name contains this text")
    ap.add_argument("--out", default="benchmarks/results/largest.json")
    args = ap.parse_args()
    args.clock = args.clock or DEFAULT_CLOCK[args.target]
    if args.step % args.beat or args.step % args.lanes:
        ap.error("--step must be a multiple of --beat and --lanes")
    rows = []
    for c in CONFIGS:
        if args.only and args.only not in c.name:
            continue
        t0 = time.perf_counter()
        n = largest(c, args)
        row = {"config": c.name, "arith": c.arith, "tunable": c.tunable,
               "single_copy": c.single_copy, "plan_n": n, "plan_s": time.perf_counter() - t0,
               "lanes": args.lanes, "beat": args.beat, "target": args.target,
               "clock_mhz": args.clock}
        if n:
            p = plan(make(c, n, args.lanes, args.beat), args.target, args.clock, dsp=True)
            row.update(plan_logic_cells=p.used.get("ICESTORM_LC", p.used.get("TRELLIS_COMB")),
                       plan_lut4=p.total.lut4, plan_ff=p.total.ff,
                       plan_blocks=dict(p.total.blocks))
        placed = None
        tries = []
        if n and not args.no_synth:
            for k in range(3):
                size = n - k * args.step
                if size <= 0:
                    break
                t = place(c, size, args)
                tries.append(t)
                if t["status"] in ("ok", "timing_failed"):
                    placed = t
                    break
        row["tries"] = tries
        if placed:
            row.update(placed)
            row["connections"] = placed["n"] ** 2
        else:
            row["n"] = n if args.no_synth else 0
            row["connections"] = row["n"] ** 2
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    by = {(r["tunable"], r["single_copy"], r["arith"]): r for r in rows}
    print(f"\n{'config':30s} {'plan n':>6s} {'placed':>7s} {'conns':>8s} {'x int8':>6s} "
          f"{'status':>13s} {'Fmax':>6s} {'LC':>5s} {'LUT4':>5s} {'plan':>5s} {'FF':>5s} "
          f"{'plan':>5s} {'DSP':>3s} {'BRAM':>4s} {'SPRAM':>5s}")
    for r in rows:
        base = by.get((r["tunable"], r["single_copy"], "multiply"))
        x = ("-" if r["arith"] == "multiply" or not base or not base["connections"]
             else f"{r['connections'] / base['connections']:.2f}")
        placed = f"{r['n']}x{r['n']}" if r["n"] else "-"
        print(f"{r['config']:30s} {r['plan_n']:>6} {placed:>7s} {r['connections']:>8,} "
              f"{x:>6s} {r.get('status', '-'):>13s} {r.get('fmax_mhz') or 0:>6.1f} "
              f"{r.get('logic_cells') or '-':>5} {r.get('lut4', '-'):>5} "
              f"{r.get('plan_lut4', '-'):>5} {r.get('ff', '-'):>5} {r.get('plan_ff', '-'):>5} "
              f"{r.get('dsp', '-'):>3} {r.get('bram', '-'):>4} {r.get('spram', '-'):>5}")
        for t in r["tries"]:
            if t.get("reason"):
                print(f"  {r['config']} {t['n']}x{t['n']}: {t['reason']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
