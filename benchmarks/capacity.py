"""Calibration of the resource plan (:mod:`lognet.hw.plan`) against Yosys, and its error.

    python benchmarks/capacity.py [--jobs 2] [--timeout 900] [--fit-only] [--only TEXT]
                                  [--cache benchmarks/results/capacity_synth.json]
                                  [--out benchmarks/results/capacity.json]

Each configuration (sizes, arithmetic modes, tunability tiers, lanes, dense and sparse
topologies, both target families, with and without DSPs) is synthesised out of context with
:func:`lognet.boards.synth.synth_core` (``place=False``: Yosys only, as ``benchmarks/area.py``
measures area). Raw cell counts land in the cache JSON, keyed by configuration, with a digest of
the core's RTLIL: a rerun synthesises only what is new or whose generated hardware changed
(``--fit-only`` uses the cache as it is). The LUT4 and FF models of the plan are then fitted by
non-negative least squares on the plan's own features (:func:`lognet.hw.plan.logic_features`),
one set of coefficients per family; the script prints them as the Python block that
``hw/plan.py`` stores, the estimate against Yosys per configuration with its error, the memory
blocks the plan predicts against those Yosys used, and the time ``lognet plan`` takes on a
512x512 layer. Writes JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from area import layer as dense_layer  # noqa: E402  (the benchmarks' shared layer maker)

from lognet.model.arch import Arch  # noqa: E402
from lognet.model.qformat import QFormat  # noqa: E402
from lognet.model.spec import LayerSpec  # noqa: E402

FAMILY_TARGET = {"ice40": "ice40-up5k", "ecp5": "ecp5-85k"}


@dataclass(frozen=True)
class Config:
    n_in: int
    n_out: int
    arch: str  # folded | parallel
    lanes: int
    arith: str
    tunable: str
    family: str  # ice40 | ecp5
    dsp: bool = False
    #: connections per output (None: dense)
    fanin: int | None = None

    @property
    def name(self) -> str:
        top = f"fanin{self.fanin}" if self.fanin else "dense"
        return (f"{self.n_in}x{self.n_out} {self.arch}:{self.lanes} {self.arith}/{self.tunable} "
                f"{top} {self.family}{' dsp' if self.dsp else ''}")


def _c(shape, arch, lanes, arith, tunable, family, dsp=False, fanin=None) -> Config:
    n_in, n_out = shape
    return Config(n_in, n_out, arch, lanes, arith, tunable, family, dsp, fanin)


F, P = "folded", "parallel"
#: the calibration set: about 70 minutes of Yosys on two busy shared cores
CONFIGS = [
    # folded, iCE40: lanes, modes, tiers, sizes
    _c((16, 8), F, 4, "shared", "all", "ice40"),
    _c((32, 16), F, 2, "shared", "all", "ice40"),
    _c((32, 10), F, 2, "shared", "all", "ice40"),
    _c((64, 32), F, 4, "shared", "all", "ice40"),
    _c((64, 32), F, 8, "shared", "all", "ice40"),
    _c((64, 32), F, 16, "shared", "all", "ice40"),
    _c((64, 32), F, 8, "factored", "all", "ice40"),
    _c((64, 32), F, 8, "shift", "all", "ice40"),
    _c((64, 32), F, 8, "multiply", "all", "ice40"),
    _c((64, 32), F, 8, "shared", "levels", "ice40"),
    _c((64, 32), F, 8, "shared", "none", "ice40"),
    _c((128, 64), F, 8, "shared", "all", "ice40"),
    _c((256, 32), F, 4, "shared", "levels", "ice40"),
    _c((64, 32), F, 8, "shared", "all", "ice40", dsp=True),
    _c((64, 32), F, 8, "shared", "all", "ice40", fanin=16),
    _c((128, 32), F, 4, "shift", "levels", "ice40", fanin=32),
    # folded, ECP5
    _c((64, 32), F, 8, "shared", "all", "ecp5"),
    _c((64, 32), F, 16, "shared", "all", "ecp5"),
    _c((64, 32), F, 8, "factored", "all", "ecp5"),
    _c((64, 32), F, 8, "shift", "all", "ecp5"),
    _c((64, 32), F, 8, "multiply", "all", "ecp5"),
    _c((128, 64), F, 8, "shared", "levels", "ecp5"),
    _c((256, 64), F, 32, "shift", "all", "ecp5"),
    _c((64, 32), F, 8, "multiply", "all", "ecp5", dsp=True),
    _c((32, 16), F, 4, "shared", "none", "ecp5"),
    # a second round: every mode at a second size and tier
    _c((32, 16), F, 4, "factored", "levels", "ice40"),
    _c((128, 32), F, 4, "shift", "all", "ice40"),
    _c((32, 16), F, 4, "multiply", "none", "ice40"),
    _c((64, 32), F, 4, "shared", "none", "ice40"),
    _c((32, 16), F, 4, "factored", "levels", "ecp5"),
    _c((128, 32), F, 8, "shift", "levels", "ecp5"),
    _c((64, 32), F, 4, "multiply", "none", "ecp5"),
    _c((128, 64), F, 16, "shared", "all", "ecp5"),
    _c((64, 32), F, 8, "shared", "all", "ecp5", fanin=16),
    # parallel
    _c((16, 4), P, 1, "shift", "all", "ice40"),
    _c((16, 4), P, 1, "factored", "levels", "ice40"),
    _c((8, 4), P, 1, "shared", "none", "ice40"),
    _c((16, 4), P, 1, "multiply", "none", "ecp5"),
    _c((16, 4), P, 1, "shift", "levels", "ecp5"),
    _c((8, 4), P, 1, "factored", "all", "ice40"),
    _c((8, 4), P, 1, "multiply", "none", "ice40"),
    _c((16, 8), P, 1, "shift", "levels", "ice40"),
    _c((8, 4), P, 1, "shared", "levels", "ecp5"),
    _c((16, 4), P, 1, "factored", "none", "ecp5"),
    _c((8, 4), P, 1, "shift", "all", "ecp5"),
]


def make_spec(c: Config) -> LayerSpec:
    """The configuration's layer: the formats of ``benchmarks/area.py`` (K = 8, 8-bit inputs,
    7-bit levels, 14-bit biases, ReLU, 8-bit outputs), dense or with ``fanin`` random sources
    per output."""
    spec = dense_layer(c.n_in, c.n_out, c.arch, c.lanes, c.arith, c.tunable)
    if c.fanin is None:
        return spec
    rng = np.random.default_rng(1)
    f = c.fanin
    return LayerSpec(
        name=spec.name + f"_fanin{f}", n_in=c.n_in, n_out=c.n_out, in_fmt=spec.in_fmt,
        level_fmt=spec.level_fmt, bias_fmt=QFormat(1, 13), out_fmt=spec.out_fmt,
        levels=spec.levels,
        sources=[sorted(rng.choice(c.n_in, f, replace=False).tolist()) for _ in range(c.n_out)],
        signs=rng.integers(0, 2, (c.n_out, f)), indices=rng.integers(0, spec.K, (c.n_out, f)),
        bias=spec.bias, activation="relu", arch=Arch(c.arch, c.lanes, c.arith, c.tunable))


def digest(spec: LayerSpec) -> str:
    """SHA-256 of the core's RTLIL: a cached figure is reused only for the same hardware."""
    from amaranth.back import rtlil

    from lognet.hw.export import build_core

    return hashlib.sha256(rtlil.convert(build_core(spec), emit_src=False).encode()).hexdigest()


def synth_one(c: Config, work: Path, timeout: float) -> dict:
    from lognet.boards.synth import synth_core
    from lognet.hw.export import build_core

    spec = make_spec(c)
    t0 = time.perf_counter()
    try:
        r = synth_core(lambda: build_core(spec), FAMILY_TARGET[c.family], None, work,
                       dsp=c.dsp, place=False, timeout=timeout)
    except Exception as e:  # a crashed or stopped tool is a result of the run, not its end
        return {"status": "error", "reason": str(e).splitlines()[0],
                "seconds": round(time.perf_counter() - t0, 1)}
    return {"status": r.status, "mapper": r.mapper, "core": r.cells.core.to_json(),
            "cells": r.cells_by_type["core"], "seconds": round(time.perf_counter() - t0, 1)}


def load_cache(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"benchmark": "capacity-synth", "runs": {}}


def save_cache(path: Path, cache: dict) -> None:
    from lognet.base.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cache, indent=1, sort_keys=True) + "\n")


def run_synth(configs, cache_path: Path, jobs: int, timeout: float) -> dict:
    import threading

    cache = load_cache(cache_path)
    todo = []
    for c in configs:
        d = digest(make_spec(c))
        old = cache["runs"].get(c.name)
        if old and old.get("digest") == d and old.get("status") != "error":
            continue
        todo.append((c, d))
    print(f"{len(configs) - len(todo)} configurations cached, {len(todo)} to synthesise",
          flush=True)
    lock = threading.Lock()
    Path("build").mkdir(exist_ok=True)  # not under /tmp: YoWASP maps its own /tmp

    def one(item):
        c, d = item
        work = Path("build/capacity") / hashlib.sha1(c.name.encode()).hexdigest()[:12]
        r = synth_one(c, work, timeout)
        r.update(config=asdict(c), digest=d)
        with lock:
            cache["runs"][c.name] = r
            save_cache(cache_path, cache)
        lut = r.get("core", {}).get("lut4")
        print(f"  {c.name:<48} {r['status']:<12} LUT4 {lut!s:>6}  {r['seconds']:>6.1f} s",
              flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, todo))
    return cache


#: per family: nextpnr, its device arguments, the logic-cell utilisation line, the model's terms
PACK = {
    "ice40": ("nextpnr-ice40", ["--up5k", "--package", "sg48"], "ICESTORM_LC",
              ("lut4", "ff")),
    "ecp5": ("nextpnr-ecp5", ["--85k", "--package", "CABGA381"], "TRELLIS_COMB",
             ("lut4", "lutram")),
}


def pack_logic_cells(configs, cache_path: Path) -> dict:
    """Logic cells of every cached run, from nextpnr ``--pack-only`` on its netlist (core and
    harness; seconds per run), kept in the cache: iCE40 ``ICESTORM_LC`` (a LUT4, an FF or
    both), fitted as ``a LUT4 + b FF``; ECP5 ``TRELLIS_COMB`` (LUT4s, carry halves, LUT RAM),
    fitted as ``a LUT4 + b DPR16X4`` (non-negative, relative errors)."""
    from lognet.boards.tools import run_tool

    cache = load_cache(cache_path)
    out = {}
    for family, (tool, dev_args, cell, terms) in PACK.items():
        pts = []
        for c in configs:
            r = cache["runs"].get(c.name)
            if c.family != family or not r or not r.get("core"):
                continue
            if "logic_cells" not in r:
                work = Path("build/capacity") / hashlib.sha1(c.name.encode()).hexdigest()[:12]
                if not (work / "netlist.json").exists():
                    continue
                run_tool("pack", tool, [*dev_args, "--json", "netlist.json", "--pack-only",
                                        "--log", "pack.log"], work, timeout=600)
                log = (work / "pack.log").read_text() if (work / "pack.log").exists() else ""
                found = [int(m.group(1)) for m in re.finditer(rf"{cell}:\s*(\d+)\s*/", log)]
                if not found:
                    continue
                r["logic_cells"] = found[0]
                r["total_cells"] = json.loads((work / "synth.json").read_text())["cells"]["total"]
                save_cache(cache_path, cache)
            t = r["total_cells"]
            pts.append((r["logic_cells"], *[t.get(k) or 0 for k in terms]))
        if not pts:
            continue
        y = np.array([p[0] for p in pts], float)
        X = np.array([p[1:] for p in pts], float)
        sol = _nnls(X, y)
        err = np.abs(X @ sol - y) / y
        print(f"{family} {cell} = {sol[0]:.3f} x {terms[0]} + {sol[1]:.3f} x {terms[1]} over "
              f"{len(y)} packed runs: mean |error| {100 * err.mean():.1f} %, max "
              f"{100 * err.max():.1f} %")
        out[family] = {"cell": cell, **{f"per_{k}": round(float(v), 3)
                                        for k, v in zip(terms, sol)}, "runs": len(y),
                       "mean_error": round(float(err.mean()), 4),
                       "max_error": round(float(err.max()), 4)}
    return out


# -- the fit --------------------------------------------------------------------------------------


def _rows(configs, cache, family, kind):
    return [(c, cache["runs"][c.name]) for c in configs
            if c.family == family and c.arch == kind and cache["runs"].get(c.name, {}).get("core")]


def _features(c: Config) -> list[float]:
    from lognet.hw import plan

    spec = make_spec(c)
    mems = plan.plan(spec, FAMILY_TARGET[c.family], dsp=c.dsp).layers[0].memories
    f = plan.logic_features(spec, c.family, c.dsp, memories=list(mems))
    return [f[n] for n in plan.FEATURES[c.arch]]


def _nnls(X, y):
    """Non-negative least squares on relative errors (each row divided by its measured value,
    so a small configuration weighs as much as a large one)."""
    from scipy.optimize import nnls

    w = 1 / np.maximum(y, 1)
    sol, _ = nnls(X * w[:, None], y * w)
    return sol


def fit(configs, cache: dict) -> tuple[dict, dict]:
    """LUT4 and FF coefficients per family and kind of build, and the leave-one-out estimate
    of every configuration (fitted without it: the error to expect on a design the fit has not
    seen)."""
    from lognet.hw import plan

    coefs, loo = {}, {}
    for family in ("ice40", "ecp5"):
        coefs[family] = {}
        for kind in ("folded", "parallel"):
            coefs[family][kind] = {"lut4": {}, "ff": {}}
            rows = _rows(configs, cache, family, kind)
            if not rows:
                continue
            X = np.array([_features(c) for c, _ in rows], dtype=float)
            for what in ("lut4", "ff"):
                y = np.array([r["core"][what] for _, r in rows], dtype=float)
                sol = _nnls(X, y)
                coefs[family][kind][what] = {n: round(float(v), 4)
                                             for n, v in zip(plan.FEATURES[kind], sol)
                                             if round(float(v), 4)}
                for i, (c, _) in enumerate(rows):
                    keep = np.arange(len(rows)) != i
                    est = float(X[i] @ _nnls(X[keep], y[keep])) if keep.sum() else float("nan")
                    loo.setdefault(c.name, {})[what] = round(est)
    return coefs, loo


def python_block(coefs: dict) -> str:
    lines = ["#: LUT4 and FF per logic feature (:func:`logic_features`), per family and kind of "
             "build, fitted",
             "#: by ``python benchmarks/capacity.py`` (non-negative least squares on Yosys runs)",
             "COEFFICIENTS: dict[str, dict[str, dict[str, dict[str, float]]]] = {"]
    for family, kinds in coefs.items():
        lines.append(f"    {family!r}: {{")
        for kind, by in kinds.items():
            lines.append(f"        {kind!r}: {{")
            for what, cs in by.items():
                body = ", ".join(f"{k!r}: {v}" for k, v in cs.items())
                lines.append(f"            {what!r}: {{{body}}},")
            lines.append("        },")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines)


def report(configs, cache: dict, loo: dict) -> list[dict]:
    from lognet.hw import plan

    rows = []
    print(f"{'configuration':<50} {'LUT4 est':>8} {'Yosys':>6} {'err':>6} {'LOO err':>7}   "
          f"{'FF est':>6} {'Yosys':>6} {'err':>6}   {'blocks':>6} {'Yosys':>5}  {'DSP':>3} "
          f"{'Yosys':>5}")
    for c in configs:
        r = cache["runs"].get(c.name)
        if not r or not r.get("core"):
            status = (r or {}).get("status", "not run")
            print(f"{c.name:<50} (no synthesis result: {status})")
            continue
        spec = make_spec(c)
        p = plan.plan(spec, FAMILY_TARGET[c.family], dsp=c.dsp)
        y = r["core"]
        est_lut, est_ff = p.total.lut4, p.total.ff
        blocks = p.total.blocks.get("ebr" if c.family == "ice40" else "dp16kd", 0)
        lutram = p.total.blocks.get("lutram", 0)
        e_lut = (est_lut - y["lut4"]) / y["lut4"]
        e_ff = (est_ff - y["ff"]) / max(y["ff"], 1)
        loo_lut = loo.get(c.name, {}).get("lut4")
        e_loo = (loo_lut - y["lut4"]) / y["lut4"] if loo_lut is not None else float("nan")
        row = {"config": c.name, **asdict(c), "lut4_estimate": est_lut, "lut4_yosys": y["lut4"],
               "lut4_error": round(e_lut, 4), "lut4_loo_estimate": loo_lut,
               "lut4_loo_error": round(e_loo, 4), "ff_estimate": est_ff, "ff_yosys": y["ff"],
               "ff_error": round(e_ff, 4), "bram_estimate": blocks, "bram_yosys": y["bram"],
               "lutram_estimate": lutram, "lutram_yosys": y.get("lutram"),
               "dsp_estimate": p.total.dsp, "dsp_yosys": y["dsp"],
               "synth_seconds": r["seconds"]}
        rows.append(row)
        print(f"{c.name:<50} {est_lut:>8} {y['lut4']:>6} {100 * e_lut:>5.1f}% "
              f"{100 * e_loo:>6.1f}%   {est_ff:>6} "
              f"{y['ff']:>6} {100 * e_ff:>5.1f}%   {blocks:>6} {y['bram']:>5}  "
              f"{p.total.dsp:>3} {y['dsp']:>5}")
    for kind in ("folded", "parallel", None):
        group = [r for r in rows if kind is None or r["arch"] == kind]
        if not group:
            continue
        what = f"{kind} builds" if kind else "all builds"
        for key, label in (("lut4_error", "fitted"), ("lut4_loo_error", "leave-one-out")):
            e = np.abs([r[key] for r in group])
            print(f"LUT4, {what}, {label}: mean |error| {100 * np.nanmean(e):.1f} %, max "
                  f"{100 * np.nanmax(e):.1f} %, {int(np.sum(e <= 0.15))} of {len(group)} "
                  f"within 15 %")
    blocks = [r for r in rows if r["arch"] == "folded"]
    same = sum(r["bram_estimate"] == r["bram_yosys"] for r in blocks)
    print(f"block RAMs: the plan's count equals Yosys' in {same} of {len(blocks)} folded builds")
    return rows


def plan_speed() -> dict:
    """Wall time of ``lognet plan`` on a 512x512 layer (K = 8, writable) and of the auto search,
    from a fresh interpreter (imports included)."""
    import subprocess
    import tempfile

    from lognet.hw import plan
    from lognet.model.quantise import random_layer_spec
    from lognet.model.specjson import dump_spec, load_spec

    out = {}
    with tempfile.TemporaryDirectory(dir="build") as tmp:
        path = Path(tmp) / "l512.json"
        dump_spec(random_layer_spec(512, 512, -3.0, 0.65, 8, arch=Arch("folded", 16)), path)
        t0 = time.perf_counter()
        spec = load_spec(path)
        t1 = time.perf_counter()
        plan.format_plan(plan.plan(spec, "ice40-up5k"))
        t2 = time.perf_counter()
        plan.auto_lanes(spec, "ice40-up5k")
        t3 = time.perf_counter()
        out["in_process"] = {"load_spec_s": round(t1 - t0, 3), "plan_s": round(t2 - t1, 3),
                             "auto_lanes_s": round(t3 - t2, 3)}
        print(f"512x512 in one process: loading the spec {t1 - t0:.2f} s, the plan "
              f"{t2 - t1:.2f} s, the auto search {t3 - t2:.2f} s")
        for label, extra in (("plan", []), ("plan --auto", ["--auto"])):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "lognet.cli", "plan", str(path),
                                "--target", "ice40-up5k", *extra], capture_output=True,
                               text=True, check=False)
            out[label] = {"seconds": round(time.perf_counter() - t0, 3), "exit": r.returncode}
            print(f"lognet {label} on a 512x512 layer: {out[label]['seconds']:.2f} s "
                  f"(exit {r.returncode})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="Yosys runs at once (default 2)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per Yosys run")
    ap.add_argument("--fit-only", action="store_true", help="no synthesis: fit the cache")
    ap.add_argument("--synth-only", action="store_true", help="synthesise, do not fit")
    ap.add_argument("--only", default="", help="keep configurations whose name contains this")
    ap.add_argument("--cache", default="benchmarks/results/capacity_synth.json")
    ap.add_argument("--out", default="benchmarks/results/capacity.json")
    args = ap.parse_args()
    configs = [c for c in CONFIGS if args.only in c.name]
    cache_path = Path(args.cache)
    if args.fit_only:
        cache = load_cache(cache_path)
    else:
        cache = run_synth(configs, cache_path, args.jobs, args.timeout)
    if args.synth_only:
        return 0
    cells = {} if args.fit_only else pack_logic_cells(configs, cache_path)
    if args.fit_only:  # what an earlier packing kept in the cache
        cells = pack_logic_cells([c for c in configs if "logic_cells" in
                                  cache["runs"].get(c.name, {})], cache_path)
    coefs, loo = fit(configs, cache)
    print(python_block(coefs))
    from lognet.hw import plan

    if any(plan.COEFFICIENTS.get(f) != coefs[f] for f in coefs):
        print("(hw/plan.py holds other coefficients: the table below uses the ones just "
              "fitted; paste the block above into hw/plan.py to make `lognet plan` use them)")
    plan.COEFFICIENTS.update(coefs)
    rows = report(configs, cache, loo)
    speed = plan_speed()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "capacity", "fitted": coefs, "logic_cells": cells,
                               "rows": rows, "plan_speed": speed}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
