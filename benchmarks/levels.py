"""SQNR of every level picker, and the speed of the analysis, on three weight sets.

    python benchmarks/levels.py [--quick] [--out benchmarks/results/levels.json]

(a) 10^6 draws from LN(-3, 0.65) with random signs, (b) 10^6 Gaussian weights, (c) the weights
of the small digits MLP (all layers pooled). For K = 4, 8, 16: SQNR in dB before rounding, and
the gap to ``optimal``. Then wall time and peak RSS (a fresh subprocess each) of ``fit``
(:func:`lognet.model.fit.analyse_layer`) and of ``optimal`` on 10^6 and 10^7 weights.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from lognet.model.levels import PICKERS, pick_levels
from lognet.model.train import train_digits_mlp

CHILD = r"""
import json, resource, sys, time
import numpy as np
what, n = sys.argv[1], int(float(sys.argv[2]))
rng = np.random.default_rng(0)
w = np.exp(rng.normal(-3, 0.65, n)) * rng.choice([-1.0, 1.0], n)
t0 = time.perf_counter()
if what == "fit":
    from lognet.model.fit import analyse_layer
    analyse_layer(w, "bench")
else:
    from lognet.model.levels import pick_levels
    pick_levels(w, 16, "optimal")
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def sets(quick: bool):
    rng = np.random.default_rng(0)
    n = 100_000 if quick else 1_000_000
    mlp = train_digits_mlp()
    pooled = np.concatenate([W.ravel() for _, W, _, _ in mlp["layers"]])
    return {
        "lognormal(-3,0.65)": np.exp(rng.normal(-3, 0.65, n)) * rng.choice([-1.0, 1.0], n),
        "gaussian": rng.normal(0, 0.05, n),
        "digits-mlp": pooled,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^5 draws, no 10^7 timing")
    ap.add_argument("--out", default="benchmarks/results/levels.json")
    args = ap.parse_args()
    rows = []
    print(f"{'weights':<20} {'K':>3} " + " ".join(f"{p:>18}" for p in PICKERS))
    for name, w in sets(args.quick).items():
        for K in (4, 8, 16):
            res = {p: pick_levels(w, K, p) for p in PICKERS}
            opt = res["optimal"].sqnr_db
            for p, r in res.items():
                rows.append({"weights": name, "K": K, "picker": p, "sqnr_db": r.sqnr_db,
                             "gap_to_optimal_db": r.sqnr_db - opt, "note": r.note})
            print(f"{name:<20} {K:>3} " + " ".join(
                f"{res[p].sqnr_db:>8.3f} ({res[p].sqnr_db - opt:+6.3f})" for p in PICKERS),
                flush=True)
    timing = []
    sizes = ["1e6"] if args.quick else ["1e6", "1e7"]
    for what in ("fit", "optimal"):
        for n in sizes:
            r = subprocess.run([sys.executable, "-c", CHILD, what, n], capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            m = json.loads(r.stdout.strip().splitlines()[-1])
            timing.append({"step": what, "weights": int(float(n)), **m})
            print(f"{what:<8} {n:>5} weights: {m['seconds']:7.2f} s, "
                  f"peak {m['peak_rss_mb']:7.0f} MB",
                  flush=True)
    # where the lognormal pickers stand against optimal on the lognormal set
    for K in (8, 16):
        for p in ("lognormal-lloyd", "lloyd"):
            gap = next(r["gap_to_optimal_db"] for r in rows if r["weights"].startswith("logn")
                       and r["K"] == K and r["picker"] == p)
            print(f"K={K:<2} {p:<16} gap to optimal on LN(-3,0.65): {gap:+.4f} dB "
                  f"({'within' if abs(gap) <= 0.05 else 'outside'} 0.05 dB)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "levels", "rows": rows, "timing": timing},
                              indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
