"""The layer Component: streams in and out, a configuration bus, and a datapath chosen by the
spec's microarchitecture parameters (``parallel`` or ``folded:P``; ``shared``, ``factored``,
``shift`` or ``multiply`` arithmetic; ``all``, ``levels`` or ``none`` tunability).

It reads only the IR (:class:`~lognet.model.spec.LayerSpec`); nothing is fitted or computed from
weights inside ``elaborate()`` beyond placing the spec's integers.
"""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from lognet.model.arch import Arith, Microarch, SpecError, Tunable
from lognet.model.spec import LayerSpec

from .bank import RegArray
from .common import ConfigSignature, fmt_shape, header_read
from .regmap import RegisterMap, encode_shift_level, exp_bits, shift_terms

__all__ = ["SHARED_MIN_FANOUT", "Layer", "choose_arith", "resolve_arch"]


#: below this many connections per input, a fully tunable parallel ``shared`` build's K
#: products per input cost more than ``factored``'s gated trees (see :func:`choose_arith`)
SHARED_MIN_FANOUT = 7


def choose_arith(spec: LayerSpec) -> Arith:
    """The cheapest arithmetic mode for a spec (``--arith auto``), from measured area.

    ``shift`` whenever every level is a power of two or a sum of two (no multiplier at all).
    Otherwise, in parallel builds, ``factored`` (accumulate per level, multiply by the K levels
    at the end), except with ``tunable=all`` where every input feeds at least
    :data:`SHARED_MIN_FANOUT` connections: there the K products per input of ``shared`` are
    shared by enough connections to beat ``factored``'s K gated trees per output. Folded builds
    use ``shared``.

    Measured with the YoWASP Yosys (``synth_ice40``, no DSPs, ``python benchmarks/area.py`` and
    ``benchmarks/da4ml_peer.py``), K = 8, 8-bit inputs. 16x4 parallel (4 connections per input),
    LUT4 in shift / factored / shared: 5,399 / 20,887 / 28,862 with ``tunable=all``,
    3,417 / 7,157 / 10,423 with ``levels``, 1,412 / 2,131 / 2,605 with ``none``; the 64x32 digits
    layer with ``tunable=none``: factored 43,577, shared 64,336 (multiply 77,871). With
    ``tunable=all``, ``shared`` costs about 146 LUT4 per connection plus 1,270 per input (its K
    products multiply by writable levels) and ``factored`` about 326 per connection, so
    ``shared`` wins from about 7 connections per input (16x8 with DSPs allowed: 18,686 against
    25,786). In folded builds (one multiplier per lane, no per-input products) ``shared`` beats
    ``factored`` (64x32 folded:8: 3,239 against 6,734 LUT4), whose K partial sums per lane cost
    more registers and adders than the multiplier they save. ``multiply`` stores plain weights,
    not a codebook, and is the baseline rather than a choice."""
    try:
        shift_terms(spec)
        return Arith.SHIFT
    except SpecError:
        pass
    if spec.arch.kind is Microarch.PARALLEL:
        if spec.arch.tunable is not Tunable.ALL:
            return Arith.FACTORED
        used = len({int(i) for src in spec.sources for i in src})
        if spec.n_conn < SHARED_MIN_FANOUT * max(used, 1):
            return Arith.FACTORED
    return Arith.SHARED


def resolve_arch(spec: LayerSpec) -> LayerSpec:
    """Replace ``arith=auto`` by a concrete mode and check the combination is buildable."""
    a = spec.arch
    if a.arith is Arith.AUTO:
        a = dataclasses.replace(a, arith=choose_arith(spec))
        spec = spec.with_arch(a)
    if a.arith is Arith.MULTIPLY and a.tunable is Tunable.LEVELS:
        raise SpecError(
            f"layer {spec.name!r}: arith=multiply stores plain weights and has no level table; "
            f"use --tunable all or none with it"
        )
    if a.arith is Arith.SHIFT:
        shift_terms(spec)  # raises with the reason when levels are not shift-compatible
    return spec


def tree_stages(n: int, per_stage: int = 2) -> int:
    """Register stages of :func:`~lognet.hw.common.adder_tree_levels` for ``n`` leaves."""
    levels = max(0, (n - 1).bit_length())
    return 1 + (max(levels - 1, 0) // per_stage)


class Layer(wiring.Component):
    """One codebook-weight layer.

    Ports: see docs/interfaces.md. ``i_stream`` takes one input vector per transfer,
    ``o_stream`` gives one output vector per transfer, ``cfg`` writes and reads the register map
    (:attr:`regmap`).

    Latency and throughput: parallel builds accept one vector per clock and answer after
    :attr:`latency` clocks; folded builds take :attr:`cycles_per_vector` clocks per vector.

    Parameters
    ----------
    spec:
        The layer. ``arith=auto`` is resolved here.
    readback:
        When False the weight registers read back as 0 (saves the read multiplexers).
    """

    def __init__(self, spec: LayerSpec, *, readback: bool = True, base: int = 0):
        spec = resolve_arch(spec)
        self.spec = spec
        self.arith = spec.arch.arith
        self.tunable = spec.arch.tunable
        self.folded = spec.arch.kind is Microarch.FOLDED
        self.readback = readback
        self.regmap = RegisterMap(spec, base=base)
        self.shift_terms = shift_terms(spec) if self.arith is Arith.SHIFT else 0
        self.exp_bits = exp_bits(spec) if self.arith is Arith.SHIFT else 0
        self.n_in, self.n_out = spec.n_in, spec.n_out
        self.in_width, self.out_width = spec.in_fmt.width, spec.out_fmt.width
        self.in_signed, self.out_signed = spec.in_fmt.signed, spec.out_fmt.signed
        self.addr_width = self.regmap.addr_width
        #: parallel shift builds with writable connections keep each connection's level word
        #: (not its index) in the active registers, looked up by a walk over the connections at
        #: commit (``n_conn + 2`` clocks): no level lookup per connection in the datapath
        self.commit_walk = (not self.folded and self.arith is Arith.SHIFT
                            and self.tunable is Tunable.ALL)
        if self.folded:
            from .folded import folded_timing

            self.latency, self.cycles_per_vector = folded_timing(self)
        else:
            self.cycles_per_vector = 1
            self.latency = self._parallel_latency()
        super().__init__({
            "i_stream": In(stream.Signature(data.ArrayLayout(fmt_shape(spec.in_fmt), spec.n_in))),
            "o_stream": Out(stream.Signature(
                data.ArrayLayout(fmt_shape(spec.out_fmt), spec.n_out))),
            "cfg": In(ConfigSignature(self.addr_width)),
        })
        #: network hooks: request a commit (the network raises it only when the layer is empty),
        #: whether any vector is inside, whether a commit is pending
        self.ext_commit = Signal()
        self.busy = Signal()
        self.pending = Signal()

    def _parallel_latency(self) -> int:
        s = self.spec
        if self.arith is Arith.FACTORED:
            per_k = []
            for idx in s.indices:
                if self.tunable is Tunable.ALL:
                    per_k.append(len(idx))
                else:
                    per_k.extend(idx.count(k) for k in range(s.K))
            return 1 + 1 + tree_stages(max(per_k + [1])) + 1 + tree_stages(s.K) + 1
        return 1 + 1 + tree_stages(s.max_fanin) + 1

    @property
    def utilisation(self) -> float:
        """Fraction of lane-clocks doing a connection at full rate: ``n_conn`` connection-steps
        in ``P * cycles_per_vector`` lane-clocks, so the idle positions of short lanes and the
        pipeline fill and drain between two vectors both count against it (1.0 for parallel
        builds)."""
        if not self.folded:
            return 1.0
        return self.spec.n_conn / (self.spec.arch.lanes * self.cycles_per_vector)

    @property
    def schedule_utilisation(self) -> float:
        """Fraction of the lanes' positions that hold a connection (``n_conn / (P * T)``): the
        share of :attr:`utilisation` lost to uneven lanes alone."""
        if not self.folded:
            return 1.0
        return self.spec.n_conn / (self.spec.arch.lanes * self.regmap.lane_depth)

    # -- register arrays --------------------------------------------------------------------

    def level_words(self) -> list[int]:
        if self.arith is Arith.SHIFT:
            return [encode_shift_level(v, self.shift_terms, self.exp_bits)
                    for v in self.spec.levels]
        return list(self.spec.levels)

    def conn_shape(self):
        if self.arith is Arith.MULTIPLY:
            return signed(self.spec.weight_width)
        return unsigned(1 + self.spec.index_bits)

    def conn_init(self, j: int, c: int) -> int:
        s = self.spec
        if self.arith is Arith.MULTIPLY:
            v = s.levels[s.indices[j][c]]
            return -v if s.signs[j][c] else v
        return s.signs[j][c] | s.indices[j][c] << 1

    def elaborate(self, platform):
        m = Module()
        spec, rm = self.spec, self.regmap
        lv = rm.region("LEVELS")
        if self.arith is Arith.SHIFT:
            level_bits = 1 + self.exp_bits if self.shift_terms == 1 else 2 + 2 * self.exp_bits
        else:
            level_bits = spec.level_fmt.width
        levels = RegArray("level", unsigned(level_bits), self.level_words(), lv)
        bias = RegArray("bias", fmt_shape(spec.bias_fmt), list(spec.bias), rm.region("BIAS"))

        pending = Signal()
        swap = Signal()
        block = Signal()
        m.d.comb += block.eq(pending)
        m.d.comb += self.pending.eq(pending)
        cfg = self.cfg
        with m.If((cfg.w_en & (cfg.addr == 2) & cfg.w_data[0]) | self.ext_commit):
            m.d.sync += pending.eq(1)
        with m.If(swap):
            m.d.sync += pending.eq(0)

        # read-back: header and register regions, one cycle after r_en
        reads = []
        # folded builds keep writable biases in memories (see lognet.hw.folded)
        for arr in (levels,) if self.folded else (levels, bias):
            if arr.writable:
                v = Signal(32, name=f"rd_{arr.name}")
                arr.elaborate_into(m, cfg, swap, v if self.readback else None)
                reads.append((arr.hit(cfg.addr), v))

        if self.folded:
            from .folded import build_folded

            swap_ok, busy, mem_reads = build_folded(m, self, levels, bias, block, pending)
        else:
            from .parallel import build_parallel

            conn = RegArray(
                "conn", self.conn_shape(),
                [self.conn_init(j, c) for j, f in enumerate(spec.fanins) for c in range(f)],
                rm.region("CONN"), with_active=not self.commit_walk)
            if conn.writable:
                v = Signal(32, name="rd_conn")
                conn.elaborate_into(m, cfg, swap, v if self.readback else None)
                reads.append((conn.hit(cfg.addr), v))
            swap_ok, busy = build_parallel(m, self, levels, bias, conn, block, pending)
            mem_reads = []
        m.d.comb += swap.eq(pending & swap_ok)
        m.d.comb += self.busy.eq(busy)

        hdr = header_read(m, cfg.addr[:3], rm.shape_word(), rm.params_word(), pending)
        value = Mux(cfg.addr < 8, hdr, 0)
        for hit, v in reads:
            value = Mux(hit, v, value)
        r_reg = Signal(32)
        with m.If(cfg.r_en):
            m.d.sync += r_reg.eq(value)
        # memories answer one clock after r_en: remember which one the address hit
        data = r_reg
        for k, (hit, mem_data) in enumerate(mem_reads):
            from_mem = Signal(name=f"rd_mem{k}")
            with m.If(cfg.r_en):
                m.d.sync += from_mem.eq(hit)
            data = Mux(from_mem, mem_data, data)
        m.d.comb += cfg.r_data.eq(data)
        return m
