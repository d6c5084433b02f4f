"""Digests of everything the generator writes, for a fixed matrix of small designs.

A refactor that must leave the hardware alone runs this before and after and compares: every
``lognet generate`` file (Verilog, register map JSON / Markdown / C header, spec, manifest), the
Wishbone front's Verilog and the UART board top's Verilog, for every microarchitecture, arithmetic
mode and tunability tier on layers with partial fan-in, plus a two-layer network.

    python benchmarks/verilog_digest.py [--out digests.json] [--check earlier.json]

Prints one line per design (the digest of all its files) and writes JSON with one digest per
file. ``--check`` exits 1 naming every file whose digest differs from the earlier run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from lognet.boards.top import UARTTop
from lognet.hw.export import build_core, generate, to_verilog
from lognet.hw.wishbone import WishboneCore
from lognet.model.arch import Arch
from lognet.model.qformat import QFormat
from lognet.model.spec import LayerSpec, NetworkSpec

ARCHES = (("parallel", 1), ("folded", 1), ("folded", 3))
ARITHS = ("shared", "factored", "shift", "multiply", "auto")
TIERS = ("all", "levels", "none")
POW2 = [1, 4, 8, 32]
APOT = [3, 5, 12, 40]


def layer(name: str, n_in: int, n_out: int, fanin: int, arch: Arch, *, levels=None, seed: int,
          activation: str = "relu", in_fmt: QFormat | None = None) -> LayerSpec:
    rng = np.random.default_rng(seed)
    K = 4
    if levels is None:
        levels = sorted(rng.choice(np.arange(1, 64), K, replace=False))
    return LayerSpec(
        name=name, n_in=n_in, n_out=n_out, in_fmt=in_fmt or QFormat(0, 7, True),
        level_fmt=QFormat(0, 6, False), bias_fmt=QFormat(2, 9, True),
        out_fmt=QFormat(3, 4, True), levels=[int(v) for v in levels],
        sources=[sorted(rng.choice(n_in, fanin, replace=False).tolist()) for _ in range(n_out)],
        signs=rng.integers(0, 2, (n_out, fanin)).tolist(),
        indices=rng.integers(0, K, (n_out, fanin)).tolist(),
        bias=rng.integers(-500, 500, n_out).tolist(), activation=activation, arch=arch)


def designs():
    seed = 0
    for kind, lanes in ARCHES:
        for arith in ARITHS:
            for tier in TIERS:
                if arith == "multiply" and tier == "levels":
                    continue
                seed += 1
                arch = Arch(kind, lanes, arith, tier)
                name = f"{kind}{lanes}_{arith}_{tier}"
                # shift takes one-term (pow2) and two-term (apot) levels; auto sees both kinds
                levels = None
                if arith == "shift" or (arith == "auto" and seed % 2 == 0):
                    levels = POW2 if seed % 3 else APOT
                yield name, layer(name, 6, 4, 4, arch, levels=levels, seed=seed)
    a = layer("fc1", 6, 5, 5, Arch("parallel", 1, "shared", "all"), seed=100)
    b = layer("fc2", 5, 3, 3, Arch("folded", 2, "factored", "all"), seed=101,
              activation="none", in_fmt=QFormat(3, 4, True, "floor"))
    yield "network", NetworkSpec("net", (a, b))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results/verilog_digest.json")
    ap.add_argument("--check", help="an earlier --out file to compare with (exit 1 on change)")
    args = ap.parse_args(argv)
    result: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in designs():
            files = {}
            out = Path(tmp) / name
            generate(spec, out)
            for p in sorted(out.iterdir()):
                files[p.name] = digest(p.read_text())
            files["wishbone.v"] = digest(to_verilog(WishboneCore(build_core(spec)), "wb"))
            files["uart_top.v"] = digest(verilog.convert(UARTTop(build_core(spec), 4),
                                                         name="top", emit_src=False))
            result[name] = files
            whole = digest("".join(f"{k}={v}\n" for k, v in files.items()))
            print(f"{name:28s} {whole[:16]}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if args.check:
        old = json.loads(Path(args.check).read_text())
        diff = [f"{d}/{f}" for d in sorted(set(old) | set(result))
                for f in sorted(set(old.get(d, {})) | set(result.get(d, {})))
                if old.get(d, {}).get(f) != result.get(d, {}).get(f)]
        for d in diff:
            print(f"changed: {d}")
        print(f"{len(diff)} of {sum(len(v) for v in result.values())} files changed")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
