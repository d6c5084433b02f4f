"""Inferences per second of the demo network auto-folded on a device, beside the int8
``multiply`` baseline auto-folded on the same device.

    python benchmarks/fps.py [--target ice40-up5k] [--clock 48] [--fill 0.85]
                             [--in-beat B] [--out-beat B] [--only codebook|baseline]
                             [--no-synth] [--pnr-seed 1] [--out benchmarks/results/fps.json]

Trains the demo's digits MLP (64-32-10, the flow's seed) and quantises it twice: as ``make demo``
does (``optimal`` K = 8 levels, ``tunable=levels``, ``arith=auto``) and as the baseline (uniform
int8 weights, 127 levels, ``arith=multiply``, ``tunable=all``: a plain multiplier per lane).
``lognet.hw.plan.auto_folded`` picks the lanes per layer (DSPs allowed for both) and, when the
plan still fits, the narrowest stream beats that keep pace, as ``[synth.arch] T = "auto"`` does
in the flow (``--fill`` the share of the logic it may fill; ``--in-beat``/``--out-beat`` set the
beats first, as ``[quantise] in_beat/out_beat`` do); the clocks per vector are the core's own
(``info.cycles_per_vector``, the clock model tests/hw checks against the RTL), and each build is
placed and routed with nextpnr (``--no-synth`` skips that; ``--only`` builds one of the two) to
show whether it fits and meets the clock. A build nextpnr cannot place is a row with its reason,
not a crash. ``inf/s`` is at the asked clock; ``inf/s run`` at the clock the build makes (the
asked one when met, its Fmax when not); ``x base`` and ``x run`` divide them by the baseline's.
Prints a table and writes JSON.

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

from lognet.base.errors import ToolFailure
from lognet.boards.synth import synth_core
from lognet.hw.export import build_core
from lognet.hw.plan import AUTO_FILL, auto_folded
from lognet.model.arch import Arch, Microarch
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.spec import NetworkSpec, with_beats
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


KINDS = {"codebook": "codebook (optimal K=8, levels)", "baseline": "int8 multiply (all)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ice40-up5k", choices=sorted(DEFAULT_CLOCK))
    ap.add_argument("--clock", type=float, default=None, help="MHz (default: the target's)")
    ap.add_argument("--fill", type=float, default=AUTO_FILL,
                    help=f"share of the device's logic the plan may fill (default {AUTO_FILL})")
    ap.add_argument("--in-beat", type=int, default=None,
                    help="input elements per transfer, set before the search (default: the "
                         "search picks)")
    ap.add_argument("--out-beat", type=int, default=None,
                    help="output elements per transfer, set before the search")
    ap.add_argument("--only", choices=sorted(KINDS), help="build one of the two")
    ap.add_argument("--no-synth", action="store_true", help="plan only, no place and route")
    ap.add_argument("--seed", type=int, default=0, help="training and quantisation seed")
    ap.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--out", default="benchmarks/results/fps.json")
    args = ap.parse_args()
    clock = args.clock or DEFAULT_CLOCK[args.target]
    rows = []
    for name, net in specs(args.seed).items():
        if args.only and name != KINDS[args.only]:
            continue
        net = with_beats(net, args.in_beat, args.out_beat)
        t0 = time.perf_counter()
        built, found = auto_folded(net, args.target, clock, dsp=True, fill=args.fill)
        plan_s = time.perf_counter() - t0
        core = build_core(built)
        cycles = core.info.cycles_per_vector
        p = found.plan
        row = {"config": name, "lanes": list(found.lanes),
               "beats": [built.layers[0].in_beat_size, built.layers[-1].out_beat_size],
               "plan_ok": found.ok, "plan_reason": found.reason, "plan_s": plan_s,
               "fill": args.fill, "plan_cycles_per_vector": p.cycles_per_vector,
               "cycles_per_vector": cycles, "inferences_per_s": clock * 1e6 / cycles,
               "plan_lut4": p.total.lut4, "plan_ff": p.total.ff,
               "plan_logic_cells": p.used.get("ICESTORM_LC", p.used.get("TRELLIS_COMB")),
               "target": args.target, "clock_mhz": clock}
        if not args.no_synth:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as work:
                try:
                    r = synth_core(lambda spec=built: build_core(spec), args.target, clock,
                                   Path(work), dsp=True, seed=args.pnr_seed)
                except ToolFailure as e:
                    r, reason = None, str(e).split("; see ")[0].replace(work, "<run>")
            row["synth_s"] = time.perf_counter() - t0
            if r is None:
                row.update(status="error", reason=reason, met=False)
            else:
                fmax = r.timing.fmax_mhz if r.timing else None
                util = (r.utilisation or {}).get(
                    "ICESTORM_LC" if args.target.startswith("ice40") else "TRELLIS_COMB")
                row.update(status=r.status, fmax_mhz=fmax, lut4=r.cells.core.lut4,
                           ff=r.cells.core.ff, dsp=r.cells.core.dsp, bram=r.cells.core.bram,
                           logic_cells=util.used if util else None, met=r.status == "ok",
                           inferences_per_s_run=(min(clock, fmax) * 1e6 / cycles
                                                 if fmax else None))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    base_row = next((r for r in rows if r["config"] == KINDS["baseline"]), {})
    base, base_run = base_row.get("inferences_per_s"), base_row.get("inferences_per_s_run")
    print(f"\n{'config':32s} {'lanes':>6s} {'beats':>6s} {'clk/vec':>7s} {'inf/s':>9s} "
          f"{'x base':>6s} {'status':>13s} {'Fmax':>6s} {'inf/s run':>9s} {'x run':>5s} {'LC':>5s} "
          f"{'plan LC':>7s} {'LUT4':>5s} {'FF':>5s} {'DSP':>3s} {'BRAM':>4s}")
    for r in rows:
        run = r.get("inferences_per_s_run")
        x = "-" if base is None else f"{r['inferences_per_s'] / base:.2f}"
        x_run = "-" if run is None or not base_run else f"{run / base_run:.2f}"
        print(f"{r['config']:32s} {','.join(map(str, r['lanes'])):>6s} "
              f"{'/'.join(map(str, r['beats'])):>6s} {r['cycles_per_vector']:>7g} "
              f"{r['inferences_per_s']:>9,.0f} {x:>6s} "
              f"{r.get('status', '-'):>13s} {r.get('fmax_mhz') or 0:>6.1f} "
              f"{'-' if run is None else f'{run:,.0f}':>9s} {x_run:>5s} "
              f"{r.get('logic_cells') or '-':>5} "
              f"{r['plan_logic_cells']:>7} {r.get('lut4', '-'):>5} {r.get('ff', '-'):>5} "
              f"{r.get('dsp', '-'):>3} {r.get('bram', '-'):>4}")
        if r.get("reason"):
            print(f"  {r['config']}: {r['reason']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
