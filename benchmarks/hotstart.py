"""Hot start: the float digits MLP (64-32-10, Adam) trained from a lognormal initialisation and
from MLPClassifier's default one over several seeds. Prints a table and writes JSON.

    python benchmarks/hotstart.py [--seeds 10] [--epochs 100] [--target 0.95] [--sigma 1]
                                  [--out benchmarks/results/hotstart.json]

The lognormal initialisation: random signs, |w| ~ LN(mu, sigma) with mu per layer so the
weight variance equals the default's 2 / (n_in + n_out) (lognet.model.train.lognormal_init).
Per initialisation: how many seeds reached the target test accuracy within the epochs, the
epochs it took (mean +- sd over those seeds), the final test accuracy (mean +- sd), then the
verdict from the paired per-seed differences (lognet.model.train.hot_start). Same command as
``lognet train --seeds 10``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from lognet.base.files import atomic_write_text
from lognet.model.train import hot_start, hot_start_table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--hidden", type=int, nargs="+", default=[32])
    ap.add_argument("--out", default="benchmarks/results/hotstart.json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    r = hot_start(args.hidden, seeds=args.seeds, target=args.target, epochs=args.epochs,
                  sigma=args.sigma)
    seconds = time.perf_counter() - t0
    print("\n".join(hot_start_table(r)))
    print(f"{seconds:.0f} s for {2 * args.seeds} runs of {args.epochs} epochs")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({
        "benchmark": "hotstart", "python": sys.version.split()[0],
        "machine": platform.machine(), "seconds": seconds,
        **{k: v for k, v in r.items() if k != "kept"}}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
