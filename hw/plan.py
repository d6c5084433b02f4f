"""The resource plan: what a layer or network needs on a device, before any tool runs.

Pure Python (no Amaranth; a plan of a 512x512 layer takes milliseconds). For a spec and a
target it lists every memory the generator builds (:mod:`lognet.hw.folded`: a wide row of the
P lanes' connection words per position, ``T`` rows deep, ``T`` the longest lane of
:func:`~lognet.hw.arch.lane_schedule`; a shadow and an active copy with ``tunable=all``; the
biases in memories whenever writable; parallel builds keep everything in flip-flops), where
Yosys puts each one (block RAM, LUT RAM or logic) and how many blocks that takes, an estimate of
LUT4 / FF / DSP, the cycles per vector and the inferences per second at the asked clock, and
whether it fits, or which resource runs out and by how much.

Memory mapping follows Yosys' ``memory_libmap`` (the library files shipped with the YoWASP
Yosys: ``ice40/brams.txt``, ``lattice/brams_16kd.txt``, ``lattice/lutrams_trellis.txt``): every
shape a block offers (``width x depth``) is tried, a block word holds the bits of one write
enable group per byte (none at widths without byte enables), the cheapest mapping at Yosys'
costs wins (a writable memory adds the read-during-write emulation Yosys reports), and logic
wins when it is no dearer (``1`` per RAM bit, ``1/16`` per ROM bit).
iCE40 SPRAM cannot be initialised by the bitstream: Yosys (``synth_ice40 -spram``, as lognet
runs it) puts a memory there only when it has no power-on contents, which lognet's synthesis
script arranges for ``single_copy`` connection words alone (:data:`MemoryUse.uninit`).

The LUT4 and FF figures are a linear model on counted features (:func:`logic_features`) whose
coefficients (:data:`COEFFICIENTS`) are fitted on Yosys runs by ``benchmarks/capacity.py``;
the logic cells nextpnr places (:data:`LOGIC_CELLS`) follow from them. The plan counts the core
alone: what surrounds it (a bus bridge, ``lognet synth``'s harness) is not in it.

:func:`auto_lanes` picks lanes per layer: the most inferences per second that fit the device,
or a given rate with the fewest lanes, every layer of a network given just enough lanes to keep
pace with the slowest one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

from lognet.base.errors import InputError
from lognet.model.arch import Arch, Arith, Microarch, Tunable
from lognet.model.spec import LayerSpec, NetworkSpec

from .arch import choose_arith, shift_terms
from .folded.timing import (
    finisher_can_stall,
    folded_timing,
    input_banked,
    output_banked,
    output_row,
    word_stage,
)
from .regmap import RegisterMap, exp_bits

__all__ = ["AUTO_FILL", "COEFFICIENTS", "DEVICES", "FEATURES", "LOGIC_CELLS",
           "AutoResult", "BlockKind", "Device", "LayerPlan", "MemoryUse", "Plan", "Shortfall",
           "Use", "auto_folded", "auto_lanes", "auto_summary", "cycles_per_vector", "device",
           "format_plan", "logic_features", "place_memory", "plan"]


# -- devices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockKind:
    """One kind of memory block of a device, as Yosys' memory library describes it."""

    #: short name used in the plan (``ebr``, ``spram``, ``dp16kd``, ``lutram``)
    name: str
    #: the cell Yosys maps to and nextpnr places
    cell: str
    #: blocks on the device
    count: int
    #: ``(width, depth)`` shapes one block offers
    shapes: tuple[tuple[int, int], ...]
    #: Yosys' cost of one block (the mapping heuristic compares these)
    cost: float
    #: bits per write-enable byte at a width (widths absent here write the whole word at once)
    byte: dict[int, int] = field(default_factory=dict)
    #: holds read-only memories with initial contents
    rom: bool = True
    #: ``distributed`` (LUT RAM), ``block`` or ``huge``
    style: str = "block"
    #: Yosys maps initialised memories here by itself (SPRAM takes only memories without
    #: power-on contents, :attr:`MemoryUse.uninit`)
    inferred: bool = True
    #: what Yosys adds to the cost of a writable memory here for the read-during-write
    #: behaviour it emulates (twice its "emulation score", read from ``debug memory_libmap``)
    ram_emulation: float = 0

    @property
    def bits(self) -> int:
        """Bits one block holds."""
        return max(w * d for w, d in self.shapes)


@dataclass(frozen=True)
class Device:
    """An FPGA part: its logic, DSP and memory resources (target names as ``lognet synth``)."""

    name: str
    family: str
    lut4: int
    ff: int
    dsp: int
    dsp_cell: str
    blocks: tuple[BlockKind, ...]
    #: the clock ``lognet synth`` asks for by default, MHz
    default_clock_mhz: float
    #: the logic cell nextpnr counts (``ICESTORM_LC``, ``TRELLIS_COMB``) and how many
    logic_cell: str = ""
    logic_cells: int = 0

    def block(self, name: str) -> BlockKind:
        return next(b for b in self.blocks if b.name == name)


_EBR = BlockKind("ebr", "SB_RAM40_4K", 30, ((16, 256), (8, 512), (4, 1024), (2, 2048)), 64,
                 byte={16: 1}, ram_emulation=14)
_SPRAM = BlockKind("spram", "SB_SPRAM256KA", 4, ((16, 16384),), 2048, byte={16: 4}, rom=False,
                   style="huge", inferred=False)


def _dp16kd(count: int) -> BlockKind:
    # DP16KD (true dual port, widths to 18) and PDPW16KD (36 wide, one read + one write port)
    return BlockKind("dp16kd", "DP16KD", count,
                     ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)), 128,
                     byte={9: 9, 18: 9, 36: 9}, ram_emulation=14)


def _lutram(count: int) -> BlockKind:
    # the emulation is the register of a synchronous read port
    return BlockKind("lutram", "TRELLIS_DPR16X4", count, ((4, 16),), 4, rom=False,
                     style="distributed", ram_emulation=2)


#: the targets of ``lognet synth`` / ``lognet plan``. Figures from the vendors' data sheets and
#: nextpnr's device reports (iCE40UP5K: 5,280 logic cells, 30 EBR of 4 kbit, 4 SPRAM of
#: 256 kbit, 8 SB_MAC16; LFE5U-25F: 24,288 LUT4, 56 EBR of 18 kbit, 28 MULT18X18D; LFE5U-85F:
#: 83,640 LUT4, 208 EBR, 156 MULT18X18D; LUT RAM: one TRELLIS_DPR16X4 per TRELLIS_RAMW,
#: 3,036 and 10,455)
DEVICES: dict[str, Device] = {
    "ice40-up5k": Device("ice40-up5k", "ice40", 5280, 5280, 8, "SB_MAC16", (_EBR, _SPRAM), 48.0,
                         "ICESTORM_LC", 5280),
    "ecp5-25k": Device("ecp5-25k", "ecp5", 24288, 24288, 28, "MULT18X18D",
                       (_dp16kd(56), _lutram(3036)), 100.0, "TRELLIS_COMB", 24288),
    "ecp5-85k": Device("ecp5-85k", "ecp5", 83640, 83640, 156, "MULT18X18D",
                       (_dp16kd(208), _lutram(10455)), 100.0, "TRELLIS_COMB", 83640),
}


#: logic cells per LUT4, FF and LUT RAM cell, fitted by ``python benchmarks/capacity.py`` on
#: nextpnr ``--pack-only`` of its Yosys runs. iCE40 ``ICESTORM_LC`` (a LUT4 and an FF each):
#: nextpnr packs an FF with the LUT that drives it only now and then (26 runs, mean error
#: 2.6 %, at most 10.6 %). ECP5 ``TRELLIS_COMB``: LUT4s, carry halves and LUT RAM (19 runs,
#: mean 6.1 %, at most 29.1 %)
LOGIC_CELLS = {
    "ice40": {"lut4": 0.834, "ff": 0.897},
    "ecp5": {"lut4": 1.203, "lutram": 7.071},
}


def device(target: str) -> Device:
    if target not in DEVICES:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(DEVICES)}")
    return DEVICES[target]


# -- memories -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryUse:
    """One memory of a layer and where it lands."""

    #: what it holds (``conn_rom``, ``lane_rom``, ``conn_shadow``, ``conn_active``,
    #: ``bias_shadow``, ``bias_active``, and ``*_regs`` for flip-flop arrays)
    name: str
    width: int
    depth: int
    #: identical memories of this shape
    copies: int = 1
    #: read-only, contents from the bitstream
    rom: bool = False
    #: bits per write enable (None: the whole row is written at once)
    granularity: int | None = None
    #: where it lands: a :class:`BlockKind` name, ``logic`` (what Yosys leaves to LUTs and FFs)
    #: or ``ff`` (register arrays, never a memory); "" until placed
    kind: str = ""
    #: the block shape used, ``(width, depth)``
    shape: tuple[int, int] | None = None
    #: blocks used, over all copies
    blocks: int = 0
    #: no power-on contents (``single_copy`` connection words on the iCE40): may go to SPRAM
    uninit: bool = False

    @property
    def bits(self) -> int:
        return self.width * self.depth * self.copies


def _blocks_for(width: int, depth: int, granularity: int | None, shape, byte: int | None):
    w, d = shape
    deep = -(-depth // d)
    if granularity is None or granularity >= width:
        wide = -(-width // w)
    elif byte:
        groups = width // granularity
        per_group = -(-granularity // byte)
        wide = -(-(groups * per_group) // (w // byte))
    else:  # no byte enables at this width: a block word holds one enable group
        wide = (width // granularity) * -(-granularity // w)
    return wide, deep


def place_memory(mem: MemoryUse, dev: Device) -> MemoryUse:
    """``mem`` with the kind, shape and block count Yosys' ``memory_libmap`` would pick on
    ``dev`` (see the module docstring)."""
    if mem.kind == "ff":
        return mem
    best = None
    logic_cost = int(mem.width * mem.depth * (1 / 16 if mem.rom else 1))
    for bk in dev.blocks:
        if not (bk.inferred or mem.uninit) or (mem.rom and not bk.rom):
            continue
        for shape in bk.shapes:
            wide, deep = _blocks_for(mem.width, mem.depth, mem.granularity, shape,
                                     bk.byte.get(shape[0]))
            n = wide * deep
            cost = bk.cost * n + 0.5 * (deep - 1) * mem.width
            if not mem.rom and deep > 1:
                cost += 0.5 * deep * (mem.width // (mem.granularity or mem.width))
            if not mem.rom:
                cost += bk.ram_emulation
            if best is None or cost < best[0]:
                best = (cost, bk.name, shape, n)
    if best is None or not best[0] < logic_cost:
        return replace(mem, kind="logic", shape=None, blocks=0)
    return replace(mem, kind=best[1], shape=best[2], blocks=best[3] * mem.copies)


# -- one layer's facts ----------------------------------------------------------------------------


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


class _ArchView:
    """A spec seen with other microarchitecture parameters, without rebuilding (and so
    revalidating) it: what the register map, ``choose_arith`` and the clock model read of a
    candidate build in a search."""

    def __init__(self, spec: LayerSpec, arch: Arch):
        self._spec = spec
        self.arch = arch

    def __getattr__(self, name):
        return getattr(self._spec, name)


@dataclass(frozen=True)
class _Layer:
    """What the plan needs of a layer, computed once (the lanes vary in a search)."""

    spec: LayerSpec
    #: resolved as the spec's own kind, and as a folded build
    arith: Arith
    folded_arith: Arith
    tunable: Tunable
    #: register-map word widths (:class:`~lognet.hw.regmap.RegisterMap`) as each kind
    conn_bits: int
    level_bits: int
    folded_conn_bits: int
    folded_level_bits: int
    regular: bool

    @classmethod
    def of(cls, spec: LayerSpec) -> _Layer:
        a = spec.arch

        def resolved(kind: Microarch) -> Arith:
            if a.arith is not Arith.AUTO:
                return a.arith
            return choose_arith(_ArchView(spec, Arch(kind, 1, Arith.AUTO, a.tunable)))

        arith, folded = resolved(a.kind), resolved(Microarch.FOLDED)
        # parallel views: the word widths do not depend on the lanes, and a parallel map does
        # not schedule every connection on a lane
        rm = RegisterMap(_ArchView(spec, Arch(Microarch.PARALLEL, 1, arith, a.tunable)))
        rf = RegisterMap(_ArchView(spec, Arch(Microarch.PARALLEL, 1, folded, a.tunable)))
        return cls(spec, arith, folded, a.tunable, rm.conn_bits, rm.level_bits, rf.conn_bits,
                   rf.level_bits, len(set(spec.sources)) == 1)

    @functools.cached_property
    def used_inputs(self) -> int:
        return len({i for s in self.spec.sources for i in s})


def _folded_view(lay: _Layer, lanes: int) -> _ArchView:
    """The layer as a folded build of ``lanes`` lanes (its arithmetic resolved)."""
    return _ArchView(lay.spec, replace(lay.spec.arch, kind=Microarch.FOLDED, lanes=lanes,
                                       arith=lay.folded_arith))


def _lane_lengths(spec: LayerSpec, lanes: int) -> list[int]:
    f = spec.fanins
    return [sum(f[p::lanes]) for p in range(lanes)]


# -- cycles per vector ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _TimingView:
    """The parts of a spec the clock model reads (so a search need not rebuild the spec)."""

    arch: Arch
    K: int
    fanins: tuple[int, ...]
    sources: tuple
    n_in: int
    n_out: int
    in_beat_size: int
    out_beat_size: int
    in_fmt: object
    out_fmt: object


def cycles_per_vector(layer: LayerSpec | _Layer, lanes: int | None = None) -> float:
    """Clocks between two vectors of a long stream at full rate: 1 for parallel builds, the
    folded clock model (:func:`lognet.hw.folded.timing.folded_timing`) otherwise, for the
    spec's lanes or ``lanes``. The one place the plan takes a cycle count from."""
    lay = layer if isinstance(layer, _Layer) else _Layer.of(layer)
    spec = lay.spec
    if lanes is None:
        if spec.arch.kind is Microarch.PARALLEL:
            return 1
        lanes = spec.arch.lanes
    lengths = _lane_lengths(spec, lanes)
    view = _TimingView(Arch(Microarch.FOLDED, lanes, lay.folded_arith, lay.tunable), spec.K,
                       spec.fanins, (spec.sources[0],) if lay.regular else spec.sources[:2],
                       spec.n_in, spec.n_out, spec.in_beat_size, spec.out_beat_size,
                       spec.in_fmt, spec.out_fmt)
    lasts = None
    if lay.folded_arith is Arith.FACTORED and finisher_can_stall(view):
        lasts = []
        for p in range(lanes):
            flags = []
            for f in spec.fanins[p::lanes]:
                flags += [False] * (f - 1) + [True]
            lasts.append(flags)
    return folded_timing(view, max(lengths), lengths, lasts).cycles_per_vector


# -- logic model ----------------------------------------------------------------------------------

#: the counted features of the LUT4 / FF model, per kind of build (see :func:`logic_features`)
FEATURES = {
    "folded": ("layer", "lane", "lane_acc", "lane_mult", "lane_shift", "lane_levels", "conn_rw",
               "bias_const", "inputs", "lane_inputs", "outputs", "reg_bits", "rom_logic_bits",
               "ram_logic_bits"),
    "parallel": ("layer", "inputs", "outputs", "reg_bits", "par_mult", "par_mult_const",
                 "par_shift", "par_select", "par_tree"),
}

#: LUT4 and FF per logic feature (:func:`logic_features`), per family and kind of build:
#: non-negative least squares on 45 Yosys runs (``python benchmarks/capacity.py``, YoWASP
#: Yosys 0.70, ``synth_ice40`` / ``synth_ecp5``, core cells out of context; the run prints
#: this block, the estimate against Yosys per configuration and its leave-one-out error)
COEFFICIENTS: dict[str, dict[str, dict[str, dict[str, float]]]] = {
    "ice40": {
        "folded": {
            "lut4": {"layer": 188.0353, "lane_mult": 3.0042, "lane_shift": 2.6717, "lane_levels":
                1.8896, "conn_rw": 4.2488, "bias_const": 0.1911, "inputs": 0.7157, "lane_inputs":
                0.8976, "outputs": 0.5, "ram_logic_bits": 0.7578},
            "ff": {"layer": 242.9629, "lane_mult": 0.3044, "lane_shift": 1.3019, "lane_levels":
                1.5965, "conn_rw": 5.783, "bias_const": 0.2029, "inputs": 1.0736, "outputs": 1.82,
                "ram_logic_bits": 0.9787},
        },
        "parallel": {
            "lut4": {"inputs": 8.3126, "reg_bits": 2.9237, "par_mult": 1.4606, "par_select":
                1.3173, "par_tree": 1.5053},
            "ff": {"inputs": 5.8962, "reg_bits": 1.0067, "par_mult": 0.229, "par_shift": 0.1485,
                "par_tree": 0.4469},
        },
    },
    "ecp5": {
        "folded": {
            "lut4": {"layer": 271.7978, "lane_mult": 3.4062, "lane_shift": 3.4964, "lane_levels":
                1.7698, "conn_rw": 5.5555, "inputs": 1.2181, "lane_inputs": 0.5748,
                "rom_logic_bits": 0.1782},
            "ff": {"layer": 396.1617, "lane_shift": 0.3393, "lane_levels": 1.5431, "conn_rw":
                8.4772, "inputs": 1.4508, "outputs": 0.9012},
        },
        "parallel": {
            "lut4": {"reg_bits": 2.1671, "par_mult": 1.3207, "par_mult_const": 0.0661, "par_tree":
                2.1049},
            "ff": {"inputs": 10.7061, "outputs": 0.1403, "reg_bits": 1.3401, "par_mult_const":
                0.041},
        },
    },
}


def logic_features(spec: LayerSpec, family: str, dsp: bool, lanes: int | None = None,
                   memories: list[MemoryUse] | None = None, layer: _Layer | None = None
                   ) -> dict[str, float]:
    """Counted quantities of a layer build whose weighted sum estimates its LUT4 and FF (the
    keys of ``FEATURES[kind]``):

    - ``layer``: 1 (control, bus decode, header read-back); ``inputs``: input bits (held and
      selected); ``outputs``: output bits (results and the output payload); ``reg_bits``: weight
      bits held in flip-flops (level tables; in parallel builds also connection words and
      biases);
    - folded: ``lane``: lanes; ``lane_acc``: lanes x accumulator bits (accumulate, bias,
      round); ``lane_mult``: lanes x multiplier bits built from LUTs (``shared``: input x level,
      ``multiply``: input x weight, ``factored``: the finisher's partial sum x level; 0 with
      DSPs or ``shift``); ``lane_shift``: lanes x input bits x shift terms x exponent bits;
      ``lane_levels``: lanes x K x level bits of a writable level table (the level lookup;
      ``factored``: the K partial sums and their select); ``conn_rw``: lanes x connection-word
      bits when the words are writable (bus write enables per lane, the read-back select);
      ``bias_const``: bias bits wired in as constants (each lane selects its output's);
      ``lane_inputs``: lanes x input bits when every lane selects its own input (schedules that
      are not regular); ``rom_logic_bits`` / ``ram_logic_bits``: bits of memories Yosys leaves
      to logic;
    - parallel: ``par_mult``: multiplier bits built from LUTs (K products per used input for
      ``shared``, K per output for ``factored``, one per connection for ``multiply``), by a
      writable operand; ``par_mult_const``: the same by constants (``tunable=none``);
      ``par_shift``: connections x input bits x shift terms x exponent bits; ``par_select``:
      connections x K x product bits where a writable index picks one of K products
      (``shared``) or gates each of K partial sums (``factored``); ``par_tree``: adder-tree bits
      (connections x accumulator bits; ``factored``: x partial-sum bits per tree).
    """
    lay = layer or _Layer.of(spec)
    folded = lanes is not None or spec.arch.kind is Microarch.FOLDED
    P = (lanes or spec.arch.lanes) if folded else 0
    arith = lay.folded_arith if folded else lay.arith
    in_w, lv_w = spec.in_fmt.width, spec.level_fmt.width
    acc = spec.acc_width
    f = dict.fromkeys(FEATURES["folded" if folded else "parallel"], 0.0)
    f["layer"] = 1.0
    # a banked input (memory rows of a beat) leaves one beat's bits to select in logic
    f["inputs"] = (spec.in_beat_size if folded and input_banked(spec) else spec.n_in) * in_w
    # banked outputs keep no results in flip-flops (see :func:`beat_logic`)
    f["outputs"] = (0 if folded and output_banked(_folded_view(lay, P))
                    else spec.n_out * spec.out_fmt.width)
    writable = lay.tunable is not Tunable.NONE
    level_bits = lay.folded_level_bits if folded else lay.level_bits
    if writable and arith is not Arith.MULTIPLY:
        f["reg_bits"] += 2 * spec.K * level_bits
    if folded:
        f["lane"] = P
        f["lane_acc"] = P * acc
        if arith is Arith.SHARED and not dsp:
            f["lane_mult"] = P * in_w * lv_w
        elif arith is Arith.MULTIPLY and not dsp:
            f["lane_mult"] = P * in_w * spec.weight_width
        elif arith is Arith.FACTORED and not dsp:
            f["lane_mult"] = P * spec.partial_sum_width * lv_w
        if arith is Arith.SHIFT:
            f["lane_shift"] = P * in_w * shift_terms(spec) * exp_bits(spec)
        if arith in (Arith.SHARED, Arith.SHIFT) and writable:
            f["lane_levels"] = P * spec.K * level_bits
        elif arith is Arith.FACTORED:
            f["lane_levels"] = P * spec.K * (spec.partial_sum_width + level_bits * writable)
        if lay.tunable is Tunable.ALL:
            f["conn_rw"] = P * lay.folded_conn_bits
        if not writable:
            f["bias_const"] = spec.n_out * spec.bias_fmt.width
        if not lay.regular:
            f["lane_inputs"] = P * spec.n_in * in_w
        for m in memories or ():
            if m.kind == "logic":
                f["rom_logic_bits" if m.rom else "ram_logic_bits"] += m.bits
        return f
    every = lay.tunable is Tunable.ALL
    if writable:
        f["reg_bits"] += 2 * spec.n_out * spec.bias_fmt.width
    if every:
        f["reg_bits"] += 2 * spec.n_conn * lay.conn_bits
    psum = spec.partial_sum_width
    # a product by a writable operand is a multiplier; by a constant, shifts and adds
    mult = "par_mult" if writable else "par_mult_const"
    if not dsp:
        if arith is Arith.SHARED:
            f[mult] = lay.used_inputs * spec.K * in_w * lv_w
        elif arith is Arith.FACTORED:
            f[mult] = spec.n_out * spec.K * psum * lv_w
        elif arith is Arith.MULTIPLY:
            f[mult] = spec.n_conn * in_w * spec.weight_width
    if arith is Arith.SHIFT:
        f["par_shift"] = spec.n_conn * in_w * shift_terms(spec) * exp_bits(spec)
    if every and arith is Arith.SHARED:
        f["par_select"] = spec.n_conn * spec.K * (in_w + lv_w)
    elif every and arith is Arith.FACTORED:
        f["par_select"] = spec.n_conn * spec.K * in_w
    f["par_tree"] = spec.n_conn * (psum * (spec.K if every else 1)
                                   if arith is Arith.FACTORED else acc)
    return f


def beat_logic(spec, lanes: int | None = None) -> tuple[float, float]:
    """LUT4 and FF a folded layer's beats add (counted from the datapath, not fitted): the fill
    buffer (``n_in`` input elements of flip-flops, an enable per beat, the beat counter) for
    input beats; the beat counter and the multiplexer that picks the leaving beat out of the
    output buffer (about two thirds of a LUT4 per bit and extra beat) for output beats; with
    banked outputs the counters of both sides and the pick of a beat out of a row."""
    lanes = lanes or spec.arch.lanes
    n_ib = spec.n_in // spec.in_beat_size
    n_ob = spec.n_out // spec.out_beat_size
    lut = ff = 0.0
    if n_ib > 1 and input_banked(spec):  # two banks of a memory: counters, flags, addresses
        ff += _bits(n_ib) + 7
        lut += 3 * _bits(2 * n_ib) + 8
    elif n_ib > 1:
        ff += spec.n_in * spec.in_fmt.width + _bits(n_ib) + 1
        lut += n_ib + _bits(n_ib) + 2
    view = _ArchView(spec, replace(spec.arch, kind=Microarch.FOLDED, lanes=lanes))
    if n_ob > 1 and output_banked(view):
        R = output_row(view)
        rows = -(-spec.n_out // R)
        # both sides' row addresses in registers (the read side's plus one as well), parts
        counters = 3 * _bits(2 * rows) + _bits(R // lanes) + _bits(R // spec.out_beat_size)
        ff += counters + _bits(n_ob) + 7
        lut += 2 * counters + 10
        lut += spec.out_beat_size * spec.out_fmt.width * (R // spec.out_beat_size - 1) * 2 / 3
    elif n_ob > 1:
        ff += _bits(n_ob)
        lut += spec.out_beat_size * spec.out_fmt.width * (n_ob - 1) * 2 / 3 + _bits(n_ob) + 1
    return lut, ff


def word_stage_ff(lay: _Layer, lanes: int, depth: int) -> int:
    """Flip-flops of the word stage of deep lanes (:func:`~lognet.hw.folded.timing.word_stage`,
    counted from the datapath, not fitted): per lane a valid bit, the position (first, last,
    slot), the input and the connection word."""
    spec = lay.spec
    view = _TimingView(Arch(Microarch.FOLDED, lanes, lay.folded_arith, lay.tunable), spec.K,
                       spec.fanins, (spec.sources[0],) if lay.regular else spec.sources[:2],
                       spec.n_in, spec.n_out, spec.in_beat_size, spec.out_beat_size,
                       spec.in_fmt, spec.out_fmt)
    if not word_stage(view, depth):
        return 0
    slot_bits = _bits(-(-spec.n_out // lanes))
    cb = lay.folded_conn_bits
    return lanes * (4 + slot_bits + spec.in_fmt.width + cb)


def narrowest_beat(n: int, cycles_per_vector: float) -> int:
    """The fewest elements per transfer (a divisor of ``n``) whose ``n / B`` transfers (and the
    clock the fill buffer takes to hand a vector over) fit in ``cycles_per_vector`` clocks, so
    the stream never slows the layer; ``n`` (the whole vector) when even that does not help."""
    for b in range(1, n + 1):
        if n % b == 0 and n // b + 1 <= cycles_per_vector:
            return b
    return n


def _dsp_count(lay: _Layer, lanes: int | None, dsp: bool) -> int:
    if not dsp:
        return 0
    spec = lay.spec
    if lanes is not None:
        return lanes if lay.folded_arith is not Arith.SHIFT else 0
    if lay.arith is Arith.SHARED:
        return lay.used_inputs * spec.K
    if lay.arith is Arith.FACTORED:
        return spec.n_out * spec.K
    if lay.arith is Arith.MULTIPLY:
        return spec.n_conn
    return 0


# -- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """Resources of a layer or of a whole build."""

    lut4: int = 0
    ff: int = 0
    dsp: int = 0
    #: blocks per block kind (``ebr``, ``dp16kd``, ``lutram``, ``spram``)
    blocks: dict[str, int] = field(default_factory=dict)
    #: memory bits per kind (block kinds, ``logic``, ``ff``)
    bits: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Use) -> Use:
        def add(a, b):
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}

        return Use(self.lut4 + other.lut4, self.ff + other.ff, self.dsp + other.dsp,
                   add(self.blocks, other.blocks), add(self.bits, other.bits))

    def to_json(self) -> dict:
        return {"lut4": self.lut4, "ff": self.ff, "dsp": self.dsp, "blocks": dict(self.blocks),
                "bits": dict(self.bits)}


@dataclass(frozen=True)
class LayerPlan:
    name: str
    #: ``parallel`` or ``folded``
    kind: str
    lanes: int
    arith: str
    tunable: str
    n_conn: int
    #: rows of the lanes' memories (the longest lane), 0 for parallel builds
    depth: int
    cycles_per_vector: float
    memories: tuple[MemoryUse, ...]
    use: Use

    @property
    def utilisation(self) -> float:
        """Connection-steps per lane-clock at full rate."""
        return self.n_conn / (self.lanes * self.cycles_per_vector) if self.kind == "folded" \
            else 1.0

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "lanes": self.lanes, "arith": self.arith,
                "tunable": self.tunable, "connections": self.n_conn, "depth": self.depth,
                "cycles_per_vector": self.cycles_per_vector,
                "utilisation": round(self.utilisation, 4),
                "memories": [{"name": m.name, "width": m.width, "depth": m.depth,
                              "copies": m.copies, "bits": m.bits, "rom": m.rom,
                              "kind": m.kind, "shape": list(m.shape) if m.shape else None,
                              "blocks": m.blocks} for m in self.memories],
                **self.use.to_json()}


@dataclass(frozen=True)
class Shortfall:
    resource: str
    needed: int
    available: int

    def __str__(self) -> str:
        return (f"{self.resource}: needs {self.needed:,}, the device has {self.available:,} "
                f"({self.needed - self.available:,} over)")


@dataclass(frozen=True)
class Plan:
    target: str
    clock_mhz: float
    dsp: bool
    layers: tuple[LayerPlan, ...]
    total: Use
    #: what runs out (empty: it fits)
    shortfalls: tuple[Shortfall, ...]
    #: device capacity per resource, as the plan checks it
    capacity: dict[str, int]
    #: the resources the plan checks, used amounts
    used: dict[str, int]

    @property
    def fits(self) -> bool:
        return not self.shortfalls

    @property
    def cycles_per_vector(self) -> float:
        """Of the whole build: the slowest layer sets the pace of a stream."""
        return max(la.cycles_per_vector for la in self.layers)

    @property
    def inferences_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles_per_vector

    def to_json(self) -> dict:
        return {"target": self.target, "clock_mhz": self.clock_mhz, "dsp": self.dsp,
                "fits": self.fits, "shortfalls": [
                    {"resource": s.resource, "needed": s.needed, "available": s.available}
                    for s in self.shortfalls],
                "cycles_per_vector": self.cycles_per_vector,
                "inferences_per_s": self.inferences_per_s,
                "used": dict(self.used), "capacity": dict(self.capacity),
                "total": self.total.to_json(), "layers": [la.to_json() for la in self.layers]}


def _memories(lay: _Layer, lanes: int | None) -> tuple[list[MemoryUse], int]:
    """The memories a build of the layer holds (before placement) and the lanes' depth ``T``."""
    spec = lay.spec
    tun = lay.tunable
    if lanes is None:  # parallel: flip-flops
        mems = []
        if tun is Tunable.ALL:
            # shift builds keep each connection's level word active (the commit walk)
            active = lay.level_bits if lay.arith is Arith.SHIFT else lay.conn_bits
            mems += [MemoryUse("conn_regs", lay.conn_bits, spec.n_conn, kind="ff"),
                     MemoryUse("conn_active_regs", active, spec.n_conn, kind="ff")]
        if tun is not Tunable.NONE:
            mems.append(MemoryUse("bias_regs", spec.bias_fmt.width, spec.n_out, copies=2,
                                  kind="ff"))
            if lay.arith is not Arith.MULTIPLY:
                mems.append(MemoryUse("level_regs", lay.level_bits, spec.K, copies=2, kind="ff"))
        return mems, 0
    P = lanes
    lengths = _lane_lengths(spec, P)
    T = max(lengths)
    cb = lay.folded_conn_bits
    mems = []
    if not lay.regular:
        # valid, first, last, source, slot; Yosys drops the valid bit when every lane is T long
        # (a constant column of a ROM)
        row = 2 + (min(lengths) < T) + _bits(spec.n_in) + _bits(-(-spec.n_out // P))
        if tun is not Tunable.ALL:
            row += cb
        mems.append(MemoryUse("lane_rom", P * row, T, rom=True))
    elif tun is not Tunable.ALL:
        mems.append(MemoryUse("conn_rom", P * cb, T, rom=True))
    if input_banked(spec):
        mems.append(MemoryUse("input_banks", spec.in_beat_size * spec.in_fmt.width,
                              2 << _bits(spec.n_in // spec.in_beat_size)))  # bank stride 2**k
    view = _folded_view(lay, P)
    if output_banked(view):
        R, ow = output_row(view), spec.out_fmt.width
        mems.append(MemoryUse("output_banks", R * ow, 2 * -(-spec.n_out // R), granularity=ow))
    if tun is Tunable.ALL and spec.arch.single_copy:
        mems.append(MemoryUse("conn_single", P * cb, T, granularity=cb, uninit=True))
    elif tun is Tunable.ALL:
        mems += [MemoryUse("conn_shadow", P * cb, T, granularity=cb),
                 MemoryUse("conn_active", P * cb, T)]
    if tun is not Tunable.NONE:
        bw = spec.bias_fmt.width
        mems.append(MemoryUse("bias_shadow", bw, spec.n_out))
        deep, shallow = -(-spec.n_out // P), spec.n_out // P
        n_deep = spec.n_out - shallow * P if deep != shallow else P
        mems.append(MemoryUse("bias_active", bw, deep, copies=n_deep))
        if deep != shallow and shallow:
            mems.append(MemoryUse("bias_active", bw, shallow, copies=P - n_deep))
        if lay.folded_arith is not Arith.MULTIPLY:
            mems.append(MemoryUse("level_regs", lay.folded_level_bits, spec.K, copies=2,
                                  kind="ff"))
    return mems, T


def _layer_plan(lay: _Layer, lanes: int | None, dev: Device, dsp: bool) -> LayerPlan:
    spec = lay.spec
    mems, T = _memories(lay, lanes)
    placed = [place_memory(m, dev) for m in mems]
    feats = logic_features(spec, dev.family, dsp, lanes, placed, lay)
    co = COEFFICIENTS[dev.family]["folded" if lanes is not None else "parallel"]
    lut = sum(co["lut4"].get(k, 0.0) * v for k, v in feats.items())
    ff = sum(co["ff"].get(k, 0.0) * v for k, v in feats.items())
    if lanes is not None:
        b_lut, b_ff = beat_logic(spec, lanes)
        lut, ff = lut + b_lut, ff + b_ff
        ff += word_stage_ff(lay, lanes, T)
    blocks: dict[str, int] = {}
    bits: dict[str, int] = {}
    for m in placed:
        bits[m.kind] = bits.get(m.kind, 0) + m.bits
        if m.blocks:
            blocks[m.kind] = blocks.get(m.kind, 0) + m.blocks
    use = Use(round(lut), round(ff), _dsp_count(lay, lanes, dsp), blocks, bits)
    arith = lay.folded_arith if lanes is not None else lay.arith
    return LayerPlan(spec.name, "folded" if lanes is not None else "parallel", lanes or 1,
                     arith.value, lay.tunable.value, spec.n_conn, T,
                     cycles_per_vector(lay, lanes) if lanes is not None else 1,
                     tuple(placed), use)


def _check(target: str, clock: float | None) -> tuple[Device, float]:
    dev = device(target)
    clock = dev.default_clock_mhz if clock is None else float(clock)
    if not (math.isfinite(clock) and clock > 0):
        raise InputError(f"clock {clock!r} MHz: give a positive number of MHz")
    return dev, clock


def _check_lanes(spec: LayerSpec) -> None:
    if spec.arch.kind is Microarch.FOLDED and spec.arch.lanes > spec.n_out:
        raise InputError(f"layer {spec.name!r}: folded with {spec.arch.lanes} lanes but only "
                         f"{spec.n_out} outputs; use at most {spec.n_out} lanes (a lane computes "
                         f"whole outputs)")


def _assemble(target, dev, clock, dsp, layer_plans) -> Plan:
    total = Use()
    for la in layer_plans:
        total = total + la.use
    used = {"LUT4": total.lut4, "FF": total.ff, dev.dsp_cell: total.dsp}
    capacity = {"LUT4": dev.lut4, "FF": dev.ff, dev.dsp_cell: dev.dsp}
    amounts = {"lut4": total.lut4, "ff": total.ff, "lutram": total.blocks.get("lutram", 0)}
    used[dev.logic_cell] = round(sum(k * amounts[n]
                                     for n, k in LOGIC_CELLS[dev.family].items()))
    capacity[dev.logic_cell] = dev.logic_cells
    for b in dev.blocks:
        used[b.cell] = total.blocks.get(b.name, 0)
        capacity[b.cell] = b.count
    short = tuple(Shortfall(k, used[k], capacity[k]) for k in used if used[k] > capacity[k])
    return Plan(target, clock, dsp, tuple(layer_plans), total, short, capacity, used)


def plan(spec: LayerSpec | NetworkSpec, target: str, clock_mhz: float | None = None, *,
         dsp: bool = False, lanes: list[int] | None = None) -> Plan:
    """The resource plan of ``spec`` built as it says (or with ``lanes`` folded lanes per
    layer) on ``target``. Raises :class:`InputError` for an unknown target, a bad clock, or
    lanes beyond a layer's outputs."""
    dev, clock = _check(target, clock_mhz)
    layers = spec.layers
    if lanes is not None and len(lanes) != len(layers):
        raise InputError(f"{len(lanes)} lane counts for {len(layers)} layers")
    plans = []
    for k, la in enumerate(layers):
        if lanes is not None:
            la = _ArchView(la, replace(la.arch, kind=Microarch.FOLDED, lanes=lanes[k]))
        _check_lanes(la)
        lay = _Layer.of(la)
        folded = la.arch.kind is Microarch.FOLDED
        plans.append(_layer_plan(lay, la.arch.lanes if folded else None, dev, dsp))
    return _assemble(target, dev, clock, dsp, plans)


# -- auto-folding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoResult:
    #: lanes per layer
    lanes: tuple[int, ...]
    #: the plan with those lanes
    plan: Plan
    #: the goal was met (the device holds the build; with ``fps``, the rate is reached)
    ok: bool
    #: why not, one line ("" when ok)
    reason: str = ""


def _candidates(lay: _Layer) -> list[tuple[int, float]]:
    """``(lanes, cycles per vector)`` worth trying: the fewest lanes that bring the outputs per
    lane down to each possible count (more lanes with the same count only add hardware)."""
    n = lay.spec.n_out
    ps = sorted({-(-n // s) for s in range(1, n + 1)})
    out, best = [], math.inf
    for p in ps:
        c = cycles_per_vector(lay, p)
        if c < best:  # keep only lane counts that are faster than every smaller one
            out.append((p, c))
            best = c
    return out


#: the share of a device's logic (LUT4, FF, logic cells) :func:`auto_lanes` fills by default:
#: room for placement and for what surrounds the core (a bus bridge, a test harness), and for
#: the model's error (measured: the demo network at 94.7 % of the UP5K's logic cells by the plan
#: needed 102 % for the core alone)
AUTO_FILL = 0.85
_LOGIC = ("LUT4", "FF", "ICESTORM_LC", "TRELLIS_COMB")


def _within(p: Plan, fill: float) -> bool:
    return p.fits and all(p.used[k] <= fill * p.capacity[k] for k in _LOGIC if k in p.used)


def auto_lanes(spec: LayerSpec | NetworkSpec, target: str, clock_mhz: float | None = None,
               fps: float | None = None, *, dsp: bool = False,
               fill: float = AUTO_FILL) -> AutoResult:
    """Folded lanes per layer: the most inferences per second the device holds, or (``fps``
    given) that rate with the fewest lanes. The logic may be filled to ``fill`` of the device
    (block RAMs and DSPs to the last one).

    A network runs at the pace of its slowest layer, so for a pace of ``C`` clocks per vector
    each layer gets the fewest lanes that keep it within ``C`` and no layer idles waiting for
    another with more lanes than it needs. The search walks the candidate paces from the
    fastest and stops at the first whose plan fits. Lanes range over 1 .. n_out (a lane
    computes whole outputs); only lane counts that lower the layer's cycles are tried."""
    dev, clock = _check(target, clock_mhz)
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InputError(f"--fps {fps!r}: give a positive rate")
    if not 0 < fill <= 1:
        raise InputError(f"fill {fill!r}: give a share of the device's logic in (0, 1]")
    lays = [_Layer.of(la) for la in spec.layers]
    cands = [_candidates(lay) for lay in lays]

    def lanes_for(pace: float) -> list[int] | None:
        out = []
        for cs in cands:
            ok = [p for p, c in cs if c <= pace]
            if not ok:
                return None
            out.append(min(ok))
        return out

    def build(lanes: list[int]) -> Plan:
        return _assemble(target, dev, clock, dsp,
                         [_layer_plan(lay, p, dev, dsp) for lay, p in zip(lays, lanes)])

    if fps is not None:
        pace = clock * 1e6 / fps
        lanes = lanes_for(pace)
        if lanes is None:
            lanes = [cs[-1][0] for cs in cands]
            p = build(lanes)
            return AutoResult(tuple(lanes), p, False,
                              f"{fps:,.0f} inferences/s needs at most {pace:.3g} clocks per "
                              f"vector at {clock:g} MHz; the fastest folding gives "
                              f"{p.cycles_per_vector:g} ({p.inferences_per_s:,.0f}/s)")
        p = build(lanes)
        if _within(p, fill):
            return AutoResult(tuple(lanes), p, True)
        why = "; ".join(map(str, p.shortfalls)) or _over_fill(p, fill)
        return AutoResult(tuple(lanes), p, False, "does not fit: " + why)
    paces = sorted({c for cs in cands for _, c in cs})
    last = None
    for pace in paces:
        lanes = lanes_for(pace)
        if lanes is None:
            continue
        p = build(lanes)
        if _within(p, fill):
            return AutoResult(tuple(lanes), p, True)
        last = (lanes, p)
    lanes, p = last if last else ([1] * len(lays), build([1] * len(lays)))
    return AutoResult(tuple(lanes), p, False, "even one lane per layer does not fit: "
                      + ("; ".join(map(str, p.shortfalls)) or _over_fill(p, fill)))


def auto_folded(spec: LayerSpec | NetworkSpec, target: str, clock_mhz: float | None = None,
                fps: float | None = None, *, dsp: bool = False, fill: float = AUTO_FILL
                ) -> tuple[LayerSpec | NetworkSpec, AutoResult]:
    """``spec`` (the same kind back) with every layer folded to the lanes :func:`auto_lanes`
    picks for ``target``, arithmetic and tunability kept; and the search's result (check
    ``ok`` before using the spec: it is the closest the search came otherwise)."""
    found = auto_lanes(spec, target, clock_mhz, fps, dsp=dsp, fill=fill)
    layers = [la.with_arch(replace(la.arch, kind=Microarch.FOLDED, lanes=p))
              for la, p in zip(spec.layers, found.lanes)]
    # the network's own input and output streams in the narrowest beats that keep pace (a
    # spec that sets its beats keeps them), and every link between layers whose vector both
    # sides can keep in block RAM (output banks behind one layer, input banks in front of the
    # next) in beats too: flip-flops would hold that vector three times (the lanes' results,
    # the output buffer, the next layer's input), banks hold it in memory. A link that cannot
    # bank stays a whole vector (a beat there would only add a fill buffer). Beats change what
    # the layers cost, so the lanes are searched again with them; the whole-vector result
    # stands when that does not reach the goal.
    if found.ok:
        beat = _with_beats(list(spec.layers), found.lanes, found.plan.cycles_per_vector)
        if beat != list(spec.layers):
            again = auto_lanes(_same_kind(spec, beat), target, clock_mhz, fps, dsp=dsp,
                               fill=fill)
            if again.ok and again.lanes != found.lanes:
                # the lanes moved: the links' beats follow them (a bank row holds a beat or
                # the lanes' results of a slot, one a multiple of the other)
                beat = _with_beats(list(spec.layers), again.lanes,
                                   again.plan.cycles_per_vector)
                again = auto_lanes(_same_kind(spec, beat), target, clock_mhz, fps, dsp=dsp,
                                   fill=fill)
            if again.ok and again.plan.inferences_per_s >= found.plan.inferences_per_s * (
                    0 if fps else 1):
                found = again
                layers = [la.with_arch(replace(la.arch, kind=Microarch.FOLDED, lanes=p))
                          for la, p in zip(beat, again.lanes)]
    return _same_kind(spec, layers), found


def _same_kind(spec, layers):
    return layers[0] if isinstance(spec, LayerSpec) else NetworkSpec(spec.name, tuple(layers))


def _with_beats(layers: list[LayerSpec], lanes, cpv: float) -> list[LayerSpec]:
    """``layers`` with the beats :func:`auto_folded` gives them at ``lanes`` and a pace of
    ``cpv`` clocks per vector: the network's ports in their narrowest beats, and each link
    whose beats both sides can bank in the narrowest beat that does (unset beats only)."""
    out = [la.with_arch(replace(la.arch, kind=Microarch.FOLDED, lanes=p))
           for la, p in zip(layers, lanes)]
    first, last = out[0], out[-1]
    if not first.arch.in_beat:
        out[0] = first.with_arch(replace(first.arch, in_beat=_beat_or_0(first.n_in, cpv)))
    last = out[-1]
    if not last.arch.out_beat:
        out[-1] = last.with_arch(replace(last.arch, out_beat=_beat_or_0(last.n_out, cpv)))
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.arch.out_beat or b.arch.in_beat:
            continue
        n = a.n_out
        for k in range(1, n):
            if n % k or n // k + 1 > cpv:
                continue
            a2 = a.with_arch(replace(a.arch, out_beat=k))
            b2 = b.with_arch(replace(b.arch, in_beat=k))
            if output_banked(a2) and input_banked(b2):
                out[i], out[i + 1] = a2, b2
                break
    return [la.with_arch(replace(la.arch, lanes=orig.arch.lanes, kind=orig.arch.kind))
            for la, orig in zip(out, layers)]


def _beat_or_0(n: int, cycles_per_vector: float) -> int:
    b = narrowest_beat(n, cycles_per_vector)
    return 0 if b == n else b


def auto_summary(spec: LayerSpec | NetworkSpec, found: AutoResult) -> str:
    """One line: the lanes picked per layer and what the plan says they give."""
    p = found.plan
    lanes = ", ".join(f"{la.name} folded:{k}" for la, k in zip(spec.layers, found.lanes))
    first, last = spec.layers[0], spec.layers[-1]
    beats = (f"; streams of {first.in_beat_size} input / {last.out_beat_size} output elements "
             f"a transfer")
    links = [f"{a.name}->{b.name} {a.out_beat_size}" for a, b in zip(spec.layers, spec.layers[1:])
             if a.out_beat_size < a.n_out]
    if links:
        beats += f", links in beats ({', '.join(links)} elements)"
    return (f"auto-folded for {p.target}: {lanes}{beats}; {p.cycles_per_vector:g} "
            f"clocks/vector, {p.inferences_per_s:,.0f} inferences/s at {p.clock_mhz:g} MHz "
            f"(plan)")


def _over_fill(p: Plan, fill: float) -> str:
    return "; ".join(f"{k}: {p.used[k]:,} is more than {fill:.0%} of {p.capacity[k]:,}"
                     for k in _LOGIC if k in p.used and p.used[k] > fill * p.capacity[k])


# -- the table ------------------------------------------------------------------------------------


def format_plan(p: Plan) -> str:
    """The human table: per layer, the total, the memories and the verdict."""
    lines = [f"resource plan for {p.target} at {p.clock_mhz:g} MHz"
             f"{' (DSPs allowed)' if p.dsp else ''}", ""]
    head = (f"{'layer':<14} {'arch':<10} {'arith/tunable':<16} {'conns':>8} {'T':>6} "
            f"{'cyc/vec':>8} {'util':>5} {'LUT4':>7} {'FF':>7} {'DSP':>4}  memory")
    lines += [head, "-" * len(head)]

    def mem_text(use: Use) -> str:
        parts = []
        for k in sorted(use.bits):
            blocks = use.blocks.get(k)
            parts.append(f"{k} {use.bits[k]:,} b" + (f" / {blocks} blk" if blocks else ""))
        return ", ".join(parts) or "-"

    for la in p.layers:
        arch = f"folded:{la.lanes}" if la.kind == "folded" else "parallel"
        lines.append(f"{la.name[:14]:<14} {arch:<10} {la.arith + '/' + la.tunable:<16} "
                     f"{la.n_conn:>8,} {la.depth or '-':>6} {la.cycles_per_vector:>8g} "
                     f"{la.utilisation:>5.0%} {la.use.lut4:>7,} {la.use.ff:>7,} "
                     f"{la.use.dsp:>4}  {mem_text(la.use)}")
    lines.append(f"{'total':<14} {'':<10} {'':<16} {sum(la.n_conn for la in p.layers):>8,} "
                 f"{'':>6} {p.cycles_per_vector:>8g} {'':>5} {p.total.lut4:>7,} "
                 f"{p.total.ff:>7,} {p.total.dsp:>4}  {mem_text(p.total)}")
    lines += ["", "memories:"]
    for la in p.layers:
        for m in la.memories:
            where = m.kind + (f" {m.shape[0]}x{m.shape[1]}, {m.blocks} blocks"
                              if m.shape else "")
            copies = f" x{m.copies}" if m.copies > 1 else ""
            lines.append(f"  {la.name[:14]:<14} {m.name:<16} {m.width:>5} x {m.depth:<6}"
                         f"{copies:<5} {m.bits:>9,} bits{' ROM' if m.rom else '    '}  -> {where}")
    lines += ["", f"{'resource':<16} {'used':>9} {'device':>9}"]
    for k in p.used:
        pct = 100 * p.used[k] / max(p.capacity[k], 1)
        lines.append(f"{k:<16} {p.used[k]:>9,} {p.capacity[k]:>9,}  {pct:5.1f} %")
    lines += ["", f"{p.cycles_per_vector:g} cycles per vector, "
                  f"{p.inferences_per_s:,.0f} inferences/s at {p.clock_mhz:g} MHz"]
    if p.fits:
        lines.append("fits")
    else:
        lines += [f"does not fit: {s}" for s in p.shortfalls]
    return "\n".join(lines)
