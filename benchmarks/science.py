"""The analyses of the background papers, measured: validations with known answers, then the
demo network.

Validations:

- Ising (``lognet analyse ising --lattice square:L``): the C(T) peak of the L x L periodic
  ferromagnet from a Wang-Landau density of states, against Onsager's T_c = 2/ln(1+sqrt 2) =
  2.269 (the peak of a finite lattice sits above T_c by roughly T_c * 0.36 / L). Target: within
  3 % at L = 16.
- Wang-Landau against exact enumeration on a 16-spin network (6-6-4, Gaussian weights and
  biases, 32 energy bins): the relative error of ln g(E) per bin (mean and largest), and the
  C(T) peak from the walk, from the exact binned g(E), and from every state (the binning
  effect). Target: within 1 %.
- Criticality (``lognet analyse criticality``, the defaults: Gaussian weights, tanh, no bias,
  N = 100, depth 4000): the zero crossing of the largest Lyapunov exponent for several seeds,
  against the mean-field sigma_w = 1. Target: 1.00 +- 0.03. ReLU beside it (mean field: sqrt 2).

The demo network (the digits MLP that ``lognet flow`` trains): the C(T) peak of the trained, the
untrained (same shapes, default initialisation) and the quantised network, and the trained
layers' weight scale placed on the ReLU phase diagram (the demo's activation).

    python benchmarks/science.py [--lattices 8,16,24] [--seeds 3] [--crit-seeds 5]
                                 [--out benchmarks/results/science.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from lognet.model import criticality as cr
from lognet.model import ising


def lattice_rows(sizes, seeds) -> list[dict]:
    rows = []
    T = np.linspace(1.0, 4.0, 301)
    for L in sizes:
        m = ising.square_lattice(L)
        bins = ising.energy_bins(m)
        for seed in range(seeds if L == 16 else 1):
            dos = ising.wang_landau(m, bins, ln_f_final=1e-6, seed=seed)
            pk = ising.thermodynamics(dos, T)["peak"]
            rows.append({"L": L, "seed": seed, "peak_T": pk["T"], "peak_C": pk["C"],
                         "error_pct": (pk["T"] / ising.ONSAGER_TC - 1) * 100,
                         "steps": dos.info["steps"], "seconds": dos.info["seconds"],
                         "flips_per_second": dos.info["flips_per_second"]})
            r = rows[-1]
            print(f"square:{L:<3} seed {seed}  peak T {r['peak_T']:.4f}  C/N {r['peak_C']:.3f}  "
                  f"vs 2.2692: {r['error_pct']:+.2f} %  {r['steps']:.3g} flips "
                  f"{r['seconds']:.1f} s ({r['flips_per_second']:.3g}/s)", flush=True)
    return rows


def wl_vs_exact() -> dict:
    rng = np.random.default_rng(1)
    layers = [(rng.normal(0, .5, (6, 6)), rng.normal(0, .1, 6)),
              (rng.normal(0, .5, (4, 6)), rng.normal(0, .1, 4))]
    m = ising.network_model(layers, "6-6-4")
    t0 = time.perf_counter()
    res = ising.analyse_models([(m, layers)], bins=32, ln_f_final=1e-6, exact=True)
    row = res["models"][0]
    c = row["exact"]["comparison"]
    out = {"spins": m.n, "bins": 32, "ln_f_final": 1e-6,
           "mean_relative_error_pct": c["mean_relative_error"] * 100,
           "max_relative_error_pct": c["max_relative_error"] * 100,
           "max_abs_error": c["max_abs_error"], "bins_compared": c["bins_relative"],
           "peak_T_wang_landau": row["thermo"]["peak"]["T"],
           "peak_T_exact_binned": row["exact"]["thermo"]["peak"]["T"],
           "peak_T_exact_all_states": row["exact"]["unbinned"]["peak"]["T"],
           "steps": row["dos"]["steps"], "seconds": time.perf_counter() - t0}
    print(f"16-spin network: ln g(E) relative error mean {out['mean_relative_error_pct']:.3f} %, "
          f"largest {out['max_relative_error_pct']:.3f} % over {out['bins_compared']} bins; "
          f"peak T {out['peak_T_wang_landau']:.4f} (walk), {out['peak_T_exact_binned']:.4f} "
          f"(exact, binned), {out['peak_T_exact_all_states']:.4f} (exact, every state)",
          flush=True)
    return out


def transition_rows(seeds) -> dict:
    rows = []
    for seed in range(seeds):
        r = cr.analyse_criticality(seed=seed)
        rows.append({"seed": seed, "sigma_w": r["transition_sigma_w"],
                     "sigma_w_finite_width": r["transition_sigma_w_plain"],
                     "critical_region": r["critical_region"], "seconds": r["seconds"]})
        print(f"gaussian/tanh N={r['width']} depth {r['depth']} seed {seed}: lambda = 0 at "
              f"sigma_w = {r['transition_sigma_w']:.4f} (uncorrected finite width: "
              f"{r['transition_sigma_w_plain']:.4f}); |lambda| <= {r['tol']} over "
              f"{r['critical_region']['lo']:.3f}..{r['critical_region']['hi']:.3f} "
              f"({r['seconds']:.1f} s)", flush=True)
    xs = [r["sigma_w"] for r in rows]
    relu = cr.analyse_criticality(activation="relu", grid=(1.0, 2.0, 21), seed=0)
    print(f"relu N={relu['width']}: lambda = 0 at sigma_w = {relu['transition_sigma_w']:.4f} "
          f"(mean field sqrt 2 = {math.sqrt(2):.4f})", flush=True)
    return {"width": 100, "depth": 4000, "rows": rows, "median": statistics.median(xs),
            "within_0.03": sum(abs(x - 1) <= 0.03 for x in xs), "seeds": len(xs),
            "relu_sigma_w": relu["transition_sigma_w"]}


def demo() -> dict:
    from lognet.cli import demo_networks

    nets = demo_networks()
    models = [(ising.network_model(layers, name), layers) for name, layers in nets.items()]
    res = ising.analyse_models(models, bins=64, ln_f_final=1e-6)
    out = {"ising": [], "layers": None}
    for row in res["models"]:
        pk = row["thermo"]["peak"]
        out["ising"].append({"network": row["model"]["name"], "spins": row["model"]["spins"],
                             "peak_T": pk["T"], "peak_C": pk["C"],
                             "temperature_scale": row["model"]["temperature_scale"],
                             "seconds": row["dos"]["seconds"]})
        print(f"demo {row['model']['name']:<9}: C(T) peak T {pk['T']:.4f}, C/N {pk['C']:.4f} "
              f"(RMS local field {row['model']['temperature_scale']:.3f})", flush=True)
    layers = [(f"fc{i + 1}", W) for i, (W, _) in enumerate(nets["trained"])]
    r = cr.analyse_criticality(activation="relu", grid=(0.5, 8.0, 31), layers=layers)
    out["relu_transition"] = r["transition_sigma_w"]
    out["layers"] = r["layers"]
    for p in r["layers"]:
        lam = "n/a" if p["lambda"] is None else f"{p['lambda']:+.4f}"
        print(f"demo layer {p['name']}: sigma_w = {p['sigma_w']:.3f}, lambda on the ReLU "
              f"diagram {lam} ({p['phase']}; ReLU transition at "
              f"{r['transition_sigma_w']:.3f})", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lattices", default="8,16,24", help="lattice sizes L")
    ap.add_argument("--seeds", type=int, default=3, help="walks of square:16")
    ap.add_argument("--crit-seeds", type=int, default=5, help="networks of the transition")
    ap.add_argument("--out", default="benchmarks/results/science.json")
    args = ap.parse_args()
    sizes = [int(t) for t in args.lattices.split(",") if t.strip()]
    result = {"benchmark": "science", "machine": platform.machine(),
              "python": platform.python_version()}
    result["lattice"] = lattice_rows(sizes, args.seeds)
    result["wl_vs_exact"] = wl_vs_exact()
    result["transition"] = transition_rows(args.crit_seeds)
    result["demo"] = demo()
    l16 = [r for r in result["lattice"] if r["L"] == 16]
    t = result["transition"]
    print()
    print(f"{'target':<46} {'measured':<44} met")
    checks = []
    if l16:
        worst = max(abs(r["error_pct"]) for r in l16)
        peaks = ", ".join(f"{r['peak_T']:.4f}" for r in l16)
        checks.append(("square:16 C(T) peak within 3 % of 2.269",
                       f"{peaks} (worst {worst:.2f} %)", worst <= 3))
    w = result["wl_vs_exact"]
    checks.append(("16-spin net: WL vs exact ln g within 1 %",
                   f"mean {w['mean_relative_error_pct']:.3f} %, largest "
                   f"{w['max_relative_error_pct']:.3f} %", w["max_relative_error_pct"] <= 1))
    checks.append(("gaussian/tanh transition sigma_w = 1.00 +- 0.03",
                   f"median {t['median']:.4f}, {t['within_0.03']} of {t['seeds']} within",
                   t["within_0.03"] == t["seeds"]))
    for name, got, ok in checks:
        print(f"{name:<46} {got:<44} {'yes' if ok else 'NO'}")
    result["targets"] = [{"target": n, "measured": g, "met": ok} for n, g, ok in checks]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
