"""The board top's Verilog (core + protocol bridge + UART, :class:`lognet.boards.top.UARTTop`)
in Verilator or Icarus, driven end to end by the host driver through a UART model
(:mod:`lognet.sim.tb_board`): the protocol tested on the RTL a board runs, without a board.

    result = run_board_sim(spec, simulator="icarus", vectors=4, build_dir="build/board-sim")

The build goes through :func:`lognet.sim.build.cached_build` (cached and locked like a core's).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError
from lognet.boards.uart import SIM_DIVISOR
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import dump_spec, dumps_spec

from .build import _hw_digest, cached_build, check_simulator, verilog_for
from .results import BoardSimResult
from .tbconfig import CONFIG_ENV, BoardTbConfig

__all__ = ["TOP", "run_board_sim"]

TOP = "lognet_uart_top"


def _boards_digest() -> str:
    """Hash of the board top's source (bridge, UART, top), so a changed top rebuilds."""
    import lognet.boards

    h = hashlib.sha256()
    for p in sorted(Path(lognet.boards.__file__).parent.glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _write_top(spec, divisor: int):
    """The ``write_verilog`` of :func:`~lognet.sim.build.cached_build` for the UART top."""

    def write(b) -> dict:
        from amaranth.back import verilog

        from lognet.boards.top import UARTTop
        from lognet.hw.export import build_core

        text = verilog.convert(UARTTop(build_core(spec), divisor), name=TOP, emit_src=False)
        b.verilog.write_text(verilog_for(b.simulator, text))
        return {"divisor": divisor}

    return write


def run_board_sim(spec, *, simulator: str = "icarus", vectors: int = 4, seed: int = 0,
                  divisor: int = SIM_DIVISOR, build_dir="build/board-sim",
                  corrupt_reference: bool = False) -> BoardSimResult:
    """Load two weight sets into the simulated board top with the host driver, infer
    ``vectors`` random vectors under each, and compare with the integer reference.

    Returns a :class:`~lognet.sim.results.BoardSimResult`: ``passed``, ``error`` (one line or
    None), ``words``, ``sets`` and ``vectors`` done, bytes each way, ``build_seconds`` and
    ``run_seconds``. ``corrupt_reference`` makes the expected outputs wrong by one: the run
    must then fail (the mutation check).
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from lognet.hw.arch import resolve_spec

    from .weightsets import perturbed_weights

    if not isinstance(spec, (LayerSpec, NetworkSpec)):
        raise InputError("run_board_sim needs a LayerSpec or a NetworkSpec")
    check_simulator(simulator)
    spec = resolve_spec(spec)
    build = cached_build(build_dir, simulator, TOP,
                         [dumps_spec(spec), _hw_digest(), _boards_digest(),
                          f"divisor={divisor}"], _write_top(spec, divisor))
    runs = build.root / "runs"
    runs.mkdir(exist_ok=True)
    rdir = Path(tempfile.mkdtemp(prefix=f"s{seed}-n{vectors}-", dir=runs))
    fmt = spec.in_fmt
    X = np.random.default_rng(seed).integers(fmt.min_int, fmt.max_int + 1, (vectors, spec.n_in))
    np.save(rdir / "x.npy", X)
    dump_spec(spec, rdir / "spec.json")
    dump_spec(perturbed_weights(spec, seed + 1), rdir / "set1.json")
    cfg = BoardTbConfig(spec_path=str(rdir / "spec.json"), vectors=str(rdir / "x.npy"),
                        weight_sets=(str(rdir / "spec.json"), str(rdir / "set1.json")),
                        results=str(rdir / "results.json"), divisor=divisor,
                        corrupt=corrupt_reference)
    cfg.write(rdir / "config.json")
    xml = rdir / "results.xml"
    t0 = time.perf_counter()
    error = None
    try:
        get_runner(simulator).test(
            test_module="lognet.sim.tb_board", hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
            build_dir=build.sim_build, test_dir=rdir, timescale=("1ns", "1ps"),
            extra_env={CONFIG_ENV: str(rdir / "config.json")}, results_xml=str(xml),
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
    return BoardSimResult(passed=error is None, error=error, simulator=simulator, **done,
                          build_seconds=build.seconds, run_seconds=run_seconds,
                          run_dir=str(rdir))
