"""Typed results of synthesis runs: :func:`lognet.boards.synth.synth_core` (a core out of
context) and :func:`lognet.boards.build.build_board` (a core behind the UART bridge on a board).

Each record is a frozen dataclass with ``to_json()`` (a plain dict, the shape of ``synth.json`` /
``build.json``) and ``from_json(d)``; ``SynthResult.from_json(r.to_json()) == r`` exactly.
Fields that only one kind of run has are None on the other and left out of its JSON.

    r = synth_core(core, "ice40-up5k", 48, "build/synth")
    r.cells.core.lut4, r.timing.fmax_mhz, r.status
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lognet.base.records import OPTIONAL, json_fields, replace_paths

__all__ = [
    "BelUse",
    "CellCounts",
    "Cells",
    "ClockTiming",
    "CorePorts",
    "Step",
    "SynthFiles",
    "SynthResult",
    "Timing",
]

def _opt(default=None):
    return field(default=default, metadata=OPTIONAL)



@dataclass(frozen=True)
class CellCounts:
    """Mapped cells of one part of a design, in the family's terms (None: the family has no
    such cell, or the count does not apply to this part)."""

    #: 4-input LUTs (SB_LUT4 / LUT4)
    lut4: int = 0
    #: flip-flops (SB_DFF* / TRELLIS_FF)
    ff: int = 0
    #: carry cells (SB_CARRY / CCU2C)
    carry: int = 0
    #: DSP blocks (SB_MAC16 / MULT18X18D + ALU54B)
    dsp: int = 0
    #: block RAMs (SB_RAM40_4K* / DP16KD + PDPW16KD)
    bram: int = 0
    #: iCE40 single-port RAMs (SB_SPRAM256KA)
    spram: int | None = _opt()
    #: ECP5 distributed RAM (TRELLIS_DPR16X4)
    lutram: int | None = _opt()
    #: ECP5 wide multiplexers (PFUMX, L6MUX21)
    widemux: int | None = _opt()
    #: I/O cells used, from nextpnr (totals of placed runs only)
    io: int | None = _opt()
    #: logic cells used (ICESTORM_LC / TRELLIS_COMB), from nextpnr (totals of placed runs only)
    logic_cells: int | None = _opt()

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> CellCounts:
        return cls(**{k: int(v) for k, v in d.items()})

    def get(self, name: str, default=None):
        """A count by field name (the tables iterate over names)."""
        v = getattr(self, name, None)
        return default if v is None else v


@dataclass(frozen=True)
class Cells:
    """Cell counts of the core, of what surrounds it, and in total."""

    #: the core's own module
    core: CellCounts
    #: everything else, with nextpnr's I/O and logic cells when placed
    total: CellCounts
    #: the out-of-context shift-register harness (synth_core runs)
    wrapper: CellCounts | None = _opt()
    #: the UART bridge and board top (build_board runs)
    bridge: CellCounts | None = _opt()

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> Cells:
        return cls(**{k: CellCounts.from_json(v) for k, v in d.items()})

    def parts(self) -> dict[str, CellCounts]:
        """The parts present, in table order: core, wrapper or bridge, total."""
        return {p: getattr(self, p) for p in ("core", "wrapper", "bridge", "total")
                if getattr(self, p) is not None}


@dataclass(frozen=True)
class BelUse:
    """One nextpnr utilisation entry."""

    #: BELs of this kind the design uses
    used: int
    #: BELs of this kind on the device
    available: int

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> BelUse:
        return cls(int(d["used"]), int(d["available"]))

    @property
    def percent(self) -> float:
        return 100 * self.used / max(self.available, 1)


@dataclass(frozen=True)
class ClockTiming:
    """Achieved Fmax of one clock against its constraint."""

    #: achieved frequency, MHz
    fmax_mhz: float
    #: the asked frequency, MHz
    constraint_mhz: float
    #: ``fmax_mhz >= constraint_mhz``
    met: bool

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> ClockTiming:
        return cls(float(d["fmax_mhz"]), float(d["constraint_mhz"]), bool(d["met"]))


@dataclass(frozen=True)
class Timing:
    """Timing of a placed design (all None / empty when not placed)."""

    #: every clock meets its constraint (None: not placed)
    met: bool | None = None
    #: the lowest achieved Fmax over the clocks, MHz (None: not placed)
    fmax_mhz: float | None = None
    #: per clock name
    clocks: dict[str, ClockTiming] = field(default_factory=dict)

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> Timing:
        return cls(d.get("met"), None if d.get("fmax_mhz") is None else float(d["fmax_mhz"]),
                   {k: ClockTiming.from_json(v) for k, v in d.get("clocks", {}).items()})


@dataclass(frozen=True)
class Step:
    """One timed step of the flow."""

    #: ``elaborate``, ``yosys``, ``nextpnr`` or ``pack``
    step: str
    #: wall time, seconds (rounded to ms)
    seconds: float
    #: the step's log file, relative to the run folder
    log: str | None = _opt()

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> Step:
        return cls(d["step"], float(d["seconds"]), d.get("log"))


@dataclass(frozen=True)
class SynthFiles:
    """Files a run wrote, relative to its folder (None: not written by this run)."""

    #: the design as RTLIL (synth_core)
    rtlil: str | None = _opt()
    #: the Yosys script (synth_core)
    yosys_script: str | None = _opt()
    #: Yosys ``stat -json``
    stat: str | None = _opt()
    #: the mapped netlist, nextpnr's input (synth_core)
    netlist: str | None = _opt()
    #: nextpnr ``--report`` JSON
    nextpnr_report: str | None = _opt()
    #: nextpnr's log (build_board)
    nextpnr_log: str | None = _opt()
    #: Yosys' log (build_board)
    yosys_log: str | None = _opt()
    #: the bitstream, when one was packed
    bitstream: str | None = _opt()

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> SynthFiles:
        return cls(**d)

    def paths(self, folder) -> dict[str, Path]:
        """Every written file's full path under ``folder``, by role."""
        return {k: Path(folder) / v for k, v in self.to_json().items()}


@dataclass(frozen=True)
class CorePorts:
    """Sizes of the synthesised core (synth_core; those the core object has)."""

    n_in: int | None = _opt()
    n_out: int | None = _opt()
    in_width: int | None = _opt()
    out_width: int | None = _opt()
    addr_width: int | None = _opt()

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> CorePorts:
        return cls(**{k: int(v) for k, v in d.items()})


#: statuses a run ends with; ``planned`` is a build_board(run=False), ``timed_out`` a
#: place-and-route stopped at its time limit (no verdict on fit or timing)
STATUSES = ("ok", "timing_failed", "does_not_fit", "timed_out", "synthesised", "planned")


@dataclass(frozen=True)
class SynthResult:
    """What one synthesis (``kind="synth"``) or board build (``kind="board"``) produced."""

    #: ``synth`` (out of context, :func:`~lognet.boards.synth.synth_core`) or ``board``
    kind: str
    #: one of :data:`STATUSES`
    status: str
    #: why, when the status is not ``ok`` ("" otherwise)
    reason: str
    #: ``ice40`` or ``ecp5``
    family: str
    #: the asked clock (the target's default or the board's oscillator), MHz
    clock_mhz: float
    #: True for an out-of-context run (core behind the shift-register harness)
    wrapped: bool
    #: time per step, in order
    steps: tuple[Step, ...] = ()
    #: target name (synth)
    target: str | None = _opt()
    #: device as the tools name it (synth)
    device: str | None = _opt()
    #: package (synth)
    package: str | None = _opt()
    #: multipliers could map to DSP blocks (synth)
    dsp_allowed: bool | None = _opt()
    #: nextpnr placement seed (synth)
    seed: int | None = _opt()
    #: LUT mapper used: ``abc9`` or ``yosys (-noabc)`` (synth)
    mapper: str | None = _opt()
    #: what the harness adds and what each cell count covers (synth)
    wrapper_note: str | None = _opt()
    #: board name (board)
    board: str | None = _opt()
    #: UART baud rate (board)
    baud: int | None = _opt()
    #: top module name (board)
    top: str | None = _opt()
    #: the tool command lines of the plan, argument lists (board)
    commands: tuple[tuple[str, ...], ...] | None = _opt()
    #: the command that programs the board (board; never run here)
    program: str | None = _opt()
    #: cell counts (absent for a plan only)
    cells: Cells | None = _opt()
    #: raw cell counts by cell type, per part (``core`` and ``wrapper`` / ``bridge``)
    cells_by_type: dict[str, dict[str, int]] | None = _opt()
    #: nextpnr utilisation by BEL kind (empty when not placed)
    utilisation: dict[str, BelUse] | None = _opt()
    #: Fmax against the asked clock
    timing: Timing | None = _opt()
    #: the sum of the steps' times, seconds
    wall_seconds: float | None = _opt()
    #: files written, relative to the run folder
    files: SynthFiles | None = _opt()
    #: sizes of the core (synth)
    core: CorePorts | None = _opt()

    # -- views ---------------------------------------------------------------------------------

    @property
    def fmax_mhz(self) -> float | None:
        """The lowest achieved Fmax (None when not placed)."""
        return self.timing.fmax_mhz if self.timing else None

    @property
    def met(self) -> bool | None:
        """Whether the asked clock is met (None when not placed)."""
        return self.timing.met if self.timing else None

    @property
    def head(self) -> str:
        """The target or board name."""
        return self.target or self.board or "?"

    def step_seconds(self) -> dict[str, float]:
        """Wall time by step name."""
        return {s.step: s.seconds for s in self.steps}

    def relocated(self, old_dir, new_dir) -> SynthResult:
        """This result with paths inside ``old_dir`` moved to ``new_dir``."""
        return SynthResult.from_json(replace_paths(self.to_json(), old_dir, new_dir))

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> SynthResult:
        def get(name, conv):
            return None if d.get(name) is None else conv(d[name])

        return cls(
            kind=d["kind"], status=d["status"], reason=d.get("reason", ""),
            family=d["family"], clock_mhz=float(d["clock_mhz"]), wrapped=bool(d["wrapped"]),
            steps=tuple(Step.from_json(s) for s in d.get("steps", ())),
            target=d.get("target"), device=d.get("device"), package=d.get("package"),
            dsp_allowed=d.get("dsp_allowed"), seed=d.get("seed"), mapper=d.get("mapper"),
            wrapper_note=d.get("wrapper_note"), board=d.get("board"), baud=d.get("baud"),
            top=d.get("top"),
            commands=get("commands", lambda c: tuple(tuple(a) for a in c)),
            program=d.get("program"),
            cells=get("cells", Cells.from_json),
            cells_by_type=get("cells_by_type", lambda c: {
                p: {k: int(n) for k, n in v.items()} for p, v in c.items()}),
            utilisation=get("utilisation", lambda u: {
                k: BelUse.from_json(v) for k, v in u.items()}),
            timing=get("timing", Timing.from_json),
            wall_seconds=get("wall_seconds", float),
            files=get("files", SynthFiles.from_json),
            core=get("core", CorePorts.from_json),
        )
