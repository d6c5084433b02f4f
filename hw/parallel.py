"""The ``parallel`` microarchitecture: every connection has its own datapath.

Pipeline (one vector per clock when the output is ready; all stages stall together)::

    x register -> per-connection signed products -> adder trees (a register every 2 levels)
               -> [factored: K level multiplies, one more tree] -> bias, ReLU, requantise
               -> output register

Latency is ``layer.info.latency`` cycles from the input transfer to ``o_stream.valid``.

A negative connection adds ``~t`` and a carry of 1 (``-t = ~t + 1``): the inversion merges into
the product's last LUT and the carries ride on the adders of the tree as carry-ins (the one left
over on the bias adder), so no connection has a negation carry chain. Products and partial sums
are registered at their own widths (at most the accumulator's). In ``shift`` builds with
``tunable=all`` the active connection registers hold the level word itself, filled by a walk
over the connections at commit (:func:`_commit_walk`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned

from lognet.model.arch import Arith

from .common import Pipe, adder_tree_levels, holding_shape, requantise

__all__ = ["build_parallel"]


def _const(v):
    return v.value if isinstance(v, Const) else None


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
    lw = len(levels.shadow[0])
    words = []
    for c, w in enumerate(conn.shadow):
        init = w.init & 1 | lvl[w.init >> 1 & ((1 << ib) - 1)] << 1
        words.append(Signal(unsigned(1 + lw), init=init, reset_less=True, name=f"cw{c}"))
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
    m.d.sync += wa.eq(Array(conn.shadow)[cnt] if n > 1 else conn.shadow[0])
    # stage b: sign | shadow level of the index, into the active word the address names
    idx = wa[1:1 + ib]
    word = Cat(wa[0], Array(levels.shadow)[idx] if spec.K > 1 else levels.shadow[0])
    for c, w in enumerate(words):
        with m.If(va & (adr == c)):
            m.d.sync += w.eq(word)
    return words, done


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

    # stage: input register
    xs = [pipe.reg(layer.i_stream.payload[i], name=f"x{i}") for i in range(spec.n_in)]
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
    carries: list[list] = [[] for _ in range(spec.n_out)]
    if arith is Arith.FACTORED:
        # +-x per connection, registered; then K gated trees per output
        sw = spec.partial_sum_width
        tx = [pipe.reg(Mux(sign_of(c), -xs[src[c]], xs[src[c]]), signed(spec.in_fmt.width + 1),
                       name=f"t{c}") for c in range(spec.n_conn)]
        stages += 1
        kgroups: list[list] = [[] for _ in range(spec.n_out * spec.K)]
        for c in range(spec.n_conn):
            idx = index_of(c)
            k = _const(idx)
            if k is not None:
                kgroups[out[c] * spec.K + k].append(tx[c])
            else:
                for kk in range(spec.K):
                    kgroups[out[c] * spec.K + kk].append(Mux(idx == kk, tx[c], 0))
        kgroups = [g if g else [Const(0, signed(sw))] for g in kgroups]
        sums, n = adder_tree_levels(pipe, kgroups, sw)
        stages += n
        for j in range(spec.n_out):
            prods = [pipe.reg(sums[j * spec.K + k] * levels.active[k], signed(acc_w),
                              name=f"sp{j}_{k}") for k in range(spec.K)]
            groups[j] = prods
        stages += 1
    else:
        products_of_input: dict[int, list] = {}
        if arith is Arith.SHARED:
            for i in sorted(set(src)):
                products_of_input[i] = [xs[i] * levels.active[k] for k in range(spec.K)]
        for c in range(spec.n_conn):
            x = xs[src[c]]
            if arith is Arith.MULTIPLY:
                p = x * conn_words[c].as_signed()
            else:
                if arith is Arith.SHARED:
                    t = Signal(holding_shape(products_of_input[src[c]][0], acc_w),
                               name=f"sel{c}")
                    m.d.comb += t.eq(_select(products_of_input[src[c]], index_of(c)))
                    sign = sign_of(c)
                else:  # SHIFT
                    if decoded is not None:  # sign | level word, looked up at commit
                        sign, word = decoded[c][0], decoded[c][1:]
                    else:
                        sign, word = sign_of(c), _select(levels.active, index_of(c))
                    tv = _shift_product(x, word, layer.regmap.terms, layer.regmap.ebits)
                    t = Signal(holding_shape(tv, acc_w), name=f"sh{c}")
                    m.d.comb += t.eq(tv)
                # -t = ~t + 1: the inversion merges into the product's last LUT, the + 1 is the
                # carry-in of an adder of the tree (no negation carry chain per connection)
                p = Mux(sign, ~t, t)
                carries[out[c]].append(sign if isinstance(sign, Const) else
                                       pipe.reg(sign, name=f"neg{c}"))
            groups[out[c]].append(pipe.reg(p, holding_shape(p, acc_w), name=f"pr{c}"))
        stages += 1
    accs, n, left = adder_tree_levels(pipe, groups, acc_w, carries=carries)
    stages += n

    # bias, activation, requantisation into the output register
    outs = []
    for j in range(spec.n_out):
        y = requantise(m, accs[j], bias.active[j].as_signed(), spec, name=f"rq{j}",
                       carries=left[j])
        outs.append(pipe.reg(y, name=f"y{j}"))
    stages += 1
    for j in range(spec.n_out):
        m.d.comb += layer.o_stream.payload[j].eq(outs[j])

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
