"""Bitstreams for real boards: a core behind the UART bridge on an iCEBreaker or a ULX3S.

The board's Amaranth platform (amaranth-boards) writes the build plan: RTLIL, constraints, a
Yosys script and the tool commands. :func:`board_plan` only makes the plan (no tool runs);
:func:`build_board` writes it to a folder and runs its commands one by one, with argument lists
from the plan's ``build_<name>.json`` and the tools found by :mod:`lognet.boards.tools`, timing
each step and reading the reports into the same JSON as :func:`~lognet.boards.synth.synth_core`.
Programming is left to the user's tool (iceprog / openFPGALoader): see :data:`BOARDS`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from lognet.base.errors import InputError

from .report import (
    cell_summary,
    classify_nextpnr,
    load_json,
    module_cells,
    timing_summary,
    total_summary,
)
from .results import BelUse, CellCounts, Cells, Step, SynthFiles, SynthResult
from .tools import ToolFailed, find_tool, run_tool
from .top import BoardTop
from .uart import uart_divisor

__all__ = ["BOARDS", "Board", "board_plan", "build_board"]

NAME = "lognet_top"


@dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform class and how to program it."""

    name: str
    platform: type
    family: str
    bitstream: str     # file suffix of the bitstream
    program: str       # how to load it (a command line for the user, never run here)

    @property
    def clock_mhz(self) -> float:
        return self.platform().default_clk_frequency / 1e6


BOARDS: dict[str, Board] = {
    "icebreaker": Board("icebreaker", ICEBreakerPlatform, "ice40", ".bin",
                        "iceprog {bitstream}"),
    "ulx3s": Board("ulx3s", ULX3S_85F_Platform, "ecp5", ".bit",
                   "openFPGALoader -b ulx3s {bitstream}"),
}


def _board(board: str) -> Board:
    if board not in BOARDS:
        raise InputError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[board]


def board_plan(core_factory, board: str, *, baud: int = 115200, dsp: bool = False, seed: int = 1):
    """The Amaranth build plan (``amaranth.build.run.BuildPlan``) of ``core_factory``'s core
    behind the UART bridge on ``board``; runs no tool.

    The plan's Yosys script keeps the core as its own module (for separate cell counts) and
    writes ``stat -json``; nextpnr writes ``--report`` JSON.
    """
    b = _board(board)
    platform = b.platform()
    uart_divisor(platform.default_clk_frequency, baud)  # a rate the clock cannot make: say so now
    top = BoardTop(core_factory, baud)
    # The core's module name is only known after elaboration; keep_hierarchy is set on every
    # module named `*.core` under the UART top (there is one).
    synth = "-dsp" if (dsp and b.family == "ice40") else ("" if dsp else
                                                          ("-nodsp" if b.family == "ecp5" else ""))
    return platform.prepare(
        top, NAME,
        script_after_read=(f"hierarchy -top {NAME}; "
                           f"setattr -mod -set keep_hierarchy 1 {NAME}.uart_top.core; "
                           "proc; splitnets"),
        synth_opts=synth,
        script_after_synth=f"tee -q -o {NAME}.stat.json stat -json",
        nextpnr_opts=f"--report {NAME}.report.json --seed {seed}",
        emit_src=False,
    )


def _commands(plan) -> list[list[str]]:
    return json.loads(plan.files[f"build_{NAME}.json"])["commands"]


def build_board(core_factory, board: str, out_dir, *, baud: int = 115200, run: bool = True,
                dsp: bool = False, seed: int = 1, timeout: float | None = None,
                place_timeout: float | None = None) -> SynthResult:
    """Bitstream of a core behind the UART bridge for ``board`` (``icebreaker`` / ``ulx3s``).

    With ``run=False`` only the plan's files are written (``status: planned``). Otherwise the
    :class:`~lognet.boards.results.SynthResult` (``kind="board"``, also written as
    ``build.json``) has the shape of :func:`~lognet.boards.synth.synth_core`'s (cells of the
    core, of the rest, in total; nextpnr utilisation; Fmax against the board clock; time per
    step), plus the bitstream's file name and the command that programs it. A missed board clock is
    ``status: timing_failed`` (the bitstream is still written, but should not be trusted).

    Raises
    ------
    InputError
        Unknown board, a baud rate the clock cannot make, a missing tool.
    ToolFailed
        A tool crashed.
    """
    b = _board(board)
    if run:
        for tool in ("yosys", f"nextpnr-{b.family}", "icepack" if b.family == "ice40"
                     else "ecppack"):
            find_tool(tool)
    plan = board_plan(core_factory, board, baud=baud, dsp=dsp, seed=seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    plan.extract(str(out))
    commands = _commands(plan)
    bitstream = f"{NAME}{b.bitstream}"
    head = dict(kind="board", board=b.name, family=b.family, clock_mhz=b.clock_mhz, baud=baud,
                wrapped=False, top=NAME, commands=tuple(tuple(c) for c in commands),
                program=b.program.format(bitstream=str(out / bitstream)))
    if not run:
        return SynthResult(status="planned", reason="", steps=(), **head)

    steps = []
    status, reason, report, log = "ok", "", None, ""
    for args in commands:
        tool = args[0]
        step = "yosys" if tool == "yosys" else ("nextpnr" if tool.startswith("nextpnr")
                                                else "pack")
        limit = place_timeout if step == "nextpnr" and place_timeout is not None else timeout
        r = run_tool(step, tool, args[1:], out, timeout=limit)
        steps.append(Step(step, round(r.seconds, 3), f"{step}.log"))
        if step == "yosys" and r.returncode != 0:
            raise ToolFailed(f"yosys failed for {board} ({r.tail(1).strip()}); see "
                             f"{out / (NAME + '.rpt')}")
        if step == "nextpnr":
            tim = out / f"{NAME}.tim"
            log = tim.read_text() if tim.exists() else r.log
            report = load_json(out / f"{NAME}.report.json")
            status, reason = classify_nextpnr(r.returncode, log + r.log, report)
            if status == "error":
                raise ToolFailed(f"nextpnr failed for {board}: {reason}; see {tim}")
            if status in ("does_not_fit", "timed_out"):
                break
        if step == "pack" and r.returncode != 0:
            raise ToolFailed(f"{tool} failed ({r.tail(1).strip()}); see {out / 'pack.log'}")

    stat = load_json(out / f"{NAME}.stat.json")
    mods = module_cells(stat) if stat else {}
    core_mod = next((m for m in mods if re.fullmatch(rf"{NAME}\.uart_top\.core", m)), None)
    core_cells = mods.get(core_mod, {})
    rest: dict[str, int] = {}
    for m, cells in mods.items():
        if m != core_mod:
            for c, n in cells.items():
                rest[c] = rest.get(c, 0) + n
    util = (report or {}).get("utilization", {})
    timing = timing_summary(report, log, b.clock_mhz)
    if status == "ok" and timing.clocks and not timing.met:
        status = "timing_failed"
    result = SynthResult(
        status=status, reason=reason, steps=tuple(steps), **head,
        cells=Cells(core=CellCounts(**cell_summary(b.family, core_cells)),
                    bridge=CellCounts(**cell_summary(b.family, rest)),
                    total=CellCounts(**total_summary(b.family, core_cells, rest, report))),
        cells_by_type={"core": core_cells, "bridge": rest},
        utilisation={k: BelUse.from_json(v) for k, v in util.items()},
        timing=timing,
        wall_seconds=round(sum(s.seconds for s in steps), 3),
        files=SynthFiles(bitstream=bitstream if (out / bitstream).exists() else None,
                         stat=f"{NAME}.stat.json", nextpnr_report=f"{NAME}.report.json",
                         nextpnr_log=f"{NAME}.tim", yosys_log=f"{NAME}.rpt"),
    )
    (out / "build.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return result
