"""The layer Component: streams in and out, a configuration bus, and a datapath chosen by the
spec's microarchitecture parameters (``parallel`` or ``folded:P``; ``shared``, ``factored``,
``shift`` or ``multiply`` arithmetic; ``all``, ``levels`` or ``none`` tunability).

It reads only the IR (:class:`~lognet.model.spec.LayerSpec`); nothing is fitted or computed from
weights inside ``elaborate()`` beyond placing the spec's integers.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lognet.model.arch import Arith, Microarch, Tunable
from lognet.model.spec import LayerSpec

from .arch import CoreInfo, resolve_arch
from .bank import RegArray
from .common import core_members, fmt_shape, header_read, tree_stages
from .regmap import ADDR_CTRL, CTRL_COMMIT_BIT, HEADER_WORDS, READ_LATENCY, RegisterMap

__all__ = ["Layer"]


class Layer(wiring.Component):
    """One codebook-weight layer.

    Ports: see docs/interfaces.md. ``i_stream`` takes one input vector per transfer,
    ``o_stream`` gives one output vector per transfer, ``cfg`` writes and reads the register map
    (:attr:`regmap`). A layer inside a :class:`~lognet.hw.network.Network` also has the
    network's hooks: ``ext_commit`` (in: commit now; the network raises it only when the layer
    is empty), ``busy`` (out: a vector is inside) and ``pending`` (out: a commit is pending).

    Latency and throughput: parallel builds accept one vector per clock and answer after
    ``info.latency`` clocks; folded builds take ``info.cycles_per_vector`` clocks per vector.

    Parameters
    ----------
    spec:
        The layer. ``arith=auto`` is resolved here.
    readback:
        When False the weight registers read back as 0 (saves the read multiplexers).
    base:
        The layer's base address in a network's address space.
    networked:
        Add the network hooks to the signature.
    """

    def __init__(self, spec: LayerSpec, *, readback: bool = True, base: int = 0,
                 networked: bool = False):
        spec = resolve_arch(spec)
        self.spec = spec
        self.arith = spec.arch.arith
        self.tunable = spec.arch.tunable
        self.folded = spec.arch.kind is Microarch.FOLDED
        self.readback = readback
        self.regmap = RegisterMap(spec, base=base)
        #: parallel shift builds with writable connections keep each connection's level word
        #: (not its index) in the active registers, looked up by a walk over the connections at
        #: commit (``n_conn + 2`` clocks): no level lookup per connection in the datapath
        self.commit_walk = (not self.folded and self.arith is Arith.SHIFT
                            and self.tunable is Tunable.ALL)
        if self.folded:
            from .folded import timing_of

            timing = timing_of(spec, self.regmap)
            latency, cycles = timing.latency, timing.cycles_per_vector
        else:
            latency, cycles = self._parallel_latency(), 1
        #: sizes, formats and timing (:class:`~lognet.hw.arch.CoreInfo`)
        self.info = CoreInfo.of(spec, self.regmap.addr_width, latency, cycles)
        members = core_members(spec, self.regmap.addr_width)
        if networked:
            members.update(ext_commit=In(1), busy=Out(1), pending=Out(1))
            if spec.arch.single_copy:
                # the network's pause: every layer empty, the connection memory the bus's
                members.update(ext_safe=In(1))
        super().__init__(members)
        self.networked = networked

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
        return self.spec.n_conn / (self.spec.arch.lanes * self.info.cycles_per_vector)

    @property
    def schedule_utilisation(self) -> float:
        """Fraction of the lanes' positions that hold a connection (``n_conn / (P * T)``): the
        share of :attr:`utilisation` lost to uneven lanes alone."""
        if not self.folded:
            return 1.0
        return self.spec.n_conn / (self.spec.arch.lanes * self.regmap.lane_depth)

    @property
    def commit_clocks(self) -> int:
        """Rising edges from the one that writes CTRL's commit bit into an idle layer to the
        first one after which STATUS reads 0 (the new set is active from then on). One for
        parallel builds, ``n_conn + 3`` for parallel shift builds with writable connections
        (the commit walk), and ``C + 3`` for folded builds that copy ``C`` rows of shadow
        memory (``C = max(T, n_out)`` with ``tunable=all``, ``n_out`` with ``levels``: the
        biases; checked against the RTL in tests/hw)."""
        if self.commit_walk:
            return self.spec.n_conn + 3
        if not self.folded or self.tunable is Tunable.NONE:
            return 1
        conn = self.tunable is Tunable.ALL and not self.spec.arch.single_copy
        rows = max(self.regmap.lane_depth if conn else 0, self.spec.n_out)
        return rows + 3

    def conn_shape(self):
        """Shape of a connection register (see :class:`~lognet.hw.regmap.RegisterMap`)."""
        rm = self.regmap
        return signed(rm.conn_bits) if rm.conn_signed else unsigned(rm.conn_bits)

    def elaborate(self, platform):
        m = Module()
        spec, rm = self.spec, self.regmap
        levels = RegArray("level", unsigned(rm.level_bits), rm.level_words(),
                          rm.region("LEVELS"))
        bias = RegArray("bias", fmt_shape(spec.bias_fmt), list(spec.bias), rm.region("BIAS"))

        pending = Signal()
        swap = Signal()
        block = Signal()
        m.d.comb += block.eq(pending)
        cfg = self.cfg
        commit = cfg.w_en & (cfg.addr == ADDR_CTRL) & cfg.w_data[CTRL_COMMIT_BIT]
        if self.networked:
            m.d.comb += self.pending.eq(pending)
            commit = commit | self.ext_commit
        # (pending's next value is also a signal: the input side keeps a copy of "no input
        # now" in a flip-flop, so its ``ready`` waits on no decode of the same clock)
        pending_next = Signal(name="pending_next")
        m.d.comb += pending_next.eq(Mux(swap, 0, Mux(commit, 1, pending)))
        m.d.sync += pending.eq(pending_next)

        # read-back: the register regions are read at the address registered with r_en (their
        # writes are posted: see RegArray.elaborate_into), a clock after the header
        rd_addr = Signal(len(cfg.addr), name="rd_addr")
        with m.If(cfg.r_en):
            m.d.sync += rd_addr.eq(cfg.addr)
        reads = []
        # folded builds keep writable biases in memories (see lognet.hw.folded)
        for arr in (levels,) if self.folded else (levels, bias):
            if arr.writable:
                v = Signal(32, name=f"rd_{arr.name}")
                arr.elaborate_into(m, cfg, swap, v if self.readback else None, rd_addr)
                reads.append((arr.hit(rd_addr), v))

        if self.folded:
            from .folded import build_folded

            swap_ok, busy, mem_reads, safe = build_folded(m, self, levels, bias, block,
                                                          pending, pending_next)
        else:
            from .parallel import build_parallel

            conn = RegArray("conn", self.conn_shape(), rm.conn_values(), rm.region("CONN"),
                            with_active=not self.commit_walk)
            if conn.writable:
                v = Signal(32, name="rd_conn")
                conn.elaborate_into(m, cfg, swap, v if self.readback else None, rd_addr)
                reads.append((conn.hit(rd_addr), v))
            swap_ok, busy = build_parallel(m, self, levels, bias, conn, block, pending)
            mem_reads, safe = [], None
        m.d.comb += swap.eq(pending & swap_ok)
        if self.networked:
            m.d.comb += self.busy.eq(busy)

        # read data leaves READ_LATENCY clocks after r_en, from registers only. Every source is
        # registered once, as late as it can be, and only narrow things are carried along the
        # way (the address, STATUS's two bits, a memory's region hit), so the read path costs
        # about one 32-bit register per source, not one per source and clock:
        # - the header word is decoded from the address and the STATUS bits taken on the r_en
        #   edge and carried to edge READ_LATENCY - 1, then registered into the layer's word;
        # - the register regions are read on the next edge at the registered address (their
        #   writes are posted: see RegArray.elaborate_into), so a read sees every write strobed
        #   before it and none strobed with it;
        # - a memory answers ``stage`` clocks after r_en (1: read on the r_en edge; 2: a memory
        #   whose bus side is registered first); its word, masked by the region the address
        #   hit, is registered on the edge after, before any OR, so no memory output (an SPRAM,
        #   a cascade of block RAMs) reaches the bus or another memory's word in one clock.
        last = READ_LATENCY - 1
        r_ens = [cfg.r_en]  # r_ens[k]: a read was strobed k clocks ago
        for k in range(1, last + 1):
            e = Signal(name=f"r_en{k}")
            m.d.sync += e.eq(r_ens[-1])
            r_ens.append(e)

        def staged(v, first, upto, name):
            """``v`` taken on the edges ``first .. upto`` clocks after r_en (each a register)."""
            for k in range(first, upto + 1):
                r = Signal.like(v, name=f"{name}{k}")
                with m.If(r_ens[k]):
                    m.d.sync += r.eq(v)
                v = r
            return v

        hb = (HEADER_WORDS - 1).bit_length()
        status = Cat(pending, Const(0, 1) if safe is None else safe)
        h_addr = staged(cfg.addr, 0, last - 1, "rd_haddr")  # the address, carried to the end
        h_status = staged(status, 0, last - 1, "rd_status")
        hdr = header_read(m, h_addr, rm.shape_word(), rm.params_word(), h_status[0],
                          None if safe is None else h_status[1])
        # the regions are disjoint: an OR of one masked value per region, all in parallel (a
        # chain of multiplexers would put every region's decode in series on the read path)
        early = Mux(h_addr[hb:] == 0, hdr, 0)  # sources registered at edge ``last``
        regs = Const(0, 32)
        for hit, v in reads:
            regs = regs | Mux(hit, v, 0)
        if reads:
            early = early | staged(regs, 1, last - 1, "rd_reg")
        late = []  # words registered at edge ``last`` by their own source
        for k, (hit, mem_data, stage) in enumerate(mem_reads):
            assert 1 <= stage <= last, "a memory answers within the read latency"
            from_mem = staged(hit, 0, stage - 1, f"rd_hit{k}_")
            word = Signal(32, name=f"rd_mem{k}")  # (a signed word is sign-extended)
            m.d.comb += word.eq(Mux(from_mem, mem_data, 0))
            if stage == last:
                late.append(staged(word, last, last, f"rd_word{k}_"))
            else:
                early = early | staged(word, stage, last - 1, f"rd_word{k}_")
        data = staged(early, last, last, "rd_data")
        for w in late:
            data = data | w
        m.d.comb += cfg.r_data.eq(data)
        return m
