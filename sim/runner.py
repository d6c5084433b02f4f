"""Build and run the cocotb testbench on a generated core in Verilator or Icarus.

``run_sim(spec, simulator=..., vectors=N)`` generates the Verilog (:mod:`lognet.hw.export`),
builds it with ``cocotb_tools.runner`` in a build folder keyed by the core and the simulator
(reused by later runs; never inside the source tree unless asked), runs the scenarios of
:mod:`lognet.sim.scenarios` as cocotb tests, and returns a summary: vectors checked, mismatches
(the first one named), vectors per second of simulation (build excluded), build and run wall
times, and the waveform path when asked, as a :class:`~lognet.sim.results.SimResult`.
:func:`summary_text` renders it for a terminal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import load_spec

from .build import SIMULATORS, check_simulator, prepare_build
from .results import ScenarioResult, SimResult
from .scenarios import SCENARIOS
from .tbconfig import TbConfig

__all__ = ["SCENARIOS", "SIMULATORS", "check_simulator", "run_sim", "summary_text"]

#: what ``scenario="all"`` runs, in this order, in one simulation
ALL = ("random", "extremes", "reprogram", "reset", "backpressure")


def _scenarios(scenario) -> list[str]:
    names = scenario.split(",") if isinstance(scenario, str) else list(scenario)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return list(ALL)
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        raise InputError(f"unknown scenario {', '.join(bad) or '(none)'}; use one or more of "
                         f"{', '.join(ALL)}, or all")
    return names


def _vectors(spec, n: int, seed: int) -> np.ndarray:
    fmt = spec.in_fmt
    rng = np.random.default_rng(seed)
    X = rng.integers(fmt.min_int, fmt.max_int + 1, (n, spec.n_in), dtype=np.int64)
    return X.astype(np.int32) if fmt.width < 32 else X


def run_sim(spec, simulator: str = "verilator", vectors: int = 1000, seed: int = 0,
            waves: bool = False, build_dir="build/sim", scenario="reprogram",
            corrupt_reference: bool = False, *, p_valid: float = 0.8, p_ready: float = 0.8,
            wishbone: bool = False, inputs=None, weight_sets=(),
            progress: bool | None = None) -> SimResult:
    """Simulate ``spec`` (a LayerSpec, a NetworkSpec, or a path to its JSON) and compare every
    output with the integer reference.

    Parameters
    ----------
    simulator:
        ``"verilator"`` or ``"icarus"``.
    vectors:
        Random input vectors per scenario (``extremes`` uses at most 64 per weight set).
    scenario:
        A name from :data:`lognet.sim.scenarios.SCENARIOS`, a comma-separated list, or
        ``"all"``; the default streams with stalls and reprograms mid-stream.
    waves:
        Record a waveform and return its path: FST (Verilator falls back to VCD when the C++
        compiler lacks ``lz4.h``; ``waves_note`` then says so).
    build_dir:
        Folder for builds and runs; a build is reused while the core is unchanged.
    corrupt_reference:
        Compare against a reference with one level off by one LSB: every run must then fail
        (the mutation check).
    p_valid, p_ready:
        Per-cycle probabilities of offering an input and of accepting an output.
    wishbone:
        Drive the configuration through the Wishbone B4 front (:mod:`lognet.hw.wishbone`).
    inputs:
        Integer input vectors (N, n_in) to stream instead of random ones (``vectors`` is then
        ignored); the ``random`` scenario's outputs come back as ``result.outputs`` (an
        int64 array, one row per input row).
    weight_sets:
        Further weight sets of the core (specs, e.g. ``lognet tune`` results) for the
        ``retune`` scenario, which writes each mid-stream as only the words that change.
    progress:
        A bar per scenario of outputs checked, on standard error (None: when standard error
        is a terminal).

    Returns
    -------
    SimResult
        (:mod:`lognet.sim.results`, also written as the run folder's ``summary.json``)
        ``passed``, ``simulator``, ``top``, ``scenarios``, ``vectors``, ``checked``,
        ``dropped_by_reset``, ``mismatches``, ``first_mismatch`` (text) and
        ``first_mismatch_detail`` (dict), ``cycles``, ``sim_seconds``, ``vectors_per_second``
        (checked vectors per second of simulation, build and start-up excluded),
        ``build_seconds``, ``build_cached``, ``run_seconds`` (wall time of the simulator
        process), ``wall_seconds`` (the whole call), ``waves`` (path or None), ``build_dir``,
        ``run_dir``, ``per_scenario`` (each scenario's own counts), ``error`` (None, or one
        line when the simulation did not complete).
    """
    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    if not isinstance(spec, (LayerSpec, NetworkSpec)):
        raise InputError("run_sim needs a LayerSpec, a NetworkSpec or a spec JSON path")
    if int(vectors) < 1:
        raise InputError(f"--vectors must be >= 1 (got {vectors})")
    names = _scenarios(scenario)
    check_simulator(simulator)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    t_start = time.perf_counter()
    build = prepare_build(spec, simulator, build_dir, waves=waves, wishbone=wishbone)
    runs = build.root / "runs"
    runs.mkdir(exist_ok=True)
    rdir = Path(tempfile.mkdtemp(prefix=f"{'-'.join(names)}-s{seed}-n{vectors}-", dir=runs))
    if inputs is not None:
        from lognet.model.reference import check_inputs

        try:
            X = check_inputs(spec, inputs)
        except ValueError as e:
            raise InputError(f"inputs: {e}") from None
        vectors = len(X)
    else:
        X = _vectors(spec, int(vectors), seed)
    np.save(rdir / "x.npy", X)
    shutil.copyfile(build.spec_path, rdir / "spec.json")  # the run folder stands on its own
    TbConfig(spec_path=str(rdir / "spec.json"), vectors=str(rdir / "x.npy"), top=build.top,
             seed=seed, p_valid=p_valid, p_ready=p_ready, corrupt=corrupt_reference,
             wishbone=wishbone, cycles_per_vector=build.cycles_per_vector,
             latency=build.latency, results=str(rdir / "results.json"),
             outputs=str(rdir / "y.npy"),
             weight_sets=tuple(_dump_sets(weight_sets, rdir)),
             progress=str(rdir / "progress.txt") if show else None).write(rdir / "config.json")

    with _ProgressBar(rdir / "progress.txt", build.simulator, show):
        run_seconds, error = _run(build, names, rdir, waves)
    summary = _summary(build, names, rdir, waves, error, vectors=int(vectors),
                       run_seconds=run_seconds, wall_seconds=time.perf_counter() - t_start,
                       corrupted_reference=corrupt_reference, wishbone=wishbone, seed=seed)
    (rdir / "summary.json").write_text(json.dumps(summary.to_json(), indent=1) + "\n")
    if (rdir / "y.npy").exists():
        summary = dataclasses.replace(summary,
                                      outputs=np.load(rdir / "y.npy", allow_pickle=False))
    return summary


class _ProgressBar:
    """While the simulator runs, a thread follows the bench's progress file (``scenario
    checked total``) with a tqdm bar, one per scenario."""

    def __init__(self, path: Path, simulator: str, show: bool):
        self.path, self.simulator, self.show = path, simulator, show
        self.stop = threading.Event()
        self.thread = None

    def __enter__(self):
        if self.show:
            self.thread = threading.Thread(target=self._follow, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.thread is not None:
            self.stop.set()
            self.thread.join()

    def _follow(self) -> None:
        from tqdm import tqdm

        bar, name = None, None
        while True:
            stopping = self.stop.wait(0.25)
            try:
                scen, n, total = self.path.read_text().split()
                n, total = int(n), int(total)
            except (OSError, ValueError):
                scen = None
            if scen is not None:
                if scen != name:
                    if bar is not None:
                        bar.close()
                    name = scen
                    bar = tqdm(total=total, desc=f"{self.simulator} {scen}", unit="vec",
                               file=sys.stderr, leave=False, dynamic_ncols=True)
                bar.total = max(total, n)
                bar.update(n - bar.n)
            if stopping:
                break
        if bar is not None:
            bar.close()


def _dump_sets(sets, rdir: Path) -> list[str]:
    from lognet.model.specjson import dump_spec

    paths = []
    for i, ws in enumerate(sets):
        p = rdir / f"set{i + 1}.json"
        dump_spec(load_spec(ws) if isinstance(ws, (str, os.PathLike)) else ws, p)
        paths.append(str(p))
    return paths


def _run(build, names, rdir: Path, waves: bool) -> tuple[float, str | None]:
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    runner = get_runner(build.simulator)
    xml = rdir / "results.xml"
    plusargs = [f"+dumpfile_path={rdir / (build.top + '.fst')}"] if (
        waves and build.simulator == "icarus") else []
    test_args = ["--trace-file", str(rdir / f"{build.top}.{build.waves_format}")] if (
        waves and build.simulator == "verilator") else []
    t0 = time.perf_counter()
    error = None
    try:
        runner.test(test_module="lognet.sim.tb_core", hdl_toplevel=build.top,
                    hdl_toplevel_lang="verilog", build_dir=build.sim_build, test_dir=rdir,
                    testcase=[SCENARIOS[n][0] for n in names], timescale=("1ns", "1ps"),
                    extra_env={"LOGNET_TB_CONFIG": str(rdir / "config.json")}, waves=waves,
                    plusargs=plusargs, test_args=test_args, results_xml=str(xml),
                    log_file=rdir / "sim.log")
    except (SystemExit, subprocess.CalledProcessError) as e:
        # under pytest the runner exits non-zero on a failing test; results.xml says more
        code = getattr(e, "code", getattr(e, "returncode", 1))
        if not xml.exists():
            error = f"the simulator stopped (exit {code}) before any result; see {rdir}/sim.log"
    seconds = time.perf_counter() - t0
    if error is None:
        try:
            ntests, nfail = get_results(xml)
        except (RuntimeError, OSError):
            error = f"no readable results.xml; see {rdir}/sim.log"
        else:
            if ntests < len(names):
                error = f"only {ntests} of {len(names)} scenarios ran; see {rdir}/sim.log"
    return seconds, error


def _summary(build, names, rdir: Path, waves: bool, error: str | None, **run) -> SimResult:
    try:
        per = {k: ScenarioResult.from_json(v)
               for k, v in json.loads((rdir / "results.json").read_text()).items()}
    except (OSError, ValueError, TypeError, KeyError):
        per = {}
    missing = [n for n in names if n not in per]
    if missing and error is None:
        error = f"no result from scenario {', '.join(missing)}; see {rdir}/sim.log"
    rows = [per[n] for n in names if n in per]
    first = next((r for r in rows if r.first_mismatch), None)
    errors = [f"{r.scenario}: {r.error}" for r in rows if r.error and not r.first_mismatch]
    if errors and error is None:
        error = errors[0]
    checked = sum(r.checked for r in rows)
    sim_s = sum(r.sim_seconds for r in rows)
    mism = sum(r.mismatches for r in rows)
    wave_file, note = None, None
    if waves:
        found = sorted(rdir.glob("*.fst")) + sorted(rdir.glob("*.vcd"))
        wave_file = str(found[0]) if found else None
        if build.waves_format == "vcd":
            note = ("Verilator writes FST only with lz4.h (apt-get install liblz4-dev); this "
                    "run wrote VCD")
    return SimResult(
        passed=error is None and mism == 0 and not missing,
        simulator=build.simulator, top=build.top, scenarios=tuple(names),
        checked=checked, dropped_by_reset=sum(r.dropped_by_reset for r in rows),
        mismatches=mism,
        first_mismatch=first.first_mismatch if first else None,
        first_mismatch_detail=first.first_mismatch_detail if first else None,
        cycles=sum(r.cycles for r in rows), sim_seconds=sim_s,
        vectors_per_second=checked / sim_s if sim_s > 0 else None,
        commits=sum(r.commits for r in rows),
        build_seconds=build.seconds, build_cached=build.cached,
        build_dir=str(build.root), run_dir=str(rdir), waves=wave_file,
        per_scenario=per, error=error, waves_note=note, **run)


def summary_text(s: SimResult) -> str:
    """A few lines for a terminal: verdict, counts, speed, times, the first mismatch."""
    verdict = "PASS" if s.passed else "FAIL"
    vps = s.vectors_per_second
    lines = [
        f"{verdict}  {s.top} in {s.simulator}, scenarios {', '.join(s.scenarios)}",
        f"  vectors checked {s.checked}, mismatches {s.mismatches}, discarded by reset "
        f"{s.dropped_by_reset}, commits {s.commits}",
        f"  {vps:,.0f} vectors/s ({s.cycles} cycles in {s.sim_seconds:.2f} s); build "
        f"{s.build_seconds:.1f} s{' (cached)' if s.build_cached else ''}, run "
        f"{s.run_seconds:.1f} s" if vps else f"  build {s.build_seconds:.1f} s, run "
        f"{s.run_seconds:.1f} s",
    ]
    if s.first_mismatch:
        lines.append(f"  {s.first_mismatch}")
    if s.error:
        lines.append(f"  error: {s.error}")
    if s.waves:
        lines.append(f"  waves: {s.waves}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    res = run_sim(sys.argv[1], simulator=sys.argv[2] if len(sys.argv) > 2 else "verilator")
    print(summary_text(res))
    raise SystemExit(0 if res.passed else 1)
