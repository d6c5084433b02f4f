"""The folded datapath, as small Components wired by :func:`build_folded`.

- :class:`Control`: takes vectors in and steps the lanes through positions ``0 .. T-1``
  (an ``m.FSM``); counts the vectors inside; its clock model is :mod:`.timing`.
- :class:`Lane`: one lane's pipeline, from the selected input and connection word to the
  lane's result registers (``shared``, ``shift``, ``multiply``: accumulate per output;
  ``factored``: partial sums per level, handed to a :class:`Finisher`).
- :class:`Finisher`: ``y = sum_k level_k * S_k`` for one output of a ``factored`` lane.
- :class:`CommitCopy`, :class:`ConnWords`, :class:`Biases`: the memories behind the
  configuration bus and the copy that makes a commit take effect between two vectors.

Packed words are :class:`~amaranth.lib.data.StructLayout` views (:func:`position_layout`,
:func:`conn_layout`); pipeline depths are the named stages of :mod:`.timing`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lognet.model.arch import Arith, Tunable

from ..common import holding_shape, requantise_tail, with_bias
from .timing import (
    finisher_can_stall,
    input_banked,
    is_regular,
    output_banked,
    output_row,
    word_stage,
)

__all__ = ["build_folded", "Control", "Lane", "Finisher", "CommitCopy", "ConnWords", "Biases",
           "position_layout", "conn_layout"]


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def _bits(n: int) -> int:
    """Bits of a counter or index over ``n`` values (at least one)."""
    return max(1, _clog2(n))


def position_layout(src_bits: int, slot_bits: int, conn_bits: int = 0) -> data.StructLayout:
    """One lane's word of the position ROM (schedules that are not regular): the position
    holds a connection, it is its output's first / last, the input it reads, the output's slot
    in the lane, and (builds whose connections are constants) the connection word."""
    fields = {"valid": 1, "first": 1, "last": 1, "src": src_bits, "slot": slot_bits}
    if conn_bits:
        fields["conn"] = conn_bits
    return data.StructLayout(fields)


def conn_layout(index_bits: int) -> data.StructLayout:
    """A codebook connection word: the sign (1: negative) and the level index (the CONN
    register encoding of :class:`~lognet.hw.regmap.RegisterMap`; no index when ``K = 1``)."""
    return data.StructLayout({"sign": 1, "index": index_bits} if index_bits else {"sign": 1})


def _pack(layout: data.StructLayout, **fields) -> int:
    """The integer of a layout's word with these field values (for memory initial values)."""
    word = 0
    for name, value in fields.items():
        f = layout[name]
        word |= (value & ((1 << f.width) - 1)) << f.offset
    return word


class Control(wiring.Component):
    """Vector intake and position issue.

    A vector enters (``accept``) when the inputs are free (see :mod:`.timing`), no commit is
    pending (``block``) and at most one other vector is inside (``transfer``, an output leaving,
    only counts it down: ``in_ready`` never waits on the downstream ``ready``, so a chain of
    layers has no combinational path through every layer's handshake). The FSM issues
    positions ``t = 0 .. depth-1`` on clocks where ``run_en`` is high; ``v1`` is ``issue`` one
    clock later (the memories' read data belong to it)."""

    def __init__(self, depth: int, regular: bool):
        self.depth = depth
        self.regular = regular
        super().__init__({
            "in_valid": In(1), "block": In(1), "run_en": In(1), "transfer": In(1),
            "in_ready": Out(1), "accept": Out(1), "issue": Out(1), "v1": Out(1),
            "last_issue": Out(1),
            "t": Out(_bits(depth)), "occupancy": Out(2),
        })

    def elaborate(self, platform):
        m = Module()
        T = self.depth
        last_issue = self.last_issue
        # ``t == T - 1``, registered: the comparison is made one position early, so the intake
        # (which fans out to every input register) waits on one flip-flop, not a comparator.
        # ``t`` returns to 0 at the last issue whether or not a vector enters, so no counter
        # waits on the intake either.
        t_last = Signal(init=T == 1)
        with m.FSM(name="issue") as fsm:
            with m.State("IDLE"):
                with m.If(self.accept):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.issue):
                    m.d.sync += [self.t.eq(self.t + 1), t_last.eq(self.t == T - 2)]
                    with m.If(t_last):
                        m.d.sync += [self.t.eq(0), t_last.eq(T == 1)]
                        with m.If(~self.accept):
                            m.next = "IDLE"
        running = fsm.ongoing("RUN")
        m.d.comb += [self.issue.eq(running & self.run_en),
                     last_issue.eq(self.issue & t_last)]
        with m.If(self.run_en):
            m.d.sync += self.v1.eq(self.issue)
        if self.regular:
            # the inputs are read at the issue edge: the last one frees them
            x_free = ~running | last_issue
        else:
            # the inputs are read one edge after the issue (the position ROM names them)
            x_free = ~running & (self.run_en | ~self.v1)
        room = self.occupancy < 2
        m.d.comb += [self.in_ready.eq(x_free & ~self.block & room),
                     self.accept.eq(self.in_valid & self.in_ready)]
        m.d.sync += self.occupancy.eq(self.occupancy + self.accept - self.transfer)
        return m


class Finisher(wiring.Component):
    """``y = sum_k level_k * S_k`` for one output of a ``factored`` lane, then bias, activation,
    requantisation: the partial sums are taken the clock after ``start``; ``K`` issue clocks,
    one multiplier, pipelined in three stages (select -> multiply -> accumulate); ``write``
    strobes the result ``y`` for ``slot`` :data:`~.timing.FACTORED_WRITE` ``+ K`` edges
    after the output's last connection was issued. ``busy`` is high from ``start`` to the
    write: a new start must wait for it."""

    def __init__(self, spec, level_shape, bias_shape, out_shape, slot_bits: int, name: str):
        self.spec = spec
        self.lname = name
        sw = spec.partial_sum_width
        super().__init__({
            "start": In(1), "sums": In(data.ArrayLayout(signed(sw), spec.K)),
            "slot": In(slot_bits), "bias": In(bias_shape), "lane_last": In(1),
            "levels": In(data.ArrayLayout(level_shape, spec.K)),
            "busy": Out(1), "write": Out(1), "write_slot": Out(slot_bits),
            "write_last": Out(1), "y": Out(out_shape),
        })

    def elaborate(self, platform):
        m = Module()
        spec, K, n = self.spec, self.spec.K, self.lname
        sw, aw = spec.partial_sum_width, spec.acc_width
        B = Signal(data.ArrayLayout(signed(sw), K), reset_less=True, name=f"{n}_B")
        f_start = Signal(name=f"{n}_fstart")  # S holds an output's sums: copy them to B
        fbusy = Signal(name=f"{n}_fbusy")  # issuing k = 0 .. K-1
        fk = Signal(_bits(K + 1), name=f"{n}_fk")
        fa = Signal(name=f"{n}_fa")  # stage a valid: bk, lk hold term fk
        fb = Signal(name=f"{n}_fb")  # stage b valid: fp holds a product
        fa_last = Signal(name=f"{n}_fa_last")
        fb_last = Signal(name=f"{n}_fb_last")
        fdone = Signal(name=f"{n}_fdone")  # fy is final
        fout = Signal(name=f"{n}_fout")  # fz = fy + bias: activation and rounding
        bk = Signal(signed(sw), reset_less=True, name=f"{n}_bk")
        lk = Signal(self.levels.shape().elem_shape, reset_less=True, name=f"{n}_lk")
        fp = Signal(signed(aw), reset_less=True, name=f"{n}_fp")
        fy = Signal(signed(aw), reset_less=True, name=f"{n}_fy")
        fz = Signal(signed(aw), reset_less=True, name=f"{n}_fz")
        fslot = Signal.like(self.write_slot, reset_less=True, name=f"{n}_fslot")
        fbias = Signal(self.bias.shape(), reset_less=True, name=f"{n}_fbias")
        flast = Signal(reset_less=True, name=f"{n}_flast")
        m.d.comb += self.busy.eq(f_start | fbusy | fa | fb | fdone | fout | self.write)
        with m.If(self.start):
            m.d.sync += [fslot.eq(self.slot), fbias.eq(self.bias), flast.eq(self.lane_last)]
        m.d.sync += f_start.eq(self.start)
        with m.If(f_start):
            m.d.sync += [B.eq(self.sums), fbusy.eq(1), fk.eq(0), fy.eq(0)]
        m.d.sync += [fa.eq(fbusy & ~f_start), fa_last.eq(fbusy & (fk == K - 1)),
                     fb.eq(fa), fb_last.eq(fa & fa_last), fdone.eq(fb & fb_last),
                     fout.eq(fdone), self.write.eq(fout),
                     fz.eq(with_bias(fy, fbias, spec))]
        with m.If(fbusy & ~f_start):
            m.d.sync += [bk.eq(B[fk] if K > 1 else B[0]),
                         lk.eq(self.levels[fk] if K > 1 else self.levels[0]),
                         fk.eq(fk + 1)]
            with m.If(fk == K - 1):
                m.d.sync += fbusy.eq(0)
        with m.If(fa):
            m.d.sync += fp.eq(bk * lk)
        with m.If(fb):
            m.d.sync += fy.eq(fy + fp)
        m.d.comb += [self.y.eq(requantise_tail(m, fz, spec, name=n, reg_en=fout)),
                     self.write_slot.eq(fslot), self.write_last.eq(flast)]
        return m


class Lane(wiring.Component):
    """One lane: outputs ``p, p + P, ...`` of the layer (its *slots*), one connection per
    clock.

    Inputs at stage ``STAGE_READ + 1`` (the clock after the issue): ``v1`` and ``pos`` (the
    position holds a connection of this lane, first / last of its output, the output's slot),
    ``x`` (the input it reads) and ``word`` (its connection word). ``bias`` is the bias of the
    output whose connection is at ``STAGE_PRODUCT`` (``slot_product``; a bias memory is read
    with ``slot_r`` one clock earlier). Results land in ``results[slot]``; ``done`` goes high
    when the lane's last output of a vector is written and stays high until ``clear``. Deep
    lanes (:func:`~.timing.word_stage`) register ``v1``, ``pos``, ``x`` and ``word`` once more
    first, so each later stage is one clock later. With
    ``keep=False`` (banked outputs) the lane keeps no results: ``y`` is written where
    ``write`` says (``write_slot``, ``write_last``: the lane's last output of the vector)."""

    def __init__(self, layer, p: int, level_shape, bias_shape, slot_bits: int,
                 keep: bool = True):
        spec = layer.spec
        self.layer = layer
        self.p = p
        self.n_slots = len(range(p, spec.n_out, spec.arch.lanes))
        self.slot_bits = slot_bits
        self.keep = keep
        in_shape = layer.i_stream.payload.shape().elem_shape
        out_shape = layer.o_stream.payload.shape().elem_shape
        self.stalls = (layer.arith is Arith.FACTORED and finisher_can_stall(spec))
        members = {
            "en": In(1), "v1": In(1),
            "pos": In(data.StructLayout({"valid": 1, "first": 1, "last": 1,
                                          "slot": slot_bits})),
            "x": In(in_shape), "word": In(len(Const(0, layer.conn_shape()))),
            "levels": In(data.ArrayLayout(level_shape, spec.K)),
            "bias": In(bias_shape), "clear": In(1),
            "slot_r": Out(slot_bits), "slot_product": Out(slot_bits),
            "y": Out(out_shape), "write": Out(1), "write_slot": Out(slot_bits),
            "write_last": Out(1),
        }
        if keep:
            members["results"] = Out(data.ArrayLayout(out_shape, self.n_slots))
            members["done"] = Out(1)
        if self.stalls:
            members["stall"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layer, spec, p = self.layer, self.layer.spec, self.p
        n = f"l{p}"
        acc_w = spec.acc_width
        ib = spec.index_bits
        en = self.en
        slot_shape = unsigned(self.slot_bits)
        # stage R: the selected input, the connection word and the level it names, so that
        # neither the input multiplexer nor the level lookup shares a clock with the product
        v1_in, pos_in, x_in, word_in = self.v1, self.pos, self.x, self.word
        if word_stage(spec, layer.regmap.lane_depth):
            # deep memories (cascades of block RAMs): their read data, the position and the
            # input registered once more, so the cascade's multiplexer and the level lookup
            # do not share a clock
            v1_in = Signal(name=f"{n}_v0")
            pos_in = Signal(self.pos.shape(), name=f"{n}_pos0")
            x_in = Signal(self.x.shape(), reset_less=True, name=f"{n}_x0")
            word_in = Signal(self.word.shape(), reset_less=True, name=f"{n}_w0")
            with m.If(en):
                m.d.sync += [v1_in.eq(self.v1), pos_in.eq(self.pos), x_in.eq(self.x),
                             word_in.eq(self.word)]
        vr = Signal(name=f"{n}_vr")
        fr = Signal(name=f"{n}_fr")
        lr = Signal(name=f"{n}_lr")
        sr = Signal(slot_shape, reset_less=True, name=f"{n}_sr")
        xr = Signal(self.x.shape(), reset_less=True, name=f"{n}_x")
        wr = Signal(self.word.shape(), reset_less=True, name=f"{n}_w")
        with m.If(en):
            m.d.sync += [vr.eq(v1_in & pos_in.valid), fr.eq(pos_in.first),
                         lr.eq(pos_in.last), sr.eq(pos_in.slot), xr.eq(x_in),
                         wr.eq(word_in)]
        m.d.comb += self.slot_r.eq(sr)
        word = conn_layout(ib)(word_in) if layer.arith is not Arith.MULTIPLY else None
        wview = conn_layout(ib)(wr) if word is not None else None
        lv = None
        if layer.arith in (Arith.SHARED, Arith.SHIFT):
            lv = Signal(self.levels.shape().elem_shape, reset_less=True, name=f"{n}_lv")
            with m.If(en):
                m.d.sync += lv.eq(self.levels[word.index] if spec.K > 1 else self.levels[0])
        # stage PRODUCT: a negative connection's product is registered as ~t and its + 1 rides
        # on the accumulating adder as carry-in (-t = ~t + 1): no negation carry chain
        prod = Signal(signed(acc_w), reset_less=True, name=f"{n}_prod")
        v2 = Signal(name=f"{n}_v2")
        f2 = Signal(name=f"{n}_first")
        l2 = Signal(name=f"{n}_last")
        s2 = Signal(slot_shape, reset_less=True, name=f"{n}_slot")
        k2 = Signal(max(1, ib), reset_less=True, name=f"{n}_idx")
        n2 = Const(0, 1)
        if layer.arith is Arith.MULTIPLY:
            pv = xr * wr.as_signed()
        else:
            if layer.arith is Arith.FACTORED:
                tv = xr
            elif layer.arith is Arith.SHIFT:
                from ..parallel import _shift_product

                tv = _shift_product(xr, lv, layer.regmap.terms, layer.regmap.ebits)
            else:  # SHARED: the level looked up last clock, one multiplier per lane
                tv = xr * lv
            tw = Signal(holding_shape(tv, acc_w), name=f"{n}_t")
            m.d.comb += tw.eq(tv)
            pv = Mux(wview.sign, ~tw, tw)
            n2 = Signal(name=f"{n}_neg")
            with m.If(en):
                m.d.sync += n2.eq(wview.sign)
        with m.If(en):
            m.d.sync += [prod.eq(pv), v2.eq(vr), f2.eq(fr), l2.eq(lr), s2.eq(sr)]
            if wview is not None and ib:
                m.d.sync += k2.eq(wview.index)
        m.d.comb += self.slot_product.eq(s2)
        last_slot = self.n_slots - 1
        if layer.arith is not Arith.FACTORED:
            # stage ACC
            acc = Signal(signed(acc_w), reset_less=True, name=f"{n}_acc")
            v3 = Signal(name=f"{n}_v3")
            s3 = Signal(slot_shape, reset_less=True, name=f"{n}_s3")
            b3 = Signal(self.bias.shape(), reset_less=True, name=f"{n}_b3")
            with m.If(en):
                with m.If(v2):
                    m.d.sync += acc.eq(Mux(f2, 0, acc) + prod + n2)
                m.d.sync += [v3.eq(v2 & l2), s3.eq(s2), b3.eq(self.bias)]
            # stage BIAS: accumulator + bias registered, then activation and rounding
            v4 = Signal(name=f"{n}_v4")
            s4 = Signal(slot_shape, reset_less=True, name=f"{n}_s4")
            z4 = Signal(signed(acc_w), reset_less=True, name=f"{n}_z4")
            with m.If(en):
                m.d.sync += [v4.eq(v3), s4.eq(s3), z4.eq(with_bias(acc, b3, spec))]
            # stage ROUND: the rounded value registered, then saturation into the result
            v5 = Signal(name=f"{n}_v5")
            s5 = Signal(slot_shape, reset_less=True, name=f"{n}_s5")
            with m.If(en):
                m.d.sync += [v5.eq(v4), s5.eq(s4)]
            y = requantise_tail(m, z4, spec, name=n, reg_en=en)
            write = Signal(name=f"{n}_write")
            m.d.comb += write.eq(v5 & en)
            write_slot, write_last = s5, s5 == last_slot
        else:
            S = Signal(data.ArrayLayout(signed(spec.partial_sum_width), spec.K),
                       reset_less=True, name=f"{n}_S")
            fin = Finisher(spec, self.levels.shape().elem_shape, self.bias.shape(),
                           self.y.shape(), self.slot_bits, name=n)
            m.submodules.finisher = fin
            # one adder per partial sum, no multiplexer in front of it (the index selects which
            # sum takes the input; a first connection restarts the sums: the selected one from
            # the input, the others by a synchronous clear), so the loop through S is one adder
            with m.If(en & v2):
                for k in range(spec.K):
                    with m.If(k2 == k):
                        m.d.sync += S[k].eq(Mux(f2, 0, S[k]) + prod + n2)
                    with m.Elif(f2):
                        m.d.sync += S[k].eq(0)
            # the clock after an output's last connection S is final (the next output's first
            # connection clears it only on this same edge): the finisher takes it then
            m.d.comb += [fin.start.eq(en & v2 & l2), fin.sums.eq(S), fin.slot.eq(s2),
                         fin.bias.eq(self.bias), fin.lane_last.eq(s2 == last_slot),
                         fin.levels.eq(self.levels)]
            if self.stalls:
                m.d.comb += self.stall.eq(v2 & l2 & fin.busy)
            y, write = fin.y, fin.write
            write_slot, write_last = fin.write_slot, fin.write_last
        m.d.comb += [self.y.eq(y), self.write.eq(write), self.write_slot.eq(write_slot),
                     self.write_last.eq(write_last)]
        if not self.keep:
            return m
        with m.If(write):
            for sl in range(self.n_slots):
                with m.If(write_slot == sl):
                    m.d.sync += self.results[sl].eq(y)
        with m.If(self.clear):
            m.d.sync += self.done.eq(0)
        with m.If(write & write_last):
            m.d.sync += self.done.eq(1)
        return m


class CommitCopy(wiring.Component):
    """The copy that makes a commit take effect in a folded build: once ``start`` (a commit is
    pending and no vector is in the lanes), rows ``0 .. rows-1`` of the shadow memories are read
    (``addr``) and written into the active ones one clock later (``prev``, with
    ``conn_wen``/``bias_wen`` registered so no comparison sits in front of a write enable);
    ``done`` pulses once after the last row."""

    def __init__(self, rows: int, conn_rows: int, bias_rows: int):
        self.rows, self.conn_rows, self.bias_rows = rows, conn_rows, bias_rows
        super().__init__({
            "start": In(1), "copying": Out(1), "addr": Out(_bits(rows + 2)),
            "prev": Out(_bits(rows + 2)), "conn_wen": Out(1), "bias_wen": Out(1),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # ``addr`` is 0 whenever no copy runs (nothing reads it then), so ``start`` (a decision
        # of the same clock, from the input side's flags) drives one flip-flop, not the counter
        with m.If(self.start & ~self.copying & ~self.done):
            m.d.sync += self.copying.eq(1)
        with m.If(self.copying):
            m.d.sync += self.addr.eq(self.addr + 1)
            with m.If(self.addr == self.rows):
                m.d.sync += self.copying.eq(0)
        with m.Else():
            m.d.sync += self.addr.eq(0)
        m.d.sync += [self.prev.eq(self.addr),
                     self.conn_wen.eq(self.copying & (self.addr < self.conn_rows)),
                     self.bias_wen.eq(self.copying & (self.addr < self.bias_rows)),
                     self.done.eq(self.copying & (self.addr == self.rows))]
        return m


class ConnWords(wiring.Component):
    """The connection words of a ``tunable=all`` build: all P lanes' words of a position side by
    side in one row (lane p in bits ``p*w .. p*w+w-1``), a shadow memory that the bus writes one
    lane word at a time (write granularity) and reads back, and the active memory the lanes
    read at ``t``. :class:`CommitCopy` copies shadow rows into the active memory."""

    def __init__(self, layer, rows: list[int], cfg_addr_width: int):
        rm = layer.regmap
        self.layer = layer
        self.rows = rows
        self.cb = len(Const(0, layer.conn_shape()))
        self.P = len(rm.schedule)
        self.depth = rm.lane_depth
        #: clocks from r_en to ``r_data`` (the single copy registers its bus side first)
        self.read_stage = 2 if layer.spec.arch.single_copy else 1
        super().__init__({
            "addr": In(cfg_addr_width), "w_data": In(32), "w_en": In(1), "r_en": In(1),
            "copying": In(1), "copy_addr": In(_bits(self.depth + 2)),
            "copy_prev": In(_bits(self.depth + 2)), "copy_wen": In(1),
            "t": In(_bits(self.depth)), "en": In(1), "safe": In(1),
            "row": Out(data.ArrayLayout(self.cb, self.P)),
            "hit": Out(1), "r_data": Out(self.cb),
        })

    def elaborate(self, platform):
        m = Module()
        rm = self.layer.regmap
        P, cb, T = self.P, self.cb, self.depth
        lb = rm.lane_bits
        pb = _clog2(P)
        rb = lb + pb
        base = rm.region("CONN").base
        m.d.comb += self.hit.eq(self.addr[rb:] == (base >> rb) if rb < len(self.addr) else 1)
        lane_sel = (Const(1, 1) << self.addr[lb:lb + pb])[:P] if pb else Const(1, 1)
        rd_lane = Signal(max(1, pb))
        if self.layer.spec.arch.single_copy:
            # one memory, one address: the lanes' position while running, the bus's row while
            # the core is paused and empty (``safe``); bus writes and reads land only then. A
            # single-port memory with a lane word's write granularity: what an iCE40UP5K's
            # SPRAM (16k x 16, 4-bit write mask) is, and the synthesis script lets Yosys put
            # it there (``conn_single``: its power-on contents are then not set by the
            # bitstream, so the host loads the words after configuration)
            m.submodules.conn_single = mem = Memory(shape=unsigned(P * cb), depth=T,
                                                    init=self.rows)
            # the bus side is registered first (posted): a CONN access strobed while ``safe``
            # reaches the memory one clock later, from flip-flops only (address, lane mask,
            # data, and ``own``, which gives the port to the bus for that clock). The core is
            # still paused and empty then: only a CTRL write ends ``safe``, and it cannot share
            # the clock of the access. Reads answer two clocks after r_en (``read_stage``).
            b_own = Signal(name="conn_bus_own")  # the port is the bus's this clock
            b_wen = Signal(P, name="conn_bus_wen")  # the lane words a write takes
            b_read = Signal(name="conn_bus_read")
            b_addr = Signal(lb, name="conn_bus_addr", reset_less=True)
            b_data = Signal(cb, name="conn_bus_data", reset_less=True)
            b_lane = Signal(max(1, pb), name="conn_bus_lane", reset_less=True)
            take = self.hit & self.safe
            m.d.sync += [b_own.eq((self.w_en | self.r_en) & take),
                         b_wen.eq(Mux(self.w_en & take, lane_sel, 0)),
                         b_read.eq(self.r_en & take & ~self.w_en),
                         b_addr.eq(self.addr[:lb]), b_data.eq(self.w_data[:cb]),
                         b_lane.eq(self.addr[lb:lb + pb] if pb else 0)]
            with m.If(b_read):
                m.d.sync += rd_lane.eq(b_lane)
            a = Signal(_bits(T), name="conn_addr")
            m.d.comb += a.eq(Mux(b_own, b_addr, self.t))
            w = mem.write_port(granularity=cb)
            r = mem.read_port()
            # (never a read while a write: the single port an SPRAM has)
            m.d.comb += [w.addr.eq(a), w.data.eq(Cat(*[b_data] * P)), w.en.eq(b_wen),
                         r.addr.eq(a),
                         r.en.eq(~b_wen.any() & Mux(b_own, b_read, self.en)),
                         self.row.eq(r.data)]
            m.d.comb += self.r_data.eq(r.data.word_select(rd_lane, cb) if P > 1 else r.data)
            return m
        m.submodules.shadow = shadow = Memory(shape=unsigned(P * cb), depth=T, init=self.rows)
        m.submodules.active = active = Memory(shape=unsigned(P * cb), depth=T, init=self.rows)
        sw = shadow.write_port(granularity=cb)
        m.d.comb += [sw.addr.eq(self.addr[:lb]), sw.data.eq(Cat(*[self.w_data[:cb]] * P)),
                     sw.en.eq(Mux(self.w_en & self.hit, lane_sel, 0))]
        sr = shadow.read_port()
        m.d.comb += [sr.addr.eq(Mux(self.copying, self.copy_addr, self.addr[:lb])),
                     sr.en.eq(self.copying | self.r_en)]
        aw = active.write_port()
        m.d.comb += [aw.addr.eq(self.copy_prev), aw.data.eq(sr.data), aw.en.eq(self.copy_wen)]
        ar = active.read_port()
        m.d.comb += [ar.addr.eq(self.t), ar.en.eq(self.en), self.row.eq(ar.data)]
        with m.If(self.r_en):
            m.d.sync += rd_lane.eq(self.addr[lb:lb + pb] if pb else 0)
        m.d.comb += self.r_data.eq(sr.data.word_select(rd_lane, cb) if P > 1 else sr.data)
        return m


class Biases(wiring.Component):
    """Writable biases of a folded build: a shadow memory behind the bus (read back one clock
    after ``r_en``) and one active memory per lane, holding the lane's outputs by slot, read at
    ``slot[p]`` (data one clock later); :class:`CommitCopy` fills them (output ``j`` lands in
    lane ``j % P``, slot ``j // P``)."""

    def __init__(self, spec, bias, cfg_addr_width: int, slot_bits: int):
        self.spec = spec
        self.bias = bias
        P = spec.arch.lanes
        self.P = P
        shape = bias.shape
        super().__init__({
            "addr": In(cfg_addr_width), "w_data": In(32), "w_en": In(1), "r_en": In(1),
            "copying": In(1), "copy_addr": In(_bits(spec.n_out + 2)), "copy_wen": In(1),
            "slot": In(data.ArrayLayout(slot_bits, P)), "en": In(1),
            "value": Out(data.ArrayLayout(shape, P)),
            "hit": Out(1), "r_data": Out(shape),
        })

    def elaborate(self, platform):
        m = Module()
        spec, bias, P = self.spec, self.bias, self.P
        brb = bias.region_bits()
        m.d.comb += self.hit.eq(bias.hit(self.addr))
        m.submodules.shadow = bsh = Memory(shape=bias.shape, depth=spec.n_out,
                                           init=list(spec.bias))
        bw = bsh.write_port()
        m.d.comb += [bw.addr.eq(self.addr[:brb] if brb else 0),
                     bw.data.eq(self.w_data[:len(bw.data)]), bw.en.eq(self.w_en & self.hit)]
        br = bsh.read_port()
        m.d.comb += [br.addr.eq(Mux(self.copying, self.copy_addr, self.addr[:brb] if brb else 0)),
                     br.en.eq(self.copying | self.r_en), self.r_data.eq(br.data)]
        # output j of the copy lands in lane j % P, slot j // P: two counters, one clock behind
        c_lane = Signal(_bits(P), name="bcopy_lane")
        c_slot = Signal(_bits(-(-spec.n_out // P)), name="bcopy_slot")
        with m.If(~self.copying):
            m.d.sync += [c_lane.eq(0), c_slot.eq(0)]
        with m.Elif(self.copy_wen):
            with m.If(c_lane == P - 1):
                m.d.sync += [c_lane.eq(0), c_slot.eq(c_slot + 1)]
            with m.Else():
                m.d.sync += c_lane.eq(c_lane + 1)
        for p in range(P):
            outs = list(range(p, spec.n_out, P))
            mem = Memory(shape=bias.shape, depth=max(1, len(outs)),
                         init=[spec.bias[j] for j in outs] or [0])
            m.submodules[f"active{p}"] = mem
            w = mem.write_port()
            m.d.comb += [w.addr.eq(c_slot), w.data.eq(br.data),
                         w.en.eq(self.copy_wen & (c_lane == p) if P > 1 else self.copy_wen)]
            r = mem.read_port()
            m.d.comb += [r.addr.eq(self.slot[p]), r.en.eq(self.en), self.value[p].eq(r.data)]
        return m


def build_folded(m: Module, layer, levels, bias, block, pending, pending_next):
    """Elaborate the folded datapath into ``m``. Returns ``(swap_ok, busy, mem_reads, safe)``:
    the commit may land, a vector is inside, ``(address hit, data)`` of the memories the bus
    reads back (data one clock after ``r_en``), and STATUS bit 1 (paused and empty) of
    ``single_copy`` builds (None otherwise)."""
    spec = layer.spec
    rm = layer.regmap
    P = spec.arch.lanes
    T = rm.lane_depth
    cfg = layer.cfg
    tunable_conn = layer.tunable is Tunable.ALL
    regular = is_regular(spec)
    in_shape = layer.i_stream.payload.shape().elem_shape
    cb = len(Const(0, layer.conn_shape()))
    sb = _bits(spec.n_in)
    slot_bits = _bits(-(-spec.n_out // P))
    level_shape = levels.active[0].shape()
    schedule = rm.schedule

    # -- control ----------------------------------------------------------------------------
    m.submodules.control = ctl = Control(T, regular)
    run_en = Signal()
    o = layer.o_stream
    i = layer.i_stream
    n_ib = spec.n_in // spec.in_beat_size  # beats per input vector
    n_ob = spec.n_out // spec.out_beat_size  # beats per output vector
    transfer = Signal()  # the last beat of an output vector leaves
    o_full = Signal()  # the output buffer holds a vector (its beats are leaving)
    ctl_valid = Signal()
    single = spec.arch.single_copy
    paused = Signal(name="paused")  # single_copy: CTRL bit 1, no input while set
    if single:
        from ..regmap import ADDR_CTRL, CTRL_PAUSE_BIT

        paused_next = Mux(cfg.w_en & (cfg.addr == ADDR_CTRL), cfg.w_data[CTRL_PAUSE_BIT], paused)
        m.d.sync += paused.eq(paused_next)
    else:
        paused_next = 0
    # "no input now" (a commit pending, or paused) kept in a flip-flop of its own, from the
    # next values of both: a beat's ``ready`` is then a function of the banks' flags and this
    # one flip-flop, and waits on no decode of the same clock
    no_input = Signal(name="no_input")
    m.d.sync += no_input.eq(pending_next | paused_next)
    m.d.comb += [ctl.block.eq(block | paused if n_ib == 1 else 0), ctl.run_en.eq(run_en),
                 ctl.transfer.eq(transfer), ctl.in_valid.eq(ctl_valid)]
    # the input vector, held while the lanes read it: one register of n_in elements (the same
    # flip-flops as one per element, but a simulator copies it as one value instead of
    # evaluating n_in registers every clock)
    width = Shape.cast(in_shape).width
    banked = input_banked(spec)
    x_buf = Signal(spec.n_in * width if not banked else 1, reset_less=True, name="x_buf")
    x_full = Signal()  # beats: the fill buffer holds a whole vector the lanes have not taken
    if banked:
        # two banks of a memory, a beat a row: beats fill one bank while the lanes read the
        # other; a bank is free again at the last issue of its vector (regular schedules read
        # their inputs at the issue edge). ``ready`` comes from flip-flops only.
        B = spec.in_beat_size
        # bank k at rows k * 2**bb ...: an address is the bank bit above the row, no adder
        bb = _bits(n_ib)
        m.submodules.x_mem = x_mem = Memory(shape=unsigned(B * width), depth=2 << bb, init=[])
        full = Signal(2, name="x_banks_full")
        wbank, rbank, cbank = Signal(name="x_wbank"), Signal(name="x_rbank"), Signal(name="x_cbank")
        beat = Signal(_bits(n_ib), name="in_beat")
        # whether the bank being written is full, in a flip-flop of its own (loaded from the
        # next values of the flags and the bank bit): ``ready`` is then two flip-flops' AND
        wfull = Signal(name="x_wbank_full")
        xw = x_mem.write_port()
        m.d.comb += [ctl_valid.eq(full.bit_select(rbank, 1)),
                     i.ready.eq(~wfull & ~no_input),
                     x_full.eq(full.any()),
                     xw.addr.eq(Cat(beat, wbank)), xw.data.eq(i.payload.as_value()),
                     xw.en.eq(i.valid & i.ready)]
        set_ = Signal(2)
        clear = Signal(2)
        # (whether the next beat is a vector's last, in a flip-flop: no compare of the beat
        # counter between ``ready`` and the bank's enables)
        beat_last = Signal(name="in_beat_last", init=int(n_ib == 1))
        with m.If(i.valid & i.ready):
            with m.If(beat_last):
                m.d.sync += [beat.eq(0), wbank.eq(~wbank), beat_last.eq(n_ib == 1)]
                m.d.comb += set_.eq(Mux(wbank, 0b10, 0b01))
            with m.Else():
                m.d.sync += [beat.eq(beat + 1), beat_last.eq(beat == n_ib - 2)]
        with m.If(ctl.accept):
            m.d.sync += [cbank.eq(rbank), rbank.eq(~rbank)]
        with m.If(ctl.last_issue):
            m.d.comb += clear.eq(Mux(cbank, 0b10, 0b01))
        full_next = Signal(2, name="x_banks_full_next")
        m.d.comb += full_next.eq((full & ~clear) | set_)
        m.d.sync += [full.eq(full_next),
                     wfull.eq(full_next.bit_select(wbank ^ (i.valid & i.ready & beat_last), 1))]
    elif n_ib == 1:
        m.d.comb += [ctl_valid.eq(i.valid), i.ready.eq(ctl.in_ready)]
        with m.If(ctl.accept):
            m.d.sync += x_buf.eq(i.payload.as_value())
    else:
        # beats fill a second buffer while the lanes read the first: the vector moves across
        # when the lanes take it, and the next beat goes in from the clock after. ``ready``
        # comes from two flip-flops only (it fans out to every bit of the fill buffer's
        # enables, so it waits on no decision of the same clock). No beat is taken while a
        # commit is pending, and the commit lands only once every complete vector has passed
        # the lanes: a vector uses the set that is active when its last beat is taken.
        x_fill = Signal(spec.n_in * width, reset_less=True, name="x_fill")
        beat = Signal(_bits(n_ib), name="in_beat")
        bw = spec.in_beat_size * width
        m.d.comb += [ctl_valid.eq(x_full), i.ready.eq(~x_full & ~no_input)]
        with m.If(ctl.accept):
            m.d.sync += [x_buf.eq(x_fill), x_full.eq(0)]
        with m.If(i.valid & i.ready):
            m.d.sync += x_fill.word_select(beat, bw).eq(i.payload.as_value())
            with m.If(beat == n_ib - 1):
                m.d.sync += [beat.eq(0), x_full.eq(1)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
    xs = [x_buf.word_select(i_, width) for i_ in range(spec.n_in)] if not banked else []
    if Shape.cast(in_shape).signed:
        xs = [x.as_signed() for x in xs]
    # no vector in the lanes or waiting for them (the output buffer may hold one): a commit
    # may be copied and land
    lanes_idle = Signal()
    out_banked = output_banked(spec)
    y_full = Signal(2, name="y_banks_full")  # banked outputs: which banks hold a vector
    if out_banked:
        occ = ctl.occupancy
        held = (occ == 0) | ((occ == 1) & y_full.any()) | ((occ == 2) & y_full.all())
    else:
        held = (ctl.occupancy == 0) | ((ctl.occupancy == 1) & o_full)
    m.d.comb += lanes_idle.eq(held & ~x_full)

    # -- commit: shadow -> active -----------------------------------------------------------
    # Connection words (tunable=all) and biases (whenever writable) live in memories: the bus
    # writes a shadow memory, and a commit copies it into the active memories the lanes read,
    # one row per clock, between two vectors. Only then does the commit take effect.
    bias_mem = bias.writable
    conn_rows = T if tunable_conn and not single else 0
    safe = None
    if single:
        # paused and no vector inside or waiting: the connection memory is the bus's
        safe_r = Signal(name="safe_r")
        m.d.sync += safe_r.eq(paused & lanes_idle)
        safe = Signal(name="safe")  # and it ends with the write that resumes
        ext = layer.ext_safe if layer.networked else 0  # or the network is paused and empty
        m.d.comb += safe.eq((safe_r & paused) | ext)
    bias_rows = spec.n_out if bias_mem else 0
    n_copy = max(conn_rows, bias_rows)
    swap_ok = Signal()
    # (address hit, read data, clocks from r_en to the data) for the read-back
    mem_reads = []
    copy = None
    if n_copy:
        m.submodules.commit_copy = copy = CommitCopy(n_copy, conn_rows, bias_rows)
        m.d.comb += [copy.start.eq(pending & lanes_idle), swap_ok.eq(copy.done)]
    else:
        m.d.comb += swap_ok.eq(lanes_idle)

    # -- per-position words -----------------------------------------------------------------
    def conn_words(p):
        return [rm.conn_word(spec.signs[j][c], spec.indices[j][c]) for j, c in schedule[p]]

    def rows_of(lane_words, width):
        """One memory row per position: lane p's word in bits p*width .. p*width+width-1."""
        rows = [0] * T
        for p, words in enumerate(lane_words):
            for t_, w in enumerate(words):
                rows[t_] |= w << (p * width)
        return rows

    def wide_rom(name, layout, lane_words):
        # all lanes read the same position, so their words share one row: one read port, one
        # address counter, and the synthesiser packs the lanes into as few block RAMs as their
        # total width needs
        width = data.Layout.cast(layout).size if isinstance(layout, data.Layout) else layout
        rom = Memory(shape=unsigned(P * width), depth=T, init=rows_of(lane_words, width))
        m.submodules[name] = rom
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(ctl.t), rp.en.eq(run_en)]
        return data.ArrayLayout(layout if isinstance(layout, data.Layout) else unsigned(width),
                                P)(rp.data)

    lane_pos = [None] * P  # per lane: (valid, first, last, slot) at stage READ + 1
    lane_x = [None] * P
    lane_word = [None] * P
    if regular:
        # one pair of counters serves every lane: connection c of the lane's current output
        F = spec.fanins[0]
        srcs = spec.sources[0]
        c_cnt = Signal(_bits(F), name="c_cnt")
        s_cnt = Signal(slot_bits, name="s_cnt")
        # both return to 0 after the last position (c_cnt wraps with the last connection of the
        # last slot; s_cnt is cleared), so the intake does not have to reset them
        s_end = -(-spec.n_out // P) - 1
        with m.If(ctl.issue):
            with m.If(c_cnt == F - 1):
                m.d.sync += [c_cnt.eq(0), s_cnt.eq(Mux(s_cnt == s_end, 0, s_cnt + 1))]
            with m.Else():
                m.d.sync += c_cnt.eq(c_cnt + 1)
        r_first = Signal(name="r_first")
        r_last = Signal(name="r_last")
        r_slot = Signal(slot_bits, name="r_slot")
        src_now = (c_cnt if list(srcs) == list(range(spec.n_in))
                   else Array([Const(v, sb) for v in srcs])[c_cnt])
        with m.If(run_en):
            m.d.sync += [r_first.eq(c_cnt == 0), r_last.eq(c_cnt == F - 1),
                         r_slot.eq(s_cnt)]
        # the input every lane reads, selected at the issue edge (so the next vector may load
        # the input register on that edge): for wide layers in two halves, the group of 8
        # inputs picked by the high source bits registered here, the input in it by the low
        # bits one clock later (the same multiplexer bits as picking in each group first, and
        # one selection a clock instead of one per group for a simulator)
        if banked:
            # the row of the bank the lanes read that holds the source, read at the issue
            # edge; the element in it picked one clock later
            B = spec.in_beat_size
            xr = x_mem.read_port()
            if list(srcs) == list(range(spec.n_in)) and B & (B - 1) == 0:
                lb_ = B.bit_length() - 1
                row_now, off_now = c_cnt[lb_:], (c_cnt[:lb_] if lb_ else Const(0, 1))
            else:
                row_now = Array([Const(v // B, _bits(n_ib)) for v in srcs])[c_cnt]
                off_now = Array([Const(v % B, _bits(B)) for v in srcs])[c_cnt]
            r_lo = Signal(_bits(B), name="r_src_lo")
            row = Signal(bb, name="x_rrow")
            m.d.comb += [row.eq(row_now), xr.addr.eq(Cat(row, cbank)), xr.en.eq(run_en)]
            with m.If(run_en):
                m.d.sync += r_lo.eq(off_now)
            x_sel = (Array(xr.data.word_select(k, width) for k in range(B))[r_lo] if B > 1
                     else xr.data)
            if Shape.cast(in_shape).signed:
                x_sel = x_sel.as_signed()
        elif spec.n_in > 8:
            n_groups = -(-spec.n_in // 8)
            padded = Cat(x_buf, Const(0, (8 * n_groups - spec.n_in) * width))
            x_grp = Signal(8 * width, reset_less=True, name="x_grp")
            r_lo = Signal(3, name="r_src_lo")
            with m.If(run_en):
                m.d.sync += x_grp.eq(Array(padded.word_select(g, 8 * width)
                                           for g in range(n_groups))[src_now[3:]])
                m.d.sync += r_lo.eq(src_now[:3])
            x_sel = Array(x_grp.word_select(k, width) for k in range(8))[r_lo]
            if Shape.cast(in_shape).signed:
                x_sel = x_sel.as_signed()
        else:
            x_sel = Signal(in_shape, reset_less=True, name="x_sel")
            with m.If(run_en):
                m.d.sync += x_sel.eq(Array(xs)[src_now] if spec.n_in > 1 else xs[0])
        for p in range(P):
            n_slots = len(range(p, spec.n_out, P))
            lane_pos[p] = dict(valid=r_slot < n_slots, first=r_first, last=r_last, slot=r_slot)
            lane_x[p] = x_sel
        if not tunable_conn:
            row = wide_rom("conn_rom", cb, [conn_words(p) for p in range(P)])
            lane_word = [row[p] for p in range(P)]
    else:
        # a position ROM per lane, side by side in one row: source, flags, slot (and the
        # connection word when it is a constant)
        layout = position_layout(sb, slot_bits, 0 if tunable_conn else cb)
        words = []
        for p in range(P):
            lane = []
            for t_ in range(T):
                if t_ < len(schedule[p]):
                    j, c = schedule[p][t_]
                    fields = dict(valid=1, first=int(c == 0), last=int(c == spec.fanins[j] - 1),
                                  src=spec.sources[j][c], slot=j // P)
                    if not tunable_conn:
                        fields["conn"] = rm.conn_word(spec.signs[j][c], spec.indices[j][c])
                    lane.append(_pack(layout, **fields))
                else:
                    lane.append(0)
            words.append(lane)
        row = wide_rom("lane_rom", layout, words)
        xarr = Array(xs)
        for p in range(P):
            info = row[p]
            lane_pos[p] = dict(valid=info.valid, first=info.first, last=info.last,
                               slot=info.slot)
            lane_x[p] = xarr[info.src] if spec.n_in > 1 else xs[0]
            if not tunable_conn:
                lane_word[p] = info.conn
    if tunable_conn:
        m.submodules.conn = conn = ConnWords(layer, rows_of([conn_words(p) for p in range(P)],
                                                            cb), len(cfg.addr))
        m.d.comb += [conn.addr.eq(cfg.addr), conn.w_data.eq(cfg.w_data),
                     conn.w_en.eq(cfg.w_en), conn.r_en.eq(cfg.r_en),
                     conn.copying.eq(copy.copying), conn.copy_addr.eq(copy.addr),
                     conn.copy_prev.eq(copy.prev), conn.copy_wen.eq(copy.conn_wen),
                     conn.t.eq(ctl.t), conn.en.eq(run_en),
                     conn.safe.eq(safe if single else 0)]
        lane_word = [conn.row[p] for p in range(P)]
        mem_reads.append((conn.hit, conn.r_data, conn.read_stage))

    # -- lanes ------------------------------------------------------------------------------
    lanes = []
    for p in range(P):
        lane = Lane(layer, p, level_shape, bias.shape, slot_bits, keep=not out_banked)
        m.submodules[f"lane{p}"] = lane
        lanes.append(lane)
        pos = lane_pos[p]
        m.d.comb += [lane.en.eq(run_en), lane.v1.eq(ctl.v1), lane.x.eq(lane_x[p]),
                     lane.word.eq(lane_word[p]), lane.pos.valid.eq(pos["valid"]),
                     lane.pos.first.eq(pos["first"]), lane.pos.last.eq(pos["last"]),
                     lane.pos.slot.eq(pos["slot"])]
        m.d.comb += [lane.levels[k].eq(v) for k, v in enumerate(levels.active)]
    if bias_mem:
        m.submodules.biases = biases = Biases(spec, bias, len(cfg.addr), slot_bits)
        m.d.comb += [biases.addr.eq(cfg.addr), biases.w_data.eq(cfg.w_data),
                     biases.w_en.eq(cfg.w_en), biases.r_en.eq(cfg.r_en),
                     biases.copying.eq(copy.copying), biases.copy_addr.eq(copy.addr),
                     biases.copy_wen.eq(copy.bias_wen), biases.en.eq(run_en)]
        for p, lane in enumerate(lanes):
            m.d.comb += [biases.slot[p].eq(lane.slot_r), lane.bias.eq(biases.value[p])]
        mem_reads.append((biases.hit, biases.r_data.as_signed() if bias.shape.signed
                          else biases.r_data, 1))
    else:
        for p, lane in enumerate(lanes):
            values = [bias.active[j] for j in range(p, spec.n_out, P)]
            m.d.comb += lane.bias.eq(Array(values)[lane.slot_product] if len(values) > 1
                                     else values[0])
    stalls = [lane.stall for lane in lanes if lane.stalls]
    m.d.comb += run_en.eq(~Cat(*stalls).any() if stalls else 1)

    if out_banked:
        _output_banks(m, spec, lanes, o, y_full, transfer)
        busy = Signal()
        m.d.comb += busy.eq((ctl.occupancy != 0) | x_full)
        return swap_ok, busy, mem_reads, safe

    # -- output: the lanes' results, copied into the payload once every lane is done ---------
    all_done = Signal()
    m.d.comb += all_done.eq(Cat(*[lane.done for lane in lanes if lane.n_slots]).all())
    to_payload = Signal()
    # (registered state only: the downstream ready does not reach the payload's enables)
    m.d.comb += to_payload.eq(all_done & ~o_full)
    m.d.comb += [lane.clear.eq(to_payload) for lane in lanes]
    results = [lanes[j % P].results[j // P] for j in range(spec.n_out)]
    if n_ob == 1:
        m.d.comb += [o_full.eq(o.valid), transfer.eq(o.valid & o.ready)]
        with m.If(transfer):
            m.d.sync += o.valid.eq(0)
        with m.If(to_payload):
            m.d.sync += o.valid.eq(1)
            m.d.sync += [o.payload[j].eq(results[j]) for j in range(spec.n_out)]
    else:
        # the vector waits in an output buffer while its beats leave, in order
        out_w = Shape.cast(o.payload.shape().elem_shape).width
        o_buf = Signal(spec.n_out * out_w, reset_less=True, name="o_buf")
        o_beat = Signal(_bits(n_ob), name="out_beat")
        m.d.comb += [o.valid.eq(o_full),
                     o.payload.eq(o_buf.word_select(o_beat, spec.out_beat_size * out_w)),
                     transfer.eq(o.valid & o.ready & (o_beat == n_ob - 1))]
        with m.If(o.valid & o.ready):
            m.d.sync += o_beat.eq(Mux(o_beat == n_ob - 1, 0, o_beat + 1))
        with m.If(transfer):
            m.d.sync += o_full.eq(0)
        with m.If(to_payload):
            m.d.sync += [o_full.eq(1), o_buf.eq(Cat(*results))]

    busy = Signal()
    # a whole vector waiting for the lanes counts too (a network commit waits for it)
    m.d.comb += busy.eq((ctl.occupancy != 0) | x_full)
    return swap_ok, busy, mem_reads, safe


def _output_banks(m: Module, spec, lanes, o, full, transfer) -> None:
    """Banked outputs (:func:`~.timing.output_banked`): the lanes write each slot's results as
    one row (part of a row) of a memory of two banks, and the beats are read out of the other
    bank. A bank is full at the edge of the vector's last write; its first beat is read the
    clock after that (so a read never meets the write of the same clock), and, while beats
    leave, the next one is read on the edge the current one leaves: the payload is the
    memory's read data, held while ``ready`` is low (the row is read again)."""
    P, B = spec.arch.lanes, spec.out_beat_size
    R = output_row(spec)  # elements a row: B (B a multiple of P) or P (B a divisor of P)
    rows = -(-spec.n_out // R)  # rows a bank
    n_ob = spec.n_out // B
    out_w = Shape.cast(o.payload.shape().elem_shape).width
    m.submodules.y_mem = y_mem = Memory(shape=unsigned(R * out_w), depth=2 * rows, init=[])
    # -- the lanes' side: slot s of lane p is element s * P + p; lane 0 has the most slots and
    # every lane writes a slot on the same clock (regular schedule), so lane 0's write strobe
    # and "last" mark the row and the end of the vector
    w0 = lanes[0]
    # bank k's rows are rows k * rows ...; both sides keep their memory address in a register
    # (the next one chosen by muxes alone, no adder between a counter and the memory) and the
    # "last part / beat" flags too, so no carry chain sits in front of the memory ports
    wbank = Signal(name="y_wbank")
    w_addr = Signal(range(2 * rows), name="y_waddr")
    parts_w = R // P  # slots a row
    w_part = Signal(_bits(parts_w), name="y_wpart")
    yw = y_mem.write_port(granularity=out_w)
    m.d.comb += [yw.addr.eq(w_addr),
                 yw.data.eq(Cat(*[lanes[e % P].y for e in range(R)])),
                 yw.en.eq(Cat(*[w0.write & (w_part == e // P) for e in range(R)])
                          if parts_w > 1 else w0.write.replicate(R))]
    set_ = Signal(2)
    clear = Signal(2)
    with m.If(w0.write):
        with m.If(w0.write_last):
            m.d.sync += [w_addr.eq(Mux(wbank, 0, rows)), w_part.eq(0), wbank.eq(~wbank)]
            m.d.comb += set_.eq(Mux(wbank, 0b10, 0b01))
        with m.Elif(w_part == parts_w - 1):
            m.d.sync += [w_part.eq(0), w_addr.eq(w_addr + 1)]
        with m.Else():
            m.d.sync += w_part.eq(w_part + 1)
    # -- the stream's side: beat b is part (b * B % R) / B of row b * B // R
    rbank = Signal(name="y_rbank")
    o_beat = Signal(_bits(n_ob), name="out_beat")
    parts_r = R // B  # beats a row
    o_part = Signal(_bits(parts_r), name="y_rpart")
    r_addr = Signal(range(2 * rows), name="y_raddr")  # the current beat's row
    r_next = Signal(range(2 * rows + 1), name="y_raddr1", init=1)  # r_addr + 1
    beat_last = Signal(name="y_beat_last")  # o_beat == n_ob - 1 (n_ob > 1: not at reset)
    part_last = Signal(name="y_part_last", init=int(parts_r == 1))  # o_part == parts_r - 1
    step = Signal()
    last = Signal()
    m.d.comb += [step.eq(o.valid & o.ready), last.eq(step & beat_last), transfer.eq(last)]
    # the values after a step are chosen from registers alone; ``step`` (the consumer's ready
    # of this clock) then picks between them and the held ones: one multiplexer in front of
    # the memory's read address
    s_bank, s_addr, s_part = Signal.like(rbank), Signal.like(r_addr), Signal.like(o_part)
    m.d.comb += [s_bank.eq(rbank ^ beat_last),
                 s_addr.eq(Mux(beat_last, Mux(rbank, 0, rows), Mux(part_last, r_next, r_addr))),
                 s_part.eq(Mux(beat_last | part_last, 0, o_part + 1))]
    n_bank, n_addr, n_part = Signal.like(rbank), Signal.like(r_addr), Signal.like(o_part)
    m.d.comb += [n_bank.eq(Mux(step, s_bank, rbank)), n_addr.eq(Mux(step, s_addr, r_addr)),
                 n_part.eq(Mux(step, s_part, o_part))]
    yr = y_mem.read_port()
    m.d.comb += yr.addr.eq(n_addr)
    # r_next follows n_addr by muxes of values computed from registers (its + 1 is taken off
    # r_next, not off n_addr), so the consumer's ready reaches no carry chain
    s_next = Signal.like(r_next)
    m.d.comb += s_next.eq(Mux(beat_last, Mux(rbank, 1, rows + 1),
                              Mux(part_last, r_next + 1, r_next)))
    n_next = Mux(step, s_next, r_next)
    m.d.sync += [rbank.eq(n_bank), r_addr.eq(n_addr), r_next.eq(n_next), o_part.eq(n_part)]
    with m.If(step):
        m.d.sync += [o_beat.eq(Mux(beat_last, 0, o_beat + 1)),
                     beat_last.eq(~beat_last & (o_beat == n_ob - 2))]
        if parts_r > 1:
            m.d.sync += part_last.eq(~last & ~part_last & (o_part == parts_r - 2))
    with m.If(last):
        m.d.comb += clear.eq(Mux(rbank, 0b10, 0b01))
        m.d.sync += o.valid.eq(full.bit_select(~rbank, 1))
    with m.Elif(~o.valid):
        m.d.sync += o.valid.eq(full.bit_select(rbank, 1))
    m.d.sync += full.eq((full & ~clear) | set_)
    m.d.comb += o.payload.eq(yr.data.word_select(o_part, B * out_w) if parts_r > 1
                             else yr.data)
