"""Pieces shared by the layer microarchitectures: the configuration bus signature, the stage
registers of a stalling pipeline, adder trees, and requantisation (the hardware mirror of
:func:`lognet.model.qformat.shift_round` and :func:`~lognet.model.qformat.clamp_or_wrap`)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lognet.model.arch import Activation
from lognet.model.qformat import QFormat, Rounding
from lognet.model.spec import LayerSpec, NetworkSpec

from .regmap import (
    ADDR_ID,
    ADDR_PARAMS,
    ADDR_SHAPE,
    ADDR_STATUS,
    ADDR_VERSION,
    HEADER_WORDS,
    ID_VALUE,
    REGMAP_VERSION,
)

__all__ = [
    "ConfigSignature",
    "core_members",
    "tree_stages",
    "Pipe",
    "fmt_shape",
    "holding_shape",
    "header_read",
    "requantise",
]

#: data width of the configuration bus
DATA_WIDTH = 32


class ConfigSignature(wiring.Signature):
    """Configuration bus, seen from the initiator (the host side).

    Members
    -------
    addr : Out(addr_width)
        Word address.
    w_data : Out(32)
        Write data.
    w_en : Out(1)
        Write strobe; a write is always accepted in the cycle it is strobed.
    r_en : Out(1)
        Read strobe.
    r_data : In(32)
        Read data, valid :data:`~lognet.hw.regmap.READ_LATENCY` (3) cycles after ``r_en`` and
        held until the next read's data replaces it (reads may follow each other every
        cycle).
    """

    def __init__(self, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "addr": Out(addr_width),
            "w_data": Out(DATA_WIDTH),
            "w_en": Out(1),
            "r_en": Out(1),
            "r_data": In(DATA_WIDTH),
        })

    def __eq__(self, other):
        return isinstance(other, ConfigSignature) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash(("ConfigSignature", self.addr_width))


def core_members(spec: LayerSpec | NetworkSpec, addr_width: int) -> dict:
    """The signature members every core has: ``i_stream`` (one input beat per transfer: the
    whole vector, or ``in_beat`` elements of it in order), ``o_stream`` (one output beat per
    transfer) and the configuration bus ``cfg``."""
    return {
        "i_stream": In(stream.Signature(data.ArrayLayout(fmt_shape(spec.in_fmt),
                                                         spec.in_beat_size))),
        "o_stream": Out(stream.Signature(data.ArrayLayout(fmt_shape(spec.out_fmt),
                                                          spec.out_beat_size))),
        "cfg": In(ConfigSignature(addr_width)),
    }


def fmt_shape(fmt: QFormat) -> Shape:
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def holding_shape(v, cap: int) -> Shape:
    """The signed shape that holds every value of ``v``, at most ``cap`` bits (the caller knows
    the values fit in ``cap``)."""
    return signed(min(cap, len(v) + (0 if v.shape().signed else 1)))


class Pipe:
    """Stage registers of a pipeline that advances as one when ``en`` is high.

    A global enable keeps every stage in step: no sample can be dropped or duplicated, and a
    stalled output holds the whole pipeline."""

    def __init__(self, m: Module, en):
        self.m = m
        self.en = en
        self.count = 0

    def reg(self, value, shape=None, name=None) -> Signal:
        s = Signal(shape if shape is not None else value.shape(), reset_less=True,
                   name=name or f"p{self.count}")
        self.count += 1
        with self.m.If(self.en):
            self.m.d.sync += s.eq(value)
        return s


def tree_stages(n: int, per_stage: int = 2) -> int:
    """Register stages of the parallel adder tree (:func:`lognet.hw.parallel._ob_tree`) for ``n``
    leaves: its clock model."""
    levels = max(0, (n - 1).bit_length())
    return 1 + (max(levels - 1, 0) // per_stage)


def requantise(m: Module, acc, bias, spec: LayerSpec, name: str = "rq", carries=()):
    """Bias, activation and requantisation of one accumulator, combinationally.

    ``acc`` is the signed sum of products (``acc_width`` bits); ``bias`` a bias format value;
    ``carries`` 1-bit values still to be added to the sum (at most one is free: the carry-in of
    the bias adder). Mirrors :func:`lognet.model.reference.reference_layer` exactly."""
    v = Signal(signed(spec.acc_width), name=f"{name}_acc")
    total = with_bias(acc, bias, spec)
    for c in carries:
        total = total + c
    m.d.comb += v.eq(total)
    return requantise_tail(m, v, spec, name)


def with_bias(acc, bias, spec: LayerSpec):
    """``acc`` plus the bias aligned to the accumulator's binary point (an expression)."""
    return acc + (bias << spec.bias_shift)


def requantise_tail(m: Module, v, spec: LayerSpec, name: str = "rq", reg_en=None):
    """Activation and requantisation of ``v`` = accumulator + bias (``acc_width`` bits); split
    from :func:`requantise` so a pipeline can register ``v`` first. Combinational, unless
    ``reg_en`` is given: then the rounded value is registered (on clocks where ``reg_en`` is
    high) before saturation, and the result belongs to the value ``v`` had one clock earlier."""
    aw = spec.acc_width
    s = spec.shift
    fmt = spec.out_fmt
    q = Signal(signed(aw + 1), name=f"{name}_q")
    if s == 0:
        m.d.comb += q.eq(v)
    elif fmt.rounding is Rounding.FLOOR:
        m.d.comb += q.eq(v >> s)
    elif fmt.rounding is Rounding.HALF_UP:
        m.d.comb += q.eq((v + (1 << (s - 1))) >> s)
    else:
        q0 = Signal(signed(aw), name=f"{name}_q0")
        m.d.comb += q0.eq(v >> s)
        rem = v[:s]
        half = 1 << (s - 1)
        up = (rem > half) | ((rem == half) & q0[0])
        m.d.comb += q.eq(q0 + up)
    if reg_en is not None:
        qr = Signal(signed(aw + 1), reset_less=True, name=f"{name}_qr")
        with m.If(reg_en):
            m.d.sync += qr.eq(q)
        q = qr
    if spec.activation is Activation.RELU:
        # ReLU after rounding: every rounding mode here is monotonic and maps 0 to 0, so
        # relu(round(v)) == round(relu(v)), and the sign test leaves the rounding stage
        r = Signal(signed(aw + 1), name=f"{name}_relu")
        m.d.comb += r.eq(Mux(q[-1], 0, q))
        q = r
    out = Signal(fmt_shape(fmt), name=f"{name}_out")
    if fmt.saturate:
        m.d.comb += out.eq(Mux(q > fmt.max_int, fmt.max_int,
                               Mux(q < fmt.min_int, fmt.min_int, q)))
    else:
        m.d.comb += out.eq(q[:fmt.width])
    return out


def header_read(m: Module, addr, shape_word: int, params_word: int, pending, safe=None):
    """Read value of the header registers at ``addr`` (the low bits below
    :data:`~lognet.hw.regmap.HEADER_WORDS` select the register). ``safe``: STATUS bit 1 of
    ``single_copy`` builds."""
    offset = addr[:(HEADER_WORDS - 1).bit_length()]
    status = Cat(pending, Const(0, 31)) if safe is None else Cat(pending, safe, Const(0, 30))
    return Mux(offset == ADDR_ID, ID_VALUE,
               Mux(offset == ADDR_VERSION, REGMAP_VERSION,
                   Mux(offset == ADDR_STATUS, status,
                       Mux(offset == ADDR_SHAPE, shape_word,
                           Mux(offset == ADDR_PARAMS, params_word, 0)))))
