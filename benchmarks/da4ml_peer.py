"""lognet beside da4ml on one constant-weight layer: the same integer weights, the same Yosys.

    .venv/bin/pip install -e ".[bench]"        # da4ml 0.6 (the peer; used by this script only)
    .venv/bin/python benchmarks/da4ml_peer.py [--modes shared,factored,shift,multiply]
                                               [--mapper abc9|noabc]
                                               [--build build/da4ml-peer]
                                               [--out benchmarks/results/da4ml_peer.json]

The layer is the 64x32 first layer of the digits MLP (``train_digits_mlp(hidden=(32,),
seed=0)``) quantised to K = 8 levels with the ``optimal`` picker, unsigned 8-bit inputs. Its
signed integer weights ``Wint = layer.weight_matrix()`` (sign * level, shape 32x64) are what both
designs multiply by.

da4ml (distributed arithmetic: constant matrix-vector products as shift-add trees). Its
functional API traces ``quantize(x, 0, 8, 0) @ Wint.T`` on a symbolic 64-vector of unsigned
8-bit integers (``da4ml.trace.FixedVariableArrayInput`` + ``comb_trace``), which runs its CMVM
solver and gives a ``CombLogic``; ``da4ml.codegen.RTLModel(..., flavor="verilog").write()``
emits it as combinational Verilog (module ``da4ml_cmvm``: 512 input bits, the 32 exact
products y = Wint @ x out, no bias, activation or registers). Its bit-exact C++ interpreter
(``CombLogic.predict``) is checked against ``Wint @ x`` in NumPy on random and extreme inputs.

lognet: the same layer with ``tunable="none"`` (everything constant) in each arithmetic mode,
microarchitecture ``parallel``, built with ``lognet.hw.export.build_core``; ``shift`` is skipped
when :func:`lognet.hw.layer.resolve_arch` refuses the levels. Note that lognet's core is more
than the matrix-vector product: it also adds the bias, applies ReLU and requantises to 8-bit
outputs, and carries the stream handshake, input/output pipeline registers and the
configuration bus (docs/interfaces.md).

Synthesis: the YoWASP Yosys for an iCE40 UP5K, no DSPs, no place and route. lognet goes through
:func:`lognet.boards.synth.synth_core` (``place=False``) and its ``cells.core`` counts only the
core's own module. da4ml's Verilog goes through the same Yosys script (``proc; splitnets;
synth_ice40 -top da4ml_cmvm; stat -json``, ABC mapping as lognet's default, the same
``-noabc`` fallback) and counts the whole (flattened) module. Prints a table and writes
benchmarks/results/da4ml_peer.json. Work files land in build/da4ml-peer/ (YoWASP needs a working
folder outside /tmp). The runs are sequential: expect a few minutes per design.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = "ice40-up5k"
DA4ML_TOP = "da4ml_cmvm"
MODES = ("shared", "factored", "shift", "multiply")


def digits_layer():
    """The 64x32 first layer of the digits MLP at K = 8, tunable=none, and its integer weights."""
    from lognet.model.arch import Arch
    from lognet.model.qformat import QFormat
    from lognet.model.quantise import quantise_network
    from lognet.model.train import train_digits_mlp

    d = train_digits_mlp(hidden=(32,), seed=0)
    in_fmt = QFormat(0, 8, False)  # unsigned 8-bit inputs
    net, _ = quantise_network(d["layers"], K=8, picker="optimal", in_fmt=in_fmt,
                              calib_x=in_fmt.quantise(d["x_train"]), seed=0,
                              arch=Arch.parse("parallel", arith="auto", tunable="none"))
    layer = net.layers[0]
    return layer, layer.weight_matrix()


def test_vectors(n_in: int, n: int = 4096, seed: int = 0) -> np.ndarray:
    """Random unsigned 8-bit vectors plus the extremes (all 0, all 255, alternating)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, n_in), dtype=np.int64)
    alt = np.tile([0, 255], n_in // 2 + 1)[:n_in]
    return np.vstack([x, np.zeros(n_in, np.int64), np.full(n_in, 255), alt, 255 - alt])


# -- da4ml -------------------------------------------------------------------------------------

def da4ml_verilog(W: np.ndarray, rtl_dir: Path) -> dict:
    """Trace y = W @ x (x: 64 unsigned 8-bit) with da4ml, check its model, write its Verilog."""
    from da4ml.codegen import RTLModel
    from da4ml.trace import FixedVariableArrayInput, comb_trace
    from da4ml.trace.ops import quantize

    t0 = time.perf_counter()
    inp = FixedVariableArrayInput((W.shape[1],))
    x = quantize(inp, 0, 8, 0)  # k=0 (unsigned), 8 integer bits, 0 fraction bits
    out = x @ W.T.astype(np.float64)  # da4ml's kernel convention: vec @ kernel
    comb = comb_trace(inp, out)
    trace_s = time.perf_counter() - t0

    # Bit-exact check of da4ml's own model (C++ DAIS interpreter, int64 arithmetic).
    X = test_vectors(W.shape[1])
    got = comb.predict(X.astype(np.float64))
    np.testing.assert_array_equal(got, X @ W.T)
    assert np.array_equal(comb.kernel, W.T), "da4ml's solution implements another matrix"

    t1 = time.perf_counter()
    model = RTLModel(comb, DA4ML_TOP, rtl_dir, flavor="verilog")  # combinational
    model.write()
    write_s = time.perf_counter() - t1
    kifs_out = np.asarray(comb.out_kifs)
    return {
        "files": sorted(str(p.relative_to(rtl_dir)) for p in (rtl_dir / "src").rglob("*.v")),
        "estimated_cost": float(comb.cost),
        "latency_estimate": [float(v) for v in comb.latency],
        "out_bits": int(kifs_out.sum()),
        "checked_vectors": int(len(X)),
        "trace_seconds": round(trace_s, 3),
        "write_seconds": round(write_s, 3),
    }


def synth_verilog(rtl_dir: Path, work: Path, noabc: bool = False) -> dict:
    """da4ml's Verilog through lognet's Yosys script (no keep_hierarchy: one flat module)."""
    from lognet.boards.report import cell_summary, load_json, module_cells
    from lognet.boards.synth import TARGETS, yosys_synth_command
    from lognet.boards.tools import ToolFailed, run_tool

    family = TARGETS[TARGET].family
    src = rtl_dir / "src"
    # Only the library modules the design instantiates (lookup_table.v, unused here, reads a
    # memory file at elaboration); main module last; paths relative to the Yosys folder.
    main_v = src / f"{DA4ML_TOP}.v"
    text = main_v.read_text()
    files = [f for f in sorted((src / "static").glob("*.v"))
             if re.search(rf"\b{f.stem}\s*#", text)] + [main_v]
    reads = [f"read_verilog -sv {Path('..', rtl_dir.name, f.relative_to(rtl_dir))}"
             for f in files]
    work.mkdir(parents=True, exist_ok=True)

    def script(cmd: str) -> str:
        return "\n".join([*reads, f"hierarchy -top {DA4ML_TOP}", "proc", "splitnets", cmd,
                          "tee -q -o stat.json stat -json", ""])

    mapper, seconds, attempts = ("yosys (-noabc)" if noabc else "abc9"), 0.0, []
    # the same fallback as synth_core on iCE40 (or -noabc alone when asked)
    for no in ((True,) if noabc else (False, True)):
        tag = "noabc" if no else "abc9"
        cmd = yosys_synth_command(family, DA4ML_TOP, dsp=False, noabc=no)
        (work / f"synth-{tag}.ys").write_text(script(cmd))
        (work / "stat.json").unlink(missing_ok=True)
        # Step name != the -l log's name: run_tool writes <step>.log with the captured output.
        y = run_tool(f"run-{tag}", "yosys", ["-q", "-l", f"yosys-{tag}.log", "-s",
                                              f"synth-{tag}.ys"], work)
        seconds += y.seconds
        attempts.append({"mapper": tag, "returncode": y.returncode,
                         "seconds": round(y.seconds, 3), "log": f"yosys-{tag}.log",
                         "last_line": y.tail(1).strip()})
        if y.returncode == 0:
            break
        mapper = "yosys (-noabc)"
    stat = load_json(work / "stat.json")
    if y.returncode != 0 or stat is None:
        raise ToolFailed(f"yosys failed on da4ml's Verilog ({y.tail(1).strip()}); see "
                         f"{work}/yosys-*.log")
    mods = module_cells(stat)
    if set(mods) != {DA4ML_TOP}:
        raise ToolFailed(f"expected one flattened module {DA4ML_TOP}, got {sorted(mods)}")
    cells = mods[DA4ML_TOP]
    return {"cells": cell_summary(family, cells), "cells_by_type": cells, "mapper": mapper,
            "yosys_seconds": round(seconds, 3), "synth_command": cmd, "attempts": attempts}


# -- lognet ------------------------------------------------------------------------------------

def lognet_row(layer, mode: str, work: Path, noabc: bool = False) -> dict:
    from lognet.boards.synth import synth_core
    from lognet.hw.arch import resolve_arch
    from lognet.hw.export import build_core
    from lognet.model.arch import Arch, SpecError

    spec = layer.with_arch(Arch.parse("parallel", arith=mode, tunable="none"))
    try:
        resolve_arch(spec)
    except SpecError as e:
        return {"design": f"lognet {mode}", "status": "skipped", "reason": str(e)}
    t0 = time.perf_counter()
    r = synth_core(lambda: build_core(spec), TARGET, None, work, place=False, dsp=False,
                   noabc=noabc)
    return {"design": f"lognet {mode}", "status": r.status, **r.cells.core.to_json(),
            "wall_s": round(time.perf_counter() - t0, 1), "mapper": r.mapper,
            "cells_by_type": r.cells_by_type["core"], "steps": [s.to_json() for s in r.steps]}


# -- report ------------------------------------------------------------------------------------

def table(rows: list[dict]) -> str:
    head = f"{'design':<22} {'LUT4':>7} {'carry':>7} {'FF':>6} {'DSP':>4} {'wall s':>7}  mapper"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["status"] == "skipped":
            lines.append(f"{r['design']:<22} skipped: {r['reason']}")
            continue
        lines.append(f"{r['design']:<22} {r['lut4']:>7,} {r['carry']:>7,} {r['ff']:>6,} "
                     f"{r['dsp']:>4} {r['wall_s']:>7.1f}  {r['mapper']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default=",".join(MODES),
                    help="lognet arithmetic modes, comma-separated (default: all four)")
    ap.add_argument("--mapper", default="abc9", choices=["abc9", "noabc"],
                    help="LUT mapper for both designs: ABC9 (default; Yosys' own mapper as the "
                         "fallback) or Yosys' own mapper only (-noabc), for when ABC9 takes too "
                         "long on da4ml's flat combinational netlist")
    ap.add_argument("--build", type=Path, default=ROOT / "build" / "da4ml-peer",
                    help="work folder (not under /tmp: YoWASP cannot use it)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                    "da4ml_peer.json")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    try:
        import da4ml
    except ImportError:
        print("da4ml is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from lognet.boards.tools import run_tool
    from lognet.hw.arch import resolve_arch

    build = args.build.resolve()
    build.mkdir(parents=True, exist_ok=True)
    layer, W = digits_layer()
    print(f"layer {layer.name}: {layer.n_out}x{layer.n_in}, K={layer.K}, levels {layer.levels}, "
          f"{int(np.count_nonzero(W))} non-zero weights, |w| <= {int(np.abs(W).max())}")

    rows = []
    t0 = time.perf_counter()
    da = da4ml_verilog(W, build / "da4ml_rtl")
    print(f"da4ml: model bit-exact against Wint @ x on {da['checked_vectors']} vectors; "
          f"estimated cost {da['estimated_cost']:.0f}; Verilog in {build / 'da4ml_rtl'}")
    noabc = args.mapper == "noabc"
    syn = synth_verilog(build / "da4ml_rtl", build / "da4ml", noabc=noabc)
    rows.append({"design": "da4ml 0.6 (comb)", "status": "synthesised", **syn["cells"],
                 "wall_s": round(time.perf_counter() - t0, 1), "mapper": syn["mapper"],
                 "cells_by_type": syn["cells_by_type"],
                 "steps": [{"step": "trace+solve", "seconds": da["trace_seconds"]},
                           {"step": "write", "seconds": da["write_seconds"]},
                           {"step": "yosys", "seconds": syn["yosys_seconds"]}]})
    print(table(rows[-1:]).splitlines()[-1], flush=True)
    for mode in modes:
        rows.append(lognet_row(layer, mode, build / f"lognet-{mode}", noabc=noabc))
        print(table(rows[-1:]).splitlines()[-1], flush=True)

    built = [r for r in rows[1:] if r["status"] != "skipped"]
    best = min(built, key=lambda r: r["lut4"]) if built else None
    met = best is not None and best["lut4"] <= rows[0]["lut4"]
    verdict = ("no lognet mode was built" if best is None else
               f"{'MET' if met else 'NOT MET'}: best lognet (tunable=none, K=8) is "
               f"{best['design']} with {best['lut4']:,} LUT4 vs da4ml {rows[0]['lut4']:,} LUT4 "
               f"({best['lut4'] / rows[0]['lut4']:.2f}x)")
    notes = [
        f"LUT4/carry/FF/DSP: Yosys cells after synth_ice40 (no DSP, not placed), LUTs mapped "
        f"by {'Yosys -noabc' if noabc else 'ABC9'} for both designs.",
        "lognet counts only its core module (synth_core cells.core); the core also adds the "
        "bias, ReLU and 8-bit requantisation, and includes the stream handshake, input/output "
        "pipeline registers and the configuration bus.",
        "da4ml counts its whole flattened module: the combinational matrix-vector product only "
        f"(no bias, no activation, no registers; {da['out_bits']} exact output bits vs "
        f"lognet's {layer.n_out * layer.out_fmt.width}).",
        "wall s: generation + Yosys for each design (da4ml: trace/solve + write + Yosys).",
    ]
    print()
    print(table(rows))
    print()
    for n in notes:
        print("note:", n)
    print(f"target (lognet tunable=none at K=8 uses no more LUTs than da4ml): {verdict}")

    ver = run_tool("version", "yosys", ["-V"], build)
    result = {
        "kind": "da4ml_peer",
        "target": TARGET,
        "mapper": args.mapper,
        "yosys": ver.log.strip(),
        "da4ml_version": da4ml.__version__,
        "layer": {"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "K": layer.K,
                  "levels": list(layer.levels), "in_fmt": "unsigned 8-bit integer",
                  "activation": layer.activation.value,
                  "auto_arith": resolve_arch(layer).arch.arith.value,
                  "weights_sha256": hashlib.sha256(W.astype("<i8").tobytes()).hexdigest()},
        "da4ml": da | {"synth_command": syn["synth_command"], "yosys_attempts": syn["attempts"],
                       "verified": "CombLogic.predict == Wint @ x"},
        "rows": rows,
        "target_met": met,
        "verdict": verdict,
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
