"""The board top's Verilog (core + protocol bridge + UART, :class:`lognet.boards.top.UARTTop`)
in Verilator or Icarus, driven end to end by the host driver through a UART model
(:mod:`lognet.sim.tb_board`): the protocol tested on the RTL a board runs, without a board.

    summary = run_board_sim(spec, simulator="icarus", vectors=4, build_dir="build/board-sim")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import dump_spec, dumps_spec

from lognet.base.errors import InputError

from .build import _build_args, _hw_digest, _verilator_env, check_simulator, icarus_time0_fix

__all__ = ["TOP", "run_board_sim"]

TOP = "lognet_uart_top"


def _boards_digest() -> str:
    """Hash of the board top's source (bridge, UART, top), so a changed top rebuilds."""
    import lognet.boards

    h = hashlib.sha256()
    for p in sorted(Path(lognet.boards.__file__).parent.glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _build(spec, simulator: str, divisor: int, root: Path) -> float:
    """Verilog of the UART top and the simulator build, reused while nothing changed."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner
    from lognet.boards.top import UARTTop
    from lognet.hw.export import build_core

    stamp = root / "build.json"
    if stamp.exists():
        return 0.0
    text = verilog.convert(UARTTop(build_core(spec), divisor), name=TOP, emit_src=False)
    if simulator == "icarus":
        text = icarus_time0_fix(text)
    (root / f"{TOP}.v").write_text(text)
    env = _verilator_env() if simulator == "verilator" else contextlib.nullcontext()
    t0 = time.perf_counter()
    try:
        with env:
            get_runner(simulator).build(
                sources=[root / f"{TOP}.v"], hdl_toplevel=TOP, build_dir=root / "build",
                timescale=("1ns", "1ps"), build_args=_build_args(simulator, None),
                log_file=root / "build.log")
    except (SystemExit, RuntimeError, subprocess.CalledProcessError) as e:
        raise InputError(f"the {simulator} build of the board top failed ({e}); see "
                         f"{root / 'build.log'}") from None
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"build_seconds": seconds}) + "\n")
    return seconds


def run_board_sim(spec, *, simulator: str = "icarus", vectors: int = 4, seed: int = 0,
                  divisor: int = 4, build_dir="build/board-sim",
                  corrupt_reference: bool = False) -> dict:
    """Load two weight sets into the simulated board top with the host driver, infer
    ``vectors`` random vectors under each, and compare with the integer reference.

    Returns ``passed``, ``error`` (one line or None), ``words`` and ``vectors`` done,
    ``bytes_sent``, ``build_seconds`` and ``run_seconds``. ``corrupt_reference`` makes the
    expected outputs wrong by one: the run must then fail (the mutation check).
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner
    from lognet.hw.regmap import resolve_spec

    from .weightsets import perturbed_weights

    if not isinstance(spec, (LayerSpec, NetworkSpec)):
        raise InputError("run_board_sim needs a LayerSpec or a NetworkSpec")
    check_simulator(simulator)
    spec = resolve_spec(spec)
    key = hashlib.sha256("\n".join([dumps_spec(spec), _hw_digest(), _boards_digest(), simulator,
                                    f"divisor={divisor}"]).encode()).hexdigest()[:12]
    root = Path(build_dir).absolute() / f"{simulator}-{TOP}-{key}"
    root.mkdir(parents=True, exist_ok=True)
    build_seconds = _build(spec, simulator, divisor, root)
    runs = root / "runs"
    runs.mkdir(exist_ok=True)
    rdir = Path(tempfile.mkdtemp(prefix=f"s{seed}-n{vectors}-", dir=runs))
    fmt = spec.in_fmt
    X = np.random.default_rng(seed).integers(fmt.min_int, fmt.max_int + 1, (vectors, spec.n_in))
    np.save(rdir / "x.npy", X)
    dump_spec(spec, rdir / "spec.json")
    dump_spec(perturbed_weights(spec, seed + 1), rdir / "set1.json")
    cfg = {"spec": str(rdir / "spec.json"), "vectors": str(rdir / "x.npy"),
           "weight_sets": [str(rdir / "spec.json"), str(rdir / "set1.json")],
           "divisor": divisor, "corrupt": corrupt_reference,
           "results": str(rdir / "results.json")}
    (rdir / "config.json").write_text(json.dumps(cfg, indent=1))
    xml = rdir / "results.xml"
    t0 = time.perf_counter()
    error = None
    try:
        get_runner(simulator).test(
            test_module="lognet.sim.tb_board", hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
            build_dir=root / "build", test_dir=rdir, timescale=("1ns", "1ps"),
            extra_env={"LOGNET_TB_CONFIG": str(rdir / "config.json")}, results_xml=str(xml),
            log_file=rdir / "sim.log")
    except (SystemExit, subprocess.CalledProcessError):
        pass  # a failing test makes the runner exit under pytest; results.xml says more
    run_seconds = time.perf_counter() - t0
    try:
        ntests, nfail = get_results(xml)
    except (RuntimeError, OSError):
        ntests, nfail, error = 0, 1, f"no readable results.xml; see {rdir}/sim.log"
    done = {}
    if (rdir / "results.json").exists():
        done = json.loads((rdir / "results.json").read_text())
    if error is None and (ntests != 1 or nfail):
        # the testbench writes the failure as one line; the log is the fallback
        error = done.get("error") or f"the board-top test failed; see {rdir / 'sim.log'}"
    done.pop("error", None)
    return {"passed": error is None, "error": error, "simulator": simulator, **done,
            "build_seconds": build_seconds, "run_seconds": run_seconds, "run_dir": str(rdir)}
