"""Out-of-context synthesis and place-and-route of one core: area and Fmax as data.

The core goes behind :class:`~lognet.boards.wrapper.OOCWrapper` (a bare core has more I/O bits
than any package has pins), Yosys maps it for the target with the core kept as its own module so
its cells are counted apart from the harness's, nextpnr places and routes the whole thing and
reports utilisation and achieved Fmax. Everything lands in ``out_dir``; the returned
:class:`~lognet.boards.results.SynthResult` is also written there as ``synth.json``.

    result = synth_core(lambda: Layer(spec), "ice40-up5k", 48, "build/synth")
    print(format_table(result))
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from lognet.base.errors import InputError

from .report import (
    cell_summary,
    classify_nextpnr,
    format_table,
    load_json,
    module_cells,
    timing_summary,
    total_summary,
)
from .results import BelUse, CellCounts, Cells, CorePorts, Step, SynthFiles, SynthResult, Timing
from .tools import ToolFailed, find_tool, run_tool
from .wrapper import CORE_NAME, OOCWrapper, VerilogCore

__all__ = ["TARGETS", "Target", "format_table", "synth_core", "yosys_synth_command"]

TOP = "lognet_ooc"


@dataclass(frozen=True)
class Target:
    """An FPGA part as Yosys and nextpnr name it."""

    name: str
    family: str  # "ice40" | "ecp5"
    device: str
    package: str
    nextpnr_args: tuple[str, ...]
    default_clock_mhz: float

    @property
    def nextpnr(self) -> str:
        return f"nextpnr-{self.family}"

    @property
    def packer(self) -> str:
        return "icepack" if self.family == "ice40" else "ecppack"


TARGETS: dict[str, Target] = {
    "ice40-up5k": Target("ice40-up5k", "ice40", "iCE40UP5K", "SG48",
                         ("--up5k", "--package", "sg48"), 48.0),
    "ecp5-25k": Target("ecp5-25k", "ecp5", "LFE5U-25F", "CABGA381",
                       ("--25k", "--package", "CABGA381", "--speed", "6"), 100.0),
    "ecp5-85k": Target("ecp5-85k", "ecp5", "LFE5U-85F", "CABGA381",
                       ("--85k", "--package", "CABGA381", "--speed", "6"), 100.0),
}


def yosys_synth_command(family: str, top: str, *, dsp: bool, noabc: bool = False) -> str:
    """The ``synth_*`` command for a family. ``dsp`` lets Yosys use the DSP blocks; ``noabc``
    (iCE40 only) maps LUTs with Yosys' own mapper instead of ABC9."""
    if family == "ice40":
        return (f"synth_ice40 -top {top} -spram" + (" -dsp" if dsp else "")
                + (" -noabc" if noabc else ""))
    return f"synth_ecp5 -top {top}" + ("" if dsp else " -nodsp")


#: Yosys commands that free the memories of ``single_copy`` connection words from their power-on
#: contents on the iCE40 (SPRAM cannot be initialised by the bitstream; with the contents gone
#: Yosys may put them there): the host loads the words after configuration
SINGLE_COPY_ICE40 = "delete t:$meminit_v2 r:MEMID=*conn_single* %i"


def _yosys_script(reads: list[str], core_module: str, synth_cmd: str) -> str:
    # `proc; splitnets` before synthesis works around a Yosys assertion in ABC9 reintegration
    # on Amaranth netlists (YosysHQ/yosys#4349); keep_hierarchy keeps the core's cells apart.
    return "\n".join([
        *reads,
        f"hierarchy -top {TOP}",
        f"setattr -mod -set keep_hierarchy 1 {core_module}",
        "proc",
        *([SINGLE_COPY_ICE40] if synth_cmd.startswith("synth_ice40") else []),
        "splitnets",
        synth_cmd,
        "tee -q -o stat.json stat -json",
        "write_json netlist.json",
        "",
    ])


def _verilog_ports(path: Path, top: str | None, work: Path) -> tuple[str, dict[str, int]]:
    """Module name and port widths of a Verilog core, read by Yosys."""
    shutil.copyfile(path, work / "core.v")
    select = "" if top else "hierarchy -auto-top; "
    r = run_tool("ports", "yosys", ["-q", "-p", f"read_verilog -sv core.v; proc; {select}"
                                    "write_json -noscopeinfo ports.json"], work)
    doc = load_json(work / "ports.json")
    if r.returncode != 0 or doc is None:
        raise InputError(f"{path}: Yosys cannot read it as Verilog ({r.tail(1).strip()}); "
                         f"give a Verilog file exported by `lognet generate`")
    tops = [n for n, m in doc["modules"].items() if m.get("attributes", {}).get("top")]
    name = top or (tops[0] if tops else None)
    if name not in doc["modules"]:
        raise InputError(f"{path}: no module {top!r}; name the core's module with its top")
    widths = {p: len(v["bits"]) for p, v in doc["modules"][name]["ports"].items()}
    need = ["i_stream__payload", "o_stream__payload", "cfg__addr", "cfg__r_data"]
    missing = [p for p in need if p not in widths]
    if missing:
        raise InputError(f"{path}: module {name} lacks the ports {', '.join(missing)} of "
                         f"docs/interfaces.md; is it a lognet core?")
    return name, widths


def _make_core(core, work: Path, verilog_top: str | None):
    """``(core object, its module name in the synthesised design)``."""
    if isinstance(core, (str, Path)):
        path = Path(core)
        if not path.is_file():
            raise InputError(f"{path}: no such Verilog file")
        name, w = _verilog_ports(path, verilog_top, work)
        vc = VerilogCore(name, w["i_stream__payload"], w["o_stream__payload"], w["cfg__addr"])
        return vc, name, ["read_verilog -sv core.v"]
    if callable(core) and not hasattr(core, "elaborate"):
        core = core()
    if not hasattr(core, "i_stream") or not hasattr(core, "cfg"):
        raise InputError(f"{type(core).__name__} is not a lognet core (needs i_stream, "
                         f"o_stream and cfg ports as in docs/interfaces.md)")
    return core, f"{TOP}.{CORE_NAME}", []


def synth_core(core, target: str, clock_mhz: float | None, out_dir, *, dsp: bool = False,
               bitstream: bool = False, seed: int = 1, verilog_top: str | None = None,
               timeout: float | None = None, place: bool = True,
               noabc: bool = False, place_timeout: float | None = None) -> SynthResult:
    """Out-of-context synthesis and place-and-route of ``core`` for ``target``.

    Parameters
    ----------
    core:
        A zero-argument factory of a core Component, a core Component, or the path of an
        exported Verilog core (ports as in docs/interfaces.md; ``verilog_top`` names its module
        when the file holds several tops).
    target:
        ``ice40-up5k``, ``ecp5-25k`` or ``ecp5-85k``.
    clock_mhz:
        Requested clock (nextpnr ``--freq``); None uses the target's default.
    out_dir:
        Folder for every file of the run (created; files in it are overwritten).
    dsp:
        Let Yosys map multipliers to DSP blocks (iCE40 ``-dsp``; ECP5 ``-nodsp`` when False).
    bitstream:
        Also pack a bitstream (``.bin`` / ``.bit``); meaningless on a board, but proves the
        design routes completely.
    place:
        Run nextpnr. ``False`` stops after Yosys (cell counts only, ``status: synthesised``,
        no utilisation or Fmax): a quick area estimate for sweeps.
    timeout, place_timeout:
        Seconds each tool may run (None: no limit), and nextpnr's own limit when given. A
        place-and-route stopped at its limit is ``status: timed_out``, a result like
        ``does_not_fit``; a Yosys run stopped at it is a ToolFailed.
    noabc:
        iCE40 only: map LUTs with Yosys' own mapper (``-noabc``) from the start, instead of
        ABC9 with that mapper as the fallback (for designs ABC9 takes too long on).

    Returns
    -------
    SynthResult
        ``status`` (``ok``, ``timing_failed``, ``does_not_fit``, ``timed_out``, ``synthesised``),
        cell counts
        for the core, the harness and in total, nextpnr utilisation, Fmax per clock with
        pass/fail, wall time of each step and the file names (also written as ``synth.json``).
        A timing failure is a result, not an exception.

    Raises
    ------
    InputError
        Unknown target, bad clock, missing tool, an input that is not a core.
    ToolFailed
        Yosys or nextpnr crashed (not a timing or capacity verdict).
    """
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    tgt = TARGETS[target]
    clock = float(tgt.default_clock_mhz if clock_mhz is None else clock_mhz)
    if not clock > 0:
        raise InputError(f"clock must be > 0 MHz (got {clock_mhz})")
    for tool in ("yosys", tgt.nextpnr) + ((tgt.packer,) if bitstream else ()):
        find_tool(tool)
    work = Path(out_dir)
    if work.exists() and not work.is_dir():
        raise InputError(f"{work} exists and is not a folder")
    work.mkdir(parents=True, exist_ok=True)
    steps = []

    t0 = time.perf_counter()
    core_obj, core_module, reads = _make_core(core, work, verilog_top)
    wrapper = OOCWrapper(core_obj)
    (work / f"{TOP}.il").write_text(rtlil.convert(wrapper, name=TOP, emit_src=False))
    steps.append(Step("elaborate", round(time.perf_counter() - t0, 3)))

    noabc = noabc and tgt.family == "ice40"
    mapper = "yosys (-noabc)" if noabc else "abc9"
    cmd = yosys_synth_command(tgt.family, TOP, dsp=dsp, noabc=noabc)
    (work / "synth.ys").write_text(_yosys_script([*reads, f"read_rtlil {TOP}.il"], core_module,
                                                 cmd))
    y = run_tool("yosys", "yosys", ["-q", "-l", "yosys.log", "-s", "synth.ys"], work,
                 timeout=timeout)
    seconds = y.seconds
    if y.returncode != 0 and tgt.family == "ice40" and not noabc:
        # Fall back to Yosys' own LUT mapper and say so in the result.
        mapper = "yosys (-noabc)"
        cmd = yosys_synth_command(tgt.family, TOP, dsp=dsp, noabc=True)
        (work / "synth.ys").write_text(_yosys_script([*reads, f"read_rtlil {TOP}.il"],
                                                     core_module, cmd))
        y = run_tool("yosys", "yosys", ["-q", "-l", "yosys.log", "-s", "synth.ys"], work,
                     timeout=timeout)
        seconds += y.seconds
    steps.append(Step("yosys", round(seconds, 3), "yosys.log"))
    stat = load_json(work / "stat.json")
    if y.returncode != 0 or stat is None:
        raise ToolFailed(f"yosys failed on {target} ({y.tail(1).strip()}); see "
                         f"{work / 'yosys.log'}")
    mods = module_cells(stat)
    top_cells = mods.get(TOP, {})
    core_cells = mods.get(core_module, {})

    if not place:
        result = _result(tgt, clock, dsp, seed, mapper, "synthesised", "not placed (place=False)",
                         wrapper, core_cells, top_cells, {}, None, steps, core_obj,
                         {"rtlil": f"{TOP}.il", "yosys_script": "synth.ys", "stat": "stat.json"})
        (work / "synth.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
        return result

    pnr_args = [*tgt.nextpnr_args, "--json", "netlist.json", "--report", "report.json",
                "--freq", f"{clock:g}", "--seed", str(seed), "--log", "nextpnr.log", "--quiet"]
    if bitstream:
        pnr_args += ["--asc", f"{TOP}.asc"] if tgt.family == "ice40" else \
            ["--textcfg", f"{TOP}.config"]
    (work / "report.json").unlink(missing_ok=True)
    p = run_tool("nextpnr", tgt.nextpnr, pnr_args, work,
                 timeout=timeout if place_timeout is None else place_timeout)
    steps.append(Step("nextpnr", round(p.seconds, 3), "nextpnr.log"))
    log = (work / "nextpnr.log").read_text() if (work / "nextpnr.log").exists() else p.log
    report = load_json(work / "report.json")
    status, reason = classify_nextpnr(p.returncode, log + p.log, report)
    if status == "error":
        raise ToolFailed(f"{tgt.nextpnr} failed on {target}: {reason}; see "
                         f"{work / 'nextpnr.log'}")
    timing = timing_summary(report, log, clock)
    if status == "ok" and timing.clocks and not timing.met:
        status = "timing_failed"

    files = {"rtlil": f"{TOP}.il", "yosys_script": "synth.ys", "stat": "stat.json",
             "netlist": "netlist.json", "nextpnr_report": "report.json"}
    if bitstream and status in ("ok", "timing_failed"):
        if tgt.family == "ice40":
            pack = run_tool("pack", "icepack", [f"{TOP}.asc", f"{TOP}.bin"], work)
            files["bitstream"] = f"{TOP}.bin"
        else:
            pack = run_tool("pack", "ecppack", ["--compress", "--input", f"{TOP}.config",
                                                "--bit", f"{TOP}.bit"], work)
            files["bitstream"] = f"{TOP}.bit"
        steps.append(Step("pack", round(pack.seconds, 3), "pack.log"))
        if pack.returncode != 0:
            raise ToolFailed(f"{tgt.packer} failed ({pack.tail(1).strip()}); see "
                             f"{work / 'pack.log'}")

    result = _result(tgt, clock, dsp, seed, mapper, status, reason, wrapper, core_cells,
                     top_cells, report, timing, steps, core_obj, files)
    (work / "synth.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return result


def _result(tgt, clock, dsp, seed, mapper, status, reason, wrapper, core_cells, top_cells,
            report, timing, steps, core_obj, files) -> SynthResult:
    util = (report or {}).get("utilization", {})
    # a generated core carries its CoreInfo; a Verilog file's core has the sizes itself
    src = getattr(core_obj, "info", core_obj)
    ports = {a: int(getattr(src, a)) for a in
             ("n_in", "n_out", "in_width", "out_width", "addr_width") if hasattr(src, a)}
    return SynthResult(
        kind="synth", status=status, reason=reason, family=tgt.family, clock_mhz=clock,
        wrapped=True, steps=tuple(steps),
        target=tgt.name, device=tgt.device, package=tgt.package, dsp_allowed=dsp, seed=seed,
        mapper=mapper,
        wrapper_note=("out of context: the core's inputs come from a serial-in shift "
                      "register and its outputs go into a serial-out shift register "
                      f"({wrapper.in_chain_bits} + {wrapper.out_chain_bits} bits, 10 pins); "
                      "'core' counts only the core's own module, 'wrapper' the harness, "
                      "nextpnr utilisation and Fmax cover both"),
        cells=Cells(
            core=CellCounts(**cell_summary(tgt.family, core_cells)),
            wrapper=CellCounts(**cell_summary(tgt.family, top_cells)),
            total=CellCounts(**total_summary(tgt.family, core_cells, top_cells, report))),
        cells_by_type={"core": core_cells, "wrapper": top_cells},
        utilisation={k: BelUse.from_json(v) for k, v in util.items()},
        timing=timing if timing is not None else Timing(),
        wall_seconds=round(sum(s.seconds for s in steps), 3),
        files=SynthFiles(**files),
        core=CorePorts(**ports) if ports else None,
    )
