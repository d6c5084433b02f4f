"""Generation wall time and peak memory versus layer size (``lognet generate``).

Each size runs in a fresh subprocess so its peak RSS is its own. Prints a table and writes JSON.

    python benchmarks/generate.py [--quick] [--out benchmarks/results/generate.json]

Target (issue 4): a 1,000,000-connection folded layer in <= 60 s and <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
from lognet.model.qformat import QFormat
from lognet.model.arch import Arch
from lognet.model.spec import LayerSpec
from lognet.hw.export import generate
n_in, n_out, arch, lanes, arith, out = sys.argv[1:7]
n_in, n_out, lanes = int(n_in), int(n_out), int(lanes)
rng = np.random.default_rng(0)
t0 = time.perf_counter()
spec = LayerSpec(
    name="bench", n_in=n_in, n_out=n_out, in_fmt=QFormat(0, 7), level_fmt=QFormat(0, 8, False),
    bias_fmt=QFormat(0, 15), out_fmt=QFormat(7, 0), levels=tuple(range(3, 163, 20)),
    sources=np.tile(np.arange(n_in), (n_out, 1)), signs=rng.integers(0, 2, (n_out, n_in)),
    indices=rng.integers(0, 8, (n_out, n_in)), bias=np.zeros(n_out, int),
    arch=Arch(arch, lanes, arith, "all"))
t1 = time.perf_counter()
generate(spec, out, force=True)
t2 = time.perf_counter()
print(json.dumps({"spec_s": t1 - t0, "generate_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SIZES = [
    (16, 16, "parallel", 1, "shared"),
    (64, 32, "parallel", 1, "shared"),
    (64, 32, "folded", 8, "factored"),
    (256, 256, "folded", 16, "factored"),
    (1000, 100, "folded", 16, "factored"),
    (1000, 1000, "folded", 16, "factored"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1,000,000-connection layer")
    ap.add_argument("--out", default="benchmarks/results/generate.json")
    args = ap.parse_args()
    sizes = SIZES[:-1] if args.quick else SIZES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_in, n_out, arch, lanes, arith in sizes:
            cmd = [sys.executable, "-c", CHILD, str(n_in), str(n_out), arch, str(lanes), arith,
                   str(Path(tmp) / "out")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            m = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append({"n_in": n_in, "n_out": n_out, "connections": n_in * n_out,
                         "arch": f"{arch}:{lanes}" if arch == "folded" else arch,
                         "arith": arith, **m})
            r_ = rows[-1]
            print(f"{r_['connections']:>9} conn  {r_['arch']:<11} {arith:<9} "
                  f"generate {r_['generate_s']:7.1f} s  peak {r_['peak_rss_mb']:7.0f} MB",
                  flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "generate", "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
