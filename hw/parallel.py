"""The ``parallel`` microarchitecture: every connection has its own datapath.

Pipeline (one vector per clock when the output is ready; all stages stall together)::

    x register -> per-connection signed products -> adder trees (a register every 2 levels)
               -> [factored: K level multiplies, one more tree] -> bias, ReLU, requantise
               -> output register

Latency is ``layer.latency`` cycles from the input transfer to ``o_stream.valid``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from lognet.model.qformat import signed_width_for
from lognet.model.spec import Arith

from .common import Pipe, adder_tree_levels, requantise

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


def build_parallel(m: Module, layer, levels, bias, conn, block):
    """Elaborate the datapath. Returns ``(weights_busy, busy)``: whether a vector that still needs
    the weights is inside, and whether anything at all is inside."""
    spec = layer.spec
    arith = layer.arith
    ib = spec.index_bits
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
    if arith is Arith.FACTORED:
        # +-x per connection, registered; then K gated trees per output
        maxabs = spec.in_fmt.max_abs_int
        sw = signed_width_for(-spec.max_fanin * maxabs, spec.max_fanin * maxabs)
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
            elif arith is Arith.SHARED:
                sel = Signal(signed(acc_w), name=f"sel{c}")
                m.d.comb += sel.eq(_select(products_of_input[src[c]], index_of(c)))
                p = Mux(sign_of(c), -sel, sel)
            else:  # SHIFT
                word = _select(levels.active, index_of(c))
                t = Signal(signed(acc_w), name=f"sh{c}")
                m.d.comb += t.eq(_shift_product(x, word, layer.shift_terms, layer.exp_bits))
                p = Mux(sign_of(c), -t, t)
            groups[out[c]].append(pipe.reg(p, signed(acc_w), name=f"pr{c}"))
        stages += 1
    accs, n = adder_tree_levels(pipe, groups, acc_w)
    stages += n

    # bias, activation, requantisation into the output register
    outs = []
    for j in range(spec.n_out):
        y = requantise(m, accs[j], bias.active[j].as_signed(), spec, name=f"rq{j}")
        outs.append(pipe.reg(y, name=f"y{j}"))
    stages += 1
    for j in range(spec.n_out):
        m.d.comb += layer.o_stream.payload[j].eq(outs[j])

    valid = [Signal(name=f"v{k}") for k in range(stages)]
    with m.If(en):
        m.d.sync += valid[0].eq(layer.i_stream.valid & ~block)
        m.d.sync += [valid[k].eq(valid[k - 1]) for k in range(1, stages)]
    m.d.comb += layer.o_stream.valid.eq(valid[-1])
    assert stages == layer.latency, (stages, layer.latency)
    weights_busy = Signal(name="weights_busy")
    busy = Signal(name="busy")
    inner = valid[:-1]
    m.d.comb += weights_busy.eq(Cat(*inner).any() if inner else 0)
    m.d.comb += busy.eq(Cat(*valid).any())
    return weights_busy, busy
