"""Reading Yosys' and nextpnr's reports into plain data, and the human table.

Inputs: Yosys ``stat -json`` (cell counts per module), nextpnr ``--report`` JSON (utilisation of
the device's resources, achieved Fmax per clock) and nextpnr's log (the ``FAIL`` lines, and the
reason when a run stopped). Everything here is pure: text in, plain data and the records of
:mod:`lognet.boards.results` out.
"""

from __future__ import annotations

import json
import re

from .results import ClockTiming, SynthResult, Timing
from .tools import TIMEOUT_LINE

__all__ = [
    "cell_summary",
    "classify_nextpnr",
    "format_table",
    "module_cells",
    "timing_summary",
]

_FAMILY_CELLS = {
    # summary field -> (exact cell names, name prefixes)
    "ice40": {
        "lut4": ({"SB_LUT4"}, ()),
        "ff": (set(), ("SB_DFF",)),
        "carry": ({"SB_CARRY"}, ()),
        "dsp": ({"SB_MAC16"}, ()),
        "bram": (set(), ("SB_RAM40_4K",)),
        "spram": ({"SB_SPRAM256KA"}, ()),
    },
    "ecp5": {
        "lut4": ({"LUT4"}, ()),
        "ff": ({"TRELLIS_FF"}, ()),
        "carry": ({"CCU2C"}, ()),
        "dsp": ({"MULT18X18D", "ALU54B"}, ()),
        "bram": ({"DP16KD", "PDPW16KD"}, ()),
        "lutram": ({"TRELLIS_DPR16X4"}, ()),
        "widemux": ({"PFUMX", "L6MUX21"}, ()),
    },
}

#: nextpnr utilisation entries that count logic cells and I/O, per family
LOGIC_BEL = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}
IO_BEL = {"ice40": "SB_IO", "ecp5": "TRELLIS_IO"}


def _modname(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def module_cells(stat: dict) -> dict[str, dict[str, int]]:
    """Cell counts by type of every module in a Yosys ``stat -json`` document (names without
    the leading backslash; instances of user modules are left out)."""
    mods = {_modname(k): v.get("num_cells_by_type", {}) for k, v in stat["modules"].items()}
    return {m: {c: int(n) for c, n in cells.items() if _modname(c) not in mods}
            for m, cells in mods.items()}


def cell_summary(family: str, cells: dict[str, int]) -> dict[str, int]:
    """LUT4, FF, carry, DSP, BRAM (and family extras) from cell counts by type."""
    out = {}
    for field, (names, prefixes) in _FAMILY_CELLS[family].items():
        out[field] = sum(n for c, n in cells.items()
                         if c in names or any(c.startswith(p) for p in prefixes))
    return out


_FAIL_RE = re.compile(
    r"Max frequency for clock '([^']+)': ([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)")
_NOFIT_RE = re.compile(
    r"(Unable to place cell|Design uses \d+ .* but device|exceeds the number|"
    r"does not have enough|Unable to find legal placement|failed to place|No BEL)",
    re.IGNORECASE)


def total_summary(family: str, core: dict[str, int], rest: dict[str, int],
                  report: dict | None) -> dict[str, int]:
    """Cell summary of core + the rest, with nextpnr's used IO and logic cells when placed."""
    total = {c: rest.get(c, 0) + core.get(c, 0) for c in {*rest, *core}}
    util = (report or {}).get("utilization", {})
    out = cell_summary(family, total)
    if IO_BEL[family] in util:
        out["io"] = util[IO_BEL[family]]["used"]
    if LOGIC_BEL[family] in util:
        out["logic_cells"] = util[LOGIC_BEL[family]]["used"]
    return out


def timing_summary(report: dict | None, log: str, clock_mhz: float | None = None) -> Timing:
    """Achieved Fmax per clock and pass/fail against the constraint.

    The nextpnr report gives ``{clock: {achieved, constraint}}``; without a report the final
    ``Max frequency`` lines of the log are used. ``met`` is True when every clock meets its
    constraint (or ``clock_mhz`` when given and the report has none).
    """
    found: dict[str, tuple[float, float]] = {}
    if report and report.get("fmax"):
        for name, v in report["fmax"].items():
            found[name] = (round(float(v["achieved"]), 2),
                           float(v.get("constraint") or clock_mhz or 0))
    else:
        for name, achieved, _, constraint in _FAIL_RE.findall(log):
            found[name] = (float(achieved), float(constraint))
    clocks = {name: ClockTiming(fmax, want, fmax >= want) for name, (fmax, want) in found.items()}
    fmax = min((c.fmax_mhz for c in clocks.values()), default=None)
    return Timing(met=bool(clocks) and all(c.met for c in clocks.values()), fmax_mhz=fmax,
                  clocks=clocks)


def classify_nextpnr(returncode: int, log: str, report: dict | None) -> tuple[str, str]:
    """``(status, reason)`` of a nextpnr run: ``ok``, ``timing_failed`` (nextpnr stops with a
    non-zero code when a clock misses its constraint, yet writes its outputs), ``does_not_fit``,
    ``timed_out`` (stopped at its time limit by :func:`~lognet.boards.tools.run_tool`) or
    ``error``."""
    errors = [ln.strip() for ln in log.splitlines() if ln.startswith("ERROR")]
    if returncode == 0:
        return "ok", ""
    stopped = [ln.strip() for ln in log.splitlines() if TIMEOUT_LINE in ln]
    if stopped:
        return "timed_out", stopped[-1].removeprefix("lognet: ")
    if errors and all("Max frequency for clock" in e for e in errors):
        return "timing_failed", errors[0]
    for e in errors:
        if _NOFIT_RE.search(e):
            return "does_not_fit", e
    reason = errors[0] if errors else f"exit code {returncode}"
    return "error", reason


def load_json(path) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def format_table(result: SynthResult) -> str:
    """A human table of a :func:`~lognet.boards.synth.synth_core` or
    :func:`~lognet.boards.build.build_board` result (a :class:`SynthResult`)."""
    lines = []
    what = "out-of-context, core behind shift-register harness" if result.wrapped \
        else "board top (UART bridge + core)"
    lines.append(f"{result.head}: {what}")
    parts = result.cells.parts() if result.cells else {}
    fields = []
    for counts in parts.values():
        for f in counts.to_json():
            if f not in fields and f not in ("io", "logic_cells"):
                fields.append(f)
    if parts:
        lines.append(f"  {'cells':<10}" + "".join(f"{p:>10}" for p in parts))
        for f in fields:
            lines.append(f"  {f:<10}" + "".join(f"{_fmt(c.get(f)):>10}" for c in parts.values()))
    util = result.utilisation or {}
    fam = result.family
    for label, bel in (("logic", LOGIC_BEL.get(fam)), ("io", IO_BEL.get(fam))):
        if bel in util:
            u = util[bel]
            lines.append(f"  {label + ' (' + bel + ')':<24} {u.used:>6} / {u.available:<6}"
                         f" {u.percent:5.1f} %")
    clocks = result.timing.clocks if result.timing else {}
    for name, c in clocks.items():
        verdict = "meets" if c.met else "MISSES"
        lines.append(f"  Fmax {name}: {c.fmax_mhz:.1f} MHz ({verdict} "
                     f"{c.constraint_mhz:g} MHz)")
    lines.append(f"  status: {result.status}" + (f" ({result.reason})" if result.reason else ""))
    if result.steps:
        lines.append("  time: " + ", ".join(f"{s.step} {s.seconds:.1f} s" for s in result.steps))
    return "\n".join(lines)
