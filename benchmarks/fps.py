"""Inferences per second of the demo network auto-folded on a device, beside the int8
``multiply`` baseline auto-folded on the same device.

    python benchmarks/fps.py [--target ice40-up5k] [--clock 48] [--no-synth]
                             [--out benchmarks/results/fps.json]

Trains the demo's digits MLP (64-32-10, the flow's seed) and quantises it twice: as ``make demo``
does (``optimal`` K = 8 levels, ``tunable=levels``, ``arith=auto``) and as the baseline (uniform
int8 weights, 127 levels, ``arith=multiply``, ``tunable=all``: a plain multiplier per lane).
``lognet.hw.plan.auto_lanes`` picks the lanes per layer (DSPs allowed for both); the clocks per
vector are the core's own (``info.cycles_per_vector``, the clock model tests/hw checks against
the RTL), and each build is placed and routed with nextpnr (``--no-synth`` skips that) to show
whether it fits and meets the clock. Prints a table and writes JSON.

Targets (the resource-plan task): the codebook build >= 200,000 inferences/s at a met 48 MHz on
the UP5K, and >= 1.5x the baseline's inferences/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from lognet.boards.synth import synth_core
from lognet.hw.export import build_core
from lognet.hw.plan import auto_lanes
from lognet.model.arch import Arch, Microarch
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.spec import NetworkSpec
from lognet.model.train import train_digits_mlp

DEFAULT_CLOCK = {"ice40-up5k": 48.0, "ecp5-25k": 100.0, "ecp5-85k": 100.0}


def specs(seed: int = 0) -> dict[str, NetworkSpec]:
    d = train_digits_mlp(hidden=[32], seed=seed)
    in_fmt = QFormat(0, 8, False)
    common = dict(in_fmt=in_fmt, calib_x=in_fmt.quantise(d["x_train"]), seed=seed)
    codebook, _ = quantise_network(d["layers"], K=8, picker="optimal", name="digits",
                                   level_bits=8, out_bits=8,
                                   arch=Arch(Microarch.FOLDED, 1, "auto", "levels"), **common)
    baseline, _ = quantise_network(d["layers"], K=127, picker="uniform", name="digits_int8",
                                   level_bits=7, out_bits=8,
                                   arch=Arch(Microarch.FOLDED, 1, "multiply", "all"), **common)
    return {"codebook (optimal K=8, levels)": codebook, "int8 multiply (all)": baseline}


def with_lanes(net: NetworkSpec, lanes) -> NetworkSpec:
    return NetworkSpec(net.name, tuple(
        la.with_arch(Arch(Microarch.FOLDED, p, la.arch.arith, la.arch.tunable))
        for la, p in zip(net.layers, lanes)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ice40-up5k", choices=sorted(DEFAULT_CLOCK))
    ap.add_argument("--clock", type=float, default=None, help="MHz (default: the target's)")
    ap.add_argument("--no-synth", action="store_true", help="plan only, no place and route")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/fps.json")
    args = ap.parse_args()
    clock = args.clock or DEFAULT_CLOCK[args.target]
    rows = []
    for name, net in specs(args.seed).items():
        t0 = time.perf_counter()
        found = auto_lanes(net, args.target, clock, dsp=True)
        plan_s = time.perf_counter() - t0
        built = with_lanes(net, found.lanes)
        core = build_core(built)
        cycles = core.info.cycles_per_vector
        row = {"config": name, "lanes": list(found.lanes), "plan_ok": found.ok,
               "plan_reason": found.reason, "plan_s": plan_s,
               "plan_cycles_per_vector": found.plan.cycles_per_vector,
               "cycles_per_vector": cycles, "inferences_per_s": clock * 1e6 / cycles,
               "plan_lut4": found.plan.total.lut4, "target": args.target, "clock_mhz": clock}
        if not args.no_synth:
            with tempfile.TemporaryDirectory() as work:
                r = synth_core(lambda spec=built: build_core(spec), args.target, clock,
                               Path(work), dsp=True)
            row.update(status=r.status, fmax_mhz=r.timing.fmax_mhz if r.timing else None,
                       lut4=r.cells.core.lut4, dsp=r.cells.core.dsp,
                       bram=r.cells.core.bram, met=r.status == "ok")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    base = rows[-1]["inferences_per_s"]
    print(f"\n{'config':32s} {'lanes':>10s} {'clk/vec':>8s} {'inf/s':>10s} {'x base':>7s} "
          f"{'status':>14s} {'Fmax':>7s} {'LUT4':>6s} {'DSP':>4s} {'BRAM':>5s}")
    for r in rows:
        print(f"{r['config']:32s} {','.join(map(str, r['lanes'])):>10s} "
              f"{r['cycles_per_vector']:>8g} {r['inferences_per_s']:>10,.0f} "
              f"{r['inferences_per_s'] / base:>7.2f} {r.get('status', '-'):>14s} "
              f"{r.get('fmax_mhz') or 0:>7.1f} {r.get('lut4', 0):>6} {r.get('dsp', 0):>4} "
              f"{r.get('bram', 0):>5}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
