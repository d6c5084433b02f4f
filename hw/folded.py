"""The ``folded:P`` microarchitecture: P lanes, weights in memories.

Output ``j`` is computed by lane ``j % P``, its connections back to back
(:func:`lognet.hw.arch.lane_schedule`). All lanes step through positions ``t = 0 .. T-1``
together, ``T`` the longest lane. Per position a constant ROM holds each lane's source input,
first/last flags and output slot (dense layers use counters instead); a memory holds the lanes'
connection words (sign + level index, or the signed weight in ``multiply`` mode), all P lanes
side by side in one row of ``P`` words, since they read the same position. With
``tunable=all`` that memory has a shadow twin that the bus writes one lane word at a time (write
granularity); a commit copies shadow to active, a row per clock, in ``T + 1`` clocks between two
vectors.

Lane pipeline::

    position t -> memory read -> register x[src], the word and its level
               -> product (or +-x for factored) -> accumulate
               -> [factored: select B_k, level_k -> multiply -> add, K issue clocks, pipelined]
               -> bias, ReLU, requantise -> output slot register

Each stage is one clock, so no multiplexer, multiplier and adder share a clock. Timing:
:func:`folded_timing` (``T`` + 9 clocks per vector without ``factored``: the next vector enters
once the last output is out); the lanes do ``n_conn`` useful connection-steps out of
``P * cycles_per_vector`` lane-clocks (:attr:`Layer.utilisation`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from lognet.model.arch import Arith, Tunable

from .common import holding_shape, requantise_tail, with_bias

__all__ = ["build_folded", "folded_timing"]


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def folded_timing(layer) -> tuple[int, int]:
    """``(latency, cycles_per_vector)`` of a folded layer: rising edges from the one that
    transfers an input vector to the one that transfers its output (``o_stream.ready`` high),
    the definition parallel builds use too, and clocks between two accepted vectors at full rate.

    Without ``factored`` arithmetic the lanes never stall: ``T`` issue clocks, six pipeline
    stages, the output register, the hand-over and the output transfer. With it, a lane whose
    next output reaches its last connection while the finisher still works on the previous one
    stalls every lane, so the count comes from a clock-by-clock model of the lane control
    (checked against the simulated RTL in tests/hw)."""
    T = layer.regmap.lane_depth
    if layer.arith is not Arith.FACTORED:
        valid = 1 + T + 6 + 1  # edges until o_stream.valid is high
        # the output transfers on the next edge, and the next vector enters on that edge too
        return valid + 1, valid + 1
    spec = layer.spec
    lasts = [[c == spec.fanins[j] - 1 for j, c in lane] for lane in layer.regmap.schedule]
    K = spec.K
    P = len(lasts)
    # pipeline registers per lane: position index at s1 / r / s2 (None: empty)
    s1 = [None] * P
    r = [None] * P
    s2 = [None] * P
    fbusy, fk = [False] * P, [0] * P
    fa, fa_last, fb, fb_last, fdone, fout, fsat, f_start = ([False] * P for _ in range(8))
    t, cycle, draining = 0, 1, False  # cycle 1: the first clock in RUN
    while True:
        f_any = [f_start[p] or fbusy[p] or fa[p] or fb[p] or fdone[p] or fout[p] or fsat[p]
                 for p in range(P)]
        at_last = [s2[p] is not None and lasts[p][s2[p]] for p in range(P)]
        run_en = not any(at_last[p] and f_any[p] for p in range(P))
        if draining and not any(s1[p] is not None or r[p] is not None or s2[p] is not None
                                or f_any[p] for p in range(P)):
            break
        issue = run_en and not draining
        # the clock edge
        start = f_start
        n_f_start = [run_en and at_last[p] for p in range(P)]
        n_fa = [fbusy[p] and not start[p] for p in range(P)]
        n_fa_last = [fbusy[p] and fk[p] == K - 1 for p in range(P)]
        n_fb, n_fb_last = fa[:], [fa[p] and fa_last[p] for p in range(P)]
        n_fdone = [fb[p] and fb_last[p] for p in range(P)]
        for p in range(P):
            if fbusy[p] and not start[p]:
                fk[p] += 1
                fbusy[p] = fk[p] < K
            if start[p]:
                fbusy[p], fk[p] = True, 0
        fa, fa_last, fb, fb_last = n_fa, n_fa_last, n_fb, n_fb_last
        fdone, fout, fsat, f_start = n_fdone, fdone, fout, n_f_start
        if run_en:
            s2 = r[:]
            r = [s1[p] if s1[p] is not None and s1[p] < len(lasts[p]) else None
                 for p in range(P)]
            s1 = [t if issue else None] * P
            if issue:
                t += 1
                draining = t == T
        cycle += 1
    # ``cycle`` is the clock in DRAIN that sees every lane idle: OUT on the next, valid after,
    # the output transfer and the next vector's entry on the edge after that
    valid = cycle + 1
    return valid + 1, valid + 1
def finisher_can_stall(layer) -> bool:
    """Whether a factored lane can reach an output's last connection while its finisher still
    works on the previous output. The finisher is busy ``K + 6`` clocks after it starts, and
    the next output of a lane starts ``fan-in`` clocks later; when every fan-in is longer (as
    in dense layers) the stall logic, a signal that fans out to every lane, is left out."""
    return any(f <= layer.spec.K + 6 for f in layer.spec.fanins)


def _lane_rom(layer, p: int, depth: int, with_conn: bool):
    """Constant per-position words of lane ``p``: valid | first | last | src | slot | [conn]."""
    spec = layer.spec
    sched = layer.regmap.schedule[p]
    sb = max(1, _clog2(spec.n_in))
    slots = max(1, _clog2(-(-spec.n_out // spec.arch.lanes)))
    cb = len(Const(0, layer.conn_shape()))
    words = []
    for t in range(depth):
        if t < len(sched):
            j, c = sched[t]
            first = c == 0
            last = c == spec.fanins[j] - 1
            w = 1 | first << 1 | last << 2 | spec.sources[j][c] << 3 | (j // spec.arch.lanes) << (
                3 + sb)
            if with_conn:
                cw = layer.regmap.conn_word(spec.signs[j][c], spec.indices[j][c])
                w |= cw << (3 + sb + slots)
        else:
            w = 0
        words.append(w)
    width = 3 + sb + slots + (cb if with_conn else 0)
    return words, width, sb, slots, cb


def build_folded(m: Module, layer, levels, bias, block, pending):
    """Elaborate the folded datapath. Returns ``(swap_ok, busy, mem_reads)``: the commit may
    land, the datapath holds a vector, and ``(address hit, data)`` of the memories the bus
    reads back (data one clock after ``r_en``)."""
    spec = layer.spec
    P = spec.arch.lanes
    T = layer.regmap.lane_depth
    lb = layer.regmap.lane_bits
    ib = spec.index_bits
    tunable_conn = layer.tunable is Tunable.ALL
    cfg = layer.cfg
    acc_w = spec.acc_width
    in_shape = layer.i_stream.payload[0].shape()

    # -- control ----------------------------------------------------------------------------
    IDLE, RUN, DRAIN, OUT = range(4)
    state = Signal(2)
    t = Signal(max(1, _clog2(T + 1)))
    xs = [Signal(in_shape, reset_less=True, name=f"x{i}") for i in range(spec.n_in)]
    xarr = Array(xs)
    run_en = Signal()
    issue = Signal()
    m.d.comb += issue.eq((state == RUN) & run_en)
    # the output registers are the output payload: a new vector may enter only once the last
    # output is taken (or is being taken), so the lanes never overwrite an unread output
    out_free = ~layer.o_stream.valid | layer.o_stream.ready
    m.d.comb += layer.i_stream.ready.eq((state == IDLE) & ~block & out_free)
    with m.If(layer.i_stream.valid & layer.i_stream.ready):
        m.d.sync += [x.eq(layer.i_stream.payload[i]) for i, x in enumerate(xs)]
        m.d.sync += [t.eq(0), state.eq(RUN)]
    with m.If(issue):
        m.d.sync += t.eq(t + 1)
        with m.If(t == T - 1):
            m.d.sync += state.eq(DRAIN)

    # -- copy shadow -> active --------------------------------------------------------------
    # Connection words (tunable=all) and biases (whenever writable) live in memories: the bus
    # writes a shadow memory, and a commit copies it into the active memories the lanes read,
    # one word per clock, between two vectors. Only then does the commit take effect.
    bias_mem = bias.writable
    n_copy = max(T if tunable_conn else 0, spec.n_out if bias_mem else 0)
    copying = Signal()
    copy_cnt = Signal(max(1, _clog2(n_copy + 2)))
    copy_prev = Signal.like(copy_cnt)  # the address the shadow read of the last clock gave
    # a shadow word read last clock is written this clock; the enables are registered so that
    # no counter comparison sits in front of a memory's write enable
    conn_wen = Signal()
    bias_wen = Signal()
    swap_ok = Signal()
    mem_reads = []  # (address hit, read data one clock after r_en) for the read-back mux
    if n_copy:
        with m.If(pending & (state == IDLE) & ~copying & ~swap_ok):
            m.d.sync += [copying.eq(1), copy_cnt.eq(0)]
        with m.If(copying):
            m.d.sync += copy_cnt.eq(copy_cnt + 1)
            with m.If(copy_cnt == n_copy):
                m.d.sync += copying.eq(0)
        m.d.sync += [copy_prev.eq(copy_cnt),
                     conn_wen.eq(copying & (copy_cnt < T)),
                     bias_wen.eq(copying & (copy_cnt < spec.n_out))]
        # swap_ok is a one-cycle pulse after the copy finishes
        done = Signal()
        m.d.sync += done.eq(copying & (copy_cnt == n_copy))
        m.d.comb += swap_ok.eq(done)
    else:
        m.d.comb += swap_ok.eq(state == IDLE)
    if tunable_conn:
        hit = Signal()
        pb = max(0, _clog2(P))
        region = layer.regmap.region("CONN")
        rb = lb + pb
        m.d.comb += hit.eq(cfg.addr[rb:] == (region.base >> rb) if rb < len(cfg.addr) else 1)
        rd_lane = Signal(max(1, pb))
        with m.If(cfg.r_en):
            m.d.sync += rd_lane.eq(cfg.addr[lb:lb + pb] if pb else 0)
    if bias_mem:
        bshape = bias.shape
        brb = bias.region_bits()
        bhit = bias.hit(cfg.addr)
        bsh = Memory(shape=bshape, depth=spec.n_out, init=list(spec.bias))
        m.submodules.bias_shadow = bsh
        bw = bsh.write_port()
        m.d.comb += [bw.addr.eq(cfg.addr[:brb] if brb else 0),
                     bw.data.eq(cfg.w_data[:len(bw.data)]), bw.en.eq(cfg.w_en & bhit)]
        br = bsh.read_port()
        m.d.comb += [br.addr.eq(Mux(copying, copy_cnt, cfg.addr[:brb] if brb else 0)),
                     br.en.eq(copying | cfg.r_en)]
        mem_reads.append((bhit, br.data.as_signed() if bshape.signed else br.data))
        # output j of the copy lands in lane j % P, slot j // P: two counters, one clock behind
        c_lane = Signal(max(1, _clog2(P)), name="bcopy_lane")
        c_slot = Signal(max(1, _clog2(-(-spec.n_out // P))), name="bcopy_slot")
        with m.If(~copying):
            m.d.sync += [c_lane.eq(0), c_slot.eq(0)]
        with m.Elif(bias_wen):
            with m.If(c_lane == P - 1):
                m.d.sync += [c_lane.eq(0), c_slot.eq(c_slot + 1)]
            with m.Else():
                m.d.sync += c_lane.eq(c_lane + 1)
        b_wen = bias_wen
        bias_active_ports = []
        for p in range(P):
            outs = list(range(p, spec.n_out, P))
            mem = Memory(shape=bshape, depth=max(1, len(outs)),
                         init=[spec.bias[j] for j in outs] or [0])
            m.submodules[f"bias_active{p}"] = mem
            w = mem.write_port()
            m.d.comb += [w.addr.eq(c_slot), w.data.eq(br.data),
                         w.en.eq(b_wen & (c_lane == p) if P > 1 else b_wen)]
            bias_active_ports.append(mem.read_port())

    # -- lanes ------------------------------------------------------------------------------
    out_regs = [layer.o_stream.payload[j] for j in range(spec.n_out)]
    lane_busy = []
    stalls = []
    # A regular schedule (every output reads the same inputs, e.g. dense) needs no per-lane ROM
    # for sources and flags: one pair of counters serves all lanes.
    regular = len(set(spec.sources)) == 1
    sb = max(1, _clog2(spec.n_in))
    slots = max(1, _clog2(-(-spec.n_out // P)))
    cb = len(Const(0, layer.conn_shape()))
    if regular:
        F = spec.fanins[0]
        srcs = spec.sources[0]
        c_cnt = Signal(max(1, _clog2(F)), name="c_cnt")
        s_cnt = Signal(slots, name="s_cnt")
        with m.If(layer.i_stream.valid & layer.i_stream.ready):
            m.d.sync += [c_cnt.eq(0), s_cnt.eq(0)]
        with m.If(issue):
            with m.If(c_cnt == F - 1):
                m.d.sync += [c_cnt.eq(0), s_cnt.eq(s_cnt + 1)]
            with m.Else():
                m.d.sync += c_cnt.eq(c_cnt + 1)
        r_first = Signal(name="r_first")
        r_last = Signal(name="r_last")
        r_src = Signal(sb, name="r_src")
        r_slot = Signal(slots, name="r_slot")
        if list(srcs) == list(range(spec.n_in)):
            src_now = c_cnt
        else:
            src_now = Array([Const(v, sb) for v in srcs])[c_cnt]
        with m.If(run_en):
            m.d.sync += [r_first.eq(c_cnt == 0), r_last.eq(c_cnt == F - 1), r_src.eq(src_now),
                         r_slot.eq(s_cnt)]
    # The input multiplexer in two halves for wide layers with a regular schedule: the first
    # level (groups of 8 inputs, picked by the low source bits) is registered together with the
    # source itself, the second level feeds the lanes' input register; no added latency.
    x_split = None
    if regular and spec.n_in > 8:
        groups = [xs[g:g + 8] for g in range(0, spec.n_in, 8)]
        xg = [Signal(in_shape, reset_less=True, name=f"xg{g}") for g in range(len(groups))]
        lo = src_now[:3]
        with m.If(run_en):
            m.d.sync += [r.eq(Array(grp)[lo] if len(grp) > 1 else grp[0])
                         for r, grp in zip(xg, groups)]
        x_split = Array(xg)[r_src[3:]] if len(xg) > 1 else xg[0]
    # All lanes step through the same position t, so the per-position words of every lane live
    # side by side in one wide memory (lane p in bits p*w .. p*w+w-1): one read port, one address
    # counter, and the synthesiser packs the lanes into as few block RAMs as their total width
    # needs. The connection words of tunable=all builds are a shadow/active pair of such memories;
    # the bus writes one lane's word in the shadow through the write port's lane granularity.
    schedule = layer.regmap.schedule

    def rows_of(lane_words, width):
        """One memory row per position: lane p's word in bits p*width .. p*width+width-1."""
        rows = [0] * T
        for p, words in enumerate(lane_words):
            for t_, w in enumerate(words):
                rows[t_] |= w << (p * width)
        return rows

    def wide_rom(name, lane_words, width):
        rom = Memory(shape=unsigned(P * width), depth=T, init=rows_of(lane_words, width))
        m.submodules[name] = rom
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(t), rp.en.eq(run_en)]
        return [rp.data[p * width:(p + 1) * width] for p in range(P)]

    def conn_words(p):
        return [layer.regmap.conn_word(spec.signs[j][c], spec.indices[j][c])
                for j, c in schedule[p]]

    if not regular:
        lane_info = []
        for p in range(P):
            words, width, sb, slots, cb = _lane_rom(layer, p, T, not tunable_conn)
            lane_info.append(words)
        lane_info = wide_rom("lane_rom", lane_info, width)
    elif not tunable_conn:
        lane_conn = wide_rom("conn_rom", [conn_words(p) for p in range(P)], cb)
    if tunable_conn:
        rows = rows_of([conn_words(p) for p in range(P)], cb)
        shadow = Memory(shape=unsigned(P * cb), depth=T, init=rows)
        active = Memory(shape=unsigned(P * cb), depth=T, init=rows)
        m.submodules.conn_shadow = shadow
        m.submodules.conn_active = active
        sw = shadow.write_port(granularity=cb)
        lane_sel = (Const(1, 1) << cfg.addr[lb:lb + pb])[:P] if pb else Const(1, 1)
        m.d.comb += [sw.addr.eq(cfg.addr[:lb]), sw.data.eq(Cat(*[cfg.w_data[:cb]] * P)),
                     sw.en.eq(Mux(cfg.w_en & hit, lane_sel, 0))]
        sr = shadow.read_port()
        m.d.comb += [sr.addr.eq(Mux(copying, copy_cnt, cfg.addr[:lb])),
                     sr.en.eq(copying | cfg.r_en)]
        aw = active.write_port()
        m.d.comb += [aw.addr.eq(copy_prev), aw.data.eq(sr.data), aw.en.eq(conn_wen)]
        ar = active.read_port()
        m.d.comb += [ar.addr.eq(t), ar.en.eq(run_en)]
        rd_conn = sr.data.word_select(rd_lane, cb) if P > 1 else sr.data
    for p in range(P):
        if regular:
            n_slots = len(range(p, spec.n_out, P))
            info = Cat(r_slot < n_slots, r_first, r_last, r_src, r_slot)
            if not tunable_conn:
                info = Cat(info, lane_conn[p])
        else:
            info = lane_info[p]
        if tunable_conn:
            word = ar.data[p * cb:(p + 1) * cb]
        else:
            word = info[3 + sb + slots:3 + sb + slots + cb]
        # stage s1: the memory outputs belong to the position issued last cycle
        v1 = Signal(name=f"l{p}_v1")
        with m.If(run_en):
            m.d.sync += v1.eq(issue)
        first, last = info[1], info[2]
        src = info[3:3 + sb]
        slot = info[3 + sb:3 + sb + slots]
        lvl_arr = Array(levels.active)
        # stage r: register the selected input, the connection word and the level it names, so
        # that neither the input multiplexer nor the level lookup shares a cycle with the product
        vr = Signal(name=f"l{p}_vr")
        fr = Signal(name=f"l{p}_fr")
        lr = Signal(name=f"l{p}_lr")
        sr_ = Signal(slots, reset_less=True, name=f"l{p}_sr")
        xr = Signal(in_shape, reset_less=True, name=f"l{p}_x")
        wr = Signal(cb, reset_less=True, name=f"l{p}_w")
        with m.If(run_en):
            m.d.sync += [vr.eq(v1 & info[0]), fr.eq(first), lr.eq(last), sr_.eq(slot),
                         xr.eq(x_split if x_split is not None else
                               xarr[src] if spec.n_in > 1 else xs[0]), wr.eq(word)]
        x = xr
        sign = wr[0]
        idx = wr[1:1 + ib]
        lv = None
        if layer.arith in (Arith.SHARED, Arith.SHIFT):
            lv = Signal(levels.active[0].shape(), reset_less=True, name=f"l{p}_lv")
            with m.If(run_en):
                m.d.sync += lv.eq(lvl_arr[word[1:1 + ib]] if spec.K > 1 else levels.active[0])
        # stage s2: product register
        prod = Signal(signed(acc_w), reset_less=True, name=f"l{p}_prod")
        v2 = Signal(name=f"l{p}_v2")
        f2 = Signal(name=f"l{p}_first")
        l2 = Signal(name=f"l{p}_last")
        s2 = Signal(slots, reset_less=True, name=f"l{p}_slot")
        k2 = Signal(ib, reset_less=True, name=f"l{p}_idx")
        # a negative connection's product is registered as ~t and its + 1 rides on the
        # accumulating adder as carry-in (-t = ~t + 1): no negation carry chain in the lane
        n2 = Const(0, 1)
        if layer.arith is Arith.MULTIPLY:
            pv = x * wr[:cb].as_signed()
        else:
            if layer.arith is Arith.FACTORED:
                tv = x
            elif layer.arith is Arith.SHIFT:
                from .parallel import _shift_product

                tv = _shift_product(x, lv, layer.regmap.terms, layer.regmap.ebits)
            else:  # SHARED: the level looked up last cycle, one multiplier per lane
                tv = x * lv
            tw = Signal(holding_shape(tv, acc_w), name=f"l{p}_t")
            m.d.comb += tw.eq(tv)
            pv = Mux(sign, ~tw, tw)
            n2 = Signal(name=f"l{p}_neg")
            with m.If(run_en):
                m.d.sync += n2.eq(sign)
        with m.If(run_en):
            m.d.sync += [prod.eq(pv), v2.eq(vr), f2.eq(fr), l2.eq(lr), s2.eq(sr_), k2.eq(idx)]
        # stage s3: accumulate
        if bias_mem:
            bp = bias_active_ports[p]
            m.d.comb += [bp.addr.eq(sr_), bp.en.eq(run_en)]
            b_s2 = bp.data  # the bias of the output whose connection is at stage s2
        else:
            b_s2 = Array([bias.active[j].as_signed() for j in range(p, spec.n_out, P)] or
                         [Const(0, signed(2))])[s2]
        if layer.arith is not Arith.FACTORED:
            acc = Signal(signed(acc_w), reset_less=True, name=f"l{p}_acc")
            v3 = Signal(name=f"l{p}_v3")
            s3 = Signal(slots, reset_less=True, name=f"l{p}_s3")
            b3 = Signal(b_s2.shape(), reset_less=True, name=f"l{p}_b3")
            with m.If(run_en):
                with m.If(v2):
                    m.d.sync += acc.eq(Mux(f2, 0, acc) + prod + n2)
                m.d.sync += [v3.eq(v2 & l2), s3.eq(s2), b3.eq(b_s2)]
            # stage 4: accumulator + bias registered, then activation and rounding
            v4 = Signal(name=f"l{p}_v4")
            s4 = Signal(slots, reset_less=True, name=f"l{p}_s4")
            z4 = Signal(signed(acc_w), reset_less=True, name=f"l{p}_z4")
            with m.If(run_en):
                m.d.sync += [v4.eq(v3), s4.eq(s3), z4.eq(with_bias(acc, b3, spec))]
            # stage 5: rounded value registered, then saturation into the output register
            v5 = Signal(name=f"l{p}_v5")
            s5 = Signal(slots, reset_less=True, name=f"l{p}_s5")
            with m.If(run_en):
                m.d.sync += [v5.eq(v4), s5.eq(s4)]
            y = requantise_tail(m, z4, spec, name=f"l{p}", reg_en=run_en)
            with m.If(v5 & run_en):
                for sl, j in enumerate(range(p, spec.n_out, P)):
                    with m.If(s5 == sl):
                        m.d.sync += out_regs[j].eq(y)
            lane_busy += [v1, vr, v2, v3, v4, v5]
        else:
            sw_ = spec.partial_sum_width
            S = [Signal(signed(sw_), reset_less=True, name=f"l{p}_S{k}") for k in range(spec.K)]
            # one adder per partial sum, no multiplexer in front of it (the index selects which
            # sum takes the input; a first connection restarts the sums: the selected one from
            # the input, the others by a synchronous clear), so the loop through S is one adder
            # finisher: y = sum_k level_k * S_k, one multiplier per lane, pipelined in three
            # stages (select B_k and level_k -> multiply -> accumulate); K issue cycles
            B = [Signal(signed(sw_), reset_less=True, name=f"l{p}_B{k}") for k in range(spec.K)]
            fbusy = Signal(name=f"l{p}_fbusy")  # issuing k = 0 .. K-1
            fk = Signal(max(1, _clog2(spec.K + 1)), name=f"l{p}_fk")
            fa = Signal(name=f"l{p}_fa")  # stage a valid: bk, lk hold term fk
            fb = Signal(name=f"l{p}_fb")  # stage b valid: fp holds a product
            fa_last = Signal(name=f"l{p}_fa_last")
            fb_last = Signal(name=f"l{p}_fb_last")
            bk = Signal(signed(sw_), reset_less=True, name=f"l{p}_bk")
            lk = Signal(levels.active[0].shape(), reset_less=True, name=f"l{p}_lk")
            fp = Signal(signed(acc_w), reset_less=True, name=f"l{p}_fp")
            fy = Signal(signed(acc_w), reset_less=True, name=f"l{p}_fy")
            fslot = Signal(slots, reset_less=True, name=f"l{p}_fslot")
            fdone = Signal(name=f"l{p}_fdone")  # fy is final
            fz = Signal(signed(acc_w), reset_less=True, name=f"l{p}_fz")
            fbias = Signal(b_s2.shape(), reset_less=True, name=f"l{p}_fbias")
            fout = Signal(name=f"l{p}_fout")  # fz = fy + bias: activation and rounding
            fsat = Signal(name=f"l{p}_fsat")  # rounded value: saturate into the output
            f_start = Signal(name=f"l{p}_fstart")  # S holds an output's sums: copy them to B
            f_any = Signal(name=f"l{p}_f_any")
            m.d.comb += f_any.eq(f_start | fbusy | fa | fb | fdone | fout | fsat)
            if finisher_can_stall(layer):
                stall = Signal(name=f"l{p}_stall")
                m.d.comb += stall.eq(v2 & l2 & f_any)
                stalls.append(stall)
            with m.If(run_en & v2):
                for k in range(spec.K):
                    with m.If(k2 == k):
                        m.d.sync += S[k].eq(Mux(f2, 0, S[k]) + prod + n2)
                    with m.Elif(f2):
                        m.d.sync += S[k].eq(0)
                with m.If(l2):
                    m.d.sync += [fslot.eq(s2), fbias.eq(b_s2)]
            # the clock after an output's last connection S is final (the next output's first
            # connection clears it only on this same edge): B takes it and the finisher starts
            m.d.sync += f_start.eq(run_en & v2 & l2)
            with m.If(f_start):
                m.d.sync += [b.eq(sk) for b, sk in zip(B, S)]
                m.d.sync += [fbusy.eq(1), fk.eq(0), fy.eq(0)]
            start = f_start
            m.d.sync += [fa.eq(fbusy & ~start), fa_last.eq(fbusy & (fk == spec.K - 1)),
                         fb.eq(fa), fb_last.eq(fa & fa_last), fdone.eq(fb & fb_last),
                         fout.eq(fdone), fsat.eq(fout), fz.eq(with_bias(fy, fbias, spec))]
            with m.If(fbusy & ~start):
                m.d.sync += [bk.eq(Array(B)[fk] if spec.K > 1 else B[0]),
                             lk.eq(lvl_arr[fk] if spec.K > 1 else levels.active[0]),
                             fk.eq(fk + 1)]
                with m.If(fk == spec.K - 1):
                    m.d.sync += fbusy.eq(0)
            with m.If(fa):
                m.d.sync += fp.eq(bk * lk)
            with m.If(fb):
                m.d.sync += fy.eq(fy + fp)
            y = requantise_tail(m, fz, spec, name=f"l{p}", reg_en=fout)
            with m.If(fsat):
                for sl, j in enumerate(range(p, spec.n_out, P)):
                    with m.If(fslot == sl):
                        m.d.sync += out_regs[j].eq(y)
            lane_busy += [v1, vr, v2, f_any]
    m.d.comb += run_en.eq(~Cat(*stalls).any() if stalls else 1)

    with m.If(state == DRAIN), m.If(~Cat(*lane_busy).any()):
        m.d.sync += state.eq(OUT)
    with m.If(layer.o_stream.valid & layer.o_stream.ready):
        m.d.sync += layer.o_stream.valid.eq(0)
    with m.If((state == OUT) & (~layer.o_stream.valid | layer.o_stream.ready)):
        m.d.sync += layer.o_stream.valid.eq(1)

        m.d.sync += state.eq(IDLE)

    busy = Signal()
    m.d.comb += busy.eq((state != IDLE) | layer.o_stream.valid)
    if tunable_conn:
        mem_reads.append((hit, rd_conn))
    return swap_ok, busy, mem_reads
