"""The ``parallel`` microarchitecture: every connection has its own datapath.

Pipeline (one vector per clock when the output is ready; all stages stall together)::

    x register -> products register -> adder trees (a register every 2 levels)
               -> [factored: K level multiplies, one more tree] -> bias, ReLU, requantise
               -> output register

The products register holds, in ``shared`` builds, the K products ``x * level`` of each input
with at least K connections (its connections' selections feed their trees directly: 8 x 16 bits
per input instead of 16 bits per connection) and the selected product of every other
connection; in the other modes one product per connection (``+-x`` in ``factored`` builds).
Latency is ``layer.info.latency`` cycles from the input transfer to ``o_stream.valid``.

A negative connection adds ``~t`` and a carry of 1 (``-t = ~t + 1``): the inversion merges into
the multiplexer's or product's last LUT and the carries ride on the adders of the tree as
carry-ins (the one left over on the bias adder), so no connection has a negation carry chain.
The weights (level table, connection words, biases) change only at a commit, which lands when
no vector is inside (the output register aside), so the carries are the active sign bits
themselves, with no pipeline copy.

Products and partial sums are kept at their own widths (at most the accumulator's) in offset
binary: a ``w``-bit signed value ``v`` travels as ``v + 2**(w-1)`` (its top bit inverted), and
the sum of two such ``w``-bit values plus a carry is the ``w + 1``-bit offset binary of the
sum. The adders and flip-flops are those of two's complement, but no sign extension happens
between the levels; the sum leaves the tree as two's complement again (top bit inverted back).

Written for a simulator as well as for synthesis: Verilator evaluates every statement of the
design every clock, so the registers are few and wide where that saves statements (the input
vector, the output vector, the packed products, the connection words sixteen to a 64-bit
register through :class:`~lognet.hw.bank.RegArray`), and a connection takes its product from its
input's packed products with a choice of 64-bit word and a shift by the index's low bits: per
bit the same 8:1 multiplexer as a case over the K products, a dozen machine instructions per
connection (the 64x32 bench layer: 140k instructions a clock before, 55k after).

In ``shift`` builds with ``tunable=all`` the active connection words hold the level word itself,
filled by a walk over the connections at commit (:func:`_commit_walk`).
"""

from __future__ import annotations

from collections import Counter

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, unsigned

from lognet.model.arch import Arith

from .bank import WordRegs
from .common import Pipe, requantise

__all__ = ["build_parallel"]

#: widest word of packed products a connection selects from (a simulator's machine word)
PACK_BITS = 64


def _const(v):
    return v.value if isinstance(v, Const) else None


def _shape_range(shape) -> tuple[int, int]:
    s = Shape.cast(shape)
    if s.signed:
        return -(1 << (s.width - 1)), (1 << (s.width - 1)) - 1
    return 0, (1 << s.width) - 1


def _signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest signed shape that holds ``[lo, hi]``."""
    w = 1
    while lo < -(1 << (w - 1)) or hi > (1 << (w - 1)) - 1:
        w += 1
    return w


def _product_width(a, b) -> int:
    """Signed bits that hold every product of a value of shape ``a`` and one of shape ``b``."""
    (alo, ahi), (blo, bhi) = _shape_range(a), _shape_range(b)
    corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
    return _signed_width(min(corners), max(corners))


def _holding_width(v, cap: int) -> int:
    """Signed bits that hold every value of ``v``, at most ``cap``."""
    return min(cap, len(v) + (0 if v.shape().signed else 1))


def _ob(v, w: int):
    """The ``w``-bit offset binary of ``v`` (``v + 2**(w-1)``), for a ``v`` whose values fit in
    ``signed(w)``: its two's complement bits with the top one inverted."""
    if len(v) < w:
        ext = v[-1].replicate(w - len(v)) if v.shape().signed else Const(0, w - len(v))
        v = Cat(v, ext)
    return v[:w] ^ (1 << (w - 1))


def _ob_widen(v, w: int, to: int):
    """The ``to``-bit offset binary of the value whose ``w``-bit offset binary is ``v``."""
    if w == to:
        return v
    top = v[w - 1]
    return Cat(v[:w - 1], (~top).replicate(to - w), top)


def _ob_signed(v, w: int):
    """The signed value whose ``w``-bit offset binary is ``v``."""
    return (v ^ (1 << (w - 1))).as_signed()


def _ob_tree(pipe: Pipe, groups: list[list], cap: int, per_stage: int = 2):
    """Reduce each group of leaves ``(offset binary value, width, carries)`` to its sum, all
    groups in lockstep, registering every ``per_stage`` adder levels and once more at the end
    (the clock model is :func:`~lognet.hw.common.tree_stages`). Sums are kept to ``cap`` bits
    (partial sums may wrap: the arithmetic is modulo ``2**cap`` and the final sum fits).

    ``carries`` are 1-bit values to add to the leaf (constant while a vector is inside, so they
    need no pipeline copy): each two-input adder takes one of its operands' carries as its
    carry-in, the first operand's first. Returns ``(sums, stages, left)``: the sums as signed
    values, the register stages, and per group the carries that found no adder."""
    groups = [[(v, w, list(c)) for v, w, c in g] for g in groups]
    level = 0
    stages = 0
    while any(len(g) > 1 for g in groups):
        nxt = []
        for g in groups:
            r = []
            for i in range(0, len(g) - 1, 2):
                (a, wa, ca), (b, wb, cb) = g[i], g[i + 1]
                w = max(wa, wb)
                t = _ob_widen(a, wa, w) + _ob_widen(b, wb, w)
                pending = ca + cb
                if pending:
                    t = t + pending.pop(0)
                if w + 1 > cap:  # wraps: the two's complement of the low cap bits, re-biased
                    r.append((t[:cap] ^ (1 << (cap - 1)), cap, pending))
                else:
                    r.append((t[:w + 1], w + 1, pending))
            if len(g) % 2:
                r.append(g[-1])
            nxt.append(r)
        groups = nxt
        level += 1
        if level % per_stage == 0 and any(len(g) > 1 for g in groups):
            groups = [[(pipe.reg(v, unsigned(w)), w, c) for v, w, c in g] for g in groups]
            stages += 1
    sums = [_ob_signed(pipe.reg(v, unsigned(w)), w) for (v, w, _), in groups]
    return sums, stages + 1, [c for (_, _, c), in groups]


def _shift_product(x, word, terms: int, ebits: int):
    """``x * level`` for a shift-encoded level word: one or two shifts and an add."""
    a_en, a = word[0], word[1:1 + ebits]
    t = Mux(a_en, x << a, 0)
    if terms == 2:
        b_en, b = word[1 + ebits], word[2 + ebits:2 + 2 * ebits]
        t = t + Mux(b_en, x << b, 0)
    return t


def _select(values: list, index):
    """``values[index]`` where ``index`` may be a constant."""
    k = _const(index)
    if k is not None:
        return values[k]
    return Array(values)[index]


class _Packed:
    """The K offset-binary products of one input, packed into words of at most
    :data:`PACK_BITS` bits (a power of two of products per word), and the selection of one of
    them by a connection's index: a multiplexer over the words by the high index bits, then a
    shift inside the word by the low ones. The words are pipeline registers when ``pipe`` is
    given, else combinational."""

    def __init__(self, m: Module, pipe: Pipe | None, obs: list, width: int, name: str):
        self.width = width
        per = 1
        while per * 2 * width <= PACK_BITS and per * 2 <= len(obs):
            per *= 2
        self.per, self.lo = per, per.bit_length() - 1
        self.count = len(obs)
        self.registered = pipe is not None
        self.words = []
        for g in range(0, len(obs), per):
            v = Cat(*obs[g:g + per])
            if pipe is not None:
                self.words.append(pipe.reg(v, name=f"{name}_{g // per}"))
            else:
                s = Signal(len(v), name=f"{name}_{g // per}")
                m.d.comb += s.eq(v)
                self.words.append(s)

    def select(self, index):
        k = _const(index)
        if k is not None:
            return self.words[k >> self.lo].word_select(k & (self.per - 1), self.width)
        if self.count == 1:
            return self.words[0]
        hi = index[self.lo:]
        word = self.words[0] if len(self.words) == 1 else (
            Mux(hi[0], self.words[1], self.words[0]) if len(self.words) == 2
            else Array(self.words)[hi])
        if self.lo == 0:
            return word[:self.width]
        return word.word_select(index[:self.lo], self.width)


def _commit_walk(m: Module, layer, levels, conn, pending, weights_busy):
    """Active connection words ``sign | level word`` of a parallel shift build, refreshed at commit
    by a walk over the connections: the shadow word of connection ``c`` (sign + index) is read,
    its index looked up in the shadow level table, and the result written to active word ``c``,
    one connection per clock, two pipeline stages. The walk starts once no vector inside needs
    the weights (inputs are held off while the commit is pending) and takes ``n_conn + 2``
    clocks; returns the active words and the one-clock pulse that ends it (the moment the level
    table and the biases swap too)."""
    spec = layer.spec
    n = spec.n_conn
    ib = spec.index_bits
    lvl = layer.regmap.level_words()
    lw = levels.shape.width
    ww = 1 + lw
    inits = [v & 1 | lvl[v >> 1 & ((1 << ib) - 1)] << 1 for v in conn.init]
    regs = WordRegs("cw", unsigned(ww), inits)
    walking = Signal(name="walk")
    cnt = Signal(range(max(n, 2)), name="walk_cnt")
    va = Signal(name="walk_va")  # stage a holds the shadow word of connection adr
    adr = Signal(range(max(n, 2)), name="walk_adr")
    wa = Signal(conn.shape, reset_less=True, name="walk_word")
    done = Signal(name="walk_done")
    with m.If(pending & ~weights_busy & ~walking & ~va & ~done):
        m.d.sync += [walking.eq(1), cnt.eq(0)]
    with m.If(walking):
        m.d.sync += cnt.eq(cnt + 1)
        with m.If(cnt == n - 1):
            m.d.sync += walking.eq(0)
    m.d.sync += [va.eq(walking), adr.eq(cnt), done.eq(va & (adr == n - 1))]
    m.d.sync += wa.eq(conn.shadow_word(cnt))
    # stage b: sign | shadow level of the index, into the active word the address names
    idx = wa[1:1 + ib]
    word = Cat(wa[0], levels.shadow_word(idx))
    regs.write(m, va, adr, word)
    return regs.views, done


def build_parallel(m: Module, layer, levels, bias, conn, block, pending):
    """Elaborate the datapath. Returns ``(swap_ok, busy)``: whether a pending commit may swap
    the weight set now, and whether anything at all is inside."""
    spec = layer.spec
    arith = layer.arith
    ib = spec.index_bits
    weights_busy = Signal(name="weights_busy")
    decoded = None
    if layer.commit_walk:
        decoded, swap_ok = _commit_walk(m, layer, levels, conn, pending, weights_busy)
    else:
        swap_ok = ~weights_busy
    en = Signal(name="pipe_en")
    m.d.comb += en.eq(~layer.o_stream.valid | layer.o_stream.ready)
    m.d.comb += layer.i_stream.ready.eq(en & ~block)
    pipe = Pipe(m, en)
    stages = 0

    # stage: input register, one wide register of n_in elements
    payload = layer.i_stream.payload
    in_shape = Shape.cast(payload.shape().elem_shape)
    x_buf = pipe.reg(payload.as_value(), name="x_buf")
    xs = [x_buf.word_select(i, in_shape.width) for i in range(spec.n_in)]
    if in_shape.signed:
        xs = [x.as_signed() for x in xs]
    stages += 1

    f = spec.flat
    src, out = f["src"].tolist(), f["out"].tolist()
    conn_words = conn.active

    def sign_of(c):
        w = conn_words[c]
        return Const(w.value & 1, 1) if isinstance(w, Const) else w[0]

    def index_of(c):
        w = conn_words[c]
        if isinstance(w, Const):
            return Const(w.value >> 1 & ((1 << ib) - 1), ib)
        return w[1:1 + ib]

    acc_w = spec.acc_width
    groups: list[list] = [[] for _ in range(spec.n_out)]
    if arith is Arith.FACTORED:
        # +-x per connection, registered; then K gated trees per output
        sw = spec.partial_sum_width
        tw = min(sw, in_shape.width + 1)
        tx = [pipe.reg(_ob(Mux(sign_of(c), -xs[src[c]], xs[src[c]]), tw), unsigned(tw),
                       name=f"t{c}") for c in range(spec.n_conn)]
        stages += 1
        kgroups: list[list] = [[] for _ in range(spec.n_out * spec.K)]
        zero = Const(1 << (tw - 1), tw)  # offset binary of 0
        for c in range(spec.n_conn):
            idx = index_of(c)
            k = _const(idx)
            if k is not None:
                kgroups[out[c] * spec.K + k].append((tx[c], tw, []))
            else:
                for kk in range(spec.K):
                    kgroups[out[c] * spec.K + kk].append((Mux(idx == kk, tx[c], zero), tw, []))
        kgroups = [g if g else [(Const(1, 1), 1, [])] for g in kgroups]  # offset binary 0
        sums, n, _ = _ob_tree(pipe, kgroups, sw)
        stages += n
        for j in range(spec.n_out):
            for k in range(spec.K):
                s = sums[j * spec.K + k]
                lv = levels.active[k]
                pw = min(acc_w, _product_width(s.shape(), lv.shape()))
                prod = pipe.reg(_ob(s * lv, pw), unsigned(pw), name=f"sp{j}_{k}")
                groups[j].append((prod, pw, []))
        stages += 1
    elif arith is Arith.SHARED:
        # an input's K products are registered (packed) when that takes no more flip-flops than
        # registering its connections' selections (K at most its connections, or constant
        # indices: then only the products a connection uses remain), and its connections select
        # straight into the tree; the connections of the other inputs register their selection
        lshape = levels.active[0].shape()
        w = min(acc_w, _product_width(in_shape, lshape))
        fanout = Counter(src)
        # (the offset binary as an add: the same inverter, one operation for a simulator)
        packed = {i: _Packed(m, pipe if not conn.writable or spec.K <= fanout[i] else None,
                             [(xs[i] * levels.active[k] + (1 << (w - 1)))[:w]
                              for k in range(spec.K)], w, name=f"pk{i}")
                  for i in sorted(fanout)}
        stages += 1
        for c in range(spec.n_conn):
            pk = packed[src[c]]
            t = pk.select(index_of(c))
            sign = sign_of(c)
            # -t = ~t + 1: the inversion merges into the multiplexer's last LUT, the + 1 is the
            # carry-in of an adder of the tree (no negation carry chain per connection); in
            # offset binary too, ~t is the offset binary of ~value
            sk = _const(sign)
            p = (~t if sk else t) if sk is not None else t ^ sign.replicate(w)
            if not pk.registered:
                p = pipe.reg(p, unsigned(w), name=f"pr{c}")
            groups[out[c]].append((p, w, [] if sk == 0 else [sign]))
    else:
        for c in range(spec.n_conn):
            x = xs[src[c]]
            if arith is Arith.MULTIPLY:
                wv = conn_words[c]
                w = min(acc_w, _product_width(in_shape, wv.shape()))
                p, carry = _ob(x * wv.as_signed(), w), []
            else:  # SHIFT
                if decoded is not None:  # sign | level word, looked up at commit
                    sign, word = decoded[c][0], decoded[c][1:]
                else:
                    sign, word = sign_of(c), _select(levels.active, index_of(c))
                tv = _shift_product(x, word, layer.regmap.terms, layer.regmap.ebits)
                w = _holding_width(tv, acc_w)
                t = _ob(tv, w)
                # -t = ~t + 1, the + 1 a carry-in of the tree (as in shared builds)
                sk = _const(sign)
                p = (~t if sk else t) if sk is not None else t ^ sign.replicate(w)
                carry = [] if sk == 0 else [sign]
            groups[out[c]].append((pipe.reg(p, unsigned(w), name=f"pr{c}"), w, carry))
        stages += 1
    accs, n, left = _ob_tree(pipe, groups, acc_w)
    stages += n

    # bias, activation, requantisation into the output register (one wide register)
    ys = []
    for j in range(spec.n_out):
        ys.append(requantise(m, accs[j], bias.active[j].as_signed(), spec, name=f"rq{j}",
                             carries=left[j]))
    y_buf = pipe.reg(Cat(*ys), name="y_buf")
    stages += 1
    m.d.comb += layer.o_stream.payload.eq(y_buf)

    valid = [Signal(name=f"v{k}") for k in range(stages)]
    with m.If(en):
        m.d.sync += valid[0].eq(layer.i_stream.valid & ~block)
        m.d.sync += [valid[k].eq(valid[k - 1]) for k in range(1, stages)]
    m.d.comb += layer.o_stream.valid.eq(valid[-1])
    assert stages == layer.info.latency, (stages, layer.info.latency)
    busy = Signal(name="busy")
    inner = valid[:-1]
    m.d.comb += weights_busy.eq(Cat(*inner).any() if inner else 0)
    m.d.comb += busy.eq(Cat(*valid).any())
    return swap_ok, busy
