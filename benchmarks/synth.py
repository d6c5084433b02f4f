"""Utilisation and Fmax of layer cores on an iCE40 UP5K and an ECP5-85F, every arithmetic mode
beside the uniform-int8 ``multiply`` baseline, from real place and route.

    python benchmarks/synth.py [--quick] [--targets ice40-up5k,ecp5-85k] [--jobs N]
                               [--out benchmarks/results/synth.json]

Each configuration goes through :func:`lognet.boards.synth.synth_core`: the core out of context
behind a shift-register harness, Yosys (``synth_ice40 -dsp`` / ``synth_ecp5``, DSPs allowed),
nextpnr with ``--freq`` at the target's clock (48 MHz iCE40, 100 MHz ECP5). Layers are fully
tunable (every sign, index, level and bias writable), dense, 8-bit signed inputs; codebook modes
use K = 8 levels (3-bit index + sign = 4 bits per connection), the baseline an 8-bit signed
weight per connection. Shapes grow until a mode no longer fits the UP5K, which gives the largest
layer that fits per mode. Prints a table, writes JSON and a PNG chart (LUTs and Fmax per
configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from area import layer  # noqa: E402  (the benchmarks' shared layer maker)

from lognet.boards.synth import TARGETS, synth_core  # noqa: E402
from lognet.hw.export import build_core  # noqa: E402

MODES = ("multiply", "shared", "factored", "shift")
SHAPES = ((16, 8), (32, 16), (64, 32), (128, 64))


def run_one(target, n_in, n_out, arch, lanes, mode, build: Path) -> dict:
    spec = layer(n_in, n_out, arch, lanes, mode, "all")
    name = f"{target}-{arch}{lanes}-{mode}-{n_in}x{n_out}"
    t0 = time.perf_counter()
    try:
        r = synth_core(lambda: build_core(spec), target, None, build / name, dsp=True)
    except Exception as e:  # a crashed tool is a result of the sweep, not its end
        return {"target": target, "shape": f"{n_in}x{n_out}", "arch": f"{arch}:{lanes}",
                "mode": mode, "status": "error", "reason": str(e).splitlines()[0],
                "wall_s": round(time.perf_counter() - t0, 1)}
    c, tot = r.cells.core, r.cells.total
    util = (r.utilisation or {}).get("ICESTORM_LC" if target.startswith("ice40") else
                                     "TRELLIS_COMB")
    return {"target": target, "shape": f"{n_in}x{n_out}", "connections": n_in * n_out,
            "arch": f"{arch}:{lanes}", "mode": mode, "status": r.status,
            "lut4": c.lut4, "ff": c.ff, "carry": c.carry, "dsp": c.dsp,
            "bram": c.bram, "lut4_total": tot.lut4,
            "logic_used": util.used if util else None,
            "logic_available": util.available if util else None,
            "fmax_mhz": r.fmax_mhz, "clock_mhz": r.clock_mhz,
            "met": r.met, "mapper": r.mapper,
            "wall_s": round(time.perf_counter() - t0, 1)}


def chart(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("lut4") is not None]
    targets = sorted({r["target"] for r in ok})
    fig, axes = plt.subplots(2, len(targets), figsize=(6 * len(targets), 6), squeeze=False)
    for col, t in enumerate(targets):
        rs = [r for r in ok if r["target"] == t]
        labels = [f"{r['shape']}\n{r['arch']}" for r in rs if r["mode"] == MODES[0]]
        xs = range(len(labels))
        for i, mode in enumerate(MODES):
            mr = {f"{r['shape']}\n{r['arch']}": r for r in rs if r["mode"] == mode}
            w = 0.2
            lut = [mr[lb]["lut4"] if lb in mr else 0 for lb in labels]
            fmx = [(mr[lb]["fmax_mhz"] or 0) if lb in mr else 0 for lb in labels]
            axes[0][col].bar([x + (i - 1.5) * w for x in xs], lut, w, label=mode)
            axes[1][col].bar([x + (i - 1.5) * w for x in xs], fmx, w, label=mode)
        axes[0][col].set_title(f"{t}: LUT4 of the core")
        axes[1][col].set_title(f"{t}: Fmax (MHz), dashed: requested clock")
        axes[1][col].axhline(TARGETS[t].default_clock_mhz, color="k", ls="--", lw=0.8)
        for ax in axes[:, col]:
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels, fontsize=7)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16x8 and 64x32 on the UP5K only")
    ap.add_argument("--targets", default="ice40-up5k,ecp5-85k")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel-targets", default="ice40-up5k",
                    help="targets for the parallel 16x8 layers (a parallel layer is 15-25k "
                         "LUTs: nextpnr-ecp5 takes many minutes on it)")
    ap.add_argument("--shapes", default=None,
                    help="folded:4 shapes to run, e.g. 64x32,128x64 (default: all)")
    ap.add_argument("--modes", default=",".join(MODES), help="arithmetic modes to run")
    ap.add_argument("--build", default="build/bench-synth")
    ap.add_argument("--out", default="benchmarks/results/synth.json")
    args = ap.parse_args()
    targets = args.targets.split(",")
    shapes = ((16, 8), (64, 32)) if args.quick else SHAPES
    if args.shapes:
        shapes = tuple(tuple(int(v) for v in sh.split("x")) for sh in args.shapes.split(","))
    modes = [m for m in args.modes.split(",") if m in MODES]
    if args.quick:
        targets = ["ice40-up5k"]
    build = Path(args.build)
    t0 = time.perf_counter()
    rows = []
    # a parallel layer of the smallest shape, then folded:4 layers of growing size; on the
    # UP5K a mode stops growing once it does not fit
    ptargets = [t for t in args.parallel_targets.split(",") if t in targets]
    jobs = [(t, 16, 8, "parallel", 1, m) for t in ptargets for m in modes] if not args.shapes \
        else []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows += list(pool.map(lambda a: run_one(*a, build), jobs))
        for n_in, n_out in shapes:
            batch = []
            for t in targets:
                for m in modes:
                    too_big = any(r["target"] == t and r["mode"] == m and r["arch"] == "folded:4"
                                  and r["status"] == "does_not_fit" for r in rows)
                    if not too_big:
                        batch.append((t, n_in, n_out, "folded", 4, m))
            rows += list(pool.map(lambda a: run_one(*a, build), batch))
    head = (f"{'target':<11} {'shape':>7} {'arch':<9} {'mode':<9} {'status':<13} {'LUT4':>6} "
            f"{'FF':>6} {'carry':>5} {'DSP':>3} {'BRAM':>4} {'LC used':>13} {'Fmax':>6} "
            f"{'clock':>5} {'time':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        lc = (f"{r['logic_used']}/{r['logic_available']}" if r.get("logic_used") is not None
              else "")
        print(f"{r['target']:<11} {r['shape']:>7} {r['arch']:<9} {r['mode']:<9} "
              f"{r['status']:<13} {r.get('lut4', ''):>6} {r.get('ff', ''):>6} "
              f"{r.get('carry', ''):>5} {r.get('dsp', ''):>3} {r.get('bram', ''):>4} {lc:>13} "
              f"{r.get('fmax_mhz') or '':>6} {r.get('clock_mhz', ''):>5} {r['wall_s']:>5.0f}s")
    largest = {}
    for m in MODES:
        fit = [r for r in rows if r["target"] == "ice40-up5k" and r["mode"] == m
               and r["arch"] == "folded:4" and r["status"] in ("ok", "timing_failed")]
        if fit:
            best = max(fit, key=lambda r: r["connections"])
            largest[m] = {"shape": best["shape"], "fmax_mhz": best["fmax_mhz"],
                          "meets_48mhz": best["met"]}
    print("\nlargest folded:4 layer that fits the UP5K, per mode:")
    for m, v in largest.items():
        print(f"  {m:<9} {v['shape']:>7}  Fmax {v['fmax_mhz']} MHz "
              f"({'meets' if v['meets_48mhz'] else 'misses'} 48 MHz)")
    target_row = [r for r in rows if r["target"] == "ice40-up5k" and r["shape"] == "64x32"
                  and r["arch"] == "folded:4" and r["mode"] != "multiply"
                  and r["status"] in ("ok", "timing_failed")]
    met = [r for r in target_row if r["status"] == "ok"]
    print(f"\ntarget: a 4-bit codebook 64x32 layer fits the UP5K at >= 48 MHz (folded, DSPs "
          f"allowed): {'met by ' + ', '.join(r['mode'] for r in met) if met else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    chart(rows, png)
    out.write_text(json.dumps({"rows": rows, "largest_up5k": largest,
                               "wall_s": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    print(f"wrote {out} and {png} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
