"""The ``folded:P`` microarchitecture: P lanes, weights in memories.

Output ``j`` is computed by lane ``j % P``, its connections back to back
(:func:`lognet.hw.regmap.lane_schedule`). All lanes step through positions ``t = 0 .. T-1``
together, ``T`` the longest lane. Per lane and position a constant ROM holds the source input,
first/last flags and the output slot; a memory holds the connection word (sign + level index, or
the signed weight in ``multiply`` mode). With ``tunable=all`` that memory has a shadow twin that
the bus writes; a commit copies shadow to active in ``T + 1`` clocks between two vectors.

Lane pipeline::

    position t -> memory read -> x[src], product (or +-x for factored) -> accumulate
               -> [factored: K-cycle multiply by the level table, one multiplier per lane]
               -> bias, ReLU, requantise -> output slot register

Timing: one vector takes :attr:`Layer.cycles_per_vector` = T + lane latency + 2 clocks; the
lanes do ``n_conn`` useful connection-steps out of ``P * T`` (:attr:`Layer.utilisation`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory
from lognet.model.qformat import signed_width_for
from lognet.model.spec import Arith, Tunable

from .common import requantise

__all__ = ["build_folded", "folded_timing"]


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def folded_timing(layer) -> tuple[int, int]:
    """``(latency, cycles_per_vector)`` of a folded layer, from the input transfer to the output
    becoming valid, and between two accepted vectors at full rate."""
    t = layer.regmap.lane_depth
    lane = 3 + (layer.spec.K + 1 if layer.arith is Arith.FACTORED else 0)
    latency = 1 + t + lane + 1
    return latency, latency


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
                cw = layer.conn_init(j, c) & ((1 << cb) - 1)
                w |= cw << (3 + sb + slots)
        else:
            w = 0
        words.append(w)
    width = 3 + sb + slots + (cb if with_conn else 0)
    return words, width, sb, slots, cb


def build_folded(m: Module, layer, levels, bias, block, pending):
    """Elaborate the folded datapath. Returns ``(swap_ok, busy, conn_read)``."""
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
    m.d.comb += layer.i_stream.ready.eq((state == IDLE) & ~block)
    with m.If(layer.i_stream.valid & layer.i_stream.ready):
        m.d.sync += [x.eq(layer.i_stream.payload[i]) for i, x in enumerate(xs)]
        m.d.sync += [t.eq(0), state.eq(RUN)]
    with m.If(issue):
        m.d.sync += t.eq(t + 1)
        with m.If(t == T - 1):
            m.d.sync += state.eq(DRAIN)

    # -- copy shadow -> active (tunable=all) -----------------------------------------------
    copying = Signal()
    copy_cnt = Signal(max(1, _clog2(T + 2)))
    copy_wen = Signal()
    swap_ok = Signal()
    conn_read = None
    if tunable_conn:
        with m.If(pending & (state == IDLE) & ~copying & ~swap_ok):
            m.d.sync += [copying.eq(1), copy_cnt.eq(0)]
        with m.If(copying):
            m.d.sync += copy_cnt.eq(copy_cnt + 1)
            with m.If(copy_cnt == T):
                m.d.sync += copying.eq(0)
        m.d.comb += copy_wen.eq(copying & (copy_cnt != 0))
        # swap_ok is a one-cycle pulse after the copy finishes
        done = Signal()
        m.d.sync += done.eq(copying & (copy_cnt == T))
        m.d.comb += swap_ok.eq(done)
        hit = Signal()
        pb = max(0, _clog2(P))
        region = layer.regmap.region("CONN")
        rb = lb + pb
        m.d.comb += hit.eq(cfg.addr[rb:] == (region.base >> rb) if rb < len(cfg.addr) else 1)
        rd_lane = Signal(max(1, pb))
        with m.If(cfg.r_en):
            m.d.sync += rd_lane.eq(cfg.addr[lb:lb + pb] if pb else 0)
        rd_datas = []
    else:
        m.d.comb += swap_ok.eq(state == IDLE)

    # -- lanes ------------------------------------------------------------------------------
    out_regs = [Signal(layer.o_stream.payload[j].shape(), reset_less=True, name=f"oacc{j}")
                for j in range(spec.n_out)]
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
    for p in range(P):
        if regular:
            n_slots = len(range(p, spec.n_out, P))
            info = Cat(r_slot < n_slots, r_first, r_last, r_src, r_slot)
            if not tunable_conn:
                cw = [layer.conn_init(j, c) & ((1 << cb) - 1)
                      for j, c in layer.regmap.schedule[p]]
                rom = Memory(shape=unsigned(cb), depth=T, init=cw + [0] * (T - len(cw)))
                m.submodules[f"rom{p}"] = rom
                rp = rom.read_port()
                m.d.comb += [rp.addr.eq(t), rp.en.eq(run_en)]
                info = Cat(info, rp.data)
        else:
            words, width, sb, slots, cb = _lane_rom(layer, p, T, not tunable_conn)
            rom = Memory(shape=unsigned(width), depth=T, init=words)
            m.submodules[f"rom{p}"] = rom
            rp = rom.read_port()
            m.d.comb += [rp.addr.eq(t), rp.en.eq(run_en)]
            info = rp.data
        if tunable_conn:
            init = [layer.conn_init(j, c) & ((1 << cb) - 1) for j, c in layer.regmap.schedule[p]]
            init += [0] * (T - len(init))
            shadow = Memory(shape=unsigned(cb), depth=T, init=init)
            active = Memory(shape=unsigned(cb), depth=T, init=init)
            m.submodules[f"shadow{p}"] = shadow
            m.submodules[f"active{p}"] = active
            sw = shadow.write_port()
            sel = cfg.addr[lb:lb + pb] == p if pb else Const(1, 1)
            m.d.comb += [sw.addr.eq(cfg.addr[:lb]), sw.data.eq(cfg.w_data[:cb]),
                         sw.en.eq(cfg.w_en & hit & sel)]
            sr = shadow.read_port()
            m.d.comb += [sr.addr.eq(Mux(copying, copy_cnt, cfg.addr[:lb])),
                         sr.en.eq(copying | cfg.r_en)]
            rd_datas.append(sr.data)
            aw = active.write_port()
            m.d.comb += [aw.addr.eq(copy_cnt - 1), aw.data.eq(sr.data), aw.en.eq(copy_wen)]
            ar = active.read_port()
            m.d.comb += [ar.addr.eq(t), ar.en.eq(run_en)]
            word = ar.data
        else:
            word = info[3 + sb + slots:3 + sb + slots + cb]
        # stage s1: the memory outputs belong to the position issued last cycle
        v1 = Signal(name=f"l{p}_v1")
        with m.If(run_en):
            m.d.sync += v1.eq(issue)
        valid_pos = v1 & info[0]
        first, last = info[1], info[2]
        src = info[3:3 + sb]
        slot = info[3 + sb:3 + sb + slots]
        x = xarr[src] if spec.n_in > 1 else xs[0]
        sign = word[0]
        idx = word[1:1 + ib]
        lvl_arr = Array(levels.active)
        # stage s2: product register
        prod = Signal(signed(acc_w), reset_less=True, name=f"l{p}_prod")
        v2 = Signal(name=f"l{p}_v2")
        f2 = Signal(name=f"l{p}_first")
        l2 = Signal(name=f"l{p}_last")
        s2 = Signal(slots, reset_less=True, name=f"l{p}_slot")
        k2 = Signal(ib, reset_less=True, name=f"l{p}_idx")
        if layer.arith is Arith.FACTORED:
            pv = Mux(sign, -x, x)
        elif layer.arith is Arith.MULTIPLY:
            pv = x * word[:cb].as_signed()
        elif layer.arith is Arith.SHIFT:
            from .parallel import _shift_product

            lw = lvl_arr[idx] if spec.K > 1 else levels.active[0]
            tv = _shift_product(x, lw, layer.shift_terms, layer.exp_bits)
            pv = Mux(sign, -tv, tv)
        else:  # SHARED: look the level up, one multiplier per lane
            lv = lvl_arr[idx] if spec.K > 1 else levels.active[0]
            pv = Mux(sign, -(x * lv), x * lv)
        with m.If(run_en):
            m.d.sync += [prod.eq(pv), v2.eq(valid_pos), f2.eq(first), l2.eq(last), s2.eq(slot),
                         k2.eq(idx)]
        # stage s3: accumulate
        bias_arr = Array([bias.active[j].as_signed() for j in range(p, spec.n_out, P)] or
                         [Const(0, signed(2))])
        if layer.arith is not Arith.FACTORED:
            acc = Signal(signed(acc_w), reset_less=True, name=f"l{p}_acc")
            v3 = Signal(name=f"l{p}_v3")
            s3 = Signal(slots, reset_less=True, name=f"l{p}_s3")
            with m.If(run_en):
                with m.If(v2):
                    m.d.sync += acc.eq(Mux(f2, prod, acc + prod))
                m.d.sync += [v3.eq(v2 & l2), s3.eq(s2)]
            y = requantise(m, acc, bias_arr[s3], spec, name=f"l{p}")
            with m.If(v3 & run_en):
                for sl, j in enumerate(range(p, spec.n_out, P)):
                    with m.If(s3 == sl):
                        m.d.sync += out_regs[j].eq(y)
            lane_busy += [v1, v2, v3]
        else:
            maxabs = spec.in_fmt.max_abs_int
            sw_ = signed_width_for(-spec.max_fanin * maxabs, spec.max_fanin * maxabs)
            S = [Signal(signed(sw_), reset_less=True, name=f"l{p}_S{k}") for k in range(spec.K)]
            nxt = [Mux(f2, 0, S[k]) + Mux(k2 == k, prod, 0) for k in range(spec.K)]
            # finisher: K cycles, one multiplier, y = sum_k level_k * S_k
            B = [Signal(signed(sw_), reset_less=True, name=f"l{p}_B{k}") for k in range(spec.K)]
            fbusy = Signal(name=f"l{p}_fbusy")
            fk = Signal(max(1, _clog2(spec.K + 1)), name=f"l{p}_fk")
            fy = Signal(signed(acc_w), reset_less=True, name=f"l{p}_fy")
            fslot = Signal(slots, reset_less=True, name=f"l{p}_fslot")
            fdone = Signal(name=f"l{p}_fdone")
            stall = Signal(name=f"l{p}_stall")
            m.d.comb += stall.eq(v2 & l2 & fbusy)
            stalls.append(stall)
            with m.If(run_en & v2):
                m.d.sync += [s.eq(n) for s, n in zip(S, nxt)]
                with m.If(l2):
                    m.d.sync += [b.eq(n) for b, n in zip(B, nxt)]
                    m.d.sync += [fbusy.eq(1), fk.eq(0), fy.eq(0), fslot.eq(s2)]
            m.d.sync += fdone.eq(0)
            with m.If(fbusy & ~(run_en & v2 & l2)):
                bk = Array(B)[fk] if spec.K > 1 else B[0]
                lk = lvl_arr[fk] if spec.K > 1 else levels.active[0]
                m.d.sync += [fy.eq(fy + bk * lk), fk.eq(fk + 1)]
                with m.If(fk == spec.K - 1):
                    m.d.sync += [fbusy.eq(0), fdone.eq(1)]
            y = requantise(m, fy, bias_arr[fslot], spec, name=f"l{p}")
            with m.If(fdone):
                for sl, j in enumerate(range(p, spec.n_out, P)):
                    with m.If(fslot == sl):
                        m.d.sync += out_regs[j].eq(y)
            lane_busy += [v1, v2, fbusy, fdone]
    m.d.comb += run_en.eq(~Cat(*stalls).any() if stalls else 1)

    with m.If(state == DRAIN), m.If(~Cat(*lane_busy).any()):
        m.d.sync += state.eq(OUT)
    with m.If(layer.o_stream.valid & layer.o_stream.ready):
        m.d.sync += layer.o_stream.valid.eq(0)
    with m.If((state == OUT) & (~layer.o_stream.valid | layer.o_stream.ready)):
        m.d.sync += layer.o_stream.valid.eq(1)
        m.d.sync += [layer.o_stream.payload[j].eq(out_regs[j]) for j in range(spec.n_out)]
        m.d.sync += state.eq(IDLE)

    busy = Signal()
    m.d.comb += busy.eq((state != IDLE) | layer.o_stream.valid)
    if tunable_conn:
        rd = Array(rd_datas)[rd_lane] if P > 1 else rd_datas[0]
        conn_read = {"hit": hit, "data": rd}
    return swap_ok, busy, conn_read
